package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/budget"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
)

// budgetServer serves a Bridge over the real service, both sharing an outgoing budget of max
// bytes, with the service's metrics in reg.
func budgetServer(t *testing.T, max int64, opts Options) (*testServer, *budget.Budget, *prometheus.Registry) {
	t.Helper()
	engine, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := budget.New(max)
	reg := prometheus.NewRegistry()
	svc, err := service.New(engine, service.Options{OutgoingBudget: b, Metrics: service.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	observeLivePulls(svc)
	opts.Logger = slog.New(slog.DiscardHandler)
	br := New(svc, opts)
	srv := httptest.NewUnstartedServer(br)
	srv.Listener = smallSendBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = br.Shutdown(ctx)
		srv.Close()
		svc.Close()
	})
	return &testServer{t: t, bridge: br, srv: srv}, b, reg
}

// smallSendBuffers is a listener whose connections have small send buffers, so that the
// server's writes to a client that does not read block soon (instead of filling megabytes of
// kernel buffers first).
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(32 << 10)
	}
	return conn, err
}

// gauge returns the value of the named gauge, 0 when it has none yet.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && f.GetType() == dto.MetricType_GAUGE {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}

// waitUntil waits until cond holds (see waitFor), failing the test after a generous bound.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForWithin(t, what, 20*time.Second, cond)
}

