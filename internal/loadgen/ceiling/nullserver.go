package ceiling

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/coder/websocket"
)

const (
	// nullBackendID is the backend id of every store of the null server (21 characters, as
	// LiveStore's are).
	nullBackendID = "nullserverbackend0001"
	// nullPageEvents is the most events in one PullResponse, as LiveStore's servers page.
	nullPageEvents = 100
	// nullReadLimit bounds a frame the null server reads.
	nullReadLimit = 64 << 20
)

// NullServer speaks LiveStore's WebSocket protocol on loopback and does the least a server
// can: a push is appended to a slice in memory and broadcast, encoded once, to the store's live
// pulls; a pull is answered from memory, a page per Ack. It is for ceilings only (see the
// package doc): it checks nothing but a push's parent and has no bound on what clients hold.
type NullServer struct {
	ln  net.Listener
	srv *http.Server

	mu     sync.Mutex
	stores map[string]*nullStore
	open   map[*nullConn]struct{}
	closed bool
	conns  sync.WaitGroup
}

// nullStore is one store's events, as pushed (each event's JSON), and its live pulls.
type nullStore struct {
	mu     sync.Mutex
	events []json.RawMessage
	subs   map[*nullPull]struct{}
}

// StartNullServer starts a null server on a free loopback port.
func StartNullServer() (*NullServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("null server: %w", err)
	}
	s := &NullServer{ln: ln, stores: make(map[string]*nullStore), open: make(map[*nullConn]struct{})}
	s.srv = &http.Server{Handler: s}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the server's address, for loadgen.Config.URL.
func (s *NullServer) URL() string { return "ws://" + s.ln.Addr().String() }

// Close stops the server and closes every socket, and waits for them to end.
func (s *NullServer) Close() error {
	err := s.srv.Close() // hijacked connections are not closed by this
	s.mu.Lock()
	s.closed = true
	for c := range s.open {
		_ = c.ws.CloseNow()
	}
	s.mu.Unlock()
	s.conns.Wait()
	return err
}

func (s *NullServer) store(id string) *nullStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stores[id]
	if st == nil {
		st = &nullStore{subs: make(map[*nullPull]struct{})}
		s.stores[id] = st
	}
	return st
}

// ServeHTTP accepts a WebSocket for the store of the query's storeId.
func (s *NullServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	storeID := r.URL.Query().Get("storeId")
	if storeID == "" || r.URL.Query().Get("transport") != "ws" {
		http.Error(w, "Invalid path", http.StatusBadRequest)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	ws.SetReadLimit(nullReadLimit)
	c := &nullConn{ws: ws, st: s.store(storeID), pulls: make(map[string]*nullPull)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.CloseNow()
		return
	}
	s.open[c] = struct{}{}
	s.conns.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.open, c)
		s.mu.Unlock()
		s.conns.Done()
	}()
	c.serve()
}

// nullConn is one socket of the null server.
type nullConn struct {
	ws *websocket.Conn
	st *nullStore

	mu    sync.Mutex
	pulls map[string]*nullPull
	wg    sync.WaitGroup
}

// clientMsg is a message from the client, decoded as far as the null server needs.
type clientMsg struct {
	Tag       string `json:"_tag"`
	ID        string `json:"id"`
	RequestID string `json:"requestId"`
	RPC       string `json:"tag"`
	Payload   struct {
		Batch  []json.RawMessage `json:"batch"`
		Live   bool              `json:"live"`
		Cursor struct {
			Tag   string `json:"_tag"`
			Value struct {
				EventSequenceNumber uint64 `json:"eventSequenceNumber"`
			} `json:"value"`
		} `json:"cursor"`
	} `json:"payload"`
}

