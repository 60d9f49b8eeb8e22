package pebblestore

import (
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable/block"
)

// How Pebble is shaped for an event log. Every store's events are appended at the end of its own
// key range, so a flushed memtable holds a little of every store pushed to since the last flush,
// and each flushed table spans all of their ranges: Pebble cannot move such tables down the tree
// untouched, it rewrites them together with every table below whose range they span. Measured
// with 20 stores pushed 20,000 events at a time (`livestore-sync bench push --warmup 2`, three
// runs each, and the same appends to the same 20 stores in Pebble alone, 12.8 million events):
//
//   - Pebble scores L0 as twice its sublevels over L0CompactionThreshold and compacts it at a
//     score of 1: by default (4) as soon as it holds 2 sublevels, on a busy server every other
//     flush, each time rewriting the base level too; compactions took a quarter of the
//     server's CPU. With l0CompactionThreshold, L0 is compacted at 8 sublevels, rewriting the
//     base level four times less often: server CPU per pushed event 4.8–6.3 → 3.2–4.1 µs, and
//     Pebble alone 3.4 → 2.9 µs per event over the 12.8 million. A pull merges the sublevels it
//     crosses; cold pulls cost the same per event within noise (1.1–1.4 µs).
//   - Writes stop while L0 holds l0StopWritesThreshold sublevels. Pebble's default, 12, was
//     reached under sustained pushes on 2 cores with the default compaction threshold, and a
//     push waits out the stop; the bound is kept well above the compaction threshold.
//   - Blocks are compressed with Pebble's fastest setting (block.FastestCompression: MinLZ on
//     amd64, Snappy on arm64) rather than Snappy everywhere: events compress about 5× either
//     way, and MinLZ takes less CPU to write and to read (Pebble alone: 2.9 → 2.7 µs per
//     event). Each block records its compression, so tables written before keep being read.
const (
	// l0CompactionThreshold is Pebble's L0CompactionThreshold: L0 is compacted into the level
	// below once it holds half this many sublevels (its read amplification); Pebble's default
	// is 4.
	l0CompactionThreshold = 16
	// l0StopWritesThreshold is the number of L0 sublevels at which Pebble stops writes until a
	// compaction has made room; Pebble's default is 12.
	l0StopWritesThreshold = 64
)

// PebbleOptions returns the options of Pebble this engine runs with, before Open adds the file
// system, the lock, the logger and the cache: memtables of memTableSize bytes
// (DefaultMemTableSize unless Options say otherwise), L0's compaction thresholds and the blocks'
// compression (see the constants above). Open uses them; so does `livestore-sync bench
// --ceiling`, so that its Pebble ceiling is the engine the server runs.
func PebbleOptions(memTableSize uint64) *pebble.Options {
	o := &pebble.Options{
		FormatMajorVersion:    pebble.FormatNewest,
		MemTableSize:          memTableSize,
		L0CompactionThreshold: l0CompactionThreshold,
		L0StopWritesThreshold: l0StopWritesThreshold,
	}
	for i := range o.Levels {
		o.Levels[i].Compression = func() *block.CompressionProfile { return block.FastestCompression }
	}
	return o
}
