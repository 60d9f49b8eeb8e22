package bridge

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when goroutines outlive the tests: every socket, request and writer of
// the bridge (and every pull of the gated service) must end when its socket closes, every server
// and service a test starts once its cleanups ran. goleak retries for a bounded time: a
// goroutine that has done its work may still be listed for a moment before it returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
