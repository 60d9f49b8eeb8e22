package loadgen

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// FanoutOptions shape the fanout workload: Pulls live pulls follow each of Stores stores; one
// socket per store pushes Pushes pushes of Batch events to it, at Rate pushes a second (0: each
// as soon as the previous one was acknowledged).
type FanoutOptions struct {
	Stores int // 0: 1
	Pulls  int // per store
	Pushes int // per store
	Batch  int // 0: 1
	Rate   float64
	Pad    int
}

// MixedOptions shape the mixed workload: the fanout workload on several stores while
// ColdPullers sockets pull the stores from the start over and over, each pull checked.
type MixedOptions struct {
	FanoutOptions
	ColdPullers int
}

// Fanout runs the fanout workload. Its latency is the delivery latency: from the push's send to
// each live pull's receipt of each event.
func Fanout(ctx context.Context, cfg Config, o FanoutOptions) (*Result, error) {
	return fanout(ctx, cfg.withDefaults(), "fanout", MixedOptions{FanoutOptions: o})
}

// Mixed runs the mixed workload (see MixedOptions). Its latency is the delivery latency, as
// for Fanout; Result.ColdPulled counts the events the cold pulls received.
func Mixed(ctx context.Context, cfg Config, o MixedOptions) (*Result, error) {
	return fanout(ctx, cfg.withDefaults(), "mixed", o)
}

func fanout(ctx context.Context, c *Config, name string, o MixedOptions) (*Result, error) {
	if o.Stores == 0 {
		o.Stores = 1
	}
	if o.Batch == 0 {
		o.Batch = 1
	}
	if err := positive("stores", o.Stores, "pulls", o.Pulls, "pushes", o.Pushes, "batch", o.Batch); err != nil {
		return nil, err
	}
	if o.Rate < 0 || o.ColdPullers < 0 {
		return nil, fmt.Errorf("rate and cold pullers must not be negative")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	head := uint64(o.Pushes) * uint64(o.Batch)

	// Every socket: per store, a pusher and Pulls live pulls; then the cold pullers.
	pushers := make([]*conn, o.Stores)
	defer closeAll(pushers)
	if err := dialStores(ctx, c, name, pushers, min(o.Stores, 64)); err != nil {
		return nil, err
	}
	live := make([]*conn, o.Stores*o.Pulls)
	defer closeAll(live)
	var (
		deliveries atomic.Uint64
		latency    Histogram
		base       = time.Now()
	)
	sent := make([]*sentTimes, o.Stores)
	for i := range sent {
		sent[i] = newSentTimes(base, int(head))
	}
	followers := make([]*follower, len(live))
	var next atomic.Int64
	err := parallel(ctx, min(len(live), 64), func(ctx context.Context, _ int) error {
		for {
			i := int(next.Add(1)) - 1
			if i >= len(live) {
				return nil
			}
			store := i % o.Stores
			cn, err := dial(ctx, c, c.storeID(name, store))
			if err != nil {
				return err
			}
			live[i] = cn
			f := &follower{sent: sent[store], latency: &latency, deliveries: &deliveries}
			if err := startFollower(ctx, cn, true, f); err != nil {
				return err
			}
			if err := f.waitFor(ctx, 0); err != nil {
				return err
			}
			followers[i] = f
		}
	})
	if err != nil {
		return nil, err
	}
	cold := make([]*conn, o.ColdPullers)
	defer closeAll(cold)
	for i := range cold {
		cn, err := dial(ctx, c, c.storeID(name, i%o.Stores))
		if err != nil {
			return nil, err
		}
		cold[i] = cn
	}

	var (
		pushed     atomic.Uint64
		pushes     atomic.Uint64
		coldPulled atomic.Uint64
		pushing    = make(chan struct{})
	)
	w, err := beginWindow(c)
	if err != nil {
		return nil, err
	}
	stop := startProgress(ctx, c, name, "deliveries", head*uint64(len(live)), &deliveries)
	coldErr := make(chan error, 1)
	go func() {
		coldErr <- parallel(ctx, o.ColdPullers, func(ctx context.Context, i int) error {
			for {
				select {
				case <-pushing:
					return nil
				default:
				}
				if _, err := coldPull(ctx, cold[i], 0, &coldPulled); err != nil {
					return fmt.Errorf("cold pull: %w", err)
				}
			}
		})
	}()
	err = parallel(ctx, o.Stores, func(ctx context.Context, store int) error {
		var batch []byte
		start := time.Now()
		for k := range o.Pushes {
			if o.Rate > 0 {
				due := start.Add(time.Duration(float64(k) / o.Rate * float64(time.Second)))
				if d := time.Until(due); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			}
			first := uint64(k*o.Batch) + 1
			batch = appendBatch(batch[:0], first, o.Batch, o.Pad)
			sent[store].mark(first, o.Batch)
			if err := pushers[store].push(ctx, batch, ""); err != nil {
				return err
			}
			pushed.Add(uint64(o.Batch))
			pushes.Add(1)
		}
		return nil
	})
	if err == nil {
		err = parallel(ctx, min(len(followers), 64), func(ctx context.Context, i int) error {
			for j := i; j < len(followers); j += min(len(followers), 64) {
				if err := followers[j].waitFor(ctx, head); err != nil {
					return err
				}
			}
			return nil
		})
	}
	close(pushing)
	if cerr := <-coldErr; err == nil {
		err = cerr
	}
	stop()
	if err != nil {
		return nil, err
	}
	r := &Result{
		Workload:   name,
		Events:     pushed.Load(),
		Pushes:     pushes.Load(),
		Deliveries: deliveries.Load(),
		ColdPulled: coldPulled.Load(),
		Sockets:    len(pushers) + len(live) + len(cold),
	}
	if err := w.end(r); err != nil {
		return nil, err
	}
	r.Latency = LatencySummary("delivery", &latency)
	for _, f := range followers {
		if err := f.check(head); err != nil {
			return nil, err
		}
	}
	if want := head * uint64(len(followers)); r.Deliveries != want {
		return nil, fmt.Errorf("%d deliveries, want %d", r.Deliveries, want)
	}
	r.Checked = true
	return r, nil
}
