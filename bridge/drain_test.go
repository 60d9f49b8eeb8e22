package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// framesUntilClose reads the client's frames until the server closes the socket, and returns
// them with the close frame.
func (c *testClient) framesUntilClose(timeout time.Duration) ([]string, websocket.CloseError) {
	c.t.Helper()
	var frames []string
	deadline := time.After(timeout)
	for {
		select {
		case f := <-c.frames:
			frames = append(frames, f)
		case <-c.done:
			for len(c.frames) > 0 { // frames read before the end
				frames = append(frames, <-c.frames)
			}
			var ce websocket.CloseError
			if !errors.As(c.err, &ce) {
				c.t.Fatalf("socket ended without a close frame: %v", c.err)
			}
			return frames, ce
		case <-deadline:
			c.t.Fatalf("socket still open after %s", timeout)
		}
	}
}

// exitsByID returns the Exit frames among frames, by request id.
func exitsByID(t *testing.T, frames []string) map[string]string {
	t.Helper()
	exits := map[string]string{}
	for _, f := range frames {
		var m struct {
			Tag       string `json:"_tag"`
			RequestID string `json:"requestId"`
		}
		if err := json.Unmarshal([]byte(f), &m); err != nil {
			t.Fatalf("frame %s: %v", f, err)
		}
		if m.Tag == "Exit" {
			if _, dup := exits[m.RequestID]; dup {
				t.Errorf("two Exits for request %s", m.RequestID)
			}
			exits[m.RequestID] = f
		}
	}
	return exits
}

// openSockets returns the number of sockets in the bridge's set of open ones.
func (b *Bridge) openSockets() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.conns)
}

// allDraining reports whether the bridge is stopping and every socket of the bridge has started draining.
func (b *Bridge) allDraining() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		c.mu.Lock()
		d := c.draining
		c.mu.Unlock()
		if !d {
			return false
		}
	}
	return b.stopping
}

// TestShutdownAnswersCommittedPushes: pushes pipelined on many sockets are running when Shutdown
// is called; every push the service stored has its success Exit delivered before the socket is
// closed with 1012. Live pulls end without an Exit; a push that arrives during the drain is
// refused with an Exit and not stored.
func TestShutdownAnswersCommittedPushes(t *testing.T) {
	t.Parallel()
	const sockets, pushes = 8, 12
	for _, tt := range []struct {
		name string
		// releaseEarly lets the pushes go on as soon as Shutdown is called, racing with the start
		// of the drain, rather than once every socket drains.
		releaseEarly bool
	}{
		{"pushes finish during the drain", false},
		{"pushes finish while the drain starts", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, Options{})
			// Every push waits at the gate; once it opens, a socket's pushes reach the service
			// in the order they were sent, each on the head the one before it left.
			ts.svc.pushGate = make(chan struct{})
			clients := make([]*testClient, sockets)
			for i := range clients {
				c := ts.dial(fmt.Sprintf("drain-%d", i), false)
				c.send(pullFrame("100", true, ""))
				chunkSeqNums(t, c.next(), "100")
				c.send(ackFrame("100"))
				for j := uint64(1); j <= pushes; j++ {
					c.send(pushFrame(fmt.Sprint(j), "", eventJSON(j, `{}`)))
				}
				clients[i] = c
			}
			waitFor(t, func() bool { return ts.svc.pushesEntered.Load() == sockets*pushes })

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			shutdown := make(chan error, 1)
			go func() { shutdown <- ts.bridge.Shutdown(ctx) }()
			if tt.releaseEarly {
				close(ts.svc.pushGate)
			} else {
				waitFor(t, ts.bridge.allDraining)
				clients[0].send(pushFrame("999", "", eventJSON(999, `{}`))) // refused: draining
				// Answered before the gate opens (every other frame waits for it), so before the
				// drained socket closes.
				clients[0].expect(`{"_tag":"Exit","requestId":"999","exit":{"_tag":"Failure","cause":{"_tag":"Fail","error":{"cause":{"name":"Error","message":"server is shutting down"},"_tag":"UnknownError"}}}}`)
				close(ts.svc.pushGate)
			}

			for i, c := range clients {
				frames, ce := c.framesUntilClose(10 * time.Second)
				if ce.Code != websocket.StatusServiceRestart {
					t.Errorf("socket %d: close %v, want 1012", i, ce)
				}
				exits := exitsByID(t, frames)
				stored := ts.svc.storedSeqNums(t, fmt.Sprintf("drain-%d", i))
				if !tt.releaseEarly && len(stored) != pushes {
					t.Errorf("socket %d: %d pushes stored, want all %d", i, len(stored), pushes)
				}
				for _, seq := range stored {
					id := fmt.Sprint(seq)
					if got, want := exits[id], fmt.Sprintf(exitPush, id); got != want {
						t.Errorf("socket %d: push %s was stored; its Exit %q, want %q", i, id, got, want)
					}
				}
				if exit, ok := exits["100"]; ok && !tt.releaseEarly {
					t.Errorf("socket %d: the live pull ended with an Exit: %s", i, exit)
				}
			}
			if err := <-shutdown; err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			if seqs := ts.svc.storedSeqNums(t, "drain-0"); len(seqs) > 0 && seqs[len(seqs)-1] == 999 {
				t.Errorf("the push sent during the drain was stored")
			}
		})
	}
}

