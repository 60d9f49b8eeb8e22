package ceiling

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/livestore-sync/livestore-sync/internal/loadgen"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
)

// PebbleOptions shape the Pebble commit ceiling: Writers goroutines each commit Commits
// batches of Batch values of ValueBytes bytes, each commit synced to disk, in a new database
// in a temporary directory under Dir.
type PebbleOptions struct {
	Dir        string // "": the system's temporary directory
	Writers    int
	Commits    int // per writer
	Batch      int
	ValueBytes int // 0: 200, about a benchmark event with its key
}

// PebbleCommits measures how many values a second Pebble itself commits, synced, in batches:
// what a push workload of the same shape (Writers stores, pushes of Batch events) could reach
// if the server cost nothing. Its latency is a commit's.
func PebbleCommits(ctx context.Context, o PebbleOptions) (*loadgen.Result, error) {
	if o.ValueBytes == 0 {
		o.ValueBytes = 200
	}
	if o.Writers < 1 || o.Commits < 1 || o.Batch < 1 {
		return nil, fmt.Errorf("pebble ceiling: writers, commits and batch must be at least 1")
	}
	dir, err := os.MkdirTemp(o.Dir, "livestore-sync-bench-pebble-")
	if err != nil {
		return nil, fmt.Errorf("pebble ceiling: %w", err)
	}
	defer os.RemoveAll(dir)
	// The server's options (memtable size, compactions, compression), so that the ceiling is
	// the engine the server runs.
	po := pebblestore.PebbleOptions(pebblestore.DefaultMemTableSize)
	po.Logger = quietLogger{}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("pebble ceiling: %w", err)
	}
	var (
		hist    loadgen.Histogram
		commits atomic.Uint64
		failed  atomic.Pointer[error]
	)
	value := make([]byte, o.ValueBytes)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	start := time.Now()
	done := make(chan struct{})
	for w := range o.Writers {
		go func() {
			defer func() { done <- struct{}{} }()
			key := make([]byte, 12)
			binary.BigEndian.PutUint32(key, uint32(w))
			for c := range o.Commits {
				if ctx.Err() != nil {
					err := ctx.Err()
					failed.CompareAndSwap(nil, &err)
					return
				}
				b := db.NewBatch()
				for i := range o.Batch {
					binary.BigEndian.PutUint64(key[4:], uint64(c*o.Batch+i))
					if err := b.Set(key, value, nil); err != nil {
						failed.CompareAndSwap(nil, &err)
						return
					}
				}
				t := time.Now()
				if err := b.Commit(pebble.Sync); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				hist.Record(time.Since(t))
				_ = b.Close()
				commits.Add(1)
			}
		}()
	}
	for range o.Writers {
		<-done
	}
	elapsed := time.Since(start)
	if err := db.Close(); err != nil {
		return nil, fmt.Errorf("pebble ceiling: %w", err)
	}
	if p := failed.Load(); p != nil {
		return nil, fmt.Errorf("pebble ceiling: %w", *p)
	}
	n := commits.Load()
	r := &loadgen.Result{
		Workload:     "push",
		Target:       "pebble",
		Seconds:      elapsed.Seconds(),
		Pushes:       n,
		Events:       n * uint64(o.Batch),
		EventsPerSec: float64(n*uint64(o.Batch)) / elapsed.Seconds(),
		Latency:      loadgen.LatencySummary("synced commit", &hist),
	}
	return r, nil
}

// quietLogger drops Pebble's log messages; fatal ones still end the process.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
