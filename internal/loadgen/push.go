package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// PushOptions shape the push workload: Stores stores each receive Events events in pushes of
// Batch, one push at a time per store (as LiveStore's client pushes), Concurrency stores at a
// time.
type PushOptions struct {
	Stores      int
	Events      int // per store
	Batch       int
	Concurrency int // 0: as many as Stores
	// Pad lengthens each event's text by this many bytes.
	Pad int
	// NoVerify skips pulling every store back after the measured window to check its events.
	NoVerify bool
}

// Push runs the push workload. Its latency is the push round trip (send to Exit); after the
// measured window every store is pulled back and checked, unless o.NoVerify.
func Push(ctx context.Context, cfg Config, o PushOptions) (*Result, error) {
	c := cfg.withDefaults()
	if o.Concurrency == 0 {
		o.Concurrency = o.Stores
	}
	if err := positive("stores", o.Stores, "events", o.Events, "batch", o.Batch, "concurrency", o.Concurrency); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	conns := make([]*conn, o.Stores)
	defer closeAll(conns)
	if err := dialStores(ctx, c, "push", conns, o.Concurrency); err != nil {
		return nil, err
	}

	var (
		hist   Histogram
		pushed atomic.Uint64
		pushes atomic.Uint64
		next   atomic.Int64
	)
	total := uint64(o.Stores) * uint64(o.Events)
	w, err := beginWindow(c)
	if err != nil {
		return nil, err
	}
	stop := startProgress(ctx, c, "push", "events", total, &pushed)
	err = parallel(ctx, o.Concurrency, func(ctx context.Context, _ int) error {
		var batch []byte
		for {
			i := int(next.Add(1)) - 1
			if i >= o.Stores {
				return nil
			}
			for first := 1; first <= o.Events; first += o.Batch {
				n := min(o.Batch, o.Events-first+1)
				batch = appendBatch(batch[:0], uint64(first), n, o.Pad)
				start := time.Now()
				if err := conns[i].push(ctx, batch, ""); err != nil {
					return err
				}
				hist.Record(time.Since(start))
				pushed.Add(uint64(n))
				pushes.Add(1)
			}
		}
	})
	stop()
	if err != nil {
		return nil, err
	}
	r := &Result{Workload: "push", Events: pushed.Load(), Pushes: pushes.Load()}
	if err := w.end(r); err != nil {
		return nil, err
	}
	r.Latency = LatencySummary("push round trip", &hist)
	if !o.NoVerify {
		if err := verifyStores(ctx, conns, o.Concurrency, uint64(o.Events)); err != nil {
			return nil, err
		}
		r.Checked = true
	}
	return r, nil
}

// verifyStores pulls every store of conns from the start and checks that it holds the events
// 1 … head exactly once, in order.
func verifyStores(ctx context.Context, conns []*conn, concurrency int, head uint64) error {
	var next atomic.Int64
	return parallel(ctx, concurrency, func(ctx context.Context, _ int) error {
		for {
			i := int(next.Add(1)) - 1
			if i >= len(conns) {
				return nil
			}
			if _, err := coldPull(ctx, conns[i], head, nil); err != nil {
				return fmt.Errorf("verify: %w", err)
			}
		}
	})
}

// coldPull pulls a store from the start to its end and checks that it received the events
// 1 … head (head 0: whatever the store holds) exactly once, in order. It returns how many
// events arrived; counter, when not nil, counts them as they do.
func coldPull(ctx context.Context, c *conn, head uint64, counter *atomic.Uint64) (uint64, error) {
	f := &follower{deliveries: counter}
	if err := startFollower(ctx, c, false, f); err != nil {
		return 0, err
	}
	if err := f.req.wait(ctx); err != nil {
		return 0, fmt.Errorf("pull of %s: %w", c.storeID, err)
	}
	if head == 0 {
		head = f.currentHead()
	}
	if err := f.check(head); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.noMore {
		return 0, fmt.Errorf("pull of %s ended without a NoMore page", c.storeID)
	}
	return f.seq.Received(), nil
}

// dialStores opens conns[i] to store i of the workload, concurrency at a time.
func dialStores(ctx context.Context, c *Config, workload string, conns []*conn, concurrency int) error {
	var next atomic.Int64
	return parallel(ctx, concurrency, func(ctx context.Context, _ int) error {
		for {
			i := int(next.Add(1)) - 1
			if i >= len(conns) {
				return nil
			}
			cn, err := dial(ctx, c, c.storeID(workload, i))
			if err != nil {
				return err
			}
			conns[i] = cn
		}
	})
}

// closeAll closes every socket that was opened.
func closeAll(conns []*conn) {
	var wg sync.WaitGroup
	for _, c := range conns {
		if c != nil {
			wg.Go(c.close)
		}
	}
	wg.Wait()
}

// parallel runs f(ctx, 0 … n-1) concurrently and returns the first error; the first error
// cancels the others' ctx.
func parallel(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := f(ctx, i); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
		return err
	}
	return nil
}
