package loadgen

import (
	"fmt"
	"io"
	"strconv"
	"time"
)

// Config is what every workload needs: where the server is and how to report.
type Config struct {
	// URL is the server: ws://, wss://, http:// or https://, any path; the store id and transport
	// are added to its query.
	URL string
	// Payload is the client payload (JSON) sent with every socket, e.g. {"authToken":"…"}; empty
	// for none.
	Payload string
	// StorePrefix starts every store id the workload uses; empty picks a new one per run
	// ("bench-" and the time), so that runs do not see each other's events.
	StorePrefix string
	// PIDs, when not empty, are the server's processes (one, or several for a server made of
	// several, as the original's workerd under wrangler): their CPU time and memory, summed,
	// over the measured window are reported (Result.Server). They must run on this machine.
	PIDs []int
	// Progress, when not nil, receives a line every ProgressEvery on long runs.
	Progress io.Writer
	// ProgressEvery is the interval of progress lines; 0 means DefaultProgressEvery.
	ProgressEvery time.Duration
}

// DefaultProgressEvery is how often a run reports progress by default; runs shorter than this
// report none.
const DefaultProgressEvery = 2 * time.Second

// storeID is the id of store i of a workload.
func (c *Config) storeID(workload string, i int) string {
	return c.StorePrefix + workload + "-" + strconv.Itoa(i)
}

// withDefaults fills in StorePrefix and ProgressEvery.
func (c Config) withDefaults() *Config {
	if c.StorePrefix == "" {
		c.StorePrefix = "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = DefaultProgressEvery
	}
	return &c
}

// positive checks that the named options are at least 1.
func positive(opts ...any) error {
	for i := 0; i+1 < len(opts); i += 2 {
		if v, ok := opts[i+1].(int); ok && v < 1 {
			return fmt.Errorf("%s must be at least 1, not %d", opts[i], v)
		}
	}
	return nil
}
