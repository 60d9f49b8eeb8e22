package bridge

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/livestore-sync/livestore-sync/service"
)

func TestPingPong(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	c := ts.dial("s", false)
	for _, ping := range []string{`{"_tag":"Ping"}`, `{ "_tag": "Ping" }`, `{"_tag":"Ping","extra":1}`} {
		c.send(ping)
		c.expect(`{"_tag":"Pong"}`)
	}
}

func TestPushThenPull(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	c := ts.dial("store-a", false)
	args := `{"id":"todo-1","text":"ünï \"quoted\"","n":1.50,"nested":{"b":[1, 2]}}`
	c.send(pushFrame("0", "", eventJSON(1, args)))
	c.expect(fmt.Sprintf(exitPush, "0"))

	c.send(pullFrame("1", false, ""))
	chunk := c.next()
	if !strings.Contains(chunk, `"args":`+args+`,"seqNum":1,"parentSeqNum":0,"clientId":"client-a","sessionId":"session-a"}`) {
		t.Errorf("args not passed through byte for byte: %s", chunk)
	}
	if !strings.Contains(chunk, `"pageInfo":{"_tag":"NoMore"},"backendId":"`+ts.svc.backendID(t, "store-a")+`"}]}`) {
		t.Errorf("unexpected chunk: %s", chunk)
	}
	c.send(ackFrame("1"))
	c.expect(fmt.Sprintf(exitStream, "1"))
}

func TestPullEmptyStore(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	c := ts.dial("empty", false)
	c.send(pullFrame("0", false, ""))
	c.expect(`{"_tag":"Chunk","requestId":"0","values":[{"batch":[],"pageInfo":{"_tag":"NoMore"},"backendId":"` + ts.svc.backendID(t, "empty") + `"}]}`)
	c.ping() // the Exit waits for the Ack: the Pong comes first
	c.send(ackFrame("0"))
	c.expect(fmt.Sprintf(exitStream, "0"))
}

// TestBacklogAckWindow checks the flow control of PROTOCOL §5.3: at most backlogWindow Chunks of
// a backlog wait for the client's Ack; the next waits for room, and the Exit for every Ack.
func TestBacklogAckWindow(t *testing.T) {
	t.Parallel()
	ts := newTestServerWith(t, Options{}, service.Options{Limits: service.Limits{PageEvents: 1}})
	c := ts.dial("paged", false)
	var events []string
	for i := uint64(1); i <= 4; i++ {
		events = append(events, eventJSON(i, `{}`))
	}
	c.send(pushFrame("0", "", events...))
	c.expect(fmt.Sprintf(exitPush, "0"))

	c.send(pullFrame("7", false, ""))
	chunk := func(want string) {
		t.Helper()
		if seqs, _ := chunkSeqNums(t, c.next(), "7"); fmt.Sprint(seqs) != want {
			t.Fatalf("chunk %v, want %s", seqs, want)
		}
	}
	for i := 1; i <= backlogWindow; i++ { // a window's worth without an Ack
		chunk(fmt.Sprintf("[%d]", i))
	}
	c.ping() // the window is full: the next Chunk waits for an Ack, the Pong comes first
	c.send(ackFrame("7"))
	chunk("[3]")
	c.ping()
	c.send(ackFrame("7"))
	chunk("[4]") // the last: the Exit waits for the Acks of all
	for range backlogWindow - 1 {
		c.send(ackFrame("7"))
		c.ping() // an Ack is still missing: the Pong comes first
	}
	c.send(ackFrame("7"))
	c.expect(fmt.Sprintf(exitStream, "7"))
}

// TestAckCounting checks a request's Ack accounting: an Ack for no Chunk sent is ignored (it
// cannot widen the window), and awaitAcks waits for the Acks it needs or the request's end.
func TestAckCounting(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	r := &request{ctx: ctx, acks: make(chan struct{}, 1)}
	for range 3 {
		r.ack() // ahead of any Chunk
	}
	if n := r.acked.Load(); n != 0 {
		t.Fatalf("%d Acks counted before any Chunk", n)
	}
	r.chunks.Add(2)
	for range 3 {
		r.ack()
	}
	if n := r.acked.Load(); n != 2 {
		t.Fatalf("%d Acks counted for 2 Chunks", n)
	}
	if err := r.awaitAcks(0); err != nil {
		t.Fatalf("awaitAcks with every Chunk acknowledged: %v", err)
	}
	r.chunks.Add(1)
	done := make(chan error, 1)
	go func() { done <- r.awaitAcks(0) }()
	r.ack()
	if err := <-done; err != nil {
		t.Fatalf("awaitAcks after the Ack it waited for: %v", err)
	}
	r.chunks.Add(1)
	go func() { done <- r.awaitAcks(0) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("awaitAcks of an ended request = %v, want context.Canceled", err)
	}
}

