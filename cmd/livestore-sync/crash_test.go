package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"google.golang.org/protobuf/proto"
)

// killSeedEnv names the environment variable that sets the seed of TestKill9UnderLoad (batch
// sizes, payloads and kill points; the interleaving of the pushers still varies).
const killSeedEnv = "LIVESTORE_SYNC_KILL_SEED"

// killBatchState is what a pusher knows of one of its pushes.
type killBatchState int

const (
	// batchPending: the push has not returned yet.
	batchPending killBatchState = iota
	// batchAcked: the push returned OK, so the batch must be stored from then on.
	batchAcked
	// batchRejected: the server refused the push (the server was ahead), so it stored nothing.
	batchRejected
	// batchUnknown: the push failed because the server was killed; the batch may be stored,
	// but whole or not at all.
	batchUnknown
)

func (s killBatchState) String() string {
	return [...]string{"pending", "acknowledged", "rejected", "unknown"}[s]
}

// killBatch is one pushed batch. Its events' args name it (see killEvents).
type killBatch struct {
	key    string
	events []*syncv1.Event
	state  killBatchState
	// stored is whether the store held the batch (whole) when it was last checked.
	stored bool
}

// killStore is one store of TestKill9UnderLoad: every batch pushed to it, and what was checked.
type killStore struct {
	id string
	mu sync.Mutex // guards batches and order
	// batches are the batches pushed, by key.
	batches map[string]*killBatch
	// order is the batches in the order their pushes started.
	order []*killBatch
	// head and backendID are the store's head and backend id as last checked.
	head      uint64
	backendID string
}

// add records a batch whose push is about to start.
func (st *killStore) add(b *killBatch) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.batches[b.key] = b
	st.order = append(st.order, b)
}

// set records the outcome of a batch's push.
func (st *killStore) set(b *killBatch, s killBatchState) {
	st.mu.Lock()
	defer st.mu.Unlock()
	b.state = s
}

