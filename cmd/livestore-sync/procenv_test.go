package main

import (
	"bytes"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestServeEnv(t *testing.T) {
	const (
		huge   = "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"
		sysmon = "GODEBUG=schedtrace=2147483647"
	)
	tests := []struct {
		name string
		env  []string
		want []string // nil: unchanged
	}{
		{"neither set", []string{"PATH=/bin"}, []string{"PATH=/bin", huge, sysmon}},
		{"empty values", []string{"GODEBUG=", "GLIBC_TUNABLES="}, []string{sysmon, huge}},
		{"other settings kept, first", []string{"GODEBUG=http2client=0", "GLIBC_TUNABLES=glibc.malloc.arena_max=2"},
			[]string{"GODEBUG=http2client=0,schedtrace=2147483647", "GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"}},
		{"turned off by the operator", []string{"GODEBUG=schedtrace=0", "GLIBC_TUNABLES=glibc.malloc.hugetlb=0"}, nil},
		{"set among others", []string{"GODEBUG=gctrace=1,schedtrace=1000", "GLIBC_TUNABLES=glibc.malloc.hugetlb=2:glibc.malloc.arena_max=2"}, nil},
		{"only one missing", []string{"GODEBUG=schedtrace=0"}, []string{"GODEBUG=schedtrace=0", huge}},
		{"a setting's name inside another's is not it", []string{"GODEBUG=xschedtrace=1", huge},
			[]string{"GODEBUG=xschedtrace=1,schedtrace=2147483647", huge}},
		{"the first definition counts", []string{"GODEBUG=gctrace=1", "GODEBUG=schedtrace=0", huge},
			[]string{"GODEBUG=gctrace=1,schedtrace=2147483647", "GODEBUG=schedtrace=0", huge}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.env)
			got, changed := serveEnv(in)
			if !slices.Equal(in, tt.env) {
				t.Errorf("serveEnv changed its argument: %q", in)
			}
			want := tt.want
			if want == nil {
				want = tt.env
			}
			if !slices.Equal(got, want) || changed != (tt.want != nil) {
				t.Errorf("serveEnv(%q) = %q, %v; want %q, %v", tt.env, got, changed, want, tt.want != nil)
			}
			if again, changed := serveEnv(got); changed || !slices.Equal(again, got) {
				t.Errorf("serveEnv is not idempotent: %q → %q", got, again)
			}
		})
	}
}

// TestServeRunsWithItsSettings checks that `serve` runs, in the process it was started as, with
// the settings of serveEnv, and that settings given to it are left as they are.
func TestServeRunsWithItsSettings(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the server's environment from /proc/PID/environ (Linux)")
	}
	tests := []struct {
		name string
		env  []string
		want map[string]string
	}{
		{"added", nil, map[string]string{godebugVar: "schedtrace=2147483647", tunablesVar: "glibc.malloc.hugetlb=1"}},
		{"the operator's kept", []string{"GODEBUG=schedtrace=0", "GLIBC_TUNABLES=glibc.malloc.hugetlb=0"},
			map[string]string{godebugVar: "schedtrace=0", tunablesVar: "glibc.malloc.hugetlb=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The test's own environment must not decide the outcome.
			t.Setenv(godebugVar, "")
			t.Setenv(tunablesVar, "")
			os.Unsetenv(godebugVar)
			os.Unsetenv(tunablesVar)
			s := startServerEnv(t, t.TempDir(), tt.env)
			raw, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/environ")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, kv := range bytes.Split(raw, []byte{0}) {
				if name, value, ok := strings.Cut(string(kv), "="); ok && (name == godebugVar || name == tunablesVar) {
					if _, seen := got[name]; !seen {
						got[name] = value
					}
				}
			}
			for name, want := range tt.want {
				if got[name] != want {
					t.Errorf("server's %s = %q, want %q", name, got[name], want)
				}
			}
		})
	}
}