func TestPullWithCursor(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	c := ts.dial("cursor", false)
	c.send(pushFrame("0", "", eventJSON(1, `1`), eventJSON(2, `2`), eventJSON(3, `3`)))
	c.expect(fmt.Sprintf(exitPush, "0"))
	c.send(pullFrame("1", false, `{"_tag":"Some","value":{"backendId":"`+ts.svc.backendID(t, "cursor")+`","eventSequenceNumber":1}}`))
	seqs, _ := chunkSeqNums(t, c.next(), "1")
	if fmt.Sprint(seqs) != "[2 3]" {
		t.Fatalf("seqNums %v", seqs)
	}
	c.send(ackFrame("1"))
	c.expect(fmt.Sprintf(exitStream, "1"))
}

func TestServiceErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	c := ts.dial("errors", false)
	c.send(pushFrame("0", "", eventJSON(1, `{}`)))
	c.expect(fmt.Sprintf(exitPush, "0"))
	backendID := ts.svc.backendID(t, "errors")

	tests := []struct {
		name  string
		frame string
		want  string
	}{
		{
			name:  "server ahead",
			frame: pushFrame("1", "", strings.Replace(eventJSON(5, `{}`), `"parentSeqNum":4`, `"parentSeqNum":4`, 1)),
			want:  `{"_tag":"Exit","requestId":"1","exit":{"_tag":"Failure","cause":{"_tag":"Fail","error":{"minimumExpectedNum":1,"providedNum":4,"_tag":"ServerAheadError"}}}}`,
		},
		{
			name:  "push backend mismatch",
			frame: pushFrame("2", "wrong-backend-id", eventJSON(2, `{}`)),
			want:  `{"_tag":"Exit","requestId":"2","exit":{"_tag":"Failure","cause":{"_tag":"Fail","error":{"expected":"` + backendID + `","received":"wrong-backend-id","_tag":"BackendIdMismatchError"}}}}`,
		},
		{
			name:  "pull backend mismatch",
			frame: pullFrame("3", false, `{"_tag":"Some","value":{"backendId":"wrong-backend-id","eventSequenceNumber":1}}`),
			want:  `{"_tag":"Exit","requestId":"3","exit":{"_tag":"Failure","cause":{"_tag":"Fail","error":{"expected":"` + backendID + `","received":"wrong-backend-id","_tag":"BackendIdMismatchError"}}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.send(tt.frame)
			c.expect(tt.want)
		})
	}
}

func TestOtherServiceErrorsAreUnknownErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{&service.InvalidBatchError{Index: 0, SeqNum: 1, Reason: `args is not "JSON"`}, `invalid batch: event 0 (seq_num 1): args is not \"JSON\"`},
		{&service.InvalidRequestError{Reason: "store id too long"}, "invalid request: store id too long"},
		{&service.StorageError{Op: "append", Err: fmt.Errorf("disk full")}, "storage append: disk full"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			ts := newTestServer(t, Options{})
			ts.svc.pushErr = tt.err
			c := ts.dial("unknown", false)
			c.send(pushFrame("4", "", eventJSON(1, `{}`)))
			c.expect(`{"_tag":"Exit","requestId":"4","exit":{"_tag":"Failure","cause":{"_tag":"Fail","error":{"cause":{"name":"Error","message":"` + tt.want + `"},"_tag":"UnknownError"}}}}`)
		})
	}
}

