package bridge

import (
	"encoding/json"
	"net/http"
	"net/url"
	"unicode/utf8"
)

// transport is the value of a sync request's transport parameter.
type transport string

const (
	transportWS   transport = "ws"
	transportHTTP transport = "http"
)

// syncQuery is what the query string of a sync request carries (PROTOCOL §1).
type syncQuery struct {
	// StoreID is the store the request is for; it may be empty. It is authoritative: the
	// storeId inside RPC payloads is ignored.
	StoreID string
	// Transport is ws or http.
	Transport transport
	// Payload is the client's payload as JSON text, nil when absent.
	Payload json.RawMessage
}

// matchSyncRequest reports whether a request with this query string is a sync request: storeId
// exactly once, transport exactly once and exactly "ws" or "http" (case-sensitive), and payload
// at most once and, if present, JSON text.
//
// The client encodes the payload twice (encodeURIComponent, then URLSearchParams), so after the
// query is parsed it is decoded once more. A payload whose second decoding fails but which is
// JSON already is accepted too (a singly encoded payload containing "%"; the reference rejects
// it). Pairs of the query that do not parse are skipped, as URLSearchParams is lenient too.
func matchSyncRequest(rawQuery string) (syncQuery, bool) {
	q, _ := url.ParseQuery(rawQuery)
	storeIDs, transports, payloads := q["storeId"], q["transport"], q["payload"]
	if len(storeIDs) != 1 || len(transports) != 1 || len(payloads) > 1 {
		return syncQuery{}, false
	}
	sr := syncQuery{StoreID: storeIDs[0], Transport: transport(transports[0])}
	if sr.Transport != transportWS && sr.Transport != transportHTTP {
		return syncQuery{}, false
	}
	if len(payloads) == 1 {
		p, ok := decodeURLPayload(payloads[0])
		if !ok {
			return syncQuery{}, false
		}
		sr.Payload = p
	}
	return sr, true
}

// decodeURLPayload undoes the client's encodeURIComponent and checks that the result is JSON.
func decodeURLPayload(s string) (json.RawMessage, bool) {
	if d, err := url.PathUnescape(s); err == nil && isJSON(d) {
		return json.RawMessage(d), true
	}
	if isJSON(s) {
		return json.RawMessage(s), true
	}
	return nil, false
}

func isJSON(s string) bool { return utf8.ValidString(s) && json.Valid([]byte(s)) }

// SyncRequest describes a LiveStore sync request: the counterpart of the original's
// matchSyncRequest result.
type SyncRequest struct {
	// StoreID is the store the request is for (it may be empty).
	StoreID string
	// Transport is "ws" or "http", or "ws03" for LiveStore 0.3's WebSocket protocol.
	Transport string
	// Payload is the client's payload as JSON text, nil when absent.
	Payload json.RawMessage
}

// MatchSyncRequest reports whether r is a LiveStore sync request (its query has storeId once and
// transport=ws or transport=http, whatever its path; or, for LiveStore 0.3, its path ends in
// /websocket and its query has storeId once and no transport), and what it asks for. Use it to send only
// sync traffic to a Bridge and serve other pages from the same port.
func MatchSyncRequest(r *http.Request) (SyncRequest, bool) {
	sr, ok := matchSyncRequest(r.URL.RawQuery)
	if !ok {
		sr, ok = matchSyncRequest03(r.URL.Path, r.URL.RawQuery)
	}
	if !ok {
		return SyncRequest{}, false
	}
	return SyncRequest{StoreID: sr.StoreID, Transport: string(sr.Transport), Payload: sr.Payload}, true
}
