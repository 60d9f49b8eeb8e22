package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/budget"
)

// wsConn is one LiveStore WebSocket: a read loop (serve), a writer goroutine fed by a bounded
// queue while there is something to write (outQueue), and one goroutine per running push and
// per pull until it is live (a live pull then waits without one: live_pull.go).
type wsConn struct {
	b   *Bridge
	ws  *websocket.Conn
	sr  syncQuery // the socket's URL: store id and client payload
	log *slog.Logger

	// ctx is the parent of every request's context; it is cancelled when the socket closes.
	ctx    context.Context
	cancel context.CancelFunc

	out *outQueue

	mu       sync.Mutex
	requests map[string]*request // running requests by id
	// progress, made by a push waiting for live pulls to advance (order.go), is closed, and
	// dropped, when one does; nil while no push waits.
	progress chan struct{}
	// requestEnded is closed and replaced whenever a request ends (a push waiting for a place
	// under MaxRequestsPerSocket waits for it).
	requestEnded chan struct{}
	// pushesRunning counts the pushes started whose Exit is not queued yet.
	pushesRunning atomic.Int32

	requestsDone sync.WaitGroup // request goroutines

	closeOnce sync.Once
	closing   chan struct{} // closed when the socket starts closing: nothing more is written
	closed    chan struct{} // closed when the close handshake (or the abort) has finished
	idle      *time.Timer

	// Graceful shutdown (drain.go). draining is set, under mu, when the socket starts draining:
	// no new requests, pulls ended, pushes finishing; drainOnce starts the drain only once.
	draining  bool
	drainOnce sync.Once
	// drainClose is the close the drain ends with, set before its marker is queued.
	drainClose closeRequest
	// raw is the hijacked connection under ws, closed by forceClose when the drain runs out of
	// time (the library's close handshake may take seconds); nil in tests that build a wsConn
	// without one.
	raw net.Conn
	// gw is what the library writes the socket through (hijackRecorder): the writer gathers
	// its frames in it for one system call. nil in tests without a hijacked connection.
	gw *gatherWriter

	// v03 is set on a socket that speaks LiveStore 0.3's protocol (ws03.go): it handles the
	// socket's frames instead of the Effect RPC handler.
	v03 *conn03
}

// newConn returns the connection of a socket whose upgrade request had the headers h; every
// request on the socket carries them to the service when it has hooks (a copy is kept for the
// socket's life only then: a browser's headers, cookies included, can take kilobytes), and the
// trace they name (if any) is the parent of requests that name none themselves.
func newConn(b *Bridge, ws *websocket.Conn, sr syncQuery, h http.Header) *wsConn {
	var kept http.Header
	if usesHeaders(b.svc) {
		kept = h.Clone()
	}
	base := service.WithRequestInfo(context.Background(), service.RequestInfo{Transport: sr.transportName(), Headers: kept})
	base = b.tr.headerContext(base, h)
	ctx, cancel := context.WithCancel(base)
	c := &wsConn{
		b:            b,
		ws:           ws,
		sr:           sr,
		log:          b.opts.Logger.With("store_id", sr.StoreID),
		ctx:          ctx,
		cancel:       cancel,
		out:          newOutQueue(b.opts.OutgoingQueueFrames, b.opts.OutgoingQueueBytes, b.opts.OutgoingBudget),
		requests:     make(map[string]*request),
		requestEnded: make(chan struct{}),
		closing:      make(chan struct{}),
		closed:       make(chan struct{}),
	}
	c.out.write = c.writeLoop
	return c
}

// Held returns the bytes queued for the socket or being written to it (budget.Member).
func (c *wsConn) Held() int64 { return c.out.bytes.Held() }

// Evict closes the socket because the server's budget for slow readers is exhausted and this
// socket holds the most of it, dropping its queued frames at once (budget.Member).
func (c *wsConn) Evict() {
	c.closeWith(closeOverBudget)
	c.out.drop()
}

// serve runs the socket until it is closed, by either side, and everything it started has
// ended: requests, the writer and the close handshake.
func (c *wsConn) serve() {
	start := time.Now()
	c.b.opts.Metrics.ConnectionOpened(c.sr.transportName())
	c.log.Info("livestore websocket: open")
	defer func() {
		c.b.opts.Metrics.ConnectionClosed(c.sr.transportName())
		c.log.Info("livestore websocket: closed", "duration", time.Since(start).Round(time.Millisecond))
	}()
	// Frames larger than the limit are detected by readLoop itself (to close with a clear
	// reason); the library's own limit is only a backstop above it.
	c.ws.SetReadLimit(c.b.opts.ReadLimit + 1)
	if d := c.b.opts.IdleTimeout; d > 0 {
		c.idle = time.AfterFunc(d, func() {
			c.closeWith(closeRequest{closeIdle.code, fmt.Sprintf("%s for %s", closeIdle.reason, d)})
		})
	}
	c.b.opts.OutgoingBudget.Join(c)
	defer c.b.opts.OutgoingBudget.Leave(c)
	if c.v03 != nil {
		c.v03.start()
	}
	func() {
		defer c.recoverSocket("read loop")
		c.readLoop()
	}()

	c.abort()
	<-c.closed
	c.requestsDone.Wait()
	c.out.stop()
	c.out.drop() // nothing is queued any more; give back what was left
	if c.idle != nil {
		c.idle.Stop()
	}
}

