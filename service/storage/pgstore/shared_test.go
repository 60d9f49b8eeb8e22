package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/livestore-sync/livestore-sync/service/storage"
	"github.com/livestore-sync/livestore-sync/service/storage/storagetest"
)

// twoNodes opens two engines on one schema, as two nodes of a cluster would.
func twoNodes(t *testing.T) (a, b *Engine) {
	schema := newSchema(t)
	return openSchema(t, schema), openSchema(t, schema)
}

// events returns n events after prev, tagged so that two writers' events differ.
func events(tag string, prev uint64, n int) []storage.Record {
	evs := make([]storage.Record, n)
	for i := range evs {
		evs[i] = storage.Record{Name: "v1.Ev", Args: fmt.Sprintf(`{"by":%q}`, tag), SeqNum: prev + uint64(i) + 1,
			ParentSeqNum: prev + uint64(i), ClientID: tag, SessionID: tag}
	}
	return evs
}

// after returns info once evs are appended to it.
func after(info storage.StoreInfo, evs []storage.Record) storage.StoreInfo {
	for i := range evs {
		info.Head = evs[i].SeqNum
		info.EventCount++
		info.EventBytes += uint64(evs[i].Size())
	}
	return info
}

func TestSharedRacingAppends(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	w := watch(t, a)
	info := storage.StoreInfo{BackendID: "b1", CreatedAt: time.UnixMilli(1_700_000_000_000)}
	if err := a.CreateStore("race", info); err != nil {
		t.Fatal(err)
	}
	changes := []storage.Change{{StoreID: "race", BackendID: "b1"}}
	var want []storage.Record
	for round := range 20 {
		nodes := []*Engine{a, b}
		errs := make([]error, 2)
		batches := make([][]storage.Record, 2)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, e := range nodes {
			batches[i] = events(fmt.Sprintf("node%d-round%d", i, round), info.Head, 1+i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = e.Append("race", info.Head, batches[i], after(info, batches[i]))
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner < 0:
				winner = i
			case err == nil:
				t.Fatalf("round %d: both appends at head %d succeeded", round, info.Head)
			case !errors.Is(err, storage.ErrHeadMismatch):
				t.Fatalf("round %d: node %d: error %v, want ErrHeadMismatch", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: both appends failed: %v", round, errs)
		}
		info = after(info, batches[winner])
		want = append(want, batches[winner]...)
		changes = append(changes, storage.Change{StoreID: "race", BackendID: "b1", Head: info.Head})
	}
	// The watcher saw each winner once, in order, and no loser.
	w.expect(t, changes...)
	for _, e := range []*Engine{a, b} {
		got, err := e.LoadStore("race")
		if err != nil || got != info {
			t.Errorf("LoadStore = %+v, %v, want %+v", got, err, info)
		}
		recs, err := e.ReadEvents("race", 0, math.MaxUint64, math.MaxInt)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != len(want) {
			t.Fatalf("%d events stored, want %d (the winners' only)", len(recs), len(want))
		}
		for i := range recs {
			if !storagetest.SameRecord(&recs[i], &want[i]) {
				t.Fatalf("event %d = %+v, want %+v", i, recs[i], want[i])
			}
		}
	}
}

func TestSharedStaleBackendID(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	old := storage.StoreInfo{BackendID: "b1"}
	if err := a.CreateStore("s", old); err != nil {
		t.Fatal(err)
	}
	evs := events("a", 0, 3)
	old = after(old, evs)
	if err := a.Append("s", 0, evs, old); err != nil {
		t.Fatal(err)
	}
	// Node b resets the store: a new backend id, head 0.
	reset := storage.StoreInfo{BackendID: "b2"}
	if err := b.CreateStore("s", reset); err != nil {
		t.Fatal(err)
	}
	// Node a, which has not heard, appends after its stale head, or after 0 with the old
	// backend id: both refused, nothing written.
	for _, prev := range []uint64{old.Head, 0} {
		info := old
		info.Head, info.EventCount, info.EventBytes = prev, 0, 0
		evs := events("stale", prev, 2)
		err := a.Append("s", prev, evs, after(info, evs))
		if !errors.Is(err, storage.ErrHeadMismatch) {
			t.Errorf("append after %d of the old backend: error %v, want ErrHeadMismatch", prev, err)
		}
	}
	got, err := b.LoadStore("s")
	if err != nil || got.BackendID != "b2" || got.Head != 0 || got.EventCount != 0 {
		t.Errorf("LoadStore = %+v, %v, want the reset store", got, err)
	}
	if n, err := b.CountEvents("s", 0, math.MaxUint64); err != nil || n != 0 {
		t.Errorf("CountEvents = %d, %v, want 0", n, err)
	}
	// And once deleted by b, a's append is refused too.
	if err := b.DeleteStore("s"); err != nil {
		t.Fatal(err)
	}
	evs = events("late", 0, 1)
	if err := a.Append("s", 0, evs, after(reset, evs)); !errors.Is(err, storage.ErrHeadMismatch) {
		t.Errorf("append to a deleted store: error %v, want ErrHeadMismatch", err)
	}
}

func TestSharedCreateStoreIfMissingRacing(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	const callers = 8
	infos := make([]storage.StoreInfo, callers)
	errs := make([]error, callers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		e := a
		if i%2 == 1 {
			e = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			infos[i], errs[i] = e.CreateStoreIfMissing("new", storage.StoreInfo{
				BackendID: fmt.Sprintf("backend-%d", i), CreatedAt: time.UnixMilli(int64(1000 + i)),
			})
		}()
	}
	w := watch(t, a)
	close(start)
	wg.Wait()
	stored, err := a.LoadStore("new")
	if err != nil {
		t.Fatal(err)
	}
	for i := range callers {
		if errs[i] != nil {
			t.Errorf("caller %d: %v", i, errs[i])
		} else if infos[i].BackendID != stored.BackendID || !infos[i].CreatedAt.Equal(stored.CreatedAt) {
			t.Errorf("caller %d got %+v, the stored store is %+v", i, infos[i], stored)
		}
	}
	// A store that exists is left alone, with its events.
	evs := events("a", 0, 2)
	if err := a.Append("new", 0, evs, after(stored, evs)); err != nil {
		t.Fatal(err)
	}
	// One creation was announced, then the append: the callers that found the store told nothing.
	w.expect(t, storage.Change{StoreID: "new", BackendID: stored.BackendID}, storage.Change{StoreID: "new", BackendID: stored.BackendID, Head: 2})
	got, err := b.CreateStoreIfMissing("new", storage.StoreInfo{BackendID: "other"})
	if err != nil || got != after(stored, evs) {
		t.Errorf("CreateStoreIfMissing of an existing store = %+v, %v, want %+v", got, err, after(stored, evs))
	}
}

// watcher runs Watch on an engine and hands its reports to the test.
type watcher struct {
	changes  chan storage.Change
	resyncs  chan struct{}
	listened chan uint32 // the server pid of each connection Watch listens on
	done     chan error
	current  uint32 // the pid Watch listens on now
}

// watch starts Watch on e and returns once it listens. It stops when t ends.
func watch(t *testing.T, e *Engine) *watcher {
	t.Helper()
	w := &watcher{
		changes: make(chan storage.Change, 1000), resyncs: make(chan struct{}, 10),
		listened: make(chan uint32, 10), done: make(chan error, 1),
	}
	e.onListen = func(pid uint32) { w.listened <- pid }
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		w.done <- e.Watch(ctx, func(c storage.Change) { w.changes <- c }, func() { w.resyncs <- struct{}{} })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-w.done; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch returned %v, want context.Canceled", err)
		}
	})
	w.current = w.pid(t)
	w.resynced(t) // once it listens: writes before were not reported
	return w
}

