package bridge

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/coder/websocket"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// LiveStore 0.3's WebSocket protocol (@livestore/sync-cf 0.3.1, makeCfSync) on a wsConn: the
// socket machinery (read loop, bounded outgoing queue, budget, idle timeout, drain) is the 0.4
// transport's; only the frames differ. Every push and pull goes to the one SyncService.
//
//   - WSMessage.PushReq: the service's Push; a PushAck once durable, or a WSMessage.Error (the
//     0.3.1 text for a push that does not continue the log at its head).
//   - WSMessage.PullReq: the service's Pull from the cursor, each page a PullRes with
//     context "pull" and the exact number of events after it as remaining.
//   - Broadcasts: 0.3 has no subscription; every socket gets every push to its store, made over
//     any transport. From its upgrade on, each socket follows its store with one live pull of the
//     service from the store's head at that moment, and forwards each page as a PullRes with
//     context "push".
//
// The 0.3.1 client stashes broadcasts until the first page of its pull's answer, then passes them
// on at once; so the pages of a pull and the broadcasts are ordered on the socket by pullMu: no
// broadcast between two pages of a pull, and after a pull's pages only the events after them. The
// pusher's own broadcast (which 0.3.1's client needs to confirm its events) follows its PushAck.

// conn03 is the 0.3 protocol of one socket.
type conn03 struct {
	c *wsConn
	// from is where the socket's live pull starts: the store's head before the upgrade.
	from liveStart03

	// pullMu orders pull pages and broadcasts on the socket (see above); sent is the highest
	// seqNum the socket was sent in a PullRes, under pullMu.
	pullMu sync.Mutex
	sent   uint64

	mu     sync.Mutex
	pushes []*push03 // the socket's running pushes
	// seen is the highest seqNum the live pull has received from the service; seenMoved is
	// closed and replaced when it grows. Under mu.
	seen      uint64
	seenMoved chan struct{}
	liveDone  chan struct{} // closed when the live pull has ended for good
}

// push03 is a running push of a socket.
//
// A successful push is answered with a PushAck followed by its echo (the broadcast of its events
// on the socket), with no other frame between them, as from the original: the live pull sends
// both when it has the push's events (claimed), and the push's own goroutine sends the PushAck
// alone when the live pull will not get them (an identical retry of stored events) or has ended.
type push03 struct {
	id    string
	batch []*syncv1.Event
	// claimed is set, under conn03.mu, when the live pull received a page of the push's events.
	claimed bool
	// result is closed when the service has answered the push; err is then set.
	result chan struct{}
	err    error
	// acked is set, under pullMu, once the PushAck is queued; answered is closed then.
	acked    bool
	answered chan struct{}
}

// Request-map keys of the socket's requests (wsConn.requests), kept apart from each other.
const (
	key03Live  = "live"
	key03Pull  = "pull:"
	key03Push  = "push:"
	key03Admin = "admin:"
)

func newConn03(c *wsConn, from liveStart03) *conn03 {
	c.log = c.log.With("transport", string(transportWS03))
	return &conn03{c: c, from: from, seen: from.cursor.GetEventSequenceNumber(),
		seenMoved: make(chan struct{}), liveDone: make(chan struct{})}
}

// start starts the socket's live pull (the broadcasts). It is called before the first frame is
// read.
func (v *conn03) start() {
	r, ok := v.admit("", key03Live, false, v.c.ctx)
	if !ok {
		close(v.liveDone)
		return
	}
	go func() {
		defer v.finish(r)
		defer close(v.liveDone)
		defer v.c.recoverSocket("0.3 request")
		v.follow(r, v.from)
	}()
}

// liveStart03 returns where the live pull of a new 0.3 socket of the store starts: the store's
// head (nil for a store that does not exist yet: from the beginning), or skipBacklog when the
// service cannot tell it. It is called before the upgrade is answered, so that every push made
// once the client sees its socket open, its own first of all, is broadcast to it.
//
// A store id the service refuses (*service.InvalidRequestError) is returned as the error, for the
// upgrade to be refused with 400.
func (b *Bridge) liveStart03(ctx context.Context, storeID string) (liveStart03, error) {
	si, ok := b.svc.(storeInfo)
	if !ok {
		return liveStart03{skipBacklog: true}, nil
	}
	info, err := si.GetStore(ctx, storeID)
	var invalid *service.InvalidRequestError
	switch {
	case err == nil:
		return liveStart03{cursor: &syncv1.Cursor{EventSequenceNumber: info.Head}}, nil
	case errors.Is(err, service.ErrStoreNotFound):
		return liveStart03{}, nil
	case errors.As(err, &invalid):
		return liveStart03{}, err
	}
	return liveStart03{skipBacklog: true}, nil // the live pull reports the error
}

