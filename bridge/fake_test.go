package bridge

import (
	"context"
	"errors"
	"fmt"
	"google.golang.org/protobuf/types/known/structpb"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"go.opentelemetry.io/otel/trace"
)

// fakeService is an in-memory SyncService with the real service's semantics: per-store head
// check, backend id check, paged backlog, and live subscriptions that end with
// service.ErrLivePullBehind when their queue overflows.
type fakeService struct {
	pageSize   int // events per backlog page
	liveBuffer int // pages a live subscription may have pending

	// pushErr, when set, fails every push with this error (after the checks above it pass).
	pushErr error
	// liveGate, when set, holds every live page back until it is closed (or the pull's context
	// ends); liveHeld receives a value each time a live page reaches the gate, so a test knows
	// the page is being held rather than guessing how long a delay must be.
	liveGate chan struct{}
	liveHeld chan struct{}
	// pingErr, when set, fails every ping with this error.
	pingErr error
	// callDelay, when set, makes Push, Ping and the start of Pull wait this long or until their
	// context ends (then they return its error).
	callDelay time.Duration
	// callGate, when set, makes Push, Ping and the start of Pull wait until it is closed or
	// their context ends (then they return its error): a call held in flight for as long as the
	// test needs, instead of for a duration.
	callGate chan struct{}
	// callStarted, when set, receives a value when a Push, Ping or Pull call starts (before
	// callDelay); buffered by the test, dropped when full.
	callStarted chan struct{}
	// calls receives the context error of every Push, Ping and Pull call when it returns (nil
	// when it was not cancelled); buffered, dropped when full.
	calls chan error
	// pushGate, when set, makes every push wait until it is closed (or its context ends) before
	// it is stored; pushesEntered counts the pushes that reached the gate.
	pushGate      chan struct{}
	pushesEntered atomic.Int64
	// unordered stores every push, whatever the store's head, so that many pushes of one socket
	// can run at once and all be stored.
	unordered bool

	mu     sync.Mutex
	stores map[string]*fakeStore
	// validatedTrace is the span context of the last ValidatePayload call's context.
	validatedTrace trace.SpanContext

	// pullEnded receives the result of every Pull call when it returns.
	pullEnded chan error
}

type fakeStore struct {
	backendID string
	events    []*syncv1.PulledEvent
	subs      map[*fakeSub]struct{}
}

type fakeSub struct {
	pages      chan *syncv1.PullResponse
	behind     chan struct{}
	behindOnce sync.Once
}

func (s *fakeSub) markBehind() { s.behindOnce.Do(func() { close(s.behind) }) }

func newFakeService() *fakeService {
	return &fakeService{pageSize: 100, liveBuffer: 1024, stores: map[string]*fakeStore{}, pullEnded: make(chan error, 1024), calls: make(chan error, 1024)}
}

func (f *fakeService) store(id string) *fakeStore {
	st := f.stores[id]
	if st == nil {
		st = &fakeStore{backendID: "backend-" + id, subs: map[*fakeSub]struct{}{}}
		f.stores[id] = st
	}
	return st
}

func (st *fakeStore) head() uint64 {
	if len(st.events) == 0 {
		return 0
	}
	return st.events[len(st.events)-1].GetEvent().GetSeqNum()
}