// resynced waits for a call of resync.
func (w *watcher) resynced(t *testing.T) {
	t.Helper()
	select {
	case <-w.resyncs:
	case c := <-w.changes:
		t.Fatalf("change %+v, want a resync", c)
	case <-time.After(testWait):
		t.Fatal("no resync")
	}
}

// testWait bounds every wait for something the test expects: a failure guard, not a pace.
const testWait = 20 * time.Second

// pid waits for Watch to listen on a connection and returns the connection's server pid.
func (w *watcher) pid(t *testing.T) uint32 {
	t.Helper()
	select {
	case pid := <-w.listened:
		return pid
	case err := <-w.done:
		t.Fatalf("Watch returned %v", err)
	case <-time.After(testWait):
		t.Fatal("Watch did not listen")
	}
	return 0
}

// expect waits for the next changes and fails t unless they are want, in order.
func (w *watcher) expect(t *testing.T, want ...storage.Change) {
	t.Helper()
	for i, c := range want {
		select {
		case got := <-w.changes:
			if got != c {
				t.Fatalf("change %d = %+v, want %+v", i, got, c)
			}
		case <-w.resyncs:
			t.Fatalf("resync instead of change %d (%+v)", i, c)
		case <-time.After(testWait):
			t.Fatalf("no change %d (%+v)", i, c)
		}
	}
}

