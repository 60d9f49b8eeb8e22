package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/livestore-sync/livestore-sync/internal/loadgen"
)

// TestBench runs every workload of `livestore-sync bench`, small, against a served binary
// with --pid, and checks what it reports.
// (No t.Parallel: cliRun sets environment variables.)
func TestBench(t *testing.T) {
	srv := startServer(t, t.TempDir())
	pid := fmt.Sprint(srv.cmd.Process.Pid)
	tests := []struct {
		args    []string
		targets []string // of the results, in order
		events  uint64   // of the first result
	}{
		{[]string{"push", "--stores", "2", "--events", "150", "--batch", "50", "--ceiling"}, []string{"server", "null server", "pebble"}, 300},
		{[]string{"pull", "--events", "120", "--pullers", "2", "--ceiling"}, []string{"server", "null server"}, 240},
		{[]string{"fanout", "--pulls", "3", "--pushes", "5", "--batch", "2"}, []string{"server"}, 10},
		{[]string{"fanout", "--pulls", "2", "--pushes", "3", "--rate", "500"}, []string{"server"}, 3},
		{[]string{"sockets", "--count", "10", "--stores", "2", "--ceiling"}, []string{"server", "null server"}, 0},
		{[]string{"mixed", "--stores", "2", "--pulls", "2", "--pushes", "4", "--batch", "3", "--rate", "0"}, []string{"server"}, 24},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := append([]string{"bench"}, tt.args...)
			args = append(args, "--server", srv.url, "--pid", pid, "--json", "--quiet")
			r := cliRun(t, "", args...)
			r.want(t, exitOK)
			var results []*loadgen.Result
			if err := json.Unmarshal([]byte(r.stdout), &results); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, r.stdout)
			}
			if len(results) != len(tt.targets) {
				t.Fatalf("%d results, want %d:\n%s", len(results), len(tt.targets), r.stdout)
			}
			for i, res := range results {
				if res.Target != tt.targets[i] || res.Workload != tt.args[0] || (res.Target != "pebble" && !res.Checked) {
					t.Errorf("result %d: %+v", i, res)
				}
				// The null server runs in a process of its own, measured as the server is.
				if res.Target == "null server" && (res.Server == nil || len(res.Server.PIDs) != 1 ||
					res.Server.PIDs[0] == srv.cmd.Process.Pid || res.Server.PIDs[0] == os.Getpid() || res.Server.RSSAfterKB <= 0) {
					t.Errorf("null server's usage %+v, want that of its own process", res.Server)
				}
			}
			first := results[0]
			if first.Events != tt.events || first.Server == nil || first.Server.PIDs[0] != srv.cmd.Process.Pid || first.Server.RSSAfterKB <= 0 {
				t.Fatalf("first result %+v, server %+v; want %d events", first, first.Server, tt.events)
			}
		})
	}
}

func TestBenchTable(t *testing.T) {
	srv := startServer(t, t.TempDir())
	r := cliRun(t, "", "bench", "push", "--server", srv.url, "--stores", "1", "--events", "10", "--batch", "5")
	r.want(t, exitOK, "events/s", "push round trip", "p99 ms")
}

func TestBenchPayload(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--auth-token", "tok en")
	args := []string{"bench", "push", "--server", srv.url, "--stores", "1", "--events", "3", "--quiet"}
	cliRun(t, "", append(args, "--payload", `{ "authToken": "tok en" }`)...).want(t, exitOK, "push round trip")
	cliRun(t, "", append(args, "--payload", `{"authToken":"wrong"}`)...).want(t, exitFailure, "open socket")
}

func TestBenchUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bench"}, exitUsage, "missing workload"},
		{[]string{"bench", "nope"}, exitUsage, "unknown workload"},
		{[]string{"bench", "--help"}, exitOK, "Workloads:"},
		{[]string{"bench", "push", "--pulls", "3"}, exitUsage, "flag provided but not defined: -pulls"},
		{[]string{"bench", "push", "--payload", "{"}, exitUsage, "not JSON"},
		{[]string{"bench", "push", "--pid", "12,x"}, exitUsage, "not a process id"},
		{[]string{"bench", "push", "--stores", "-1", "--server", "http://127.0.0.1:1"}, exitFailure, "stores must be at least 1"},
		{[]string{"bench", "push", "--stores", "1", "--server", "http://127.0.0.1:1"}, exitFailure, "open socket"},
		{[]string{"bench", "null-server", "--stores", "1"}, exitUsage, "flag provided but not defined: -stores"},
		{[]string{"bench", "null-server", "--help"}, exitOK, "measuring device"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cliRun(t, "", tt.args...).want(t, tt.code, tt.want)
		})
	}
}

// TestBenchNullServer runs `bench null-server` in-process: it prints its URL and ends with its
// standard input (here empty from the start).
func TestBenchNullServer(t *testing.T) {
	r := cliRun(t, "", "bench", "null-server")
	r.want(t, exitOK)
	if !regexp.MustCompile(`^ws://127\.0\.0\.1:[0-9]+\n$`).MatchString(r.stdout) {
		t.Fatalf("stdout %q, want the URL alone", r.stdout)
	}
}
