package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/structpb"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/internal/testhooks"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
)

// gatedService is the real service (on an in-memory Pebble) with failure injection around it:
// every push, pull and ping is the real service's; the fields below only hold calls back, fail
// them before they reach the service, or report on them. None of them decides what a push or a
// pull does when it reaches the service.
type gatedService struct {
	*service.Service

	// pushErr, when set, fails every push with this error instead of calling the service.
	pushErr error
	// pushPanics, when set, makes every push panic with it: a bug of the server's, as far as the
	// bridge can tell.
	pushPanics any
	// liveGate, when set, holds every live page (a page sent after the pull's backlog) back
	// until it is closed (or the pull's context ends); liveHeld receives a value each time a
	// live page reaches the gate, so a test knows the page is being held rather than guessing
	// how long a delay must be.
	liveGate chan struct{}
	liveHeld chan struct{}
	// pingErr, when set, fails every ping with this error.
	pingErr error
	// callDelay, when set, makes Push, Ping and the start of Pull wait this long or until their
	// context ends (then they return its error).
	callDelay time.Duration
	// callGate, when set, makes Push, Ping and the start of Pull wait until it is closed or
	// their context ends (then they return its error).
	callGate chan struct{}
	// callStarted, when set, receives a value when a Push, Ping or Pull call starts (before
	// callDelay); buffered by the test, dropped when full.
	callStarted chan struct{}
	// calls receives the context error of every Push, Ping and Pull call when it returns (nil
	// when it was not cancelled); dropped when full.
	calls chan error
	// pushGate, when set, makes every push wait until it is closed (or its context ends) before
	// it reaches the service; pushesEntered counts the pushes that reached the gate. Once the
	// gate is open, the pushes of a store that waited at it reach the service in the order of
	// their parent sequence numbers (turns), so that pushes pipelined on one socket are stored
	// like the client sent them. The gate only orders the calls: the service decides each.
	pushGate      chan struct{}
	pushesEntered atomic.Int64

	// pullEnded receives the result of every pull when it returns.
	pullEnded chan error

	mu sync.Mutex
	// validatedTrace is the span context of the last ValidatePayload call's context.
	validatedTrace trace.SpanContext
	// metrics are the service's, registered in reg: livePulls reads its gauge of live pulls.
	reg *prometheus.Registry
	// turns[store][n] is closed once a push of the store ending at n has returned from the
	// service (or given up waiting): the pushes with parent n that wait at pushGate go on then.
	turns map[string]map[uint64]chan struct{}
}

