package ceiling_test

import (
	"context"
	"testing"
	"time"

	"github.com/livestore-sync/livestore-sync/internal/loadgen"
	"github.com/livestore-sync/livestore-sync/internal/loadgen/ceiling"
)

// TestNullServerRunsEveryWorkload runs each workload small against the null server, with the
// same checks as against a real one.
func TestNullServerRunsEveryWorkload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		run        func(context.Context, loadgen.Config) (*loadgen.Result, error)
		events     uint64
		deliveries uint64
	}{
		{"push", func(ctx context.Context, c loadgen.Config) (*loadgen.Result, error) {
			return loadgen.Push(ctx, c, loadgen.PushOptions{Stores: 3, Events: 250, Batch: 100})
		}, 750, 0},
		{"pull", func(ctx context.Context, c loadgen.Config) (*loadgen.Result, error) {
			return loadgen.Pull(ctx, c, loadgen.PullOptions{Events: 250, Batch: 100, Pullers: 2})
		}, 500, 0},
		{"fanout", func(ctx context.Context, c loadgen.Config) (*loadgen.Result, error) {
			return loadgen.Fanout(ctx, c, loadgen.FanoutOptions{Pulls: 4, Pushes: 10, Batch: 150})
		}, 1500, 6000},
		{"mixed", func(ctx context.Context, c loadgen.Config) (*loadgen.Result, error) {
			return loadgen.Mixed(ctx, c, loadgen.MixedOptions{FanoutOptions: loadgen.FanoutOptions{Stores: 2, Pulls: 2, Pushes: 5, Batch: 2}, ColdPullers: 2})
		}, 20, 40},
		{"sockets", func(ctx context.Context, c loadgen.Config) (*loadgen.Result, error) {
			return loadgen.Sockets(ctx, c, loadgen.SocketsOptions{Count: 20, Stores: 2})
		}, 0, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := ceiling.StartNullServer()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			r, err := tt.run(ctx, loadgen.Config{URL: s.URL()})
			if err != nil {
				t.Fatal(err)
			}
			if r.Events != tt.events || r.Deliveries != tt.deliveries || !r.Checked {
				t.Fatalf("result %+v; want %d events, %d deliveries", r, tt.events, tt.deliveries)
			}
		})
	}
}

func TestPebbleCommits(t *testing.T) {
	t.Parallel()
	r, err := ceiling.PebbleCommits(t.Context(), ceiling.PebbleOptions{Dir: t.TempDir(), Writers: 3, Commits: 5, Batch: 10})
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != 150 || r.Pushes != 15 || r.Latency.Count != 15 || r.Target != "pebble" {
		t.Fatalf("result %+v", r)
	}
	if _, err := ceiling.PebbleCommits(t.Context(), ceiling.PebbleOptions{Writers: 0, Commits: 1, Batch: 1}); err == nil {
		t.Fatal("no error for 0 writers")
	}
}
