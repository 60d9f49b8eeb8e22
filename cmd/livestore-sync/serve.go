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
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
)

const (
	// defaultAddr is where LiveStore apps look for a local sync server.
	defaultAddr = "localhost:8787"
	// defaultDataDir is where the stores are kept, relative to the working directory.
	defaultDataDir = "./data"
	// shutdownTimeout bounds how long a shutdown waits for connections to finish.
	shutdownTimeout = 10 * time.Second
	// maxConnectMessageBytes bounds one Connect/gRPC request message: a push of
	// service.DefaultMaxPushBytes of events, plus room for protobuf framing.
	maxConnectMessageBytes = 2 * service.DefaultMaxPushBytes
	// readHeaderTimeout bounds how long a client may take to send request headers.
	readHeaderTimeout = 10 * time.Second
)

// serveConfig is what the serve command's flags set.
type serveConfig struct {
	addr        string
	dataDir     string
	adminSecret string
}

func parseServeFlags(args []string, stderr io.Writer) (serveConfig, error) {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", envOr("LIVESTORE_SYNC_ADDR", defaultAddr),
		"`host:port` to listen on for every protocol (env LIVESTORE_SYNC_ADDR)")
	fs.StringVar(&cfg.dataDir, "data-dir", envOr("LIVESTORE_SYNC_DATA_DIR", defaultDataDir),
		"`directory` of the Pebble database, created when missing (env LIVESTORE_SYNC_DATA_DIR)")
	fs.StringVar(&cfg.adminSecret, "admin-secret", os.Getenv("LIVESTORE_SYNC_ADMIN_SECRET"),
		"`secret` that turns on the AdminService; callers send it as 'Authorization: Bearer <secret>'.\n"+
			"Prefer the environment variable, which other users cannot see in the process list (env LIVESTORE_SYNC_ADMIN_SECRET)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: livestore-sync serve [flags]\n\n"+
			"Serves LiveStore's WebSocket and HTTP sync protocols and the livestore.sync.v1.SyncService\n"+
			"API (Connect, gRPC, gRPC-Web, with reflection and health) on one port.\n\nFlags:\n")
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
	return cfg, nil
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// serve runs the server until SIGINT or SIGTERM, then shuts it down gracefully.
func serve(args []string, stderr io.Writer) error {
	cfg, err := parseServeFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	engine, err := pebblestore.Open(cfg.dataDir, pebblestore.Options{})
	if err != nil {
		return err
	}
	svc, err := service.New(engine, service.Options{})
	if err != nil {
		engine.Close()
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		svc.Close()
		return fmt.Errorf("listen: %w", err)
	}

	health := grpchealth.NewStaticChecker(syncv1connect.SyncServiceName)
	srv := &http.Server{
		Handler:           newMux(svc, health, cfg.adminSecret),
		ReadHeaderTimeout: readHeaderTimeout,
		Protocols:         new(http.Protocols),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge, for gRPC without TLS

	dataDir, _ := filepath.Abs(cfg.dataDir)
	log.Info("livestore-sync listening", "addr", ln.Addr().String(), "data_dir", dataDir,
		"websocket", "ws://"+ln.Addr().String()+"/?storeId=STORE&transport=ws",
		"connect", "http://"+ln.Addr().String()+"/"+syncv1connect.SyncServiceName+"/")

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
	log.Info("shutting down: no new connections; finishing pushes, ending streams")
	health.SetStatus(syncv1connect.SyncServiceName, grpchealth.StatusNotServing)

	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	shutdownDone := make(chan error, 1)
	go func() { shutdownDone <- srv.Shutdown(shutdownCtx) }()
	// Closing the service ends live pulls, so that their connections can finish, waits for
	// running pushes and closes the database.
	closeErr := svc.Close()
	if err := <-shutdownDone; err != nil {
		log.Warn("connections still open at shutdown timeout; closing them", "err", err)
		srv.Close()
	}
	if closeErr != nil {
		return closeErr
	}
	log.Info("stopped cleanly")
	return nil
}

// newMux routes the Connect APIs, reflection and health to their handlers. The AdminService
// answers every call with Unimplemented unless adminSecret is set.
func newMux(svc *service.Service, health *grpchealth.StaticChecker, adminSecret string) *http.ServeMux {
	mux := http.NewServeMux()
	opts := []connect.HandlerOption{connect.WithReadMaxBytes(maxConnectMessageBytes)}
	mux.Handle(syncv1connect.NewSyncServiceHandler(service.NewHandler(svc), opts...))
	services := []string{syncv1connect.SyncServiceName, grpchealth.HealthV1ServiceName}
	adminGate := connect.WithInterceptors(adminOff{})
	if adminSecret != "" {
		adminGate = connect.WithInterceptors(service.AdminAuth(adminSecret))
		services = append(services, syncv1connect.AdminServiceName)
	}
	mux.Handle(syncv1connect.NewAdminServiceHandler(service.NewAdminHandler(svc), adminGate))
	reflector := grpcreflect.NewStaticReflector(services...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	mux.Handle(grpchealth.NewHandler(health))
	return mux
}

// adminOff answers every AdminService call while no admin secret is configured.
type adminOff struct{}

var errAdminOff = connect.NewError(connect.CodeUnimplemented,
	errors.New("the admin API is off: start the server with --admin-secret or LIVESTORE_SYNC_ADMIN_SECRET"))

func (adminOff) WrapUnary(connect.UnaryFunc) connect.UnaryFunc {
	return func(context.Context, connect.AnyRequest) (connect.AnyResponse, error) { return nil, errAdminOff }
}

func (adminOff) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (adminOff) WrapStreamingHandler(connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(context.Context, connect.StreamingHandlerConn) error { return errAdminOff }
}
