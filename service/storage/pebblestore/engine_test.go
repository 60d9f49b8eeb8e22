package pebblestore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/livestore-sync/livestore-sync/service/storage"
	"github.com/livestore-sync/livestore-sync/service/storage/storagetest"
)

func openTest(t testing.TB, dir string) *Engine {
	t.Helper()
	e, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return e
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Engine { return openTest(t, t.TempDir()) })
}

func TestPersistence(t *testing.T) {
	t.Parallel()
	storagetest.RunPersistence(t, func(t *testing.T, dir string) storage.Engine { return openTest(t, dir) })
}

// TestMemFS runs the conformance and persistence suites on an in-memory file system
// (Options.FS) and checks that the engine wrote nothing to the directory on disk.
func TestMemFS(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Engine {
		e, err := Open("/data", Options{FS: vfs.NewMem()})
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
	fs := vfs.NewMem()
	storagetest.RunPersistence(t, func(t *testing.T, dir string) storage.Engine {
		e, err := Open(dir, Options{FS: fs})
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
	// A path that does not exist on disk: Open must not create it there.
	path := filepath.Join(t.TempDir(), "data")
	e, err := Open(path, Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{FS: fs}); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open on the same file system: %v, want ErrLocked", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open on a MemFS touched the disk: Stat(%s) = %v", path, err)
	}
}

func TestOpenCreatesDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "b", "data")
	e := openTest(t, dir)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "LOCK")); err != nil {
		t.Errorf("no LOCK file in the new directory: %v", err)
	}
}

func TestOpenNotADirectory(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(file, Options{})
	if err == nil || errors.Is(err, ErrLocked) {
		t.Fatalf("Open(a file) error = %v, want an error other than ErrLocked", err)
	}
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	e := openTest(t, t.TempDir())
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err == nil {
		t.Error("second Close returned nil")
	}
}

func checkLockedError(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open of a locked directory: error = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("error %q does not say the directory is in use", err)
	}
}

// Pebble refuses a second lock of a directory within one process too.
func TestOpenLockedInProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := openTest(t, dir)
	_, err := Open(dir, Options{})
	checkLockedError(t, err)
	t.Logf("error: %v", err)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// Released by Close.
	if err := openTest(t, dir).Close(); err != nil {
		t.Fatal(err)
	}
}

// holdDirEnv names the directory that TestHelperHoldLock, run as a child process, keeps open.
const holdDirEnv = "PEBBLESTORE_TEST_HOLD_DIR"

func TestOpenLockedByAnotherProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$")
	cmd.Env = append(os.Environ(), holdDirEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// stop closes the helper's stdin, so that it closes its engine and exits, and waits for it.
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper process: %v", err)
		}
	}
	defer stop()
	ready, err := bufio.NewReader(stdout).ReadString('\n')
	if ready != "locked\n" {
		t.Fatalf("helper process said %q, %v", ready, err)
	}

	_, err = Open(dir, Options{})
	checkLockedError(t, err)
	t.Logf("error: %v", err)

	stop()
	if err := openTest(t, dir).Close(); err != nil {
		t.Fatalf("Open after the other process exited: %v", err)
	}
}

