package service_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/budget"
)

// TestStalledLivePullsStayUnderBudget: live pulls whose reader never reads hold pushes in their
// queues until the outgoing budget is exhausted; then the one holding the most is ended with
// ErrLivePullBehind (evicted by another's reservation, or refused its own), so the bytes held never exceed the budget, while a pull that keeps reading
// receives every event, in order, and is never ended.
func TestStalledLivePullsStayUnderBudget(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	b := budget.New(limit)
	reg := prometheus.NewRegistry()
	svc := newService(t, "", service.Options{
		OutgoingBudget: b, Metrics: service.NewMetrics(reg),
		// Only the budget bounds the queues here.
		Limits: service.Limits{LiveQueueBytes: 64 << 20, LiveQueueLength: 100_000},
	})
	lp := service.CountLivePulls(svc)
	const stalled = 4
	release := make(chan struct{})
	ended := make(chan error, stalled)
	for range stalled {
		go func() {
			ended <- svc.Pull(context.Background(), &syncv1.PullRequest{StoreId: "s", Live: true}, func(p *syncv1.PullResponse) error {
				if len(p.GetBatch()) > 0 {
					<-release // the reader stops at its first live page
				}
				return nil
			})
		}()
	}
	healthy := startLive(svc, &syncv1.PullRequest{StoreId: "s"})
	lp.WaitFor(t, stalled+1)

	const pushes, perPush = 200, 10 // 2,000 events of about 2.1 KB: 4 MB, four times the budget
	text := strings.Repeat("x", 2000)
	peak := int64(0)
	for i := range pushes {
		batch := events(uint64(i*perPush), perPush)
		for _, e := range batch {
			e.Args = fmt.Sprintf(`{"text":%q}`, text)
		}
		push(t, svc, "s", batch)
		peak = max(peak, b.Used())
	}
	close(release) // the stalled readers return from their page and find their pull ended
	for range stalled {
		if err := <-ended; !errors.Is(err, service.ErrLivePullBehind) {
			t.Fatalf("stalled pull ended with %v, want ErrLivePullBehind", err)
		}
	}
	checkExactlyOnce(t, healthy.waitFor(t, pushes*perPush), 0, pushes*perPush)
	healthy.cancel()
	if err := <-healthy.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("healthy pull ended with %v", err)
	}
	if peak > limit {
		t.Fatalf("held %d bytes, over the budget of %d", peak, limit)
	}
	if used := b.Used(); used != 0 {
		t.Fatalf("%d bytes still reserved after every pull ended", used)
	}
}

// TestLiveQueueBytes ends a live pull whose own queue holds more than Limits.LiveQueueBytes.
func TestLiveQueueBytes(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	svc := newService(t, "", service.Options{Metrics: service.NewMetrics(reg), Limits: service.Limits{LiveQueueBytes: 10_000}})
	lp := service.CountLivePulls(svc)
	release := make(chan struct{})
	ended := make(chan error, 1)
	go func() {
		ended <- svc.Pull(context.Background(), &syncv1.PullRequest{StoreId: "q", Live: true}, func(p *syncv1.PullResponse) error {
			if len(p.GetBatch()) > 0 {
				<-release
			}
			return nil
		})
	}()
	lp.WaitFor(t, 1)
	for i := range 200 { // about 100 bytes each: 20 KB
		push(t, svc, "q", events(uint64(i), 1))
	}
	// The pull was ended while its reader is still blocked: what it held is given back already.
	if used := svc.OutgoingBudget().Used(); used != 0 {
		t.Fatalf("%d bytes still held for a pull that was ended", used)
	}
	close(release)
	if err := <-ended; !errors.Is(err, service.ErrLivePullBehind) {
		t.Fatalf("pull ended with %v, want ErrLivePullBehind", err)
	}
	if used := svc.OutgoingBudget().Used(); used != 0 {
		t.Fatalf("%d bytes still reserved", used)
	}
}
