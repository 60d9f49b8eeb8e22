package bridge

import (
	"net/http"
	"slices"
	"strings"

	"github.com/coder/websocket"
)

// The WebSocket upgrade of a sync request with transport=ws (PROTOCOL §5.1).

// serveWebSocket upgrades a sync request and serves the socket, until it closes, in a goroutine
// of its own: the handler's goroutine returns once the socket is open, so that an open socket
// does not keep the stack that net/http's handler goroutine grew serving the upgrade.
func (b *Bridge) serveWebSocket(w http.ResponseWriter, r *http.Request, sr syncQuery) {
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		b.setCORS(w, r)
		writeText(w, http.StatusUpgradeRequired, "text/plain;charset=UTF-8", upgradeExpected)
		return
	}
	b.mu.Lock()
	if b.stopping {
		b.mu.Unlock()
		writeText(w, http.StatusServiceUnavailable, "text/plain", shuttingDownText)
		return
	}
	b.running.Add(1)
	b.mu.Unlock()
	served := false
	defer func() {
		if !served {
			b.running.Done()
		}
	}()
	if !b.wsLimit.acquire() {
		b.refuseOverLimit(w, r, sr, b.wsLimit, "MaxWebSockets")
		return
	}
	defer func() {
		if !served {
			b.wsLimit.release()
		}
	}()

	var from03 liveStart03
	if sr.Transport == transportWS03 {
		var err error
		if from03, err = b.liveStart03(r.Context(), sr.StoreID); err != nil {
			b.setCORS(w, r)
			writeText(w, http.StatusBadRequest, "text/plain", err.Error())
			return
		}
	}
	patterns := append(slices.Clone(b.opts.OriginPatterns), b.opts.CORSOrigins...)
	hw := &hijackRecorder{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		InsecureSkipVerify: len(patterns) == 0,
		OriginPatterns:     patterns,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept has answered the request.
	}
	c := newConn(b, ws, sr, r.Header)
	if sr.Transport == transportWS03 {
		c.v03 = newConn03(c, from03)
	}
	c.raw, c.gw = hw.conn, hw.writer
	b.mu.Lock()
	b.conns[c] = struct{}{}
	stopping := b.stopping
	b.mu.Unlock()
	changes.notify()
	if stopping { // Shutdown began during the upgrade
		c.beginDrain(closeShutdown)
	}
	served = true
	go func() {
		defer b.running.Done()
		defer b.wsLimit.release()
		c.serve()
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
		changes.notify()
	}()
}

// headerHasToken reports whether a comma-separated header contains token, ignoring case
// ("Upgrade: WebSocket" is upgraded by the reference too).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
