package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// request is one running Push or Pull of a socket.
type request struct {
	id     string
	ctx    context.Context
	cancel context.CancelFunc
	span   trace.Span // the request's span, ended by endRequest
	// acks is signalled after each Ack of this request the client sends (at most one signal is
	// kept): the pull's goroutine waits on it for room in its window (awaitAcks).
	acks chan struct{}
	// chunks counts the Chunks sent for this request, acked the Acks received for them (never
	// more than chunks: an Ack for no Chunk is ignored). LiveStore's client acknowledges every
	// Chunk it takes, of the backlog and live alike.
	chunks, acked atomic.Uint64
	// interrupted is set, under wsConn.mu, when the client interrupted the request.
	interrupted bool
	// pos is a pull's progress (order.go), under wsConn.mu.
	pos livePosition
	// pull is set for a Pull, unset for a Push.
	pull bool
	// drained is set, under wsConn.mu, when the socket's drain ended the pull: it ends without
	// an Exit, as the socket is about to close (drain.go).
	drained bool
}

// errSocketClosing ends a pull whose socket is closing.
var errSocketClosing = errors.New("socket closing")

// handleFrame handles one client frame (PROTOCOL §2.1, §5). data is only lent: it may be
// reused once handleFrame returns, so what it keeps of it is a copy.
func (c *wsConn) handleFrame(data []byte) {
	switch kind, id := decodeFastFrame(data); kind {
	case fastPing:
		c.send(pongMessage)
		return
	case fastAck:
		c.ackBytes(id)
		return
	}
	// Anything else is decoded, and its request started, on another goroutine (of frameHandlers),
	// so that the read loop's stack does not grow to what decoding takes and keep that size while
	// the socket is idle. The read loop waits for it: frames are handled in order.
	t := &frameTask{c: c, data: bytes.Clone(data), done: make(chan struct{})}
	frameHandlers.start(t)
	<-t.done
}

// frameTask is a frame for handleRequestFrame, run on a goroutine of frameHandlers (pool.go);
// done is closed once it is handled.
type frameTask struct {
	c    *wsConn
	data []byte
	done chan struct{}
}

// runFrameTask handles t's frame. A push the frame starts runs on, on the same goroutine, once the
// read loop has been let go on to the next frame: handing it to a goroutine of its own would cost
// one more wake-up per push, on the way to its commit.
func runFrameTask(t *frameTask) {
	if push := t.handle(); push != nil {
		runPushTask(push)
	}
}

// handle handles t's frame, returning the push it starts, if any, to be run by the caller. done is
// closed when it returns, also when it panics.
func (t *frameTask) handle() (push *pushTask) {
	defer close(t.done)
	defer t.c.recoverSocket("frame")
	return t.c.handleRequestFrame(t.data)
}

// handleRequestFrame handles a frame that is not one of the fast forms (decodeFastFrame). It returns
// the push the frame starts, if any, for the caller to run (runPushTask); a pull it starts runs on
// a goroutine of its own.
func (c *wsConn) handleRequestFrame(data []byte) *pushTask {
	m, d := decodeClientMessage(data)
	if d != nil {
		c.send(appendDefectMessage(nil, *d))
		return nil
	}
	switch m.Tag {
	case tagPing:
		c.send(pongMessage)
	case tagEof:
		// Harmless, as with the reference.
	case tagAck:
		c.ack(m.ID)
	case tagInterrupt:
		c.interrupt(m.ID)
	case tagRequest:
		return c.startRequest(m)
	default:
		c.send(appendDefectMessage(nil, defect{Message: "Unknown request tag: " + m.Tag}))
	}
	return nil
}

// decodeWsRequest decodes a Request message received on a WebSocket (see decodeRequest).
func decodeWsRequest(m clientMessage, sr syncQuery) (rpcCall, []byte) {
	call, reply, _ := decodeRequest(m, sr, wsRPCs)
	return call, reply
}

