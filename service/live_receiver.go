package service

import (
	"context"
	"sync/atomic"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
)

// A LiveReceiver takes the pages of a live pull that waits for later pushes without a goroutine
// of its own (PullAsync): a transport holding thousands of idle live pulls then holds no
// goroutine, and no queue, for any of them.
type LiveReceiver interface {
	// Deliver is given the pages of every later push to the store, in order, one call at a
	// time, with no gap and no duplicate. It is called on the goroutine that stored the push,
	// under the store's lock, so it must not block nor call the service: it queues the page for
	// its client. Returning false ends the pull with ErrLivePullBehind (the client cannot take
	// more).
	Deliver(p *Page) bool
	// Ended is called once, when the pull has ended, with why: nil for a pull that was not
	// live, ctx's error when the pull's context ended, ErrLivePullBehind, ErrClosed,
	// ErrStoreDeleted, a *BackendIDMismatchError after a reset, or the error that ended the
	// pull before it was live. No Deliver call follows or overlaps it. It may be called on any
	// goroutine, that of PullAsync's caller included (before PullAsync returns).
	Ended(err error)
}

// PullAsync runs the pull req as PullPages does, its backlog (and the catch-up of a live pull)
// through send, from the calling goroutine; then, for a live pull, instead of waiting for later
// pushes in that goroutine, it returns, and every later push's pages go to recv.Deliver until the
// pull ends. recv.Ended is called once the pull has ended, whether it became live or not.
//
// A live pull of PullAsync is bounded by its receiver, which must refuse (Deliver returning
// false) what it cannot hold: the service queues nothing for it, so Limits.LiveQueueLength and
// Limits.LiveQueueBytes do not apply.
func (s *Service) PullAsync(ctx context.Context, req *syncv1.PullRequest, send func(*Page) error, recv LiveReceiver) {
	if detached, err := s.pull(ctx, req, send, recv); !detached {
		recv.Ended(err)
	}
}

// receiverSub is the subscriber of a PullAsync live pull: publish hands each delivery straight
// to its receiver.
type receiverSub struct {
	s     *Service
	st    *store
	run   *pullRun
	recv  LiveReceiver
	after uint64 // events up to after are not delivered (a cursor beyond the store's head)
	// stopWatch stops the watch of the pull's context, which ends the pull when it ends.
	stopWatch func() bool
	// ended is set by the first end of the pull: by the store (finish) or by its context.
	ended atomic.Bool
}

// detachLive catches up from after to the store's head, then subscribes a receiverSub for recv
// and reports the pull detached: it ends later, on its own, in receiverSub.end.
func (s *Service) detachLive(ctx context.Context, run *pullRun, backendID string, after uint64, send func(*Page) error, recv LiveReceiver) (bool, error) {
	st := run.st
	rs := &receiverSub{s: s, st: st, run: run, recv: recv, after: after}
	err := s.catchUpAndSubscribe(ctx, st, backendID, after, send, func() subscriber {
		// Before the store knows rs (under its lock), so that whatever ends rs sees stopWatch.
		rs.stopWatch = context.AfterFunc(ctx, func() {
			st.remove(rs)
			if rs.ended.CompareAndSwap(false, true) {
				rs.end(s.ended(ctx))
			}
		})
		s.metrics.livePullStarted()
		s.noteLive(1)
		return rs
	})
	if err != nil {
		return false, err
	}
	return true, nil
}

// offer hands the pages of d the receiver has not had to it (subscriber).
func (rs *receiverSub) offer(d delivery) bool {
	return rs.s.deliver(d, rs.after, rs.recv.Deliver)
}

// finish ends the pull with err, the store having removed it (subscriber). The end runs on a
// goroutine of its own: finish may be called under the store's lock.
func (rs *receiverSub) finish(err error) {
	if rs.ended.CompareAndSwap(false, true) {
		go rs.end(err)
	}
}

// end ends the pull, once it is no longer the store's subscriber: it gives back what the pull
// held and tells the receiver.
func (rs *receiverSub) end(err error) {
	rs.stopWatch()
	rs.s.metrics.livePullEnded()
	rs.s.noteLive(-1)
	rs.run.end(err)
	rs.recv.Ended(err)
}
