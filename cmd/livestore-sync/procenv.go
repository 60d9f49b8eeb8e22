package main

import "strings"

// The process environment serve runs with. Two settings that the server wants are read only
// when a process starts, by the C library and by the Go runtime, so serve sets them by executing
// itself again, once, with them added (reexecForServe), unless the environment already sets them:
// that is the operator's choice, turning them off included.
//
//   - GLIBC_TUNABLES=glibc.malloc.hugetlb=1: Pebble allocates its 64 MiB memtables with the C
//     library's malloc, which then asks the kernel for transparent huge pages for them (glibc
//     2.35 and later; other C libraries, and older glibc, ignore it). A server just started takes
//     about 21,000 page faults instead of 50,000 in its first 400,000 pushed events.
//   - GODEBUG=schedtrace=2147483647: keeps the Go runtime's sysmon thread out of its deep sleep
//     (golang/go#18236). Whenever every processor of the runtime has gone idle, sysmon sleeps
//     until woken, and the next system call wakes it and sets it back to waking every 20 µs for
//     at least a millisecond; a server that goes idle between requests (a pull waiting for its
//     Ack, a push waiting for the next) pays that on every return, a nanosleep per 20 µs: 15–25 %
//     of the server's CPU at a few thousand requests per second, more where system calls are
//     slow (virtual machines). Not sleeping deeply, sysmon backs off to waking every 10 ms while
//     nothing needs it, as it does under load. The setting's other effect is a scheduler trace
//     line on standard error every 2^31-1 ms (24.8 days), the longest period the runtime takes:
//     on a machine up for longer than that, one such line at start too.
const (
	tunablesVar      = "GLIBC_TUNABLES"
	hugePagesTunable = "glibc.malloc.hugetlb"
	hugePagesValue   = "1"

	godebugVar  = "GODEBUG"
	sysmonDebug = "schedtrace"
	sysmonValue = "2147483647"
)

// serveEnv returns env (as os.Environ gives it) with the settings above added where env does not
// set them, and whether it added any. It is idempotent: the environment it returns needs nothing
// more.
func serveEnv(env []string) ([]string, bool) {
	out := make([]string, len(env), len(env)+2)
	copy(out, env)
	changed := false
	for _, s := range []struct {
		variable, sep, key, value string
	}{
		{tunablesVar, ":", hugePagesTunable, hugePagesValue},
		{godebugVar, ",", sysmonDebug, sysmonValue},
	} {
		var added bool
		out, added = withSetting(out, s.variable, s.sep, s.key, s.value)
		changed = changed || added
	}
	return out, changed
}

// withSetting adds key=value to the list of settings, separated by sep, in env's variable, unless
// the list sets key already; it reports whether it added it. The first definition of variable is
// the one that counts (as for the C library's getenv and the Go runtime).
func withSetting(env []string, variable, sep, key, value string) ([]string, bool) {
	setting := key + "=" + value
	for i, kv := range env {
		name, list, ok := strings.Cut(kv, "=")
		if !ok || name != variable {
			continue
		}
		for _, item := range strings.Split(list, sep) {
			if k, _, _ := strings.Cut(item, "="); k == key {
				return env, false
			}
		}
		if list != "" {
			setting = list + sep + setting
		}
		env[i] = variable + "=" + setting
		return env, true
	}
	return append(env, variable+"="+setting), true
}
