package service_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsUnderWorkload(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	svc := newService(t, "", service.Options{Metrics: service.NewMetrics(reg), Limits: service.Limits{LiveQueueLength: 1}})
	lp := service.CountLivePulls(svc)
	ctx := context.Background()

	live := startLive(svc, &syncv1.PullRequest{StoreId: "m"})
	lp.WaitFor(t, 1)
	stuck := make(chan struct{})
	var unstick sync.Once
	t.Cleanup(func() { unstick.Do(func() { close(stuck) }) }) // before the service closes, even on failure
	stuckDone := make(chan error, 1)
	stuckHolds := make(chan struct{}) // closed when the stuck pull holds its first live page
	go func() {
		stuckDone <- svc.Pull(ctx, &syncv1.PullRequest{StoreId: "m", Live: true}, func(p *syncv1.PullResponse) error {
			if len(p.GetBatch()) > 0 {
				close(stuckHolds)
				<-stuck
			}
			return nil
		})
	}()
	lp.WaitFor(t, 2)

	// The healthy pull takes each delivery before the next push (its queue holds only one), and
	// the stuck one holds the first, so that exactly the third push overflows the stuck queue.
	push(t, svc, "m", events(0, 3)) // ok, 3 events
	live.waitFor(t, 3)
	<-stuckHolds
	push(t, svc, "m", events(3, 2)) // ok, 2 events
	live.waitFor(t, 5)
	push(t, svc, "m", events(5, 1))                                                               // ok; the stuck pull's queue (1) overflows
	svc.Push(ctx, &syncv1.PushRequest{StoreId: "m", Batch: events(0, 1)[:1:1]})                   // identical retry: ok
	svc.Push(ctx, &syncv1.PushRequest{StoreId: "m", Batch: events(9, 2)})                         // server ahead
	svc.Push(ctx, &syncv1.PushRequest{StoreId: "m", Batch: events(6, 1), BackendId: new("nope")}) // mismatch
	svc.Push(ctx, &syncv1.PushRequest{StoreId: "", Batch: events(0, 1)})                          // invalid
	live.waitFor(t, 6)
	pullAll(t, svc, &syncv1.PullRequest{StoreId: "m"}) // one backlog page of 6

	expected := `
# HELP livestore_sync_pushes_total Push requests, by outcome.
# TYPE livestore_sync_pushes_total counter
livestore_sync_pushes_total{outcome="invalid"} 1
livestore_sync_pushes_total{outcome="mismatch"} 1
livestore_sync_pushes_total{outcome="ok"} 4
livestore_sync_pushes_total{outcome="server_ahead"} 1
# HELP livestore_sync_pushed_events_total Events in push requests, by outcome of the push.
# TYPE livestore_sync_pushed_events_total counter
livestore_sync_pushed_events_total{outcome="invalid"} 1
livestore_sync_pushed_events_total{outcome="mismatch"} 1
livestore_sync_pushed_events_total{outcome="ok"} 7
livestore_sync_pushed_events_total{outcome="server_ahead"} 2
# HELP livestore_sync_slow_consumers_dropped_total Live pulls ended because they fell behind.
# TYPE livestore_sync_slow_consumers_dropped_total counter
livestore_sync_slow_consumers_dropped_total 1
# HELP livestore_sync_stores_open Stores held in memory: those in use and up to MaxIdleStores idle ones.
# TYPE livestore_sync_stores_open gauge
livestore_sync_stores_open 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected),
		"livestore_sync_pushes_total", "livestore_sync_pushed_events_total",
		"livestore_sync_slow_consumers_dropped_total", "livestore_sync_stores_open"); err != nil {
		t.Fatal(err)
	}
	// Pages: 2 initial empty live pages, 3 live pages to the healthy pull, 1 to the stuck one,
	// and 1 backlog page.
	if got := testutil.ToFloat64(gatherCounter(t, reg, "livestore_sync_pull_pages_total")); got != 7 {
		t.Errorf("pull pages = %v, want 7", got)
	}
	if got := testutil.ToFloat64(gatherCounter(t, reg, "livestore_sync_pull_events_total")); got != 6+6+3 {
		t.Errorf("pull events = %v, want 15", got)
	}
	if n := testutil.CollectAndCount(reg, "livestore_sync_push_duration_seconds"); n != 1 {
		t.Errorf("push duration histogram: %d series", n)
	}
	unstick.Do(func() { close(stuck) })
	if err := <-stuckDone; err != service.ErrLivePullBehind {
		t.Errorf("stuck pull ended with %v", err)
	}
	live.cancel()
	<-live.done
	lp.WaitFor(t, 0)
}

// gatherCounter returns a collector that reports the current value of the named metric.
func gatherCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: "copy"})
			c.Add(f.GetMetric()[0].GetCounter().GetValue())
			return c
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}
