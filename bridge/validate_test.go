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

// A payload the validator refuses is answered 400 with its message, before a WebSocket upgrade
// and before an HTTP request reaches the service; an accepted one connects as usual.
func TestPayloadValidation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	const refused = "&payload=%2522forbidden%2522" // "forbidden", encoded twice as the client does

	_, resp, err := websocket.Dial(ctx, ts.wsURL("v")+refused, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("refused upgrade: err %v, resp %v", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "payload forbidden" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("refused upgrade answered %q with headers %v", body, resp.Header)
	}
	ws, _, err := websocket.Dial(ctx, ts.wsURL("v")+"&payload=%2522fine%2522", nil)
	if err != nil {
		t.Fatalf("accepted payload: %v", err)
	}
	ws.CloseNow()

	post := func(query string) (int, string) {
		resp, err := http.Post(ts.srv.URL+"/?storeId=v&transport=http"+query, "application/json",
			strings.NewReader(`{"_tag":"Request","id":"1","tag":"SyncHttpRpc.Ping","payload":{"storeId":"v"},"headers":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(refused); code != http.StatusBadRequest || body != "payload forbidden" {
		t.Fatalf("refused HTTP request: %d %q", code, body)
	}
	if code, body := post(""); code != http.StatusOK || !strings.Contains(body, "SyncMessage.Pong") {
		t.Fatalf("accepted HTTP request: %d %q", code, body)
	}
}
