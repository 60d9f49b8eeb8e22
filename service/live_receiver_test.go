package service_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
)

// receiver is a service.LiveReceiver that records what a PullAsync pull hands it, and checks
// the receiver's contract: Deliver calls never overlap, and none comes after or during Ended,
// which comes once.
type receiver struct {
	// refuseAfter, when above 0, makes Deliver refuse once it has taken that many pages.
	refuseAfter int

	mu        sync.Mutex
	backlog   []uint64 // seq_nums of the pages given to send
	live      []uint64 // seq_nums of the pages given to Deliver
	delivered int      // pages taken by Deliver
	grew      chan struct{}
	inDeliver atomic.Bool
	ended     atomic.Bool
	violation atomic.Pointer[string]
	done      chan error
}

func newReceiver() *receiver {
	return &receiver{grew: make(chan struct{}, 1), done: make(chan error, 2)}
}

func (r *receiver) fail(msg string) { r.violation.CompareAndSwap(nil, &msg) }

// send is the pull's send: backlog and catch-up pages.
func (r *receiver) send(p *service.Page) error {
	r.mu.Lock()
	resp, err := p.Response()
	if err != nil {
		r.mu.Unlock()
		return err
	}
	for _, e := range resp.GetBatch() {
		r.backlog = append(r.backlog, e.GetEvent().GetSeqNum())
	}
	r.mu.Unlock()
	r.signal()
	return nil
}

func (r *receiver) Deliver(p *service.Page) bool {
	if !r.inDeliver.CompareAndSwap(false, true) {
		r.fail("Deliver calls overlap")
	}
	defer r.inDeliver.Store(false)
	if r.ended.Load() {
		r.fail("Deliver after Ended")
	}
	r.mu.Lock()
	if r.refuseAfter > 0 && r.delivered >= r.refuseAfter {
		r.mu.Unlock()
		return false
	}
	r.delivered++
	resp, err := p.Response()
	if err != nil {
		r.mu.Unlock()
		r.fail("Response: " + err.Error())
		return false
	}
	for _, e := range resp.GetBatch() {
		r.live = append(r.live, e.GetEvent().GetSeqNum())
	}
	r.mu.Unlock()
	r.signal()
	return true
}

func (r *receiver) Ended(err error) {
	if r.inDeliver.Load() {
		r.fail("Ended during Deliver")
	}
	if !r.ended.CompareAndSwap(false, true) {
		r.fail("Ended twice")
	}
	r.done <- err
}

func (r *receiver) signal() {
	select {
	case r.grew <- struct{}{}:
	default:
	}
}

// all returns the seq_nums received so far, backlog then live.
func (r *receiver) all() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(append([]uint64(nil), r.backlog...), r.live...)
}

// waitFor waits until the receiver holds at least n events and returns them.
func (r *receiver) waitFor(t *testing.T, n int) []uint64 {
	t.Helper()
	bound := time.NewTimer(20 * time.Second) // against hanging only
	defer bound.Stop()
	for {
		if got := r.all(); len(got) >= n {
			return got
		}
		select {
		case <-r.grew:
		case err := <-r.done:
			t.Fatalf("pull ended with %v after %v, want %d events", err, r.all(), n)
		case <-bound.C:
			t.Fatalf("pull has %v, want %d events", r.all(), n)
		}
	}
}

// end waits for Ended and returns its error, after checking the contract held.
func (r *receiver) end(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		if v := r.violation.Load(); v != nil {
			t.Fatal(*v)
		}
		return err
	case <-time.After(20 * time.Second): // against hanging only
		t.Fatal("the pull did not end")
		return nil
	}
}

// startAsync starts a live PullAsync pull of the store after cursor and waits until it is live
// (counted by lp).
func startAsync(t *testing.T, svc *service.Service, lp *service.LivePullCounter, live int, storeID string, after uint64) (*receiver, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := newReceiver()
	req := &syncv1.PullRequest{StoreId: storeID, Live: true}
	if after > 0 {
		req.Cursor = &syncv1.Cursor{EventSequenceNumber: after}
	}
	svc.PullAsync(ctx, req, r.send, r)
	lp.WaitFor(t, live)
	return r, cancel
}

// A PullAsync pull sends its backlog through send, then every later push through Deliver,
// exactly once and in order, with no goroutine of the caller's waiting; it ends with ctx.
func TestPullAsyncLive(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	lp := service.CountLivePulls(svc)
	push(t, svc, "async", events(0, 150))
	r, cancel := startAsync(t, svc, lp, 1, "async", 20)
	if got := r.all(); len(got) != 130 {
		t.Fatalf("backlog %d events, want 130", len(got))
	}
	for i := range 10 {
		push(t, svc, "async", events(uint64(150+i*30), 30))
	}
	checkExactlyOnce(t, r.waitFor(t, 430), 20, 430)
	r.mu.Lock()
	live := len(r.live)
	r.mu.Unlock()
	if live != 300 {
		t.Fatalf("%d events delivered live, want the 300 pushed after the pull was live", live)
	}
	cancel()
	if err := r.end(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended with %v, want context.Canceled", err)
	}
	lp.WaitFor(t, 0)
}