// TestLiveBroadcast: a live pull gets its backlog, then every later push from another socket,
// in order and without waiting for Acks.
func TestLiveBroadcast(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	a := ts.dial("live", false)
	b := ts.dial("live", false)
	b.send(pushFrame("0", "", eventJSON(1, `{"n":1}`)))
	b.expect(fmt.Sprintf(exitPush, "0"))

	a.send(pullFrame("1", true, ""))
	seqs, page := chunkSeqNums(t, a.next(), "1")
	if fmt.Sprint(seqs) != "[1]" || page != "NoMore" {
		t.Fatalf("backlog %v %s", seqs, page)
	}
	a.send(ackFrame("1"))

	for i := uint64(2); i <= 4; i++ {
		b.send(pushFrame(fmt.Sprint(i), ts.svc.backendID(t, "live"), eventJSON(i, fmt.Sprintf(`{"n":%d}`, i))))
		b.expect(fmt.Sprintf(exitPush, fmt.Sprint(i)))
	}
	// No Acks sent for these. The service may hand several pushes out in one page (those stored
	// before the pull subscribed come from its catch-up read): only their order counts.
	var live []uint64
	for len(live) < 3 {
		seqs, page := chunkSeqNums(t, a.next(), "1")
		if len(seqs) == 0 || page != "NoMore" {
			t.Fatalf("live page %v %s, want events and NoMore", seqs, page)
		}
		live = append(live, seqs...)
	}
	if fmt.Sprint(live) != "[2 3 4]" {
		t.Fatalf("live pages carried %v, want [2 3 4]", live)
	}
	a.ping() // no Exit before the Pong
	if n := ts.svc.livePulls(t); n != 1 {
		t.Fatalf("%d live pulls open, want 1: the pull stays open", n)
	}
}

func TestInterrupt(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	a := ts.dial("interrupt", false)
	b := ts.dial("interrupt", false)
	a.send(pullFrame("0", true, ""))
	a.expect(`{"_tag":"Chunk","requestId":"0","values":[{"batch":[],"pageInfo":{"_tag":"NoMore"},"backendId":"` + ts.svc.backendID(t, "interrupt") + `"}]}`)
	a.send(ackFrame("0"))
	a.send(`{"_tag":"Interrupt","requestId":"0"}`)
	a.expect(`{"_tag":"Exit","requestId":"0","exit":{"_tag":"Failure","cause":{"_tag":"Interrupt","fiberId":{"_tag":"Runtime","id":-499,"startTimeMillis":0}}}}`)
	if err := <-ts.svc.pullEnded; err == nil {
		t.Errorf("interrupted pull returned nil")
	}

	b.send(pushFrame("1", "", eventJSON(1, `{}`)))
	b.expect(fmt.Sprintf(exitPush, "1"))
	if n := ts.svc.livePulls(t); n != 0 {
		t.Fatalf("%d live pulls open after the interrupt", n)
	}
	a.send(ackFrame("0")) // a late Ack for the interrupted pull is ignored
	a.ping()              // and nothing (no Chunk of the push above) comes before the Pong
}

// TestInterruptWhileWaitingForAck interrupts a pull blocked on the Ack of a backlog page.
func TestInterruptWhileWaitingForAck(t *testing.T) {
	t.Parallel()
	ts := newTestServerWith(t, Options{}, service.Options{Limits: service.Limits{PageEvents: 1}})
	c := ts.dial("interrupt-ack", false)
	c.send(pushFrame("0", "", eventJSON(1, `{}`), eventJSON(2, `{}`), eventJSON(3, `{}`)))
	c.expect(fmt.Sprintf(exitPush, "0"))
	c.send(pullFrame("1", false, ""))
	for range backlogWindow { // then the window is full
		chunkSeqNums(t, c.next(), "1")
	}
	c.send(`{"_tag":"Interrupt","requestId":"1"}`)
	c.expect(`{"_tag":"Exit","requestId":"1","exit":{"_tag":"Failure","cause":{"_tag":"Interrupt","fiberId":{"_tag":"Runtime","id":-499,"startTimeMillis":0}}}}`)
	if err := <-ts.svc.pullEnded; err == nil {
		t.Errorf("interrupted pull returned nil")
	}
	c.ping() // the pull ended: no third page before the Pong
}

func TestProtocolErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
		want  string // exact frame, or prefix when it ends with "…"
	}{
		{"unknown rpc tag", `{"_tag":"Request","id":"0","tag":"SyncWsRpc.Nope","payload":{"storeId":"x"},"headers":[]}`,
			`{"_tag":"Defect","defect":"Unknown request tag: SyncWsRpc.Nope"}`},
		{"unknown message tag", `{"_tag":"Hello"}`, `{"_tag":"Defect","defect":"Unknown request tag: Hello"}`},
		{"not an object", `[1,2]`, `{"_tag":"Defect","defect":"Unknown request tag: undefined"}`},
		{"non-JSON", `this is not json`, `{"_tag":"Defect","defect":{"name":"SyntaxError","message":"…`},
		{"non-numeric id", `{"_tag":"Request","id":"abc","tag":"SyncWsRpc.Pull","payload":{"storeId":"x","cursor":{"_tag":"None"},"live":false},"headers":[]}`,
			`{"_tag":"Defect","defect":"Invalid request id: abc"}`},
		{"numeric id", `{"_tag":"Request","id":5,"tag":"SyncWsRpc.Pull","payload":{"storeId":"x","cursor":{"_tag":"None"},"live":false},"headers":[]}`,
			`{"_tag":"Defect","defect":"Invalid request id: 5"}`},
		{"missing live", `{"_tag":"Request","id":"1","tag":"SyncWsRpc.Pull","payload":{"storeId":"x","cursor":{"_tag":"None"}},"headers":[]}`,
			`{"_tag":"Exit","requestId":"1","exit":{"_tag":"Failure","cause":{"_tag":"Die","defect":"invalid SyncWsRpc.Pull payload: [\"live\"]: is missing"}}}`},
		{"fractional seqNum", pushFrame("5", "", eventJSON(1, `{}`)[:0]+`{"name":"e","args":{},"seqNum":1.5,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`),
			`{"_tag":"Exit","requestId":"5","exit":{"_tag":"Failure","cause":{"_tag":"Die","defect":"invalid SyncWsRpc.Push payload: [\"batch\"][0][\"seqNum\"]: expected an integer, actual 1.5"}}}`},
	}
	ts := newTestServer(t, Options{})
	c := ts.dial("protocol", false)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.send(tt.frame)
			got := c.next()
			if prefix, ok := strings.CutSuffix(tt.want, "…"); ok {
				if !strings.HasPrefix(got, prefix) {
					t.Fatalf("got %s, want prefix %s", got, prefix)
				}
			} else if got != tt.want {
				t.Fatalf("frame:\n got: %s\nwant: %s", got, tt.want)
			}
			c.ping() // the socket keeps working
		})
	}
}

func TestUnknownAckAndInterruptAreIgnored(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	c := ts.dial("ignored", false)
	c.send(`{"_tag":"Ack","requestId":"77"}`)
	c.send(`{"_tag":"Interrupt","requestId":"78"}`)
	c.send(`{"_tag":"Ack","requestId":"x"}`)
	c.send(`{"_tag":"Eof"}`)
	c.ping() // nothing answers the frames above: the Pong is the next frame
	c.send(pullFrame("0", false, ""))
	chunkSeqNums(t, c.next(), "0")
}

func TestDuplicateRequestID(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	c := ts.dial("dup", false)
	c.send(pullFrame("3", true, ""))
	chunkSeqNums(t, c.next(), "3")
	c.send(pullFrame("3", true, ""))
	c.expect(`{"_tag":"Exit","requestId":"3","exit":{"_tag":"Failure","cause":{"_tag":"Die","defect":"request id 3 is already in use by a running request"}}}`)
}

func TestMaxRequestsPerSocket(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{MaxRequestsPerSocket: 2})
	c := ts.dial("max", false)
	for _, id := range []string{"0", "1"} {
		c.send(pullFrame(id, true, ""))
		chunkSeqNums(t, c.next(), id)
		c.send(ackFrame(id))
	}
	c.send(pullFrame("2", true, ""))
	c.expect(`{"_tag":"Exit","requestId":"2","exit":{"_tag":"Failure","cause":{"_tag":"Fail","error":{"cause":{"name":"Error","message":"too many concurrent requests on this socket (limit 2)"},"_tag":"UnknownError"}}}}`)
}

