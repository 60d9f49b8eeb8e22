package bridge

import (
	"fmt"
	"runtime/debug"

	"github.com/coder/websocket"
)

// closeInternalError closes a socket whose handling panicked (a bug of the server's).
var closeInternalError = closeRequest{websocket.StatusInternalError, "internal server error"}

// recoverSocket, deferred first in every goroutine that handles a socket's frames or requests,
// turns a panic there into an error log with the stack and a close of that socket alone (1011),
// so that one client's frame that meets a bug never takes down the server and everyone else's
// connections. (Goroutines a socket starts after its upgrade are not covered by net/http's own
// recovery of handler panics.)
func (c *wsConn) recoverSocket(what string) {
	c.recoveredPanic(what, recover())
}

// recoveredPanic is recoverSocket for a deferred function that has called recover itself and
// got v: it reports whether there was a panic (v is not nil).
func (c *wsConn) recoveredPanic(what string, v any) bool {
	if v == nil {
		return false
	}
	c.log.Error("livestore websocket: panic; closing this socket", "in", what, "panic", fmt.Sprint(v),
		"stack", string(debug.Stack()))
	c.closeWith(closeInternalError)
	return true
}