// TestShutdownAnswersRunningHTTPRequests: an HTTP transport push running when Shutdown is called
// gets its answer, and Shutdown waits for it; a request that arrives during the drain is refused
// with 503 and a Defect.
func TestShutdownAnswersRunningHTTPRequests(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	ts.svc.pushGate = make(chan struct{})
	type answer struct {
		status int
		body   string
		err    error
	}
	post := func(body string) answer {
		res, err := http.Post(ts.srv.URL+httpStore, "application/json", strings.NewReader(body))
		if err != nil {
			return answer{err: err}
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return answer{res.StatusCode, string(b), err}
	}
	running := make(chan answer, 1)
	go func() { running <- post(httpPush("1", eventJSON(1, `{}`))) }()
	waitFor(t, func() bool { return ts.svc.pushesEntered.Load() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- ts.bridge.Shutdown(ctx) }()
	waitFor(t, ts.bridge.allDraining)

	late := post(httpPing("2"))
	if want := `[{"_tag":"Defect","defect":"server is shutting down"}]`; late.err != nil || late.status != http.StatusServiceUnavailable || late.body != want {
		t.Errorf("request during the drain: %d %q %v, want 503 %s", late.status, late.body, late.err, want)
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned (%v) while a push was running", err)
	default:
	}

	close(ts.svc.pushGate)
	got := <-running
	if want := `[{"_tag":"Exit","requestId":"1","exit":{"_tag":"Success","value":{}}}]`; got.err != nil || got.status != http.StatusOK || got.body != want {
		t.Errorf("running push: %d %q %v, want 200 %s", got.status, got.body, got.err, want)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if seqs := ts.svc.storedSeqNums(t, "s"); fmt.Sprint(seqs) != "[1]" {
		t.Errorf("stored %v", seqs)
	}
}

// TestShutdownForcesStalledSockets: a socket whose client stopped reading cannot be drained;
// when Shutdown's context ends, it is closed at once and Shutdown returns.
func TestShutdownForcesStalledSockets(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	stalled := ts.dial("stalled", true)
	// Small socket buffers on the server's side, so that a few pages fill them.
	waitFor(t, func() bool {
		ts.bridge.mu.Lock()
		defer ts.bridge.mu.Unlock()
		for c := range ts.bridge.conns {
			if tcp, ok := c.raw.(*net.TCPConn); ok {
				return tcp.SetWriteBuffer(16<<10) == nil
			}
		}
		return false
	})
	pusher := ts.dial("stalled", false)
	stalled.send(pullFrame("0", true, ""))
	readCtx, cancelRead := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelRead()
	if _, data, err := stalled.ws.Read(readCtx); err != nil || !strings.HasPrefix(string(data), `{"_tag":"Chunk"`) {
		t.Fatalf("backlog: %s %v", data, err)
	}
	stalled.send(ackFrame("0"))
	waitFor(t, func() bool { return ts.svc.livePulls(t) == 1 })
	// 3 MiB of live pages: more than the socket's buffers hold, less than its outgoing queue.
	args := `"` + strings.Repeat("x", 128<<10) + `"`
	for i := uint64(1); i <= 24; i++ {
		pusher.send(pushFrame(fmt.Sprint(i), "", eventJSON(i, args)))
		pusher.expect(fmt.Sprintf(exitPush, fmt.Sprint(i)))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- ts.bridge.Shutdown(ctx) }()
	select {
	case err := <-shutdown:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("shutdown: %v, want the context's deadline", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown never returned")
	}
	waitFor(t, func() bool { return ts.bridge.openSockets() == 0 })
	if ce := pusher.closeError(5 * time.Second); ce.Code != websocket.StatusServiceRestart {
		t.Errorf("the reading socket: close %v, want 1012", ce)
	}
}

// TestShutdownForcesCloseHandshake: a socket whose client never answers the close frame would
// keep the library's close handshake waiting for 5 s; when Shutdown's context ends, its
// connection is closed under the library and the socket ends in moments. (The bound below only
// tells those two apart.)
func TestShutdownForcesCloseHandshake(t *testing.T) {
	ts := newTestServer(t, Options{})
	ts.dial("handshake", true) // never reads, so never answers the close frame
	waitFor(t, func() bool { return ts.bridge.openSockets() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := ts.bridge.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: %v, want the context's deadline", err)
	}
	waitForWithin(t, "the socket ends before its close handshake's 5 s", 2500*time.Millisecond,
		func() bool { return ts.bridge.openSockets() == 0 })
}
