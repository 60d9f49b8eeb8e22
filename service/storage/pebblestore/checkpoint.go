package pebblestore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/cockroachdb/pebble/v2"
)

// Checkpoint implements storage.Engine with Pebble's checkpoint: Pebble flushes and syncs its
// write-ahead log, then hard-links the database's immutable table files into dir (copying them
// when dir is on another file system) and copies its manifest and write-ahead log, while writes
// go on. Every batch is one write-ahead log record, so the copy holds each write wholly or not at
// all. Open opens the copy like any data directory; it shares no mutable file with the engine.
//
// dir must not exist: when it does, Checkpoint returns an error wrapping fs.ErrExist and leaves it
// alone. Missing parent directories are created.
func (e *Engine) Checkpoint(dir string) error {
	_, err := os.Lstat(dir)
	switch {
	case err == nil:
		return fmt.Errorf("pebblestore: checkpoint into %s: %w (the directory must not exist yet)", dir, fs.ErrExist)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("pebblestore: checkpoint into %s: %w", dir, err)
	}
	if err := e.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("pebblestore: checkpoint into %s: %w", dir, err)
	}
	return nil
}
