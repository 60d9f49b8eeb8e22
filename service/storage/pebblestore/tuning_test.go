package pebblestore

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable/block"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/livestore-sync/livestore-sync/service/storage"
)

// TestL0WaitsForItsThreshold checks the engine's compaction tuning: stores pushed to in turn
// flush tables that each span all their ranges, and L0 keeps one sublevel per flush, without
// compacting, until it holds half of l0CompactionThreshold (Pebble's score for L0 is twice its
// sublevels over the threshold); at that flush a compaction of L0 starts. (Pebble schedules it
// before a flush's caller can read the metrics; with Pebble's default threshold of 4 it starts at
// the second flush.) The flushed tables are compressed with block.FastestCompression.
func TestL0WaitsForItsThreshold(t *testing.T) {
	t.Parallel()
	e, err := Open("", Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const stores = 4
	for s := range stores {
		if err := e.CreateStore(fmt.Sprint("store-", s), storage.StoreInfo{BackendID: "b", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	const flushes = l0CompactionThreshold / 2
	for f := range flushes {
		head := uint64(f) * 10
		for s := range stores {
			recs := make([]storage.Record, 10)
			for i := range recs {
				seq := head + uint64(i) + 1
				recs[i] = storage.Record{SeqNum: seq, ParentSeqNum: seq - 1, Name: "e", ClientID: "c",
					SessionID: "s", Args: `"` + strconv.FormatUint(seq, 10) + `"`, CreatedAt: 1}
			}
			if err := e.Append(fmt.Sprint("store-", s), head, recs, storage.StoreInfo{BackendID: "b", Head: head + 10}); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.db.Flush(); err != nil {
			t.Fatal(err)
		}
		m := e.db.Metrics()
		compactions := m.Compact.Count + int64(m.Compact.NumInProgress)
		if f+1 == flushes {
			if compactions == 0 {
				t.Fatalf("after %d flushes, L0 with %d sublevels is not being compacted", f+1, m.Levels[0].Sublevels)
			}
			break
		}
		if compactions != 0 {
			t.Fatalf("after %d flushes: %d compactions done, %d running; want none before %d sublevels",
				f+1, m.Compact.Count, m.Compact.NumInProgress, flushes)
		}
		if got := m.Levels[0].Sublevels; got != int32(f+1) {
			t.Fatalf("after %d flushes L0 has %d sublevels, want %d", f+1, got, f+1)
		}
		if f == 0 {
			checkCompression(t, e.db)
		}
	}
}

// checkCompression checks that L0's tables are compressed with block.FastestCompression.
func checkCompression(t *testing.T, db *pebble.DB) {
	t.Helper()
	levels, err := db.SSTables(pebble.WithProperties())
	if err != nil {
		t.Fatal(err)
	}
	want := block.FastestCompression.Name
	for _, table := range levels[0] {
		if got := table.Properties.CompressionName; got != want {
			t.Errorf("table %s is compressed with %q, want %q", table.FileNum, got, want)
		}
	}
}