// TestKill9UnderLoad SIGKILLs the server while pushes are in flight, restarts it on the same data
// directory, and checks that every acknowledged batch is stored. In each of several cycles, two
// pushers per store (one over gRPC on HTTP/2, one over the Connect protocol on HTTP/1.1, each on
// its own connections) push batches of 1–50 events continuously, following the head when the
// other one gets ahead; after a random number of acknowledged pushes the server is killed. After
// the restart, each store's log must be seqNums 1..head with no gap or duplicate, hold every
// acknowledged batch exactly as pushed at its place, hold no refused batch, and hold each batch
// whose push was cut by the kill whole or not at all, under the same backend id. Each such batch
// is then pushed again, as a client would: the server must take it as already stored when it is,
// and otherwise append it or say it is ahead. The next cycle's pushers continue from the head, and
// after the last cycle one more push per store must succeed.
//
// The seed is logged; set LIVESTORE_SYNC_KILL_SEED to replay it.
func TestKill9UnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills the server several times")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(killSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", killSeedEnv, s, err)
		}
	}
	t.Logf("seed %d (replay with %s=%d)", seed, killSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	const (
		numStores = 4
		cycles    = 4
	)
	// The pushers' connections: one client (and so one connection pool) per pusher.
	conns := []struct {
		name   string
		client func(url string) syncv1connect.SyncServiceClient
	}{
		{"grpc", func(url string) syncv1connect.SyncServiceClient {
			return syncv1connect.NewSyncServiceClient(h2cClient(), url, connect.WithGRPC())
		}},
		{"connect", func(url string) syncv1connect.SyncServiceClient {
			return syncv1connect.NewSyncServiceClient(&http.Client{Transport: tracked(&http.Transport{})}, url)
		}},
	}
	stores := make([]*killStore, numStores)
	for i := range stores {
		stores[i] = &killStore{id: fmt.Sprintf("kill-%d", i), batches: map[string]*killBatch{}}
	}

	dataDir := t.TempDir()
	srv := startServer(t, dataDir)
	checkReady(t, srv)
	var inFlightAtKills int64
	for cycle := range cycles {
		target := int64(20 + rng.IntN(100))
		var pushers []*killPusher
		for si, st := range stores {
			for ci, conn := range conns {
				pushers = append(pushers, &killPusher{
					name:   fmt.Sprintf("%s-%s-cycle%d", st.id, conn.name, cycle),
					store:  st,
					client: conn.client(srv.url),
					rng:    rand.New(rand.NewPCG(seed, uint64(cycle)<<16|uint64(si)<<8|uint64(ci)+1)),
					head:   st.head,
				})
			}
		}
		load := runUntilAcked(t, pushers, target, srv.stderr)
		n := load.inFlight.Load()
		inFlightAtKills += n
		srv.stop(t, syscall.SIGKILL)
		<-load.done
		if t.Failed() {
			t.Fatalf("cycle %d: a pusher failed before the kill\n%s", cycle, srv.stderr)
		}
		unknown := 0
		for _, st := range stores {
			for _, b := range st.order {
				if b.state == batchUnknown {
					unknown++
				}
			}
		}
		t.Logf("cycle %d: killed after %d acknowledged pushes (%d in all), with %d pushes in flight; %d batches of unknown fate",
			cycle, target, load.acked.Load(), n, unknown)

		srv = startServer(t, dataDir)
		checkReady(t, srv)
		check := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url, connect.WithGRPC())
		var retried [3]int // taken as stored, appended, refused
		for _, st := range stores {
			if checkKillStore(t, check, st) {
				r := retryUnknown(t, check, st)
				for i := range retried {
					retried[i] += r[i]
				}
				checkKillStore(t, check, st)
			}
		}
		t.Logf("cycle %d: after the restart, of the batches of unknown fate pushed again, %d were stored already, %d were appended and %d refused",
			cycle, retried[0], retried[1], retried[2])
		if t.Failed() {
			t.Fatalf("cycle %d failed (seed %d)", cycle, seed)
		}
	}
	if inFlightAtKills == 0 {
		t.Errorf("no push was in flight at any of the %d kills", cycles)
	}

	// The pushers can go on from the head after the last restart.
	client := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url, connect.WithGRPC())
	for _, st := range stores {
		b := &killBatch{key: st.id + "-final", state: batchPending, events: killEvents(st.id+"-final", st.head, 3, 10, rand.New(rand.NewPCG(seed, 1)))}
		st.add(b)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := client.Push(ctx, connect.NewRequest(&syncv1.PushRequest{StoreId: st.id, Batch: b.events}))
		cancel()
		if err != nil {
			t.Fatalf("store %s: push after the last restart, from head %d: %v", st.id, st.head, err)
		}
		st.set(b, batchAcked)
		checkKillStore(t, client, st)
		t.Logf("store %s: head %d after %d batches pushed", st.id, st.head, len(st.order))
	}
}

// killPusher pushes batches to one store over one client until the server is killed.
type killPusher struct {
	name   string
	store  *killStore
	client syncv1connect.SyncServiceClient
	rng    *rand.Rand
	head   uint64 // the store's head as this pusher knows it
	n      int    // batches pushed
}

// killLoad is pushers running until the server is killed.
type killLoad struct {
	killing  atomic.Bool   // set once the server is about to be killed
	acked    atomic.Int64  // pushes acknowledged
	inFlight atomic.Int64  // pushes sent and not answered yet
	done     chan struct{} // closed when every pusher has stopped
}

// runUntilAcked starts the pushers and returns once target pushes have been acknowledged, with
// killing set: the caller kills the server, then waits for done. It fails the test when every
// pusher stopped before (stderr is the server's log, for the message).
func runUntilAcked(t *testing.T, pushers []*killPusher, target int64, stderr fmt.Stringer) *killLoad {
	t.Helper()
	l := &killLoad{done: make(chan struct{})}
	reached := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for _, p := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.run(t, &l.killing, &l.inFlight, func() {
				if l.acked.Add(1) == target {
					once.Do(func() { close(reached) })
				}
			})
		}()
	}
	go func() { wg.Wait(); close(l.done) }()
	select {
	case <-reached:
	case <-l.done:
		t.Fatalf("every pusher stopped before %d acknowledged pushes\n%s", target, stderr)
	}
	l.killing.Store(true)
	return l
}

