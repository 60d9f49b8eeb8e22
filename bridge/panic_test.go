package bridge

import (
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestPanicClosesOnlyThatSocket: a request whose handling panics closes its socket with 1011;
// the server goes on serving every other socket.
func TestPanicClosesOnlyThatSocket(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{})
	other := ts.dial("panic", false)
	c := ts.dial("panic", false)
	ts.svc.pushPanics = "a bug"
	c.send(pushFrame("1", "", eventJSON(1, `{}`)))
	if ce := c.closeError(5 * time.Second); ce.Code != websocket.StatusInternalError || ce.Reason != closeInternalError.reason {
		t.Fatalf("close %v, want 1011 %q", ce, closeInternalError.reason)
	}
	ts.svc.pushPanics = nil
	other.ping()
	other.send(pushFrame("1", "", eventJSON(1, `{}`)))
	other.expect(fmt.Sprintf(exitPush, "1"))
}
