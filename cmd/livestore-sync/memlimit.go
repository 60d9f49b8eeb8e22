package main

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"time"
)

const (
	// memoryBaseline is the memory the server needs whatever its clients do: the runtime, Pebble's
	// memtables (pebblestore.DefaultMemTableSize, 64 MiB, of writes before a flush), buffers, and
	// room for the garbage of normal work (gcHeapFloor, 64 MiB). Pebble's block cache
	// (--pebble-cache-bytes) comes on top as it fills.
	memoryBaseline = 192 << 20
	// memoryPerGoroutine is what the state behind one goroutine may take: each connection has
	// one or a few (an idle WebSocket with a live pull has one and takes about 17 KB in all).
	memoryPerGoroutine = 24 << 10
	// memoryLimitInterval is how often the soft memory limit follows the number of goroutines.
	memoryLimitInterval = time.Second
)

// memoryLimit is the soft memory limit for the Go runtime: the memory the server may need by
// design, --max-outgoing-bytes for slow readers, the state of the connections open now
// (goroutines) and a baseline. 0 (none) when --max-outgoing-bytes is off.
func memoryLimit(maxOutgoing int64, goroutines int) int64 {
	if maxOutgoing <= 0 {
		return 0
	}
	return maxOutgoing + memoryBaseline + int64(goroutines)*memoryPerGoroutine
}

// governMemory keeps the Go runtime's soft memory limit at memoryLimit, following the number of
// open connections, until ctx ends; it returns the first limit set (0 when it sets none, as when
// GOMEMLIMIT sets one). Without a limit the runtime lets the heap grow to twice what is live
// before it collects, so memory freed by ending slow readers would be reused later rather than
// returned: with it, the server's memory stays near the budget for slow readers plus what its
// connections need.
func governMemory(ctx context.Context, maxOutgoing int64) int64 {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return 0
	}
	first := memoryLimit(maxOutgoing, runtime.NumGoroutine())
	if first == 0 {
		return 0
	}
	debug.SetMemoryLimit(first)
	go every(ctx, memoryLimitInterval, func() {
		debug.SetMemoryLimit(memoryLimit(maxOutgoing, runtime.NumGoroutine()))
	})
	return first
}

// every calls f every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
