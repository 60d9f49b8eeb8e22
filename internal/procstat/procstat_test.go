package procstat

import (
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want time.Duration
		err  bool
	}{
		{"plain", "42 (livestore-sync) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 2 3", 3 * time.Second, false},
		{"name with spaces and parens", "42 (a) (b c) R 1 42 42 0 -1 0 0 0 0 0 7 3 0 0", 100 * time.Millisecond, false},
		{"no name", "42 S 1", 0, true},
		{"too short", "42 (x) S 1 2 3", 0, true},
		{"not a number", "42 (x) S 1 42 42 0 -1 0 0 0 0 0 x 3", 0, true},
		{"out of range", "42 (x) S 1 42 42 0 -1 0 0 0 0 0 18446744073709551615 1", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseStat([]byte(tt.in))
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("ParseStat = %v, %v; want %v, error %t", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestParseStatusRSS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want int64
		err  bool
	}{
		{"present", "Name:\tx\nVmPeak:\t  100 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n", 5120, false},
		{"missing", "Name:\tx\n", 0, true},
		{"bad unit", "VmRSS:\t5 MB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseStatusRSS([]byte(tt.in))
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("ParseStatusRSS = %v, %v; want %v, error %t", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestReadSelf(t *testing.T) {
	t.Parallel()
	s, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSSKB <= 0 {
		t.Fatalf("own RSS %d KiB", s.RSSKB)
	}
	if _, err := Read(-1); err == nil {
		t.Fatal("no error for a missing process")
	}
}
