package service

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
	"github.com/livestore-sync/livestore-sync/service/storage"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// PullPages sends the store's events after req.Cursor (all when unset) in pages, calling send once
// per page, in order, from the calling goroutine. send may block; when it returns an error, Pull
// returns that error.
//
// Without req.Live, Pull returns nil after the last page, whose page info is NoMore; with
// nothing to send it sends one empty NoMore page. With req.Live it goes on sending every later
// push to the store, in order, with no gap and no duplicate, until ctx ends (returning ctx's
// error), the pull falls behind (ErrLivePullBehind) or the service closes (ErrClosed).
//
// A cursor whose backend id is set and is not the store's fails with *BackendIDMismatchError
// before anything is sent.
func (s *Service) PullPages(ctx context.Context, req *syncv1.PullRequest, send func(*Page) error) error {
	_, err := s.pull(ctx, req, send, nil)
	return err
}

// pull runs a pull: its backlog through send, then, for a live pull, every later push: through
// send from this goroutine when recv is nil (PullPages), else through recv once pull has
// returned detached (PullAsync). A pull that did not detach has ended with err.
func (s *Service) pull(ctx context.Context, req *syncv1.PullRequest, send func(*Page) error, recv LiveReceiver) (detached bool, err error) {
	if err := s.track(); err != nil {
		return false, err
	}
	run := &pullRun{s: s}
	defer func() {
		if !detached {
			run.end(err)
		}
	}()
	annotatePull(ctx, req)
	if err := s.checkStoreID(req.GetStoreId()); err != nil {
		return false, err
	}
	if s.hooks.OnPull != nil || s.hooks.OnPullResult != nil {
		hc := s.hookContext(ctx, req.GetStoreId(), req.GetPayload())
		if s.hooks.OnPull != nil {
			if err := s.hooks.OnPull(ctx, req, hc); err != nil {
				return false, &RejectedError{Op: "pull", Err: err}
			}
		}
		if f := s.hooks.OnPullResult; f != nil {
			hookCtx := ctx
			run.result = func(err error) { f(hookCtx, req, hc, err) }
		}
	}
	ctx, run.cancel = context.WithCancel(ctx)
	run.stopOnClose = context.AfterFunc(s.ctx, run.cancel)

	st := s.acquireStore(req.GetStoreId())
	run.st = st
	if err := st.lock(ctx); err != nil {
		return false, s.ended(ctx)
	}
	err = s.loadFresh(st, true)
	info := st.info
	st.unlock()
	if err != nil {
		return false, err
	}
	cursor := req.GetCursor()
	if id := cursor.GetBackendId(); id != "" && id != info.BackendID {
		return false, &BackendIDMismatchError{Expected: info.BackendID, Received: id}
	}

	after := cursor.GetEventSequenceNumber()
	upTo := info.Head
	if err := s.sendBacklog(ctx, st.id, info, after, true, send); err != nil {
		return false, err
	}
	if !req.GetLive() {
		return false, nil
	}
	after = max(after, upTo)
	if recv != nil {
		return s.detachLive(ctx, run, info.BackendID, after, send, recv)
	}
	return false, s.sendLive(ctx, st, info.BackendID, after, send)
}

// A pullRun is what a running pull holds, given back by end when the pull ends.
type pullRun struct {
	s           *Service
	cancel      context.CancelFunc // of the pull's context
	stopOnClose func() bool        // the service's close cancelling it
	st          *store             // acquired
	result      func(error)        // Hooks.OnPullResult, when set
}

// end gives back what the pull held, calls Hooks.OnPullResult with err, and stops tracking it.
func (run *pullRun) end(err error) {
	if run.st != nil {
		run.s.releaseStore(run.st)
	}
	if run.stopOnClose != nil {
		run.stopOnClose()
		run.cancel()
	}
	if run.result != nil {
		run.result(err)
	}
	run.s.inflight.Done()
}

// catchUpAndSubscribe sends the events from after to the store's head, then registers the
// subscriber newSub returns: under the store's lock once the store's head is after, so that the
// subscriber is offered every later push exactly once.
func (s *Service) catchUpAndSubscribe(ctx context.Context, st *store, backendID string, after uint64, send func(*Page) error, newSub func() subscriber) error {
	for {
		if err := st.lock(ctx); err != nil {
			return s.ended(ctx)
		}
		switch {
		case !st.loaded: // deleted since the backlog was read
			st.unlock()
			return ErrStoreDeleted
		case st.info.BackendID != backendID: // reset since the backlog was read
			st.unlock()
			return &BackendIDMismatchError{Expected: st.info.BackendID, Received: backendID}
		}
		info := st.info
		if info.Head <= after {
			st.add(newSub())
			if s.shared != nil && st.stale.Load() {
				// Another node wrote while this pull read the backlog, and was reported before
				// the pull was counted (scheduleRefresh): catch up from the engine now.
				s.refreshLive(st)
			}
			st.unlock()
			return nil
		}
		st.unlock()
		if err := s.sendBacklog(ctx, st.id, info, after, false, send); err != nil {
			return err
		}
		after = info.Head
	}
}

