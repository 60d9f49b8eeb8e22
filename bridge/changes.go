package bridge

import (
	"sync"
	"sync/atomic"
)

// changes tells the package's tests that the state they observe may have changed, so that they
// wait for a condition by re-checking it on each change instead of polling it: a socket added to
// or removed from a Bridge's set of open sockets, a place under a connection limit taken or given
// back, a socket starting to drain. It is shared by every Bridge of the process (a waiter simply
// re-checks its condition on a change elsewhere). While no test waits, notify costs one atomic
// load.
var changes changeSignal

// changeSignal is a broadcast of "something changed": a channel closed on the next change after
// it was obtained, replaced (lazily) by the next waiter.
type changeSignal struct {
	watchers atomic.Int32 // waiters registered with watch; notify does nothing while none is
	mu       sync.Mutex
	ch       chan struct{} // closed by the next notify; nil when nobody has asked for it
}

// notify wakes every waiter of next. Call it after the change, once its effect is visible to a
// waiter's condition (after the lock that guards it is released, or the atomic stored).
func (s *changeSignal) notify() {
	if s.watchers.Load() == 0 {
		return
	}
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}

// watch registers a waiter until the returned function is called. Register before checking the
// condition the first time: a change made before notify saw the waiter is then visible to it.
func (s *changeSignal) watch() (stop func()) {
	s.watchers.Add(1)
	return func() { s.watchers.Add(-1) }
}

// next returns a channel closed by the first notify after the call. Obtain it before checking
// the condition, then wait on it when the condition does not hold yet.
func (s *changeSignal) next() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}
