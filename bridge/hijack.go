package bridge

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// hijackRecorder is the ResponseWriter handed to websocket.Accept: it keeps the connection the
// library hijacks, for forceClose, and the writer under the library's buffer (gatherWriter).
type hijackRecorder struct {
	http.ResponseWriter
	conn   net.Conn
	writer *gatherWriter
}

// Hijack hijacks the connection of the wrapped ResponseWriter and keeps it. The buffers it
// returns are small (socketReadBuffer, socketWriteBuffer), not net/http's 4 KiB ones: a socket
// keeps them as long as it is open, and frames larger than them are read without copying
// through them, and written through a gatherWriter.
func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
	if n := brw.Reader.Buffered(); n > 0 { // sent by the client after its request, already read
		buffered, _ := brw.Reader.Peek(n)
		conn = &prefixedConn{Conn: conn, prefix: bytes.Clone(buffered)}
	}
	h.conn = conn
	h.writer = &gatherWriter{conn: conn}
	rw := bufio.NewReadWriter(bufio.NewReaderSize(conn, socketReadBuffer), bufio.NewWriterSize(h.writer, socketWriteBuffer))
	return &sendOnCloseConn{Conn: conn, w: h.writer}, rw, nil
}

// sendOnCloseConn is the connection the WebSocket library gets: closing it first writes what its
// gatherWriter gathered. The library writes its own frames when they come, also while the
// socket's writer gathers frames, and closes the connection right after answering a client's
// close frame: without this, that answer could still be in the gathered bytes, never sent.
type sendOnCloseConn struct {
	net.Conn
	w *gatherWriter
}

// Close writes the gathered bytes, within closeSendTimeout, and closes the connection.
func (c *sendOnCloseConn) Close() error {
	c.w.sendForClose()
	return c.Conn.Close()
}

// closeSendTimeout bounds how long closing a socket's connection waits to write what its writer
// gathered (sendOnCloseConn), a write already under way included.
const closeSendTimeout = time.Second

// The buffers of a hijacked connection (hijackRecorder).
const (
	socketReadBuffer  = 512
	socketWriteBuffer = 512
)

// prefixedConn is a net.Conn whose reads return prefix before what the connection reads.
type prefixedConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixedConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (h *hijackRecorder) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// gatherWriter is what the WebSocket library's write buffer writes to. While the socket's writer
// writes its frames (between gather and send), it gathers the bytes, in a buffer of
// writeBuffers, and send writes them with one system call: through a small buffer, a frame
// would take two (the buffer's first part, then the rest), and a run of queued frames one or two
// each. Outside of that, including the library's own control frames, it writes straight through.
type gatherWriter struct {
	conn net.Conn

	mu  sync.Mutex
	buf *[]byte // while gathering
	// deadlineSet is set while the connection has a write deadline that send set: send leaves
	// it, for the next send to move, and a write outside of gathering (the library's own
	// frames, which have none) clears it first. Under mu.
	deadlineSet bool
	// closing is set by sendForClose before it shortens the deadline of a send under way, so
	// that a send that sets its own deadline meanwhile shortens it too.
	closing atomic.Bool
}

// Write gathers p, or writes it to the connection when not gathering, without the deadline of
// the last send.
func (w *gatherWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf != nil {
		*w.buf = append(*w.buf, p...)
		return len(p), nil
	}
	if w.deadlineSet {
		if err := w.conn.SetWriteDeadline(time.Time{}); err != nil {
			return 0, fmt.Errorf("clear write deadline: %w", err)
		}
		w.deadlineSet = false
	}
	return w.conn.Write(p)
}

// gather starts gathering what is written.
func (w *gatherWriter) gather() {
	buf := writeBuffers.Get().(*[]byte)
	*buf = (*buf)[:0]
	w.mu.Lock()
	w.buf = buf
	w.mu.Unlock()
}

// gathered returns how many bytes are gathered.
func (w *gatherWriter) gathered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf == nil {
		return 0
	}
	return len(*w.buf)
}

// sendForClose writes what is gathered, and lets a send under way finish, within
// closeSendTimeout; gathering goes on (with nothing gathered) for the writer, whose own send then
// fails on the closed connection.
func (w *gatherWriter) sendForClose() {
	w.closing.Store(true)
	if !w.mu.TryLock() {
		// A send is writing: it ends within the deadline, written or not.
		_ = w.conn.SetWriteDeadline(time.Now().Add(closeSendTimeout))
		w.mu.Lock()
	}
	defer w.mu.Unlock()
	if w.buf == nil || len(*w.buf) == 0 {
		return
	}
	if w.conn.SetWriteDeadline(time.Now().Add(closeSendTimeout)) == nil {
		w.deadlineSet = true
		_, _ = w.conn.Write(*w.buf)
	}
	*w.buf = (*w.buf)[:0]
}

// send ends gathering and writes what was gathered to the connection, within timeout.
func (w *gatherWriter) send(timeout time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := w.buf
	w.buf = nil
	if buf == nil {
		return nil
	}
	defer putWriteBuffer(buf)
	if len(*buf) == 0 {
		return nil
	}
	if err := w.conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("set write deadline: %w", err)
	}
	// Left set after the write (the next send moves it; Write clears it): one call of the
	// connection's timer less per send.
	w.deadlineSet = true
	if w.closing.Load() { // sendForClose waits for this send: keep to its deadline
		_ = w.conn.SetWriteDeadline(time.Now().Add(min(timeout, closeSendTimeout)))
	}
	if _, err := w.conn.Write(*buf); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
