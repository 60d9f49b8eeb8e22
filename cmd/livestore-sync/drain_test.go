package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/coder/websocket"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
)

// wsPushFrame is a LiveStore WebSocket push of one event with sequence number seq.
func wsPushFrame(seq uint64) string {
	return fmt.Sprintf(`{"_tag":"Request","id":"%d","tag":"SyncWsRpc.Push","payload":{"storeId":"x","batch":[`+
		`{"name":"todoCreated-v1","args":{"n":%d},"seqNum":%d,"parentSeqNum":%d,"clientId":"c","sessionId":"s"}],`+
		`"backendId":{"_tag":"None"}},"traceId":"00","spanId":"00","sampled":true,"headers":[]}`, seq, seq, seq, seq-1)
}

// loadPusher pushes to its own store, one push at a time, until a push fails or its connection
// ends, and counts the pushes acknowledged.
type loadPusher struct {
	store string
	acked atomic.Uint64
	// acks, when set, receives a value after each push acknowledged (dropped while one is
	// pending): several pushers may share it.
	acks chan struct{}
	// end says how the loadPusher stopped; closed is how its WebSocket ended.
	end, closed error
}

// pushOverWebSocket pushes over a LiveStore WebSocket; it ends when the socket closes (end is
// then its close error) or a push fails.
func (p *loadPusher) pushOverWebSocket(ctx context.Context, url string) {
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/?storeId="+p.store+"&transport=ws", nil)
	if err != nil {
		p.end = err
		return
	}
	defer ws.CloseNow()
	for seq := uint64(1); ; seq++ {
		if err := ws.Write(ctx, websocket.MessageText, []byte(wsPushFrame(seq))); err != nil {
			p.end = err
			return
		}
		_, data, err := ws.Read(ctx)
		if err != nil {
			p.end, p.closed = err, err
			return
		}
		var exit struct {
			Tag  string `json:"_tag"`
			Exit struct {
				Tag string `json:"_tag"`
			} `json:"exit"`
		}
		if json.Unmarshal(data, &exit) != nil || exit.Tag != "Exit" || exit.Exit.Tag != "Success" {
			// Read on to the close, so that every Exit the server sends is seen.
			p.end = fmt.Errorf("push %d: %s", seq, data)
			for {
				if _, _, err := ws.Read(ctx); err != nil {
					p.closed = err
					return
				}
			}
		}
		p.acked.Store(seq)
		p.signalAck()
	}
}

// pushOverConnect pushes with the Connect client until a push fails.
func (p *loadPusher) pushOverConnect(ctx context.Context, client syncv1connect.SyncServiceClient) {
	for seq := uint64(0); ; seq++ {
		_, err := client.Push(ctx, connect.NewRequest(&syncv1.PushRequest{StoreId: p.store, Batch: newEvents(seq, 1)}))
		if err != nil {
			p.end = err
			return
		}
		p.acked.Store(seq + 1)
		p.signalAck()
	}
}

// signalAck tells acks, if set, that a push was acknowledged.
func (p *loadPusher) signalAck() {
	if p.acks != nil {
		select {
		case p.acks <- struct{}{}:
		default:
		}
	}
}

// storeHead returns the sequence number of the last event of a store.
func storeHead(t *testing.T, client syncv1connect.SyncServiceClient, store string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pages, err := pullAll(ctx, client, &syncv1.PullRequest{StoreId: store})
	if err != nil {
		t.Fatalf("pull %s: %v", store, err)
	}
	var head uint64
	for _, p := range pages {
		if b := p.GetBatch(); len(b) > 0 {
			head = b[len(b)-1].GetEvent().GetSeqNum()
		}
	}
	return head
}

