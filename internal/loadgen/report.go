package loadgen

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// WriteTable writes results as an aligned table, one row each, with a header; columns that no
// result has are left out.
func WriteTable(w io.Writer, results []*Result) error {
	cols := []struct {
		name string
		cell func(*Result) string
	}{
		{"workload", func(r *Result) string { return r.Workload }},
		{"target", func(r *Result) string { return r.Target }},
		{"seconds", func(r *Result) string { return strconv.FormatFloat(r.Seconds, 'f', 2, 64) }},
		{"events", func(r *Result) string { return count(r.Events) }},
		{"events/s", func(r *Result) string { return rate(r.EventsPerSec) }},
		{"pushes", func(r *Result) string { return count(r.Pushes) }},
		{"deliveries", func(r *Result) string { return count(r.Deliveries) }},
		{"deliveries/s", func(r *Result) string { return rate(r.DeliveriesPerSec) }},
		{"cold pulled", func(r *Result) string { return count(r.ColdPulled) }},
		{"sockets", func(r *Result) string { return count(uint64(r.Sockets)) }},
		{"latency of", func(r *Result) string { return latencyCell(r, func(l *Latency) string { return l.Of }) }},
		{"p50 ms", func(r *Result) string { return latencyCell(r, func(l *Latency) string { return ms(l.P50Ms) }) }},
		{"p99 ms", func(r *Result) string { return latencyCell(r, func(l *Latency) string { return ms(l.P99Ms) }) }},
		{"max ms", func(r *Result) string { return latencyCell(r, func(l *Latency) string { return ms(l.MaxMs) }) }},
		{"checked", func(r *Result) string {
			if r.Target == "pebble" {
				return ""
			}
			return map[bool]string{true: "yes", false: "no"}[r.Checked]
		}},
		{"server cores", func(r *Result) string {
			return serverCell(r, func(u *ServerUsage) string { return strconv.FormatFloat(u.Cores, 'f', 2, 64) })
		}},
		{"µs/event", func(r *Result) string {
			return serverCell(r, func(u *ServerUsage) string { return micros(u.MicrosPerEvent) })
		}},
		{"µs/delivery", func(r *Result) string {
			return serverCell(r, func(u *ServerUsage) string { return micros(u.MicrosPerDelivery) })
		}},
		{"RSS MB before→after", func(r *Result) string {
			return serverCell(r, func(u *ServerUsage) string {
				return fmt.Sprintf("%.1f→%.1f", float64(u.RSSBeforeKB)/1024, float64(u.RSSAfterKB)/1024)
			})
		}},
		{"KB/socket", func(r *Result) string {
			return serverCell(r, func(u *ServerUsage) string { return micros(u.KBPerSocket) })
		}},
	}
	rows := make([][]string, len(results)+1)
	var keep []int
	for j, c := range cols {
		rows[0] = append(rows[0], c.name)
		used := false
		for i, r := range results {
			v := c.cell(r)
			rows[i+1] = append(rows[i+1], v)
			used = used || v != ""
		}
		if used {
			keep = append(keep, j)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	out := &writer{w: tw}
	for _, row := range rows {
		for _, j := range keep {
			v := row[j]
			if v == "" {
				v = "-"
			}
			out.printf("%s\t", v)
		}
		out.printf("\n")
	}
	if out.err != nil {
		return out.err
	}
	return tw.Flush()
}

func count(n uint64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatUint(n, 10)
}

func rate(v float64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func ms(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func micros(v float64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func latencyCell(r *Result, f func(*Latency) string) string {
	if r.Latency == nil {
		return ""
	}
	return f(r.Latency)
}

func serverCell(r *Result, f func(*ServerUsage) string) string {
	if r.Server == nil {
		return ""
	}
	return f(r.Server)
}
