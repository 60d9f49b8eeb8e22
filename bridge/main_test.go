package bridge

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run when goroutines of the bridge (or of the gated service's pulls) outlive
// the tests: every socket, request and writer must end when its socket closes.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitForBridgeGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by the bridge:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// bridgeGoroutines returns the stacks of running goroutines that are in bridge code, other than
// the test's own.
func bridgeGoroutines() string {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaked []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "livestore-sync/bridge.(*wsConn)") ||
			strings.Contains(g, "livestore-sync/bridge.(*Bridge)") ||
			strings.Contains(g, "livestore-sync/bridge.(*gatedService)") {
			leaked = append(leaked, g)
		}
	}
	return strings.Join(leaked, "\n\n")
}

func waitForBridgeGoroutines(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		leaked := bridgeGoroutines()
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(20 * time.Millisecond)
	}
}
