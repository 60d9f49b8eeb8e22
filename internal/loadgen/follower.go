package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// sentTimes records when each event of a store was sent, for measuring delivery latency: the
// time since the run's base of event seq is at index seq.
type sentTimes struct {
	base time.Time
	at   []atomic.Int64
}

func newSentTimes(base time.Time, events int) *sentTimes {
	return &sentTimes{base: base, at: make([]atomic.Int64, events+1)}
}

// mark records that the events first … first+n-1 are being sent now.
func (s *sentTimes) mark(first uint64, n int) {
	now := int64(time.Since(s.base))
	for i := range n {
		s.at[first+uint64(i)].Store(now)
	}
}

// since is how long ago event seq was sent, and whether it was.
func (s *sentTimes) since(seq uint64) (time.Duration, bool) {
	if seq >= uint64(len(s.at)) {
		return 0, false
	}
	at := s.at[seq].Load()
	if at == 0 {
		return 0, false
	}
	return time.Since(s.base) - time.Duration(at), true
}

// follower is one pull of a store, checked by a Sequence. Its Chunks are handled on its
// socket's reader goroutine; other goroutines wait for it to reach a head.
type follower struct {
	c   *conn
	req *request
	seq *Sequence

	// Optional: delivery latency of each event, and a count of deliveries.
	sent       *sentTimes
	latency    *Histogram
	deliveries *atomic.Uint64

	mu        sync.Mutex
	head      uint64 // the last event received in order
	noMore    bool   // a NoMore page arrived
	backendID string
	waitHead  uint64
	waitCh    chan struct{} // closed once head ≥ waitHead and a NoMore page arrived
}

// startFollower starts a pull on c from the start of the store.
func startFollower(ctx context.Context, c *conn, live bool, f *follower) error {
	f.c = c
	f.seq = NewSequence(0)
	r, err := c.pull(ctx, live, "", 0, f.onChunk)
	if err != nil {
		return err
	}
	f.req = r
	return nil
}

func (f *follower) onChunk(p *pullResponse) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range p.Batch {
		e := &p.Batch[i].EventEncoded
		f.seq.Observe(e.SeqNum, e.ParentSeqNum)
		if f.sent != nil {
			if d, ok := f.sent.since(e.SeqNum); ok {
				f.latency.Record(d)
			}
		}
	}
	if f.deliveries != nil {
		f.deliveries.Add(uint64(len(p.Batch)))
	}
	f.head = f.seq.Head()
	if p.BackendID != "" {
		f.backendID = p.BackendID
	}
	if p.PageInfo.Tag == "NoMore" {
		f.noMore = true
	}
	if f.waitCh != nil && f.noMore && f.head >= f.waitHead {
		close(f.waitCh)
		f.waitCh = nil
	}
}

// waitFor waits until the pull received every event up to head and a NoMore page (head 0: its
// backlog). One goroutine at a time may wait.
func (f *follower) waitFor(ctx context.Context, head uint64) error {
	f.mu.Lock()
	if f.noMore && f.head >= head {
		f.mu.Unlock()
		return nil
	}
	f.waitHead = head
	ch := make(chan struct{})
	f.waitCh = ch
	f.mu.Unlock()
	select {
	case <-ch:
		return nil
	case err := <-f.req.exit:
		if err == nil {
			err = fmt.Errorf("pull ended at event %d", f.currentHead())
		}
		f.req.exit <- err // for whoever waits next
		return fmt.Errorf("store %s: waiting for event %d: %w", f.c.storeID, head, err)
	case <-ctx.Done():
		return fmt.Errorf("store %s: waiting for event %d (at %d): %w", f.c.storeID, head, f.currentHead(), ctx.Err())
	}
}

func (f *follower) currentHead() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.head
}

// check returns the pull's first order violation, or ErrMissing if it did not reach head.
func (f *follower) check(head uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.seq.Complete(head); err != nil {
		return fmt.Errorf("store %s, pull %s: %w", f.c.storeID, f.req.id, err)
	}
	return nil
}
