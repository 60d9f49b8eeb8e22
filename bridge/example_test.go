package bridge_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"
	"github.com/livestore-sync/livestore-sync/bridge"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
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

// Trace every RPC: give the Bridge your TracerProvider (the LiveStore transports: a span per
// Push, Pull and Ping, continuing the trace of the client's traceparent or b3 headers, or of the
// traceId and spanId of its WebSocket requests), and put connectrpc.com/otelconnect's
// interceptor on the Connect handler (Connect, gRPC and gRPC-Web). Here spans are kept in memory;
// in production, export them (e.g. with go.opentelemetry.io/contrib/exporters/autoexport).
func Example_tracing() {
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

	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	propagator := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, b3.New())
	otelInterceptor, err := otelconnect.NewInterceptor(otelconnect.WithTracerProvider(tp),
		otelconnect.WithPropagator(propagator), otelconnect.WithTrustRemote(), otelconnect.WithoutMetrics())
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.Handle(syncv1connect.NewSyncServiceHandler(service.NewHandler(svc), connect.WithInterceptors(otelInterceptor)))
	mux.Handle("/", bridge.New(svc, bridge.Options{TracerProvider: tp, Propagator: propagator}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	// A LiveStore HTTP transport ping, and a Connect ping, both sent within the caller's trace.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/?storeId=todos&transport=http", strings.NewReader(
		`{"_tag":"Request","id":"0","tag":"SyncHttpRpc.Ping","payload":{"storeId":"todos"},"headers":[]}`))
	req.Header.Set("traceparent", traceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	ping := connect.NewRequest(&syncv1.PingRequest{StoreId: "todos"})
	ping.Header().Set("traceparent", traceparent)
	if _, err := syncv1connect.NewSyncServiceClient(http.DefaultClient, srv.URL).Ping(context.Background(), ping); err != nil {
		panic(err)
	}

	for _, s := range spans.Ended() {
		fmt.Printf("%s: trace %s, parent %s\n", s.Name(), s.SpanContext().TraceID(), s.Parent().SpanID())
	}
	// Output:
	// SyncHttpRpc.Ping: trace 0af7651916cd43dd8448eb211c80319c, parent b7ad6b7169203331
	// livestore.sync.v1.SyncService/Ping: trace 0af7651916cd43dd8448eb211c80319c, parent b7ad6b7169203331
}
