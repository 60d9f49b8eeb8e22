package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/livestore-sync/livestore-sync/internal/loadgen"
	"github.com/livestore-sync/livestore-sync/internal/loadgen/ceiling"
)

const benchDescription = `
Generates load on a server over LiveStore's WebSocket protocol, as LiveStore's client does (one
push at a time per store, every Chunk acknowledged), against livestore-sync or any server that
speaks the protocol (the original @livestore/sync-cf too). Every pull is checked to receive every
event exactly once and in order; a run that sees otherwise fails (exit code 1).

Workloads:
  push     --stores stores, each receiving --events events in pushes of --batch,
           --concurrency stores at a time; latency: push round trip
  pull     cold pulls of --events events (pushed first, unmeasured) or of an existing --store,
           by --pullers sockets at once; latency: a whole pull
  fanout   --pulls live pulls per store follow --stores stores, each pushed --pushes pushes of
           --batch events at --rate pushes/s (0: as fast as acknowledged); latency: delivery,
           from a push's send to each live pull's receipt
  sockets  --count sockets over --stores stores, each with a live pull, opened --dialers at a
           time and held for --hold; latency: opening one and receiving its first page
  mixed    fanout on several stores while --cold-pullers sockets pull them from the start
           again and again

Prints a table (or --json): events/s, deliveries/s, latency p50/p99/max. With --pid, the
server's CPU over the measured window (cores, µs per event and per delivery) and its RSS before
and after (for sockets, KB per socket). With --ceiling, the same workload also runs against a
null server that stores nothing (what the client and machine allow; see bench null-server), in a
child process whose CPU and RSS are reported as the server's are, and for push Pebble's own
synced commits of the same batches in a temporary directory.

  livestore-sync bench null-server   runs that null server alone, for other load tools
`

// benchFlags are the flags of `livestore-sync bench WORKLOAD`.
type benchFlags struct {
	server, payload, prefix string
	pids                    string
	json, ceiling, quiet    bool
	timeout                 time.Duration
	pebbleDir               string

	stores, events, batch, concurrency, pad int
	warmup                                  int
	noVerify                                bool
	store                                   string
	pullers                                 int
	pulls, pushes                           int
	rate                                    float64
	count, dialers                          int
	hold                                    time.Duration
	coldPullers                             int
}

// benchWorkloads are the defaults of each workload's flags (0: the flag is not offered).
var benchWorkloads = map[string]benchFlags{
	"push":    {stores: 20, events: 1000, batch: 100},
	"pull":    {events: 10000, batch: 100, pullers: 1},
	"fanout":  {stores: 1, pulls: 50, pushes: 1000, batch: 1},
	"sockets": {stores: 1, count: 1000, dialers: 50},
	"mixed":   {stores: 10, pulls: 5, pushes: 500, batch: 10, rate: 100, coldPullers: 2},
}

