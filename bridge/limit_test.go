package bridge

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMaxWebSockets(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	metrics := service.NewMetrics(reg)
	ts := newTestServer(t, Options{MaxWebSockets: 2, Metrics: metrics})
	first := ts.dial("store-a", false)
	ts.dial("store-b", false)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, ts.wsURL("store-c"), nil)
	if err == nil {
		t.Fatal("a third WebSocket was accepted over MaxWebSockets 2")
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(body), "limit (MaxWebSockets)") || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("refusal: %d %v %q, want 503 with Retry-After, CORS and the limit named", resp.StatusCode, resp.Header, body)
	}
	want := `
# HELP livestore_sync_connections_refused_total Connections refused because their transport was at its limit of open connections, by transport.
# TYPE livestore_sync_connections_refused_total counter
livestore_sync_connections_refused_total{transport="ws"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "livestore_sync_connections_refused_total"); err != nil {
		t.Error(err)
	}
	first.ping() // the open sockets are unaffected

	// Once a socket has closed, its place is free again.
	first.ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, func() bool { return ts.bridge.wsLimit.open.Load() == 1 })
	ts.dial("store-c", false).ping()
}

func TestMaxHTTPRequests(t *testing.T) {
	t.Parallel()
	svc := newGatedService(t, service.Options{})
	svc.callGate = make(chan struct{}) // the first request stays in flight until it is closed
	b := New(svc, Options{MaxHTTPRequests: 1, Logger: quietLogger})
	target := "/?storeId=store-a&transport=http"

	done := make(chan string)
	go func() {
		res, body := doHTTP(t, b, http.MethodPost, target, nil, httpPing("0"))
		done <- res.Status + " " + body
	}()
	waitFor(t, func() bool { return b.httpLimit.open.Load() == 1 })

	res, body := doHTTP(t, b, http.MethodPost, target, nil, httpPing("1"))
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" ||
		!strings.Contains(body, `"_tag":"Defect"`) || !strings.Contains(body, "limit (MaxHTTPRequests)") ||
		res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("second request: %d %v %s, want 503 with Retry-After, CORS and a Defect naming the limit", res.StatusCode, res.Header, body)
	}
	close(svc.callGate)
	if got := <-done; !strings.Contains(got, "200") || !strings.Contains(got, "SyncMessage.Pong") {
		t.Fatalf("first request: %s", got)
	}
	if res, body := doHTTP(t, b, http.MethodPost, target, nil, httpPing("2")); res.StatusCode != http.StatusOK {
		t.Fatalf("a request after the first ended: %d %s", res.StatusCode, body)
	}
}

func TestConnLimitDisabled(t *testing.T) {
	t.Parallel()
	l := newConnLimit(-1)
	for range 100 {
		if !l.acquire() {
			t.Fatal("a negative limit refused")
		}
	}
	if got := New(newGatedService(t, service.Options{}), Options{}).opts; got.MaxWebSockets != DefaultMaxWebSockets || got.MaxHTTPRequests != DefaultMaxHTTPRequests {
		t.Fatalf("defaults %d, %d", got.MaxWebSockets, got.MaxHTTPRequests)
	}
}

// TestHTTPSlowBody checks that a client trickling its body is answered 408 after RequestTimeout
// and frees its place under MaxHTTPRequests, while a request after it is served.
func TestHTTPSlowBody(t *testing.T) {
	b := New(newGatedService(t, service.Options{}), Options{RequestTimeout: 300 * time.Millisecond, MaxHTTPRequests: 1, Logger: quietLogger})
	srv := httptest.NewServer(b)
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := httpPing("0")
	fmt.Fprintf(conn, "POST /?storeId=s&transport=http HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		len(body), body[:10]) // and the rest never comes
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	answer, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(answer), "did not arrive within 300ms (RequestTimeout)") {
		t.Fatalf("stalled body: %d %s, want 408 naming RequestTimeout", res.StatusCode, answer)
	}
	waitFor(t, func() bool { return b.httpLimit.open.Load() == 0 })

	// A request whose service time exceeds what was left of the body's deadline still works: the
	// deadline is lifted once the body is in.
	slow := newGatedService(t, service.Options{})
	slow.callDelay = 200 * time.Millisecond
	b2 := New(slow, Options{RequestTimeout: 250 * time.Millisecond, Logger: quietLogger})
	srv2 := httptest.NewServer(b2)
	defer srv2.Close()
	resp, err := http.Post(srv2.URL+"/?storeId=s&transport=http", "application/json", strings.NewReader(httpPing("1")))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(got), "SyncMessage.Pong") {
		t.Fatalf("ping after the body: %d %s", resp.StatusCode, got)
	}
}