// TestSIGTERMAnswersEveryCommittedPush: pushes run over WebSockets and Connect when the server
// gets SIGTERM, while a Connect live pull's client has stopped reading. The server exits 0;
// every push it stored was acknowledged to its client (the store's head is the last push its
// client saw acknowledged); the WebSockets are closed with 1012; and the stalled reader, closed
// forcibly at the drain timeout, does not keep the server from exiting.
func TestSIGTERMAnswersEveryCommittedPush(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServer(t, dataDir, "--drain-timeout", "3s")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The stalled reader: a live pull that never reads, without compression, and more pushed to
	// its store than its HTTP/2 flow-control window (4 MiB) holds: the server blocks sending its
	// sixth page of 800 kB (pages are counted before they are sent).
	stalledCtx, endStalled := context.WithCancel(ctx)
	defer endStalled()
	received := make(chan struct{}, 1)
	stalled, err := syncv1connect.NewSyncServiceClient(readSignalingClient(received), srv.url, connect.WithAcceptCompression("gzip", nil, nil)).
		Pull(stalledCtx, connect.NewRequest(&syncv1.PullRequest{StoreId: "stalled", Live: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	big := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url)
	for i := range 12 {
		events := newEvents(uint64(i), 1)
		events[0].Args = `"` + strings.Repeat("x", 800_000) + `"`
		if _, err := big.Push(ctx, connect.NewRequest(&syncv1.PushRequest{StoreId: "stalled", Batch: events})); err != nil {
			t.Fatalf("push to the stalled store: %v", err)
		}
	}
	// The server counts the sixth page, then sends what of it the window still holds: the
	// metric is checked again each time the stalled reader's connection receives bytes.
	awaitSignal(t, received, 30*time.Second, "the server sending the stalled reader its sixth page",
		func() bool { return srv.metric(t, "livestore_sync_pull_pages_total") >= 1+6 })

	var pushers []*loadPusher
	var wg sync.WaitGroup
	acks := make(chan struct{}, 1)
	for i := range 4 {
		ws, cp := &loadPusher{store: fmt.Sprintf("ws-%d", i), acks: acks}, &loadPusher{store: fmt.Sprintf("connect-%d", i), acks: acks}
		pushers = append(pushers, ws, cp)
		client := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url, connect.WithGRPC())
		wg.Add(2)
		go func() { defer wg.Done(); ws.pushOverWebSocket(ctx, srv.url) }()
		go func() { defer wg.Done(); cp.pushOverConnect(ctx, client) }()
	}
	awaitSignal(t, acks, 30*time.Second, "every pusher acknowledged 5 times", func() bool {
		for _, p := range pushers {
			if p.acked.Load() < 5 {
				return false
			}
		}
		return true
	})

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-srv.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, srv.stderr)
		}
	case <-time.After(60 * time.Second): // only catches a server that never exits
		t.Fatalf("server still running a minute after SIGTERM\n%s", srv.stderr)
	}
	wg.Wait()
	log := srv.stderr.String()
	for _, want := range []string{"draining: refusing new connections", "draining: websockets take no new requests",
		"closing the remaining HTTP connections", "stopped cleanly"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "level=ERROR") {
		t.Errorf("errors logged during the drain:\n%s", log)
	}

	restarted := startServer(t, dataDir)
	client := syncv1connect.NewSyncServiceClient(h2cClient(), restarted.url)
	for _, p := range pushers {
		head := storeHead(t, client, p.store)
		if acked := p.acked.Load(); head != acked {
			t.Errorf("store %s: head %d, but the last push acknowledged was %d (ended with %v)", p.store, head, acked, p.end)
		}
		if strings.HasPrefix(p.store, "ws-") && websocket.CloseStatus(p.closed) != websocket.StatusServiceRestart {
			t.Errorf("store %s: the socket ended with %v, want close 1012", p.store, p.closed)
		}
	}
}

// metric returns the value of a metric without labels from the server's /metrics.
func (s *serverProcess) metric(t *testing.T, name string) float64 {
	t.Helper()
	res, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// awaitSignal waits until cond holds, checking it again each time signal receives a value,
// failing the test (what names the condition) when it does not within bound, a bound against
// hanging only.
func awaitSignal(t *testing.T, signal <-chan struct{}, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	timeout := time.NewTimer(bound)
	defer timeout.Stop()
	for !cond() {
		select {
		case <-signal:
		case <-timeout.C:
			t.Fatalf("not within %s: %s", bound, what)
		}
	}
}

// readSignalingClient is h2cClient, with each read of its connections signalled on read
// (dropped while a signal is pending): bytes that the server sent have arrived.
func readSignalingClient(read chan<- struct{}) *http.Client {
	c := h2cClient()
	var d net.Dialer
	c.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return readSignalingConn{conn, read}, nil
	}
	return c
}

// readSignalingConn is a connection that signals read after each read.
type readSignalingConn struct {
	net.Conn
	read chan<- struct{}
}

func (c readSignalingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	select {
	case c.read <- struct{}{}:
	default:
	}
	return n, err
}
