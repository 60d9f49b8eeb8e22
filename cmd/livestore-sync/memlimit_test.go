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
