package budget

import "sync/atomic"

// An Account is one holder's share of a Budget, such as a socket's outgoing queue: the bytes it
// holds, bounded by a maximum of its own and counted against the Budget. Its methods are safe for
// concurrent use.
type Account struct {
	budget *Budget
	max    int64
	held   atomic.Int64
}

// NewAccount returns an account of at most max bytes on b (nil: only max bounds it).
func NewAccount(b *Budget, max int64) *Account { return &Account{budget: b, max: max} }

// TakeResult is the outcome of Account.Take.
type TakeResult int

const (
	// Taken: the bytes are the holder's until it gives them back.
	Taken TakeResult = iota
	// OverAccount: the holder would hold more than its own maximum.
	OverAccount
	// OverBudget: the budget is exhausted and the holder holds the most of it.
	OverBudget
)

// Take reserves n bytes for the holder self, the Member the account belongs to (the budget may
// evict other members to make room; see Budget.Reserve). A single reservation larger than the
// account's maximum is taken when the account holds nothing else.
func (a *Account) Take(self Member, n int64) TakeResult {
	if held := a.held.Add(n); held > a.max && held != n {
		a.held.Add(-n)
		return OverAccount
	}
	if !a.budget.Reserve(self, n) {
		a.held.Add(-n)
		return OverBudget
	}
	return Taken
}

// Give gives back n bytes taken by Take.
func (a *Account) Give(n int64) {
	a.held.Add(-n)
	a.budget.Release(n)
}

// Max returns the account's own bound in bytes.
func (a *Account) Max() int64 { return a.max }

// Held returns the bytes the account holds.
func (a *Account) Held() int64 { return a.held.Load() }
