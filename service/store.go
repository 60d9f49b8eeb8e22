package service

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"

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
	// token is the store's lock: holding the lock is holding the channel's one token (a channel,
	// so that waiting for the lock can be cancelled). It guards all fields below.
	token  chan struct{}
	loaded bool
	// info is the store's metadata as last read or written by this process. While the store has
	// live pulls, they have been given every event up to info.Head of info.BackendID: every change
	// of info goes through Service.setInfo or Service.append, which publish what it adds.
	info storage.StoreInfo
	subs map[subscriber]struct{}

	// Read without the lock, by the watcher of a shared engine (see shared.go):
	// known is the backend id and head of info, once loaded; live is len(subs).
	known atomic.Pointer[storage.Change]
	live  atomic.Int32
	// stale is set when another node wrote to the store while it had no live pull: its info is
	// read again before the next push relies on it.
	stale atomic.Bool
	// refreshing is set while a refresh of the store is scheduled; guarded by Service.mu.
	refreshing bool
}

func newStore(id string) *store {
	return &store{id: id, token: make(chan struct{}, 1), subs: make(map[subscriber]struct{})}
}

// lock takes the store's lock, or returns ctx's error when ctx ends first.
func (st *store) lock(ctx context.Context) error {
	select {
	case st.token <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (st *store) unlock() { <-st.token }

// A delivery is what live pulls receive of one push: its pages, shared by every subscription
// and never modified, their size, and when it was stored.
type delivery struct {
	pages     []*Page
	bytes     int64 // the pages' bytes in LiveStore's JSON encoding
	committed time.Time
}

// A subscription receives a delivery for every push to a store after it was made. Its queue
// takes no memory while it is empty (an idle live pull costs a few hundred bytes), and is bounded
// in deliveries and in bytes; its bytes also count against the service's outgoing budget, of
// which it is a member (budget.Member) until the pull ends.
type subscription struct {
	maxLen int
	budget *budget.Budget
	bytes  *budget.Account // of the queued deliveries
	// wake receives a signal when a delivery is queued or the subscription ends.
	wake chan struct{}

	mu    sync.Mutex
	queue []delivery // not yet taken by the pull, oldest first
	// done is set, with err, when the subscription ended: by the store (full, reset, deletion,
	// shutdown) or by the budget. Its pull then ends with err, sending nothing more (the queue is
	// dropped at once: the pull may be blocked sending to a client that does not read).
	done bool
	err  error
}

// A subscriber is a live pull registered with its store (store.add): publish offers it the
// delivery of every later push, in order, until the store or the pull ends it.
type subscriber interface {
	// offer hands d to the subscriber without waiting, reporting false when it cannot take it;
	// the store then ends it with ErrLivePullBehind. It is called under the store's lock.
	offer(d delivery) bool
	// finish ends the subscriber with err; only the first call has an effect. It may be called
	// under the store's lock, and must not take it.
	finish(err error)
}

// add registers a subscriber. The caller holds the lock.
func (st *store) add(sub subscriber) {
	st.subs[sub] = struct{}{}
	st.live.Store(int32(len(st.subs)))
}

// remove unregisters a subscriber, if the store has not ended it already. The caller must not
// hold the lock.
func (st *store) remove(sub subscriber) {
	st.token <- struct{}{}
	delete(st.subs, sub)
	st.live.Store(int32(len(st.subs)))
	<-st.token
}

// newSubscription returns a live pull's queue of at most queueLen pushes and maxBytes bytes, a
// member of the budget b until unsubscribe.
func newSubscription(queueLen int, maxBytes int64, b *budget.Budget) *subscription {
	sub := &subscription{maxLen: queueLen, budget: b, bytes: budget.NewAccount(b, maxBytes), wake: make(chan struct{}, 1)}
	b.Join(sub)
	return sub
}

// unsubscribe removes a subscription, if the store has not ended it already, and gives back the
// bytes of what it still had queued. The caller must not hold the lock.
func (st *store) unsubscribe(sub *subscription) {
	st.remove(sub)
	sub.budget.Leave(sub)
	sub.finish(ErrClosed)
}

// Held returns the bytes of the deliveries the subscription holds (budget.Member).
func (sub *subscription) Held() int64 { return sub.bytes.Held() }

// Evict ends the subscription because the outgoing budget is exhausted and it holds the most of
// it: its pull ends with ErrLivePullBehind, and its queue is dropped at once (budget.Member). It
// takes no store lock: the budget may evict it while another store's lock is held.
func (sub *subscription) Evict() { sub.finish(ErrLivePullBehind) }

// finish ends the subscription with err, unless it has ended already, and drops its queue.
func (sub *subscription) finish(err error) {
	sub.mu.Lock()
	if !sub.done {
		sub.done, sub.err = true, err
	}
	dropped := sub.queue
	sub.queue = nil
	sub.mu.Unlock()
	for _, d := range dropped {
		sub.release(d.bytes)
	}
	sub.signal()
}

func (sub *subscription) signal() {
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

// offer queues d without waiting, reporting false when it does not fit: the subscription's own
// bounds (a single delivery larger than maxBytes fits when nothing else is queued), or the
// budget, when this subscription holds the most of it; or when it has ended.
func (sub *subscription) offer(d delivery) bool {
	n := d.bytes
	// Not under sub.mu: the budget may call Held and Evict of any member.
	if sub.bytes.Take(sub, n) != budget.Taken {
		return false
	}
	sub.mu.Lock()
	if sub.done || len(sub.queue) >= sub.maxLen {
		sub.mu.Unlock()
		sub.release(n)
		return false
	}
	sub.queue = append(sub.queue, d)
	sub.mu.Unlock()
	sub.signal()
	return true
}

// next waits for the oldest queued delivery and takes it; its bytes are the caller's to
// release. It returns the subscription's error once it has ended, and ctx's when ctx ends first.
func (sub *subscription) next(ctx context.Context) (delivery, error) {
	for {
		sub.mu.Lock()
		switch {
		case sub.done:
			err := sub.err
			sub.mu.Unlock()
			return delivery{}, err
		case len(sub.queue) > 0:
			d := sub.queue[0]
			if len(sub.queue) == 1 {
				sub.queue = nil // an idle subscription keeps no memory
			} else {
				sub.queue[0] = delivery{}
				sub.queue = sub.queue[1:]
			}
			sub.mu.Unlock()
			return d, nil
		}
		sub.mu.Unlock()
		select {
		case <-sub.wake:
		case <-ctx.Done():
			return delivery{}, ctx.Err()
		}
	}
}

// release gives back the bytes of a delivery taken from the queue.
func (sub *subscription) release(n int64) { sub.bytes.Give(n) }

// publish hands a delivery to every subscriber without waiting: one that cannot take it (a
// queue full, or evicted by the budget) is ended with ErrLivePullBehind. The caller holds the
// lock.
func (st *store) publish(d delivery, m *Metrics) {
	for sub := range st.subs {
		if !sub.offer(d) {
			st.end(sub, ErrLivePullBehind)
			m.slowConsumerDropped()
		}
	}
}

// end removes a subscriber and ends it with err. The caller holds the lock.
func (st *store) end(sub subscriber, err error) {
	delete(st.subs, sub)
	st.live.Store(int32(len(st.subs)))
	sub.finish(err)
}

// endAll ends every subscriber with err. The caller holds the lock.
func (st *store) endAll(err error) {
	for sub := range st.subs {
		st.end(sub, err)
	}
}

// closeSubscriptions ends every subscriber with err.
func (st *store) closeSubscriptions(err error) {
	st.token <- struct{}{}
	st.endAll(err)
	<-st.token
}
