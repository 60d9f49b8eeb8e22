package main

import "testing"

func TestMemoryLimit(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cfg   serveConfig
		gomem string // GOMEMLIMIT, "" when unset
		want  int64
	}{
		{"defaults", serveConfig{maxOutgoing: 256 << 20, maxSockets: 10_000, maxGRPCCalls: 1_000}, "",
			256<<20 + memoryBaseline + 11_000*memoryPerConnection},
		{"budget off", serveConfig{maxOutgoing: 0, maxSockets: 10_000, maxGRPCCalls: 1_000}, "", 0},
		{"no socket limit", serveConfig{maxOutgoing: 1 << 30, maxSockets: -1, maxGRPCCalls: 1_000}, "", 0},
		{"GOMEMLIMIT wins", serveConfig{maxOutgoing: 256 << 20, maxSockets: 10, maxGRPCCalls: 10}, "1GiB", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.gomem != "" {
				t.Setenv("GOMEMLIMIT", tt.gomem)
			}
			if got := memoryLimit(tt.cfg); got != tt.want {
				t.Fatalf("memoryLimit = %d, want %d", got, tt.want)
			}
		})
	}
}
