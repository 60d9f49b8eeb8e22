package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/livestore-sync/livestore-sync/auth"
	"github.com/livestore-sync/livestore-sync/bridge"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
	"github.com/livestore-sync/livestore-sync/service/storage/pgstore"
)

// serveConfig is what the serve command's flags set.
type serveConfig struct {
	addr    string
	dataDir string
	// postgresURL, when set, puts the stores in PostgreSQL instead of Pebble in dataDir.
	postgresURL    string
	postgresSchema string
	adminSecret    string
	logFormat      string
	logLevel       slog.Level
	drainDelay     time.Duration
	drainTimeout   time.Duration
	authTokens     listFlag
	jwtSecret      string
	jwksSource     string
	jwtClaims      auth.JWTClaims
	webhookURL     string
	webhookWait    time.Duration
	forwardHdrs    listFlag
	transports     listFlag
	corsOrigins    listFlag
	maxSockets     int
	tlsCert        string
	tlsKey         string
	maxHTTP        int
	maxGRPCCalls   int
	maxOutgoing    int64
	// pebbleCache is the size of Pebble's block cache in bytes (pebblestore.Options.CacheSize).
	pebbleCache int64
}

// listFlag is a flag that may be given several times, each value also split at commas.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

// transportNames are the values --transports takes.
var transportNames = []string{"ws", "ws03", "http", "grpc"}

// enabled reports whether a transport is on.
func (c serveConfig) enabled(transport string) bool { return slices.Contains(c.transports, transport) }

