// Package loadgen generates load on a LiveStore sync backend over LiveStore 0.4's WebSocket
// protocol (Effect RPC JSON frames, bridge/PROTOCOL.md) and measures it: the workloads of
// `livestore-sync bench` (push, pull, fanout, sockets, mixed).
//
// It behaves like LiveStore's client where that matters for load: one push at a time per store,
// each waiting for its Exit; every Chunk acknowledged as soon as it is read; a Ping every 10 s. It checks that
// every pull receives every event exactly once and in order, and fails the run otherwise. It
// speaks only the wire protocol, so it runs against any server: livestore-sync, the original
// @livestore/sync-cf, or the null server of package ceiling.
//
// With Config.PID set, a workload also reports the server's CPU time and resident memory over
// its measured window (package procstat).
package loadgen
