package service_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"github.com/livestore-sync/livestore-sync/service"
)

// guardedServer serves the SyncService of svc behind a ConnectGuard with opts, counting the
// calls that reach the handler.
func guardedServer(t *testing.T, svc *service.Service, opts service.ConnectGuardOptions) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	srv, reached, _ := observedGuardedServer(t, svc, opts)
	return srv, reached
}

// observedGuardedServer is guardedServer, with a channel signalled each time a call gives back
// its place under MaxCalls (service.ObserveConnectGuardReleases).
func observedGuardedServer(t *testing.T, svc *service.Service, opts service.ConnectGuardOptions) (*httptest.Server, *atomic.Int64, <-chan struct{}) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(syncv1connect.NewSyncServiceHandler(service.NewHandler(svc), connect.WithReadMaxBytes(int(service.DefaultMaxConnectBodyBytes))))
	var reached atomic.Int64
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		mux.ServeHTTP(w, r)
	})
	guard := service.NewConnectGuard(counted, opts)
	released := service.ObserveConnectGuardReleases(guard)
	srv := httptest.NewServer(guard)
	t.Cleanup(srv.Close)
	return srv, &reached, released
}

// bearerAuth accepts calls with "Authorization: Bearer good".
func bearerAuth(r *http.Request) error {
	if r.Header.Get("Authorization") == "Bearer good" {
		return nil
	}
	return errors.New("no valid bearer token")
}

// rawRequest writes a request with only its headers (announcing a body it never sends) and
// returns the response's status line and body.
func rawRequest(t *testing.T, srv *httptest.Server, header string) (string, string) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, header); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.Status, string(body)
}