func (c *nullConn) serve() {
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		c.mu.Lock()
		for _, p := range c.pulls {
			p.stop()
		}
		c.mu.Unlock()
		c.wg.Wait()
		c.ws.CloseNow()
	}()
	for {
		_, data, err := c.ws.Read(ctx)
		if err != nil {
			return
		}
		if id, ok := plainAck(data); ok {
			c.ack(id)
			continue
		}
		var m clientMsg
		if err := json.Unmarshal(data, &m); err != nil {
			c.write(ctx, []byte(`{"_tag":"Defect","defect":"not JSON"}`))
			return
		}
		switch m.Tag {
		case "Ping":
			c.write(ctx, []byte(`{"_tag":"Pong"}`))
		case "Ack":
			c.ack(m.RequestID)
		case "Interrupt":
			c.mu.Lock()
			p := c.pulls[m.RequestID]
			c.mu.Unlock()
			if p != nil {
				p.stop()
			}
		case "Request":
			switch m.RPC {
			case "SyncWsRpc.Push":
				c.push(ctx, m.ID, m.Payload.Batch)
			case "SyncWsRpc.Pull":
				after := uint64(0)
				if m.Payload.Cursor.Tag == "Some" {
					after = m.Payload.Cursor.Value.EventSequenceNumber
				}
				c.startPull(ctx, m.ID, m.Payload.Live, after)
			default:
				c.write(ctx, fmt.Appendf(nil, `{"_tag":"Defect","defect":"Unknown request tag: %s"}`, m.RPC))
				return
			}
		}
	}
}

// ackPrefix starts an Ack as LiveStore's client (and the load generator) writes it.
const ackPrefix = `{"_tag":"Ack","requestId":"`

