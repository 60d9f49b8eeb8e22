package bridge

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestDisabledTransports(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{DisableWebSocket: true, DisableHTTP: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, ts.wsURL("off"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("ws with the transport off: %v %v", err, resp)
	}
	if body, _ := io.ReadAll(resp.Body); string(body) != "the ws transport is disabled on this server" {
		t.Fatalf("ws answer %q", body)
	}
	res, err := http.Post(ts.srv.URL+"/?storeId=off&transport=http", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || string(body) != `[{"_tag":"Defect","defect":"the http transport is disabled on this server"}]` {
		t.Fatalf("http with the transport off: %d %s", res.StatusCode, body)
	}
}

func TestCORSOrigins(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{CORSOrigins: []string{"https://app.example.com"}})
	for _, tt := range []struct {
		origin, wantAllow string
	}{
		{"https://app.example.com", "https://app.example.com"},
		{"https://evil.example.com", ""},
	} {
		req, _ := http.NewRequest(http.MethodOptions, ts.srv.URL+"/?storeId=c&transport=http", nil)
		req.Header.Set("Origin", tt.origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.wantAllow || resp.Header.Get("Vary") != "Origin" {
			t.Errorf("origin %s: Allow-Origin %q, Vary %q; want %q", tt.origin, got, resp.Header.Get("Vary"), tt.wantAllow)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, ts.wsURL("c"), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example.com"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("upgrade from a foreign origin: %v %v", err, resp)
	}
	ws, _, err := websocket.Dial(ctx, ts.wsURL("c"), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://app.example.com"}}})
	if err != nil {
		t.Fatalf("upgrade from an allowed origin: %v", err)
	}
	ws.CloseNow()
}

// TestCORSAnyOrigin: "*" alone in CORSOrigins allows every origin, like no list, rather than
// matching no browser's origin.
func TestCORSAnyOrigin(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{CORSOrigins: []string{"*"}})
	req, _ := http.NewRequest(http.MethodOptions, ts.srv.URL+"/?storeId=c&transport=http", nil)
	req.Header.Set("Origin", "https://any.example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Allow-Origin %q, want *", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, ts.wsURL("c"), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://any.example.com"}}})
	if err != nil {
		t.Fatalf("upgrade from any origin: %v", err)
	}
	ws.CloseNow()
}

// TestForeignOriginRefusedBeforeAnything: with CORSOrigins set, a sync request a browser sends
// from another origin is refused with 403 on both transports before the payload validator (which
// may trust cookies) or the service sees it — in particular a "simple" cross-site POST, which a
// browser sends without a preflight. Requests without Origin, from an allowed origin or from the
// server's own origin go through.
func TestForeignOriginRefusedBeforeAnything(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{CORSOrigins: []string{"https://app.example.com"}})
	for _, tt := range []struct {
		origin     string
		wantStatus int
	}{
		{"https://evil.example", http.StatusForbidden},
		{"null", http.StatusForbidden},
		{"", http.StatusOK},
		{"https://app.example.com", http.StatusOK},
		{"http://" + ts.srv.Listener.Addr().String(), http.StatusOK},
	} {
		before := ts.svc.head(t, "csrf")
		req, _ := http.NewRequest(http.MethodPost, ts.srv.URL+"/?storeId=csrf&transport=http",
			strings.NewReader(httpPush("1", eventJSON(before+1, `{"evil":1}`))))
		req.Header.Set("Content-Type", "text/plain")
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantStatus {
			t.Fatalf("origin %q: %d %s", tt.origin, resp.StatusCode, body)
		}
		stored := ts.svc.head(t, "csrf") > before
		if stored != (tt.wantStatus == http.StatusOK) {
			t.Fatalf("origin %q: stored = %v", tt.origin, stored)
		}
	}
}
