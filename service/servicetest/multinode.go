// Package servicetest has test suites for the sync service over a given storage engine. Its
// multi-node suite runs several Services, the nodes of one cluster, over a storage.Shared
// engine and checks what clients of different nodes see:
//
//	func TestMultiNode(t *testing.T) {
//		servicetest.RunMultiNode(t, servicetest.Cluster{Open: func(t *testing.T, n int) []storage.Shared { … }})
//	}
package servicetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage"
)

// Cluster says how the suite gets its nodes' engines.
type Cluster struct {
	// Open returns n engines that share one new, empty database; the suite closes them (through
	// the Services it runs over them).
	Open func(t *testing.T, n int) []storage.Shared
	// Interrupt, when set, makes the engine of node i miss writes, as a lost connection to the
	// database would, and returns a function that restores it. The suite writes in between and
	// expects node i to catch up once restored (Shared.Watch's resync).
	Interrupt func(t *testing.T, engines []storage.Shared, i int) (restore func())
}

// RunMultiNode runs the multi-node suite.
func RunMultiNode(t *testing.T, c Cluster) {
	tests := []struct {
		name string
		fn   func(t *testing.T, c Cluster)
	}{
		{"LivePullSeesEveryNodesPushes", testLiveAcrossNodes},
		{"LivePullStartingDuringPush", testLiveStartingDuringPush},
		{"PullReadsOtherNodesPushes", testPullAcrossNodes},
		{"RacingPushesAcrossNodes", testRacingAcrossNodes},
		{"StaleCacheIsNotServerAhead", testStaleCache},
		{"IdenticalRetryOnOtherNode", testRetryAcrossNodes},
		{"ResetOnOtherNode", testResetAcrossNodes},
		{"DeleteOnOtherNode", testDeleteAcrossNodes},
		{"ManyStoresConcurrently", testManyStores},
		{"MissedWritesCaughtUp", testInterrupted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, c) })
	}
}

// nodes starts n Services, one per engine of a new cluster.
func nodes(t *testing.T, c Cluster, n int) ([]*service.Service, []storage.Shared) {
	t.Helper()
	engines := c.Open(t, n)
	out := make([]*service.Service, n)
	for i, e := range engines {
		svc, err := service.New(e, service.Options{})
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(func() { svc.Close() })
		out[i] = svc
	}
	return out, engines
}

// events returns n chained events with seq_nums from+1 … from+n, made by client.
func events(client string, from uint64, n int) []*syncv1.Event {
	out := make([]*syncv1.Event, n)
	for i := range out {
		seq := from + uint64(i) + 1
		out[i] = &syncv1.Event{Name: "todoCreated-v1", Args: fmt.Sprintf(`{"id":"%s-%d"}`, client, seq),
			SeqNum: seq, ParentSeqNum: seq - 1, ClientId: client, SessionId: "session"}
	}
	return out
}

func push(t *testing.T, svc *service.Service, storeID string, batch []*syncv1.Event) {
	t.Helper()
	if err := svc.Push(context.Background(), &syncv1.PushRequest{StoreId: storeID, Batch: batch}); err != nil {
		t.Fatalf("push %d…%d to %q: %v", batch[0].GetSeqNum(), batch[len(batch)-1].GetSeqNum(), storeID, err)
	}
}

