package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/livestore-sync/livestore-sync/bridge"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
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
	// maxConnectMessageBytes bounds one Connect/gRPC request message: a push of
	// service.DefaultMaxPushBytes of events, plus room for protobuf framing.
	maxConnectMessageBytes = 2 * service.DefaultMaxPushBytes
	// readHeaderTimeout bounds how long a client may take to send request headers.
	readHeaderTimeout = 10 * time.Second
)

// serveConfig is what the serve command's flags set.
type serveConfig struct {
	addr         string
	dataDir      string
	adminSecret  string
	logFormat    string
	logLevel     slog.Level
	drainDelay   time.Duration
	drainTimeout time.Duration
	authTokens   listFlag
	jwtSecret    string
	webhookURL   string
	webhookWait  time.Duration
	forwardHdrs  listFlag
	transports   listFlag
	corsOrigins  listFlag
}

// transportNames are the values --transports takes.
var transportNames = []string{"ws", "http", "grpc"}

// enabled reports whether a transport is on.
func (c serveConfig) enabled(transport string) bool { return slices.Contains(c.transports, transport) }

func parseServeFlags(args []string, stderr io.Writer) (serveConfig, error) {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", envOr("LIVESTORE_SYNC_ADDR", defaultAddr),
		"`host:port` to listen on for every protocol (env LIVESTORE_SYNC_ADDR)")
	fs.StringVar(&cfg.dataDir, "data-dir", envOr("LIVESTORE_SYNC_DATA_DIR", defaultDataDir),
		"`directory` of the Pebble database, created when missing (env LIVESTORE_SYNC_DATA_DIR)")
	fs.StringVar(&cfg.adminSecret, "admin-secret", "",
		"`secret` that turns on the AdminService; callers send it as 'Authorization: Bearer <secret>'.\n"+
			"Prefer the environment variable, which other users cannot see in the process list (env LIVESTORE_SYNC_ADMIN_SECRET)")
	fs.Var(&cfg.authTokens, "auth-token",
		"`token` a client must send (as payload.authToken, or Authorization: Bearer) to connect by any\n"+
			"transport; repeat or separate with commas for several. Off when none is given\n"+
			"(env LIVESTORE_SYNC_AUTH_TOKENS, comma-separated). With several of --auth-token,\n"+
			"--auth-jwt-secret and --auth-webhook, a connection is accepted if any of them accepts it")
	fs.StringVar(&cfg.jwtSecret, "auth-jwt-secret", "",
		"`secret` for client JWTs, sent where --auth-token's are: HS256/384/512-signed with it, with an exp\n"+
			"claim (nbf honoured; 30s leeway) and a storeId claim equal to the store, or a stores array\n"+
			"claim holding it or \"*\". Prefer the environment variable (env LIVESTORE_SYNC_AUTH_JWT_SECRET)")
	fs.StringVar(&cfg.webhookURL, "auth-webhook", "",
		"`URL` asked about each connection: it receives a POST of JSON {storeId, payload, headers,\n"+
			"transport} and allows the connection by answering 2xx; anything else, or no answer within\n"+
			"--auth-webhook-timeout, refuses it (env LIVESTORE_SYNC_AUTH_WEBHOOK)")
	webhookWait := envOr("LIVESTORE_SYNC_AUTH_WEBHOOK_TIMEOUT", defaultWebhookTimeout.String())
	fs.StringVar(&webhookWait, "auth-webhook-timeout", webhookWait,
		"how long one --auth-webhook call may take (env LIVESTORE_SYNC_AUTH_WEBHOOK_TIMEOUT)")
	fs.Var(&cfg.forwardHdrs, "forward-headers",
		"request `headers` (case-insensitive, comma-separated) passed on to the push and pull hooks\n"+
			"(env LIVESTORE_SYNC_FORWARD_HEADERS)")
	fs.Var(&cfg.transports, "transports",
		"the `transports` to serve, comma-separated: ws (LiveStore WebSocket), http (LiveStore HTTP),\n"+
			"grpc (Connect, gRPC and gRPC-Web); a disabled one answers with an error saying so\n"+
			"(env LIVESTORE_SYNC_TRANSPORTS; default ws,http,grpc)")
	fs.Var(&cfg.corsOrigins, "cors-origins",
		"`origins` (e.g. https://app.example.com, comma-separated) whose browsers may use the sync\n"+
			"protocols; default any origin (env LIVESTORE_SYNC_CORS_ORIGINS)")
	fs.StringVar(&cfg.logFormat, "log-format", envOr("LIVESTORE_SYNC_LOG_FORMAT", "text"),
		"log `format`: text or json (env LIVESTORE_SYNC_LOG_FORMAT)")
	level := envOr("LIVESTORE_SYNC_LOG_LEVEL", "info")
	fs.StringVar(&level, "log-level", level, "log `level`: debug, info, warn or error (env LIVESTORE_SYNC_LOG_LEVEL)")
	delay := envOr("LIVESTORE_SYNC_DRAIN_DELAY", "0s")
	fs.StringVar(&delay, "drain-delay", delay,
		"on shutdown, how long /readyz answers 503 before connections are refused, so load balancers\n"+
			"stop sending traffic first, e.g. 5s (env LIVESTORE_SYNC_DRAIN_DELAY)")
	drain := envOr("LIVESTORE_SYNC_DRAIN_TIMEOUT", defaultDrainTimeout.String())
	fs.StringVar(&drain, "drain-timeout", drain,
		"how long a shutdown waits for pushes and connections to finish, e.g. 10s (env LIVESTORE_SYNC_DRAIN_TIMEOUT)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: livestore-sync serve [flags]\n\n"+
			"Serves LiveStore's WebSocket and HTTP sync protocols and the livestore.sync.v1.SyncService\n"+
			"API (Connect, gRPC, gRPC-Web, with reflection and health) on one port, with /metrics,\n"+
			"/healthz and /readyz.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, usageError{err}
	}
	if fs.NArg() > 0 {
		return cfg, usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	if cfg.adminSecret == "" { // read after parsing, so that --help never prints the secret
		cfg.adminSecret = os.Getenv("LIVESTORE_SYNC_ADMIN_SECRET")
	}
	if len(cfg.authTokens) == 0 { // likewise for the tokens
		cfg.authTokens.Set(os.Getenv("LIVESTORE_SYNC_AUTH_TOKENS"))
	}
	if cfg.jwtSecret == "" { // likewise for the JWT secret
		cfg.jwtSecret = os.Getenv("LIVESTORE_SYNC_AUTH_JWT_SECRET")
	}
	if cfg.webhookURL == "" { // the URL may hold credentials too
		cfg.webhookURL = os.Getenv("LIVESTORE_SYNC_AUTH_WEBHOOK")
	}
	if cfg.webhookURL != "" {
		if u, err := url.Parse(cfg.webhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cfg, usageError{errors.New("--auth-webhook must be an http:// or https:// URL")}
		}
	}
	if w, err := time.ParseDuration(webhookWait); err == nil && w > 0 {
		cfg.webhookWait = w
	} else {
		return cfg, usageError{fmt.Errorf("--auth-webhook-timeout must be a positive duration such as 2s, not %q", webhookWait)}
	}
	if len(cfg.forwardHdrs) == 0 {
		cfg.forwardHdrs.Set(os.Getenv("LIVESTORE_SYNC_FORWARD_HEADERS"))
	}
	if len(cfg.corsOrigins) == 0 {
		cfg.corsOrigins.Set(os.Getenv("LIVESTORE_SYNC_CORS_ORIGINS"))
	}
	if len(cfg.transports) == 0 {
		cfg.transports.Set(envOr("LIVESTORE_SYNC_TRANSPORTS", strings.Join(transportNames, ",")))
	}
	for _, t := range cfg.transports {
		if !slices.Contains(transportNames, t) {
			return cfg, usageError{fmt.Errorf("--transports: unknown transport %q (known: %s)", t, strings.Join(transportNames, ", "))}
		}
	}
	if cfg.logFormat != "text" && cfg.logFormat != "json" {
		return cfg, usageError{fmt.Errorf("--log-format must be text or json, not %q", cfg.logFormat)}
	}
	if err := cfg.logLevel.UnmarshalText([]byte(level)); err != nil {
		return cfg, usageError{fmt.Errorf("--log-level: %v", err)}
	}
	d, err := time.ParseDuration(drain)
	if err != nil || d <= 0 {
		return cfg, usageError{fmt.Errorf("--drain-timeout must be a positive duration such as 10s, not %q", drain)}
	}
	cfg.drainTimeout = d
	if cfg.drainDelay, err = time.ParseDuration(delay); err != nil || cfg.drainDelay < 0 {
		return cfg, usageError{fmt.Errorf("--drain-delay must be a duration such as 5s, not %q", delay)}
	}
	return cfg, nil
}

