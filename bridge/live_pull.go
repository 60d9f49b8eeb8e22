package bridge

import (
	"context"
	"errors"
	"sync"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
)

// A WebSocket's live pull waits for later pushes without a goroutine of its own: once its backlog
// is sent, the service hands each later push's page to the pull's livePull (a
// service.LiveReceiver) on the pushing goroutine, which queues the Chunk for the socket's writer.
// An idle socket with a live pull is then its read loop alone, and a push reaches each socket's
// queue with no goroutine woken in between.

// asyncPuller is implemented by a SyncService whose live pulls can wait without a goroutine
// (service.Service.PullAsync): *service.Service does.
type asyncPuller interface {
	PullAsync(ctx context.Context, req *syncv1.PullRequest, send func(*service.Page) error, recv service.LiveReceiver)
}

var _ asyncPuller = (*service.Service)(nil)

// pullAsync runs a pull of svc as service.Service.PullAsync does. For a SyncService without
// PullAsync, the calling goroutine runs the pull to its end (pullPagesAsync).
func pullAsync(ctx context.Context, svc SyncService, req *syncv1.PullRequest, send func(*service.Page) error, recv service.LiveReceiver) {
	if ap, ok := svc.(asyncPuller); ok {
		ap.PullAsync(ctx, req, send, recv)
		return
	}
	pullPagesAsync(ctx, func(ctx context.Context, req *syncv1.PullRequest, send func(*service.Page) error) error {
		return pullPages(ctx, svc, req, send)
	}, req, send, recv)
}

// pullPagesAsync gives the pages of a blocking pull as PullAsync would: the backlog's and
// catch-up pages to send, the later pushes' (NoMore pages after the first) to recv.Deliver, and
// the pull's end to recv.Ended; it returns when the pull has ended.
func pullPagesAsync(ctx context.Context, pull func(context.Context, *syncv1.PullRequest, func(*service.Page) error) error,
	req *syncv1.PullRequest, send func(*service.Page) error, recv service.LiveReceiver) {
	backlog := true
	err := pull(ctx, req, func(p *service.Page) error {
		if backlog || !p.NoMore() {
			backlog = backlog && !p.NoMore()
			return send(p)
		}
		if !recv.Deliver(p) {
			return service.ErrLivePullBehind
		}
		return nil
	})
	recv.Ended(err)
}

// livePull receives the live pages of a WebSocket's pull r (service.LiveReceiver) and ends r
// when the pull ends.
type livePull struct {
	c *wsConn
	r *request
	// head is the start of the pull's Chunk frames, up to their values: encoded once, and
	// shared by every live Chunk of the pull.
	head    []byte
	endOnce sync.Once
}

func newLivePull(c *wsConn, r *request) *livePull {
	return &livePull{c: c, r: r, head: chunkHead(r.id)}
}

// chunk returns the pull's Chunk of page p (chunkFrame, with the head encoded once).
func (lp *livePull) chunk(p *service.Page) outFrame {
	return outFrame{head: lp.head, shared: p.JSON(), tail: chunkTail}
}

// Deliver queues the page's Chunk for the client. It never refuses a page: a socket that cannot
// take one more frame is closed (sendFrame), which ends the pull.
func (lp *livePull) Deliver(p *service.Page) (taken bool) {
	taken = true
	// On the pushing goroutine, under the store's lock: a panic here must stop here.
	defer lp.c.recoverSocket("live delivery")
	if lp.r.ctx.Err() != nil {
		return
	}
	lp.r.chunks.Add(1) // the client acknowledges it too
	if lp.c.sendFrame(lp.chunk(p)) {
		lp.c.advance(lp.r, p.LastSeqNum(), false)
	}
	return
}

// Ended ends the request: its Exit (endRequest), then what the socket waits for. Only the first
// call has an effect (a panic in the pull's goroutine ends it too).
func (lp *livePull) Ended(err error) {
	lp.endOnce.Do(func() {
		c, r := lp.c, lp.r
		defer c.requestsDone.Done()
		defer r.cancel()
		defer c.recoverSocket("pull end")
		c.endRequest(r, err, exitStreamSuccess)
	})
}

// errPullPanicked ends a pull whose goroutine panicked (its socket is closed with 1011).
var errPullPanicked = errors.New("pull panicked")
