package bridge

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// retryAfterSeconds is the Retry-After of a connection refused for being over a limit.
const retryAfterSeconds = "5"

// connLimit bounds connections of one kind held at once.
type connLimit struct {
	max  int64 // <= 0: no limit
	open atomic.Int64
	// warn logs refusals at most once a minute, so that a flood does not flood the log too.
	warn rate.Sometimes
}

func newConnLimit(max int) *connLimit {
	return &connLimit{max: int64(max), warn: rate.Sometimes{First: 1, Interval: time.Minute}}
}

// acquire takes a place, reporting false when none is left.
func (l *connLimit) acquire() bool {
	if l.max <= 0 {
		return true
	}
	if l.open.Add(1) > l.max {
		l.open.Add(-1)
		return false
	}
	changes.notify() // for the tests (changes.go)
	return true
}

// release gives back a place taken by acquire.
func (l *connLimit) release() {
	if l.max > 0 {
		l.open.Add(-1)
		changes.notify() // for the tests (changes.go)
	}
}

// refuseOverLimit answers a sync request that found no place under the limit of its transport
// (field names the Options field): 503 with Retry-After, and the reason in the transport's form.
func (b *Bridge) refuseOverLimit(w http.ResponseWriter, r *http.Request, sr syncQuery, l *connLimit, field string) {
	msg := fmt.Sprintf("server busy: %d %s connections open, its limit (%s); retry later", l.max, sr.Transport, field)
	b.opts.Metrics.ConnectionRefused(string(sr.Transport))
	l.warn.Do(func() {
		b.opts.Logger.Warn("bridge: refusing connections over a limit (logged at most once a minute)",
			"transport", string(sr.Transport), "limit", l.max, "option", field)
	})
	w.Header().Set("Retry-After", retryAfterSeconds)
	if sr.Transport == transportHTTP {
		b.writeHTTPMessages(w, r, http.StatusServiceUnavailable, [][]byte{appendDefectMessage(nil, defect{Message: msg})})
		return
	}
	b.setCORS(w, r)
	writeText(w, http.StatusServiceUnavailable, "text/plain", msg)
}
