// Package budget bounds, across every connection and transport, the memory the server holds for
// clients that have yet to read it: frames queued for WebSockets, pushes queued for live pulls,
// HTTP responses being assembled.
//
// Each connection has a bound of its own; a Budget adds one bound for all of them together, so
// that however many clients stop reading, the server never holds more than the budget for them.
// When a reservation does not fit, the members holding the most are evicted (ended) first: a
// client that keeps reading holds little, so it is never the one ended while slower ones hold
// more.
package budget

import (
	"sync"
	"sync/atomic"
)

// Member is something that holds reserved bytes and can be ended to free them: a WebSocket's
// outgoing queue, a live pull's queue.
type Member interface {
	// Held returns the bytes the member holds now.
	Held() int64
	// Evict ends the member because the budget is exhausted and it holds the most. It is called
	// with the Budget's lock held: it must not block, nor call the Budget's methods other than
	// Release. It should release what it holds at once where it can (dropping queued data), and
	// the rest (data being written) soon.
	Evict()
}

// Budget is a bound on bytes held for clients, shared by its members. The zero value and nil
// are an unlimited budget. Its methods are safe for concurrent use.
type Budget struct {
	max       int64
	used      atomic.Int64
	evictions atomic.Int64

	mu      sync.Mutex
	members map[Member]struct{}
}

// New returns a budget of max bytes; max <= 0 is unlimited.
func New(max int64) *Budget {
	return &Budget{max: max, members: make(map[Member]struct{})}
}

// Max returns the budget's bound in bytes, 0 when it is unlimited.
func (b *Budget) Max() int64 {
	if b == nil || b.max <= 0 {
		return 0
	}
	return b.max
}

// Used returns the bytes reserved now.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Evictions returns how many members were evicted so far.
func (b *Budget) Evictions() int64 {
	if b == nil {
		return 0
	}
	return b.evictions.Load()
}

// Join makes m a member that Reserve may evict. Members leave with Leave, or when evicted.
func (b *Budget) Join(m Member) {
	if b == nil || b.max <= 0 {
		return
	}
	b.mu.Lock()
	b.members[m] = struct{}{}
	b.mu.Unlock()
}

// Leave removes m from the members; it may have been evicted already.
func (b *Budget) Leave(m Member) {
	if b == nil || b.max <= 0 {
		return
	}
	b.mu.Lock()
	delete(b.members, m)
	b.mu.Unlock()
}

// Reserve takes n bytes for self (a member, or nil for a holder that cannot be evicted), and
// reports whether it got them. When they do not fit, it evicts the member holding the most, as
// long as that member holds more than self would with the n bytes, and tries again; when self
// itself holds the most, it fails: self is the slowest reader, and should end or stop taking.
func (b *Budget) Reserve(self Member, n int64) bool {
	if b == nil || b.max <= 0 || n <= 0 {
		if b != nil && n > 0 {
			b.used.Add(n)
		}
		return true
	}
	for {
		if b.used.Add(n) <= b.max {
			return true
		}
		b.used.Add(-n)
		if !b.evictLargest(self, n) {
			return false
		}
	}
}

// evictLargest evicts the member holding the most, unless it holds no more than self would
// after reserving n bytes. It reports whether it evicted one.
func (b *Budget) evictLargest(self Member, n int64) bool {
	floor := n
	if self != nil {
		floor += self.Held()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var victim Member
	most := floor
	for m := range b.members {
		if m == self {
			continue
		}
		if h := m.Held(); h > most {
			victim, most = m, h
		}
	}
	if victim == nil {
		return false
	}
	delete(b.members, victim)
	b.evictions.Add(1)
	victim.Evict()
	return true
}

// Release gives back n bytes taken by Reserve.
func (b *Budget) Release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.used.Add(-n)
}
