package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/coder/websocket"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/budget"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
	"github.com/livestore-sync/livestore-sync/service/storage/storagetest"
)

const testAdminSecret03 = "s3cret"

// server03 is a Bridge over the real service on a loopback server, for LiveStore 0.3's protocol.
type server03 struct {
	svc    *service.Service
	bridge *Bridge
	srv    *httptest.Server
}

func newServer03(t *testing.T, opts Options) *server03 {
	t.Helper()
	svc, _ := newRealBridge(t)
	opts.Logger = slog.New(slog.DiscardHandler)
	if opts.AdminSecret == "" {
		opts.AdminSecret = testAdminSecret03
	}
	b := New(svc, opts)
	srv := httptest.NewServer(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
		srv.Close()
	})
	return &server03{svc: svc, bridge: b, srv: srv}
}

func (s *server03) url(storeID string) string {
	return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/app/websocket?storeId=" + url.QueryEscape(storeID)
}

// dial opens a 0.3 socket to the store and reads its frames.
func (s *server03) dial(t *testing.T, storeID string) *testClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.url(storeID), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(64 << 20)
	c := &testClient{t: t, ws: ws, frames: make(chan string, 4096), done: make(chan struct{})}
	t.Cleanup(func() { _ = ws.CloseNow() })
	c.startReading()
	return c
}

// push pushes events from..to (parent from-1) of client over the service, as another transport.
func (s *server03) push(t *testing.T, storeID, client string, from, to uint64) {
	t.Helper()
	var batch []*syncv1.Event
	for n := from; n <= to; n++ {
		batch = append(batch, &syncv1.Event{Name: "v1.TodoCreated", Args: fmt.Sprintf(`{"n":%d}`, n), SeqNum: n,
			ParentSeqNum: n - 1, ClientId: client, SessionId: "s"})
	}
	if err := s.svc.Push(context.Background(), &syncv1.PushRequest{StoreId: storeID, Batch: batch}); err != nil {
		t.Fatalf("push %d..%d: %v", from, to, err)
	}
}

func events03(from, to uint64, client string) string {
	var parts []string
	for n := from; n <= to; n++ {
		parts = append(parts, fmt.Sprintf(`{"name":"v1.TodoCreated","args":{"n":%d},"seqNum":%d,"parentSeqNum":%d,"clientId":%q,"sessionId":"s"}`, n, n, n-1, client))
	}
	return strings.Join(parts, ",")
}

func pushReq03(id string, from, to uint64, client string) string {
	return fmt.Sprintf(`{"_tag":"WSMessage.PushReq","requestId":%q,"batch":[%s]}`, id, events03(from, to, client))
}

// pullRes03 is a decoded WSMessage.PullRes.
type pullRes03 struct {
	Tag   string `json:"_tag"`
	Batch []struct {
		EventEncoded struct{ SeqNum uint64 }
		Metadata     struct {
			Tag   string `json:"_tag"`
			Value struct{ CreatedAt string }
		}
	}
	RequestID struct {
		Context   string
		RequestID string
	}
	Remaining uint64
}

func decodePullRes03(t *testing.T, frame string) pullRes03 {
	t.Helper()
	var m pullRes03
	if err := json.Unmarshal([]byte(frame), &m); err != nil || m.Tag != "WSMessage.PullRes" {
		t.Fatalf("not a PullRes: %s", shorten(frame, 300))
	}
	return m
}

func (m pullRes03) seqNums() []uint64 {
	var out []uint64
	for _, b := range m.Batch {
		out = append(out, b.EventEncoded.SeqNum)
	}
	return out
}