// TestGuardRefusesFromHeaders: bodies announced too large are refused from the headers, before
// a byte of them is read: without credentials beyond the unauthenticated bound
// (Unauthenticated), with credentials beyond the bound of every call (ResourceExhausted).
func TestGuardRefusesFromHeaders(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	srv, reached := guardedServer(t, svc, service.ConnectGuardOptions{Authenticate: bearerAuth})
	for _, tt := range []struct {
		name, auth string
		length     int64
		wantStatus string
		wantCode   string
	}{
		{"unauthenticated 40 MiB", "", 40 << 20, "401", `"code":"unauthenticated"`},
		{"unauthenticated just over 64 KiB", "", service.DefaultMaxUnauthenticatedBodyBytes + 1, "401", `"code":"unauthenticated"`},
		{"wrong token, 1 MiB", "Authorization: Bearer bad\r\n", 1 << 20, "401", `"code":"unauthenticated"`},
		{"authenticated over the limit", "Authorization: Bearer good\r\n", service.DefaultMaxConnectBodyBytes + 1, "429", `"code":"resource_exhausted"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := rawRequest(t, srv, fmt.Sprintf("POST /livestore.sync.v1.SyncService/Push HTTP/1.1\r\nHost: x\r\n"+
				"Content-Type: application/proto\r\nContent-Length: %d\r\n%s\r\n", tt.length, tt.auth))
			if !strings.HasPrefix(status, tt.wantStatus) || !strings.Contains(body, tt.wantCode) {
				t.Fatalf("%s %s", status, body)
			}
		})
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("%d refused calls reached the handler", n)
	}
}

// TestGuardUnauthenticatedBodyBound: a call whose headers carry no credentials may still send a
// small body (its payload may hold a token), but one that streams past the bound fails with
// Unauthenticated, and nothing of it is stored.
func TestGuardUnauthenticatedBodyBound(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	srv, _ := guardedServer(t, svc, service.ConnectGuardOptions{Authenticate: bearerAuth})
	// gRPC sends no Content-Length: the bound is enforced while reading.
	client := syncv1connect.NewSyncServiceClient(srv.Client(), srv.URL, connect.WithGRPCWeb())
	if _, err := client.Ping(context.Background(), connect.NewRequest(&syncv1.PingRequest{StoreId: "g"})); err != nil {
		t.Fatalf("small unauthenticated call refused: %v", err)
	}
	big := events(0, 40)
	for _, e := range big {
		e.Args = fmt.Sprintf(`{"text":%q}`, strings.Repeat("x", 4000))
	}
	_, err := client.Push(context.Background(), connect.NewRequest(&syncv1.PushRequest{StoreId: "g", Batch: big}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("unauthenticated 160 KB push: %v, want Unauthenticated", err)
	}
	req := connect.NewRequest(&syncv1.PushRequest{StoreId: "g", Batch: big})
	req.Header().Set("Authorization", "Bearer good")
	if _, err := client.Push(context.Background(), req); err != nil {
		t.Fatalf("authenticated push: %v", err)
	}
	if n := len(pulledEvents(pullAll(t, svc, &syncv1.PullRequest{StoreId: "g"}))); n != 40 {
		t.Fatalf("store holds %d events, want the 40 of the authenticated push", n)
	}
}

// TestGuardMaxCalls: a call beyond MaxCalls is refused with Unavailable while the others run;
// once one ends, its place is free again.
func TestGuardMaxCalls(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	svc := newService(t, "", service.Options{Metrics: service.NewMetrics(reg)})
	lp := service.CountLivePulls(svc)
	srv, _, released := observedGuardedServer(t, svc, service.ConnectGuardOptions{MaxCalls: 1})
	client := syncv1connect.NewSyncServiceClient(srv.Client(), srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := client.Pull(ctx, connect.NewRequest(&syncv1.PullRequest{StoreId: "m", Live: true}))
	if err != nil {
		t.Fatal(err)
	}
	if !stream.Receive() { // the backlog's page: the call is running
		t.Fatal(stream.Err())
	}
	_, err = client.Ping(context.Background(), connect.NewRequest(&syncv1.PingRequest{StoreId: "m"}))
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("second call: %v, want Unavailable", err)
	}
	cancel()
	stream.Close()
	lp.WaitFor(t, 0)
	// The pull's handler gives its place back once it has returned: a ping is tried again on
	// each place given back (a refused ping takes none) until one is served.
	bound := time.NewTimer(10 * time.Second)
	defer bound.Stop()
	for {
		_, err := client.Ping(context.Background(), connect.NewRequest(&syncv1.PingRequest{StoreId: "m"}))
		if err == nil {
			break
		}
		select {
		case <-released:
		case <-bound.C:
			t.Fatalf("the pull's place was never given back: %v", err)
		}
	}
}

// TestGuardSlowBody: a body that does not arrive within BodyTimeout fails the call with
// DeadlineExceeded, so a client sending slowly cannot hold a place.
func TestGuardSlowBody(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	srv, _ := guardedServer(t, svc, service.ConnectGuardOptions{BodyTimeout: 100 * time.Millisecond})
	status, body := rawRequest(t, srv, "POST /livestore.sync.v1.SyncService/Ping HTTP/1.1\r\nHost: x\r\n"+
		"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"storeId\":")
	if !strings.Contains(body, "deadline_exceeded") || !strings.Contains(body, "did not arrive") {
		t.Fatalf("%s %s", status, body)
	}
}

// TestGuardStalledLivePull: a Connect live pull whose client stops reading loses its call once
// a write takes longer than WriteTimeout (or the budget ends it first), freeing its place,
// while pushes carry on.
func TestGuardStalledLivePull(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	svc := newService(t, "", service.Options{Metrics: service.NewMetrics(reg)})
	lp := service.CountLivePulls(svc)
	srv, _ := guardedServer(t, svc, service.ConnectGuardOptions{WriteTimeout: 200 * time.Millisecond})
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(16 << 10)
	body := `{"storeId":"stall","live":true}`
	// A Connect server stream over HTTP/1.1: one enveloped JSON message.
	envelope := append([]byte{0, 0, 0, 0, byte(len(body))}, body...)
	fmt.Fprintf(conn, "POST /livestore.sync.v1.SyncService/Pull HTTP/1.1\r\nHost: x\r\nContent-Type: application/connect+json\r\nContent-Length: %d\r\n\r\n%s",
		len(envelope), envelope)
	lp.WaitFor(t, 1)
	args := fmt.Sprintf(`{"text":%q}`, strings.Repeat("x", 4000))
	for i := 0; ; i++ { // never read: the server's writes must time out
		batch := events(uint64(i*10), 10)
		for _, e := range batch {
			e.Args = args
		}
		push(t, svc, "stall", batch)
		if gauge := metricValue(t, reg, "livestore_sync_live_pulls"); gauge == 0 {
			break
		}
		if i > 20_000 {
			t.Fatal("the stalled live pull was never ended")
		}
	}
}

// metricValue returns the value of the named gauge.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}
