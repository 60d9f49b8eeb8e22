// Package service is the sync service: one ordered, durable event log per store, with validated
// pushes and paged or live pulls. Every transport (Connect/gRPC through Handler, and LiveStore's
// WebSocket and HTTP protocols through the bridge package) calls the same Service.
//
// Writes to one store are serialized by that store's lock: check the head, append durably,
// advance the head, publish to live pulls, in that order, so that live pulls see events in commit
// order. Different stores never share a lock; their synced commits share disk flushes in the
// storage engine.
package service

import (
	"bytes"
	"container/list"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service/budget"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
	"github.com/livestore-sync/livestore-sync/service/storage"
)

// Options configures a Service. The zero value is ready to use.
type Options struct {
	// Limits bounds requests; zero fields take their defaults.
	Limits Limits
	// Now returns the current time; time.Now when nil. Creation times are kept to the millisecond.
	Now func() time.Time
	// NewBackendID returns the backend id of a new store; NewBackendID (this package's function)
	// when nil.
	NewBackendID func() string
	// Metrics records the service's metrics; nil records none.
	Metrics *Metrics
	// Hooks check and observe pushes and pulls on every transport.
	Hooks Hooks
	// ValidatePayload checks each connection's client payload (and headers) before anything
	// reaches the store; nil accepts every connection.
	ValidatePayload PayloadValidator
	// ForwardHeaders names the request headers (case-insensitive) that the hooks see in
	// HookContext.Headers, e.g. "Cookie" or "Authorization". Others are never passed on.
	ForwardHeaders []string
	// MaxIdleStores bounds the stores kept in memory while no request uses them (their
	// metadata, to spare a read on their next use); beyond it the least recently used are
	// dropped, and read again from the engine when next used. Stores in use are always in
	// memory. Default DefaultMaxIdleStores; negative keeps none.
	MaxIdleStores int
	// ForwardHeadersFunc, when set, computes headers for the hooks from the request, e.g. a
	// user id taken from a session cookie: the counterpart of the original's forwardHeaders
	// function. Its headers are added to those of ForwardHeaders (replacing any of the same
	// name). It is called once per push and pull that a hook sees, and must not modify info.
	ForwardHeadersFunc func(info RequestInfo) http.Header
	// OutgoingBudget bounds the bytes held for clients that have yet to read them, across every
	// live pull (each also bounded by Limits.LiveQueueBytes) and, when the bridge shares it (its
	// default), every WebSocket and HTTP response: when a delivery does not fit, the live pull
	// holding the most is ended with ErrLivePullBehind. Default a budget of
	// DefaultMaxOutgoingBytes; budget.New(0) is unlimited.
	OutgoingBudget *budget.Budget
	// Logger receives the service's warnings, such as a store whose stored data had to be
	// repaired to be sent. Default slog.Default().
	Logger *slog.Logger
}

// Service is the sync service. It is safe for concurrent use.
type Service struct {
	engine storage.Engine
	// shared is engine when several nodes share it (storage.Shared), else nil; see shared.go.
	shared          storage.Shared
	limits          Limits
	now             func() time.Time
	newBackendID    func() string
	metrics         *Metrics
	budget          *budget.Budget
	log             *slog.Logger
	hooks           Hooks
	validatePayload PayloadValidator
	// forwardHeaders are the canonical names of Options.ForwardHeaders.
	forwardHeaders     []string
	forwardHeadersFunc func(RequestInfo) http.Header

	// ctx is cancelled by Close; every pull's context ends with it.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	// stores are the stores in memory: those in use (store.refs > 0) and at most maxIdleStores
	// idle ones, listed in idle, most recently used first.
	stores        map[string]*store
	idle          *list.List
	maxIdleStores int
	inflight      sync.WaitGroup // pushes and pulls running, so Close can wait for them
	// refreshers are the goroutines reading stores again after other nodes' writes, and
	// watchDone is closed when the shared engine's watcher has returned (shared.go).
	refreshers sync.WaitGroup
	watchDone  chan struct{}
	// onLivePull, set by tests only (export_test.go; other packages' through testhooks.go)
	// before any pull, observes live pulls subscribing and ending.
	onLivePull func(d int)
}