func TestOversizedFrameClosesOnlyThatSocket(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{ReadLimit: 1024})
	big := ts.dial("big", false)
	other := ts.dial("big", false)
	big.send(pushFrame("0", "", eventJSON(1, `"`+strings.Repeat("x", 2000)+`"`)))
	ce := big.closeError(5 * time.Second)
	if ce.Code != websocket.StatusMessageTooBig || ce.Reason != "message too big: limit is 1024 bytes" {
		t.Fatalf("close %v", ce)
	}
	other.ping()
	// A frame of exactly the limit is accepted.
	exact := `{"_tag":"Ping"}` + strings.Repeat(" ", 1024-len(`{"_tag":"Ping"}`))
	other.send(exact)
	other.expect(`{"_tag":"Pong"}`)
}

// TestSlowConsumerIsClosed: a client that stops reading while live pages keep coming is closed
// with 1013 once its outgoing queue is full; the service is never blocked.
func TestSlowConsumerIsClosed(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{OutgoingQueueFrames: 4, OutgoingQueueBytes: 256 << 10})
	slow := ts.dial("slow", true)
	pusher := ts.dial("slow", false)
	slow.send(pullFrame("0", true, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, data, err := slow.ws.Read(ctx); err != nil || !strings.HasPrefix(string(data), `{"_tag":"Chunk"`) {
		t.Fatalf("backlog: %s %v", data, err)
	}
	slow.send(ackFrame("0"))

	args := `"` + strings.Repeat("x", 128<<10) + `"`
	var ended error
	for i := uint64(1); ended == nil; i++ {
		if i > 1000 {
			t.Fatal("the slow socket was never closed")
		}
		pusher.send(pushFrame(fmt.Sprint(i), "", eventJSON(i, args)))
		pusher.expect(fmt.Sprintf(exitPush, fmt.Sprint(i)))
		select {
		case ended = <-ts.svc.pullEnded:
		default:
		}
	}
	slow.startReading()
	if ce := slow.closeError(10 * time.Second); ce.Code != websocket.StatusTryAgainLater || ce.Reason != closeSlowConsumer.reason {
		t.Fatalf("close %v", ce)
	}
	pusher.ping()
}

// TestLivePullBehindClosesSocket: a live pull that the service ends with ErrLivePullBehind
// closes its socket with 1013. The service's own queue overflows: with room for one push, the
// pull's first live page is held at the gate while two more pushes are stored.
func TestLivePullBehindClosesSocket(t *testing.T) {
	t.Parallel()
	ts := newTestServerWith(t, Options{}, service.Options{Limits: service.Limits{LiveQueueLength: 1}})
	ts.svc.liveHeld = make(chan struct{}, 1)
	ts.svc.liveGate = make(chan struct{})
	c := ts.dial("behind", false)
	pusher := ts.dial("behind", false)
	c.send(pullFrame("0", true, ""))
	chunkSeqNums(t, c.next(), "0")
	c.send(ackFrame("0"))
	waitFor(t, func() bool { return ts.svc.livePulls(t) == 1 })
	pusher.send(pushFrame("1", "", eventJSON(1, `{}`)))
	pusher.expect(fmt.Sprintf(exitPush, "1"))
	select {
	case <-ts.svc.liveHeld: // push 1 is out of the queue, held in the pull's send
	case <-time.After(5 * time.Second):
		t.Fatal("no live page reached the gate")
	}
	for i := uint64(2); i <= 3; i++ { // 2 fills the queue, 3 overflows it
		pusher.send(pushFrame(fmt.Sprint(i), "", eventJSON(i, `{}`)))
		pusher.expect(fmt.Sprintf(exitPush, fmt.Sprint(i)))
	}
	close(ts.svc.liveGate)
	if ce := c.closeError(5 * time.Second); ce.Code != websocket.StatusTryAgainLater || ce.Reason != closeLivePullBehind.reason {
		t.Fatalf("close %v", ce)
	}
}

// TestIdleTimeout: a silent socket is closed with 1008; a socket that keeps sending frames is
// not. The busy socket is opened before the idle one and still answers after the idle one was
// closed, so it outlived a whole timeout: its frames reset the timer. Only the order of those
// events is asserted, not how long anything took.
func TestIdleTimeout(t *testing.T) {
	ts := newTestServer(t, Options{IdleTimeout: 200 * time.Millisecond})
	busy := ts.dial("idle", false)
	busy.ping()
	idle := ts.dial("idle", false)
	for closed := false; !closed; {
		busy.ping() // back to back: far more often than the timeout
		select {
		case <-idle.done:
			closed = true
		default:
		}
	}
	ce := idle.closeError(5 * time.Second)
	if ce.Code != websocket.StatusPolicyViolation || ce.Reason != "idle timeout: no frame received for 200ms" {
		t.Fatalf("close %v", ce)
	}
	busy.ping()
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	a := ts.dial("shutdown", false)
	b := ts.dial("shutdown", false)
	a.send(pullFrame("0", true, ""))
	chunkSeqNums(t, a.next(), "0")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.bridge.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for _, c := range []*testClient{a, b} {
		if ce := c.closeError(5 * time.Second); ce.Code != websocket.StatusServiceRestart {
			t.Fatalf("close %v", ce)
		}
	}
	if _, _, err := websocket.Dial(ctx, ts.wsURL("shutdown"), nil); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("dial after shutdown: %v", err)
	}
}