// newGatedService returns a gatedService over a real service with opts on an in-memory Pebble,
// closed at the end of the test. Its payload validator refuses the payload "forbidden" and
// records the trace of its context.
func newGatedService(t testing.TB, opts service.Options) *gatedService {
	t.Helper()
	engine, err := pebblestore.Open("db", pebblestore.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedService{
		pullEnded: make(chan error, 1024),
		calls:     make(chan error, 1024),
		reg:       prometheus.NewRegistry(),
		turns:     map[string]map[uint64]chan struct{}{},
	}
	if opts.ValidatePayload == nil {
		opts.ValidatePayload = g.validate
	}
	if opts.Metrics == nil {
		opts.Metrics = service.NewMetrics(g.reg)
	}
	if opts.Logger == nil {
		opts.Logger = quietLogger
	}
	g.Service, err = service.New(engine, opts)
	if err != nil {
		t.Fatal(err)
	}
	observeLivePulls(g.Service)
	t.Cleanup(func() { g.Close() })
	return g
}

var (
	_ SyncService  = (*gatedService)(nil)
	_ pagePuller   = (*gatedService)(nil)
	_ asyncPuller  = (*gatedService)(nil)
	_ headerKeeper = (*gatedService)(nil)
)

// validate refuses payloads equal to the string "forbidden", like a validator would.
func (g *gatedService) validate(ctx context.Context, payload *structpb.Value, _ service.PayloadContext) error {
	g.mu.Lock()
	g.validatedTrace = trace.SpanContextFromContext(ctx)
	g.mu.Unlock()
	if payload.GetStringValue() == "forbidden" {
		return errors.New("payload forbidden")
	}
	return nil
}

// delay reports the call's start on callStarted, then waits for callGate and callDelay or until
// ctx ends.
func (g *gatedService) delay(ctx context.Context) error {
	if g.callStarted != nil {
		select {
		case g.callStarted <- struct{}{}:
		default:
		}
	}
	if g.callGate != nil {
		select {
		case <-g.callGate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if g.callDelay <= 0 {
		return nil
	}
	t := time.NewTimer(g.callDelay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// callEnded reports the end of a call on g.calls.
func (g *gatedService) callEnded(ctx context.Context) {
	select {
	case g.calls <- ctx.Err():
	default:
	}
}

// Ping is the service's, after the injected delay or error.
func (g *gatedService) Ping(ctx context.Context, req *syncv1.PingRequest) error {
	defer g.callEnded(ctx)
	if err := g.delay(ctx); err != nil {
		return err
	}
	if g.pingErr != nil {
		return g.pingErr
	}
	return g.Service.Ping(ctx, req)
}

// turn returns the channel closed once a push of the store with that parent sequence number has
// returned from the service.
func (g *gatedService) turn(storeID string, parent uint64) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.turns[storeID]
	if m == nil {
		m = map[uint64]chan struct{}{}
		g.turns[storeID] = m
	}
	ch := m[parent]
	if ch == nil {
		ch = make(chan struct{})
		m[parent] = ch
	}
	return ch
}

// endTurn closes the turn of the pushes whose parent is seqNum, unless it is closed already.
func (g *gatedService) endTurn(storeID string, seqNum uint64) {
	ch := g.turn(storeID, seqNum)
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// Push is the service's, after the injected delay, gate or error.
func (g *gatedService) Push(ctx context.Context, req *syncv1.PushRequest) error {
	defer g.callEnded(ctx)
	if err := g.delay(ctx); err != nil {
		return err
	}
	if g.pushGate != nil && len(req.GetBatch()) > 0 {
		g.pushesEntered.Add(1)
		changes.notify()
		select {
		case <-g.pushGate:
		case <-ctx.Done():
			return ctx.Err()
		}
		first, last := req.GetBatch()[0], req.GetBatch()[len(req.GetBatch())-1]
		defer g.endTurn(req.GetStoreId(), last.GetSeqNum())
		if p := first.GetParentSeqNum(); p > 0 {
			select { // the push that ends at p has returned
			case <-g.turn(req.GetStoreId(), p):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if g.pushPanics != nil {
		panic(g.pushPanics)
	}
	if g.pushErr != nil {
		return g.pushErr
	}
	return g.Service.Push(ctx, req)
}

// Pull is PullPages with the pages as responses.
func (g *gatedService) Pull(ctx context.Context, req *syncv1.PullRequest, send func(*syncv1.PullResponse) error) error {
	return g.PullPages(ctx, req, func(p *service.Page) error {
		resp, err := p.Response()
		if err != nil {
			return err
		}
		return send(resp)
	})
}

// PullPages is the service's, after the injected delay, with live pages held at liveGate.
func (g *gatedService) PullPages(ctx context.Context, req *syncv1.PullRequest, send func(*service.Page) error) (err error) {
	defer func() { g.pullEnded <- err }()
	defer g.callEnded(ctx)
	if err := g.delay(ctx); err != nil {
		return err
	}
	backlogDone := false
	return g.Service.PullPages(ctx, req, func(p *service.Page) error {
		if backlogDone && g.liveGate != nil {
			if g.liveHeld != nil {
				g.liveHeld <- struct{}{}
			}
			select {
			case <-g.liveGate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if p.NoMore() {
			backlogDone = true
		}
		if err := send(p); err != nil {
			return fmt.Errorf("send page: %w", err)
		}
		return nil
	})
}

// PullAsync is the service's, after the injected delay. With liveGate set, it is PullPages run to
// its end (pullPagesAsync), so that live pages can be held at the gate.
func (g *gatedService) PullAsync(ctx context.Context, req *syncv1.PullRequest, send func(*service.Page) error, recv service.LiveReceiver) {
	if g.liveGate != nil {
		pullPagesAsync(ctx, g.PullPages, req, send, recv)
		return
	}
	ended := &gatedReceiver{LiveReceiver: recv, ended: func(err error) {
		g.callEnded(ctx)
		g.pullEnded <- err
	}}
	if err := g.delay(ctx); err != nil {
		ended.Ended(err)
		return
	}
	g.Service.PullAsync(ctx, req, send, ended)
}

// gatedReceiver is a pull's receiver that reports the pull's end to the gated service first.
type gatedReceiver struct {
	service.LiveReceiver
	ended func(error)
}

// Ended reports the end, then tells the pull's receiver.
func (r *gatedReceiver) Ended(err error) {
	r.ended(err)
	r.LiveReceiver.Ended(err)
}

// observeLivePulls makes every live pull of svc subscribing or ending a change that waitFor
// re-checks its condition on.
func observeLivePulls(svc *service.Service) {
	testhooks.ObserveLivePulls(svc, func(int) { changes.notify() })
}

// livePulls returns the number of live pulls the service has subscribed to their store's
// pushes (its livestore_sync_live_pulls gauge): a push stored after it counts a pull reaches it
// through the pull's queue, not a catch-up read.
func (g *gatedService) livePulls(t testing.TB) int {
	t.Helper()
	families, err := g.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "livestore_sync_live_pulls" && len(f.GetMetric()) == 1 {
			return int(f.GetMetric()[0].GetGauge().GetValue())
		}
	}
	t.Fatal("no livestore_sync_live_pulls gauge")
	return 0
}

// storedSeqNums returns the sequence numbers of the events stored in the store, read with a
// pull of the real service.
func (g *gatedService) storedSeqNums(t testing.TB, storeID string) []uint64 {
	t.Helper()
	var seqs []uint64
	err := g.Service.Pull(context.Background(), &syncv1.PullRequest{StoreId: storeID}, func(r *syncv1.PullResponse) error {
		for _, e := range r.GetBatch() {
			seqs = append(seqs, e.GetEvent().GetSeqNum())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("pull %s: %v", storeID, err)
	}
	return seqs
}

// backendID returns the store's backend id, read with a pull of the real service (which
// creates the store if needed).
func (g *gatedService) backendID(t testing.TB, storeID string) string {
	t.Helper()
	id, err := g.tryBackendID(storeID)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// tryBackendID is backendID, with the pull's error.
func (g *gatedService) tryBackendID(storeID string) (string, error) {
	var id string
	err := g.Service.Pull(context.Background(), &syncv1.PullRequest{StoreId: storeID}, func(r *syncv1.PullResponse) error {
		id = r.GetBackendId()
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", storeID, err)
	}
	return id, nil
}

// head returns the sequence number of the store's last event, 0 when it has none.
func (g *gatedService) head(t testing.TB, storeID string) uint64 {
	t.Helper()
	seqs := g.storedSeqNums(t, storeID)
	if len(seqs) == 0 {
		return 0
	}
	return seqs[len(seqs)-1]
}
