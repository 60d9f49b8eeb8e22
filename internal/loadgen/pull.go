package loadgen

import (
	"context"
	"sync/atomic"
	"time"
)

// PullOptions shape the pull workload: Pullers sockets each pull one store from the start to
// its end (a cold pull, acknowledging every page). The store is Store when given (events
// already there; Events is then ignored), or a new one that Events events are pushed to first,
// in pushes of Batch, outside the measured window.
type PullOptions struct {
	Store   string
	Events  int
	Batch   int
	Pullers int
	Pad     int
}

// Pull runs the pull workload. Its latency is the time of a whole pull; each puller checks that
// it received the store's events exactly once, in order.
func Pull(ctx context.Context, cfg Config, o PullOptions) (*Result, error) {
	c := cfg.withDefaults()
	if o.Pullers == 0 {
		o.Pullers = 1
	}
	if err := positive("pullers", o.Pullers); err != nil {
		return nil, err
	}
	storeID, head := o.Store, uint64(0)
	if storeID == "" {
		if err := positive("events", o.Events, "batch", o.Batch); err != nil {
			return nil, err
		}
		storeID, head = c.storeID("pull", 0), uint64(o.Events)
		if err := preload(ctx, c, storeID, o.Events, o.Batch, o.Pad); err != nil {
			return nil, err
		}
	}

	conns := make([]*conn, o.Pullers)
	defer closeAll(conns)
	for i := range conns {
		cn, err := dial(ctx, c, storeID)
		if err != nil {
			return nil, err
		}
		conns[i] = cn
	}
	var (
		hist   Histogram
		events atomic.Uint64
	)
	w, err := beginWindow(c)
	if err != nil {
		return nil, err
	}
	stop := startProgress(ctx, c, "pull", "events", head*uint64(o.Pullers), &events)
	err = parallel(ctx, o.Pullers, func(ctx context.Context, i int) error {
		start := time.Now()
		if _, err := coldPull(ctx, conns[i], head, &events); err != nil {
			return err
		}
		hist.Record(time.Since(start))
		return nil
	})
	stop()
	if err != nil {
		return nil, err
	}
	r := &Result{Workload: "pull", Events: events.Load(), Checked: true}
	if err := w.end(r); err != nil {
		return nil, err
	}
	r.Latency = LatencySummary("whole pull", &hist)
	return r, nil
}

// preload pushes events 1 … n to a new store, in pushes of batch.
func preload(ctx context.Context, c *Config, storeID string, n, batch, pad int) error {
	cn, err := dial(ctx, c, storeID)
	if err != nil {
		return err
	}
	defer cn.close()
	var progress atomic.Uint64
	stop := startProgress(ctx, c, "pull: pushing first", "events", uint64(n), &progress)
	defer stop()
	var buf []byte
	for first := 1; first <= n; first += batch {
		k := min(batch, n-first+1)
		buf = appendBatch(buf[:0], uint64(first), k, pad)
		if err := cn.push(ctx, buf, ""); err != nil {
			return err
		}
		progress.Add(uint64(k))
	}
	return nil
}
