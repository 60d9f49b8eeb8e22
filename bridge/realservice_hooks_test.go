package bridge

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
)

// TestHooksWithRealService: a push hook rejects a store over WebSocket and HTTP; LiveStore
// clients get an UnknownError carrying the hook's message, and the hook sees the forwarded
// header (for a WebSocket, the upgrade request's).
func TestHooksWithRealService(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []service.HookContext
	engine, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(engine, service.Options{ForwardHeaders: []string{"X-User"}, Hooks: service.Hooks{
		OnPush: func(_ context.Context, _ *syncv1.PushRequest, hc service.HookContext) error {
			mu.Lock()
			seen = append(seen, hc)
			mu.Unlock()
			return errors.New("user " + hc.Headers.Get("X-User") + " may not push")
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	srv := httptest.NewServer(New(svc, Options{Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	header := http.Header{"X-User": {"carol"}}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/?storeId=hooked&transport=ws",
		&websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte(pushFrame("0", "", eventJSON(1, `{}`)))); err != nil {
		t.Fatal(err)
	}
	_, frame, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(frame), `"_tag":"UnknownError"`) || !strings.Contains(string(frame), "user carol may not push") {
		t.Fatalf("ws push answer: %s", frame)
	}

	req, _ := http.NewRequest("POST", srv.URL+"/?storeId=hooked&transport=http",
		strings.NewReader(strings.Replace(pushFrame("0", "", eventJSON(1, `{}`)), "SyncWsRpc", "SyncHttpRpc", 1)))
	req.Header = header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"_tag":"UnknownError"`) || !strings.Contains(string(body), "user carol may not push") {
		t.Fatalf("http push answer: %s", body)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0].Transport != "ws" || seen[1].Transport != "http" || seen[0].StoreID != "hooked" {
		t.Fatalf("hooks saw %+v", seen)
	}
}
