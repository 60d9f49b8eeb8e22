package service

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
)

// Defaults of ConnectGuardOptions.
const (
	// DefaultMaxConnectCalls bounds the Connect, gRPC and gRPC-Web calls served at once (live
	// pulls included).
	DefaultMaxConnectCalls = 1_000
	// DefaultMaxConnectBodyBytes bounds one Connect/gRPC request body: a push of
	// DefaultMaxPushBytes of events, with room for protobuf framing.
	DefaultMaxConnectBodyBytes = 2 * DefaultMaxPushBytes
	// DefaultMaxUnauthenticatedBodyBytes bounds the request body of a call whose headers do not
	// authenticate it: room for a Ping, a Pull or a small Push carrying its token in the payload,
	// which can only be checked once the body is read.
	DefaultMaxUnauthenticatedBodyBytes = 64 << 10
	// DefaultConnectBodyTimeout bounds the time a client may take to send a request body.
	DefaultConnectBodyTimeout = 10 * time.Second
	// DefaultConnectWriteTimeout bounds each write of a response (one message of a stream).
	DefaultConnectWriteTimeout = 30 * time.Second
)

// ConnectGuardOptions configures NewConnectGuard. Zero fields take the defaults above.
type ConnectGuardOptions struct {
	// MaxCalls bounds the calls served at once; one beyond it fails with Unavailable (and
	// Retry-After) before its body is read. Negative: no bound.
	MaxCalls int
	// MaxBodyBytes bounds a request body; one announced larger (Content-Length) is refused with
	// ResourceExhausted before it is read, one that turns out larger fails when it passes the
	// bound. Mount the handlers with a connect.WithReadMaxBytes no larger.
	MaxBodyBytes int64
	// Authenticate checks a call from its headers alone, before its body is read; nil when the
	// server has no authentication. A call it refuses may still send a body of up to
	// MaxUnauthenticatedBodyBytes (its payload may carry a token that the handler's payload
	// validator accepts); a Content-Length over that is refused with Unauthenticated and
	// Authenticate's error, before the body is read.
	Authenticate func(r *http.Request) error
	// MaxUnauthenticatedBodyBytes bounds the body of a call that Authenticate refused.
	MaxUnauthenticatedBodyBytes int64
	// BodyTimeout bounds the time a client may take to send its request body; then the call
	// fails with DeadlineExceeded. Negative: no bound.
	BodyTimeout time.Duration
	// WriteTimeout bounds each write of a response; a client that does not read for that long
	// loses its call (and its place under MaxCalls). Negative: no bound.
	WriteTimeout time.Duration
	// Metrics counts refused calls (transport "grpc"); nil counts nothing.
	Metrics *Metrics
}

func (o ConnectGuardOptions) withDefaults() ConnectGuardOptions {
	if o.MaxCalls == 0 {
		o.MaxCalls = DefaultMaxConnectCalls
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxConnectBodyBytes
	}
	if o.MaxUnauthenticatedBodyBytes <= 0 {
		o.MaxUnauthenticatedBodyBytes = DefaultMaxUnauthenticatedBodyBytes
	}
	if o.BodyTimeout == 0 {
		o.BodyTimeout = DefaultConnectBodyTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultConnectWriteTimeout
	}
	return o
}

// connectGuard is the handler NewConnectGuard returns.
type connectGuard struct {
	next   http.Handler
	opts   ConnectGuardOptions
	errors *connect.ErrorWriter
	calls  atomic.Int64
	// onRelease, set by tests only (export_test.go) before the guard serves, is called each
	// time a call gives back its place under MaxCalls.
	onRelease func()
}

// NewConnectGuard wraps Connect, gRPC and gRPC-Web handlers (next) with the checks that must
// happen before a request body is read, and the deadlines that the handlers cannot set
// themselves: a bound on calls at once, a bound on the body (from Content-Length when it is
// given), authentication from the headers, a deadline for the body to arrive and one for each
// write of the response. Refusals are written in the protocol of the request.
func NewConnectGuard(next http.Handler, opts ConnectGuardOptions) http.Handler {
	return &connectGuard{next: next, opts: opts.withDefaults(), errors: connect.NewErrorWriter()}
}