// payloadValidator combines the configured auth modes into one validator that accepts a
// connection when any of them does: the cheap local checks first, the webhook last. Nil when
// none is configured.
func payloadValidator(cfg serveConfig, log *slog.Logger) service.PayloadValidator {
	var validators []service.PayloadValidator
	if len(cfg.authTokens) > 0 {
		validators = append(validators, staticTokens(cfg.authTokens))
	}
	if cfg.jwtSecret != "" {
		validators = append(validators, jwtTokens([]byte(cfg.jwtSecret)))
	}
	if cfg.webhookURL != "" {
		validators = append(validators, webhookAuth(cfg.webhookURL, cfg.webhookWait, log.With("component", "auth-webhook")))
	}
	if len(validators) == 0 {
		return nil
	}
	return anyValidator(validators...)
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func newLogger(cfg serveConfig, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	if cfg.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the server until SIGINT or SIGTERM, then drains it.
func serve(args []string, stderr io.Writer) error {
	cfg, err := parseServeFlags(args, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	tr, err := setupTracing(context.Background(), os.Getenv, log)
	if err != nil {
		return err
	}
	defer flushTraces(tr, log)
	traceOpts, err := tr.connectOptions()
	if err != nil {
		return err
	}

	engine, err := pebblestore.Open(cfg.dataDir, pebblestore.Options{Logger: log.With("component", "pebble")})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		engine.Collector())
	metrics := service.NewMetrics(reg)
	opts := service.Options{Metrics: metrics, ForwardHeaders: cfg.forwardHdrs}
	opts.ValidatePayload = payloadValidator(cfg, log)
	svc, err := service.New(engine, opts)
	if err != nil {
		engine.Close()
		return err
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
			TracerProvider: tr.provider, Propagator: tr.propagator,
		}),
		health:    grpchealth.NewStaticChecker(syncv1connect.SyncServiceName),
		log:       log,
		traceOpts: traceOpts,
	}
	s.ready.Store(true)
	srv := &http.Server{
		Handler:           s.routes(reg, metrics, cfg.adminSecret, cfg.enabled("grpc")),
		ReadHeaderTimeout: readHeaderTimeout,
		Protocols:         new(http.Protocols),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge, for gRPC without TLS

	dataDir, _ := filepath.Abs(cfg.dataDir)
	log.Info("livestore-sync listening", "addr", ln.Addr().String(), "data_dir", dataDir,
		"websocket", "ws://"+ln.Addr().String()+"/?storeId=STORE&transport=ws",
		"connect", "http://"+ln.Addr().String()+"/"+syncv1connect.SyncServiceName+"/",
		"transports", cfg.transports.String(), "admin_api", cfg.adminSecret != "", "auth_tokens", len(cfg.authTokens),
		"auth_jwt", cfg.jwtSecret != "", "auth_webhook", cfg.webhookURL != "")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

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
	// traceOpts trace the Connect services' calls (none when tracing is off).
	traceOpts []connect.HandlerOption
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

// drain shuts the server down: not ready any more (for delay, still serving), then no new
// connections, WebSocket clients told to reconnect (close code 1012, service restart), running
// pushes finished, streams ended, and the database closed. It gives up waiting for connections
// after timeout.
func (s *server) drain(srv *http.Server, delay, timeout time.Duration) error {
	s.ready.Store(false)
	s.health.SetStatus(syncv1connect.SyncServiceName, grpchealth.StatusNotServing)
	if delay > 0 {
		s.log.Info("draining: not ready; still serving", "drain_delay", delay)
		time.Sleep(delay)
	}
	s.log.Info("draining: no new connections; finishing pushes, ending streams", "timeout", timeout)

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	shutdownDone := make(chan error, 1)
	go func() { shutdownDone <- srv.Shutdown(ctx) }()
	if err := s.bridge.Shutdown(ctx); err != nil {
		s.log.Warn("WebSockets still open at drain timeout", "err", err)
	}
	// Closing the service ends live pulls, so that their connections can finish, waits for
	// running pushes and closes the database.
	closeErr := s.svc.Close()
	if err := <-shutdownDone; err != nil {
		s.log.Warn("connections still open at drain timeout; closing them", "err", err)
		srv.Close()
	}
	if closeErr != nil {
		return closeErr
	}
	s.log.Info("stopped cleanly")
	return nil
}

// routes returns the server's handler: the Connect APIs with reflection and health on their
// own paths, /metrics, /healthz and /readyz, and LiveStore's sync protocol on every other path.
// The AdminService answers every call with Unimplemented unless adminSecret is set; the
// SyncService likewise unless grpc is on.
func (s *server) routes(reg *prometheus.Registry, metrics *service.Metrics, adminSecret string, grpc bool) http.Handler {
	mux := http.NewServeMux()
	observe := connect.WithInterceptors(observer{metrics: metrics, log: s.log})
	limit := connect.WithReadMaxBytes(maxConnectMessageBytes)
	syncGate := connect.WithInterceptors(refuse{errGRPCOff})
	services := []string{grpchealth.HealthV1ServiceName}
	if grpc {
		syncGate = connect.WithInterceptors()
		services = append(services, syncv1connect.SyncServiceName)
	}
	// Tracing comes first, so that the span covers the other interceptors.
	syncOpts := append(slices.Clone(s.traceOpts), observe, syncGate, limit)
	mux.Handle(syncv1connect.NewSyncServiceHandler(service.NewHandler(s.svc), syncOpts...))

	adminGate := connect.WithInterceptors(refuse{errAdminOff})
	if adminSecret != "" {
		adminGate = connect.WithInterceptors(service.AdminAuth(adminSecret))
		services = append(services, syncv1connect.AdminServiceName)
	}
	adminOpts := append(slices.Clone(s.traceOpts), observe, adminGate)
	mux.Handle(syncv1connect.NewAdminServiceHandler(service.NewAdminHandler(s.svc), adminOpts...))
	reflector := grpcreflect.NewStaticReflector(services...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	mux.Handle(grpchealth.NewHandler(s.health))

	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("/", s.bridge) // LiveStore's sync protocol, at any other path, as the original
	return mux
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
