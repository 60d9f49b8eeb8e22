package loadgen

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/livestore-sync/livestore-sync/internal/procstat"
)

// Result is what one workload measured over its measured window.
type Result struct {
	// Workload is push, pull, fanout, sockets or mixed (or a ceiling's name).
	Workload string `json:"workload"`
	// Target names what was measured: "server", "null server", "pebble".
	Target string `json:"target"`
	// Seconds is the length of the measured window.
	Seconds float64 `json:"seconds"`
	// Events is how many events were pushed (push, fanout, mixed) or pulled (pull).
	Events uint64 `json:"events"`
	// EventsPerSec is Events / Seconds.
	EventsPerSec float64 `json:"events_per_sec"`
	// Pushes is how many push requests were acknowledged.
	Pushes uint64 `json:"pushes,omitempty"`
	// WarmupRounds is how many times the workload ran, unmeasured, before the measured window
	// (push).
	WarmupRounds int `json:"warmup_rounds,omitempty"`
	// Deliveries is how many events live pulls received (fanout, mixed, sockets).
	Deliveries uint64 `json:"deliveries,omitempty"`
	// DeliveriesPerSec is Deliveries / Seconds.
	DeliveriesPerSec float64 `json:"deliveries_per_sec,omitempty"`
	// ColdPulled is how many events cold pulls received during a mixed run.
	ColdPulled uint64 `json:"cold_pulled,omitempty"`
	// Sockets is how many sockets were open at once.
	Sockets int `json:"sockets,omitempty"`
	// Latency is the distribution of the workload's latency (see Latency.Of).
	Latency *Latency `json:"latency,omitempty"`
	// Checked tells that every pull received every event exactly once, in order.
	Checked bool `json:"checked"`
	// Server is what the server's processes used, with Config.PIDs.
	Server *ServerUsage `json:"server,omitempty"`
}