func (g *connectGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if max := int64(g.opts.MaxCalls); max > 0 {
		if g.calls.Add(1) > max {
			g.calls.Add(-1)
			g.opts.Metrics.ConnectionRefused("grpc")
			w.Header().Set("Retry-After", "5")
			g.refuse(w, r, connect.CodeUnavailable, fmt.Errorf("server busy: %d calls in progress, its limit; retry later", max))
			return
		}
		defer g.release()
	}
	limit := g.opts.MaxBodyBytes
	var authErr error
	if g.opts.Authenticate != nil {
		if authErr = g.opts.Authenticate(r); authErr != nil {
			limit = g.opts.MaxUnauthenticatedBodyBytes
		}
	}
	if r.ContentLength > limit {
		if authErr != nil {
			g.refuse(w, r, connect.CodeUnauthenticated, fmt.Errorf("%w (a request body of more than %d bytes needs credentials in the headers)", authErr, limit))
			return
		}
		g.refuse(w, r, connect.CodeResourceExhausted, fmt.Errorf("request body of %d bytes is over the limit of %d", r.ContentLength, limit))
		return
	}
	rc := http.NewResponseController(w)
	body := &guardedBody{ReadCloser: r.Body, limit: limit, left: limit, authErr: authErr, timeout: g.opts.BodyTimeout}
	if g.opts.BodyTimeout > 0 {
		body.rc = rc
		_ = rc.SetReadDeadline(time.Now().Add(g.opts.BodyTimeout)) // not every ResponseWriter can
	}
	r.Body = body
	if g.opts.WriteTimeout > 0 {
		w = &deadlineWriter{ResponseWriter: w, rc: rc, timeout: g.opts.WriteTimeout}
		// Deadlines stay on an HTTP/1.1 connection after the call: lift them for its next request.
		defer rc.SetWriteDeadline(time.Time{})
	}
	g.next.ServeHTTP(w, r)
}

// release gives back a call's place under MaxCalls.
func (g *connectGuard) release() {
	g.calls.Add(-1)
	if f := g.onRelease; f != nil {
		f()
	}
}

func (g *connectGuard) refuse(w http.ResponseWriter, r *http.Request, code connect.Code, err error) {
	if r.ProtoMajor == 1 && r.ContentLength != 0 {
		// The body stays unread: the connection cannot carry another request (and net/http
		// would otherwise try to read what is left of the body before answering).
		w.Header().Set("Connection", "close")
	}
	if !g.errors.IsSupported(r) {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_ = g.errors.Write(w, r, connect.NewError(code, err))
}

// guardedBody is a request body with a bound on its size and a deadline for its arrival, which
// it lifts once the body has been read (an HTTP/1.1 connection's read deadline would otherwise
// end a stream that is still being answered).
type guardedBody struct {
	io.ReadCloser
	limit   int64
	left    int64
	authErr error // why the headers did not authenticate the call, when they did not
	rc      *http.ResponseController
	timeout time.Duration
}

func (b *guardedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if b.left -= int64(n); b.left < 0 {
		if b.authErr != nil {
			return 0, connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("%w (a request body this large needs credentials in the headers)", b.authErr))
		}
		return 0, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("request body is over the limit of %d bytes", b.limit))
	}
	switch {
	case errors.Is(err, io.EOF) && b.rc != nil:
		_ = b.rc.SetReadDeadline(time.Time{})
		b.rc = nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, connect.NewError(connect.CodeDeadlineExceeded, fmt.Errorf("the request body did not arrive within %s", b.timeout))
	}
	return n, err
}

// deadlineWriter sets a write deadline before each write of the response.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.ResponseWriter.Write(p)
}

// Flush implements http.Flusher, which Connect needs for streams.
func (w *deadlineWriter) Flush() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	_ = w.rc.Flush()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