func TestSharedWatchSeesOtherNode(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	w := watch(t, a)
	long := strings.Repeat("日本", 500) // 3000 bytes: still fits a notification
	var want []storage.Change
	for _, id := range []string{"s1", "s2", long} {
		info := storage.StoreInfo{BackendID: "b1"}
		if err := b.CreateStore(id, info); err != nil {
			t.Fatal(err)
		}
		want = append(want, storage.Change{StoreID: id, BackendID: "b1"})
		for range 3 {
			evs := events("b", info.Head, 2)
			next := after(info, evs)
			if err := b.Append(id, info.Head, evs, next); err != nil {
				t.Fatal(err)
			}
			info = next
			want = append(want, storage.Change{StoreID: id, BackendID: "b1", Head: info.Head})
		}
	}
	// A reset, a deletion, a creation by CreateStoreIfMissing, and a write of a itself.
	if err := b.CreateStore("s1", storage.StoreInfo{BackendID: "b2"}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteStore("s2"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteStore("never"); err != nil { // changes nothing, tells nothing
		t.Fatal(err)
	}
	if _, err := b.CreateStoreIfMissing("s3", storage.StoreInfo{BackendID: "b3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateStoreIfMissing("s3", storage.StoreInfo{BackendID: "b4"}); err != nil { // exists: nothing
		t.Fatal(err)
	}
	evs := events("a", 0, 1)
	if err := a.Append("s1", 0, evs, after(storage.StoreInfo{BackendID: "b2"}, evs)); err != nil {
		t.Fatal(err)
	}
	want = append(want,
		storage.Change{StoreID: "s1", BackendID: "b2"},
		storage.Change{StoreID: "s2"},
		storage.Change{StoreID: "s3", BackendID: "b3"},
		storage.Change{StoreID: "s1", BackendID: "b2", Head: 1},
	)
	w.expect(t, want...)
	// A refused append tells nothing: the next change is the one after it.
	evs = events("stale", 0, 1)
	if err := b.Append("s1", 0, evs, after(storage.StoreInfo{BackendID: "b2"}, evs)); !errors.Is(err, storage.ErrHeadMismatch) {
		t.Fatalf("stale append: %v", err)
	}
	if err := b.DeleteStore("s1"); err != nil {
		t.Fatal(err)
	}
	w.expect(t, storage.Change{StoreID: "s1"})
}

func TestSharedWatchTooLongForNotification(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	w := watch(t, a)
	if err := b.CreateStore(strings.Repeat("x", maxPayload), storage.StoreInfo{BackendID: "b"}); err != nil {
		t.Fatal(err)
	}
	w.resynced(t)
}

func TestSharedWatchReconnects(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	w := watch(t, a)
	info := storage.StoreInfo{BackendID: "b1"}
	if err := b.CreateStore("s", info); err != nil {
		t.Fatal(err)
	}
	w.expect(t, storage.Change{StoreID: "s", BackendID: "b1"})
	for round := range 2 {
		// Drop Watch's connection from the server side, as a failover or a DBA would.
		pid := w.current
		var ok bool
		if err := b.pool.QueryRow(context.Background(), `SELECT pg_terminate_backend($1)`, int32(pid)).Scan(&ok); err != nil || !ok {
			t.Fatalf("round %d: pg_terminate_backend(%d) = %v, %v", round, pid, ok, err)
		}
		w.current = w.pid(t)
		if w.current == pid {
			t.Fatalf("round %d: Watch listens on the terminated connection %d", round, pid)
		}
		w.resynced(t)
		evs := events("b", info.Head, 1)
		next := after(info, evs)
		if err := b.Append("s", info.Head, evs, next); err != nil {
			t.Fatal(err)
		}
		info = next
		w.expect(t, storage.Change{StoreID: "s", BackendID: "b1", Head: info.Head})
	}
	if got := a.reconnects.Load(); got != 2 {
		t.Errorf("reconnects = %d, want 2", got)
	}
}

// A LISTEN connection that stays quiet is pinged, and keeps delivering after the pings.
func TestSharedWatchPingsWhenIdle(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	pings := make(chan error, 100)
	a.pingInterval = 20 * time.Millisecond
	a.onIdlePing = func(err error) {
		select {
		case pings <- err:
		default: // the test has seen enough
		}
	}
	w := watch(t, a)
	for i := range 3 {
		select {
		case err := <-pings:
			if err != nil {
				t.Fatalf("ping %d: %v", i, err)
			}
		case <-time.After(testWait):
			t.Fatalf("no ping %d of the idle connection", i)
		}
	}
	if err := b.CreateStore("s", storage.StoreInfo{BackendID: "b1"}); err != nil {
		t.Fatal(err)
	}
	w.expect(t, storage.Change{StoreID: "s", BackendID: "b1"})
	if got := a.reconnects.Load(); got != 0 {
		t.Errorf("reconnects = %d, want 0: the pings broke the connection", got)
	}
}

func TestWatchFailsAtOnceWithoutDatabase(t *testing.T) {
	t.Parallel()
	cfg, err := pgxpool.ParseConfig("postgres://nobody@127.0.0.1:1/none?connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg) // connects lazily
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	e := &Engine{pool: pool, channel: channelOf("s"), timeout: DefaultTimeout, log: slog.New(slog.DiscardHandler)}
	err = e.Watch(context.Background(), func(storage.Change) { t.Error("changed called") }, func() { t.Error("resync called") })
	if err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("Watch without a database = %v, want a connection error", err)
	}
}

// Appends on one node racing resets and deletions on another never leave events of an old
// incarnation behind: whatever the interleaving, the store holds exactly the events its metadata
// counts, 1 … head.
func TestSharedAppendsRacingResets(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	const id = "churn"
	if err := a.CreateStore(id, storage.StoreInfo{BackendID: "b0"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	appended := make(chan int, 1)
	go func() { // node a: append after whatever is stored, until told to stop
		n := 0
		defer func() { appended <- n }()
		for {
			select {
			case <-done:
				return
			default:
			}
			info, err := a.LoadStore(id)
			if errors.Is(err, storage.ErrStoreNotFound) {
				continue
			}
			if err != nil {
				t.Error(err)
				return
			}
			evs := events("a", info.Head, 2)
			err = a.Append(id, info.Head, evs, after(info, evs))
			switch {
			case err == nil:
				n++
			case !errors.Is(err, storage.ErrHeadMismatch):
				t.Error(err)
				return
			}
		}
	}()
	for i := 1; i <= 30; i++ { // node b: reset, and now and then delete and create again
		if i%7 == 0 {
			if err := b.DeleteStore(id); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.CreateStore(id, storage.StoreInfo{BackendID: fmt.Sprintf("b%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	t.Logf("%d appends landed between the resets", <-appended)
	info, err := b.LoadStore(id)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := b.ReadEvents(id, 0, math.MaxUint64, math.MaxInt)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(recs)) != info.EventCount || info.Head != info.EventCount {
		t.Fatalf("store holds %d events, its metadata says %+v", len(recs), info)
	}
	for i, r := range recs {
		if r.SeqNum != uint64(i+1) {
			t.Fatalf("event %d has seqNum %d: events of another incarnation", i, r.SeqNum)
		}
	}
	var orphans int
	if err := a.pool.QueryRow(context.Background(), `SELECT count(*) FROM `+a.schemaQuoted()+`.events e
		WHERE NOT EXISTS (SELECT 1 FROM `+a.schemaQuoted()+`.stores s WHERE s.key = e.store_key)`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("%d events without a store (%v)", orphans, err)
	}
}