// Latency summarises a Histogram.
type Latency struct {
	// Of says what was timed, e.g. "push round trip", "delivery", "pull".
	Of string `json:"of"`
	// Count is how many durations were timed.
	Count uint64 `json:"count"`
	// P50Ms, P99Ms and MaxMs are the median, the 99th percentile and the maximum, in ms.
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// LatencySummary summarises h, saying it timed of; nil when h is empty.
func LatencySummary(of string, h *Histogram) *Latency {
	if h.Count() == 0 {
		return nil
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return &Latency{Of: of, Count: h.Count(), P50Ms: ms(h.Quantile(0.5)), P99Ms: ms(h.Quantile(0.99)), MaxMs: ms(h.Max())}
}

// ServerUsage is what the server process used over the measured window.
type ServerUsage struct {
	// PIDs are the processes measured (Config.PIDs).
	PIDs []int `json:"pids"`
	// CPUSeconds is its user+system CPU time; Cores that divided by the window.
	CPUSeconds float64 `json:"cpu_seconds"`
	Cores      float64 `json:"cores"`
	// MicrosPerEvent and MicrosPerDelivery are its CPU time per event and per delivery.
	MicrosPerEvent    float64 `json:"us_per_event,omitempty"`
	MicrosPerDelivery float64 `json:"us_per_delivery,omitempty"`
	// RSSBeforeKB and RSSAfterKB are its resident memory at the window's start and end.
	RSSBeforeKB int64 `json:"rss_before_kb"`
	RSSAfterKB  int64 `json:"rss_after_kb"`
	// KBPerSocket is the RSS growth divided by Result.Sockets (sockets workload).
	KBPerSocket float64 `json:"kb_per_socket,omitempty"`
}

// window is a workload's measured window.
type window struct {
	cfg    *Config
	start  time.Time
	before procstat.Sample
}

// beginWindow starts the measured window, sampling the server once it is quiet (settle).
func beginWindow(cfg *Config) (*window, error) {
	w := &window{cfg: cfg}
	if len(cfg.PIDs) > 0 {
		s, err := settle(cfg.PIDs)
		if err != nil {
			return nil, err
		}
		w.before = s
	}
	w.start = time.Now()
	return w, nil
}

// A measured window starts once the server is quiet: its processes used less than
// quietCores over settleInterval, or settleTimeout has passed. What the server still does for
// the workload's set-up (a pull's preloaded events, compacted by Pebble in the background) is
// then not counted against the workload.
const (
	settleInterval = 200 * time.Millisecond
	quietCores     = 0.05
	settleTimeout  = 30 * time.Second
)

// settle waits until the processes are quiet (see settleInterval) and returns their sample.
func settle(pids []int) (procstat.Sample, error) {
	prev, err := readAll(pids)
	if err != nil {
		return procstat.Sample{}, err
	}
	for deadline := time.Now().Add(settleTimeout); time.Now().Before(deadline); {
		time.Sleep(settleInterval)
		cur, err := readAll(pids)
		if err != nil {
			return procstat.Sample{}, err
		}
		if d := cur.At.Sub(prev.At); d > 0 && (cur.CPU-prev.CPU).Seconds() < quietCores*d.Seconds() {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

// end ends the window and fills in r's duration, rates and server usage from its counts.
func (w *window) end(r *Result) error {
	elapsed := time.Since(w.start)
	r.Seconds = elapsed.Seconds()
	if r.Seconds > 0 {
		r.EventsPerSec = float64(r.Events) / r.Seconds
		r.DeliveriesPerSec = float64(r.Deliveries) / r.Seconds
	}
	if len(w.cfg.PIDs) == 0 {
		return nil
	}
	after, err := readAll(w.cfg.PIDs)
	if err != nil {
		return err
	}
	cpu := after.CPU - w.before.CPU
	u := &ServerUsage{
		PIDs:        w.cfg.PIDs,
		CPUSeconds:  cpu.Seconds(),
		RSSBeforeKB: w.before.RSSKB,
		RSSAfterKB:  after.RSSKB,
	}
	if d := after.At.Sub(w.before.At); d > 0 {
		u.Cores = cpu.Seconds() / d.Seconds()
	}
	us := float64(cpu) / float64(time.Microsecond)
	if r.Events > 0 {
		u.MicrosPerEvent = us / float64(r.Events)
	}
	if r.Deliveries > 0 {
		u.MicrosPerDelivery = us / float64(r.Deliveries)
	}
	if r.Workload == "sockets" && r.Sockets > 0 {
		u.KBPerSocket = float64(after.RSSKB-w.before.RSSKB) / float64(r.Sockets)
	}
	r.Server = u
	return nil
}

// readAll samples the processes and sums their CPU time and RSS.
func readAll(pids []int) (procstat.Sample, error) {
	var sum procstat.Sample
	for _, pid := range pids {
		s, err := procstat.Read(pid)
		if err != nil {
			return procstat.Sample{}, fmt.Errorf("server process: %w", err)
		}
		sum.CPU += s.CPU
		sum.RSSKB += s.RSSKB
		sum.At = s.At
	}
	return sum, nil
}

// startProgress writes a line to cfg.Progress every cfg.ProgressEvery until the returned
// function is called: what done() counted of total (0: unknown) and the rate.
func startProgress(ctx context.Context, cfg *Config, name, unit string, total uint64, done *atomic.Uint64) (stop func()) {
	if cfg.Progress == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(cfg.ProgressEvery)
		defer t.Stop()
		start, last, lastAt := time.Now(), uint64(0), time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				n := done.Load()
				rate := float64(n-last) / now.Sub(lastAt).Seconds()
				last, lastAt = n, now
				of := ""
				if total > 0 {
					of = fmt.Sprintf("/%d", total)
				}
				fmt.Fprintf(cfg.Progress, "%s: %d%s %s, %.0f/s, %s\n", name, n, of, unit, rate, now.Sub(start).Round(time.Second))
			}
		}
	}()
	return func() { cancel(); <-finished }
}

// writer is an io.Writer that remembers its first error, for reports.
type writer struct {
	w   io.Writer
	err error
}

func (w *writer) printf(format string, args ...any) {
	if w.err == nil {
		_, w.err = fmt.Fprintf(w.w, format, args...)
	}
}
