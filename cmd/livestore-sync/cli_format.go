package main

import (
	"fmt"
	"strconv"
	"strings"
)

// Formatting of what the client commands print for people.

// displayID returns a store id as a table shows it: as is, or quoted when it is empty or holds
// spaces or characters that are not printable.
func displayID(id string) string {
	if id == "" || strings.ContainsAny(id, " \t") || strconv.Quote(id) != `"`+id+`"` {
		return strconv.Quote(id)
	}
	return id
}

// plural returns "1 event", "2 events" and the like.
func plural[N ~int | ~uint64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// formatBytes formats a size in bytes with a binary unit, e.g. "1.5 MiB".
func formatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// shellArg writes s as one argument of a POSIX shell command line, quoted when it holds
// anything but plain characters, and after "--" when it starts with a dash.
func shellArg(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@+=,", r)) {
			plain = false
			break
		}
	}
	if !plain {
		s = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	if strings.HasPrefix(s, "-") {
		s = "-- " + s
	}
	return s
}
