package procstat

import (
	"testing"
)

// FuzzParseStat: any contents of /proc/PID/stat are parsed or refused, never a panic, and a
// parsed CPU time is not negative.
func FuzzParseStat(f *testing.F) {
	f.Add([]byte("42 (livestore-sync) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 2 3"))
	f.Add([]byte("1 ((x)) ) R 1 1 1 0 -1 0 0 0 0 0 18446744073709551615 1"))
	f.Fuzz(func(t *testing.T, stat []byte) {
		if d, err := ParseStat(stat); err == nil && d < 0 {
			t.Fatalf("negative CPU time %v", d)
		}
	})
}

// FuzzParseStatusRSS: any contents of /proc/PID/status are parsed or refused, never a panic.
func FuzzParseStatusRSS(f *testing.F) {
	f.Add([]byte("Name:\tx\nVmRSS:\t    5120 kB\n"))
	f.Fuzz(func(t *testing.T, status []byte) {
		_, _ = ParseStatusRSS(status)
	})
}
