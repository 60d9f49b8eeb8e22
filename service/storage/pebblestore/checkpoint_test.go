package pebblestore

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livestore-sync/livestore-sync/service/storage"
	"github.com/livestore-sync/livestore-sync/service/storage/storagetest"
)

func TestCheckpoint(t *testing.T) {
	t.Parallel()
	storagetest.RunCheckpoint(t, func(t *testing.T, dir string) storage.Engine { return openTest(t, dir) })
}

// Checkpoint into a path that exists says so, with an error that wraps fs.ErrExist; into a path
// whose parents are missing, it creates them.
func TestCheckpointPaths(t *testing.T) {
	t.Parallel()
	e := openTest(t, t.TempDir())
	defer e.Close()
	writeSome(t, e)
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{dir, file} {
		err := e.Checkpoint(path)
		if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "must not exist") {
			t.Errorf("Checkpoint(%s) error = %v, want fs.ErrExist saying it must not exist", path, err)
		}
	}
	nested := filepath.Join(dir, "a", "b", "checkpoint")
	if err := e.Checkpoint(nested); err != nil {
		t.Fatalf("Checkpoint(%s): %v", nested, err)
	}
	c := openTest(t, nested)
	defer c.Close()
	if info, err := c.LoadStore("s"); err != nil || info.Head != 1 {
		t.Errorf("checkpoint LoadStore = %+v, %v, want head 1", info, err)
	}
	if err := e.Checkpoint(filepath.Join(file, "sub")); err == nil || errors.Is(err, fs.ErrExist) {
		t.Errorf("Checkpoint under a file: error = %v, want another error", err)
	}
}