// readLoop reads and dispatches client frames until the socket fails or is closed.
func (c *wsConn) readLoop() {
	limit := c.b.opts.ReadLimit
	for {
		if !c.awaitOutgoingRoom() {
			return
		}
		// Not c.ctx: cancelling a read's context makes the library drop the connection at once,
		// which would cut short the close handshake closeWith starts.
		_, r, err := c.ws.Reader(context.Background())
		if err != nil {
			c.logReadEnd(err)
			return
		}
		buf := readBuffers.Get().(*[]byte)
		data, err := readFrame((*buf)[:0], r, limit+1)
		if err != nil {
			c.logReadEnd(err)
			return
		}
		if int64(len(data)) > limit {
			c.closeWith(closeRequest{websocket.StatusMessageTooBig, fmt.Sprintf("message too big: limit is %d bytes", limit)})
			return
		}
		if !utf8.Valid(data) {
			// RFC 6455 §8.1: a text frame must be UTF-8; LiveStore sends only text. A binary frame
			// is read as text too, so it must be UTF-8 as well.
			c.closeWith(closeInvalidUTF8)
			return
		}
		if c.idle != nil {
			c.idle.Reset(c.b.opts.IdleTimeout)
		}
		select {
		case <-c.closing:
			return
		default:
		}
		if c.v03 != nil {
			c.v03.handleFrame(data) // keeps nothing of data, which is reused
		} else {
			c.handleFrame(data)
		}
		if cap(data) <= maxPooledReadBuffer {
			*buf = data[:0]
			readBuffers.Put(buf)
		}
	}
}

// readBuffers holds the buffers client frames are read into, shared by every socket, so that an
// idle socket holds none and a busy one does not allocate one per frame.
var readBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// maxPooledReadBuffer is the largest buffer readBuffers keeps.
const maxPooledReadBuffer = 64 << 10

// readFrame appends to dst what r gives, up to max bytes, until io.EOF, like io.ReadAll of an
// io.LimitReader.
func readFrame(dst []byte, r io.Reader, max int64) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		room := dst[len(dst):cap(dst)]
		if left := max - int64(len(dst)); int64(len(room)) > left {
			room = room[:left]
		}
		n, err := r.Read(room)
		dst = dst[:len(dst)+n]
		switch {
		case errors.Is(err, io.EOF):
			return dst, nil
		case err != nil:
			return dst, err
		case int64(len(dst)) >= max:
			return dst, nil
		}
	}
}

// awaitOutgoingRoom waits until the socket's outgoing queue is below half of its bounds, so that
// a client that sends requests faster than it reads their answers is slowed down (its frames
// wait in the network) instead of being closed for a full queue. It reports false when the
// socket started closing meanwhile.
//
// Running pushes count as queued frames: each will queue its Exit. (Pulls do not: a pull may
// wait for an Ack that only this loop can read.)
func (c *wsConn) awaitOutgoingRoom() bool {
	for !c.out.belowHalf(int(c.pushesRunning.Load())) {
		select {
		case <-c.out.space:
		case <-c.closing:
			return false
		}
	}
	return true
}

func (c *wsConn) logReadEnd(err error) {
	select {
	case <-c.closing:
		return // closed by the server; already logged
	default:
	}
	if status := websocket.CloseStatus(err); status == websocket.StatusNormalClosure || status == websocket.StatusGoingAway {
		return
	}
	if errors.Is(err, io.EOF) {
		return
	}
	c.log.Debug("livestore websocket: read failed", "err", err)
}

// writeLoop writes queued frames until none is left or the socket starts closing. It runs as
// the outQueue's writer. On a hijacked connection, the frames queued together go out in one
// system call (writeGathered).
func (c *wsConn) writeLoop() {
	for {
		if c.isClosing() {
			return
		}
		frame, ok := c.out.next()
		if !ok {
			return
		}
		if frame.isMarker() { // the drain's marker: every frame queued before it is written
			c.closeWith(c.drainClose)
			return
		}
		var err error
		marker := false
		if c.gw != nil {
			marker, err = c.writeGathered(frame)
		} else {
			err = c.write(frame)
			c.out.written(int64(frame.size()))
		}
		if err != nil {
			c.log.Debug("livestore websocket: write failed", "err", err)
			c.abort()
			return
		}
		if marker {
			c.closeWith(c.drainClose)
			return
		}
	}
}