func TestServiceClosedClosesSocket(t *testing.T) {
	t.Parallel()
	for _, err := range []error{service.ErrClosed, fmt.Errorf("pull: %w", service.ErrClosed)} {
		t.Run(err.Error(), func(t *testing.T) {
			ts := newTestServer(t, Options{})
			ts.svc.pushErr = err
			c := ts.dial("closed", false)
			c.send(pushFrame("0", "", eventJSON(1, `{}`)))
			if ce := c.closeError(5 * time.Second); ce.Code != websocket.StatusServiceRestart || ce.Reason != closeServiceClosed.reason {
				t.Fatalf("close %v", ce)
			}
		})
	}
}

// TestCloseFreesEverything: closing sockets ends their pulls and every goroutine the bridge
// started for them.
func TestCloseFreesEverything(t *testing.T) {
	before := goleak.IgnoreCurrent()
	func() {
		ts := newTestServerWith(t, Options{}, service.Options{Limits: service.Limits{PageEvents: 1}})
		a := ts.dial("free", false)
		a.send(pushFrame("0", "", eventJSON(1, `{}`), eventJSON(2, `{}`)))
		a.expect(fmt.Sprintf(exitPush, "0"))
		for _, id := range []string{"1", "2", "3"} {
			a.send(pullFrame(id, true, ""))
		}
		// Pull 1 waits for an Ack; 2 and 3 are live once both their pages are acknowledged.
		for acked := 0; acked < 4; {
			f := a.next()
			for _, id := range []string{"2", "3"} {
				if strings.HasPrefix(f, `{"_tag":"Chunk","requestId":"`+id+`"`) {
					a.send(ackFrame(id))
					acked++
				}
			}
		}
		waitFor(t, func() bool { return ts.svc.livePulls(t) >= 2 })
		if err := a.ws.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Logf("client close: %v", err)
		}
		for range 3 {
			select {
			case <-ts.svc.pullEnded:
			case <-time.After(5 * time.Second):
				t.Fatal("pulls of a closed socket still running")
			}
		}
		// The bridge counts the sockets it serves (Bridge.running): the socket's goroutine
		// returns once every goroutine it started has ended.
		served := make(chan struct{})
		go func() {
			ts.bridge.running.Wait()
			close(served)
		}()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("the closed socket is still served; goroutines:\n%s", buf[:runtime.Stack(buf, true)])
		}
		if open := ts.bridge.openSockets(); open != 0 {
			t.Fatalf("%d sockets still in the bridge's set", open)
		}
		ts.srv.Close()
		// The service's own goroutines (Pebble's) end with it; the bridge's had to end above.
		if err := ts.svc.Close(); err != nil {
			t.Fatalf("close service: %v", err)
		}
	}()
	// No goroutine the test started is left. (goleak retries for a bounded time: a goroutine
	// that has done its work may still be listed for a moment before it returns.)
	goleak.VerifyNone(t, before)
}

// waitFor waits until cond, a condition the test can observe, holds: it checks it again on each
// change the bridge or the gated service signals (changes.go). It fails the test (with every
// goroutine's stack) when cond does not hold within 10 s, a bound against hanging only.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	waitForWithin(t, "condition", 10*time.Second, cond)
}

