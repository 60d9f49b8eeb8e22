package bridge

import "net/http"

// serveHTTPTransport serves a sync request with transport=http (PROTOCOL §6): one Effect RPC
// Request per POST body, answered with a JSON array of every message of that request.
//
// Not implemented yet; it answers 501. The codec (rpc.go, payload.go, encode.go) and the error
// mapping (errors.go) are shared with the WebSocket transport and ready for it.
func (b *Bridge) serveHTTPTransport(w http.ResponseWriter, r *http.Request, sr syncRequest) {
	writeText(w, http.StatusNotImplemented, "text/plain; charset=utf-8", httpNotImplementedText)
}
