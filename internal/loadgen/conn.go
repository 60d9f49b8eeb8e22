package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// pingInterval is how often a socket pings the server, as LiveStore's client does, so that
// held sockets are not taken for dead (PROTOCOL §5.6).
const pingInterval = 10 * time.Second

// readLimit is the largest frame the client reads: a pull page is at most 900,000 bytes of
// events (PROTOCOL §7), so this leaves room for servers that page differently.
const readLimit = 64 << 20

// conn is one client WebSocket to a store. A goroutine reads its frames and hands each to the
// request it belongs to; Chunks are acknowledged as soon as their handler returned, as
// LiveStore's client does.
type conn struct {
	ws      *websocket.Conn
	storeID string
	payload string // JSON, or empty
	ids     atomic.Uint64

	mu   sync.Mutex
	reqs map[string]*request

	done chan struct{} // closed when the reader ended; err is then set
	err  error
}

// request is a running request of a conn.
type request struct {
	id      string
	onChunk func(*pullResponse) // nil for pushes; called on the reader goroutine
	exit    chan error          // receives the request's outcome once
}

// storeURL is the WebSocket URL of a store on the server at base (ws://, wss://, http:// or
// https://, any path), with the client payload (JSON, or empty).
func storeURL(base, storeID, payload string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("server URL: %w", err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("server URL %q: scheme must be ws, wss, http or https", base)
	}
	q := u.Query()
	q.Set("storeId", storeID)
	q.Set("transport", "ws")
	if payload != "" {
		// The client encodes the payload twice (PROTOCOL §1), the first time as JavaScript's
		// encodeURIComponent does.
		q.Set("payload", strings.ReplaceAll(url.QueryEscape(payload), "+", "%20"))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// dial opens a socket to a store and starts reading it.
func dial(ctx context.Context, cfg *Config, storeID string) (*conn, error) {
	u, err := storeURL(cfg.URL, storeID, cfg.Payload)
	if err != nil {
		return nil, err
	}
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("open socket to store %s: %w (HTTP %s)", storeID, err, resp.Status)
		}
		return nil, fmt.Errorf("open socket to store %s: %w", storeID, err)
	}
	ws.SetReadLimit(readLimit)
	c := &conn{ws: ws, storeID: storeID, payload: cfg.Payload, reqs: make(map[string]*request), done: make(chan struct{})}
	go c.read()
	go c.ping()
	return c, nil
}

// ping sends a Ping every pingInterval until the socket ends.
func (c *conn) ping() {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := c.ws.Write(context.Background(), websocket.MessageText, []byte(`{"_tag":"Ping"}`)); err != nil {
				return
			}
		case <-c.done:
			return
		}
	}
}

// close closes the socket normally and waits for its reader to end.
func (c *conn) close() {
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	<-c.done
}

// read reads frames until the socket ends, then fails every running request.
func (c *conn) read() {
	err := c.readFrames()
	c.mu.Lock()
	c.err = err
	reqs := c.reqs
	c.reqs = nil
	c.mu.Unlock()
	for _, r := range reqs {
		r.exit <- fmt.Errorf("socket ended: %w", err)
	}
	close(c.done)
}

func (c *conn) readFrames() error {
	var (
		ack []byte
		buf bytes.Buffer // reused: frames are decoded before the next is read
		m   serverMsg    // likewise
	)
	for {
		typ, r, err := c.ws.Reader(context.Background())
		if err != nil {
			return err
		}
		if typ != websocket.MessageText {
			return errors.New("binary frame from the server")
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return err
		}
		data := buf.Bytes()
		if err := decodeServerMsg(data, &m); err != nil {
			return fmt.Errorf("frame %.200q: %w", data, err)
		}
		switch m.Tag {
		case "Chunk":
			c.mu.Lock()
			r := c.reqs[m.RequestID]
			c.mu.Unlock()
			if r == nil || r.onChunk == nil {
				continue // a Chunk of a finished request, as the original sends (PROTOCOL §5.5)
			}
			for i := range m.Values {
				r.onChunk(&m.Values[i])
			}
			ack = appendAckFrame(ack[:0], m.RequestID)
			if err := c.ws.Write(context.Background(), websocket.MessageText, ack); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
		case "Exit":
			c.mu.Lock()
			r := c.reqs[m.RequestID]
			delete(c.reqs, m.RequestID)
			c.mu.Unlock()
			if r != nil {
				r.exit <- m.Exit.err()
			}
		case "Defect":
			return fmt.Errorf("server defect: %s", m.Defect)
		case "Pong":
		default:
			return fmt.Errorf("unexpected frame %.200q", data)
		}
	}
}

// start registers a request and sends its frame, built by frame from the request's id.
func (c *conn) start(ctx context.Context, onChunk func(*pullResponse), frame func(id uint64) []byte) (*request, error) {
	n := c.ids.Add(1)
	r := &request{id: strconv.FormatUint(n, 10), onChunk: onChunk, exit: make(chan error, 1)}
	c.mu.Lock()
	if c.reqs == nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("socket ended: %w", c.err)
	}
	c.reqs[r.id] = r
	c.mu.Unlock()
	if err := c.ws.Write(ctx, websocket.MessageText, frame(n)); err != nil {
		return nil, fmt.Errorf("send request: %w", err)
	}
	return r, nil
}

// wait waits for the request's Exit.
func (r *request) wait(ctx context.Context) error {
	select {
	case err := <-r.exit:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// push pushes the events (a JSON array) and waits for the push's Exit.
func (c *conn) push(ctx context.Context, batch []byte, backendID string) error {
	var buf []byte
	r, err := c.start(ctx, nil, func(id uint64) []byte {
		buf = appendPushFrame(buf, id, c.storeID, c.payload, batch, backendID)
		return buf
	})
	if err != nil {
		return err
	}
	if err := r.wait(ctx); err != nil {
		return fmt.Errorf("push to %s: %w", c.storeID, err)
	}
	return nil
}

// pull starts a pull after the cursor (backendID empty: from the start); onChunk gets each
// PullResponse on the reader goroutine, and the Chunk is acknowledged when it returns.
func (c *conn) pull(ctx context.Context, live bool, backendID string, after uint64, onChunk func(*pullResponse)) (*request, error) {
	return c.start(ctx, onChunk, func(id uint64) []byte {
		return appendPullFrame(nil, id, c.storeID, c.payload, live, backendID, after)
	})
}
