package pgstore

import (
	"fmt"
	"log/slog"
	"time"
)

const (
	// DefaultSchema is the schema of the engine's tables when Options.Schema is empty.
	DefaultSchema = "livestore_sync"
	// DefaultTimeout bounds each operation of the engine when Options.Timeout is 0: a database
	// that does not answer fails calls after it rather than holding them.
	DefaultTimeout = 30 * time.Second
)

// Options configures an Engine. The zero value is usable.
type Options struct {
	// Schema is the PostgreSQL schema of the engine's tables, created when missing;
	// DefaultSchema when empty. Nodes of one cluster use the same schema; tests use their own.
	Schema string
	// Timeout bounds each operation; DefaultTimeout when 0.
	Timeout time.Duration
	// MaxConns is the most connections the engine's pool opens (Watch opens one more of its
	// own); 0 leaves pgx's default (the larger of 4 and the number of CPUs), or the URL's
	// pool_max_conns.
	MaxConns int32
	// Logger receives the engine's messages, with component=postgres; slog.Default() when nil.
	Logger *slog.Logger
}

// withDefaults fills in the defaults.
func (o Options) withDefaults() Options {
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// check rejects options that cannot work.
func (o Options) check() error {
	switch {
	case o.Timeout < 0:
		return fmt.Errorf("pgstore: negative timeout %v", o.Timeout)
	case o.MaxConns < 0:
		return fmt.Errorf("pgstore: negative MaxConns %d", o.MaxConns)
	case len(o.Schema) > 63:
		return fmt.Errorf("pgstore: schema name %q is longer than PostgreSQL's 63 bytes", o.Schema)
	}
	return checkText("schema name", o.Schema)
}
