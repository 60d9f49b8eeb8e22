// Package procstat reads a running process's CPU time and resident memory from Linux's /proc,
// for load tools that report what a server spent over a measured window.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"
)

// ClockTicks is the unit of the CPU times in /proc/PID/stat (USER_HZ). It is 100 on every
// Linux architecture Go supports; reading it through sysconf would need cgo.
const ClockTicks = 100

// maxTicks is the most clock ticks a time.Duration holds.
const maxTicks = uint64(math.MaxInt64 / int64(time.Second/ClockTicks))

// Sample is what a process had used at one moment.
type Sample struct {
	// CPU is the process's user plus system CPU time, all its threads together.
	CPU time.Duration
	// RSSKB is its resident set size (VmRSS) in KiB.
	RSSKB int64
	// At is when the sample was taken.
	At time.Time
}

// Read samples the process pid.
func Read(pid int) (Sample, error) {
	return read(fmt.Sprintf("/proc/%d", pid))
}

// read samples the process whose /proc directory is dir.
func read(dir string) (Sample, error) {
	at := time.Now()
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return Sample{}, fmt.Errorf("procstat: %w", err)
	}
	cpu, err := ParseStat(stat)
	if err != nil {
		return Sample{}, fmt.Errorf("procstat: %s/stat: %w", dir, err)
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return Sample{}, fmt.Errorf("procstat: %w", err)
	}
	rss, err := ParseStatusRSS(status)
	if err != nil {
		return Sample{}, fmt.Errorf("procstat: %s/status: %w", dir, err)
	}
	return Sample{CPU: cpu, RSSKB: rss, At: at}, nil
}

// ParseStat returns utime+stime from the contents of /proc/PID/stat. The command name (field
// 2) is in parentheses and may itself hold spaces and parentheses, so fields are counted from
// the last ')'.
func ParseStat(stat []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("no command name")
	}
	// After ')': field 3 (state) onwards; utime and stime are fields 14 and 15.
	fields := bytes.Fields(stat[end+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(fields))
	}
	var ticks uint64
	for _, f := range fields[11:13] {
		v, err := strconv.ParseUint(string(f), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu time %q: %w", f, err)
		}
		ticks += v
		if v > maxTicks || ticks > maxTicks {
			return 0, fmt.Errorf("cpu time %q: out of range", f)
		}
	}
	return time.Duration(ticks) * (time.Second / ClockTicks), nil
}

// ParseStatusRSS returns VmRSS in KiB from the contents of /proc/PID/status.
func ParseStatusRSS(status []byte) (int64, error) {
	for line := range bytes.SplitSeq(status, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("VmRSS line %q", line)
		}
		v, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS %q: %w", f[0], err)
		}
		return v, nil
	}
	return 0, errors.New("no VmRSS line (a kernel thread or a zombie?)")
}
