package pgstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
)

// BenchmarkCrossNodeDelivery runs three Services on one schema, as three nodes: node 1 pushes
// one event at a time, 100 pushes a second, to a store that 50 live pulls follow, spread over the
// three nodes. It reports the pushes' latency (until committed and acknowledged) and the
// delivery latency from the push's start to each live pull on the other nodes, p50 and p99.
// b.N is the number of pushes: run it with e.g. -benchtime 500x (5 s).
//
//	LIVESTORE_SYNC_TEST_POSTGRES=… go test -run '^$' -bench CrossNodeDelivery -benchtime 500x ./service/storage/pgstore/
func BenchmarkCrossNodeDelivery(b *testing.B) {
	const (
		nodeCount  = 3
		livePulls  = 50
		pushPeriod = 10 * time.Millisecond // 100 pushes a second
		store      = "delivery"
	)
	schema := newSchema(b)
	svcs := make([]*service.Service, nodeCount)
	for i := range svcs {
		e, err := Open(context.Background(), testURL(b), Options{Schema: schema, MaxConns: 8})
		if err != nil {
			b.Fatal(err)
		}
		svc, err := service.New(e, service.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { svc.Close() })
		svcs[i] = svc
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := svcs[0].Push(ctx, &syncv1.PushRequest{StoreId: store, Batch: []*syncv1.Event{benchPushEvent(1)}}); err != nil {
		b.Fatal(err)
	}

	n := b.N
	var mu sync.Mutex
	started := make([]time.Time, n+2) // by seq_num
	var crossNode []time.Duration
	var pulls sync.WaitGroup
	ready := make(chan struct{}, livePulls)
	for i := range livePulls {
		node := i % nodeCount
		pulls.Add(1)
		go func() {
			defer pulls.Done()
			first := true
			got := 0
			pctx, stop := context.WithCancel(ctx)
			defer stop()
			_ = svcs[node].Pull(pctx, &syncv1.PullRequest{StoreId: store, Live: true, Cursor: &syncv1.Cursor{EventSequenceNumber: 1}},
				func(p *syncv1.PullResponse) error {
					if first {
						first = false
						ready <- struct{}{}
					}
					now := time.Now()
					for _, e := range p.GetBatch() {
						seq := e.GetEvent().GetSeqNum()
						mu.Lock()
						if node != 0 && int(seq) < len(started) && !started[seq].IsZero() {
							crossNode = append(crossNode, now.Sub(started[seq]))
						}
						mu.Unlock()
						if got++; got == n {
							stop() // all of this run's pushes seen
						}
					}
					return nil
				})
		}()
	}
	for range livePulls {
		<-ready // every pull is live: past its backlog
	}

	pushLatency := make([]time.Duration, 0, n)
	tick := time.NewTicker(pushPeriod)
	defer tick.Stop()
	b.ResetTimer()
	for i := range n {
		<-tick.C
		seq := uint64(i + 2)
		start := time.Now()
		mu.Lock()
		started[seq] = start
		mu.Unlock()
		if err := svcs[0].Push(ctx, &syncv1.PushRequest{StoreId: store, Batch: []*syncv1.Event{benchPushEvent(seq)}}); err != nil {
			b.Fatal(err)
		}
		pushLatency = append(pushLatency, time.Since(start))
	}
	pulls.Wait()
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	if want := n * (livePulls - livePulls/nodeCount - 1); len(crossNode) < want {
		b.Fatalf("%d cross-node deliveries, want %d", len(crossNode), want)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(pushLatency, 50)), "push-p50-ms")
	b.ReportMetric(ms(percentile(pushLatency, 99)), "push-p99-ms")
	b.ReportMetric(ms(percentile(crossNode, 50)), "delivery-p50-ms")
	b.ReportMetric(ms(percentile(crossNode, 99)), "delivery-p99-ms")
	b.ReportMetric(0, "ns/op")
}

// benchPushEvent is the event of seq_num seq in BenchmarkCrossNodeDelivery's store.
func benchPushEvent(seq uint64) *syncv1.Event {
	return &syncv1.Event{Name: "v1.TodoCreated", Args: fmt.Sprintf(`{"id":"todo-%d","text":"Buy milk"}`, seq),
		SeqNum: seq, ParentSeqNum: seq - 1, ClientId: "client", SessionId: "session"}
}

// percentile returns the p-th percentile of ds (which it sorts).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, len(ds)*p/100)]
}
