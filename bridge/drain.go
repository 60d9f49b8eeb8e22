package bridge

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Graceful shutdown. Bridge.Shutdown drains every WebSocket:
//
//  1. the socket takes no new requests: a Push or Pull that arrives from then on is answered
//     with an Exit failing with UnknownError "server is shutting down" and is not run (Pings,
//     Acks and Interrupts are still handled);
//  2. its pulls, live or not, end at once, without an Exit: the client pulls again from its
//     cursor once it has reconnected;
//  3. its running pushes finish, with the service's context intact, and queue their Exits;
//  4. once every request has ended, a marker is queued behind their Exits: when the writer gets
//     to it, every frame before it has been written to the socket, and it closes the socket with
//     1012 (service restart), which makes LiveStore clients reconnect after a short delay.
//
// A socket whose client does not read cannot finish step 4; when Shutdown's context ends, the
// sockets still open are closed at once (their connections are closed under the library).
//
// HTTP transport requests running at Shutdown finish and are answered; new ones are answered
// 503 with a Defect saying that the server is shutting down.

// exitShuttingDown is the Exit of a request that arrives on a draining socket.
func exitShuttingDown() exit { return exitFail(appendUnknownError(nil, closeShutdown.reason)) }

// Shutdown drains the bridge: it refuses new WebSockets (503) and HTTP transport requests (503
// with a Defect), drains every socket as described above (running pushes finish and their Exits
// are written, then the socket is closed with 1012), and waits until every socket and HTTP
// transport request has ended or ctx is done. Then it closes the sockets still open at once and
// returns ctx's error; HTTP transport requests still running are the http.Server's to end
// (http.Server.Close).
//
// Hijacked WebSocket connections are not tracked by http.Server, so call Shutdown next to
// http.Server.Shutdown. Closing the service while the bridge drains is safe: a request that
// finds the service closed drains its socket too, and pushes that were stored are answered.
func (b *Bridge) Shutdown(ctx context.Context) error {
	start := time.Now()
	conns, httpRequests := b.stop()
	pushes, pulls := 0, 0
	for _, c := range conns {
		p, q := c.beginDrain(closeShutdown)
		pushes += p
		pulls += q
	}
	b.opts.Logger.Info("draining: websockets take no new requests; finishing their pushes, then closing them with 1012",
		"websockets", len(conns), "pushes_running", pushes, "pulls_ended", pulls, "http_requests_running", httpRequests)

	done := make(chan struct{})
	go func() {
		b.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		b.opts.Logger.Info("draining: every websocket closed and HTTP request answered",
			"duration", time.Since(start).Round(time.Millisecond))
		return nil
	case <-ctx.Done():
	}
	n := b.forceCloseAll()
	b.opts.Logger.Warn("draining: out of time; closing the remaining websockets at once",
		"websockets", n, "duration", time.Since(start).Round(time.Millisecond))
	return fmt.Errorf("bridge shutdown: %w", ctx.Err())
}

// stop marks the bridge as stopping, so that no socket or HTTP transport request starts any
// more, and returns the open sockets and the number of HTTP transport requests running.
func (b *Bridge) stop() ([]*wsConn, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopping = true
	conns := make([]*wsConn, 0, len(b.conns))
	for c := range b.conns {
		conns = append(conns, c)
	}
	return conns, b.httpRunning
}

// forceCloseAll closes every socket still open at once and returns how many there were.
func (b *Bridge) forceCloseAll() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		c.forceClose()
	}
	return len(b.conns)
}

// beginHTTP registers an HTTP transport request; it reports false when the bridge is stopping
// (then the request must be refused). The caller calls endHTTP when it has answered.
func (b *Bridge) beginHTTP() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopping {
		return false
	}
	b.running.Add(1)
	b.httpRunning++
	return true
}

// endHTTP ends a request registered by beginHTTP.
func (b *Bridge) endHTTP() {
	b.mu.Lock()
	b.httpRunning--
	b.mu.Unlock()
	b.running.Done()
}

// refuseShuttingDown answers an HTTP transport request that arrives while the bridge stops: 503
// with a Defect, and Connection: close so that the client's next request goes elsewhere.
func (b *Bridge) refuseShuttingDown(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", retryAfterSeconds)
	w.Header().Set("Connection", "close")
	b.writeHTTPMessages(w, r, http.StatusServiceUnavailable,
		[][]byte{appendDefectMessage(nil, defect{Message: closeShutdown.reason})})
}

// beginDrain starts draining the socket, to end with the close cr (see the top of this file),
// and returns the number of pushes it lets finish and of pulls it ended. Only the first call has
// an effect; it does not wait for the drain.
func (c *wsConn) beginDrain(cr closeRequest) (pushes, pulls int) {
	c.drainOnce.Do(func() {
		var ended []*request
		c.mu.Lock()
		c.draining = true
		c.drainClose = cr
		for id, r := range c.requests {
			if !r.pull {
				pushes++
				continue
			}
			r.drained = true
			delete(c.requests, id)
			ended = append(ended, r)
		}
		// Pushes waiting for live pulls to deliver their events (order.go) need not wait for
		// pulls that are gone.
		c.signalProgress()
		c.mu.Unlock()
		changes.notify() // for the tests (changes.go)
		for _, r := range ended {
			r.cancel()
		}
		pulls = len(ended)
		go c.finishDrain()
	})
	return pushes, pulls
}

// finishDrain waits for the socket's requests to end, then queues the marker that makes the
// writer close the socket after the frames queued before it (the requests' Exits).
func (c *wsConn) finishDrain() {
	c.requestsDone.Wait()
	if c.out.push(c, outFrame{}) != pushed {
		// Queue full: the client does not read what it has been sent already; its Exits cannot
		// be delivered in time anyway.
		c.closeWith(c.drainClose)
	}
}

// forceClose ends the socket at once, even while the close handshake runs: it closes the
// connection under the library, which makes every pending read and write fail.
func (c *wsConn) forceClose() {
	c.abort()
	if c.raw != nil {
		_ = c.raw.Close()
	}
}
