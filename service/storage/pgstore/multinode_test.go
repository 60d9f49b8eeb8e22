package pgstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/livestore-sync/livestore-sync/service/servicetest"
	"github.com/livestore-sync/livestore-sync/service/storage"
)

// nodeProbe follows one engine's Watch for Interrupt: the connection it listens on, and a gate
// that holds its reconnection while the node is interrupted.
type nodeProbe struct {
	mu       sync.Mutex
	pid      uint32
	listened chan struct{} // closed at the first LISTEN
	gate     chan struct{} // while not nil, reconnecting waits for it to close
}

func (p *nodeProbe) onListen(pid uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pid == 0 {
		close(p.listened)
	}
	p.pid = pid
}

func (p *nodeProbe) beforeReconnect(ctx context.Context) {
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
}

// The service's multi-node suite over Services on one PostgreSQL schema; an interrupted node's
// LISTEN connection is terminated by the server, and it reconnects only once restored.
func TestMultiNode(t *testing.T) {
	testURL(t)
	var mu sync.Mutex
	probes := map[storage.Shared]*nodeProbe{}
	servicetest.RunMultiNode(t, servicetest.Cluster{
		Open: func(t *testing.T, n int) []storage.Shared {
			schema := newSchema(t)
			out := make([]storage.Shared, n)
			for i := range out {
				e, err := Open(context.Background(), testURL(t), Options{Schema: schema, MaxConns: 4})
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				p := &nodeProbe{listened: make(chan struct{})}
				e.onListen, e.beforeReconnect = p.onListen, p.beforeReconnect
				mu.Lock()
				probes[e] = p
				mu.Unlock()
				out[i] = e // the suite closes it, through its Service
			}
			return out
		},
		Interrupt: func(t *testing.T, engines []storage.Shared, i int) func() {
			mu.Lock()
			p := probes[engines[i]]
			mu.Unlock()
			select {
			case <-p.listened:
			case <-time.After(testWait):
				t.Fatal("node's Watch never listened")
			}
			gate := make(chan struct{})
			p.mu.Lock()
			p.gate = gate
			pid := p.pid
			p.mu.Unlock()
			var ok bool
			other := engines[(i+1)%len(engines)].(*Engine)
			if err := other.pool.QueryRow(context.Background(), `SELECT pg_terminate_backend($1)`, int32(pid)).Scan(&ok); err != nil || !ok {
				t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
			}
			return func() {
				p.mu.Lock()
				p.gate = nil
				p.mu.Unlock()
				close(gate)
			}
		},
	})
}
