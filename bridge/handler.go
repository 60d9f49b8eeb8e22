package bridge

import (
	"errors"
	"net/http"
	"sync"

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
	pushes03  *recentPushes03

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
		pushes03:  newRecentPushes03(),
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
//   - LiveStore 0.3's sync request (a path ending in /websocket, storeId, no transport): the
//     same, for the 0.3 protocol (ws03.go);
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
	if !ok {
		sr, ok = matchSyncRequest03(r.URL.Path, r.URL.RawQuery) // LiveStore 0.3 (ws03.go)
	}
	if ok && !b.originAccepted(w, r, sr) {
		return
	}
	if ok && !b.payloadAccepted(w, r, sr) {
		return
	}
	switch {
	case ok && sr.Transport == transportWS && b.opts.DisableWebSocket,
		ok && sr.Transport == transportWS03 && b.opts.DisableWebSocket03:
		b.setCORS(w, r)
		writeText(w, http.StatusBadRequest, "text/plain", "the "+string(sr.Transport)+" transport is disabled on this server")
	case ok && sr.Transport == transportHTTP && b.opts.DisableHTTP:
		b.writeHTTPMessages(w, r, http.StatusBadRequest,
			[][]byte{appendDefectMessage(nil, defect{Message: "the http transport is disabled on this server"})})
	case ok && (sr.Transport == transportWS || sr.Transport == transportWS03):
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

// payloadAccepted runs the service's payload validator for a sync request, once per WebSocket
// (before the upgrade) and once per HTTP request. A rejection is answered 400 with the
// validator's message, as the original answers a failed validatePayload.
func (b *Bridge) payloadAccepted(w http.ResponseWriter, r *http.Request, sr syncQuery) bool {
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

func writeText(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
