package service_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/prometheus/client_golang/prometheus"
)

// storesOpen reads the livestore_sync_stores_open gauge.
func storesOpen(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "livestore_sync_stores_open" {
			return fmt.Sprint(f.GetMetric()[0].GetGauge().GetValue())
		}
	}
	return "missing"
}

// TestIdleStoresAreDropped checks that stores beyond MaxIdleStores leave memory and come back
// from the engine intact: head, backend id and events.
func TestIdleStoresAreDropped(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	svc := newService(t, "", service.Options{MaxIdleStores: 2, Metrics: service.NewMetrics(reg)})
	push(t, svc, "a", events(0, 2))
	backendID := pullAll(t, svc, &syncv1.PullRequest{StoreId: "a"})[0].GetBackendId()
	for _, id := range []string{"b", "c", "d"} {
		push(t, svc, id, events(0, 1))
	}
	if got := storesOpen(t, reg); got != "2" {
		t.Fatalf("stores in memory: %s, want 2 (MaxIdleStores)", got)
	}

	// "a" was dropped (least recently used); it comes back as it was.
	conflicting := events(0, 1)
	conflicting[0].ClientId = "client-b"
	err := svc.Push(context.Background(), &syncv1.PushRequest{StoreId: "a", Batch: conflicting})
	var ahead *service.ServerAheadError
	if !errors.As(err, &ahead) || ahead.MinimumExpectedNum != 2 {
		t.Fatalf("push at a stale parent after the store was dropped: %v, want ServerAheadError at 2", err)
	}
	push(t, svc, "a", events(2, 1))
	pages := pullAll(t, svc, &syncv1.PullRequest{StoreId: "a"})
	if got := pulledEvents(pages); len(got) != 3 || got[2].GetSeqNum() != 3 {
		t.Fatalf("events after the store came back: %v", got)
	}
	if pages[0].GetBackendId() != backendID {
		t.Fatalf("backend id %s after the store came back, want %s", pages[0].GetBackendId(), backendID)
	}
}

// TestStoresInUseStay checks that a store with a live pull is never dropped, however many other
// stores are used meanwhile: the live pull keeps receiving its pushes.
func TestStoresInUseStay(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{MaxIdleStores: -1}) // keep no idle store
	push(t, svc, "x", events(0, 1))
	live := startLive(svc, &syncv1.PullRequest{StoreId: "x"})
	defer live.cancel()
	live.waitFor(t, 1)

	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("other-%d", i)
			for n := range 5 {
				if err := svc.Push(context.Background(), &syncv1.PushRequest{StoreId: id, Batch: events(uint64(n), 1)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	push(t, svc, "x", events(1, 2))
	checkExactlyOnce(t, live.waitFor(t, 3), 0, 3)
}

// TestIdleStoresConcurrent runs pushes and pulls on more stores than MaxIdleStores keeps, from
// many goroutines (run with -race): every store ends with all its events, in order.
func TestIdleStoresConcurrent(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{MaxIdleStores: 3})
	const stores, pushes = 12, 20
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range stores * pushes / 4 {
				id := fmt.Sprintf("s-%d", (i+w)%stores)
				// Push at the head as it is now; losing a race is fine, the error says so.
				pages := pullAll(t, svc, &syncv1.PullRequest{StoreId: id})
				head := uint64(len(pulledEvents(pages)))
				err := svc.Push(context.Background(), &syncv1.PushRequest{StoreId: id, Batch: events(head, 1)})
				var ahead *service.ServerAheadError
				if err != nil && !errors.As(err, &ahead) {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for i := range stores {
		got := pulledEvents(pullAll(t, svc, &syncv1.PullRequest{StoreId: fmt.Sprintf("s-%d", i)}))
		for j, e := range got {
			if e.GetSeqNum() != uint64(j+1) {
				t.Fatalf("store s-%d: event %d has seqNum %d", i, j, e.GetSeqNum())
			}
		}
	}
}