// waitForWithin is waitFor with the bound and what the condition means for the failure.
func waitForWithin(t *testing.T, what string, bound time.Duration, cond func() bool) {
	t.Helper()
	defer changes.watch()()
	timeout := time.NewTimer(bound)
	defer timeout.Stop()
	for {
		changed := changes.next()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-timeout.C:
			buf := make([]byte, 1<<20)
			t.Fatalf("%s: not met within %v; goroutines:\n%s", what, bound, buf[:runtime.Stack(buf, true)])
		}
	}
}

// TestExitAfterLiveChunks checks the reference's order (order.go): on the pusher's socket the
// live Chunk of a push comes before the push's Exit, and the Chunk of the push that moved the
// head comes before a ServerAheadError, even when the service delivers live pages late: each
// live page is held at the gated service's gate (liveHeld tells when) and PushExitDelay is long
// enough that only the Chunk can release the Exit.
func TestExitAfterLiveChunks(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{PushExitDelay: time.Minute})
	ts.svc.liveHeld = make(chan struct{}, 8)
	ts.svc.liveGate = make(chan struct{})
	a := ts.dial("order", false)
	b := ts.dial("order", false)
	a.send(pullFrame("0", true, ""))
	chunkSeqNums(t, a.next(), "0")
	a.send(ackFrame("0"))
	waitFor(t, func() bool { return ts.svc.livePulls(t) == 1 })
	release := func() {
		t.Helper()
		select {
		case <-ts.svc.liveHeld: // the push is stored; its live page waits at the gate
		case <-time.After(5 * time.Second):
			t.Fatal("no live page reached the gate")
		}
		a.ping() // while the page is held, the Exit is too: the Pong comes first
		ts.svc.liveGate <- struct{}{}
	}

	a.send(pushFrame("1", "", eventJSON(1, `{}`)))
	release()
	if seqs, _ := chunkSeqNums(t, a.next(), "0"); fmt.Sprint(seqs) != "[1]" {
		t.Fatalf("seqNums %v", seqs)
	}
	a.expect(fmt.Sprintf(exitPush, "1"))

	b.send(pushFrame("2", "", eventJSON(2, `{}`)))
	b.expect(fmt.Sprintf(exitPush, "2")) // b has no live pull: no wait
	// Another event than b's at 2, so not an identical retry (which would be acknowledged).
	a.send(pushFrame("3", "", eventJSON(2, `{"by":"a"}`)))
	release()
	if seqs, _ := chunkSeqNums(t, a.next(), "0"); fmt.Sprint(seqs) != "[2]" {
		t.Fatalf("seqNums %v", seqs)
	}
	a.expect(`{"_tag":"Exit","requestId":"3","exit":{"_tag":"Failure","cause":{"_tag":"Fail","error":{"minimumExpectedNum":2,"providedNum":1,"_tag":"ServerAheadError"}}}}`)
}

// TestExitWaitIsBounded: a live pull that does not deliver holds a push's Exit back for at most
// PushExitDelay. The live page is held at the gated service's gate until the Exit has arrived, so
// the Exit can only have been released by the bound; then the Chunk follows. Only that order is
// asserted, not how long the wait took.
func TestExitWaitIsBounded(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{PushExitDelay: 50 * time.Millisecond})
	ts.svc.liveHeld = make(chan struct{}, 1)
	ts.svc.liveGate = make(chan struct{})
	a := ts.dial("bounded", false)
	a.send(pullFrame("0", true, ""))
	chunkSeqNums(t, a.next(), "0")
	a.send(ackFrame("0"))
	waitFor(t, func() bool { return ts.svc.livePulls(t) == 1 })
	a.send(pushFrame("1", "", eventJSON(1, `{}`)))
	a.expect(fmt.Sprintf(exitPush, "1"))
	select {
	case <-ts.svc.liveHeld: // the page is at the gate: it could not have been delivered before the Exit
	case <-time.After(5 * time.Second):
		t.Fatal("no live page reached the gate")
	}
	close(ts.svc.liveGate)
	if seqs, _ := chunkSeqNums(t, a.next(), "0"); fmt.Sprint(seqs) != "[1]" {
		t.Fatalf("seqNums %v", seqs)
	}
}