func TestWS03PullPagesAndRemaining(t *testing.T) {
	t.Parallel()
	s := newServer03(t, Options{})
	for from := uint64(1); from <= 2500; from += 100 {
		s.push(t, "pages", "w", from, from+99)
	}
	for _, tc := range []struct {
		name, frame string
		first       uint64
	}{
		{"no cursor", `{"_tag":"WSMessage.PullReq","requestId":"p1"}`, 1},
		{"cursor 0", `{"requestId":"p1","cursor":0,"_tag":"WSMessage.PullReq"}`, 1},
		{"cursor 1234", `{"_tag":"WSMessage.PullReq","requestId":"p1","cursor":1234}`, 1235},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s.dial(t, "pages")
			c.send(tc.frame)
			next := tc.first
			for {
				m := decodePullRes03(t, c.next())
				seqs := m.seqNums()
				if m.RequestID.Context != "pull" || m.RequestID.RequestID != "p1" || len(seqs) == 0 || len(seqs) > 100 {
					t.Fatalf("page: %+v", m.RequestID)
				}
				for _, n := range seqs {
					if n != next {
						t.Fatalf("seqNum %d, want %d", n, next)
					}
					next++
				}
				if want := 2500 - (next - 1); m.Remaining != want {
					t.Fatalf("remaining %d after e%d, want %d", m.Remaining, next-1, want)
				}
				if m.Batch[0].Metadata.Tag != "Some" || m.Batch[0].Metadata.Value.CreatedAt == "" {
					t.Fatalf("metadata: %+v", m.Batch[0].Metadata)
				}
				if m.Remaining == 0 {
					break
				}
			}
		})
	}
	t.Run("cursor beyond head", func(t *testing.T) {
		c := s.dial(t, "pages")
		c.send(`{"_tag":"WSMessage.PullReq","requestId":"p2","cursor":9999}`)
		c.expect(`{"_tag":"WSMessage.PullRes","batch":[],"requestId":{"context":"pull","requestId":"p2"},"remaining":0}`)
	})
}

// TestWS03Broadcasts: every push, over any transport, reaches every 0.3 socket of the store, the
// pusher's own after its PushAck; other stores get nothing; identical retries are acknowledged.
func TestWS03Broadcasts(t *testing.T) {
	t.Parallel()
	s := newServer03(t, Options{})
	a, b, other := s.dial(t, "bc"), s.dial(t, "bc"), s.dial(t, "bc.other")

	a.send(pushReq03("r1", 1, 2, "a"))
	a.expect(`{"_tag":"WSMessage.PushAck","requestId":"r1"}`)
	for _, c := range []*testClient{a, b} {
		m := decodePullRes03(t, c.next())
		if m.RequestID.Context != "push" || m.RequestID.RequestID != "r1" || fmt.Sprint(m.seqNums()) != "[1 2]" || m.Remaining != 0 {
			t.Fatalf("broadcast: %+v %v", m.RequestID, m.seqNums())
		}
	}

	s.push(t, "bc", "grpc", 3, 3) // another transport
	for _, c := range []*testClient{a, b} {
		m := decodePullRes03(t, c.next())
		if m.RequestID.Context != "push" || m.RequestID.RequestID != "livestore-sync-e3" || fmt.Sprint(m.seqNums()) != "[3]" {
			t.Fatalf("broadcast of a gRPC push: %+v %v", m.RequestID, m.seqNums())
		}
	}

	a.send(pushReq03("r2", 1, 2, "a")) // identical retry
	a.expect(`{"_tag":"WSMessage.PushAck","requestId":"r2"}`)
	b.send(pushReq03("r3", 3, 3, "b")) // a different event at a stored position
	b.expect(`{"_tag":"WSMessage.Error","requestId":"r3","message":"Invalid parent event number. Received e2 but expected e3"}`)
	b.send(pushReq03("r4", 9, 9, "b"))
	b.expect(`{"_tag":"WSMessage.Error","requestId":"r4","message":"Invalid parent event number. Received e8 but expected e3"}`)
	b.send(`{"_tag":"WSMessage.PushReq","requestId":"r5","batch":[]}`)
	b.expect(`{"_tag":"WSMessage.PushAck","requestId":"r5"}`)

	// Nothing else reached any socket: the next frame of each is its Pong.
	for _, c := range []*testClient{a, b, other} {
		c.send(`{"_tag":"WSMessage.Ping","requestId":"ping"}`)
		c.expect(`{"_tag":"WSMessage.Pong","requestId":"ping"}`)
	}
}