func benchCmd(env *cliEnv, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprintf(env.stdout, "Usage: livestore-sync bench push|pull|fanout|sockets|mixed [flags]\n%s", benchDescription)
			return nil
		}
		return usageError{errors.New("missing workload: push, pull, fanout, sockets or mixed (see livestore-sync bench --help)")}
	}
	name := args[0]
	if name == "null-server" {
		return nullServerCmd(env, args[1:])
	}
	defaults, ok := benchWorkloads[name]
	if !ok {
		return usageError{fmt.Errorf("unknown workload %q: push, pull, fanout, sockets or mixed", name)}
	}
	f := defaults
	fs := newFlagSet("bench "+name, "bench "+name+" [flags]", benchDescription, env.stderr)
	fs.StringVar(&f.server, "server", envOr("LIVESTORE_SYNC_SERVER", defaultServer), "`URL` of the server: ws, wss, http or https (env LIVESTORE_SYNC_SERVER)")
	fs.StringVar(&f.payload, "payload", "", "client payload `JSON` sent with every socket, e.g. '{\"authToken\":\"…\"}'")
	fs.StringVar(&f.prefix, "store-prefix", "", "`prefix` of the store ids (default bench-<time>-, new stores every run)")
	fs.StringVar(&f.pids, "pid", "", "the server's process `id`s, comma-separated, on this machine: report their CPU and RSS over the measured window")
	fs.BoolVar(&f.json, "json", false, "print the results as JSON")
	fs.BoolVar(&f.ceiling, "ceiling", false, "also run the workload against a null server in a child process, its CPU and RSS measured (and, for push, Pebble's own synced commits)")
	fs.StringVar(&f.pebbleDir, "pebble-dir", "", "`directory` for the Pebble ceiling's temporary database (default: the system's temporary directory); put it on the server's disk")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines on stderr")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up after this `duration`")
	fs.IntVar(&f.pad, "pad", 0, "lengthen each event's text by this many `bytes`")
	intFlag := func(p *int, name, usage string) {
		if *p != 0 {
			fs.IntVar(p, name, *p, usage)
		}
	}
	intFlag(&f.stores, "stores", "`number` of stores")
	intFlag(&f.events, "events", "`number` of events (per store for push)")
	intFlag(&f.batch, "batch", "events per push")
	intFlag(&f.pullers, "pullers", "cold pulls at once")
	intFlag(&f.pulls, "pulls", "live pulls per store")
	intFlag(&f.pushes, "pushes", "pushes per store")
	intFlag(&f.count, "count", "sockets to open")
	intFlag(&f.dialers, "dialers", "sockets opened at once")
	intFlag(&f.coldPullers, "cold-pullers", "sockets pulling the stores from the start, again and again")
	switch name {
	case "push":
		fs.IntVar(&f.concurrency, "concurrency", 0, "stores pushed to at once (default: all)")
		fs.BoolVar(&f.noVerify, "no-verify", false, "do not pull every store back after the run to check it")
		fs.IntVar(&f.warmup, "warmup", 0, "run the workload this many `times` first, unmeasured, on other stores, so that a\n"+
			"server that has just started has touched its memory once (Go heap, Pebble's memtables)")
	case "pull":
		fs.StringVar(&f.store, "store", "", "pull this existing `store` instead of pushing --events to a new one")
	case "fanout", "mixed":
		fs.Float64Var(&f.rate, "rate", f.rate, "pushes per second per store (0: each as soon as the previous one is acknowledged)")
	case "sockets":
		fs.DurationVar(&f.hold, "hold", 0, "how long to hold the sockets open, measured")
	}
	if _, err := parseArgs(fs, args[1:]); err != nil {
		return err
	}
	var pids []int
	for p := range strings.SplitSeq(f.pids, ",") {
		if p == "" {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || pid <= 0 {
			return usageError{fmt.Errorf("--pid: %q is not a process id", p)}
		}
		pids = append(pids, pid)
	}
	if f.payload != "" {
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(f.payload)); err != nil {
			return usageError{fmt.Errorf("--payload is not JSON: %w", err)}
		}
		f.payload = compact.String()
	}

	ctx, cancel := context.WithTimeout(env.ctx, f.timeout)
	defer cancel()
	cfg := loadgen.Config{URL: f.server, Payload: f.payload, StorePrefix: f.prefix, PIDs: pids}
	if !f.quiet {
		cfg.Progress = env.stderr
	}
	r, err := f.run(ctx, name, cfg)
	if err != nil {
		return fmt.Errorf("against %s: %w", f.server, err)
	}
	r.Target = "server"
	results := []*loadgen.Result{r}
	if f.ceiling {
		more, err := f.ceilings(ctx, name, cfg, r, env.stderr)
		if err != nil {
			return err
		}
		results = append(results, more...)
	}
	if f.json {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	return loadgen.WriteTable(env.stdout, results)
}

// run runs the workload name with the flags against cfg.
func (f *benchFlags) run(ctx context.Context, name string, cfg loadgen.Config) (*loadgen.Result, error) {
	fanout := loadgen.FanoutOptions{Stores: f.stores, Pulls: f.pulls, Pushes: f.pushes, Batch: f.batch, Rate: f.rate, Pad: f.pad}
	switch name {
	case "push":
		return loadgen.Push(ctx, cfg, loadgen.PushOptions{Stores: f.stores, Events: f.events, Batch: f.batch, Concurrency: f.concurrency, Pad: f.pad, NoVerify: f.noVerify, Warmup: f.warmup})
	case "pull":
		return loadgen.Pull(ctx, cfg, loadgen.PullOptions{Store: f.store, Events: f.events, Batch: f.batch, Pullers: f.pullers, Pad: f.pad})
	case "fanout":
		return loadgen.Fanout(ctx, cfg, fanout)
	case "sockets":
		return loadgen.Sockets(ctx, cfg, loadgen.SocketsOptions{Count: f.count, Stores: f.stores, Hold: f.hold, Dialers: f.dialers})
	default:
		return loadgen.Mixed(ctx, cfg, loadgen.MixedOptions{FanoutOptions: fanout, ColdPullers: f.coldPullers})
	}
}

// ceilings runs the workload against a null server, and for push measures Pebble's commits of
// the same shape.
func (f *benchFlags) ceilings(ctx context.Context, name string, cfg loadgen.Config, measured *loadgen.Result, stderr io.Writer) (_ []*loadgen.Result, err error) {
	null, err := startNullServer(ctx, stderr)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, null.Close()) }()
	cfg.URL, cfg.PIDs = null.URL(), []int{null.PID()}
	nf := *f
	if name == "pull" && f.store != "" {
		// The null server has no such store: push it as many events as were pulled.
		nf.store, nf.events = "", int(measured.Events)/f.pullers
	}
	r, err := nf.run(ctx, name, cfg)
	if err != nil {
		return nil, fmt.Errorf("against the null server: %w", err)
	}
	r.Target = "null server"
	results := []*loadgen.Result{r}
	if name == "push" {
		writers := f.concurrency
		if writers == 0 {
			writers = f.stores
		}
		p, err := ceiling.PebbleCommits(ctx, ceiling.PebbleOptions{
			Dir: f.pebbleDir, Writers: writers, Batch: f.batch,
			Commits: max(f.stores*f.events/f.batch/writers, 1),
		})
		if err != nil {
			return nil, err
		}
		results = append(results, p)
	}
	return results, nil
}
