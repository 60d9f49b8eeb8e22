package service

import (
	"errors"
	"time"

	"github.com/livestore-sync/livestore-sync/service/storage"
)

// This file is the service over a storage.Shared engine: several nodes, each a Service, on one
// database. Each node keeps the lock, cached metadata and live pulls of its stores as over any
// engine; what the others write reaches it in three ways:
//
//   - Append fails with storage.ErrHeadMismatch when another node wrote first: the push reads the
//     store again and decides once more (ServerAheadError, an identical retry, or append).
//   - A pull and an admin read always read the store's metadata from the engine, never the cache.
//   - The engine's Watch reports every committed write; for a store with live pulls here, the
//     node reads what another node appended and publishes it to them, in order, exactly once,
//     and ends them when another node reset or deleted the store. After a gap in the reports
//     (resync), every store with live pulls is read again.
//
// Whatever the path, the store's metadata changes only in setInfo (or append, for this node's
// own writes), under the store's lock, which publishes to the live pulls everything between the
// metadata they were given and the new one. So a live pull sees each event once, in order, with
// no gap, whichever node wrote it and whichever path brought it here.

// maxSharedPushAttempts bounds how often a push over a Shared engine reads the store again after
// finding that another node wrote to it first. Each attempt sees a later head, so more than two
// happen only when other nodes keep appending exactly this push's events.
const maxSharedPushAttempts = 4

// MaxCatchUpEvents bounds the events a node reads from a Shared engine at once to bring its live
// pulls up to date after other nodes' writes. When more are missing, the live pulls end with
// ErrLivePullBehind, and their clients pull again from their cursors.
const MaxCatchUpEvents = 10_000

// setInfo makes info the store's metadata, after reading it from the engine. When the store has
// live pulls, the events between the metadata they were given and info are read and published
// to them; when info is another incarnation of the store (another node reset it), they end with
// a *BackendIDMismatchError. The caller holds the lock.
func (s *Service) setInfo(st *store, info storage.StoreInfo) {
	old := st.info
	st.info, st.loaded = info, true
	st.known.Store(&storage.Change{StoreID: st.id, BackendID: info.BackendID, Head: info.Head})
	if len(st.subs) == 0 {
		return
	}
	switch {
	case info.BackendID != old.BackendID:
		st.endAll(&BackendIDMismatchError{Expected: info.BackendID, Received: old.BackendID})
	case info.Head > old.Head:
		s.catchUp(st, old.Head, info.Head)
	}
}

// forget drops the store's metadata (the store was deleted, by this node or another) and ends
// its live pulls with err. The caller holds the lock.
func (s *Service) forget(st *store, err error) {
	st.info, st.loaded = storage.StoreInfo{}, false
	st.known.Store(nil)
	st.endAll(err)
}

// catchUp publishes the store's events in (after, upTo], written by another node, to its live
// pulls; when they are too many, or cannot be read, the live pulls end with ErrLivePullBehind
// instead. The caller holds the lock.
func (s *Service) catchUp(st *store, after, upTo uint64) {
	for after < upTo {
		recs, err := s.engine.ReadEvents(st.id, after, upTo, min(s.limits.PageEvents, MaxCatchUpEvents))
		if err == nil && len(recs) == 0 {
			err = errors.New("no events where the head says there are")
		}
		if err != nil || upTo-after > MaxCatchUpEvents {
			if err != nil {
				s.log.Warn("cannot read another node's events for this node's live pulls; ending them so that they pull again",
					"store_id", st.id, "after", after, "up_to", upTo, "err", err)
			}
			st.endAll(ErrLivePullBehind)
			s.metrics.slowConsumerDropped()
			return
		}
		s.repairStored(st.id, recs)
		d := delivery{pages: s.pages(st.info.BackendID, recs), committed: time.UnixMilli(recs[len(recs)-1].CreatedAt)}
		for _, p := range d.pages {
			d.bytes += int64(p.bytes)
		}
		st.publish(d, s.metrics)
		s.metrics.remoteEvents(len(recs), d.committed)
		after = recs[len(recs)-1].SeqNum
	}
}