// TestWS03PullUnderWrites: while pushes land, a socket's pull pages are contiguous and every
// event reaches it exactly once after its first page, in order (what 0.3.1's client needs).
func TestWS03PullUnderWrites(t *testing.T) {
	t.Parallel()
	s := newServer03(t, Options{})
	s.push(t, "uw", "w", 1, 250)
	const last = 600
	c := s.dial(t, "uw")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := uint64(251); n <= last; n += 10 {
			s.push(t, "uw", "w", n, n+9)
		}
	}()
	c.send(`{"_tag":"WSMessage.PullReq","requestId":"p"}`)
	var (
		stash     []uint64 // broadcasts before the first page
		got       []uint64 // what the client's pull stream yields
		pulling   bool     // between the first and the last page
		pullEnded bool
	)
	for len(got) == 0 || got[len(got)-1] < last {
		m := decodePullRes03(t, c.next())
		isPull := m.RequestID.Context == "pull"
		switch {
		case isPull && pullEnded:
			t.Fatal("a page after the last one")
		case isPull:
			pulling = true
			got = append(got, m.seqNums()...)
			if m.Remaining == 0 {
				pulling, pullEnded = false, true
				head := uint64(0)
				if len(got) > 0 {
					head = got[len(got)-1]
				}
				for _, n := range stash {
					if n > head {
						got = append(got, n)
					}
				}
			}
		case pulling:
			t.Fatalf("a broadcast between pages: %v", m.seqNums())
		case !pullEnded:
			stash = append(stash, m.seqNums()...)
		default:
			got = append(got, m.seqNums()...)
		}
	}
	wg.Wait()
	for i, n := range got {
		if n != uint64(i+1) {
			t.Fatalf("event %d is e%d: gap, duplicate or disorder", i, n)
		}
	}
}

