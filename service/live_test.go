package service_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/servicetest"
	"github.com/prometheus/client_golang/prometheus"
)

// liveCollector runs a live pull in a goroutine and collects the seq_nums it receives.
type liveCollector struct {
	mu     sync.Mutex
	seqs   []uint64
	pages  []*syncv1.PullResponse
	done   chan error
	cancel context.CancelFunc
	// grew receives a signal (dropped when one is pending) whenever a page arrives.
	grew chan struct{}
}

func startLive(svc *service.Service, req *syncv1.PullRequest) *liveCollector {
	ctx, cancel := context.WithCancel(context.Background())
	c := &liveCollector{done: make(chan error, 1), cancel: cancel, grew: make(chan struct{}, 1)}
	req.Live = true
	go func() {
		c.done <- svc.Pull(ctx, req, func(p *syncv1.PullResponse) error {
			c.mu.Lock()
			c.pages = append(c.pages, p)
			for _, e := range p.GetBatch() {
				c.seqs = append(c.seqs, e.GetEvent().GetSeqNum())
			}
			c.mu.Unlock()
			select {
			case c.grew <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	return c
}

// waitFor waits until the collector has at least n events and returns them, failing the test
// when the pull ends before, or after a generous bound against hanging.
func (c *liveCollector) waitFor(t *testing.T, n int) []uint64 {
	t.Helper()
	bound := time.NewTimer(20 * time.Second)
	defer bound.Stop()
	for {
		c.mu.Lock()
		got := append([]uint64(nil), c.seqs...)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-c.grew:
		case err := <-c.done:
			t.Fatalf("live pull ended with %v after %d of %d events", err, len(got), n)
		case <-bound.C:
			t.Fatalf("live pull has %d events, want %d", len(got), n)
		}
	}
}

// checkExactlyOnce fails unless seqs is from+1 … from+n, in order.
func checkExactlyOnce(t *testing.T, seqs []uint64, from uint64, n int) {
	t.Helper()
	if len(seqs) != n {
		t.Fatalf("received %d events, want %d", len(seqs), n)
	}
	for i, s := range seqs {
		if s != from+uint64(i)+1 {
			t.Fatalf("event %d is seq %d, want %d (gap or duplicate)", i, s, from+uint64(i)+1)
		}
	}
}

func TestLivePullReceivesLaterPushes(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	lp := service.CountLivePulls(svc)
	push(t, svc, "live", events(0, 2))
	c := startLive(svc, &syncv1.PullRequest{StoreId: "live"})
	if got := c.waitFor(t, 2); len(got) != 2 {
		t.Fatalf("backlog: got %v", got)
	}
	// Subscribed: a push before would reach the pull as catch-up pages counting what remains.
	lp.WaitFor(t, 1)
	push(t, svc, "live", events(2, 150)) // more than a page: two live pages
	checkExactlyOnce(t, c.waitFor(t, 152), 0, 152)
	c.mu.Lock()
	for _, p := range c.pages[1:] {
		if p.GetPageInfo().GetNoMore() == nil || len(p.GetBatch()) > 100 {
			t.Errorf("live page of %d events with %v", len(p.GetBatch()), p.GetPageInfo())
		}
	}
	c.mu.Unlock()
	c.cancel()
	if err := <-c.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("pull ended with %v, want context.Canceled", err)
	}
}

// Live pulls opened while other goroutines push see every event exactly once.
func TestLivePullsStartedDuringPushes(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	const store, pushes, perPush = "race", 200, 5
	var wg sync.WaitGroup
	wg.Add(1)
	started := make(chan struct{})
	go func() {
		defer wg.Done()
		for i := 0; i < pushes; i++ {
			if i == 10 {
				close(started)
			}
			push(t, svc, store, events(uint64(i*perPush), perPush))
		}
	}()
	<-started
	var pulls []*liveCollector
	for i := 0; i < 20; i++ {
		// Half from the start, half from a cursor inside the log.
		req := &syncv1.PullRequest{StoreId: store}
		if i%2 == 1 {
			req.Cursor = &syncv1.Cursor{EventSequenceNumber: 25}
		}
		c := startLive(svc, req)
		pulls = append(pulls, c)
		c.waitFor(t, 1) // this pull is under way before the next one starts
	}
	wg.Wait()
	for i, c := range pulls {
		from := uint64(0)
		if i%2 == 1 {
			from = 25
		}
		want := pushes*perPush - int(from)
		checkExactlyOnce(t, c.waitFor(t, want), from, want)
		c.cancel()
	}
}

// A live puller that does not read never blocks pushes; it is ended with ErrLivePullBehind.
func TestStuckLivePullDoesNotBlockPushes(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	svc := newService(t, "", service.Options{Metrics: service.NewMetrics(reg), Limits: service.Limits{LiveQueueLength: 4}})
	lp := service.CountLivePulls(svc)
	unblock := make(chan struct{})
	release := sync.OnceFunc(func() { close(unblock) })
	t.Cleanup(release) // before the service's Close, which waits for the stuck pull, should the test fail
	done := make(chan error, 1)
	go func() {
		done <- svc.Pull(context.Background(), &syncv1.PullRequest{StoreId: "stuck", Live: true}, func(p *syncv1.PullResponse) error {
			if len(p.GetBatch()) > 0 {
				<-unblock // stuck on the first live page
			}
			return nil
		})
	}()
	healthy := startLive(svc, &syncv1.PullRequest{StoreId: "stuck"})
	lp.WaitFor(t, 2) // both subscribed
	for i := 0; i < 20; i++ {
		push(t, svc, "stuck", events(uint64(i), 1)) // would hang if the stuck pull blocked pushes
		// In step with the healthy pull, whose queue then never holds more than one push: only
		// the stuck one falls behind, however slowly the healthy one is scheduled.
		healthy.waitFor(t, i+1)
	}
	checkExactlyOnce(t, healthy.waitFor(t, 20), 0, 20)
	release()
	if err := <-done; !errors.Is(err, service.ErrLivePullBehind) {
		t.Fatalf("stuck pull ended with %v, want ErrLivePullBehind", err)
	}
	healthy.cancel()
}

func TestCloseEndsLivePulls(t *testing.T) {
	t.Parallel()
	engineDir := t.TempDir()
	reg := prometheus.NewPedanticRegistry()
	svc := newService(t, engineDir, service.Options{Metrics: service.NewMetrics(reg)})
	lp := service.CountLivePulls(svc)
	c := startLive(svc, &syncv1.PullRequest{StoreId: "closing"})
	lp.WaitFor(t, 1) // subscribed
	if err := svc.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := <-c.done; !errors.Is(err, service.ErrClosed) {
		t.Fatalf("live pull ended with %v, want ErrClosed", err)
	}
	if err := svc.Push(context.Background(), &syncv1.PushRequest{StoreId: "closing", Batch: events(0, 1)}); !errors.Is(err, service.ErrClosed) {
		t.Fatalf("push after close: %v, want ErrClosed", err)
	}
}

// Racing pushes with the same parent: exactly one wins, every other gets ServerAheadError.
func TestRacingPushes(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	push(t, svc, "racing", events(0, 1))
	servicetest.RacePushes(t, []*service.Service{svc}, "racing", 16)
}

func TestPersistenceAcrossReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	svc := newService(t, dir, service.Options{})
	batch := events(0, 3)
	batch[1].Args = `{"text":"ünïcödé 🎉 \u2028","n":12345678901234567890.50,"nested":{"b":[1,{"a":null}],"a":true}}`
	push(t, svc, "persist", batch)
	first := pullAll(t, svc, &syncv1.PullRequest{StoreId: "persist"})
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	svc = newService(t, dir, service.Options{})
	again := pullAll(t, svc, &syncv1.PullRequest{StoreId: "persist"})
	if first[0].GetBackendId() != again[0].GetBackendId() {
		t.Fatalf("backend id changed across reopen: %q → %q", first[0].GetBackendId(), again[0].GetBackendId())
	}
	got := pulledEvents(again)
	for i, e := range batch {
		if got[i].GetArgs() != e.GetArgs() || got[i].GetSeqNum() != e.GetSeqNum() {
			t.Fatalf("event %d: got %v, want %v", i, got[i], e)
		}
	}
	if !again[0].GetBatch()[0].GetMetadata().GetCreatedAt().AsTime().Equal(first[0].GetBatch()[0].GetMetadata().GetCreatedAt().AsTime()) {
		t.Fatal("created_at changed across reopen")
	}
	push(t, svc, "persist", events(3, 1)) // the head survived too
}