// delay reports the call's start on callStarted, then waits for callGate and callDelay or until
// ctx ends.
func (f *fakeService) delay(ctx context.Context) error {
	if f.callStarted != nil {
		select {
		case f.callStarted <- struct{}{}:
		default:
		}
	}
	if f.callGate != nil {
		select {
		case <-f.callGate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.callDelay <= 0 {
		return nil
	}
	t := time.NewTimer(f.callDelay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// callEnded reports the end of a call on f.calls.
func (f *fakeService) callEnded(ctx context.Context) {
	select {
	case f.calls <- ctx.Err():
	default:
	}
}

// ValidatePayload refuses payloads equal to the string "forbidden", like a validator would.
func (f *fakeService) ValidatePayload(ctx context.Context, _ string, payload *structpb.Value, _ service.RequestInfo) error {
	f.mu.Lock()
	f.validatedTrace = trace.SpanContextFromContext(ctx)
	f.mu.Unlock()
	if payload.GetStringValue() == "forbidden" {
		return &service.PayloadRejectedError{Err: errors.New("payload forbidden")}
	}
	return nil
}

func (f *fakeService) Ping(ctx context.Context, req *syncv1.PingRequest) error {
	defer f.callEnded(ctx)
	if err := f.delay(ctx); err != nil {
		return err
	}
	return f.pingErr
}

func (f *fakeService) Push(ctx context.Context, req *syncv1.PushRequest) error {
	defer f.callEnded(ctx)
	if err := f.delay(ctx); err != nil {
		return err
	}
	if f.pushGate != nil {
		f.pushesEntered.Add(1)
		select {
		case <-f.pushGate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.store(req.GetStoreId())
	if req.BackendId != nil && req.GetBackendId() != st.backendID {
		return &service.BackendIDMismatchError{Expected: st.backendID, Received: req.GetBackendId()}
	}
	if len(req.GetBatch()) == 0 {
		return nil
	}
	if p := req.GetBatch()[0].GetParentSeqNum(); p != st.head() && !f.unordered {
		return &service.ServerAheadError{MinimumExpectedNum: st.head(), ProvidedNum: p}
	}
	if f.pushErr != nil {
		return f.pushErr
	}
	createdAt := timestamppb.New(time.Now().Truncate(time.Millisecond))
	var added []*syncv1.PulledEvent
	for _, e := range req.GetBatch() {
		added = append(added, &syncv1.PulledEvent{Event: e, Metadata: &syncv1.SyncMetadata{CreatedAt: createdAt}})
	}
	st.events = append(st.events, added...)
	page := &syncv1.PullResponse{Batch: added, PageInfo: noMore(), BackendId: st.backendID}
	for sub := range st.subs {
		select {
		case sub.pages <- page:
		default:
			sub.markBehind()
		}
	}
	return nil
}

func (f *fakeService) Pull(ctx context.Context, req *syncv1.PullRequest, send func(*syncv1.PullResponse) error) (err error) {
	defer func() { f.pullEnded <- err }()
	defer f.callEnded(ctx)
	if err := f.delay(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	st := f.store(req.GetStoreId())
	if c := req.GetCursor(); c != nil && c.GetBackendId() != "" && c.GetBackendId() != st.backendID {
		f.mu.Unlock()
		return &service.BackendIDMismatchError{Expected: st.backendID, Received: c.GetBackendId()}
	}
	var backlog []*syncv1.PulledEvent
	for _, e := range st.events {
		if e.GetEvent().GetSeqNum() > req.GetCursor().GetEventSequenceNumber() {
			backlog = append(backlog, e)
		}
	}
	var sub *fakeSub
	if req.GetLive() {
		sub = &fakeSub{pages: make(chan *syncv1.PullResponse, f.liveBuffer), behind: make(chan struct{})}
		st.subs[sub] = struct{}{}
		defer func() {
			f.mu.Lock()
			delete(st.subs, sub)
			f.mu.Unlock()
		}()
	}
	backendID := st.backendID
	f.mu.Unlock()

	for sent := 0; ; {
		n := min(f.pageSize, len(backlog)-sent)
		page := &syncv1.PullResponse{Batch: backlog[sent : sent+n], PageInfo: noMore(), BackendId: backendID}
		sent += n
		if rest := len(backlog) - sent; rest > 0 {
			page.PageInfo = &syncv1.PageInfo{Kind: &syncv1.PageInfo_MoreKnown_{MoreKnown: &syncv1.PageInfo_MoreKnown{Remaining: uint64(rest)}}}
		}
		if err := send(page); err != nil {
			return fmt.Errorf("send page: %w", err)
		}
		if sent == len(backlog) {
			break
		}
	}
	if sub == nil {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sub.behind:
			return service.ErrLivePullBehind
		case page := <-sub.pages:
			if f.liveGate != nil {
				if f.liveHeld != nil {
					f.liveHeld <- struct{}{}
				}
				select {
				case <-f.liveGate:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if err := send(page); err != nil {
				return fmt.Errorf("send live page: %w", err)
			}
		}
	}
}

// makeBehind ends every live pull of the store with service.ErrLivePullBehind.
func (f *fakeService) makeBehind(storeID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for sub := range f.store(storeID).subs {
		sub.markBehind()
	}
}

// liveSubscribers returns the number of live pulls open on the store.
func (f *fakeService) liveSubscribers(storeID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.store(storeID).subs)
}

func noMore() *syncv1.PageInfo {
	return &syncv1.PageInfo{Kind: &syncv1.PageInfo_NoMore_{NoMore: &syncv1.PageInfo_NoMore{}}}
}
