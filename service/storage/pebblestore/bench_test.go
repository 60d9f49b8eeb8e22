package pebblestore

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livestore-sync/livestore-sync/service/storage"
	"github.com/livestore-sync/livestore-sync/service/storage/storagetest"
)

const benchBatch = 100

// benchEncoded is whether the benchmarks' events carry their encoding, as the service appends
// them (stored in version 2), or only their fields, as an older version stored them.
var benchEncoded = true

// benchEvents returns n events after head, with args of about 100 bytes.
func benchEvents(head uint64, n int) []storage.Record {
	evs := make([]storage.Record, n)
	for i := range evs {
		seq := head + uint64(i) + 1
		evs[i] = storage.Record{
			Name:         "v1.TodoCreated",
			Args:         `{"id":"` + strconv.FormatUint(seq, 10) + `","text":"buy some milk and some bread, then walk the dog","done":false}`,
			SeqNum:       seq,
			ParentSeqNum: seq - 1,
			ClientID:     "client-1",
			SessionID:    "session-1",
			CreatedAt:    time.Now().UnixMilli(),
		}
		if benchEncoded {
			evs[i] = storagetest.WithEncoded(evs[i])
		}
	}
	return evs
}

// benchStore appends n events to a new store id of e in batches, returning its metadata.
func benchStore(b *testing.B, e *Engine, id string, n int) storage.StoreInfo {
	info := storage.StoreInfo{BackendID: "bench", CreatedAt: time.Now()}
	if err := e.CreateStore(id, info); err != nil {
		b.Fatal(err)
	}
	for info.Head < uint64(n) {
		info = benchAppend(b, e, id, info)
	}
	return info
}

// benchBatchAfter returns the next batch of events of the store whose metadata is info, and its
// metadata after them.
func benchBatchAfter(info storage.StoreInfo) ([]storage.Record, storage.StoreInfo) {
	evs := benchEvents(info.Head, benchBatch)
	next := info
	for i := range evs {
		next.EventCount++
		next.EventBytes += uint64(evs[i].Size())
	}
	next.Head = evs[len(evs)-1].SeqNum
	return evs, next
}

func benchAppend(b *testing.B, e *Engine, id string, info storage.StoreInfo) storage.StoreInfo {
	evs, next := benchBatchAfter(info)
	if err := e.Append(id, info.Head, evs, next); err != nil {
		b.Fatal(err)
	}
	return next
}

// BenchmarkAppend100 appends batches of 100 events to one store, each batch synced, the events
// encoded (as now) and as fields (as older versions stored them).
func BenchmarkAppend100(b *testing.B) {
	b.Run("encoded", benchmarkAppend100)
	benchEncoded = false
	defer func() { benchEncoded = true }()
	b.Run("fields", benchmarkAppend100)
}

func benchmarkAppend100(b *testing.B) {
	e := openTest(b, b.TempDir())
	defer e.Close()
	info := benchStore(b, e, "bench", 0)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer() // making the events is not the engine's work
		evs, next := benchBatchAfter(info)
		b.StartTimer()
		if err := e.Append("bench", info.Head, evs, next); err != nil {
			b.Fatal(err)
		}
		info = next
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppend100Parallel appends batches of 100 events to one store per goroutine: Pebble
// groups their syncs.
func BenchmarkAppend100Parallel(b *testing.B) {
	e := openTest(b, b.TempDir())
	defer e.Close()
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprintf("bench-%d", n.Add(1))
		info := benchStore(b, e, id, 0)
		for pb.Next() {
			info = benchAppend(b, e, id, info)
		}
	})
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkReadEvents100 reads pages of 100 events from a store of 10,000, stored encoded (as
// now) and as fields (as older versions stored them).
func BenchmarkReadEvents100(b *testing.B) {
	b.Run("encoded", benchmarkReadEvents100)
	benchEncoded = false
	defer func() { benchEncoded = true }()
	b.Run("fields", benchmarkReadEvents100)
}

func benchmarkReadEvents100(b *testing.B) {
	const total = 10_000
	e := openTest(b, b.TempDir())
	defer e.Close()
	benchStore(b, e, "bench", total)
	// Other stores around it, so that bounds matter.
	benchStore(b, e, "bencg", 1000)
	benchStore(b, e, "bench2", 1000)
	after := uint64(0)
	b.ResetTimer()
	for b.Loop() {
		recs, err := e.ReadEvents("bench", after, after+benchBatch, benchBatch)
		if err != nil || len(recs) != benchBatch {
			b.Fatalf("ReadEvents = %d, %v", len(recs), err)
		}
		after = (after + benchBatch) % total
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkCountEvents counts the 10,000 events of a store.
func BenchmarkCountEvents(b *testing.B) {
	const total = 10_000
	e := openTest(b, b.TempDir())
	defer e.Close()
	benchStore(b, e, "bench", total)
	b.ResetTimer()
	for b.Loop() {
		if n, err := e.CountEvents("bench", 0, total); err != nil || n != total {
			b.Fatalf("CountEvents = %d, %v", n, err)
		}
	}
}

// BenchmarkListStores lists, 100 a page, 200 stores of 1,000 events each: it reads the stores'
// metadata keys, not their events.
func BenchmarkListStores(b *testing.B) {
	const stores = 200
	e := openTest(b, b.TempDir())
	defer e.Close()
	for i := range stores {
		benchStore(b, e, fmt.Sprintf("bench-%03d", i), 1000)
	}
	b.ResetTimer()
	for b.Loop() {
		after, n := "", 0
		for {
			page, err := e.ListStores(after, 100)
			if err != nil {
				b.Fatal(err)
			}
			n += len(page)
			if len(page) < 100 {
				break
			}
			after = page[len(page)-1].ID
		}
		if n != stores {
			b.Fatalf("listed %d stores, want %d", n, stores)
		}
	}
	b.ReportMetric(float64(b.N*stores)/b.Elapsed().Seconds(), "stores/s")
}
