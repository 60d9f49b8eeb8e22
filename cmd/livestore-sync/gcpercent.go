package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

const (
	// gcHeapFloor is the least garbage the Go heap may gather between two collections. The
	// server's live heap is small (a few MB when idle: Pebble keeps its memtables and block cache
	// outside it), and the runtime's default, collecting each time the heap doubles, would then
	// collect every few MB allocated: about a hundred times in a cold pull of 200,000 events,
	// a fifth of the server's CPU. It is part of memoryBaseline.
	gcHeapFloor = 64 << 20
	// gcPercentInterval is how often GOGC follows the live heap.
	gcPercentInterval = time.Second
	// runtimeHeapMinimum is the heap size below which the runtime does not collect at GOGC 100
	// (4 MiB); it scales with GOGC, as the goal does.
	runtimeHeapMinimum = 4 << 20
)

// gcPercent returns the GOGC that starts the next collection when the heap reaches the larger of
// twice the live heap (GOGC 100, the runtime's default) and the live heap plus gcHeapFloor: a
// large live heap (many connections) is collected as by default, a small one less often. Below
// runtimeHeapMinimum, the goal is the minimum scaled by GOGC: gcHeapFloor in all.
func gcPercent(live uint64) int {
	return int(max(100, gcHeapFloor*100/max(live, runtimeHeapMinimum)))
}

// governGC keeps GOGC at gcPercent of the live heap, measured every gcPercentInterval, until ctx
// ends; it returns the first GOGC set, 0 when it sets none because the GOGC environment variable
// sets it. The soft memory limit (governMemory) still makes the runtime collect sooner when the
// process nears it.
func governGC(ctx context.Context) int {
	if _, set := os.LookupEnv("GOGC"); set {
		return 0
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	live := func() uint64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return sample[0].Value.Uint64()
	}
	current := gcPercent(live())
	debug.SetGCPercent(current)
	go every(ctx, gcPercentInterval, func() {
		if p := gcPercent(live()); p != current {
			debug.SetGCPercent(p)
			current = p
		}
	})
	return current
}