func parseServeFlags(args []string, stderr io.Writer) (serveConfig, error) {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", envOr("LIVESTORE_SYNC_ADDR", defaultAddr),
		"`host:port` to listen on for every protocol (env LIVESTORE_SYNC_ADDR)")
	fs.StringVar(&cfg.dataDir, "data-dir", envOr("LIVESTORE_SYNC_DATA_DIR", defaultDataDir),
		"`directory` of the Pebble database, created when missing; unused with --postgres (env LIVESTORE_SYNC_DATA_DIR)")
	fs.StringVar(&cfg.postgresURL, "postgres", "",
		"PostgreSQL (14+) database `URL` (postgres://user:password@host:5432/db?sslmode=…) that keeps the\n"+
			"stores instead of Pebble in --data-dir; any number of servers may share one database. The tables are\n"+
			"created at start. Prefer the environment variable, which other users cannot see in the process\n"+
			"list (env LIVESTORE_SYNC_POSTGRES_URL)")
	fs.StringVar(&cfg.postgresSchema, "postgres-schema", envOr("LIVESTORE_SYNC_POSTGRES_SCHEMA", pgstore.DefaultSchema),
		"PostgreSQL `schema` of the tables, created when missing; servers that share the stores use the same\n"+
			"(env LIVESTORE_SYNC_POSTGRES_SCHEMA)")
	fs.StringVar(&cfg.tlsCert, "tls-cert", envOr("LIVESTORE_SYNC_TLS_CERT", ""),
		"PEM `file` of the TLS certificate (chain); with --tls-key, every protocol is served over TLS\n"+
			"(wss://, https://, gRPC with HTTP/2), and renewed files are picked up within 10s (env LIVESTORE_SYNC_TLS_CERT)")
	fs.StringVar(&cfg.tlsKey, "tls-key", envOr("LIVESTORE_SYNC_TLS_KEY", ""),
		"PEM `file` of the TLS certificate's private key (env LIVESTORE_SYNC_TLS_KEY)")
	fs.StringVar(&cfg.adminSecret, "admin-secret", "",
		"`secret` that turns on the AdminService; callers send it as 'Authorization: Bearer <secret>'.\n"+
			"Prefer the environment variable, which other users cannot see in the process list (env LIVESTORE_SYNC_ADMIN_SECRET)")
	fs.Var(&cfg.authTokens, "auth-token",
		"`token` a client must send (as payload.authToken, or Authorization: Bearer) to connect by any\n"+
			"transport; repeat or separate with commas for several. Off when none is given\n"+
			"(env LIVESTORE_SYNC_AUTH_TOKENS, comma-separated). With several of --auth-token,\n"+
			"--auth-jwt-secret, --auth-jwks and --auth-webhook, a connection is\n"+
			"accepted if any of them accepts it")
	fs.StringVar(&cfg.jwtSecret, "auth-jwt-secret", "",
		"`secret` for client JWTs, sent where --auth-token's are: HS256/384/512-signed with it, with an exp\n"+
			"claim (nbf honoured; 30s leeway) and a storeId claim equal to the store, or a stores array\n"+
			"claim holding it or \"*\". Prefer the environment variable (env LIVESTORE_SYNC_AUTH_JWT_SECRET)")
	fs.StringVar(&cfg.jwksSource, "auth-jwks", "",
		"`file or URL` of a JSON Web Key Set: client JWTs signed with one of its keys (RS, PS, ES or\n"+
			"EdDSA; the token's kid names the key) are checked like --auth-jwt-secret's. A URL is fetched\n"+
			"at start (the server does not start without it), hourly, and on an unknown kid at most every\n"+
			"5 minutes (env LIVESTORE_SYNC_AUTH_JWKS)")
	fs.StringVar(&cfg.jwtClaims.Issuer, "auth-jwt-issuer", envOr("LIVESTORE_SYNC_AUTH_JWT_ISSUER", ""),
		"`issuer` (iss claim) client JWTs must carry, with --auth-jwt-secret or --auth-jwks\n"+
			"(env LIVESTORE_SYNC_AUTH_JWT_ISSUER)")
	fs.StringVar(&cfg.jwtClaims.Audience, "auth-jwt-audience", envOr("LIVESTORE_SYNC_AUTH_JWT_AUDIENCE", ""),
		"`audience` client JWTs must list in their aud claim, with --auth-jwt-secret or --auth-jwks\n"+
			"(env LIVESTORE_SYNC_AUTH_JWT_AUDIENCE)")
	fs.StringVar(&cfg.webhookURL, "auth-webhook", "",
		"`URL` asked about each connection: it receives a POST of JSON {storeId, payload, headers,\n"+
			"transport} and allows the connection by answering 2xx; anything else, or no answer within\n"+
			"--auth-webhook-timeout, refuses it (env LIVESTORE_SYNC_AUTH_WEBHOOK)")
	webhookWait := envOr("LIVESTORE_SYNC_AUTH_WEBHOOK_TIMEOUT", auth.DefaultWebhookTimeout.String())
	fs.StringVar(&webhookWait, "auth-webhook-timeout", webhookWait,
		"how long one --auth-webhook call may take, a `duration` (env LIVESTORE_SYNC_AUTH_WEBHOOK_TIMEOUT)")
	fs.Var(&cfg.forwardHdrs, "forward-headers",
		"request `headers` (case-insensitive, comma-separated) passed on to --auth-webhook, which\n"+
			"otherwise receives every header (and to the push and pull hooks of an embedding program)\n"+
			"(env LIVESTORE_SYNC_FORWARD_HEADERS)")
	fs.Var(&cfg.transports, "transports",
		"the `transports` to serve, comma-separated: ws (LiveStore WebSocket), ws03 (LiveStore 0.3's\n"+
			"WebSocket, makeCfSync), http (LiveStore HTTP), grpc (Connect, gRPC and gRPC-Web); a disabled\n"+
			"one answers with an error saying so (env LIVESTORE_SYNC_TRANSPORTS; default ws,ws03,http,grpc)")
	fs.Var(&cfg.corsOrigins, "cors-origins",
		"`origins` (scheme://host[:port], comma-separated, e.g. https://app.example.com) whose browsers may\n"+
			"use the sync protocols, or * for any origin (the default). Any origin is refused with an\n"+
			"--auth-webhook that receives cookies (no --forward-headers, or one listing Cookie): any page\n"+
			"could open WebSockets with its visitors' cookies (env LIVESTORE_SYNC_CORS_ORIGINS)")
	maxSockets := envOr("LIVESTORE_SYNC_MAX_WEBSOCKETS", strconv.Itoa(bridge.DefaultMaxWebSockets))
	fs.StringVar(&maxSockets, "max-websockets", maxSockets,
		"the most WebSockets open at once, a `number` (0: no limit); more are answered 503 with\n"+
			"Retry-After, and LiveStore clients retry later (env LIVESTORE_SYNC_MAX_WEBSOCKETS)")
	maxHTTP := envOr("LIVESTORE_SYNC_MAX_HTTP_REQUESTS", strconv.Itoa(bridge.DefaultMaxHTTPRequests))
	fs.StringVar(&maxHTTP, "max-http-requests", maxHTTP,
		"the most LiveStore HTTP transport requests served at once, a `number` (0: no limit); more\n"+
			"are answered 503 with Retry-After (env LIVESTORE_SYNC_MAX_HTTP_REQUESTS)")
	maxGRPC := envOr("LIVESTORE_SYNC_MAX_GRPC_CALLS", strconv.Itoa(service.DefaultMaxConnectCalls))
	fs.StringVar(&maxGRPC, "max-grpc-calls", maxGRPC,
		"the most Connect, gRPC and gRPC-Web calls served at once (live pulls included), a `number`\n"+
			"(0: no limit); more are answered Unavailable with Retry-After (env LIVESTORE_SYNC_MAX_GRPC_CALLS)")
	maxOutgoing := envOr("LIVESTORE_SYNC_MAX_OUTGOING_BYTES", strconv.Itoa(service.DefaultMaxOutgoingBytes))
	fs.StringVar(&maxOutgoing, "max-outgoing-bytes", maxOutgoing,
		"the most `bytes` held, across every client, for clients that have yet to read them: WebSocket\n"+
			"queues, live pulls' queues, HTTP responses (0: no limit). When it is reached, the connection\n"+
			"or live pull holding the most is ended (WebSocket close 1013, Connect RESOURCE_EXHAUSTED), and\n"+
			"the client reconnects and pulls again (env LIVESTORE_SYNC_MAX_OUTGOING_BYTES)")
	pebbleCache := envOr("LIVESTORE_SYNC_PEBBLE_CACHE_BYTES", strconv.Itoa(pebblestore.DefaultCacheSize))
	fs.StringVar(&pebbleCache, "pebble-cache-bytes", pebbleCache,
		"the size in `bytes` of Pebble's block cache, which keeps recently read events in memory\n"+
			"(outside the Go heap) so that pulls of them do not read the files again; unused with --postgres\n"+
			"(env LIVESTORE_SYNC_PEBBLE_CACHE_BYTES)")
	fs.StringVar(&cfg.logFormat, "log-format", envOr("LIVESTORE_SYNC_LOG_FORMAT", "text"),
		"log `format`: text or json (env LIVESTORE_SYNC_LOG_FORMAT)")
	level := envOr("LIVESTORE_SYNC_LOG_LEVEL", "info")
	fs.StringVar(&level, "log-level", level, "log `level`: debug, info, warn or error (env LIVESTORE_SYNC_LOG_LEVEL)")
	delay := envOr("LIVESTORE_SYNC_DRAIN_DELAY", "0s")
	fs.StringVar(&delay, "drain-delay", delay,
		"on shutdown, how long (a `duration`) /readyz answers 503 before connections are refused, so load balancers\n"+
			"stop sending traffic first, e.g. 5s (env LIVESTORE_SYNC_DRAIN_DELAY)")
	drain := envOr("LIVESTORE_SYNC_DRAIN_TIMEOUT", defaultDrainTimeout.String())
	fs.StringVar(&drain, "drain-timeout", drain,
		"the longest a shutdown takes, a `duration` such as 10s: running pushes finish and are answered,\n"+
			"connections still open a fifth of it (at most 2s) before its end are closed forcibly, then the\n"+
			"database closes (env LIVESTORE_SYNC_DRAIN_TIMEOUT)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: livestore-sync serve [flags]\n\n"+
			"Serves LiveStore's WebSocket and HTTP sync protocols and the livestore.sync.v1.SyncService\n"+
			"API (Connect, gRPC, gRPC-Web, with reflection and health) on one port, with /metrics,\n"+
			"/healthz and /readyz.\n\n"+
			"Tracing (OpenTelemetry) is off unless the standard OTEL_* variables turn it on:\n"+
			"OTEL_TRACES_EXPORTER=otlp|console, or OTEL_EXPORTER_OTLP_ENDPOINT=URL; OTEL_PROPAGATORS\n"+
			"(default tracecontext,baggage,b3), OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, ... as usual.\n\nFlags:\n")
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
	if cfg.postgresURL == "" { // the URL may hold a password, so --help never prints it
		cfg.postgresURL = os.Getenv("LIVESTORE_SYNC_POSTGRES_URL")
	}
	if cfg.jwksSource == "" { // a URL may hold credentials, so --help never prints it
		cfg.jwksSource = os.Getenv("LIVESTORE_SYNC_AUTH_JWKS")
	}
	if (cfg.jwtClaims != auth.JWTClaims{}) && cfg.jwtSecret == "" && cfg.jwksSource == "" {
		return cfg, usageError{errors.New("--auth-jwt-issuer and --auth-jwt-audience need --auth-jwt-secret or --auth-jwks")}
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
	origins, err := parseCORSOrigins(cfg.corsOrigins)
	if err != nil {
		return cfg, usageError{err}
	}
	cfg.corsOrigins = origins
	if err := checkCookieOrigins(cfg); err != nil {
		return cfg, usageError{err}
	}
	if len(cfg.transports) == 0 {
		cfg.transports.Set(envOr("LIVESTORE_SYNC_TRANSPORTS", strings.Join(transportNames, ",")))
	}
	for _, t := range cfg.transports {
		if !slices.Contains(transportNames, t) {
			return cfg, usageError{fmt.Errorf("--transports: unknown transport %q (known: %s)", t, strings.Join(transportNames, ", "))}
		}
	}
	for _, l := range []struct {
		flag, value string
		to          *int
	}{{"--max-websockets", maxSockets, &cfg.maxSockets}, {"--max-http-requests", maxHTTP, &cfg.maxHTTP}, {"--max-grpc-calls", maxGRPC, &cfg.maxGRPCCalls}} {
		n, err := strconv.Atoi(l.value)
		if err != nil || n < 0 {
			return cfg, usageError{fmt.Errorf("%s must be a whole number, 0 for no limit, not %q", l.flag, l.value)}
		}
		if *l.to = n; n == 0 {
			*l.to = -1 // bridge.Options: negative disables the limit
		}
	}
	if n, err := strconv.ParseInt(maxOutgoing, 10, 64); err != nil || n < 0 {
		return cfg, usageError{fmt.Errorf("--max-outgoing-bytes must be a whole number of bytes, 0 for no limit, not %q", maxOutgoing)}
	} else {
		cfg.maxOutgoing = n
	}
	if n, err := strconv.ParseInt(pebbleCache, 10, 64); err != nil || n <= 0 {
		return cfg, usageError{fmt.Errorf("--pebble-cache-bytes must be a positive whole number of bytes, not %q", pebbleCache)}
	} else {
		cfg.pebbleCache = n
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return cfg, usageError{errors.New("--tls-cert and --tls-key go together")}
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
