package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/livestore-sync/livestore-sync/service/storage"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
	"github.com/livestore-sync/livestore-sync/service/storage/pgstore"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	// postgresConnectTimeout bounds the connection to PostgreSQL and the schema's migration at
	// start: a server that cannot reach its database exits with an error instead of waiting.
	postgresConnectTimeout = 30 * time.Second
	// readyPingInterval is how long /readyz reuses its last check of the database, so that
	// probes, from load balancers or anyone, ping it at most once per interval.
	readyPingInterval = time.Second
	// readyPingTimeout bounds one check of the database by /readyz.
	readyPingTimeout = 2 * time.Second
)

// openedEngine is the storage engine the server runs on, with what the rest of serve needs of it.
type openedEngine struct {
	storage.Engine
	// collector is the engine's metrics.
	collector prometheus.Collector
	// logAttrs say which engine and where, for the startup log line (no password).
	logAttrs []any
	// ping checks that the engine's database answers, for /readyz; nil for an embedded engine.
	ping func(ctx context.Context) error
}

// openEngine opens PostgreSQL when --postgres is given, else Pebble in --data-dir.
func openEngine(cfg serveConfig, log *slog.Logger) (*openedEngine, error) {
	if cfg.postgresURL != "" {
		ctx, cancel := context.WithTimeout(context.Background(), postgresConnectTimeout)
		defer cancel()
		e, err := pgstore.Open(ctx, cfg.postgresURL, pgstore.Options{Schema: cfg.postgresSchema, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("--postgres: %w", err)
		}
		return &openedEngine{Engine: e, collector: e.Collector(), ping: e.Ping,
			logAttrs: []any{"engine", "postgres", "postgres", e.Where()}}, nil
	}
	e, err := pebblestore.Open(cfg.dataDir, pebblestore.Options{Logger: log, CacheSize: cfg.pebbleCache}) // it names itself component=pebble
	if err != nil {
		return nil, err
	}
	dataDir, _ := filepath.Abs(cfg.dataDir)
	return &openedEngine{Engine: e, collector: e.Collector(), logAttrs: []any{"engine", "pebble", "data_dir", dataDir}}, nil
}

// readiness answers whether the database answers, checking it at most once per
// readyPingInterval however many probes come.
type readiness struct {
	ping func(ctx context.Context) error
	// interval is how long an answer is reused; readyPingInterval when 0, none when negative.
	interval time.Duration

	mu      sync.Mutex // held during a check: probes meanwhile wait for its answer
	checked time.Time
	err     error
}

// check returns nil when the database answered within the last interval.
func (r *readiness) check() error {
	if r == nil || r.ping == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	interval := r.interval
	if interval == 0 {
		interval = readyPingInterval
	}
	if interval > 0 && !r.checked.IsZero() && time.Since(r.checked) < interval {
		return r.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyPingTimeout)
	defer cancel()
	r.err = r.ping(ctx)
	r.checked = time.Now()
	return r.err
}