// maxGatheredBytes is the most bytes of frames writeGathered gathers for one system call (a
// larger frame goes alone).
const maxGatheredBytes = 64 << 10

// writeGathered writes frame, and the frames queued after it up to maxGatheredBytes, with one
// system call (gatherWriter), within Options.WriteTimeout. It reports whether it took the drain's
// marker from the queue: the frames before it are written, and the socket is to close.
func (c *wsConn) writeGathered(frame outFrame) (marker bool, err error) {
	c.gw.gather()
	var n int64
	for {
		n += int64(frame.size())
		// Nothing blocks while gathering: no deadline for the library to watch.
		if err = c.writeMessage(context.Background(), frame); err != nil || c.gw.gathered() >= maxGatheredBytes || c.isClosing() {
			break
		}
		var more bool
		if frame, more = c.out.nextQueued(); !more {
			break
		}
		if frame.isMarker() {
			marker = true
			break
		}
	}
	if sent := c.gw.send(c.b.opts.WriteTimeout); err == nil {
		err = sent
	}
	c.out.written(n)
	return marker, err
}

// writeBuffers holds the buffers frames in parts are assembled in for writing, and writes are
// gathered in (gatherWriter), shared by every socket, so that an idle socket holds none.
var writeBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledWriteBuffer is the largest buffer writeBuffers keeps.
const maxPooledWriteBuffer = 4 << 20

// putWriteBuffer gives buf back to writeBuffers, unless it grew too large to keep.
func putWriteBuffer(buf *[]byte) {
	if cap(*buf) <= maxPooledWriteBuffer {
		*buf = (*buf)[:0]
		writeBuffers.Put(buf)
	}
}

// write writes one frame as one WebSocket message, within Options.WriteTimeout.
func (c *wsConn) write(frame outFrame) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.b.opts.WriteTimeout)
	defer cancel()
	return c.writeMessage(ctx, frame)
}

// writeMessage writes one frame as one WebSocket message, within ctx.
func (c *wsConn) writeMessage(ctx context.Context, frame outFrame) error {
	if frame.shared == nil && frame.tail == nil {
		return c.ws.Write(ctx, websocket.MessageText, frame.head)
	}
	buf := writeBuffers.Get().(*[]byte)
	*buf = frame.appendTo((*buf)[:0])
	err := c.ws.Write(ctx, websocket.MessageText, *buf)
	putWriteBuffer(buf)
	return err
}

// send queues a frame for the client. It reports false when the socket is closing, or when the
// queue is full, in which case it closes the socket (closeSlowConsumer).
func (c *wsConn) send(frame []byte) bool {
	return c.sendFrame(outFrame{head: frame})
}

// sendFrame is send of a frame in parts (outFrame).
func (c *wsConn) sendFrame(frame outFrame) bool {
	return c.queued(frame, c.out.push)
}

// sendFrameAndWrite is sendFrame for a caller that may block on the client (a pull's goroutine,
// holding no lock): when no writer runs, it writes the frame itself (outQueue.pushAndWrite).
func (c *wsConn) sendFrameAndWrite(frame outFrame) bool {
	return c.queued(frame, c.out.pushAndWrite)
}

// queued queues frame with push, closing the socket when the frame does not fit.
func (c *wsConn) queued(frame outFrame, push func(budget.Member, outFrame) pushResult) bool {
	select {
	case <-c.closing:
		return false
	default:
	}
	switch push(c, frame) {
	case pushed:
		return true
	case budgetRefuse:
		c.closeWith(closeOverBudget)
	default:
		c.closeWith(closeSlowConsumer)
	}
	return false
}

// isClosing reports whether the socket has started closing.
func (c *wsConn) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// closeWith starts closing the socket with a close frame: running requests are cancelled, queued
// frames are dropped, and the close handshake runs in the background (the library bounds it to a
// few seconds). Only the first close of a socket has an effect.
func (c *wsConn) closeWith(cr closeRequest) {
	c.closeOnce.Do(func() {
		level := slog.LevelInfo
		if cr.code == websocket.StatusServiceRestart {
			level = slog.LevelDebug // one line per socket at shutdown would be noise
		}
		c.log.Log(context.Background(), level, "livestore websocket: closing", "code", int(cr.code), "reason", cr.reason)
		close(c.closing)
		c.cancel()
		go func() {
			defer close(c.closed)
			_ = c.ws.Close(cr.code, cr.reason)
		}()
	})
}

// abort ends the socket without a close handshake: when it already failed or the client closed
// it. It does nothing when the socket is already closing.
func (c *wsConn) abort() {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.cancel()
		go func() {
			defer close(c.closed)
			_ = c.ws.CloseNow()
		}()
	})
}