// reload reads the store's metadata from the engine, creating the store when it is missing and
// create is set, and makes it the store's (setInfo), ending its live pulls when the store is gone.
// The caller holds the lock.
func (s *Service) reload(st *store, create bool) error {
	// Cleared before the read, so that a write reported while it runs leaves the store stale.
	st.stale.Store(false)
	info, err := s.engine.LoadStore(st.id)
	switch {
	case errors.Is(err, storage.ErrStoreNotFound) && create:
		info = storage.StoreInfo{BackendID: s.newBackendID(), CreatedAt: s.now().Truncate(time.Millisecond)}
		if s.shared != nil {
			info, err = s.shared.CreateStoreIfMissing(st.id, info)
		} else {
			err = s.engine.CreateStore(st.id, info)
		}
		if err != nil {
			return &StorageError{Op: "create store", Err: err}
		}
	case errors.Is(err, storage.ErrStoreNotFound):
		s.forget(st, ErrStoreDeleted)
		return err
	case err != nil:
		return &StorageError{Op: "load store", Err: err}
	}
	s.setInfo(st, info)
	return nil
}

// watch feeds the live pulls of this node from the shared engine's reports of every write, until
// the service closes.
func (s *Service) watch() {
	defer close(s.watchDone)
	err := s.shared.Watch(s.ctx, s.changed, s.resync)
	if err != nil && s.ctx.Err() == nil {
		s.log.Error("watching the shared storage failed: live pulls on this node no longer see other nodes' pushes", "err", err)
	}
}

// changed is called by the shared engine for every committed write. A write this node knows of
// already (its own) costs a map lookup; otherwise a store with live pulls here is refreshed, and
// one without is marked stale.
func (s *Service) changed(c storage.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stores[c.StoreID]
	if st == nil || s.closed {
		return // not in memory: it is read from the engine when next used
	}
	if k := st.known.Load(); k != nil && c.BackendID != "" && k.BackendID == c.BackendID && c.Head <= k.Head {
		return
	}
	s.scheduleRefresh(st)
}

// resync is called by the shared engine when it may have missed writes: every store in memory
// may have changed.
func (s *Service) resync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	for _, st := range s.stores {
		s.scheduleRefresh(st)
	}
}

// scheduleRefresh marks the store stale, so that it is read again from the engine before its
// next push or live pull relies on it, and when it has live pulls, has it read again soon (in a
// goroutine of its own, at most one per store at a time). The caller holds s.mu.
//
// The store is marked before its live pulls are counted, and a live pull is counted before it
// looks at the mark (catchUpAndSubscribe): so either the refresh is scheduled, or the new live pull sees
// the mark and reads the store itself.
func (s *Service) scheduleRefresh(st *store) {
	st.stale.Store(true)
	if st.live.Load() == 0 {
		return
	}
	if st.refreshing {
		return
	}
	st.refreshing = true
	s.useStore(st)
	s.refreshers.Add(1)
	go s.refresh(st)
}

// refresh reads a store with live pulls again from the engine (reload), so that they receive
// what other nodes wrote.
func (s *Service) refresh(st *store) {
	defer s.refreshers.Done()
	defer s.releaseStore(st)
	if err := st.lock(s.ctx); err != nil {
		return // shutting down
	}
	defer st.unlock()
	// From here on a new report schedules another refresh, so that none is lost.
	s.mu.Lock()
	st.refreshing = false
	s.mu.Unlock()
	if len(st.subs) == 0 {
		return // stale: read before the next push or live pull relies on it
	}
	s.refreshLive(st)
}

// refreshLive reads the store again (reload) for its live pulls; when that fails, they end with
// ErrLivePullBehind, so that their clients pull again. The caller holds the lock.
func (s *Service) refreshLive(st *store) {
	if err := s.reload(st, false); err != nil && !errors.Is(err, storage.ErrStoreNotFound) {
		s.log.Warn("cannot read the store after another node wrote to it; ending its live pulls here so that they pull again",
			"store_id", st.id, "err", err)
		st.endAll(ErrLivePullBehind)
		s.metrics.slowConsumerDropped()
	}
}