// startRequest decodes a Request and registers it. A pull it starts on a goroutine of its own; a
// push it returns, for the caller to run (runPushTask).
func (c *wsConn) startRequest(m clientMessage) *pushTask {
	call, reply := decodeWsRequest(m, c.sr)
	if reply != nil {
		c.send(reply)
		return nil
	}

	ctx, span := c.b.tr.startRPC(c.ctx, m, transportWS, false)
	c.mu.Lock()
	for max := c.b.opts.MaxRequestsPerSocket; ; {
		refuse := func(msg string, e exit) {
			c.mu.Unlock()
			endRPC(span, true, nil, msg)
			c.send(appendExit(nil, call.id, e))
		}
		if c.draining {
			refuse(closeShutdown.reason, exitShuttingDown())
			return nil
		}
		if _, dup := c.requests[call.id]; dup {
			msg := fmt.Sprintf("request id %s is already in use by a running request", call.id)
			refuse(msg, exitDie(defect{Message: msg}))
			return nil
		}
		if len(c.requests) < max {
			break
		}
		if call.push == nil {
			msg := fmt.Sprintf("too many concurrent requests on this socket (limit %d)", max)
			refuse(msg, exitFail(appendUnknownError(nil, msg)))
			return nil
		}
		// A client pipelining pushes is slowed down, not refused: the read loop waits here for a
		// running request to end (pushes end without the client's help, so this cannot wait for
		// a frame it has not read yet), then checks again.
		ended := c.requestEnded
		c.mu.Unlock()
		select {
		case <-ended:
		case <-c.closing:
			endRPC(span, false, nil, "")
			return nil
		}
		c.mu.Lock()
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &request{id: call.id, ctx: ctx, cancel: cancel, span: span, acks: make(chan struct{}, 1), pull: call.pull != nil}
	c.requests[call.id] = r
	c.requestsDone.Add(1) // under mu, so that a drain that saw draining unset waits for it
	c.mu.Unlock()
	if call.push != nil {
		c.pushesRunning.Add(1) // until its Exit is queued (awaitOutgoingRoom)
	}

	if call.pull != nil {
		lp := newLivePull(c, r) // ends the request (livePull.Ended)
		go func() {
			defer func() {
				if c.recoveredPanic("request", recover()) {
					lp.Ended(errPullPanicked)
				}
			}()
			c.runPull(r, call.pull, lp)
		}()
		return nil
	}
	return &pushTask{c: c, r: r, req: call.push}
}

// pushTask is a push of a socket, run on the goroutine of frameHandlers that decoded its frame
// (runFrameTask).
type pushTask struct {
	c   *wsConn
	r   *request
	req *syncv1.PushRequest
}

// runPushTask runs t's push and ends its request.
func runPushTask(t *pushTask) {
	c := t.c
	defer c.requestsDone.Done()
	defer t.r.cancel()
	defer c.recoverSocket("request")
	c.runPush(t.r, t.req)
	c.pushesRunning.Add(-1)
}

// runPush pushes and answers the Exit; see order.go for why the Exit may wait for live pulls.
func (c *wsConn) runPush(r *request, req *syncv1.PushRequest) {
	err := c.b.svc.Push(r.ctx, req)
	var ahead *service.ServerAheadError
	switch batch := req.GetBatch(); {
	case c.b.opts.PushExitDelay <= 0:
	case err == nil && len(batch) > 0:
		c.awaitLiveDelivery(r.ctx, batch[len(batch)-1].GetSeqNum(), c.b.opts.PushExitDelay)
	case errors.As(err, &ahead):
		c.awaitLiveDelivery(r.ctx, ahead.MinimumExpectedNum, c.b.opts.PushExitDelay)
	}
	c.endRequest(r, err, exitPushSuccess)
}

// runPull streams the pull's pages as Chunks; lp ends it with an Exit (a live pull ends only
// when interrupted or when its socket closes). runPull returns once the pull is live (or over):
// the pages of later pushes reach lp without this goroutine (live_pull.go).
//
// Backlog pages are gated by the client's Acks (PROTOCOL §5.3): at most backlogWindow Chunks wait
// for theirs before the next page is taken from the service, and the backlog's last page waits for
// the Acks of all (then comes the Exit, or the live pages). Gated are every page up to and
// including the first NoMore page, and any later page that announces more to come (the catch-up
// a live pull may send before it subscribes).
// Pages of later pushes (NoMore pages after the backlog) are sent as the service delivers them,
// in order, without waiting for Acks, like the reference's broadcasts; the bounded outgoing
// queue protects the server from a client that stops reading.
func (c *wsConn) runPull(r *request, req *syncv1.PullRequest, lp *livePull) {
	c.advance(r, req.GetCursor().GetEventSequenceNumber(), false)
	backlog := true
	pullAsync(r.ctx, c.b.svc, req, func(page *service.Page) error {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		noMore := page.NoMore()
		gated := backlog || !noMore
		if noMore {
			backlog = false
		}
		if gated {
			if err := r.awaitAcks(backlogWindow - 1); err != nil {
				return err
			}
		}
		r.chunks.Add(1)
		if !c.sendFrameAndWrite(lp.chunk(page)) {
			return errSocketClosing
		}
		c.advance(r, page.LastSeqNum(), req.GetLive() && noMore)
		if gated && noMore {
			// The end of the backlog: every Chunk acknowledged before the Exit, or the live pages.
			return r.awaitAcks(0)
		}
		return nil
	}, lp)
}

// endRequest unregisters a finished request and sends its Exit: success, the mapped error, or
// the interrupt Exit when the client interrupted it. Nothing is sent on a closing socket, nor
// for a pull that the socket's drain ended.
//
// When the service is shutting down (service.ErrClosed), the socket drains (drain.go) rather than
// closing at once, so that the Exits of its other requests, pushes that were stored among them,
// are written before the close; a push that failed so gets its failed Exit.
func (c *wsConn) endRequest(r *request, err error, success exit) {
	c.mu.Lock()
	interrupted, drained := r.interrupted, r.drained
	if c.requests[r.id] == r {
		delete(c.requests, r.id)
		c.signalRequestEnded()
	}
	c.mu.Unlock()
	c.endSpan(r, err, interrupted, drained)

	switch {
	case c.isClosing(), drained:
	case interrupted:
		c.send(appendExit(nil, r.id, exitClientInterrupt))
	case err == nil:
		c.send(appendExit(nil, r.id, success))
	case errors.Is(err, service.ErrClosed):
		if !r.pull {
			c.send(appendExit(nil, r.id, failureExit(err)))
		}
		c.beginDrain(closeServiceClosed)
	default:
		e, cr := exitOrCloseFor(err)
		if cr != nil {
			c.closeWith(*cr)
			return
		}
		c.send(appendExit(nil, r.id, e))
	}
}

// endSpan ends a request's span: failed when the request failed, not when the client
// interrupted it, the socket closed under it or its drain ended it.
func (c *wsConn) endSpan(r *request, err error, interrupted, drained bool) {
	if interrupted {
		r.span.SetAttributes(attribute.Bool("livestore.interrupted", true))
	}
	failed := err != nil && !interrupted && !drained && !c.isClosing() &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, errSocketClosing)
	msg := ""
	if failed {
		msg = err.Error()
	}
	endRPC(r.span, failed, err, msg)
}