// liveStart03 is where a socket's live pull starts.
type liveStart03 struct {
	cursor *syncv1.Cursor
	// skipBacklog: the pull starts from the beginning and skips the store's events up to its
	// head at the time.
	skipBacklog bool
}

// handleFrame handles one client frame. A frame that is not a message is answered with a
// WSMessage.Error when it has a requestId, and ignored otherwise (the original ignores both).
func (v *conn03) handleFrame(data []byte) {
	m, derr := decodeMessage03(data)
	if derr != nil {
		v.c.log.Debug("livestore websocket: frame not understood", "reason", derr.Msg)
		if derr.HasID {
			v.c.send(error03(derr.RequestID, derr.Msg))
		}
		return
	}
	switch m.Tag {
	case tag03Ping:
		v.c.send(pong03)
	case tag03PullReq:
		v.startPull(m)
	case tag03PushReq:
		v.startPush(m)
	case tag03AdminInfoReq, tag03AdminResetReq:
		v.startAdmin(m)
	}
}

// admit registers a request of the socket under key, as the 0.4 transport does (MaxRequestsPerSocket,
// drain): a push beyond the limit waits for a place, anything else is refused with a
// WSMessage.Error for id. It reports false when the request must not run.
func (v *conn03) admit(id, key string, waits bool, ctx context.Context) (*request, bool) {
	c := v.c
	c.mu.Lock()
	for limit := c.b.opts.MaxRequestsPerSocket; ; {
		refuse := func(msg string) (*request, bool) {
			c.mu.Unlock()
			if key != key03Live {
				c.send(error03(id, msg))
			}
			return nil, false
		}
		if c.draining {
			return refuse(closeShutdown.reason)
		}
		if _, dup := c.requests[key]; dup {
			return refuse(fmt.Sprintf("request id %s is already in use by a running request", logQuote(id)))
		}
		if len(c.requests) < limit {
			break
		}
		if !waits {
			return refuse(fmt.Sprintf("too many concurrent requests on this socket (limit %d)", limit))
		}
		ended := c.requestEnded
		c.mu.Unlock()
		select {
		case <-ended:
		case <-c.closing:
			return nil, false
		}
		c.mu.Lock()
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &request{id: key, ctx: ctx, cancel: cancel, pull: !waits}
	c.requests[key] = r
	c.requestsDone.Add(1) // under mu, so that a drain that saw draining unset waits for it
	c.mu.Unlock()
	return r, true
}

// finish unregisters a request that admit registered.
func (v *conn03) finish(r *request) {
	c := v.c
	c.mu.Lock()
	if c.requests[r.id] == r {
		delete(c.requests, r.id)
		c.signalRequestEnded()
	}
	c.mu.Unlock()
	r.cancel()
	c.requestsDone.Done()
}

// drained reports whether the socket's drain ended the request r.
func (v *conn03) drained(r *request) bool {
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	return r.drained
}

// startSpan starts the span of one 0.3 request.
func (v *conn03) startSpan(method string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return v.c.b.tr.tracer.Start(v.c.ctx, "SyncWs03."+method,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(append(attrs,
			attribute.String("rpc.system", "livestore_ws03"),
			attribute.String("rpc.service", "SyncWs03"),
			attribute.String("rpc.method", method),
			attribute.String("livestore.transport", string(transportWS03)))...))
}

// startPush runs a PushReq in its own goroutine.
func (v *conn03) startPush(m message03) {
	c := v.c
	ctx, span := v.startSpan("Push")
	r, ok := v.admit(m.RequestID, key03Push+m.RequestID, true, ctx)
	if !ok {
		span.End()
		return
	}
	p := &push03{id: m.RequestID, batch: m.Batch, result: make(chan struct{}), answered: make(chan struct{})}
	v.mu.Lock()
	v.pushes = append(v.pushes, p)
	v.mu.Unlock()
	if len(m.Batch) > 0 {
		c.b.pushes03.remember(c.sr.StoreID, m.Batch[0], m.RequestID)
	}
	c.pushesRunning.Add(1) // until its answer is queued (awaitOutgoingRoom)
	go func() {
		defer v.finish(r)
		defer c.pushesRunning.Add(-1)
		defer c.recoverSocket("0.3 request")
		err := c.b.svc.Push(r.ctx, &syncv1.PushRequest{
			StoreId: c.sr.StoreID, Batch: m.Batch, Payload: clientPayloadValue(nil, c.sr.Payload),
		})
		p.err = err
		close(p.result)
		switch {
		case c.isClosing():
		case err == nil:
			v.awaitEcho(p)
			v.pullMu.Lock()
			v.ack(p)
			v.pullMu.Unlock()
		default:
			c.send(error03(m.RequestID, pushErrorText03(err)))
			if errors.Is(err, service.ErrClosed) {
				c.beginDrain(closeServiceClosed)
			}
		}
		v.mu.Lock()
		for i, q := range v.pushes {
			if q == p {
				v.pushes = append(v.pushes[:i], v.pushes[i+1:]...)
				break
			}
		}
		v.mu.Unlock()
		endRPC(span, err != nil && !c.isClosing(), err, errText(err))
	}()
}

// awaitEcho waits, after the service stored the push p, until the live pull has received its
// events and then sent its PushAck with their echo, or until it is clear that it will not: it
// received events beyond the push without any of the push's (an identical retry of stored
// events), or it ended, or the socket closes. It does not wait for the client.
func (v *conn03) awaitEcho(p *push03) {
	if len(p.batch) == 0 {
		return
	}
	last := p.batch[len(p.batch)-1].GetSeqNum()
	for {
		v.mu.Lock()
		claimed, seen, moved := p.claimed, v.seen, v.seenMoved
		v.mu.Unlock()
		wait := moved
		switch {
		case claimed:
			wait = p.answered
		case seen >= last:
			return
		}
		select {
		case <-wait:
			if claimed {
				return
			}
		case <-v.liveDone:
			return
		case <-v.c.closing:
			return
		}
	}
}

// ack queues the PushAck of the successful push p unless it is queued already. The caller holds
// pullMu.
func (v *conn03) ack(p *push03) {
	if p.acked {
		return
	}
	p.acked = true
	v.c.send(pushAck03(p.id))
	close(p.answered)
}

// pushErrorText03 is the message of the WSMessage.Error that answers a failed push: for a push
// that does not continue the log at its head, the original's text (devtools and logs show it;
// the client does not parse it).
func pushErrorText03(err error) string {
	var ahead *service.ServerAheadError
	if errors.As(err, &ahead) {
		return fmt.Sprintf("Invalid parent event number. Received e%d but expected e%d", ahead.ProvidedNum, ahead.MinimumExpectedNum)
	}
	return err.Error()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// startPull answers a PullReq in its own goroutine: the pages of the service's Pull from the
// cursor, back to back on the socket (see pullMu).
func (v *conn03) startPull(m message03) {
	c := v.c
	var cursor uint64
	if m.Cursor != nil {
		cursor = *m.Cursor
	}
	ctx, span := v.startSpan("Pull", attribute.Int64("livestore.pull.cursor", int64(min(cursor, 1<<63-1))))
	r, ok := v.admit(m.RequestID, key03Pull+m.RequestID, false, ctx)
	if !ok {
		span.End()
		return
	}
	go func() {
		defer v.finish(r)
		defer c.recoverSocket("0.3 request")
		req := &syncv1.PullRequest{StoreId: c.sr.StoreID, Payload: clientPayloadValue(nil, c.sr.Payload)}
		if m.Cursor != nil {
			req.Cursor = &syncv1.Cursor{EventSequenceNumber: cursor}
		}
		v.pullMu.Lock()
		err := c.b.svc.Pull(r.ctx, req, func(page *syncv1.PullResponse) error {
			if !v.sendPaced(r.ctx, appendPullRes03(nil, page, context03Pull, m.RequestID, remaining03(page))) {
				return errSocketClosing
			}
			v.sent = max(v.sent, lastSeqNum(page))
			return nil
		})
		v.pullMu.Unlock()
		quiet := c.isClosing() || v.drained(r) || errors.Is(err, errSocketClosing) || errors.Is(err, context.Canceled)
		switch {
		case err == nil, quiet:
		case errors.Is(err, service.ErrClosed):
			c.beginDrain(closeServiceClosed)
		default:
			c.send(error03(m.RequestID, err.Error()))
		}
		endRPC(span, err != nil && !quiet, err, errText(err))
	}()
}

// sendPaced queues a frame once the socket's queue is below half of its bounds, so that a long
// pull, which the 0.3 client does not acknowledge page by page, is paced by the client's reading
// rather than closing its socket for a full queue. It reports false when the socket closes or
// ctx ends first.
func (v *conn03) sendPaced(ctx context.Context, frame []byte) bool {
	c := v.c
	for {
		written := c.out.nextWrite()
		if c.out.belowHalf(0) {
			return c.send(frame)
		}
		select {
		case <-written:
		case <-ctx.Done():
			return false
		case <-c.closing:
			return false
		}
	}
}

func lastSeqNum(page *syncv1.PullResponse) uint64 {
	if b := page.GetBatch(); len(b) > 0 {
		return b[len(b)-1].GetEvent().GetSeqNum()
	}
	return 0
}

// storeInfo is what the socket's live pull needs of the service beyond SyncService, to start at
// the store's head; *service.Service has it. Without it, the live pull starts from the beginning
// and skips the backlog.
type storeInfo interface {
	GetStore(ctx context.Context, storeID string) (storage.StoreInfo, error)
}

// storeAdmin is what 0.3's admin messages need of the service; *service.Service has it.
type storeAdmin interface {
	storeInfo
	ResetStore(ctx context.Context, storeID string) (storage.StoreInfo, error)
}

// closeLivePullFailed closes a 0.3 socket whose live pull failed (a hook refused it, storage).
var closeLivePullFailed = closeRequest{websocket.StatusInternalError, "live updates failed"}

// follow runs the socket's live pull until the socket closes, the service closes or the pull
// falls behind; a reset or deleted store starts it again from the beginning of the store's new
// log (all of which is new to the socket).
func (v *conn03) follow(r *request, from liveStart03) {
	c := v.c
	for {
		err := v.followOnce(r.ctx, from)
		var mismatch *service.BackendIDMismatchError
		switch {
		case r.ctx.Err() != nil, c.isClosing(), errors.Is(err, errSocketClosing):
			return
		case errors.As(err, &mismatch), errors.Is(err, service.ErrStoreDeleted):
			v.pullMu.Lock()
			v.sent = 0 // the store starts over: every event of its new log is new to the socket
			v.pullMu.Unlock()
			v.mu.Lock()
			v.seen = 0
			v.mu.Unlock()
			from = liveStart03{}
			continue
		case errors.Is(err, service.ErrClosed):
			c.beginDrain(closeServiceClosed)
		case errors.Is(err, service.ErrLivePullBehind):
			c.closeWith(closeLivePullBehind)
		default:
			c.log.Warn("livestore websocket: live pull failed", "err", err)
			c.closeWith(closeLivePullFailed)
		}
		return
	}
}

// followOnce runs one live pull of the store from from, forwarding every page of
// events as a broadcast.
func (v *conn03) followOnce(ctx context.Context, from liveStart03) error {
	c := v.c
	req := &syncv1.PullRequest{StoreId: c.sr.StoreID, Live: true, Payload: clientPayloadValue(nil, c.sr.Payload), Cursor: from.cursor}
	skipBacklog := from.skipBacklog
	return c.b.svc.Pull(ctx, req, func(page *syncv1.PullResponse) error {
		if skipBacklog {
			_, more := page.GetPageInfo().GetKind().(*syncv1.PageInfo_MoreKnown_)
			skipBacklog = more
			v.see(lastSeqNum(page), nil)
			return nil
		}
		if len(page.GetBatch()) == 0 {
			return nil
		}
		first := page.GetBatch()[0].GetEvent()
		own := v.see(lastSeqNum(page), first)
		var id string
		if own != nil {
			select { // the service stores before it delivers: this is a short wait
			case <-own.result:
			case <-ctx.Done():
				return ctx.Err()
			}
			id = own.id
		} else if known, ok := c.b.pushes03.lookup(c.sr.StoreID, first); ok {
			id = known
		} else {
			id = broadcastID03(first)
		}
		v.pullMu.Lock()
		defer v.pullMu.Unlock()
		if own != nil && own.err == nil {
			v.ack(own) // the PushAck, then the echo
		}
		page = trimPage03(page, v.sent)
		if page == nil {
			return nil
		}
		if !v.sendPaced(ctx, appendPullRes03(nil, page, context03Push, id, 0)) {
			return errSocketClosing
		}
		v.sent = lastSeqNum(page)
		return nil
	})
}

// see records that the live pull received events up to seqNum, the first of them first (nil for
// none), and returns the socket's running push whose events they are, marked as claimed, if
// any.
func (v *conn03) see(seqNum uint64, first *syncv1.Event) *push03 {
	v.mu.Lock()
	defer v.mu.Unlock()
	var own *push03
	for _, p := range v.pushes {
		if first != nil && p.contains(first) {
			own = p
			own.claimed = true
			break
		}
	}
	v.seen = max(v.seen, seqNum)
	close(v.seenMoved)
	v.seenMoved = make(chan struct{})
	return own
}

// contains reports whether e is one of the push's events.
func (p *push03) contains(e *syncv1.Event) bool {
	i := sort.Search(len(p.batch), func(i int) bool { return p.batch[i].GetSeqNum() >= e.GetSeqNum() })
	if i == len(p.batch) {
		return false
	}
	b := p.batch[i]
	return b.GetSeqNum() == e.GetSeqNum() && b.GetParentSeqNum() == e.GetParentSeqNum() && b.GetName() == e.GetName() &&
		b.GetClientId() == e.GetClientId() && b.GetSessionId() == e.GetSessionId() && b.GetArgs() == e.GetArgs()
}

// trimPage03 returns page without its events up to after, or nil when none is left.
func trimPage03(page *syncv1.PullResponse, after uint64) *syncv1.PullResponse {
	batch := page.GetBatch()
	i := sort.Search(len(batch), func(i int) bool { return batch[i].GetEvent().GetSeqNum() > after })
	switch i {
	case 0:
		return page
	case len(batch):
		return nil
	}
	return &syncv1.PullResponse{Batch: batch[i:], PageInfo: page.GetPageInfo(), BackendId: page.GetBackendId()}
}

// Texts of the admin messages' errors.
const (
	adminOff03         = "admin messages are off on this server (start it with --admin-secret)"
	adminUnsupported03 = "admin messages are not supported by this sync service"
	adminWrongSecret03 = "Invalid admin secret"
)

// startAdmin answers an AdminInfoReq or AdminResetRoomReq, checked against Options.AdminSecret:
// the store's backend id as durableObjectId, or the store reset (service.ResetStore: events
// gone, a new backend id; 0.4 clients see BackendIdMismatchError, 0.3 sockets follow the store
// from its new start).
func (v *conn03) startAdmin(m message03) {
	c := v.c
	secret := c.b.opts.AdminSecret
	switch {
	case secret == "":
		c.send(error03(m.RequestID, adminOff03))
		return
	case subtle.ConstantTimeCompare([]byte(secret), []byte(m.AdminSecret)) != 1:
		c.log.Info("livestore websocket: admin message with a wrong secret")
		c.send(error03(m.RequestID, adminWrongSecret03))
		return
	}
	admin, ok := c.b.svc.(storeAdmin)
	if !ok {
		c.send(error03(m.RequestID, adminUnsupported03))
		return
	}
	r, ok := v.admit(m.RequestID, key03Admin+m.RequestID, true, c.ctx)
	if !ok {
		return
	}
	c.pushesRunning.Add(1)
	go func() {
		defer v.finish(r)
		defer c.pushesRunning.Add(-1)
		defer c.recoverSocket("0.3 request")
		if m.Tag == tag03AdminInfoReq {
			info, err := admin.GetStore(r.ctx, c.sr.StoreID)
			switch {
			case err == nil, errors.Is(err, service.ErrStoreNotFound):
				c.send(adminInfoRes03(m.RequestID, info.BackendID))
			default:
				c.send(error03(m.RequestID, err.Error()))
			}
			return
		}
		_, err := admin.ResetStore(r.ctx, c.sr.StoreID)
		switch {
		case err == nil, errors.Is(err, service.ErrStoreNotFound):
			c.log.Info("livestore websocket: store reset by an admin message")
			c.send(adminResetRoomRes03(m.RequestID))
		default:
			c.send(error03(m.RequestID, err.Error()))
		}
	}()
}