// New returns a Service over engine. The Service owns the engine: Close closes it.
func New(engine storage.Engine, opts Options) (*Service, error) {
	limits, err := opts.Limits.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Service{
		engine:             engine,
		limits:             limits,
		now:                opts.Now,
		newBackendID:       opts.NewBackendID,
		metrics:            opts.Metrics,
		log:                opts.Logger,
		budget:             opts.OutgoingBudget,
		hooks:              opts.Hooks,
		validatePayload:    opts.ValidatePayload,
		forwardHeaders:     canonicalHeaders(opts.ForwardHeaders),
		forwardHeadersFunc: opts.ForwardHeadersFunc,
		stores:             make(map[string]*store),
		idle:               list.New(),
		maxIdleStores:      opts.MaxIdleStores,
	}
	switch {
	case s.maxIdleStores == 0:
		s.maxIdleStores = DefaultMaxIdleStores
	case s.maxIdleStores < 0:
		s.maxIdleStores = 0
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.budget == nil {
		s.budget = budget.New(DefaultMaxOutgoingBytes)
	}
	if s.newBackendID == nil {
		s.newBackendID = NewBackendID
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if shared, ok := engine.(storage.Shared); ok {
		s.shared = shared
		s.watchDone = make(chan struct{})
		go s.watch()
	}
	return s, nil
}

// Limits returns the limits in force.
func (s *Service) Limits() Limits { return s.limits }

// OutgoingBudget returns the budget of bytes held for slow readers (Options.OutgoingBudget), for
// the transports to share.
func (s *Service) OutgoingBudget() *budget.Budget { return s.budget }

// track registers a request; the caller must call s.inflight.Done when it ends.
func (s *Service) track() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.inflight.Add(1)
	return nil
}

// acquireStore returns the in-memory state of a store, creating it (not yet loaded) when needed,
// and marks it in use until releaseStore. While a request holds it, no other state of the same
// store exists: its lock and live pulls are the store's.
func (s *Service) acquireStore(id string) *store {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.stores[id]
	if !ok {
		st = newStore(id)
		s.stores[id] = st
		s.metrics.storeOpened()
	}
	s.useStore(st)
	return st
}

// useStore marks a store in memory in use until releaseStore. The caller holds s.mu.
func (s *Service) useStore(st *store) {
	if st.idleElem != nil {
		s.idle.Remove(st.idleElem)
		st.idleElem = nil
	}
	st.refs++
}

// releaseStore ends a use of st begun by acquireStore. A store no request uses any more joins
// the idle stores; the least recently used beyond MaxIdleStores are dropped from memory.
func (s *Service) releaseStore(st *store) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.refs--; st.refs > 0 {
		return
	}
	st.idleElem = s.idle.PushFront(st)
	for s.idle.Len() > s.maxIdleStores {
		old := s.idle.Remove(s.idle.Back()).(*store)
		old.idleElem = nil
		delete(s.stores, old.id)
		s.metrics.storeClosed()
	}
}

// Push appends req.Batch to the store's log and returns once it is durable.
//
// It returns *InvalidRequestError or *InvalidBatchError for a malformed request,
// *BackendIDMismatchError when req.BackendId is set and is not the store's, *ServerAheadError when
// the batch does not continue the log at its head, and *StorageError when the engine fails. A
// batch whose events are all stored already, identical in every field, is acknowledged without
// being stored again; one that repeats stored events and then continues the log stores the rest.
func (s *Service) Push(ctx context.Context, req *syncv1.PushRequest) (err error) {
	if err := s.track(); err != nil {
		return err
	}
	defer s.inflight.Done()
	start := time.Now()
	annotatePush(ctx, req)
	defer func() {
		o := outcome(err)
		s.metrics.push(o, len(req.GetBatch()), time.Since(start))
		annotateOutcome(ctx, o)
	}()
	if err := s.checkStoreID(req.GetStoreId()); err != nil {
		return err
	}
	batch := req.GetBatch()
	if len(batch) == 0 {
		return nil
	}
	if err := s.validateBatch(batch); err != nil {
		return err
	}
	if s.hooks.OnPush != nil || s.hooks.OnPushResult != nil {
		hc := s.hookContext(ctx, req.GetStoreId(), req.GetPayload())
		if s.hooks.OnPush != nil {
			if err := s.hooks.OnPush(ctx, req, hc); err != nil {
				return &RejectedError{Op: "push", Err: err}
			}
		}
		if s.hooks.OnPushResult != nil {
			defer func() { s.hooks.OnPushResult(ctx, req, hc, err) }()
		}
	}

	st := s.acquireStore(req.GetStoreId())
	defer s.releaseStore(st)
	if err := st.lock(ctx); err != nil {
		return err
	}
	defer st.unlock()
	if err := s.load(st, true); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		rest, err := s.decide(st, req.BackendId, batch)
		if err != nil && s.shared != nil && attempt == 1 && !isStorageError(err) {
			// Another node may have written since the store was cached: decide again on what
			// the engine holds.
			if err := s.reload(st, true); err != nil {
				return err
			}
			continue
		}
		if err != nil || len(rest) == 0 {
			return err
		}
		err = s.append(st, rest)
		if s.shared != nil && errors.Is(err, storage.ErrHeadMismatch) && attempt < maxSharedPushAttempts {
			if err := s.reload(st, true); err != nil { // another node wrote first
				return err
			}
			continue
		}
		return err
	}
}

