package bridge

import (
	"errors"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/coder/websocket"
	"github.com/livestore-sync/livestore-sync/service"
)

// Bridge serves LiveStore's sync protocols for a SyncService. It is an http.Handler meant to be
// mounted as the catch-all route ("/"): like the reference worker, it decides from the query
// string alone whether a request is a sync request, and answers everything else with the
// reference's info or error responses (PROTOCOL §1.1).
type Bridge struct {
	svc  SyncService
	opts Options
	tr   tracing

	wsLimit   *connLimit // Options.MaxWebSockets
	httpLimit *connLimit // Options.MaxHTTPRequests

	mu          sync.Mutex
	conns       map[*wsConn]struct{}
	stopping    bool
	running     sync.WaitGroup // sockets and HTTP transport requests being served
	httpRunning int            // HTTP transport requests being served
}

// New returns a Bridge that serves svc with opts (zero fields take their defaults).
func New(svc SyncService, opts Options) *Bridge {
	opts = opts.withDefaults(svc)
	return &Bridge{
		svc:       svc,
		opts:      opts,
		tr:        newTracing(opts.TracerProvider, opts.Propagator),
		wsLimit:   newConnLimit(opts.MaxWebSockets),
		httpLimit: newConnLimit(opts.MaxHTTPRequests),
		conns:     make(map[*wsConn]struct{}),
	}
}

// Responses of the reference worker (PROTOCOL §1.1).
const (
	infoText         = "Info: Sync backend endpoint for @livestore/sync-cf."
	invalidPathText  = "Invalid path"
	upgradeExpected  = "Durable Object expected Upgrade: websocket"
	shuttingDownText = "Server is shutting down"
)

// ServeHTTP routes a request (PROTOCOL §1.1):
//
//   - OPTIONS: 204 with CORS headers (unless Options.DisableCORS);
//   - sync request with transport=ws: WebSocket upgrade, or 426 without "Upgrade: websocket";
//   - sync request with transport=http, any method and path: the HTTP transport (http.go);
//   - GET /: 200 with the reference's info text;
//   - anything else: 400 "Invalid path".
func (b *Bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions && !b.opts.DisableCORS {
		b.setCORS(w, r)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	sr, ok := matchSyncRequest(r.URL.RawQuery)
	if ok && !b.originAccepted(w, r, sr) {
		return
	}
	if ok && !b.payloadAccepted(w, r, sr) {
		return
	}
	switch {
	case ok && sr.Transport == transportWS && b.opts.DisableWebSocket:
		b.setCORS(w, r)
		writeText(w, http.StatusBadRequest, "text/plain", "the ws transport is disabled on this server")
	case ok && sr.Transport == transportHTTP && b.opts.DisableHTTP:
		b.writeHTTPMessages(w, r, http.StatusBadRequest,
			[][]byte{appendDefectMessage(nil, defect{Message: "the http transport is disabled on this server"})})
	case ok && sr.Transport == transportWS:
		b.serveWebSocket(w, r, sr)
	case ok && sr.Transport == transportHTTP:
		b.serveHTTPTransport(w, r, sr)
	case r.Method == http.MethodGet && r.URL.Path == "/":
		writeText(w, http.StatusOK, "text/plain", infoText)
	default:
		b.setCORS(w, r)
		writeText(w, http.StatusBadRequest, "text/plain", invalidPathText)
	}
}

// originAccepted refuses, with 403, a sync request that a browser sent from an origin that
// Options.CORSOrigins (or OriginPatterns) does not allow, before anything else looks at it (the
// payload validator may trust cookies, which browsers attach whatever page sends the request).
// A request without an Origin header (not sent by a browser page), or from the server's own
// origin, is always accepted.
func (b *Bridge) originAccepted(w http.ResponseWriter, r *http.Request, sr syncRequest) bool {
	if b.originAllowed(r) {
		return true
	}
	msg := "origin " + logQuote(r.Header.Get("Origin")) + " is not allowed on this server (see --cors-origins)"
	b.opts.Logger.Info("livestore sync request refused: origin not allowed", "store_id", sr.StoreID,
		"transport", string(sr.Transport), "origin", logQuote(r.Header.Get("Origin")))
	if sr.Transport == transportHTTP {
		b.writeHTTPMessages(w, r, http.StatusForbidden, [][]byte{appendDefectMessage(nil, defect{Message: msg})})
		return false
	}
	writeText(w, http.StatusForbidden, "text/plain", msg)
	return false
}

// originAllowed reports whether r's Origin may use the sync protocols (see originAccepted).
func (b *Bridge) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || (len(b.opts.CORSOrigins) == 0 && len(b.opts.OriginPatterns) == 0) ||
		slices.Contains(b.opts.CORSOrigins, origin) {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range b.opts.OriginPatterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}

// payloadAccepted runs the service's payload validator for a sync request, once per WebSocket
// (before the upgrade) and once per HTTP request. A rejection is answered 400 with the
// validator's message, as the original answers a failed validatePayload.
func (b *Bridge) payloadAccepted(w http.ResponseWriter, r *http.Request, sr syncRequest) bool {
	info := service.RequestInfo{Transport: string(sr.Transport), Headers: r.Header}
	ctx := b.tr.headerContext(r.Context(), r.Header) // a validator that calls out continues the caller's trace
	err := b.svc.ValidatePayload(ctx, sr.StoreID, clientPayloadValue(nil, sr.Payload), info)
	if err == nil {
		return true
	}
	msg := err.Error()
	if pr := (*service.PayloadRejectedError)(nil); errors.As(err, &pr) {
		msg = pr.Err.Error()
	}
	b.opts.Logger.Info("livestore sync request refused by payload validation", "store_id", sr.StoreID,
		"transport", string(sr.Transport), "reason", msg)
	b.setCORS(w, r)
	writeText(w, http.StatusBadRequest, "text/plain", msg)
	return false
}

// serveWebSocket upgrades a sync request and serves the socket until it closes.
func (b *Bridge) serveWebSocket(w http.ResponseWriter, r *http.Request, sr syncRequest) {
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
	defer b.running.Done()
	if !b.wsLimit.acquire() {
		b.refuseOverLimit(w, r, sr, b.wsLimit, "MaxWebSockets")
		return
	}
	defer b.wsLimit.release()

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
	c.raw = hw.conn
	b.mu.Lock()
	b.conns[c] = struct{}{}
	stopping := b.stopping
	b.mu.Unlock()
	if stopping { // Shutdown began during the upgrade
		c.beginDrain(closeShutdown)
	}
	c.serve()
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
}

// corsMaxAge is how long browsers may cache a preflight answer, in seconds (they cap it: Chrome
// at 2 hours, Firefox at 24).
const corsMaxAge = "86400"

// setCORS is the one place that decides CORS headers: unless Options.DisableCORS, the headers the
// reference worker adds (enableCORS: true) on every response that carries them — 204 preflight,
// 400, 426 and, unlike the reference, the HTTP transport's responses — plus Max-Age on preflight.
func (b *Bridge) setCORS(w http.ResponseWriter, r *http.Request) {
	if b.opts.DisableCORS {
		return
	}
	h := w.Header()
	if len(b.opts.CORSOrigins) == 0 {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if !slices.Contains(b.opts.CORSOrigins, origin) {
			return // not an allowed origin: no CORS headers, so its browser cannot read the answer
		}
		h.Set("Access-Control-Allow-Origin", origin)
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	allow := r.Header.Get("Access-Control-Request-Headers")
	if allow == "" {
		allow = "*"
	}
	h.Set("Access-Control-Allow-Headers", allow)
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Max-Age", corsMaxAge)
	}
}

func writeText(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
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
