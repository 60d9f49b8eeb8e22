package bridge

import (
	"log/slog"
	"time"

	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/budget"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Defaults for the zero fields of Options.
const (
	// DefaultReadLimit bounds one client frame. The LiveStore client splits pushes into requests
	// of at most 100 events and about 900,000 bytes, so 4 MiB leaves ample room.
	DefaultReadLimit = 4 << 20
	// DefaultOutgoingQueueFrames bounds the number of frames queued for one socket.
	DefaultOutgoingQueueFrames = 256
	// DefaultOutgoingQueueBytes bounds the bytes queued for one socket (a pull page is at most
	// about 900 KB, so this is room for about 18 full pages).
	DefaultOutgoingQueueBytes = 16 << 20
	// DefaultWriteTimeout bounds the time to write one frame to a socket, or one HTTP response.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout is how long a socket may stay silent before it is considered dead. The
	// LiveStore client sends a Ping every 10 s, but browsers throttle the timers of background
	// tabs to about once a minute, so this leaves room for one throttled Ping to be late.
	DefaultIdleTimeout = 90 * time.Second
	// DefaultPushExitDelay bounds how long a push's Exit waits for the live pulls of its socket
	// to send the pushed events first (order.go).
	DefaultPushExitDelay = time.Second
	// DefaultMaxRequestsPerSocket bounds the requests running at once on one socket. A LiveStore
	// client has one push and one or two pulls open at a time.
	DefaultMaxRequestsPerSocket = 100

	// DefaultHTTPBodyLimit bounds the body of one HTTP transport request: like DefaultReadLimit,
	// ample room for the client's pushes of at most 100 events and about 900,000 bytes.
	DefaultHTTPBodyLimit = 4 << 20
	// DefaultHTTPResponseLimit is the size after which an HTTP pull stops taking pages from the
	// service (about 35 full pages of 900 KB, or some 100,000 typical events).
	DefaultHTTPResponseLimit = 32 << 20
	// DefaultRequestTimeout bounds one HTTP transport request, like the reference's 10 s.
	DefaultRequestTimeout = 10 * time.Second

	// DefaultMaxWebSockets bounds the WebSockets open at once (each LiveStore client keeps one).
	DefaultMaxWebSockets = 10_000
	// DefaultMaxHTTPRequests bounds the HTTP transport requests being served at once.
	DefaultMaxHTTPRequests = 1_000
)

// Options configures a Bridge. The zero value uses the defaults above.
type Options struct {
	// ReadLimit is the largest client frame accepted, in bytes. A larger frame closes the socket
	// with 1009 (message too big). Default DefaultReadLimit.
	ReadLimit int64

	// OutgoingQueueFrames bounds the number of frames waiting to be written to one socket. When a
	// frame does not fit, the client is not reading fast enough: the socket is closed with 1013
	// (try again later), and the client reconnects and pulls again. The service is never blocked
	// by a slow socket. Default DefaultOutgoingQueueFrames.
	OutgoingQueueFrames int
	// OutgoingQueueBytes bounds the bytes waiting to be written to one socket, like
	// OutgoingQueueFrames (a single frame larger than it is still sent when nothing else waits).
	// Default DefaultOutgoingQueueBytes.
	OutgoingQueueBytes int

	// WriteTimeout bounds writing one frame, and writing one HTTP transport response; a socket
	// that takes longer is dropped, and so is an HTTP connection. Default DefaultWriteTimeout.
	WriteTimeout time.Duration

	// IdleTimeout closes a socket that sent no frame for this long with 1008 (policy violation).
	// Default DefaultIdleTimeout; negative disables it.
	IdleTimeout time.Duration

	// PushExitDelay bounds how long the Exit of a successful push waits for the live pulls of the
	// same socket to send the pushed events, so that the client sees them before the Exit, as
	// with the reference (order.go). Default DefaultPushExitDelay; negative disables the wait.
	PushExitDelay time.Duration

	// MaxRequestsPerSocket bounds the requests running at once on one socket; a request beyond
	// it fails with an UnknownError. Default DefaultMaxRequestsPerSocket.
	MaxRequestsPerSocket int

	// OriginPatterns, when set, restricts the Origin of WebSocket handshakes (host patterns as
	// in github.com/coder/websocket's AcceptOptions). Empty accepts every origin, like the
	// reference server: LiveStore apps usually run on another origin than their sync server.
	OriginPatterns []string

	// HTTPBodyLimit is the largest request body the HTTP transport accepts, in bytes. A larger
	// body is answered with 413 and a Defect naming the limit. Default DefaultHTTPBodyLimit.
	HTTPBodyLimit int64

	// HTTPResponseLimit bounds the response of an HTTP pull, in bytes: once the response holds
	// this much, the pull takes no more pages from the service and ends successfully with the
	// pages it has (their page info tells the client that more is to come, and its polling pulls
	// again from the last event it received). A single page is never cut. Default
	// DefaultHTTPResponseLimit.
	HTTPResponseLimit int

	// RequestTimeout bounds, separately, the time a client may take to send the body of an HTTP
	// transport request (then: 408 with a Defect) and the time the service may take for it (a
	// WebSocket request lives as long as its socket). A request that runs out of service time ends
	// with an Exit failing with UnknownError "request timed out" (pages a pull collected so far
	// are sent before it; a push that was stored anyway is acknowledged when the client retries
	// it). Default DefaultRequestTimeout; negative disables both.
	RequestTimeout time.Duration

	// MaxWebSockets bounds the WebSockets open at once; an upgrade beyond it is answered 503 with
	// Retry-After, and the LiveStore client tries again later. Default DefaultMaxWebSockets;
	// negative disables the limit.
	MaxWebSockets int
	// MaxHTTPRequests bounds the HTTP transport requests served at once; one beyond it is
	// answered 503 with Retry-After and a Defect saying so. Default DefaultMaxHTTPRequests;
	// negative disables the limit.
	MaxHTTPRequests int

	// DisableWebSocket turns the WebSocket transport off: sync requests with transport=ws are
	// answered 400 with a message saying so.
	DisableWebSocket bool
	// DisableWebSocket03 turns LiveStore 0.3's WebSocket protocol off (ws03.go): its requests
	// (a path ending in /websocket with storeId and no transport) are answered 400 with a message
	// saying so.
	DisableWebSocket03 bool
	// AdminSecret is the secret LiveStore 0.3's admin messages (WSMessage.AdminInfoReq,
	// AdminResetRoomReq) must carry. Empty refuses them all.
	AdminSecret string
	// DisableHTTP turns the HTTP transport off: sync requests with transport=http are answered
	// 400 with a Defect (which LiveStore's HTTP client reports) saying so.
	DisableHTTP bool

	// CORSOrigins are the origins (e.g. "https://app.example.com", as browsers send them in the
	// Origin header) whose browsers may read the responses and open WebSockets. Empty, or "*"
	// alone, allows every origin, as the original does. With a list, a request from another
	// origin gets no Access-Control-Allow-Origin header and its WebSocket upgrade is refused
	// (403).
	CORSOrigins []string

	// DisableCORS leaves out the CORS headers, which the bridge otherwise adds to every response
	// (the reference worker, with enableCORS: true, adds them to OPTIONS, 400 and 426 responses
	// only), and answers OPTIONS like any other request.
	DisableCORS bool

	// Logger receives one line per socket opened and closed (with its store id, and the code
	// and reason when the server closes it), one line per HTTP transport request that is
	// rejected or fails (store id, RPC, reason), and unexpected errors. Payloads and headers are
	// never logged. Default slog.Default().
	Logger *slog.Logger

	// TracerProvider makes the tracer of the bridge's spans: one server span per Push, Pull and
	// Ping, on both transports, continuing the caller's trace (see Propagator). Default the
	// global provider (otel.GetTracerProvider()), which traces nothing unless set.
	TracerProvider trace.TracerProvider
	// Propagator reads the caller's trace from the HTTP headers of HTTP transport requests and
	// WebSocket upgrades (traceparent, b3, … as it is configured). The Effect RPC tracing fields
	// of each request (traceId, spanId, sampled) are read whatever it is. Default the global
	// propagator (otel.GetTextMapPropagator()).
	Propagator propagation.TextMapPropagator

	// OutgoingBudget bounds the bytes queued for every socket together (and the HTTP
	// transport's responses being assembled), on top of OutgoingQueueBytes per socket: when a
	// frame does not fit, the socket holding the most is closed with 1013 (try again later), so
	// that clients that stop reading never make the server hold more than the budget. Default
	// the service's own budget when it has one (service.Service.OutgoingBudget, shared with its
	// live pulls), else a budget of service.DefaultMaxOutgoingBytes.
	OutgoingBudget *budget.Budget

	// Metrics counts open sockets (transport "ws") and HTTP transport requests in progress
	// (transport "http"); nil counts nothing.
	Metrics *service.Metrics
}

func (o Options) withDefaults(svc SyncService) Options {
	if o.OutgoingBudget == nil {
		if s, ok := svc.(interface{ OutgoingBudget() *budget.Budget }); ok {
			o.OutgoingBudget = s.OutgoingBudget()
		}
	}
	if o.OutgoingBudget == nil {
		o.OutgoingBudget = budget.New(service.DefaultMaxOutgoingBytes)
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = DefaultReadLimit
	}
	if o.OutgoingQueueFrames <= 0 {
		o.OutgoingQueueFrames = DefaultOutgoingQueueFrames
	}
	if o.OutgoingQueueBytes <= 0 {
		o.OutgoingQueueBytes = DefaultOutgoingQueueBytes
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.PushExitDelay == 0 {
		o.PushExitDelay = DefaultPushExitDelay
	}
	if o.MaxRequestsPerSocket <= 0 {
		o.MaxRequestsPerSocket = DefaultMaxRequestsPerSocket
	}
	if o.HTTPBodyLimit <= 0 {
		o.HTTPBodyLimit = DefaultHTTPBodyLimit
	}
	if o.HTTPResponseLimit <= 0 {
		o.HTTPResponseLimit = DefaultHTTPResponseLimit
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxWebSockets == 0 {
		o.MaxWebSockets = DefaultMaxWebSockets
	}
	if o.MaxHTTPRequests == 0 {
		o.MaxHTTPRequests = DefaultMaxHTTPRequests
	}
	if len(o.CORSOrigins) == 1 && o.CORSOrigins[0] == "*" {
		o.CORSOrigins = nil // any origin; as a literal it would match no browser's origin
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.TracerProvider == nil {
		o.TracerProvider = otel.GetTracerProvider()
	}
	if o.Propagator == nil {
		o.Propagator = otel.GetTextMapPropagator()
	}
	return o
}
