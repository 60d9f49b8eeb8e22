package ceiling_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when goroutines outlive the tests: the null server's sockets and pulls
// must end when it is closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
