package service

import (
	"container/list"
	"context"
	"time"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
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
// and never modified, and when it was stored.
type delivery struct {
	pages     []page
	committed time.Time
}

// A page is a pull page with its size in LiveStore's JSON encoding.
type page struct {
	resp  *syncv1.PullResponse
	bytes int
}

// A subscription receives a delivery for every push to a store after it was made.
type subscription struct {
	// deliveries is closed, after err is set, when the store ends the subscription (queue full,
	// reset, deletion, shutdown).
	deliveries chan delivery
	err        error
}

// subscribe registers a live pull with a queue of queueLen pushes. The caller holds the lock.
func (st *store) subscribe(queueLen int) *subscription {
	sub := &subscription{deliveries: make(chan delivery, queueLen)}
	st.subs[sub] = struct{}{}
	return sub
}

// unsubscribe removes a subscription, if the store has not ended it already. The caller must
// not hold the lock.
func (st *store) unsubscribe(sub *subscription) {
	st.sem <- struct{}{}
	delete(st.subs, sub)
	<-st.sem
}

// publish hands a delivery to every subscription without waiting: a subscription whose queue
// is full is ended with ErrLivePullBehind. The caller holds the lock.
func (st *store) publish(d delivery, m *Metrics) {
	for sub := range st.subs {
		select {
		case sub.deliveries <- d:
		default:
			st.end(sub, ErrLivePullBehind)
			m.slowConsumerDropped()
		}
	}
}

// end removes a subscription and closes its queue with err. The caller holds the lock.
func (st *store) end(sub *subscription, err error) {
	delete(st.subs, sub)
	sub.err = err
	close(sub.deliveries)
}

// closeSubscriptions ends every subscription with err.
func (st *store) closeSubscriptions(err error) {
	st.sem <- struct{}{}
	for sub := range st.subs {
		st.end(sub, err)
	}
	<-st.sem
}