// run pushes batches until killing is set, calling onAck after each acknowledged push. A push
// that fails once killing is set is of unknown fate; any other failure but the server being
// ahead fails the test.
func (p *killPusher) run(t *testing.T, killing *atomic.Bool, inFlight *atomic.Int64, onAck func()) {
	for !killing.Load() {
		key := fmt.Sprintf("%s-%d", p.name, p.n)
		p.n++
		b := &killBatch{key: key, state: batchPending, events: killEvents(key, p.head, 1+p.rng.IntN(50), 300, p.rng)}
		p.store.add(b)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		inFlight.Add(1)
		_, err := p.client.Push(ctx, connect.NewRequest(&syncv1.PushRequest{StoreId: p.store.id, Batch: b.events}))
		inFlight.Add(-1)
		cancel()
		var ahead *syncv1.ServerAheadError
		switch {
		case err == nil:
			p.store.set(b, batchAcked)
			p.head = b.events[len(b.events)-1].GetSeqNum()
			onAck()
		case serverAhead(err, &ahead):
			p.store.set(b, batchRejected)
			p.head = ahead.GetMinimumExpectedNum()
		case killing.Load():
			p.store.set(b, batchUnknown)
			return
		default:
			p.store.set(b, batchUnknown)
			t.Errorf("%s: push after head %d: %v", p.name, p.head, err)
			return
		}
	}
}

// serverAhead reports whether err is the server's refusal of a push that does not start at its
// head, and sets *detail to the refusal's detail.
func serverAhead(err error, detail **syncv1.ServerAheadError) bool {
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeAborted {
		return false
	}
	for _, d := range cerr.Details() {
		if v, err := d.Value(); err == nil {
			if a, ok := v.(*syncv1.ServerAheadError); ok {
				*detail = a
				return true
			}
		}
	}
	return false
}

// killArgs is the args of an event of TestKill9UnderLoad: the batch it belongs to, its index
// in the batch, and a random padding.
type killArgs struct {
	Batch string `json:"batch"`
	Index int    `json:"index"`
	Pad   string `json:"pad"`
}

// killEvents returns a batch of n events after head, named key, with paddings of up to maxPad
// bytes.
func killEvents(key string, head uint64, n, maxPad int, rng *rand.Rand) []*syncv1.Event {
	events := make([]*syncv1.Event, n)
	client := key[:strings.LastIndexByte(key, '-')]
	for i := range events {
		seq := head + uint64(i) + 1
		args, _ := json.Marshal(killArgs{Batch: key, Index: i, Pad: strings.Repeat("x", rng.IntN(maxPad+1))})
		events[i] = &syncv1.Event{Name: "crashTest-v1", Args: string(args), SeqNum: seq, ParentSeqNum: seq - 1,
			ClientId: client, SessionId: "session-" + key}
	}
	return events
}