// TestHelperHoldLock is not a test: run by TestOpenLockedByAnotherProcess as a child process, it
// opens the directory, says "locked" and keeps it open until its stdin closes.
func TestHelperHoldLock(t *testing.T) {
	t.Parallel()
	dir := os.Getenv(holdDirEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	e := openTest(t, dir)
	os.Stdout.WriteString("locked\n")
	io.Copy(io.Discard, os.Stdin)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

// By default Pebble's logging goes nowhere, not to the standard logger (stderr).
func TestDefaultLoggerSilent(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log.SetOutput(&buf)
	defer log.SetOutput(os.Stderr)
	dir := t.TempDir()
	for range 2 { // the second open replays the first one's WAL
		e := openTest(t, dir)
		writeSome(t, e)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if buf.Len() > 0 {
		t.Errorf("Pebble logged to the standard logger:\n%s", buf.String())
	}
}

func TestLoggerOption(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	dir := t.TempDir()
	for range 2 {
		e, err := Open(dir, Options{Logger: logger, CacheSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		writeSome(t, e)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("Pebble logged %d bytes", buf.Len())
	if buf.Len() > 0 && !strings.Contains(buf.String(), "component=pebble") {
		t.Errorf("log lines lack component=pebble:\n%s", buf.String())
	}
}

func TestNegativeCacheSize(t *testing.T) {
	t.Parallel()
	if _, err := Open(t.TempDir(), Options{CacheSize: -1}); err == nil {
		t.Error("Open with a negative cache size succeeded")
	}
}

func writeSome(t *testing.T, e *Engine) {
	t.Helper()
	if err := e.CreateStore("s", storage.StoreInfo{BackendID: "b", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := e.Append("s", 0, []storage.Record{{Name: "n", SeqNum: 1}}, storage.StoreInfo{BackendID: "b", Head: 1}); err != nil {
		t.Fatal(err)
	}
}

// Append refuses events that do not continue the log, since they would overwrite stored events.
func TestAppendRejectsBadSequence(t *testing.T) {
	t.Parallel()
	e := openTest(t, t.TempDir())
	defer e.Close()
	info := storage.StoreInfo{BackendID: "b"}
	if err := e.CreateStore("s", info); err != nil {
		t.Fatal(err)
	}
	ev := func(seq uint64) storage.Record { return storage.Record{Name: "n", SeqNum: seq} }
	good := []storage.Record{ev(1), ev(2), ev(3)}
	info.Head = 3
	if err := e.Append("s", 0, good, info); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		events []storage.Record
		head   uint64
	}{
		{"overwrites the head", []storage.Record{ev(3), ev(4)}, 4},
		{"overwrites older", []storage.Record{ev(1)}, 1},
		{"decreasing", []storage.Record{ev(5), ev(4)}, 4},
		{"repeated", []storage.Record{ev(4), ev(4)}, 4},
		{"head not the last event", []storage.Record{ev(4), ev(5)}, 4},
		{"head moved without events", nil, 4},
	}
	for _, tc := range tests {
		err := e.Append("s", 3, tc.events, storage.StoreInfo{BackendID: "x", Head: tc.head})
		if err == nil || errors.Is(err, storage.ErrHeadMismatch) || errors.Is(err, storage.ErrStoreNotFound) {
			t.Errorf("%s: Append error = %v, want a validation error", tc.name, err)
		}
	}
	recs, err := e.ReadEvents("s", 0, math.MaxUint64, 100)
	if err != nil || len(recs) != 3 {
		t.Fatalf("ReadEvents = %v, %v, want the 3 first events", recs, err)
	}
	if got, err := e.LoadStore("s"); err != nil || got.BackendID != "b" || got.Head != 3 {
		t.Errorf("LoadStore = %+v, %v, want the metadata unchanged", got, err)
	}
	// Appending no events with the same head replaces the metadata only.
	info.EventBytes = 42
	if err := e.Append("s", 3, nil, info); err != nil {
		t.Fatalf("Append of no events: %v", err)
	}
	if got, _ := e.LoadStore("s"); got.EventBytes != 42 {
		t.Errorf("metadata not replaced: %+v", got)
	}
}

func TestReadEventsNonPositiveLimit(t *testing.T) {
	t.Parallel()
	e := openTest(t, t.TempDir())
	defer e.Close()
	writeSome(t, e)
	for _, limit := range []int{0, -1, math.MinInt} {
		recs, err := e.ReadEvents("s", 0, math.MaxUint64, limit)
		if err != nil || len(recs) != 0 {
			t.Errorf("ReadEvents(limit %d) = %d events, %v, want none", limit, len(recs), err)
		}
	}
}

// Values that cannot be decoded surface as errors wrapping ErrCorrupt, never as panics or data.
func TestCorruptValues(t *testing.T) {
	t.Parallel()
	e := openTest(t, t.TempDir())
	defer e.Close()
	writeSome(t, e)
	k := keysFor("s")
	set := func(key, value []byte) {
		t.Helper()
		if err := e.db.Set(key, value, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}

	set(k.event(2), []byte{2, 0, 0}) // unknown version
	if _, err := e.ReadEvents("s", 0, 10, 10); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ReadEvents over an event of version 2: error = %v, want ErrCorrupt", err)
	}
	if n, err := e.CountEvents("s", 0, 10); err != nil || n != 2 {
		t.Errorf("CountEvents = %d, %v, want 2 (keys only)", n, err)
	}
	if recs, err := e.ReadEvents("s", 0, 1, 10); err != nil || len(recs) != 1 {
		t.Errorf("ReadEvents before the corrupt event = %d, %v, want 1 event", len(recs), err)
	}

	set(k.meta(), []byte{1, 5, 'a'}) // truncated
	// Append trusts the head the engine wrote last (heads.go); one it has not read since it
	// opened (as after a restart) it reads from disk.
	e.heads.forget("s")
	for name, err := range map[string]error{
		"LoadStore": func() error { _, err := e.LoadStore("s"); return err }(),
		"Append":    e.Append("s", 1, nil, storage.StoreInfo{Head: 1}),
	} {
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s over truncated metadata: error = %v, want ErrCorrupt", name, err)
		}
	}
}

// TestCacheKeepsAStore checks that the block cache holds a store that fits in it beside the
// memtables Pebble counts against the cache: once read, the store's events are read again from
// memory. By default that is a store larger than Pebble's own default cache (8 MiB); with small
// memtables that fill and flush meanwhile, the cache's room for blocks is still CacheSize.
func TestCacheKeepsAStore(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		opts Options
	}{
		{"default", Options{}},
		{"memtables of 4 MiB, 16 MiB of blocks", Options{MemTableSize: 4 << 20, CacheSize: 16 << 20}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.FS = vfs.NewMem()
			e, err := Open("", tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			const events = 40_000 // about 12 MB of blocks
			appendIncompressible(t, e, "big", events)
			// Into tables that stay: a compaction would replace the tables being cached.
			if err := e.db.Compact(context.Background(), []byte{0}, []byte{0xff}, false); err != nil {
				t.Fatal(err)
			}
			readAll := func() {
				t.Helper()
				for after := uint64(0); after < events; {
					recs, err := e.ReadEvents("big", after, events, 1_000)
					if err != nil || len(recs) == 0 {
						t.Fatalf("ReadEvents after %d: %d records, %v", after, len(recs), err)
					}
					after = recs[len(recs)-1].SeqNum
				}
			}
			readAll()
			before := e.db.Metrics().BlockCache
			if before.Size < 8<<20 {
				t.Fatalf("the cache holds %d bytes after reading the store, want more than 8 MiB", before.Size)
			}
			readAll()
			if after := e.db.Metrics().BlockCache; after.Misses != before.Misses {
				t.Errorf("reading the store again missed the cache %d times (cache: %d bytes)", after.Misses-before.Misses, after.Size)
			}
		})
	}
}

// appendIncompressible appends events 1 … n to a new store, each with about 300 bytes of args
// that do not compress much.
func appendIncompressible(t *testing.T, e *Engine, storeID string, n uint64) {
	t.Helper()
	if err := e.CreateStore(storeID, storage.StoreInfo{BackendID: "b", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	const batch = 1_000
	pad := strings.Repeat("x", 300)
	for head := uint64(0); head < n; head += batch {
		recs := make([]storage.Record, min(batch, n-head))
		for i := range recs {
			seq := head + uint64(i) + 1
			recs[i] = storage.Record{SeqNum: seq, ParentSeqNum: seq - 1, Name: "e", ClientID: "c", SessionID: "s",
				Args: `"` + strconv.FormatUint(seq*0x9E3779B97F4A7C15, 36) + pad[:200+seq%100] + `"`, CreatedAt: time.Now().UnixMilli()}
		}
		if err := e.Append(storeID, head, recs, storage.StoreInfo{BackendID: "b", Head: head + uint64(len(recs))}); err != nil {
			t.Fatal(err)
		}
	}
}