// sendLive catches up from after to the store's head, then subscribes and forwards every later
// push through send from the calling goroutine.
func (s *Service) sendLive(ctx context.Context, st *store, backendID string, after uint64, send func(*Page) error) error {
	var sub *subscription
	err := s.catchUpAndSubscribe(ctx, st, backendID, after, send, func() subscriber {
		sub = newSubscription(s.limits.LiveQueueLength, int64(s.limits.LiveQueueBytes), s.budget)
		return sub
	})
	if err != nil {
		return err
	}
	defer s.noteLive(-1) // last: the pull has let go of everything
	defer st.unsubscribe(sub)
	s.metrics.livePullStarted()
	defer s.metrics.livePullEnded()
	s.noteLive(1)
	for {
		d, err := sub.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return s.ended(ctx)
			}
			return err
		}
		// Out of the queue, the delivery's bytes are the transport's to count: the pages are
		// shared by every live pull, and what a transport makes of them for its client (a
		// WebSocket's frames) it reserves itself.
		sub.release(d.bytes)
		var sendErr error
		if !s.deliver(d, after, func(p *Page) bool { sendErr = send(p); return sendErr == nil }) {
			return sendErr
		}
	}
}

// noteLive tells the tests' observer (export_test.go), if any, that a live pull subscribed
// (d = 1) or ended (d = -1).
func (s *Service) noteLive(d int) {
	if f := s.onLivePull; f != nil {
		f(d)
	}
}

// deliver hands the pages of a live delivery, without the events up to after, to take, counting
// each; it stops at the first page take refuses, and reports whether it took them all. Both
// kinds of live pull deliver through it: the queued one (sendLive) and the receiver's (offer).
func (s *Service) deliver(d delivery, after uint64, take func(*Page) bool) bool {
	for _, p := range d.pages {
		p = trimPage(p, after)
		if p == nil {
			continue
		}
		s.metrics.liveDelivered(d.committed)
		s.metrics.page(p.Len(), p.bytes)
		if !take(p) {
			return false
		}
	}
	return true
}

// trimPage returns p without its events up to after, or nil when none is left. Only a cursor
// beyond the store's head (a client that has events this store does not) makes it drop anything.
func trimPage(p *Page, after uint64) *Page {
	recs := p.recs
	i := 0
	for i < len(recs) && recs[i].SeqNum <= after {
		i++
	}
	switch i {
	case 0:
		return p
	case len(recs):
		return nil
	}
	size := 0
	for j := i; j < len(recs); j++ {
		size += recordSize(&recs[j]) + 1
	}
	return newPage(p.backendID, recs[i:], p.remaining, size)
}

// sendBacklog sends the stored events in (after, info.Head] of the store whose metadata was info
// in pages whose page info counts the events still to come. With nothing to send it sends one
// empty NoMore page when sendEmpty is set.
func (s *Service) sendBacklog(ctx context.Context, storeID string, info storage.StoreInfo, after uint64, sendEmpty bool, send func(*Page) error) error {
	backendID, upTo := info.BackendID, info.Head
	total, err := s.countEvents(storeID, info, after)
	if err != nil {
		return err
	}
	if total == 0 {
		if !sendEmpty {
			return nil
		}
		s.metrics.page(0, 0)
		return send(newPage(backendID, []storage.Record{}, 0, 0))
	}
	var (
		buf       []storage.Record // read, not yet sent
		exhausted bool
		sent      uint64
	)
	for sent < total {
		if ctx.Err() != nil {
			return s.ended(ctx)
		}
		if len(buf) < s.limits.PageEvents && !exhausted {
			want := backlogReadPages*s.limits.PageEvents - len(buf)
			recs, err := s.engine.ReadEvents(storeID, after, upTo, want)
			if err != nil {
				return &StorageError{Op: "read", Err: err}
			}
			s.repairStored(storeID, recs)
			exhausted = len(recs) < want
			if len(recs) > 0 {
				after = recs[len(recs)-1].SeqNum
			}
			if len(buf) == 0 {
				buf = recs // as read: no copy of the records
			} else {
				buf = append(buf, recs...)
			}
		}
		if len(buf) == 0 {
			break // fewer events than counted: the store changed under us; end here
		}
		n, size := s.pageLen(buf)
		sent += uint64(n)
		resp := newPage(backendID, buf[:n:n], total-min(sent, total), size)
		buf = buf[n:]
		s.metrics.page(n, size)
		if err := send(resp); err != nil {
			return err
		}
	}
	return nil
}

// backlogReadPages is how many pages of events a backlog reads from the engine at once: each read
// opens an iterator and seeks, which cost as much as reading a page's events; fewer reads, for a
// few pages' events held by the pull meanwhile.
const backlogReadPages = 4

// countEvents returns how many events of the store whose metadata was info have a seqNum in
// (after, info.Head]. When the store holds as many events as its head, its seqNums are exactly
// 1 … head (they are distinct and increasing, the first above 0), as they are for LiveStore's
// clients, and the count is arithmetic; otherwise the engine counts them.
func (s *Service) countEvents(storeID string, info storage.StoreInfo, after uint64) (uint64, error) {
	switch {
	case info.Head <= after:
		return 0, nil
	case info.EventCount == info.Head:
		return info.Head - after, nil
	}
	n, err := s.engine.CountEvents(storeID, after, info.Head)
	if err != nil {
		return 0, &StorageError{Op: "count", Err: err}
	}
	return n, nil
}