// TestStalledSocketsStayUnderBudget: sockets with a live pull whose client stops reading are
// closed once the server's outgoing budget is exhausted (the one holding the most first), so the
// bytes held for them never exceed the budget, while a socket that keeps reading gets every
// event in order and a pusher is never disturbed.
func TestStalledSocketsStayUnderBudget(t *testing.T) {
	t.Parallel()
	const limit = 2 << 20
	ts, b, reg := budgetServer(t, limit, Options{})
	const stalled = 4
	var stalledConns []*websocket.Conn
	// The stalled clients' receive buffers are small too.
	smallBuffers := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(16 << 10)
		}
		return conn, err
	}}}
	for range stalled {
		ws, _, err := websocket.Dial(context.Background(), ts.wsURL("budget"), &websocket.DialOptions{HTTPClient: smallBuffers})
		if err != nil {
			t.Fatal(err)
		}
		ws.SetReadLimit(64 << 20)
		t.Cleanup(func() { ws.CloseNow() })
		// Read the backlog's one page and Ack it, so the pull goes live; then read nothing more.
		if err := ws.Write(context.Background(), websocket.MessageText, []byte(pullFrame("1", true, ""))); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ws.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := ws.Write(context.Background(), websocket.MessageText, []byte(`{"_tag":"Ack","requestId":"1"}`)); err != nil {
			t.Fatal(err)
		}
		stalledConns = append(stalledConns, ws)
	}
	reader := ts.dial("budget", false)
	reader.send(pullFrame("7", true, ""))
	if seqs, _ := chunkSeqNums(t, reader.next(), "7"); len(seqs) != 0 {
		t.Fatalf("backlog of an empty store: %v", seqs)
	}
	reader.send(`{"_tag":"Ack","requestId":"7"}`)
	waitUntil(t, "every pull is live", func() bool { return gauge(t, reg, "livestore_sync_live_pulls") == stalled+1 })

	pusher := ts.dial("budget", false)
	const pushes, perPush = 80, 50 // 4,000 events of about 2 KB: 8 MB, four times the budget
	args := fmt.Sprintf(`{"text":%q}`, strings.Repeat("x", 2000))
	var got []uint64
	peak := int64(0)
	for i := range pushes {
		events := make([]string, perPush)
		for j := range events {
			events[j] = eventJSON(uint64(i*perPush+j+1), args)
		}
		id := fmt.Sprint(100 + i)
		pusher.send(pushFrame(id, "", events...))
		for {
			f := pusher.next()
			if strings.HasPrefix(f, `{"_tag":"Exit","requestId":"`+id+`"`) {
				if !strings.Contains(f, `"Success"`) {
					t.Fatalf("push %s: %s", id, f)
				}
				break
			}
		}
		peak = max(peak, b.Used())
		for len(got) < (i+1)*perPush { // the reading socket keeps up
			seqs, _ := chunkSeqNums(t, reader.next(), "7")
			got = append(got, seqs...)
		}
	}
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("reading socket: event %d is seq %d", i, s)
		}
	}
	if peak > limit {
		t.Fatalf("held %d bytes for clients, over the budget of %d", peak, limit)
	}
	// The stalled sockets were closed: reading them now ends (after what was buffered).
	var wg sync.WaitGroup
	for _, ws := range stalledConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for {
				if _, _, err := ws.Read(ctx); err != nil {
					if ctx.Err() != nil {
						t.Errorf("stalled socket still open")
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	reader.ping()
	pusher.ping()
}

// TestPipeliningIsSlowedNotClosed: a client that sends requests much faster than it reads the
// answers, past the socket's queue and request bounds, is slowed down: every request is
// answered, and the socket stays open.
func TestPipeliningIsSlowedNotClosed(t *testing.T) {
	t.Parallel()
	ts, _, _ := budgetServer(t, 1<<20, Options{OutgoingQueueFrames: 4, MaxRequestsPerSocket: 2})
	c := ts.dial("pipelined", false)
	const n = 600
	go func() {
		for i := range n {
			if i%2 == 0 {
				c.send(`{"_tag":"Ping"}`)
				continue
			}
			c.send(pushFrame(fmt.Sprint(i), "", eventJSON(uint64(i/2+1), `{}`)))
		}
	}()
	pongs, exits := 0, 0
	for pongs+exits < n {
		switch f := c.next(); {
		case f == `{"_tag":"Pong"}`:
			pongs++
		case strings.HasPrefix(f, `{"_tag":"Exit"`):
			exits++
		default:
			t.Fatalf("unexpected frame %s", f)
		}
	}
	if pongs != n/2 || exits != n/2 {
		t.Fatalf("%d pongs, %d exits", pongs, exits)
	}
	c.ping()
}

// TestHTTPStalledReaderFreesItsPlace: HTTP transport clients that pull a large store and never
// read the response lose their request once writing it takes longer than WriteTimeout, so that
// they cannot hold the places of MaxHTTPRequests.
func TestHTTPStalledReaderFreesItsPlace(t *testing.T) {
	ts, _, _ := budgetServer(t, 256<<20, Options{WriteTimeout: 200 * time.Millisecond, MaxHTTPRequests: 2})
	pusher := ts.dial("big-http", false)
	args := fmt.Sprintf(`{"text":%q}`, strings.Repeat("x", 8000))
	for i := range 10 { // 500 events of 8 KB: a 4 MB response
		events := make([]string, 50)
		for j := range events {
			events[j] = eventJSON(uint64(i*50+j+1), args)
		}
		pusher.send(pushFrame(fmt.Sprint(i), "", events...))
		pusher.expect(fmt.Sprintf(exitPush, fmt.Sprint(i)))
	}
	body := httpPull("1", "")
	for range 2 {
		conn, err := net.Dial("tcp", ts.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.(*net.TCPConn).SetReadBuffer(16 << 10)
		fmt.Fprintf(conn, "POST /?storeId=big-http&transport=http HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		// … and never read the answer.
	}
	waitUntil(t, "both stalled readers hold a place", func() bool { return ts.bridge.httpLimit.open.Load() == 2 })
	waitUntil(t, "both stalled readers' places are free", func() bool { return ts.bridge.httpLimit.open.Load() == 0 })
	resp, got := doHTTP(t, ts.bridge, http.MethodPost, "/?storeId=big-http&transport=http", nil, httpPing("2"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(got, "Pong") {
		t.Fatalf("after the stalled readers: %d %.200s", resp.StatusCode, got)
	}
}
