package bridge

import (
	"net/url"
	"strings"
)

// transportWS03 names LiveStore 0.3's WebSocket protocol (@livestore/sync-cf 0.3.1, makeCfSync) in
// metrics, logs, traces and the payload validator's RequestInfo. It is never a value of the
// transport query parameter: 0.3 clients send none.
const transportWS03 transport = "ws03"

// websocketPath03 is what the path of a 0.3 sync request ends with (the client appends it to the
// URL it is given).
const websocketPath03 = "/websocket"

// transportName is the transport's name for metrics, logs and RequestInfo.
func (sr syncQuery) transportName() string {
	if sr.Transport == "" {
		return string(transportWS)
	}
	return string(sr.Transport)
}

// matchSyncRequest03 reports whether a request with this path and query string is a LiveStore
// 0.3 sync request: a path ending in /websocket, storeId exactly once, no transport parameter
// (0.4 clients always send one, so the two never overlap) and payload at most once and, if
// present, JSON text.
//
// The 0.3 client encodes the payload twice, as 0.4's does (encodeURIComponent, then the form
// encoding of URLSearchParams), so decodeURLPayload undoes the same.
func matchSyncRequest03(path, rawQuery string) (syncQuery, bool) {
	if !strings.HasSuffix(path, websocketPath03) {
		return syncQuery{}, false
	}
	q, _ := url.ParseQuery(rawQuery)
	storeIDs, payloads := q["storeId"], q["payload"]
	if len(storeIDs) != 1 || len(payloads) > 1 || q.Has("transport") {
		return syncQuery{}, false
	}
	sr := syncQuery{StoreID: storeIDs[0], Transport: transportWS03}
	if len(payloads) == 1 {
		p, ok := decodeURLPayload(payloads[0])
		if !ok {
			return syncQuery{}, false
		}
		sr.Payload = p
	}
	return sr, true
}