func TestWS03Frames(t *testing.T) {
	t.Parallel()
	s := newServer03(t, Options{})
	c := s.dial(t, "frames")
	for _, tc := range []struct{ name, send, want string }{
		{"ping", `{"_tag":"WSMessage.Ping","requestId":"ping"}`, `{"_tag":"WSMessage.Pong","requestId":"ping"}`},
		{"ping, keys reordered", `{"requestId":"ping","_tag":"WSMessage.Ping"}`, `{"_tag":"WSMessage.Pong","requestId":"ping"}`},
		{"ping with spaces", `{ "_tag" : "WSMessage.Ping", "requestId" : "ping" }`, `{"_tag":"WSMessage.Pong","requestId":"ping"}`},
		{"bad cursor", `{"_tag":"WSMessage.PullReq","requestId":"x1","cursor":-1}`,
			`{"_tag":"WSMessage.Error","requestId":"x1","message":"invalid WSMessage.PullReq: [\"cursor\"]: expected a non-negative integer, actual -1"}`},
		{"batch not an array", `{"_tag":"WSMessage.PushReq","requestId":"x2","batch":{}}`,
			`{"_tag":"WSMessage.Error","requestId":"x2","message":"invalid WSMessage.PushReq: [\"batch\"]: expected an array of events, actual {}"}`},
		{"event without seqNum", `{"_tag":"WSMessage.PushReq","requestId":"x3","batch":[{"name":"a","parentSeqNum":0,"clientId":"c","sessionId":"s"}]}`,
			`{"_tag":"WSMessage.Error","requestId":"x3","message":"invalid WSMessage.PushReq: [\"batch\"][0][\"seqNum\"]: is missing"}`},
		{"unknown tag", `{"_tag":"WSMessage.Nope","requestId":"x4"}`,
			`{"_tag":"WSMessage.Error","requestId":"x4","message":"unknown message tag \"WSMessage.Nope\""}`},
		{"admin, wrong secret", `{"_tag":"WSMessage.AdminInfoReq","requestId":"x5","adminSecret":"wrong"}`,
			`{"_tag":"WSMessage.Error","requestId":"x5","message":"Invalid admin secret"}`},
	} {
		c.send(tc.send)
		if got := c.next(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	// Frames without a request id get no answer: the next frame is the Pong.
	for _, f := range []string{`not json`, `[1]`, `{"_tag":"WSMessage.PushReq"}`, `{"_tag":"WSMessage.PullReq","requestId":7}`} {
		c.send(f)
	}
	c.send(`{"_tag":"WSMessage.Ping","requestId":"ping"}`)
	c.expect(`{"_tag":"WSMessage.Pong","requestId":"ping"}`)
}

// TestWS03AdminReset: a reset empties the store and gives it a new backend id; the 0.3 sockets
// of the store follow it from its new start.
func TestWS03AdminReset(t *testing.T) {
	t.Parallel()
	s := newServer03(t, Options{})
	s.push(t, "reset", "w", 1, 3)
	before, err := s.svc.GetStore(context.Background(), "reset")
	if err != nil {
		t.Fatal(err)
	}
	c := s.dial(t, "reset")
	c.send(`{"_tag":"WSMessage.AdminInfoReq","requestId":"i","adminSecret":"s3cret"}`)
	c.expect(fmt.Sprintf(`{"_tag":"WSMessage.AdminInfoRes","requestId":"i","info":{"durableObjectId":%q}}`, before.BackendID))
	c.send(`{"_tag":"WSMessage.AdminResetRoomReq","requestId":"r","adminSecret":"s3cret"}`)
	c.expect(`{"_tag":"WSMessage.AdminResetRoomRes","requestId":"r"}`)
	after, err := s.svc.GetStore(context.Background(), "reset")
	if err != nil || after.Head != 0 || after.BackendID == before.BackendID {
		t.Fatalf("after reset: %+v, %v (before %+v)", after, err, before)
	}
	c.send(`{"_tag":"WSMessage.PullReq","requestId":"p"}`)
	c.expect(`{"_tag":"WSMessage.PullRes","batch":[],"requestId":{"context":"pull","requestId":"p"},"remaining":0}`)
	c.send(pushReq03("q", 1, 1, "a"))
	c.expect(`{"_tag":"WSMessage.PushAck","requestId":"q"}`)
	if m := decodePullRes03(t, c.next()); fmt.Sprint(m.seqNums()) != "[1]" || m.RequestID.RequestID != "q" {
		t.Fatalf("echo after reset: %+v %v", m.RequestID, m.seqNums())
	}
	old := before.BackendID
	err = s.svc.Push(context.Background(), &syncv1.PushRequest{StoreId: "reset", BackendId: &old, Batch: []*syncv1.Event{
		{Name: "a", SeqNum: 2, ParentSeqNum: 1, ClientId: "c", SessionId: "s"}}})
	if _, ok := err.(*service.BackendIDMismatchError); !ok {
		t.Fatalf("0.4 push with the old backend id: %v", err)
	}
}

func TestWS03AdminOff(t *testing.T) {
	t.Parallel()
	svc, _ := newRealBridge(t)
	srv := httptest.NewServer(New(svc, Options{Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	s := &server03{svc: svc, srv: srv}
	c := s.dial(t, "off")
	c.send(`{"_tag":"WSMessage.AdminResetRoomReq","requestId":"r","adminSecret":""}`)
	c.expect(`{"_tag":"WSMessage.Error","requestId":"r","message":"` + adminOff03 + `"}`)
}

func TestWS03Routing(t *testing.T) {
	t.Parallel()
	s := newServer03(t, Options{})
	off := newServer03(t, Options{DisableWebSocket03: true})
	for _, tc := range []struct {
		name   string
		srv    *server03
		target string
		status int
		body   string
	}{
		{"info", s, "/", 200, infoText},
		{"not an upgrade", s, "/websocket?storeId=a", 426, upgradeExpected},
		{"no storeId", s, "/websocket", 400, invalidPathText},
		{"empty storeId", s, "/websocket?storeId=&upgrade", 400, "invalid request: store_id is empty"},
		{"other path", s, "/websocketx?storeId=a", 400, invalidPathText},
		{"disabled", off, "/websocket?storeId=a", 400, "the ws03 transport is disabled on this server"},
		{"0.4 still served when 0.3 is off", off, "/websocket?storeId=a&transport=ws", 426, upgradeExpected},
	} {
		req, _ := http.NewRequest(http.MethodGet, tc.srv.srv.URL+strings.TrimSuffix(tc.target, "&upgrade"), nil)
		if strings.HasSuffix(tc.target, "&upgrade") {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || string(body) != tc.body {
			t.Errorf("%s: %d %q, want %d %q", tc.name, resp.StatusCode, body, tc.status, tc.body)
		}
	}
}

func TestMatchSyncRequest03(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path, query string
		ok          bool
		store       string
		payload     string
	}{
		{"/websocket", "storeId=a", true, "a", ""},
		{"/x/y/websocket", "storeId=x+y%2F%C3%BC", true, "x y/ü", ""},
		{"/websocket", "storeId=a&payload=%257B%2522authToken%2522%253A%2522x%2522%257D", true, "a", `{"authToken":"x"}`},
		{"/websocket", "storeId=a&payload=not-json", false, "", ""},
		{"/websocket", "storeId=a&transport=ws", false, "", ""},
		{"/websocket", "storeId=a&storeId=b", false, "", ""},
		{"/websocket", "", false, "", ""},
		{"/", "storeId=a", false, "", ""},
		{"/websocket/", "storeId=a", false, "", ""},
	} {
		sr, ok := matchSyncRequest03(tc.path, tc.query)
		if ok != tc.ok || sr.StoreID != tc.store || string(sr.Payload) != tc.payload || (ok && sr.Transport != transportWS03) {
			t.Errorf("%s?%s: %+v %v", tc.path, tc.query, sr, ok)
		}
	}
}

// TestWS03Drain: a socket being drained finishes its push, then closes with 1012.
func TestWS03Drain(t *testing.T) {
	t.Parallel()
	s := newServer03(t, Options{})
	c := s.dial(t, "drain")
	c.send(pushReq03("r", 1, 1, "a"))
	c.expect(`{"_tag":"WSMessage.PushAck","requestId":"r"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { _ = s.bridge.Shutdown(ctx) }()
	if ce := c.closeError(10 * time.Second); ce.Code != websocket.StatusServiceRestart {
		t.Fatalf("close %v, want 1012", ce)
	}
}

// TestWS03Tracing: each 0.3 push and pull has a server span, child of the trace the upgrade's
// headers name (0.3 frames carry no trace fields).
func TestWS03Tracing(t *testing.T) {
	t.Parallel()
	rec := newSpanRecorder()
	s := newServer03(t, tracedOptions(rec))
	const traceID, spanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.url("traced"), &websocket.DialOptions{HTTPHeader: http.Header{
		"Traceparent": {"00-" + traceID + "-" + spanID + "-01"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	c := &testClient{t: t, ws: ws, frames: make(chan string, 16), done: make(chan struct{})}
	c.startReading()
	c.send(pushReq03("r", 1, 1, "a"))
	c.expect(`{"_tag":"WSMessage.PushAck","requestId":"r"}`)
	c.next() // the echo
	c.send(`{"_tag":"WSMessage.PullReq","requestId":"p"}`)
	c.next()
	for _, name := range []string{"SyncWs03.Push", "SyncWs03.Pull"} {
		span := endedSpan(t, rec, name)
		checkParent(t, span, traceID, spanID)
		if v, ok := spanAttr(span, "livestore.transport"); !ok || v.AsString() != "ws03" {
			t.Errorf("%s: livestore.transport %v", name, v)
		}
	}
}

func TestRecentPushes03(t *testing.T) {
	t.Parallel()
	r := newRecentPushes03()
	e := func(seq uint64, client string) *syncv1.Event {
		return &syncv1.Event{Name: "n", SeqNum: seq, ParentSeqNum: seq - 1, ClientId: client, SessionId: "s"}
	}
	r.remember("a", e(1, "c"), "id-1")
	r.remember("a", e(1, "d"), "id-2")
	r.remember("a", e(2, "c"), strings.Repeat("x", maxRememberedID03Bytes+1)) // too long: not kept
	for _, tc := range []struct {
		store string
		ev    *syncv1.Event
		want  string
		ok    bool
	}{
		{"a", e(1, "c"), "id-1", true},
		{"a", e(1, "d"), "id-2", true},
		{"b", e(1, "c"), "", false},
		{"a", e(2, "c"), "", false},
	} {
		if got, ok := r.lookup(tc.store, tc.ev); got != tc.want || ok != tc.ok {
			t.Errorf("lookup(%s, e%d %s) = %q, %v", tc.store, tc.ev.SeqNum, tc.ev.ClientId, got, ok)
		}
	}
	for i := range maxRecentPushes03 { // the oldest are forgotten
		r.remember("a", e(uint64(i+10), "c"), "later")
	}
	if _, ok := r.lookup("a", e(1, "c")); ok || len(r.ids) != maxRecentPushes03 {
		t.Errorf("after %d more: the first is still known, or %d kept", maxRecentPushes03, len(r.ids))
	}
}

// TestWS03AcrossNodes: with two nodes on one shared database, a 0.3 socket on one node receives
// the pushes made on the other, and its pulls read them.
func TestWS03AcrossNodes(t *testing.T) {
	t.Parallel()
	engine, err := pebblestore.Open("db", pebblestore.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	cluster := storagetest.NewCluster(engine)
	var nodes [2]*service.Service
	for i := range nodes {
		if nodes[i], err = service.New(cluster.Node(), service.Options{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nodes[i].Close() })
	}
	b := New(nodes[0], Options{Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
		srv.Close()
	})
	s := &server03{svc: nodes[0], bridge: b, srv: srv}
	c := s.dial(t, "nodes")
	// The socket's own push first: once its echo is here, its node's live pull of the store runs.
	// (A live pull whose start races with another node's push to the store can miss that push:
	// a fault of the service's multi-node delivery, not of this transport.)
	c.send(pushReq03("r", 1, 1, "a"))
	c.expect(`{"_tag":"WSMessage.PushAck","requestId":"r"}`)
	c.next() // the echo
	other := &server03{svc: nodes[1]}
	other.push(t, "nodes", "node-2", 2, 3)
	if m := decodePullRes03(t, c.next()); fmt.Sprint(m.seqNums()) != "[2 3]" || m.RequestID.Context != "push" {
		t.Fatalf("broadcast of the other node's push: %+v %v", m.RequestID, m.seqNums())
	}
	c.send(`{"_tag":"WSMessage.PullReq","requestId":"p"}`)
	if m := decodePullRes03(t, c.next()); fmt.Sprint(m.seqNums()) != "[1 2 3]" || m.Remaining != 0 {
		t.Fatalf("pull: %v remaining %d", m.seqNums(), m.Remaining)
	}
}

// TestWS03PullPaced: a pull of more pages than the socket's queue holds (0.3 has no Acks) is
// delivered whole, each page with its remaining. (Loopback's socket buffers absorb these pages,
// so this does not force the pacing itself to wait.)
func TestWS03PullPaced(t *testing.T) {
	t.Parallel()
	s := newServer03(t, Options{OutgoingQueueFrames: 4})
	for from := uint64(1); from <= 1000; from += 100 {
		s.push(t, "paced", "w", from, from+99)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.url("paced"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(64 << 20)
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"_tag":"WSMessage.PullReq","requestId":"p"}`)); err != nil {
		t.Fatal(err)
	}
	var got uint64
	for got < 1000 {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("after e%d: %v", got, err)
		}
		m := decodePullRes03(t, string(data))
		got += uint64(len(m.Batch))
		if m.Remaining != 1000-got {
			t.Fatalf("remaining %d after %d events", m.Remaining, got)
		}
	}
}

// TestWS03SendPaced: 0.3 pull pages and broadcasts wait for room in the socket's queue (below half
// of its bounds) instead of overflowing it, and go on as the writer writes.
func TestWS03SendPaced(t *testing.T) {
	t.Parallel()
	c := &wsConn{out: newOutQueue(4, 1<<20, budget.New(1<<30)), closing: make(chan struct{}), closed: make(chan struct{}),
		log: slog.New(slog.DiscardHandler)}
	writes := make(chan outFrame)
	c.out.write = func() { // the writer, which the test runs frame by frame
		for {
			f, ok := c.out.next()
			if !ok {
				return
			}
			writes <- f
		}
	}
	v := &conn03{c: c}
	const n = 10
	done := make(chan bool, 1)
	go func() {
		ok := true
		for i := range n {
			ok = ok && v.sendPaced(context.Background(), []byte(fmt.Sprintf("frame %d", i)))
		}
		done <- ok
	}()
	for i := range n {
		f := <-writes
		if held := c.out.len(); held > c.out.maxFrames/2 {
			t.Fatalf("%d more frames queued behind frame %d: more than half the queue", held, i)
		}
		if got := string(f.appendTo(nil)); got != fmt.Sprintf("frame %d", i) {
			t.Fatalf("frame %d is %q", i, got)
		}
		c.out.written(int64(f.size()))
	}
	if !<-done {
		t.Fatal("sendPaced refused a frame")
	}
	c.out.stop()
}
