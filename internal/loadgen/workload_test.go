package loadgen_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/livestore-sync/livestore-sync/bridge"
	"github.com/livestore-sync/livestore-sync/internal/loadgen"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
)

// realServer starts the real bridge over the real service on Pebble in memory, on loopback,
// and returns its URL.
func realServer(t *testing.T) string {
	t.Helper()
	engine, err := pebblestore.Open("/data", pebblestore.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(engine, service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := bridge.New(svc, bridge.Options{Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("bridge shutdown: %v", err)
		}
		srv.Close()
		if err := svc.Close(); err != nil {
			t.Errorf("service close: %v", err)
		}
	})
	return srv.URL
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestPush(t *testing.T) {
	t.Parallel()
	url := realServer(t)
	r, err := loadgen.Push(testContext(t), loadgen.Config{URL: url}, loadgen.PushOptions{Stores: 3, Events: 250, Batch: 100, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	// 3 stores × 250 events in pushes of 100, 100 and 50.
	if r.Events != 750 || r.Pushes != 9 || !r.Checked || r.Latency == nil || r.Latency.Count != 9 {
		t.Fatalf("result %+v, latency %+v", r, r.Latency)
	}
}

// TestPushWarmup checks that warm-up rounds push to stores of their own, and only the measured
// round is counted.
func TestPushWarmup(t *testing.T) {
	t.Parallel()
	url := realServer(t)
	cfg := loadgen.Config{URL: url, StorePrefix: "w-"}
	r, err := loadgen.Push(testContext(t), cfg, loadgen.PushOptions{Stores: 2, Events: 120, Batch: 50, Warmup: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != 240 || r.Pushes != 6 || r.Latency.Count != 6 || r.WarmupRounds != 2 || !r.Checked {
		t.Fatalf("result %+v, latency %+v", r, r.Latency)
	}
	for _, store := range []string{"w-push-warmup1-0", "w-push-warmup1-1", "w-push-warmup2-0", "w-push-warmup2-1"} {
		p, err := loadgen.Pull(testContext(t), cfg, loadgen.PullOptions{Store: store, Pullers: 1})
		if err != nil {
			t.Fatal(err)
		}
		if p.Events != 120 || !p.Checked {
			t.Errorf("warm-up store %s: pulled %+v, want its 120 events", store, p)
		}
	}
	if _, err := loadgen.Push(testContext(t), cfg, loadgen.PushOptions{Stores: 1, Events: 1, Batch: 1, Warmup: -1}); err == nil {
		t.Error("a negative warm-up was accepted")
	}
}

func TestPull(t *testing.T) {
	t.Parallel()
	url := realServer(t)
	cfg := loadgen.Config{URL: url, StorePrefix: "t-"}
	r, err := loadgen.Pull(testContext(t), cfg, loadgen.PullOptions{Events: 345, Batch: 100, Pullers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != 3*345 || !r.Checked || r.Latency.Count != 3 {
		t.Fatalf("result %+v", r)
	}
	// The same store again, as an existing one: whatever it holds is pulled and checked.
	r, err = loadgen.Pull(testContext(t), cfg, loadgen.PullOptions{Store: "t-pull-0", Pullers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != 2*345 || !r.Checked {
		t.Fatalf("existing store: result %+v", r)
	}
}

func TestFanout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    loadgen.FanoutOptions
	}{
		{"as fast as possible", loadgen.FanoutOptions{Pulls: 5, Pushes: 20, Batch: 3}},
		{"at a rate, two stores", loadgen.FanoutOptions{Stores: 2, Pulls: 3, Pushes: 5, Rate: 1000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := realServer(t)
			r, err := loadgen.Fanout(testContext(t), loadgen.Config{URL: url}, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			stores := uint64(max(tt.o.Stores, 1))
			events := stores * uint64(tt.o.Pushes) * uint64(max(tt.o.Batch, 1))
			deliveries := events * uint64(tt.o.Pulls)
			if r.Events != events || r.Deliveries != deliveries || r.Latency.Count != deliveries || !r.Checked {
				t.Fatalf("result %+v, latency %+v; want %d events, %d deliveries", r, r.Latency, events, deliveries)
			}
		})
	}
}

func TestMixed(t *testing.T) {
	t.Parallel()
	url := realServer(t)
	o := loadgen.MixedOptions{FanoutOptions: loadgen.FanoutOptions{Stores: 3, Pulls: 2, Pushes: 10, Batch: 5}, ColdPullers: 2}
	r, err := loadgen.Mixed(testContext(t), loadgen.Config{URL: url}, o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != 150 || r.Deliveries != 300 || r.Sockets != 3+6+2 || !r.Checked {
		t.Fatalf("result %+v", r)
	}
}

func TestSockets(t *testing.T) {
	t.Parallel()
	url := realServer(t)
	// The server runs in this process: --pid of ourselves.
	r, err := loadgen.Sockets(testContext(t), loadgen.Config{URL: url, PIDs: []int{os.Getpid()}}, loadgen.SocketsOptions{Count: 40, Stores: 3, Dialers: 8})
	if err != nil {
		t.Fatal(err)
	}
	// After the hold, one event per store reaches every socket.
	if r.Sockets != 40 || r.Deliveries != 40 || r.Latency.Count != 40 || !r.Checked || r.Server == nil || r.Server.RSSAfterKB <= 0 {
		t.Fatalf("result %+v", r)
	}
}

func TestWriteTable(t *testing.T) {
	t.Parallel()
	results := []*loadgen.Result{
		{Workload: "push", Target: "server", Seconds: 1.5, Events: 3000, EventsPerSec: 2000, Checked: true,
			Latency: &loadgen.Latency{Of: "push round trip", P50Ms: 1, P99Ms: 2, MaxMs: 3},
			Server:  &loadgen.ServerUsage{Cores: 1.2, MicrosPerEvent: 17.25, RSSBeforeKB: 1024, RSSAfterKB: 2048}},
		{Workload: "push", Target: "pebble", Seconds: 1, Events: 9000, EventsPerSec: 9000},
	}
	var buf bytes.Buffer
	if err := loadgen.WriteTable(&buf, results); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"events/s", "2000", "9000", "push round trip", "17.2", "1.0→2.0", "server cores"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "deliveries") || strings.Contains(out, "KB/socket") {
		t.Errorf("table has columns no result has:\n%s", out)
	}
}
