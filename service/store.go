package service

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service/budget"
	"github.com/livestore-sync/livestore-sync/service/storage"
)

// store is the in-memory state of one store: its lock, its metadata once loaded, and its live
// pulls.
type store struct {
	id string
	// refs counts the requests using the store, and idleElem is its place in Service.idle
	// while none does; both are guarded by Service.mu.
	refs     int
	idleElem *list.Element
	// sem is the store's lock, a channel so that waiting for it can be cancelled. It guards all
	// fields below.
	sem    chan struct{}
	loaded bool
	info   storage.StoreInfo
	subs   map[*subscription]struct{}
}

func newStore(id string) *store {
	return &store{id: id, sem: make(chan struct{}, 1), subs: make(map[*subscription]struct{})}
}

// lock takes the store's lock, or returns ctx's error when ctx ends first.
func (st *store) lock(ctx context.Context) error {
	select {
	case st.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (st *store) unlock() { <-st.sem }

// A delivery is what live pulls receive of one push: its pages, shared by every subscription
// and never modified, their size, and when it was stored.
type delivery struct {
	pages     []page
	bytes     int64 // the pages' bytes in LiveStore's JSON encoding
	committed time.Time
}

// A page is a pull page with its size in LiveStore's JSON encoding.
type page struct {
	resp  *syncv1.PullResponse
	bytes int
}

// A subscription receives a delivery for every push to a store after it was made. The bytes of
// its queued deliveries count against its own bound and the service's outgoing budget, of which
// it is a member (budget.Member) until the pull ends.
type subscription struct {
	// deliveries is closed, after err is set, when the store ends the subscription (queue full,
	// reset, deletion, shutdown).
	deliveries chan delivery
	err        error

	held     atomic.Int64 // bytes of the deliveries queued
	maxBytes int64
	budget   *budget.Budget
	// evicted is set, and kick closed, when the budget evicts the subscription; its pull then
	// ends with ErrLivePullBehind without sending anything more.
	evicted atomic.Bool
	kick    chan struct{}
	// ended is set, after err, when the store ended the subscription; its pull then ends with
	// err without sending anything more (end drops the queue: what follows might be gone).
	ended    atomic.Bool
	kickOnce sync.Once
}

// subscribe registers a live pull with a queue of queueLen pushes and maxBytes bytes. The caller
// holds the lock.
func (st *store) subscribe(queueLen int, maxBytes int64, b *budget.Budget) *subscription {
	sub := &subscription{deliveries: make(chan delivery, queueLen), maxBytes: maxBytes, budget: b, kick: make(chan struct{})}
	st.subs[sub] = struct{}{}
	b.Join(sub)
	return sub
}

// unsubscribe removes a subscription, if the store has not ended it already, and gives back the
// bytes of what it still had queued. The caller must not hold the lock.
func (st *store) unsubscribe(sub *subscription) {
	st.sem <- struct{}{}
	delete(st.subs, sub)
	<-st.sem
	sub.budget.Leave(sub)
	sub.drop()
}

// Held returns the bytes of the deliveries the subscription holds (budget.Member).
func (sub *subscription) Held() int64 { return sub.held.Load() }

// Evict ends the subscription because the outgoing budget is exhausted and it holds the most of
// it: its pull ends with ErrLivePullBehind, and its queued deliveries are dropped at once
// (budget.Member). It takes no lock: the budget may evict it while another store's lock is held.
func (sub *subscription) Evict() {
	sub.evicted.Store(true)
	sub.kickOnce.Do(func() { close(sub.kick) })
	sub.drop()
}

// offer queues d without waiting, reporting false when it does not fit: the subscription's own
// bounds (a single delivery larger than maxBytes fits when nothing else is queued), or the
// budget, when this subscription holds the most of it.
func (sub *subscription) offer(d delivery) bool {
	n := d.bytes
	if held := sub.held.Add(n); held > sub.maxBytes && held != n {
		sub.held.Add(-n)
		return false
	}
	if !sub.budget.Reserve(sub, n) {
		sub.held.Add(-n)
		return false
	}
	select {
	case sub.deliveries <- d:
		return true
	default:
		sub.release(n)
		return false
	}
}

// release gives back the bytes of a delivery taken from the queue.
func (sub *subscription) release(n int64) {
	sub.held.Add(-n)
	sub.budget.Release(n)
}

// drop takes every delivery left in the queue, giving back its bytes.
func (sub *subscription) drop() {
	for {
		select {
		case d, ok := <-sub.deliveries:
			if !ok {
				return
			}
			sub.release(d.bytes)
		default:
			return
		}
	}
}

// publish hands a delivery to every subscription without waiting: a subscription that cannot
// take it (queue full, or evicted by the budget) is ended with ErrLivePullBehind. The caller
// holds the lock.
func (st *store) publish(d delivery, m *Metrics) {
	for sub := range st.subs {
		if sub.evicted.Load() || !sub.offer(d) {
			st.end(sub, ErrLivePullBehind)
			m.slowConsumerDropped()
		}
	}
}

// end removes a subscription and closes its queue with err, dropping what it still held (its
// pull may be blocked sending to a client that does not read: the memory is freed now, not when
// that send ends). The caller holds the lock.
func (st *store) end(sub *subscription, err error) {
	delete(st.subs, sub)
	sub.err = err
	sub.ended.Store(true)
	close(sub.deliveries)
	sub.drop()
}

// closeSubscriptions ends every subscription with err.
func (st *store) closeSubscriptions(err error) {
	st.sem <- struct{}{}
	for sub := range st.subs {
		st.end(sub, err)
	}
	<-st.sem
}
