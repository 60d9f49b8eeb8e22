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
	// Warmup runs the workload this many times first, unmeasured, on other stores: a server that
	// has just started pays once for memory it touches for the first time (its Go heap growing
	// to its collector's pace, Pebble's memtables growing to their full size), which a run of a
	// few seconds would otherwise count against every event.
	Warmup int
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
	if o.Warmup < 0 {
		return nil, fmt.Errorf("warmup must be at least 0, not %d", o.Warmup)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	for round := range o.Warmup {
		if err := pushRound(ctx, c, fmt.Sprintf("push-warmup%d", round+1), o); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	conns := make([]*conn, o.Stores)
	defer closeAll(conns)
	if err := dialStores(ctx, c, "push", conns, o.Concurrency); err != nil {
		return nil, err
	}
	var (
		hist   Histogram
		pushed atomic.Uint64
		pushes atomic.Uint64
	)
	total := uint64(o.Stores) * uint64(o.Events)
	w, err := beginWindow(c)
	if err != nil {
		return nil, err
	}
	stop := startProgress(ctx, c, "push", "events", total, &pushed)
	err = pushAll(ctx, conns, o, &pushCounts{hist: &hist, pushed: &pushed, pushes: &pushes})
	stop()
	if err != nil {
		return nil, err
	}
	r := &Result{Workload: "push", Events: pushed.Load(), Pushes: pushes.Load(), WarmupRounds: o.Warmup}
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

// pushCounts are what pushAll counts: latency of each push, events and pushes acknowledged.
type pushCounts struct {
	hist           *Histogram
	pushed, pushes *atomic.Uint64
}

// pushAll pushes o.Events events to each store of conns, one push at a time per store,
// o.Concurrency stores at a time; counts, when not nil, counts them.
func pushAll(ctx context.Context, conns []*conn, o PushOptions, counts *pushCounts) error {
	var next atomic.Int64
	return parallel(ctx, o.Concurrency, func(ctx context.Context, _ int) error {
		var batch []byte
		for {
			i := int(next.Add(1)) - 1
			if i >= len(conns) {
				return nil
			}
			for first := 1; first <= o.Events; first += o.Batch {
				n := min(o.Batch, o.Events-first+1)
				batch = appendBatch(batch[:0], uint64(first), n, o.Pad)
				start := time.Now()
				if err := conns[i].push(ctx, batch, ""); err != nil {
					return err
				}
				if counts != nil {
					counts.hist.Record(time.Since(start))
					counts.pushed.Add(uint64(n))
					counts.pushes.Add(1)
				}
			}
		}
	})
}

// pushRound runs the push workload once, unmeasured, on stores of its own named after workload.
func pushRound(ctx context.Context, c *Config, workload string, o PushOptions) error {
	conns := make([]*conn, o.Stores)
	defer closeAll(conns)
	if err := dialStores(ctx, c, workload, conns, o.Concurrency); err != nil {
		return err
	}
	return pushAll(ctx, conns, o, nil)
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