// plainAck returns the request id of an Ack written exactly as LiveStore's client writes it,
// so that most Acks are not decoded through reflection; other frames are decoded in full.
func plainAck(data []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(data, []byte(ackPrefix))
	if !ok {
		return "", false
	}
	id, ok := bytes.CutSuffix(rest, []byte(`"}`))
	if !ok || bytes.ContainsAny(id, `"\`) {
		return "", false
	}
	return string(id), true
}

// ack lets the pull of request id send its next page.
func (c *nullConn) ack(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.pulls[id]; p != nil {
		select {
		case p.acks <- struct{}{}:
		default:
		}
	}
}

func (c *nullConn) write(ctx context.Context, frame []byte) {
	_ = c.ws.Write(ctx, websocket.MessageText, frame)
}

func exitFrame(id, exit string) []byte {
	return fmt.Appendf(nil, `{"_tag":"Exit","requestId":%q,"exit":%s}`, id, exit)
}

// push appends the batch if its first event follows the store's head, broadcasts it to the
// store's live pulls, and answers.
func (c *nullConn) push(ctx context.Context, id string, batch []json.RawMessage) {
	var first struct {
		ParentSeqNum uint64 `json:"parentSeqNum"`
	}
	if len(batch) > 0 {
		if err := json.Unmarshal(batch[0], &first); err != nil {
			c.write(ctx, exitFrame(id, `{"_tag":"Failure","cause":{"_tag":"Die","defect":"bad event"}}`))
			return
		}
	}
	st := c.st
	st.mu.Lock()
	head := uint64(len(st.events))
	if len(batch) > 0 && first.ParentSeqNum != head {
		st.mu.Unlock()
		c.write(ctx, exitFrame(id, fmt.Sprintf(`{"_tag":"Failure","cause":{"_tag":"Fail","error":{"minimumExpectedNum":%d,"providedNum":%d,"_tag":"ServerAheadError"}}}`, head, first.ParentSeqNum)))
		return
	}
	st.events = append(st.events, batch...)
	// Encoded once for every live pull; the Exit waits until each pull wrote it, as a server
	// delivers a push to live pulls before it answers the pusher (PROTOCOL §5.5).
	var written sync.WaitGroup
	for len(st.subs) > 0 && len(batch) > 0 {
		n := min(len(batch), nullPageEvents)
		values := appendValues(nil, batch[:n], 0)
		for p := range st.subs {
			written.Add(1)
			p.enqueue(liveValues{values, &written})
		}
		batch = batch[n:]
	}
	st.mu.Unlock()
	written.Wait()
	c.write(ctx, exitFrame(id, `{"_tag":"Success","value":{}}`))
}

// appendValues appends a Chunk's values: one PullResponse of the events, with remaining events
// after them (0: NoMore).
func appendValues(dst []byte, events []json.RawMessage, remaining int) []byte {
	dst = append(dst, `[{"batch":[`...)
	for i, e := range events {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"eventEncoded":`...)
		dst = append(dst, e...)
		dst = append(dst, `,"metadata":{"_tag":"None"}}`...)
	}
	dst = append(dst, `],"pageInfo":`...)
	if remaining == 0 {
		dst = append(dst, `{"_tag":"NoMore"}`...)
	} else {
		dst = append(dst, `{"_tag":"MoreKnown","remaining":`...)
		dst = strconv.AppendInt(dst, int64(remaining), 10)
		dst = append(dst, '}')
	}
	return append(dst, `,"backendId":"`+nullBackendID+`"}]`...)
}

// nullPull is a running pull of a socket.
type nullPull struct {
	c    *nullConn
	id   string
	acks chan struct{}

	mu      sync.Mutex
	queue   []liveValues  // not yet sent
	signal  chan struct{} // a value was queued
	stopped chan struct{}
	once    sync.Once
}

func (p *nullPull) stop() { p.once.Do(func() { close(p.stopped) }) }

// liveValues are the values of a live Chunk, and the push that waits for them to be written.
type liveValues struct {
	values  []byte
	written *sync.WaitGroup
}

func (p *nullPull) enqueue(v liveValues) {
	p.mu.Lock()
	p.queue = append(p.queue, v)
	p.mu.Unlock()
	select {
	case p.signal <- struct{}{}:
	default:
	}
}

func (c *nullConn) startPull(ctx context.Context, id string, live bool, after uint64) {
	p := &nullPull{c: c, id: id, acks: make(chan struct{}, 1), signal: make(chan struct{}, 1), stopped: make(chan struct{})}
	c.mu.Lock()
	c.pulls[id] = p
	c.mu.Unlock()
	st := c.st
	st.mu.Lock()
	backlog := st.events[min(after, uint64(len(st.events))):]
	if live {
		st.subs[p] = struct{}{}
	}
	st.mu.Unlock()
	c.wg.Go(func() {
		defer func() {
			st.mu.Lock()
			delete(st.subs, p)
			st.mu.Unlock()
			// Nothing is queued any more: release the pushes waiting for what was not sent.
			p.mu.Lock()
			for _, v := range p.queue {
				v.written.Done()
			}
			p.queue = nil
			p.mu.Unlock()
			c.mu.Lock()
			delete(c.pulls, id)
			c.mu.Unlock()
		}()
		if err := p.run(ctx, backlog, live); err != nil {
			if errors.Is(err, errInterrupted) {
				c.write(ctx, exitFrame(id, `{"_tag":"Failure","cause":{"_tag":"Interrupt","fiberId":{"_tag":"Runtime","id":-499,"startTimeMillis":0}}}`))
			}
			return
		}
		c.write(ctx, exitFrame(id, `{"_tag":"Success"}`))
	})
}

var errInterrupted = errors.New("interrupted")

// run sends the backlog a page per Ack, then, for a live pull, every queued push until stopped.
func (p *nullPull) run(ctx context.Context, backlog []json.RawMessage, live bool) error {
	var frame []byte
	for sent := false; !sent || len(backlog) > 0; sent = true {
		n := min(len(backlog), nullPageEvents)
		frame = p.chunk(frame[:0], appendValues(nil, backlog[:n], len(backlog)-n))
		backlog = backlog[n:]
		if err := p.c.ws.Write(ctx, websocket.MessageText, frame); err != nil {
			return err
		}
		select {
		case <-p.acks:
		case <-p.stopped:
			return errInterrupted
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if !live {
		return nil
	}
	for {
		select {
		case <-p.signal:
		case <-p.stopped:
			return errInterrupted
		case <-ctx.Done():
			return ctx.Err()
		}
		p.mu.Lock()
		q := p.queue
		p.queue = nil
		p.mu.Unlock()
		for i, v := range q {
			frame = p.chunk(frame[:0], v.values)
			err := p.c.ws.Write(ctx, websocket.MessageText, frame)
			v.written.Done()
			if err != nil {
				for _, rest := range q[i+1:] {
					rest.written.Done()
				}
				return err
			}
		}
	}
}

// chunk appends the Chunk of the pull holding values.
func (p *nullPull) chunk(dst, values []byte) []byte {
	dst = append(dst, `{"_tag":"Chunk","requestId":`...)
	dst = strconv.AppendQuote(dst, p.id)
	dst = append(dst, `,"values":`...)
	dst = append(dst, values...)
	return append(dst, '}')
}
