package loadgen

import (
	"errors"
	"fmt"
)

// ErrDuplicate and ErrGap classify an OrderError.
var (
	// ErrDuplicate: an event arrived a second time, or an older event after a newer one.
	ErrDuplicate = errors.New("duplicate or out-of-order event")
	// ErrGap: an event arrived before one it follows, which never came.
	ErrGap = errors.New("gap in events")
	// ErrMissing: the pull ended, or the run did, without every event.
	ErrMissing = errors.New("events missing")
)

// OrderError is a pull that did not receive a store's events exactly once, in order.
type OrderError struct {
	// Kind is ErrDuplicate, ErrGap or ErrMissing.
	Kind error
	// Want is the sequence number expected next; Got the one that arrived (for ErrMissing, the
	// last one expected).
	Want, Got uint64
}

// Error says what arrived instead of what was expected.
func (e *OrderError) Error() string {
	if e.Kind == ErrMissing {
		return fmt.Sprintf("%v: received up to %d of %d", e.Kind, e.Want-1, e.Got)
	}
	return fmt.Sprintf("%v: expected event %d, received %d", e.Kind, e.Want, e.Got)
}

// Unwrap returns Kind.
func (e *OrderError) Unwrap() error { return e.Kind }

// Sequence checks that one pull receives a store's events exactly once and in order: after its
// cursor, each event's seqNum one more than the previous one's, its parentSeqNum the previous
// one. The first violation is kept; later events are still counted. It is not safe for
// concurrent use (a pull's Chunks are handled by one goroutine).
type Sequence struct {
	next     uint64 // seqNum expected next
	received uint64
	err      *OrderError
}

// NewSequence returns a checker for a pull whose cursor is after (0: from the start).
func NewSequence(after uint64) *Sequence { return &Sequence{next: after + 1} }

// Observe records the arrival of event seq with parent parent, and returns the first violation
// so far, if any.
func (s *Sequence) Observe(seq, parent uint64) error {
	s.received++
	if s.err == nil {
		switch {
		case seq < s.next:
			s.err = &OrderError{Kind: ErrDuplicate, Want: s.next, Got: seq}
		case seq > s.next || parent != seq-1:
			s.err = &OrderError{Kind: ErrGap, Want: s.next, Got: seq}
		}
	}
	if seq >= s.next {
		s.next = seq + 1
	}
	return s.Err()
}

// Head is the last sequence number received in order (the cursor after it).
func (s *Sequence) Head() uint64 { return s.next - 1 }

// Received is how many events arrived, duplicates included.
func (s *Sequence) Received() uint64 { return s.received }

// Err returns the first violation, or nil.
func (s *Sequence) Err() error {
	if s.err == nil {
		return nil
	}
	return s.err
}

// Complete returns the first violation, or ErrMissing when event head has not arrived.
func (s *Sequence) Complete(head uint64) error {
	if err := s.Err(); err != nil {
		return err
	}
	if s.next <= head {
		return &OrderError{Kind: ErrMissing, Want: s.next, Got: head}
	}
	return nil
}
