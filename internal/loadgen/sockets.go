package loadgen

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// SocketsOptions shape the sockets workload: Count sockets, spread over Stores stores, each
// with a live pull, opened Dialers at a time and then held open for Hold. Then one event is
// pushed to each store, outside the measured window, and every socket must receive it.
type SocketsOptions struct {
	Count   int
	Stores  int // 0: 1
	Hold    time.Duration
	Dialers int // 0: 50
}

// Sockets runs the sockets workload. The measured window runs from before the first socket
// opens to the end of the hold, so that with Config.PID the server's RSS growth per socket is
// reported (ServerUsage.KBPerSocket). Its latency is the time to open a socket and receive its
// pull's first page.
func Sockets(ctx context.Context, cfg Config, o SocketsOptions) (*Result, error) {
	c := cfg.withDefaults()
	if o.Stores == 0 {
		o.Stores = 1
	}
	if o.Dialers == 0 {
		o.Dialers = 50
	}
	o.Stores = min(o.Stores, max(o.Count, 1))
	if err := positive("count", o.Count, "stores", o.Stores, "dialers", o.Dialers); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conns := make([]*conn, o.Count)
	defer closeAll(conns)
	followers := make([]*follower, o.Count)
	var (
		hist       Histogram
		open       atomic.Uint64
		next       atomic.Int64
		deliveries atomic.Uint64
	)
	w, err := beginWindow(c)
	if err != nil {
		return nil, err
	}
	stop := startProgress(ctx, c, "sockets", "open", uint64(o.Count), &open)
	err = parallel(ctx, min(o.Dialers, o.Count), func(ctx context.Context, _ int) error {
		for {
			i := int(next.Add(1)) - 1
			if i >= o.Count {
				return nil
			}
			start := time.Now()
			cn, err := dial(ctx, c, c.storeID("sockets", i%o.Stores))
			if err != nil {
				return fmt.Errorf("socket %d: %w", i, err)
			}
			conns[i] = cn
			f := &follower{deliveries: &deliveries}
			if err := startFollower(ctx, cn, true, f); err != nil {
				return err
			}
			if err := f.waitFor(ctx, 0); err != nil {
				return err
			}
			followers[i] = f
			hist.Record(time.Since(start))
			open.Add(1)
		}
	})
	stop()
	if err != nil {
		return nil, err
	}
	if o.Hold > 0 {
		select {
		case <-time.After(o.Hold):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for _, cn := range conns {
		select {
		case <-cn.done:
			return nil, fmt.Errorf("socket to %s ended while held: %w", cn.storeID, cn.err)
		default:
		}
	}
	r := &Result{Workload: "sockets", Sockets: o.Count}
	if err := w.end(r); err != nil {
		return nil, err
	}
	r.Latency = LatencySummary("open + first page", &hist)

	// Every held socket still delivers.
	before := deliveries.Load()
	heads := make([]uint64, o.Stores)
	for s := range o.Stores {
		f := followers[s]
		heads[s] = f.currentHead() + 1
		if err := f.c.push(ctx, appendBatch(nil, heads[s], 1, 0), ""); err != nil {
			return nil, fmt.Errorf("push after the hold: %w", err)
		}
	}
	for i, f := range followers {
		if err := f.waitFor(ctx, heads[i%o.Stores]); err != nil {
			return nil, err
		}
		if err := f.check(heads[i%o.Stores]); err != nil {
			return nil, err
		}
	}
	r.Deliveries = deliveries.Load() - before
	r.Checked = true
	return r, nil
}
