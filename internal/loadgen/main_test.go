package loadgen_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when goroutines outlive the tests: every socket, pull and server a
// workload starts must have ended once it returned and the test's cleanups ran.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