// decide checks a push against the store's metadata, returning the part of the batch to append
// (none for an identical retry), or why the push cannot be stored. The caller holds the lock.
func (s *Service) decide(st *store, backendID *string, batch []*syncv1.Event) ([]*syncv1.Event, error) {
	if backendID != nil && *backendID != st.info.BackendID {
		return nil, &BackendIDMismatchError{Expected: st.info.BackendID, Received: *backendID}
	}
	return s.skipStored(st, batch)
}

func isStorageError(err error) bool {
	var serr *StorageError
	return errors.As(err, &serr)
}

// skipStored checks the batch against the store's head. It returns the part of the batch to
// append: all of it when it starts at the head; the part after the head when the events up to
// the head are stored already, identical (a retried push); otherwise a *ServerAheadError.
func (s *Service) skipStored(st *store, batch []*syncv1.Event) ([]*syncv1.Event, error) {
	head := st.info.Head
	first := batch[0].GetParentSeqNum()
	if first == head {
		return batch, nil
	}
	aheadErr := &ServerAheadError{MinimumExpectedNum: head, ProvidedNum: first}
	if first > head {
		return nil, aheadErr
	}
	stored := 0
	for stored < len(batch) && batch[stored].GetSeqNum() <= head {
		stored++
	}
	if stored == 0 {
		return nil, aheadErr
	}
	// The stored events in (first, batch[stored-1].seq] must be exactly batch[:stored].
	recs, err := s.engine.ReadEvents(st.id, first, batch[stored-1].GetSeqNum(), stored+1)
	if err != nil {
		return nil, &StorageError{Op: "read", Err: err}
	}
	if len(recs) != stored {
		return nil, aheadErr
	}
	for i := range recs {
		if !sameEvent(&recs[i], batch[i]) {
			return nil, aheadErr
		}
	}
	rest := batch[stored:]
	if len(rest) > 0 && rest[0].GetParentSeqNum() != head {
		return nil, aheadErr
	}
	return rest, nil
}

// sameEvent reports whether the stored record r is the event e: the same fields, compared in
// their encoding when the engine returned r encoded.
func sameEvent(r *storage.Record, e *syncv1.Event) bool {
	if !hasFields(r) {
		return bytes.Equal(r.Encoded, eventjson.AppendEvent(nil, e))
	}
	return r.SeqNum == e.GetSeqNum() && r.ParentSeqNum == e.GetParentSeqNum() && r.Name == e.GetName() &&
		r.Args == e.GetArgs() && r.ClientID == e.GetClientId() && r.SessionID == e.GetSessionId()
}

// hasFields reports whether the record has its fields, rather than only its Encoded bytes (an
// engine returns one or the other; a record the service appends has both). Every event's name
// is set: pushes are checked.
func hasFields(r *storage.Record) bool {
	return r.Encoded == nil || r.Name != ""
}

