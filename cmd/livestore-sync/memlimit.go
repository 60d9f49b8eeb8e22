package main

import (
	"math"
	"os"
	"runtime/debug"
)

const (
	// memoryBaseline is the memory the server needs whatever its clients do: the runtime, Pebble's
	// caches and memtables, buffers, and room for the garbage of normal work.
	memoryBaseline = 256 << 20
	// memoryPerConnection is what one open WebSocket or Connect call may need for its own state
	// (goroutines, buffers, its live pull): measured at about 50 KB for an idle WebSocket with a
	// live pull.
	memoryPerConnection = 64 << 10
)

// memoryLimit is the soft memory limit the server gives the Go runtime unless GOMEMLIMIT sets
// one: the memory it may need by design, --max-outgoing-bytes for slow readers plus the state of
// every connection it accepts plus a baseline. Without a limit the runtime lets the heap grow to
// twice what is live before collecting, so memory freed by ending slow readers would only be
// reused, never returned in time. 0 (no limit) when --max-outgoing-bytes or a connection bound is
// off.
func memoryLimit(cfg serveConfig) int64 {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set || cfg.maxOutgoing <= 0 || cfg.maxSockets < 0 || cfg.maxGRPCCalls < 0 {
		return 0
	}
	conns := int64(cfg.maxSockets) + int64(cfg.maxGRPCCalls)
	if conns > (math.MaxInt64-memoryBaseline-cfg.maxOutgoing)/memoryPerConnection {
		return 0
	}
	return cfg.maxOutgoing + memoryBaseline + conns*memoryPerConnection
}

// setMemoryLimit applies memoryLimit and returns it (0 when none was set).
func setMemoryLimit(cfg serveConfig) int64 {
	limit := memoryLimit(cfg)
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	return limit
}
