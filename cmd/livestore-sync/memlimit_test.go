package main

import (
	"context"
	"runtime/debug"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	for _, tt := range []struct {
		name        string
		maxOutgoing int64
		goroutines  int
		want        int64
	}{
		{"default budget, idle", 256 << 20, 20, 256<<20 + memoryBaseline + 20*memoryPerGoroutine},
		{"10,000 sockets", 256 << 20, 30_000, 256<<20 + memoryBaseline + 30_000*memoryPerGoroutine},
		{"budget off", 0, 20, 0},
	} {
		if got := memoryLimit(tt.maxOutgoing, tt.goroutines); got != tt.want {
			t.Errorf("%s: memoryLimit = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestGovernMemoryLeavesGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	before := debug.SetMemoryLimit(-1) // -1 reads the limit without changing it
	if got := governMemory(context.Background(), 256<<20); got != 0 {
		t.Fatalf("governMemory set %d although GOMEMLIMIT is set", got)
	}
	if after := debug.SetMemoryLimit(-1); after != before {
		t.Fatalf("limit changed from %d to %d", before, after)
	}
}

func TestGCPercent(t *testing.T) {
	for _, tt := range []struct {
		live uint64
		want int
	}{
		{0, 1600},                  // no collection yet: the runtime's minimum × 16 = the floor
		{1 << 10, 1600},            // tiny
		{runtimeHeapMinimum, 1600}, // an idle server: collect at 4 + 64 MiB
		{8 << 20, 800},             // collect at 8 + 64 MiB
		{gcHeapFloor / 2, 200},     // live + floor = 3 × live
		{gcHeapFloor, 100},         // from here on, the default: collect at twice live
		{gcHeapFloor * 2, 100},
	} {
		if got := gcPercent(tt.live); got != tt.want {
			t.Errorf("gcPercent(%d) = %d, want %d", tt.live, got, tt.want)
		}
	}
}

func TestGovernGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	set := governGC(ctx)
	if set < 100 || set > gcPercent(0) {
		t.Fatalf("governGC set GOGC %d, want within [100, %d]", set, gcPercent(0))
	}
	if got := debug.SetGCPercent(set); got != set {
		t.Fatalf("GOGC is %d after governGC returned %d", got, set)
	}
}

func TestGovernGCLeavesGOGC(t *testing.T) {
	t.Setenv("GOGC", "150")
	before := debug.SetGCPercent(123)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	if got := governGC(context.Background()); got != 0 {
		t.Fatalf("governGC set %d although GOGC is set", got)
	}
	if got := debug.SetGCPercent(123); got != 123 {
		t.Fatalf("GOGC changed to %d", got)
	}
}
