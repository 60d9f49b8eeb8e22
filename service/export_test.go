package service

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// LivePullCounter counts a Service's live pulls as they subscribe and end, so that a test can
// wait for a number of them instead of polling a metric.
type LivePullCounter struct {
	mu      sync.Mutex
	n       int
	changed chan struct{}
}

// CountLivePulls returns a counter of svc's live pulls. Call it before any pull starts.
func CountLivePulls(svc *Service) *LivePullCounter {
	c := &LivePullCounter{changed: make(chan struct{}, 1)}
	svc.onLivePull = func(d int) {
		c.mu.Lock()
		c.n += d
		c.mu.Unlock()
		select {
		case c.changed <- struct{}{}:
		default:
		}
	}
	return c
}

// WaitFor waits until exactly n live pulls are running (subscribed, and none ended half way),
// failing the test after a generous bound against hanging.
func (c *LivePullCounter) WaitFor(t testing.TB, n int) {
	t.Helper()
	bound := time.NewTimer(20 * time.Second)
	defer bound.Stop()
	for {
		c.mu.Lock()
		got := c.n
		c.mu.Unlock()
		if got == n {
			return
		}
		select {
		case <-c.changed:
		case <-bound.C:
			t.Fatalf("%d live pulls, want %d", got, n)
		}
	}
}

// ObserveConnectGuardReleases makes guard, a handler NewConnectGuard returned, signal on the
// returned channel each time a call gives back its place under MaxCalls (a signal is dropped
// while one is pending), so that a test waits for a place instead of polling. Call it before
// the guard serves.
func ObserveConnectGuardReleases(guard http.Handler) <-chan struct{} {
	released := make(chan struct{}, 1)
	guard.(*connectGuard).onRelease = func() {
		select {
		case released <- struct{}{}:
		default:
		}
	}
	return released
}
