package eventjson

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when goroutines outlive the tests; goleak retries for a bounded time
// before it reports, so goroutines that are just finishing are not counted.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
