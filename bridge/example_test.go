package bridge_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/livestore-sync/livestore-sync/bridge"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
)

// Mount the sync backend in your own server: LiveStore's sync traffic goes to the Bridge, the
// Connect API to its handler, and everything else to your own pages (the counterpart of a custom
// worker calling handleSyncRequest only for matchSyncRequest).
func ExampleMatchSyncRequest() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	engine, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		panic(err)
	}
	svc, err := service.New(engine, service.Options{})
	if err != nil {
		panic(err)
	}
	defer svc.Close()
	sync := bridge.New(svc, bridge.Options{Logger: slog.New(slog.DiscardHandler)})

	mux := http.NewServeMux()
	mux.Handle(syncv1connect.NewSyncServiceHandler(service.NewHandler(svc)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if req, ok := bridge.MatchSyncRequest(r); ok {
			// Route, authenticate or log by store here if you like: req.StoreID, req.Payload.
			slog.Debug("sync request", "store_id", req.StoreID, "transport", req.Transport)
			sync.ServeHTTP(w, r)
			return
		}
		io.WriteString(w, "my own page\n")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(path string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Printf("%s → %d %s\n", path, resp.StatusCode, body)
	}
	get("/")
	get("/app?storeId=todos&transport=ws") // a sync request without the WebSocket upgrade
	// Output:
	// / → 200 my own page
	//
	// /app?storeId=todos&transport=ws → 426 Durable Object expected Upgrade: websocket
}
