package bridge

import (
	"crypto/sha1"
	"encoding/base64"
	"github.com/livestore-sync/livestore-sync/service"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The payload of transcripts/ws-payload (PROTOCOL §1), encoded twice as the client sends it.
const (
	transcriptPayloadQuery = "%257B%2522authToken%2522%253A%2522insecure-token-change-me%2522%252C%2522userId%2522%253A%2522user%25201%2522%252C%2522tags%2522%253A%255B%2522a%2526b%2522%252C%2522c%253Dd%2522%252C%2522%25C3%25BCn%25C3%25AF%2522%255D%257D"
	transcriptPayloadJSON  = `{"authToken":"insecure-token-change-me","userId":"user 1","tags":["a&b","c=d","ünï"]}`
)

func TestMatchSyncRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query   string
		ok      bool
		store   string
		tr      transport
		payload string
	}{
		{query: "storeId=s&transport=ws", ok: true, store: "s", tr: transportWS},
		{query: "transport=http&storeId=s", ok: true, store: "s", tr: transportHTTP},
		{query: "storeId=&transport=ws", ok: true, store: "", tr: transportWS},
		{query: "storeId=a%20b%2Bc+d&transport=ws", ok: true, store: "a b+c d", tr: transportWS},
		{query: "storeId=s&payload=" + transcriptPayloadQuery + "&transport=ws", ok: true, store: "s", tr: transportWS, payload: transcriptPayloadJSON},
		{query: "storeId=s&transport=ws&payload=%7B%22a%22%3A1%7D", ok: true, store: "s", tr: transportWS, payload: `{"a":1}`},
		{query: "storeId=s&transport=ws&payload=%7B%22a%22%3A%22100%25%22%7D", ok: true, store: "s", tr: transportWS, payload: `{"a":"100%"}`},
		{query: "storeId=s&transport=ws&payload=42", ok: true, store: "s", tr: transportWS, payload: `42`},
		{query: "storeId=s&transport=ws&payload=notjson"},
		{query: "storeId=s&transport=ws&payload="},
		{query: "storeId=s&transport=ws&payload=1&payload=2"},
		{query: "storeId=s&transport=HTTP"},
		{query: "storeId=s&transport=sse"},
		{query: "storeId=s"},
		{query: "transport=ws"},
		{query: "storeId=a&storeId=b&transport=ws"},
		{query: "storeId=s&transport=ws&transport=ws"},
		{query: ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			sr, ok := matchSyncRequest(tt.query)
			if ok != tt.ok {
				t.Fatalf("ok %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if sr.StoreID != tt.store || sr.Transport != tt.tr || string(sr.Payload) != tt.payload {
				t.Fatalf("got %+v (payload %s)", sr, sr.Payload)
			}
		})
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	const (
		plain   = "text/plain"
		upgrade = "text/plain;charset=UTF-8"
	)
	tests := []struct {
		name        string
		method      string
		target      string
		header      http.Header
		status      int
		contentType string
		body        string // prefix
		cors        bool
	}{
		{"info", "GET", "/", nil, 200, plain, infoText, false},
		{"info without store", "GET", "/?transport=http", nil, 200, plain, infoText, false},
		{"info with repeated storeId", "GET", "/?storeId=a&storeId=b&transport=ws", nil, 200, plain, infoText, false},
		{"info for ws upgrade without storeId", "GET", "/?transport=ws", http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}, 200, plain, infoText, false},
		{"ws without upgrade", "GET", "/?storeId=a&transport=ws", nil, 426, upgrade, upgradeExpected, true},
		{"ws without upgrade, any path", "POST", "/some/path?storeId=a&transport=ws", nil, 426, upgrade, upgradeExpected, true},
		{"ws empty store id", "GET", "/?storeId=&transport=ws", nil, 426, upgrade, upgradeExpected, true},
		{"post without store", "POST", "/", nil, 400, plain, invalidPathText, true},
		{"other path", "GET", "/other", nil, 400, plain, invalidPathText, true},
		{"unknown transport", "POST", "/?storeId=a&transport=HTTP", nil, 400, plain, invalidPathText, true},
		{"undecodable payload", "POST", "/?storeId=a&transport=http&payload=notjson", nil, 400, plain, invalidPathText, true},
		{"http transport", "POST", "/?storeId=a&transport=http", nil, 200, "application/json", `[{"_tag":"Defect"`, true},
		{"http transport with payload", "POST", "/?storeId=a&payload=" + transcriptPayloadQuery + "&transport=http", nil, 200, "application/json", `[{"_tag":"Defect"`, true},
		{"http transport with upgrade headers", "GET", "/?storeId=a&transport=http", http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}, 200, "application/json", `[{"_tag":"Defect","defect":{"name":"SyntaxError","message":"Unexpected end of JSON input"}}]`, true},
		{"options", "OPTIONS", "/anything?x=1", http.Header{"Access-Control-Request-Headers": {"content-type,b3"}}, 204, "", "", true},
	}
	b := New(newGatedService(t, service.Options{}), Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.target, nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			b.ServeHTTP(rec, req)
			res := rec.Result()
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", res.StatusCode, tt.status, rec.Body)
			}
			if got := res.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("content type %q, want %q", got, tt.contentType)
			}
			if !strings.HasPrefix(rec.Body.String(), tt.body) || (tt.body == "" && rec.Body.Len() > 0) {
				t.Errorf("body %q, want %q", rec.Body, tt.body)
			}
			if cors := res.Header.Get("Access-Control-Allow-Origin") == "*"; cors != tt.cors {
				t.Errorf("CORS headers %v, want %v: %v", cors, tt.cors, res.Header)
			}
			if tt.method == "OPTIONS" {
				if got := res.Header.Get("Access-Control-Allow-Headers"); got != "content-type,b3" {
					t.Errorf("Access-Control-Allow-Headers %q", got)
				}
				if got := res.Header.Get("Access-Control-Allow-Methods"); got != "GET, POST, OPTIONS" {
					t.Errorf("Access-Control-Allow-Methods %q", got)
				}
			}
		})
	}
}

func TestRoutingWithoutCORS(t *testing.T) {
	t.Parallel()
	b := New(newGatedService(t, service.Options{}), Options{DisableCORS: true})
	for _, target := range []string{"/?storeId=a&transport=ws", "/other"} {
		rec := httptest.NewRecorder()
		b.ServeHTTP(rec, httptest.NewRequest("OPTIONS", target, nil))
		if rec.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: CORS header set", target)
		}
	}
}

// TestUpgradeHandshake checks the 101 response over a real socket: no compression, no
// subprotocol, even when the client offers them (as Node's ws offers permessage-deflate).
func TestUpgradeHandshake(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	req, err := http.NewRequest("GET", ts.srv.URL+"/?storeId=s&transport=ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "WebSocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "ljXSNONtcdLahcPScWDAzw==")
	req.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
	req.Header.Set("Sec-WebSocket-Protocol", "chat")
	req.Header.Set("Origin", "https://app.example.com")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", res.StatusCode)
	}
	sum := sha1.Sum([]byte("ljXSNONtcdLahcPScWDAzw==258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) // RFC 6455 §4.2.2
	if got, want := res.Header.Get("Sec-WebSocket-Accept"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		t.Errorf("Sec-WebSocket-Accept %q, want %q", got, want)
	}
	if res.Header.Get("Sec-WebSocket-Extensions") != "" || res.Header.Get("Sec-WebSocket-Protocol") != "" {
		t.Errorf("negotiated: %v", res.Header)
	}
}
