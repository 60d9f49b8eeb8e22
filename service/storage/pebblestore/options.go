package pebblestore

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Options configures an Engine. The zero value is ready to use.
type Options struct {
	// Logger receives Pebble's log messages: its informational messages at Info level and its
	// errors at Error level. Nil discards them (Pebble would otherwise write to the standard
	// logger, that is stderr). Whatever the logger, a fatal error of Pebble (such as detected
	// data corruption) panics after being logged.
	Logger *slog.Logger
	// CacheSize is how many bytes of the tables' blocks Pebble's block cache keeps, decompressed,
	// in memory (outside the Go heap); 0 means DefaultCacheSize. (Pebble counts its memtables
	// against its cache; Open makes the cache larger by two memtables, so that their reservation
	// does not take the blocks' room.)
	CacheSize int64
	// MemTableSize is the most bytes of writes Pebble keeps in one memtable before it flushes
	// them to a table; 0 means DefaultMemTableSize. Pebble starts with a small memtable and
	// doubles it up to this size, so an idle engine does not hold it.
	MemTableSize uint64
	// FS is the file system that holds the data directory: Open creates the directory, takes its
	// lock and has Pebble keep all its files there. Nil means vfs.Default, the operating system's
	// file system; tests and fuzz targets pass an in-memory one (vfs.NewMem, or
	// vfs.NewCrashableMem to simulate crashes). (Checkpoint writes its copy through FS too, but
	// checks that its directory does not exist yet on the operating system's file system.)
	FS vfs.FS
}

// DefaultMemTableSize is the memtable size of an engine whose Options leave it 0: 64 MiB, as
// CockroachDB runs Pebble, rather than Pebble's own 4 MiB. An event log is written in bursts of
// appends; larger memtables flush fewer, larger tables, which compactions then rewrite less
// often (with 20 stores × 20,000 events pushed, it took 28 % less server CPU per event, and recent
// events are pulled from memory).
const DefaultMemTableSize = 64 << 20

// DefaultCacheSize is the block cache size of an engine whose Options leave it 0: 128 MiB of
// blocks. Pulls read a store's events in order from the start; a store of 200,000 events (about
// 48 MB of blocks) fits, so that its next pull is served from memory. (Before, the cache was
// Pebble's default of 8 MiB, all of it reserved by the 64 MiB memtables: every pull read each
// block again from the files and decompressed it.) The cache fills only with blocks that are
// read.
const DefaultCacheSize = 128 << 20

// pebbleLogger adapts a *slog.Logger, or nothing, to Pebble's Logger.
type pebbleLogger struct {
	l *slog.Logger // nil discards
}

var _ pebble.Logger = pebbleLogger{}

// Infof implements pebble.Logger.
func (p pebbleLogger) Infof(format string, args ...any) {
	if p.l != nil && p.l.Enabled(context.Background(), slog.LevelInfo) {
		p.l.Info(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

// Errorf implements pebble.Logger.
func (p pebbleLogger) Errorf(format string, args ...any) {
	if p.l != nil {
		p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

// Fatalf implements pebble.Logger: it logs and panics, since Pebble does not expect to go on.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p.l != nil {
		p.l.Error(msg, "component", "pebble", "fatal", true)
	}
	panic("pebblestore: fatal pebble error: " + msg)
}