// pages splits the records of one push into NoMore pages, as live pulls receive them.
func (s *Service) pages(backendID string, recs []storage.Record) []*Page {
	var out []*Page
	for len(recs) > 0 {
		n, size := s.pageLen(recs)
		out = append(out, newPage(backendID, recs[:n:n], 0, size))
		recs = recs[n:]
	}
	return out
}

// pageLen returns how many of recs, at least one, fit in one page, and their size.
func (s *Service) pageLen(recs []storage.Record) (n, size int) {
	budget := s.limits.PageBytes - eventjson.PageOverhead
	for n < len(recs) && n < s.limits.PageEvents {
		next := recordSize(&recs[n])
		if size+next+1 > budget && n > 0 {
			break
		}
		size += next + 1
		n++
	}
	return n, size
}

func noMore() *syncv1.PageInfo {
	return &syncv1.PageInfo{Kind: &syncv1.PageInfo_NoMore_{NoMore: &syncv1.PageInfo_NoMore{}}}
}

// repairStored repairs the text of records the store storeID's engine returned (repairUTF8),
// logging when it had to. Live deliveries need none: their events were checked at push.
func (s *Service) repairStored(storeID string, recs []storage.Record) {
	repaired := 0
	for i := range recs {
		// Encoded bytes were made from checked pushes; only fields can be of older versions.
		if recs[i].Encoded == nil && repairUTF8(&recs[i]) {
			repaired++
		}
	}
	if repaired > 0 {
		s.log.Warn("store holds events whose text is not valid UTF-8 (stored before pushes were checked); "+
			"sending them with U+FFFD in place of the invalid bytes", "store_id", strings.ToValidUTF8(storeID, "\uFFFD"),
			"events", repaired, "first_seq_num", recs[0].SeqNum)
	}
}

// repairUTF8 replaces the invalid UTF-8 in r's text fields with U+FFFD, reporting whether there
// was any. Pushes are checked, so only data stored by older versions can hold such bytes; without
// the repair, no transport could encode them (protobuf refuses them, and browsers close
// WebSockets whose text frames are not UTF-8). Inside the JSON text of args, invalid bytes can
// only stand in strings, so the repaired args are still JSON.
func repairUTF8(r *storage.Record) bool {
	if utf8.ValidString(r.Name) && utf8.ValidString(r.Args) && utf8.ValidString(r.ClientID) && utf8.ValidString(r.SessionID) {
		return false
	}
	for _, f := range []*string{&r.Name, &r.Args, &r.ClientID, &r.SessionID} {
		*f = strings.ToValidUTF8(*f, "\uFFFD")
	}
	return true
}

// pulledEvent returns the PulledEvent of r, decoding r's Encoded bytes when it has only those.
func pulledEvent(r *storage.Record) (*syncv1.PulledEvent, error) {
	e, err := recordEvent(r)
	if err != nil {
		return nil, err
	}
	return &syncv1.PulledEvent{
		Event: e,
		Metadata: &syncv1.SyncMetadata{
			CreatedAt: timestamppb.New(time.UnixMilli(r.CreatedAt)),
		},
	}, nil
}

// recordEvent returns the Event of r, decoding r's Encoded bytes when it has only those.
func recordEvent(r *storage.Record) (*syncv1.Event, error) {
	if hasFields(r) {
		return &syncv1.Event{
			Name: r.Name, Args: r.Args, SeqNum: r.SeqNum, ParentSeqNum: r.ParentSeqNum,
			ClientId: r.ClientID, SessionId: r.SessionID,
		}, nil
	}
	f, err := eventjson.ParseEvent(r.Encoded)
	if err == nil && f.SeqNum != r.SeqNum {
		err = fmt.Errorf("encoding has seqNum %d", f.SeqNum)
	}
	if err != nil {
		return nil, fmt.Errorf("stored event %d cannot be decoded: %w", r.SeqNum, err)
	}
	return &syncv1.Event{
		Name: f.Name, Args: f.Args, SeqNum: f.SeqNum, ParentSeqNum: f.ParentSeqNum,
		ClientId: f.ClientID, SessionId: f.SessionID,
	}, nil
}

// recordSize is the size of the record in a page, as eventjson.PulledEventSize measures it.
func recordSize(r *storage.Record) int {
	if r.Encoded != nil {
		return eventjson.PulledEventSizeEncoded(len(r.Encoded))
	}
	return eventjson.PulledEventSizeOf(r.Name, r.Args, r.ClientID, r.SessionID, r.SeqNum, r.ParentSeqNum)
}

// ended returns why the pull's ctx ended: ErrClosed when the service is shutting down, else the
// caller's cancellation.
func (s *Service) ended(ctx context.Context) error {
	if s.ctx.Err() != nil {
		return ErrClosed
	}
	return ctx.Err()
}
