package service_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when goroutines outlive the tests: every live pull, guard, engine and
// server a test starts must have ended once its cleanups ran. goleak retries for a bounded time
// before it reports, so goroutines that are just finishing are not counted.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