func pull(t *testing.T, svc *service.Service, storeID string, after uint64) []*syncv1.Event {
	t.Helper()
	var out []*syncv1.Event
	req := &syncv1.PullRequest{StoreId: storeID}
	if after > 0 {
		req.Cursor = &syncv1.Cursor{EventSequenceNumber: after}
	}
	err := svc.Pull(context.Background(), req, func(p *syncv1.PullResponse) error {
		for _, e := range p.GetBatch() {
			out = append(out, e.GetEvent())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("pull %q: %v", storeID, err)
	}
	return out
}

// A live is a live pull running in a goroutine, whose events arrive on a channel.
type live struct {
	events chan *syncv1.Event
	done   chan error
	cancel context.CancelFunc
}

// liveStarts counts the live pulls started, so that startLive alternates between the two kinds.
var liveStarts atomic.Uint64

// startLive starts a live pull of the store and waits until it has received its backlog's first
// page. One pull in two runs on a goroutine of its own (Service.Pull), the other without one
// (Service.PullAsync, as the WebSocket transport runs them), so every scenario covers both.
func startLive(t *testing.T, svc *service.Service, storeID string) *live {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &live{events: make(chan *syncv1.Event, 100_000), done: make(chan error, 1), cancel: cancel}
	started := make(chan struct{})
	var once sync.Once
	page := func(p *syncv1.PullResponse) {
		once.Do(func() { close(started) })
		for _, e := range p.GetBatch() {
			l.events <- e.GetEvent() // never blocks: room for every event of a scenario
		}
	}
	req := &syncv1.PullRequest{StoreId: storeID, Live: true}
	if liveStarts.Add(1)%2 == 0 {
		go svc.PullAsync(ctx, req, func(p *service.Page) error {
			resp, err := p.Response()
			if err == nil {
				page(resp)
			}
			return err
		}, &liveReceiver{page: page, ended: func(err error) { l.done <- err }})
	} else {
		go func() {
			l.done <- svc.Pull(ctx, req, func(p *syncv1.PullResponse) error {
				page(p)
				return nil
			})
		}()
	}
	t.Cleanup(func() { cancel(); <-l.done })
	select {
	case <-started: // the backlog's first page: the pull is past its start
	case err := <-l.done:
		t.Fatalf("live pull of %q ended at once: %v", storeID, err)
	}
	return l
}

// liveReceiver is a service.LiveReceiver handing each page to page, and the end to ended.
type liveReceiver struct {
	page  func(*syncv1.PullResponse)
	ended func(error)
}

func (r *liveReceiver) Deliver(p *service.Page) bool {
	resp, err := p.Response()
	if err != nil {
		return false // the pull ends; Ended reports it
	}
	r.page(resp)
	return true
}

func (r *liveReceiver) Ended(err error) { r.ended(err) }

// expect receives the next n events and fails unless they are seq_nums from+1 … from+n, in order.
func (l *live) expect(t *testing.T, from uint64, n int) []*syncv1.Event {
	t.Helper()
	out := make([]*syncv1.Event, 0, n)
	timeout := time.NewTimer(30 * time.Second) // a bound against hanging, not a measurement
	defer timeout.Stop()
	for len(out) < n {
		select {
		case e := <-l.events:
			if want := from + uint64(len(out)) + 1; e.GetSeqNum() != want {
				t.Fatalf("live pull received seq_num %d, want %d (a gap or a duplicate)", e.GetSeqNum(), want)
			}
			out = append(out, e)
		case err := <-l.done:
			t.Fatalf("live pull ended with %v after %d of %d events", err, len(out), n)
		case <-timeout.C:
			t.Fatalf("live pull received %d of %d events", len(out), n)
		}
	}
	return out
}

// ended waits for the live pull to end and returns its error, failing on any event before.
func (l *live) ended(t *testing.T) error {
	t.Helper()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	select {
	case e := <-l.events:
		t.Fatalf("live pull received seq_num %d, want its end", e.GetSeqNum())
	case err := <-l.done:
		l.done <- err // for the cleanup
		return err
	case <-timeout.C:
		t.Fatal("live pull did not end")
	}
	return nil
}

func testLiveAcrossNodes(t *testing.T, c Cluster) {
	n, _ := nodes(t, c, 3)
	const store = "live-across"
	push(t, n[0], store, events("a", 0, 1))
	l := startLive(t, n[1], store)
	l.expect(t, 0, 1)
	// One client pushing through node 0 and node 2 in turn: node 1 sees every event once, in order.
	head := uint64(1)
	for i := 0; i < 20; i++ {
		push(t, n[2*(i%2)], store, events("a", head, 3))
		head += 3
	}
	got := l.expect(t, 1, int(head-1))
	if got[0].GetArgs() != `{"id":"a-2"}` {
		t.Fatalf("event 2 args %s", got[0].GetArgs())
	}
}

// testLiveStartingDuringPush starts a live pull on one node while another node pushes to the
// store, many times: the pull must see the event pushed while it started, also when no later
// write comes to reveal that it missed one.
func testLiveStartingDuringPush(t *testing.T, c Cluster) {
	n, _ := nodes(t, c, 2)
	const rounds, backlog = 300, 20
	for r := 0; r < rounds; r++ {
		store := fmt.Sprint("starting-", r)
		push(t, n[0], store, events("a", 0, backlog)) // a backlog, so that the pull takes a while to start
		pushed := make(chan error, 1)
		go func() {
			pushed <- n[0].Push(context.Background(), &syncv1.PushRequest{StoreId: store, Batch: events("a", backlog, 1)})
		}()
		l := startLive(t, n[1], store)
		if err := <-pushed; err != nil {
			t.Fatal(err)
		}
		l.expect(t, 0, backlog+1)
		l.cancel()
	}
}

func testPullAcrossNodes(t *testing.T, c Cluster) {
	n, _ := nodes(t, c, 2)
	const store = "pull-across"
	push(t, n[1], store, events("a", 0, 2)) // node 1 caches the store
	push(t, n[0], store, events("a", 2, 3))
	if got := pull(t, n[1], store, 0); len(got) != 5 {
		t.Fatalf("node 1 pulled %d events, want the 5 pushed through both nodes", len(got))
	}
	info, err := n[1].GetStore(context.Background(), store)
	if err != nil || info.Head != 5 {
		t.Fatalf("node 1 GetStore: head %d, %v; want 5", info.Head, err)
	}
}

func testRacingAcrossNodes(t *testing.T, c Cluster) {
	n, _ := nodes(t, c, 2)
	const store = "racing-across"
	push(t, n[0], store, events("a", 0, 1))
	pull(t, n[1], store, 0) // both nodes have the store cached at head 1
	RacePushes(t, n, store, 16)
	for i, svc := range n {
		if got := pull(t, svc, store, 0); len(got) != 2 {
			t.Fatalf("node %d holds %d events, want 2", i, len(got))
		}
	}
}

// RacePushes pushes racers different events at parent 1 to the store, whose head must be 1, all
// at once, spread over svcs (the nodes of one cluster, or one Service), and fails unless exactly
// one push wins and every other is refused with ServerAheadError naming the real head.
func RacePushes(t *testing.T, svcs []*service.Service, store string, racers int) {
	t.Helper()
	errs := make(chan error, racers)
	var start sync.WaitGroup
	start.Add(1)
	for i := 0; i < racers; i++ {
		go func() {
			start.Wait()
			errs <- svcs[i%len(svcs)].Push(context.Background(), &syncv1.PushRequest{StoreId: store, Batch: []*syncv1.Event{{
				Name: "x", Args: fmt.Sprintf(`{"by":%d}`, i), SeqNum: 2, ParentSeqNum: 1, ClientId: fmt.Sprint(i), SessionId: "s",
			}}})
		}()
	}
	start.Done()
	wins := 0
	for i := 0; i < racers; i++ {
		err := <-errs
		var ahead *service.ServerAheadError
		switch {
		case err == nil:
			wins++
		case errors.As(err, &ahead):
			if ahead.MinimumExpectedNum != 2 || ahead.ProvidedNum != 1 {
				t.Errorf("ServerAheadError %+v, want the real head {2 1}", ahead)
			}
		default:
			t.Errorf("push: %v, want success or ServerAheadError", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d pushes at parent 1 won, want exactly 1", wins)
	}
}

func testStaleCache(t *testing.T, c Cluster) {
	n, _ := nodes(t, c, 2)
	const store = "stale"
	push(t, n[1], store, events("a", 0, 2)) // node 1 caches head 2
	push(t, n[0], store, events("a", 2, 2)) // head 4, written by node 0
	// A push at the real head through node 1 is stored, not refused with node 1's stale head.
	push(t, n[1], store, events("a", 4, 1))
	// One behind the real head gets the real head.
	err := n[1].Push(context.Background(), &syncv1.PushRequest{StoreId: store, Batch: events("b", 3, 1)})
	var ahead *service.ServerAheadError
	if !errors.As(err, &ahead) || ahead.MinimumExpectedNum != 5 || ahead.ProvidedNum != 3 {
		t.Fatalf("push after 3: %v, want ServerAheadError {5 3}", err)
	}
}

func testRetryAcrossNodes(t *testing.T, c Cluster) {
	n, _ := nodes(t, c, 2)
	const store = "retry"
	batch := events("a", 0, 3)
	push(t, n[0], store, batch)
	push(t, n[1], store, batch)                                           // the same events again: acknowledged
	push(t, n[1], store, append(events("a", 0, 3), events("a", 3, 2)...)) // and continued
	if got := pull(t, n[0], store, 0); len(got) != 5 {
		t.Fatalf("%d events stored, want 5", len(got))
	}
}

func testResetAcrossNodes(t *testing.T, c Cluster) {
	n, _ := nodes(t, c, 2)
	const store = "reset"
	push(t, n[0], store, events("a", 0, 2))
	l := startLive(t, n[1], store)
	l.expect(t, 0, 2)
	old, err := n[1].GetStore(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	info, err := n[0].ResetStore(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	var mismatch *service.BackendIDMismatchError
	if err := l.ended(t); !errors.As(err, &mismatch) || mismatch.Expected != info.BackendID {
		t.Fatalf("node 1's live pull ended with %v, want BackendIDMismatchError expecting %s", err, info.BackendID)
	}
	oldID := old.BackendID
	err = n[1].Push(context.Background(), &syncv1.PushRequest{StoreId: store, BackendId: &oldID, Batch: events("a", 2, 1)})
	if !errors.As(err, &mismatch) {
		t.Fatalf("push with the old backend id through node 1: %v, want BackendIDMismatchError", err)
	}
	push(t, n[1], store, events("b", 0, 1)) // the reset store starts again at 0
	if got := pull(t, n[0], store, 0); len(got) != 1 || got[0].GetClientId() != "b" {
		t.Fatalf("after the reset node 0 pulls %v, want the one new event", got)
	}
}

func testDeleteAcrossNodes(t *testing.T, c Cluster) {
	n, _ := nodes(t, c, 2)
	const store = "delete"
	push(t, n[0], store, events("a", 0, 2))
	l := startLive(t, n[1], store)
	l.expect(t, 0, 2)
	if err := n[0].DeleteStore(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	if err := l.ended(t); !errors.Is(err, service.ErrStoreDeleted) {
		t.Fatalf("node 1's live pull ended with %v, want ErrStoreDeleted", err)
	}
	if _, err := n[1].GetStore(context.Background(), store); !errors.Is(err, service.ErrStoreNotFound) {
		t.Fatalf("node 1 GetStore after deletion: %v, want ErrStoreNotFound", err)
	}
}

func testManyStores(t *testing.T, c Cluster) {
	n, _ := nodes(t, c, 3)
	const stores, pushes, batch = 6, 10, 5
	lives := make([]*live, stores)
	for s := range lives {
		lives[s] = startLive(t, n[1], fmt.Sprint("many-", s))
	}
	var wg sync.WaitGroup
	errs := make(chan error, stores)
	for s := 0; s < stores; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			head := uint64(0)
			for i := 0; i < pushes; i++ {
				req := &syncv1.PushRequest{StoreId: fmt.Sprint("many-", s), Batch: events("a", head, batch)}
				if err := n[2*((s+i)%2)].Push(context.Background(), req); err != nil {
					errs <- err
					return
				}
				head += batch
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, l := range lives {
		l.expect(t, 0, pushes*batch)
	}
}

func testInterrupted(t *testing.T, c Cluster) {
	if c.Interrupt == nil {
		t.Skip("the cluster cannot interrupt a node's watching")
	}
	n, engines := nodes(t, c, 2)
	const store = "interrupted"
	push(t, n[0], store, events("a", 0, 1))
	l := startLive(t, n[1], store)
	l.expect(t, 0, 1)
	restore := c.Interrupt(t, engines, 1)
	push(t, n[0], store, events("a", 1, 4))
	restore()
	push(t, n[0], store, events("a", 5, 1))
	l.expect(t, 1, 5)
}
