package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"github.com/livestore-sync/livestore-sync/bridge"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
	"github.com/prometheus/client_golang/prometheus"
)

// captureLog returns a logger at Debug writing text lines into the returned buffer.
func captureLog() (*slog.Logger, *syncBuffer) {
	buf := new(syncBuffer)
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// serveRoutes serves the server's routes over a real service, on a loopback port with HTTP/1.1
// and h2c, logging to log, and returns its URL.
func serveRoutes(t *testing.T, log *slog.Logger) string {
	t.Helper()
	engine, err := pebblestore.Open(t.TempDir(), pebblestore.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(engine, service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{svc: svc, bridge: bridge.New(svc, bridge.Options{Logger: log}),
		health: grpchealth.NewStaticChecker(syncv1connect.SyncServiceName), log: log}
	srv := &http.Server{Handler: s.routes(prometheus.NewRegistry(), nil, "", true), Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		svc.Close()
	})
	return "http://" + ln.Addr().String()
}

// TestClientCancelIsNotAnError: live pulls that the client cancels, or whose deadline passes,
// are not logged as errors, over every Connect protocol.
func TestClientCancelIsNotAnError(t *testing.T) {
	log, buf := captureLog()
	url := serveRoutes(t, log)
	protocols := map[string][]connect.ClientOption{
		"connect":  nil,
		"grpc":     {connect.WithGRPC()},
		"grpc-web": {connect.WithGRPCWeb()},
	}
	ended := 0
	for name, opts := range protocols {
		for _, end := range []string{"cancel", "deadline"} {
			t.Run(name+"/"+end, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				if end == "deadline" {
					ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
				}
				defer cancel()
				client := syncv1connect.NewSyncServiceClient(h2cClient(), url, opts...)
				live, err := client.Pull(ctx, connect.NewRequest(&syncv1.PullRequest{StoreId: fmt.Sprintf("%s-%s", name, end), Live: true}))
				if err != nil {
					t.Fatal(err)
				}
				defer live.Close()
				if !live.Receive() {
					t.Fatalf("first page: %v", live.Err())
				}
				if end == "cancel" {
					cancel()
				}
				for live.Receive() {
				}
				ended++
				want := ended
				if log, ok := buf.await(10*time.Second, func(log string) bool {
					return strings.Count(log, "request ended by the client") >= want
				}); !ok {
					t.Fatalf("%d pulls ended by their client logged, want %d:\n%s", strings.Count(log, "request ended by the client"), want, log)
				}
			})
		}
	}
	if strings.Contains(buf.String(), "level=ERROR") {
		t.Fatalf("a client's cancel was logged as an error:\n%s", buf)
	}
}
