package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"github.com/livestore-sync/livestore-sync/internal/pgtest"
)

// startNodes runs n servers on the PostgreSQL database dbURL, each with a data directory of its
// own that it must not use, and waits until each is ready.
func startNodes(t *testing.T, dbURL string, n int) []*serverProcess {
	t.Helper()
	out := make([]*serverProcess, n)
	for i := range out {
		out[i] = startServer(t, t.TempDir(), "--postgres", dbURL)
		checkReady(t, out[i])
	}
	return out
}

func grpcClient(srv *serverProcess) syncv1connect.SyncServiceClient {
	return syncv1connect.NewSyncServiceClient(h2cClient(), srv.url, connect.WithGRPC())
}

// TestThreeNodesOnPostgres runs three servers on one database: a live pull on node 2 sees every
// push made on nodes 1 and 3, in order, exactly once; pushes racing at one parent on nodes 1
// and 3 give one success and one ServerAheadError with the real head.
func TestThreeNodesOnPostgres(t *testing.T) {
	nodes := startNodes(t, pgtest.Database(t), 3)
	clients := make([]syncv1connect.SyncServiceClient, len(nodes))
	for i, n := range nodes {
		clients[i] = grpcClient(n)
	}
	const store = "three-nodes"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	stream, err := clients[1].Pull(ctx, connect.NewRequest(&syncv1.PullRequest{StoreId: store, Live: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if !stream.Receive() { // the empty backlog: the live pull has started
		t.Fatalf("live pull on node 2: %v", stream.Err())
	}
	received := make(chan *syncv1.Event, 1000)
	go func() {
		for stream.Receive() {
			for _, e := range stream.Msg().GetBatch() {
				received <- e.GetEvent()
			}
		}
		close(received)
	}()

	const pushes, batch = 30, 3
	var head uint64
	for i := 0; i < pushes; i++ {
		node := 2 * (i % 2) // nodes 1 and 3 in turn
		if _, err := clients[node].Push(ctx, connect.NewRequest(&syncv1.PushRequest{StoreId: store, Batch: newEvents(head, batch)})); err != nil {
			t.Fatalf("push %d on node %d after %d: %v", i, node+1, head, err)
		}
		head += batch
	}
	timeout := time.NewTimer(30 * time.Second) // a bound against hanging, not a measurement
	defer timeout.Stop()
	for seq := uint64(1); seq <= head; seq++ {
		select {
		case e, ok := <-received:
			if !ok {
				t.Fatalf("node 2's live pull ended after %d of %d events: %v", seq-1, head, stream.Err())
			}
			if e.GetSeqNum() != seq {
				t.Fatalf("node 2's live pull received seq_num %d, want %d (a gap or a duplicate)", e.GetSeqNum(), seq)
			}
		case <-timeout.C:
			t.Fatalf("node 2's live pull received %d of %d events", seq-1, head)
		}
	}

	// Two pushes at the same parent on nodes 1 and 3.
	results := make(chan error, 2)
	var start sync.WaitGroup
	start.Add(1)
	for _, node := range []int{0, 2} {
		go func() {
			start.Wait()
			ev := newEvents(head, 1)
			ev[0].ClientId = fmt.Sprint("racer-", node)
			_, err := clients[node].Push(ctx, connect.NewRequest(&syncv1.PushRequest{StoreId: store, Batch: ev}))
			results <- err
		}()
	}
	start.Done()
	wins := 0
	for range 2 {
		err := <-results
		var ahead *syncv1.ServerAheadError
		switch {
		case err == nil:
			wins++
		case serverAhead(err, &ahead):
			if ahead.GetMinimumExpectedNum() != head+1 || ahead.GetProvidedNum() != head {
				t.Errorf("ServerAheadError %v, want the real head %d", ahead, head+1)
			}
		default:
			t.Errorf("racing push: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of the racing pushes won, want 1", wins)
	}
}

// TestNodeKilledOnPostgres SIGKILLs a node while pushes to it are in flight: every acknowledged
// batch is in the database, read through another node, and the pushers carry on through that
// node, retrying the pushes whose answer they did not get.
func TestNodeKilledOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a server under load")
	}
	nodes := startNodes(t, pgtest.Database(t), 2)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	stores := make([]*killStore, 3)
	for i := range stores {
		stores[i] = &killStore{id: fmt.Sprintf("pg-kill-%d", i), batches: map[string]*killBatch{}}
	}
	const target = 60
	var pushers []*killPusher
	for si, st := range stores {
		for ci := range 2 {
			pushers = append(pushers, &killPusher{
				name:   fmt.Sprintf("%s-%d", st.id, ci),
				store:  st,
				client: syncv1connect.NewSyncServiceClient(&http.Client{Transport: tracked(&http.Transport{})}, nodes[0].url),
				rng:    rand.New(rand.NewPCG(seed, uint64(si)<<8|uint64(ci)+1)),
			})
		}
	}
	load := runUntilAcked(t, pushers, target, nodes[0].stderr)
	t.Logf("killing node 1 after %d acknowledged pushes, %d in flight", load.acked.Load(), load.inFlight.Load())
	nodes[0].stop(t, syscall.SIGKILL)
	<-load.done
	if t.Failed() {
		t.Fatalf("a pusher failed before the kill\n%s", nodes[0].stderr)
	}
	other := grpcClient(nodes[1])
	for _, st := range stores {
		if checkKillStore(t, other, st) {
			retryUnknown(t, other, st)
			checkKillStore(t, other, st)
		}
		b := &killBatch{key: st.id + "-after", state: batchPending, events: killEvents(st.id+"-after", st.head, 3, 10, rand.New(rand.NewPCG(seed, 2)))}
		st.add(b)
		if _, err := other.Push(context.Background(), connect.NewRequest(&syncv1.PushRequest{StoreId: st.id, Batch: b.events})); err != nil {
			t.Fatalf("store %s: push through node 2 after the kill, from head %d: %v", st.id, st.head, err)
		}
		st.set(b, batchAcked)
		checkKillStore(t, other, st)
	}
}
