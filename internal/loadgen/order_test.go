package loadgen

import (
	"errors"
	"testing"
	"time"
)

func TestSequence(t *testing.T) {
	t.Parallel()
	type ev struct{ seq, parent uint64 }
	tests := []struct {
		name   string
		after  uint64
		events []ev
		head   uint64
		want   error // nil, ErrDuplicate, ErrGap, ErrMissing
	}{
		{"in order", 0, []ev{{1, 0}, {2, 1}, {3, 2}}, 3, nil},
		{"after a cursor", 10, []ev{{11, 10}, {12, 11}}, 12, nil},
		{"nothing expected", 5, nil, 5, nil},
		{"duplicate", 0, []ev{{1, 0}, {2, 1}, {2, 1}, {3, 2}}, 3, ErrDuplicate},
		{"older after newer", 0, []ev{{1, 0}, {2, 1}, {1, 0}}, 2, ErrDuplicate},
		{"event of the cursor again", 4, []ev{{4, 3}, {5, 4}}, 5, ErrDuplicate},
		{"gap", 0, []ev{{1, 0}, {3, 2}}, 3, ErrGap},
		{"gap at the start", 0, []ev{{2, 1}}, 2, ErrGap},
		{"wrong parent", 0, []ev{{1, 0}, {2, 0}}, 2, ErrGap},
		{"missing at the end", 0, []ev{{1, 0}, {2, 1}}, 3, ErrMissing},
		{"nothing arrived", 0, nil, 1, ErrMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewSequence(tt.after)
			for _, e := range tt.events {
				s.Observe(e.seq, e.parent)
			}
			err := s.Complete(tt.head)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Complete(%d) = %v", tt.head, err)
				}
				return
			}
			var oe *OrderError
			if !errors.Is(err, tt.want) || !errors.As(err, &oe) {
				t.Fatalf("Complete(%d) = %v, want %v", tt.head, err, tt.want)
			}
			if s.Received() != uint64(len(tt.events)) {
				t.Fatalf("Received %d, want %d", s.Received(), len(tt.events))
			}
		})
	}
}

func TestSequenceKeepsFirstViolation(t *testing.T) {
	t.Parallel()
	s := NewSequence(0)
	s.Observe(1, 0)
	s.Observe(3, 2) // gap
	s.Observe(3, 2) // duplicate, reported after the gap
	var oe *OrderError
	if err := s.Err(); !errors.As(err, &oe) || oe.Kind != ErrGap || oe.Want != 2 || oe.Got != 3 {
		t.Fatalf("Err = %v", err)
	}
}

func TestHistogram(t *testing.T) {
	t.Parallel()
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Count() != 0 {
		t.Fatal("empty histogram not zero")
	}
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	h.Record(-time.Second)
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 500 * time.Microsecond},
		{0.99, 990 * time.Microsecond},
		{1, 1000 * time.Microsecond},
	}
	for _, tt := range tests {
		got := h.Quantile(tt.q)
		if got < tt.want*99/100 || got > tt.want*101/100 {
			t.Errorf("Quantile(%v) = %v, want %v ± 1 %%", tt.q, got, tt.want)
		}
	}
	if h.Max() != time.Millisecond || h.Count() != 1001 {
		t.Fatalf("Max %v, Count %d", h.Max(), h.Count())
	}
}

func TestHistogramBuckets(t *testing.T) {
	t.Parallel()
	prev := -1
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1} {
		b := bucket(v)
		if b < prev || bucketHigh(b) < v || (b > 0 && bucketHigh(b-1) >= v) {
			t.Fatalf("value %d: bucket %d covers up to %d (previous up to %d)", v, b, bucketHigh(b), bucketHigh(b-1))
		}
		prev = b
	}
}