// checkKillStore pulls the whole store and checks it against what was pushed: seqNums 1..head
// without a gap, every acknowledged batch there as pushed, no refused batch, every other batch
// whole or absent, and the same backend id as last time. It sets st.head and st.backendID, and
// each batch's stored, and reports whether the store passed.
func checkKillStore(t *testing.T, client syncv1connect.SyncServiceClient, st *killStore) bool {
	t.Helper()
	ok := true
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("store %s: "+format, append([]any{st.id}, args...)...)
		ok = false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pages, err := pullAll(ctx, client, &syncv1.PullRequest{StoreId: st.id})
	if err != nil || len(pages) == 0 {
		fail("pull: %d pages, %v", len(pages), err)
		return false
	}
	if backend := pages[0].GetBackendId(); st.backendID != "" && backend != st.backendID {
		fail("backend id %q, was %q: the store was recreated", backend, st.backendID)
	} else {
		st.backendID = backend
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	present := map[*killBatch]int{}
	var seq uint64
	for _, page := range pages {
		for _, pe := range page.GetBatch() {
			e := pe.GetEvent()
			seq++
			if e.GetSeqNum() != seq || e.GetParentSeqNum() != seq-1 {
				fail("event %d has seqNum %d after %d: a gap, a duplicate or out of order", seq, e.GetSeqNum(), e.GetParentSeqNum())
				return false
			}
			var args killArgs
			if err := json.Unmarshal([]byte(e.GetArgs()), &args); err != nil {
				fail("event %d has args %q: %v", seq, e.GetArgs(), err)
				return false
			}
			b := st.batches[args.Batch]
			switch {
			case b == nil:
				fail("event %d belongs to no pushed batch: %v", seq, e)
				return false
			case b.state == batchRejected:
				fail("event %d belongs to batch %s, whose push was refused", seq, b.key)
			case args.Index >= len(b.events) || !proto.Equal(b.events[args.Index], e):
				fail("event %d is not as pushed: got %v", seq, e)
				return false
			}
			present[b]++
		}
	}
	st.head = seq
	for _, b := range st.order {
		n := present[b]
		b.stored = n == len(b.events)
		switch {
		case b.state == batchAcked && n != len(b.events):
			fail("acknowledged batch %s (seqNums %d-%d) has %d of its %d events", b.key,
				b.events[0].GetSeqNum(), b.events[len(b.events)-1].GetSeqNum(), n, len(b.events))
		case n != 0 && n != len(b.events):
			fail("%s batch %s is torn: %d of its %d events", b.state, b.key, n, len(b.events))
		}
	}
	return ok
}

// retryUnknown pushes again each batch of st whose fate the kill left unknown, as a client
// that did not get an answer does; checkKillStore must have checked st just before. A stored
// batch must be taken as stored (OK, nothing appended); a batch that was not stored must be
// appended when it starts at the head, and refused with the server ahead otherwise. Each batch
// is then acknowledged or refused. It returns how many batches were taken as stored, appended
// and refused.
func retryUnknown(t *testing.T, client syncv1connect.SyncServiceClient, st *killStore) (counts [3]int) {
	t.Helper()
	for _, b := range st.order {
		if b.state != batchUnknown {
			continue
		}
		last := b.events[len(b.events)-1].GetSeqNum()
		parent := b.events[0].GetParentSeqNum()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := client.Push(ctx, connect.NewRequest(&syncv1.PushRequest{StoreId: st.id, Batch: b.events}))
		cancel()
		var ahead *syncv1.ServerAheadError
		switch {
		case b.stored || parent == st.head:
			if err != nil {
				t.Errorf("store %s: push again of batch %s (stored: %v, after %d, head %d): %v", st.id, b.key, b.stored, parent, st.head, err)
				continue
			}
			if b.stored {
				counts[0]++
			} else {
				counts[1]++
				st.head = last
			}
			st.set(b, batchAcked)
		case serverAhead(err, &ahead):
			counts[2]++
			st.set(b, batchRejected)
		default:
			t.Errorf("store %s: push again of the unstored batch %s after %d, head %d: %v, want the server ahead", st.id, b.key, parent, st.head, err)
		}
	}
	return counts
}

// checkReady checks that the server answers /readyz with 200. startServer has waited for the
// line it logs once it listens, and it is ready from then on (not draining; /readyz pings the
// database itself), so one request tells.
func checkReady(t *testing.T, srv *serverProcess) {
	t.Helper()
	resp, err := http.Get(srv.url + "/readyz")
	if err != nil {
		t.Fatalf("server at %s: /readyz: %v\n%s", srv.url, err, srv.stderr)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("server at %s not ready: %d %s\n%s", srv.url, resp.StatusCode, body, srv.stderr)
	}
}
