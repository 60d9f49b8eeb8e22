package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/livestore-sync/livestore-sync/service"
)

// testServer runs a Bridge over the real service (gatedService) on a loopback httptest.Server.
type testServer struct {
	t      *testing.T
	svc    *gatedService
	bridge *Bridge
	srv    *httptest.Server
}

func newTestServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	return newTestServerWith(t, opts, service.Options{})
}

// newTestServerWith is newTestServer over a service with svcOpts.
func newTestServerWith(t *testing.T, opts Options, svcOpts service.Options) *testServer {
	t.Helper()
	svc := newGatedService(t, svcOpts)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := New(svc, opts)
	srv := httptest.NewServer(b)
	ts := &testServer{t: t, svc: svc, bridge: b, srv: srv}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		srv.Close()
	})
	return ts
}

func (ts *testServer) wsURL(storeID string) string {
	return "ws" + strings.TrimPrefix(ts.srv.URL, "http") + "/?storeId=" + url.QueryEscape(storeID) + "&transport=ws"
}

// testClient is a raw WebSocket client. Frames are read by a goroutine into a channel, so that a
// test can wait for a frame without cancelling a read (which would close the socket).
type testClient struct {
	t      *testing.T
	ws     *websocket.Conn
	frames chan string
	done   chan struct{} // closed when the reader goroutine ended; err is then set
	err    error
}

// dial opens a socket to the store; the client reads frames unless paused is true (then call
// startReading).
func (ts *testServer) dial(storeID string, paused bool) *testClient {
	ts.t.Helper()
	return ts.dialWithHeader(storeID, paused, nil)
}

// dialWithHeader is dial with extra headers on the upgrade request.
func (ts *testServer) dialWithHeader(storeID string, paused bool, h http.Header) *testClient {
	ts.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, ts.wsURL(storeID), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		ts.t.Fatalf("dial: %v", err)
	}
	if resp.Header.Get("Sec-WebSocket-Extensions") != "" || resp.Header.Get("Sec-WebSocket-Protocol") != "" {
		ts.t.Errorf("handshake negotiated an extension or subprotocol: %v", resp.Header)
	}
	ws.SetReadLimit(64 << 20)
	c := &testClient{t: ts.t, ws: ws, frames: make(chan string, 4096), done: make(chan struct{})}
	ts.t.Cleanup(func() { _ = ws.CloseNow() })
	if !paused {
		c.startReading()
	}
	return c
}

func (c *testClient) startReading() {
	go func() {
		defer close(c.done)
		for {
			_, data, err := c.ws.Read(context.Background())
			if err != nil {
				c.err = err
				return
			}
			c.frames <- string(data)
		}
	}()
}

func (c *testClient) send(text string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(text)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next frame, failing the test after a few seconds.
func (c *testClient) next() string {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.done:
		// Frames read before the end are still in the channel.
		select {
		case f := <-c.frames:
			return f
		default:
		}
		c.t.Fatalf("socket ended while waiting for a frame: %v", c.err)
	case <-time.After(5 * time.Second):
		c.t.Fatalf("no frame within 5s")
	}
	return ""
}

// expect reads the next frame and compares it with want.
func (c *testClient) expect(want string) {
	c.t.Helper()
	if got := c.next(); got != want {
		c.t.Fatalf("frame:\n got: %s\nwant: %s", got, want)
	}
}

// ping checks that the socket still answers.
func (c *testClient) ping() {
	c.t.Helper()
	c.send(`{"_tag":"Ping"}`)
	c.expect(`{"_tag":"Pong"}`)
}

// closeError waits for the socket to end and returns the close frame the server sent; frames
// received before it are discarded.
func (c *testClient) closeError(timeout time.Duration) websocket.CloseError {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case <-c.frames:
		case <-c.done:
			var ce websocket.CloseError
			if !errors.As(c.err, &ce) {
				c.t.Fatalf("socket ended without a close frame: %v", c.err)
			}
			return ce
		case <-deadline:
			c.t.Fatalf("socket still open after %s", timeout)
		}
	}
}

// Frame builders, in the clients' key order.

func pullFrame(id string, live bool, cursor string) string {
	if cursor == "" {
		cursor = `{"_tag":"None"}`
	}
	return fmt.Sprintf(`{"_tag":"Request","id":%q,"tag":"SyncWsRpc.Pull","traceId":"00","payload":{"storeId":"ignored","live":%t,"cursor":%s},"spanId":"00","sampled":true,"headers":[]}`, id, live, cursor)
}

func eventJSON(seq uint64, args string) string {
	return fmt.Sprintf(`{"name":"todoCreated-v1","args":%s,"seqNum":%d,"parentSeqNum":%d,"clientId":"client-a","sessionId":"session-a"}`, args, seq, seq-1)
}

func pushFrame(id, backendID string, events ...string) string {
	b := `{"_tag":"None"}`
	if backendID != "" {
		b = fmt.Sprintf(`{"_tag":"Some","value":%q}`, backendID)
	}
	return fmt.Sprintf(`{"_tag":"Request","id":%q,"tag":"SyncWsRpc.Push","payload":{"storeId":"ignored","batch":[%s],"backendId":%s},"traceId":"00","spanId":"00","sampled":true,"headers":[]}`, id, strings.Join(events, ","), b)
}

func ackFrame(id string) string { return fmt.Sprintf(`{"_tag":"Ack","requestId":%q}`, id) }

// chunkSeqNums decodes a Chunk frame of the request and returns its events' seqNums and page info tag.
func chunkSeqNums(t *testing.T, frame, requestID string) ([]uint64, string) {
	t.Helper()
	var m struct {
		Tag       string `json:"_tag"`
		RequestID string `json:"requestId"`
		Values    []struct {
			Batch []struct {
				EventEncoded struct{ SeqNum uint64 }
			}
			PageInfo struct {
				Tag string `json:"_tag"`
			}
		}
	}
	if err := json.Unmarshal([]byte(frame), &m); err != nil || m.Tag != "Chunk" || m.RequestID != requestID || len(m.Values) != 1 {
		t.Fatalf("not a Chunk of request %s: %s", requestID, frame)
	}
	var seqs []uint64
	for _, b := range m.Values[0].Batch {
		seqs = append(seqs, b.EventEncoded.SeqNum)
	}
	return seqs, m.Values[0].PageInfo.Tag
}

const (
	exitStream = `{"_tag":"Exit","requestId":"%s","exit":{"_tag":"Success"}}`
	exitPush   = `{"_tag":"Exit","requestId":"%s","exit":{"_tag":"Success","value":{}}}`
)
