package bridge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
)

// startRealServer serves a Bridge over the real service on a loopback server.
func startRealServer(t *testing.T) (*service.Service, *testServer) {
	t.Helper()
	svc, b := newRealBridge(t)
	srv := httptest.NewServer(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
		srv.Close()
	})
	return svc, &testServer{t: t, bridge: b, srv: srv}
}

// storedEvents returns how many events the store holds.
func storedEvents(t *testing.T, svc *service.Service, storeID string) int {
	t.Helper()
	n := 0
	err := svc.Pull(context.Background(), &syncv1.PullRequest{StoreId: storeID}, func(p *syncv1.PullResponse) error {
		n += len(p.GetBatch())
		return nil
	})
	if err != nil {
		t.Fatalf("pull %q: %v", storeID, err)
	}
	return n
}

// TestWebSocketInvalidUTF8 closes a socket whose frame is not UTF-8 with 1007 (RFC 6455 §8.1),
// storing nothing of it, while another socket of the same store carries on.
func TestWebSocketInvalidUTF8(t *testing.T) {
	t.Parallel()
	svc, ts := startRealServer(t)
	other := ts.dial("utf8-store", false)
	bad := ts.dial("utf8-store", false)
	bad.send(pushFrame("0", "", eventJSON(1, "{\"t\":\"\xff\xfe\"}")))
	if ce := bad.closeError(5 * time.Second); ce.Code != websocket.StatusInvalidFramePayloadData {
		t.Fatalf("close = %v, want 1007", ce)
	}
	other.send(pushFrame("0", "", eventJSON(1, `{"t":"ok"}`)))
	other.expect(`{"_tag":"Exit","requestId":"0","exit":{"_tag":"Success","value":{}}}`)
	if n := storedEvents(t, svc, "utf8-store"); n != 1 {
		t.Fatalf("store holds %d events, want only the valid one", n)
	}
}

// TestHTTPInvalidUTF8 answers an HTTP transport body that is not UTF-8 with 400 and a Defect.
func TestHTTPInvalidUTF8(t *testing.T) {
	t.Parallel()
	svc, b := newRealBridge(t)
	body := httpPush("1", eventJSON(1, "{\"t\":\"\xff\xfe\"}"))
	resp, text := doHTTP(t, b, http.MethodPost, "/?storeId=utf8-http&transport=http", nil, body)
	if resp.StatusCode != http.StatusBadRequest || text != `[{"_tag":"Defect","defect":"request body is not valid UTF-8"}]` {
		t.Fatalf("%d %s", resp.StatusCode, text)
	}
	if n := storedEvents(t, svc, "utf8-http"); n != 0 {
		t.Fatalf("store holds %d events", n)
	}
}

// TestInvalidStoreIDRefused refuses sync requests whose storeId is not UTF-8 (or too long)
// before anything else: 400 on both transports, and no store is created.
func TestInvalidStoreIDRefused(t *testing.T) {
	t.Parallel()
	svc, ts := startRealServer(t)
	for _, id := range []string{"%FF%FE", "ok%C3", strings.Repeat("s", service.DefaultMaxStoreIDBytes+1)} {
		for _, tr := range []string{"ws", "http"} {
			req, err := http.NewRequest(http.MethodGet, ts.srv.URL+"/?storeId="+id+"&transport="+tr, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tr == "ws" {
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "websocket")
				req.Header.Set("Sec-WebSocket-Version", "13")
				req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			}
			resp, err := ts.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("storeId=%.20s transport=%s: status %d, want 400", id, tr, resp.StatusCode)
			}
		}
	}
	stores, err := svc.ListStores(context.Background(), "", 10)
	if err != nil || len(stores) != 0 {
		t.Fatalf("stores %v, err %v", stores, err)
	}
}
