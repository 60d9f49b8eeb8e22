package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestMaxWebSocketsFlag checks that --max-websockets reaches the bridge: a WebSocket over the
// limit is refused with 503, and the refusal is counted in /metrics.
func TestMaxWebSocketsFlag(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--max-websockets", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(srv.url, "http") + "/?storeId=limits&transport=ws"
	first, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.CloseNow()
	_, resp, err := websocket.Dial(ctx, wsURL, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second WebSocket: %v %v, want 503", resp, err)
	}
	res, err := http.Get(srv.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `livestore_sync_connections_refused_total{transport="ws"} 1`) {
		t.Fatalf("/metrics does not count the refusal:\n%s", body)
	}
}