// append stores batch, which continues the log at its head, advances the head and publishes
// the events to the store's live pulls. The caller holds the store's lock.
//
// Each record carries its event's encoding (storage.Record.Encoded), made here once: the engine
// keeps it, and every pull page and live delivery copies it as it is. The encodings of a batch
// share one allocation.
func (s *Service) append(st *store, batch []*syncv1.Event) error {
	createdAt := s.now().UnixMilli()
	recs := make([]storage.Record, len(batch))
	info := st.info
	encSize := 0
	for _, e := range batch {
		encSize += eventjson.EventSize(e)
	}
	enc := make([]byte, 0, encSize)
	for i, e := range batch {
		start := len(enc)
		enc = eventjson.AppendEvent(enc, e)
		recs[i] = storage.Record{
			Name: e.GetName(), Args: e.GetArgs(), SeqNum: e.GetSeqNum(), ParentSeqNum: e.GetParentSeqNum(),
			ClientID: e.GetClientId(), SessionID: e.GetSessionId(), CreatedAt: createdAt,
			Encoded: enc[start:len(enc):len(enc)],
		}
		info.EventCount++
		info.EventBytes += uint64(recs[i].Size())
	}
	info.Head = batch[len(batch)-1].GetSeqNum()
	if err := s.engine.Append(st.id, st.info.Head, recs, info); err != nil {
		st.loaded = false // the engine's state is unknown now: read it again next time
		return &StorageError{Op: "append", Err: err}
	}
	st.info = info
	st.known.Store(&storage.Change{StoreID: st.id, BackendID: info.BackendID, Head: info.Head})
	if len(st.subs) > 0 { // pages are built only for stores that have live pulls
		d := delivery{pages: s.pages(st.info.BackendID, recs), committed: time.Now()}
		for _, p := range d.pages {
			d.bytes += int64(p.bytes)
		}
		st.publish(d, s.metrics)
	}
	return nil
}

// outcome classifies the result of a push for the metrics.
func outcome(err error) string {
	if err == nil { // before the targets of errors.As below, which escape to the heap
		return OutcomeOK
	}
	var (
		ahead    *ServerAheadError
		mismatch *BackendIDMismatchError
		batch    *InvalidBatchError
		invalid  *InvalidRequestError
		rejected *RejectedError
	)
	switch {
	case errors.As(err, &rejected):
		return OutcomeRejected
	case errors.As(err, &ahead):
		return OutcomeServerAhead
	case errors.As(err, &mismatch):
		return OutcomeMismatch
	case errors.As(err, &batch), errors.As(err, &invalid):
		return OutcomeInvalid
	default:
		return OutcomeError
	}
}

// load reads the store's metadata into st when it is not loaded yet, creating the store when it
// does not exist and create is set. The caller holds the store's lock.
func (s *Service) load(st *store, create bool) error {
	if st.loaded && !st.stale.Load() {
		return nil
	}
	return s.reload(st, create)
}

// loadFresh is load where a cached metadata may be behind the engine's: over a Shared engine,
// it always reads the store again. The caller holds the store's lock.
func (s *Service) loadFresh(st *store, create bool) error {
	if s.shared != nil {
		return s.reload(st, create)
	}
	return s.load(st, create)
}

// Ping answers at once: nil, unless the service is shutting down or the store id is invalid.
func (s *Service) Ping(ctx context.Context, req *syncv1.PingRequest) error {
	if err := s.track(); err != nil {
		return err
	}
	defer s.inflight.Done()
	if req.GetStoreId() == "" {
		return nil
	}
	annotateStore(ctx, req.GetStoreId())
	return s.checkStoreID(req.GetStoreId())
}

// Close shuts the service down: new requests fail with ErrClosed, live pulls end with ErrClosed,
// running pushes finish, then the engine is closed.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	for _, st := range s.snapshotStores() {
		st.closeSubscriptions(ErrClosed)
	}
	s.inflight.Wait()
	if s.watchDone != nil {
		<-s.watchDone
	}
	s.refreshers.Wait()
	if err := s.engine.Close(); err != nil {
		return fmt.Errorf("close storage: %w", err)
	}
	return nil
}

func (s *Service) snapshotStores() []*store {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*store, 0, len(s.stores))
	for _, st := range s.stores {
		out = append(out, st)
	}
	return out
}

// backendIDAlphabet is the alphabet of nanoid, which the original server uses for backend ids.
const backendIDAlphabet = "useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict"

// NewBackendID returns a random 21-character id from the alphabet [A-Za-z0-9_-], like the
// original server's backend ids.
func NewBackendID() string {
	var b [21]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	for i := range b {
		b[i] = backendIDAlphabet[b[i]&63]
	}
	return string(b[:])
}
