package budget

import (
	"sync"
	"sync/atomic"
	"testing"
)

// queue is a Member that holds reserved bytes and drops them all when evicted.
type queue struct {
	b       *Budget
	held    atomic.Int64
	evicted atomic.Bool
}

func (q *queue) Held() int64 { return q.held.Load() }
func (q *queue) Evict() {
	q.evicted.Store(true)
	q.b.Release(q.held.Swap(0))
}

func (q *queue) take(n int64) bool {
	if !q.b.Reserve(q, n) {
		return false
	}
	q.held.Add(n)
	return true
}

func TestReserve(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name        string
		max         int64
		held        []int64 // what the other members hold
		selfHeld    int64
		reserve     int64
		wantOK      bool
		wantEvicted []bool
	}{
		{"fits", 100, []int64{30, 20}, 10, 40, true, []bool{false, false}},
		{"evicts the largest other", 100, []int64{50, 30}, 10, 20, true, []bool{true, false}},
		{"would hold the most itself: refused", 100, []int64{40, 30, 20}, 0, 90, false, []bool{false, false, false}},
		{"self holds the most: refused", 100, []int64{20, 10}, 60, 20, false, []bool{false, false}},
		{"others hold no more than self would: refused", 100, []int64{45}, 40, 20, false, []bool{false}},
		{"unlimited", 0, []int64{1 << 40}, 0, 1 << 40, true, []bool{false}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.max)
			others := make([]*queue, len(tt.held))
			for i, h := range tt.held {
				others[i] = &queue{b: b}
				b.Join(others[i])
				if !others[i].take(h) {
					t.Fatalf("setup: member %d could not take %d", i, h)
				}
			}
			self := &queue{b: b}
			b.Join(self)
			if !self.take(tt.selfHeld) {
				t.Fatalf("setup: self could not take %d", tt.selfHeld)
			}
			if got := self.take(tt.reserve); got != tt.wantOK {
				t.Fatalf("Reserve = %v, want %v", got, tt.wantOK)
			}
			for i, q := range others {
				if q.evicted.Load() != tt.wantEvicted[i] {
					t.Errorf("member %d (held %d): evicted = %v", i, tt.held[i], q.evicted.Load())
				}
			}
			if self.evicted.Load() {
				t.Error("self was evicted")
			}
			if tt.max > 0 && b.Used() > tt.max {
				t.Errorf("used %d > max %d", b.Used(), tt.max)
			}
		})
	}
}

func TestNilBudgetIsUnlimited(t *testing.T) {
	t.Parallel()
	var b *Budget
	if !b.Reserve(nil, 1<<50) || b.Used() != 0 || b.Max() != 0 {
		t.Fatal("nil budget limited something")
	}
	b.Join(&queue{})
	b.Leave(&queue{})
	b.Release(10)
}

// TestConcurrentNeverOverMax: members taking and releasing from many goroutines never push the
// total over the budget, and every byte is given back in the end.
func TestConcurrentNeverOverMax(t *testing.T) {
	t.Parallel()
	const max = 1 << 20
	b := New(max)
	var wg sync.WaitGroup
	var over atomic.Bool
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := &queue{b: b}
			b.Join(q)
			defer b.Leave(q)
			for i := range 2000 {
				n := int64((g*7919+i*104729)%(64<<10) + 1)
				if q.take(n) && b.Used() > max {
					over.Store(true)
				}
				if i%3 == 0 {
					b.Release(q.held.Swap(0))
				}
			}
			b.Release(q.held.Swap(0))
		}()
	}
	wg.Wait()
	if over.Load() {
		t.Fatal("used went over the budget")
	}
	if u := b.Used(); u != 0 {
		t.Fatalf("used = %d after every member released", u)
	}
}

// stuck is a Member whose bytes are being written: evicting it frees nothing at once.
type stuck struct{ queue }

func (s *stuck) Evict() { s.evicted.Store(true) }

// TestEvictsUntilItFits: when an evicted member cannot free its bytes at once, the next largest
// is evicted too.
func TestEvictsUntilItFits(t *testing.T) {
	t.Parallel()
	b := New(100)
	first := &stuck{queue{b: b}}
	second := &queue{b: b}
	third := &queue{b: b}
	for m, n := range map[interface {
		Member
		take(int64) bool
	}]int64{first: 50, second: 30, third: 10} {
		b.Join(m)
		if !m.take(n) {
			t.Fatal("setup")
		}
	}
	self := &queue{b: b}
	if !self.take(20) {
		t.Fatal("Reserve refused")
	}
	if !first.evicted.Load() || !second.evicted.Load() || third.evicted.Load() {
		t.Fatalf("evicted: %v %v %v", first.evicted.Load(), second.evicted.Load(), third.evicted.Load())
	}
}

// accountMember is a Member holding what its Account holds.
type accountMember struct{ a *Account }

func (m accountMember) Held() int64 { return m.a.Held() }
func (m accountMember) Evict()      { m.a.Give(m.a.Held()) }

func TestAccountTake(t *testing.T) {
	t.Parallel()
	b := New(100)
	a := NewAccount(b, 40)
	self := accountMember{a}
	b.Join(self)
	for _, tt := range []struct {
		n    int64
		want TakeResult
	}{
		{30, Taken},
		{20, OverAccount}, // 50 > 40
		{10, Taken},       // exactly 40
	} {
		if got := a.Take(self, tt.n); got != tt.want {
			t.Fatalf("Take(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
	a.Give(40)
	if got := a.Take(self, 500); got != OverBudget { // alone in the account, but over the budget
		t.Fatalf("Take(500) = %v, want OverBudget", got)
	}
	if got := a.Take(self, 90); got != Taken { // larger than the account, alone in it
		t.Fatalf("Take(90) = %v, want Taken", got)
	}
	if a.Held() != 90 || b.Used() != 90 {
		t.Fatalf("held %d, used %d", a.Held(), b.Used())
	}
}