// ack delivers the client's Ack to its request; an Ack for no running request is ignored.
func (c *wsConn) ack(id string) {
	c.mu.Lock()
	r := c.requests[id]
	c.mu.Unlock()
	r.ack()
}

// ackBytes is ack of an id given as bytes, without allocating.
func (c *wsConn) ackBytes(id []byte) {
	c.mu.Lock()
	r := c.requests[string(id)]
	c.mu.Unlock()
	r.ack()
}

// backlogWindow is how many Chunks of a pull's backlog may wait for the client's Ack at once
// (PROTOCOL §5.3): the reference sends the next Chunk only after the Ack of the previous one; with
// two, the server reads and writes the next page while the client takes the previous one, and a
// client that does not take them still holds at most two pages' worth.
const backlogWindow = 2

// awaitAcks waits until at most unacked of the request's Chunks wait for their Ack, or the
// request ends.
func (r *request) awaitAcks(unacked uint64) error {
	for r.chunks.Load()-r.acked.Load() > unacked {
		select {
		case <-r.acks:
		case <-r.ctx.Done():
			return r.ctx.Err()
		}
	}
	return nil
}

// ack counts an Ack of r, if r is not nil and has a Chunk waiting for one.
func (r *request) ack() {
	if r == nil {
		return
	}
	for {
		n := r.acked.Load()
		if n >= r.chunks.Load() {
			return // an Ack for no Chunk
		}
		if r.acked.CompareAndSwap(n, n+1) {
			break
		}
	}
	select {
	case r.acks <- struct{}{}:
	default:
	}
}

// interrupt cancels a running request; its goroutine then sends the interrupt Exit. An Interrupt
// for no running request is ignored.
func (c *wsConn) interrupt(id string) {
	c.mu.Lock()
	r := c.requests[id]
	if r != nil {
		r.interrupted = true
		delete(c.requests, id)
		c.signalRequestEnded()
	}
	c.mu.Unlock()
	if r != nil {
		r.cancel()
	}
}

// signalRequestEnded wakes a push waiting for a place under MaxRequestsPerSocket. The caller
// holds c.mu.
func (c *wsConn) signalRequestEnded() {
	close(c.requestEnded)
	c.requestEnded = make(chan struct{})
}
