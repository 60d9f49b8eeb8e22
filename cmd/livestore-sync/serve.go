package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/livestore-sync/livestore-sync/auth"
	"github.com/livestore-sync/livestore-sync/bridge"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/budget"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const (
	// defaultAddr is where LiveStore apps look for a local sync server.
	defaultAddr = "localhost:8787"
	// defaultDataDir is where the stores are kept, relative to the working directory.
	defaultDataDir = "./data"
	// defaultDrainTimeout bounds how long a shutdown waits for connections to finish.
	defaultDrainTimeout = 10 * time.Second
	// maxSmallMessageBytes bounds the request messages of reflection and health, which are small.
	maxSmallMessageBytes = 64 << 10
	// readHeaderTimeout bounds how long a client may take to send request headers.
	readHeaderTimeout = 10 * time.Second
	// idleConnTimeout closes keep-alive connections (HTTP/1.1, and HTTP/2 without streams) that
	// carry no request for this long. Open WebSockets and streams are not idle.
	idleConnTimeout = 2 * time.Minute
)

// serve runs the server until SIGINT or SIGTERM, then drains it.
func serve(args []string, stderr io.Writer) error {
	cfg, err := parseServeFlags(args, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	// runCtx ends background work (such as refreshing --auth-jwks) when serve returns.
	runCtx, endRun := context.WithCancel(context.Background())
	defer endRun()
	memLimit := governMemory(runCtx, cfg.maxOutgoing)
	governGC(runCtx)
	tr, err := setupTracing(runCtx, log)
	if err != nil {
		return err
	}
	defer flushTraces(tr, log)
	traceOpts, err := tr.connectOptions()
	if err != nil {
		return err
	}

	engine, err := openEngine(cfg, log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		engine.collector)
	metrics := service.NewMetrics(reg)
	outgoing := budget.New(cfg.maxOutgoing) // shared by the service's live pulls and the bridge
	reg.MustRegister(service.BudgetCollector(outgoing))
	opts := service.Options{Metrics: metrics, ForwardHeaders: cfg.forwardHdrs, OutgoingBudget: outgoing, Logger: log}
	var jwks auth.KeySource
	if cfg.jwksSource != "" {
		if jwks, err = auth.LoadJWKS(runCtx, cfg.jwksSource, log); err != nil {
			engine.Close()
			return fmt.Errorf("--auth-jwks: %w", err)
		}
	}
	opts.ValidatePayload = payloadValidator(cfg, jwks, tr.propagator, log)
	svc, err := service.New(engine.Engine, opts)
	if err != nil {
		engine.Close()
		return err
	}
	var certs *certReloader
	if cfg.tlsCert != "" {
		if certs, err = newCertReloader(cfg.tlsCert, cfg.tlsKey, log); err != nil {
			svc.Close()
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		svc.Close()
		return fmt.Errorf("listen: %w", err)
	}

	s := &server{
		svc: svc,
		bridge: bridge.New(svc, bridge.Options{
			Logger: log, Metrics: metrics, CORSOrigins: cfg.corsOrigins,
			DisableWebSocket: !cfg.enabled("ws"), DisableHTTP: !cfg.enabled("http"),
			DisableWebSocket03: !cfg.enabled("ws03"), AdminSecret: cfg.adminSecret,
			TracerProvider: tr.provider, Propagator: tr.propagator,
			MaxWebSockets: cfg.maxSockets, MaxHTTPRequests: cfg.maxHTTP,
		}),
		health:    grpchealth.NewStaticChecker(syncv1connect.SyncServiceName),
		log:       log,
		database:  &readiness{ping: engine.ping},
		traceOpts: traceOpts,
		guard: service.ConnectGuardOptions{
			MaxCalls: cfg.maxGRPCCalls, MaxBodyBytes: service.DefaultMaxConnectBodyBytes,
			Authenticate: headerCheck(cfg, jwks), Metrics: metrics,
		},
	}
	s.ready.Store(true)
	srv := &http.Server{
		Handler:           s.routes(reg, metrics, cfg.adminSecret, cfg.enabled("grpc")),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleConnTimeout,
		Protocols:         new(http.Protocols),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.Protocols.SetHTTP1(true)
	scheme := "http"
	if certs != nil {
		srv.Protocols.SetHTTP2(true) // negotiated by ALPN, for gRPC
		srv.TLSConfig = &tls.Config{GetCertificate: certs.GetCertificate, MinVersion: tls.VersionTLS12}
		scheme = "https"
	} else {
		srv.Protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge, for gRPC without TLS
	}

	attrs := append([]any{"addr", ln.Addr().String()}, engine.logAttrs...) // which engine, where
	log.Info("livestore-sync listening", append(attrs,
		"websocket", strings.Replace(scheme, "http", "ws", 1)+"://"+ln.Addr().String()+"/?storeId=STORE&transport=ws",
		"connect", scheme+"://"+ln.Addr().String()+"/"+syncv1connect.SyncServiceName+"/",
		"transports", cfg.transports.String(), "admin_api", cfg.adminSecret != "", "auth_tokens", len(cfg.authTokens),
		"auth_jwt", cfg.jwtSecret != "", "auth_jwks", cfg.jwksSource != "", "auth_webhook", cfg.webhookURL != "",
		"max_outgoing_bytes", cfg.maxOutgoing, "memory_limit", memLimit)...)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	serveErr := make(chan error, 1)
	go func() {
		if certs != nil {
			serveErr <- srv.ServeTLS(ln, "", "") // the certificate comes from TLSConfig
			return
		}
		serveErr <- srv.Serve(ln)
	}()

	select {
	case err = <-serveErr:
		svc.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	stop()
	return s.drain(srv, cfg.drainDelay, cfg.drainTimeout)
}

// server is the running server's parts that a drain touches.
type server struct {
	svc    *service.Service
	bridge *bridge.Bridge
	health *grpchealth.StaticChecker
	log    *slog.Logger
	ready  atomic.Bool
	// database checks the engine's database for /readyz (a nil one always passes).
	database *readiness
	// traceOpts trace the Connect services' calls (none when tracing is off).
	traceOpts []connect.HandlerOption
	// guard bounds the Connect services' calls before their bodies are read.
	guard service.ConnectGuardOptions
}

// traceFlushTimeout bounds how long a stopping server waits to export its last spans.
const traceFlushTimeout = 5 * time.Second

// flushTraces exports the spans not exported yet, when the server stops.
func flushTraces(tr tracing, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), traceFlushTimeout)
	defer cancel()
	if err := tr.shutdown(ctx); err != nil {
		log.Warn("exporting the last spans failed", "err", err)
	}
}

// drain shuts the server down, within timeout once delay has passed:
//
//  1. not ready (/readyz 503, gRPC health NOT_SERVING) for delay, still serving, so that load
//     balancers stop sending new clients;
//  2. then, all at once: the listener closes and idle connections with it (http.Server.Shutdown),
//     so no new connection or request is taken; the bridge drains its WebSockets (no new
//     requests, pulls ended, running pushes finished and their Exits written, then close 1012)
//     and answers its running HTTP transport requests; the service closes: new
//     calls fail with ErrClosed, Connect live pulls end with Unavailable, running pushes on every
//     transport finish and are answered, then Pebble closes;
//  3. connections still open when the time for connections is out (timeout less
//     storageReserve) are closed forcibly, clients that stopped reading included, which ends
//     the calls blocked on them;
//  4. Pebble must have closed by timeout, or drain gives up with an error.
func (s *server) drain(srv *http.Server, delay, timeout time.Duration) error {
	s.ready.Store(false)
	s.health.SetStatus(syncv1connect.SyncServiceName, grpchealth.StatusNotServing)
	if delay > 0 {
		s.log.Info("draining: not ready; still serving", "drain_delay", delay)
		time.Sleep(delay)
	}
	s.log.Info("draining: refusing new connections and requests; finishing running pushes, ending live pulls",
		"timeout", timeout)
	start := time.Now()
	storageCtx, endStorage := context.WithTimeout(context.Background(), timeout)
	defer endStorage()
	connCtx, endConns := context.WithTimeout(storageCtx, timeout-storageReserve(timeout))
	defer endConns()

	bridgeDone := goErr(func() error { return s.bridge.Shutdown(connCtx) })
	httpDone := goErr(func() error { return srv.Shutdown(connCtx) })
	closeDone := goErr(s.svc.Close)

	forced := <-bridgeDone != nil // the bridge logs what it closed forcibly
	if err := <-httpDone; err != nil {
		s.log.Warn("draining: out of time; closing the remaining HTTP connections (Connect calls, HTTP transport requests) forcibly",
			"err", err)
		srv.Close()
		forced = true
	}
	s.log.Info("draining: connections closed", "forced", forced, "duration", time.Since(start).Round(time.Millisecond))
	select {
	case err := <-closeDone:
		if err != nil {
			return fmt.Errorf("drain: %w", err)
		}
	case <-storageCtx.Done():
		s.log.Error("draining: the database did not close within --drain-timeout; exiting without closing it "+
			"(acknowledged pushes are durable)", "timeout", timeout)
		return errors.New("drain: the database did not close within --drain-timeout")
	}
	s.log.Info("stopped cleanly", "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// storageReserve is the part of the drain timeout kept for closing the service and Pebble after
// the connections: a fifth of it, at most 2 s.
func storageReserve(timeout time.Duration) time.Duration { return min(timeout/5, 2*time.Second) }

// goErr runs f in a goroutine and returns a channel that receives its error.
func goErr(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// routes returns the server's handler: the Connect APIs with reflection and health on their
// own paths, /metrics, /healthz and /readyz, and LiveStore's sync protocol on every other path.
// The AdminService answers every call with Unimplemented unless adminSecret is set; the
// SyncService likewise unless grpc is on.
func (s *server) routes(reg *prometheus.Registry, metrics *service.Metrics, adminSecret string, grpc bool) http.Handler {
	mux := http.NewServeMux()
	// The Connect APIs get their own mux, behind one guard (call limit, authentication from
	// headers, body bound and deadlines) before any body is read.
	connectMux := http.NewServeMux()
	observe := connect.WithInterceptors(service.NewLoggingInterceptor(metrics, s.log))
	limit := connect.WithReadMaxBytes(service.DefaultMaxConnectBodyBytes)
	syncGate := connect.WithInterceptors(refuse{errGRPCOff})
	services := []string{grpchealth.HealthV1ServiceName}
	if grpc {
		syncGate = connect.WithInterceptors()
		services = append(services, syncv1connect.SyncServiceName)
	}
	// Tracing comes first, so that the span covers the other interceptors.
	syncOpts := append(slices.Clone(s.traceOpts), observe, syncGate, limit)
	connectMux.Handle(syncv1connect.NewSyncServiceHandler(service.NewHandler(s.svc), syncOpts...))

	adminGate := connect.WithInterceptors(refuse{errAdminOff})
	if adminSecret != "" {
		adminGate = connect.WithInterceptors(service.AdminAuth(adminSecret))
		services = append(services, syncv1connect.AdminServiceName)
	}
	adminOpts := append(slices.Clone(s.traceOpts), observe, adminGate)
	connectMux.Handle(syncv1connect.NewAdminServiceHandler(service.NewAdminHandler(s.svc), adminOpts...))
	reflector := grpcreflect.NewStaticReflector(services...)
	small := connect.WithReadMaxBytes(maxSmallMessageBytes)
	connectMux.Handle(grpcreflect.NewHandlerV1(reflector, small))
	connectMux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, small))
	connectMux.Handle(grpchealth.NewHandler(s.health, small))
	guarded := service.NewConnectGuard(connectMux, s.guard)
	for _, prefix := range []string{
		syncv1connect.SyncServiceName, syncv1connect.AdminServiceName, grpchealth.HealthV1ServiceName,
		grpcreflect.ReflectV1ServiceName, grpcreflect.ReflectV1AlphaServiceName,
	} {
		mux.Handle("/"+prefix+"/", guarded)
	}

	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", s.readyz())
	mux.Handle("/", s.bridge) // LiveStore's sync protocol, at any other path, as the original
	return mux
}

// readyz answers /readyz: 503 while draining or while the database does not answer.
func (s *server) readyz() http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		if err := s.database.check(); err != nil {
			s.log.Warn("not ready: the database does not answer", "err", err)
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	}
}

// The errors of services that are turned off.
var (
	errAdminOff = connect.NewError(connect.CodeUnimplemented,
		errors.New("the admin API is off: start the server with --admin-secret or LIVESTORE_SYNC_ADMIN_SECRET"))
	errGRPCOff = connect.NewError(connect.CodeUnimplemented,
		errors.New("the grpc transport (Connect, gRPC, gRPC-Web) is off on this server: see --transports"))
)

// refuse is an interceptor that answers every call of a service that is turned off with err.
type refuse struct{ err error }

func (r refuse) WrapUnary(connect.UnaryFunc) connect.UnaryFunc {
	return func(context.Context, connect.AnyRequest) (connect.AnyResponse, error) { return nil, r.err }
}

func (r refuse) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (r refuse) WrapStreamingHandler(connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(context.Context, connect.StreamingHandlerConn) error { return r.err }
}