// How a PullAsync pull ends: each cause gives Ended its error, once, and no page follows.
func TestPullAsyncEnds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, svc *service.Service)
		want func(error) bool
	}{
		{"reset", func(t *testing.T, svc *service.Service) {
			if _, err := svc.ResetStore(context.Background(), "s"); err != nil {
				t.Fatal(err)
			}
		}, func(err error) bool {
			var mismatch *service.BackendIDMismatchError
			return errors.As(err, &mismatch)
		}},
		{"delete", func(t *testing.T, svc *service.Service) {
			if err := svc.DeleteStore(context.Background(), "s"); err != nil {
				t.Fatal(err)
			}
		}, func(err error) bool { return errors.Is(err, service.ErrStoreDeleted) }},
		{"close", func(t *testing.T, svc *service.Service) {
			if err := svc.Close(); err != nil {
				t.Fatal(err)
			}
		}, func(err error) bool { return errors.Is(err, service.ErrClosed) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svc := newService(t, "", service.Options{})
			lp := service.CountLivePulls(svc)
			push(t, svc, "s", events(0, 3))
			r, _ := startAsync(t, svc, lp, 1, "s", 0)
			tc.end(t, svc)
			if err := r.end(t); !tc.want(err) {
				t.Fatalf("ended with %v", err)
			}
			lp.WaitFor(t, 0)
		})
	}
}

// A receiver that refuses a page ends its pull with ErrLivePullBehind; another live pull of the
// store goes on receiving everything.
func TestPullAsyncRefusedPage(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	lp := service.CountLivePulls(svc)
	refusing, _ := startAsync(t, svc, lp, 1, "refuse", 0)
	refusing.mu.Lock()
	refusing.refuseAfter = 2
	refusing.mu.Unlock()
	healthy, _ := startAsync(t, svc, lp, 2, "refuse", 0)
	for i := range 5 {
		push(t, svc, "refuse", events(uint64(i), 1))
	}
	if err := refusing.end(t); !errors.Is(err, service.ErrLivePullBehind) {
		t.Fatalf("refusing pull ended with %v, want ErrLivePullBehind", err)
	}
	if got := refusing.all(); len(got) != 2 {
		t.Fatalf("refusing pull took %v, want its first 2 pages", got)
	}
	checkExactlyOnce(t, healthy.waitFor(t, 5), 0, 5)
}

// A pull that is not live, or that fails before it is live, ends before PullAsync returns,
// without a Deliver.
func TestPullAsyncNotLive(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	push(t, svc, "once", events(0, 3))
	r := newReceiver()
	svc.PullAsync(context.Background(), &syncv1.PullRequest{StoreId: "once"}, r.send, r)
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("ended with %v", err)
		}
	default:
		t.Fatal("PullAsync returned before the pull that is not live ended")
	}
	checkExactlyOnce(t, r.all(), 0, 3)

	r = newReceiver()
	svc.PullAsync(context.Background(), &syncv1.PullRequest{StoreId: "once", Live: true,
		Cursor: &syncv1.Cursor{BackendId: "not-the-backend", EventSequenceNumber: 1}}, r.send, r)
	var mismatch *service.BackendIDMismatchError
	select {
	case err := <-r.done:
		if !errors.As(err, &mismatch) {
			t.Fatalf("ended with %v, want BackendIDMismatchError", err)
		}
	default:
		t.Fatal("PullAsync returned before the failed pull ended")
	}
	if got := r.all(); len(got) != 0 {
		t.Fatalf("failed pull sent %v", got)
	}
}

// Pulls ended by their context while pushes are delivered to them: every pull ends once, never
// during a delivery, and the service's hooks see each end.
func TestPullAsyncCancelDuringPushes(t *testing.T) {
	t.Parallel()
	var results atomic.Int64
	svc := newService(t, "", service.Options{Hooks: service.Hooks{
		OnPullResult: func(context.Context, *syncv1.PullRequest, service.HookContext, error) { results.Add(1) },
	}})
	lp := service.CountLivePulls(svc)
	const pulls = 20
	var rs []*receiver
	var cancels []context.CancelFunc
	for i := range pulls {
		r, cancel := startAsync(t, svc, lp, i+1, "cancel", 0)
		rs, cancels = append(rs, r), append(cancels, cancel)
	}
	pushed := make(chan struct{})
	go func() {
		defer close(pushed)
		for i := range 200 {
			push(t, svc, "cancel", events(uint64(i), 1))
		}
	}()
	for i, r := range rs {
		r.waitFor(t, i+1) // each cancelled at a different point of the pushes
		cancels[i]()
		if err := r.end(t); !errors.Is(err, context.Canceled) {
			t.Fatalf("pull %d ended with %v", i, err)
		}
		got := r.all()
		checkExactlyOnce(t, got, 0, len(got))
	}
	<-pushed
	lp.WaitFor(t, 0)
	if n := results.Load(); n != pulls {
		t.Fatalf("OnPullResult saw %d ends, want %d", n, pulls)
	}
}
