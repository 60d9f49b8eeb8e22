package service_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
)

// BenchmarkPush measures synced pushes of 100-event batches, one store per goroutine.
func BenchmarkPush(b *testing.B) {
	for _, stores := range []int{1, 8} {
		b.Run(fmt.Sprintf("stores=%d", stores), func(b *testing.B) {
			svc := newService(b, "", service.Options{})
			var next sync.Mutex
			id := 0
			b.SetParallelism(stores)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				next.Lock()
				store := fmt.Sprintf("bench-%d", id)
				id++
				next.Unlock()
				head := uint64(0)
				for pb.Next() {
					if err := svc.Push(context.Background(), &syncv1.PushRequest{StoreId: store, Batch: events(head, 100)}); err != nil {
						b.Fatal(err)
					}
					head += 100
				}
			})
			b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkPull measures a non-live pull of 10,000 events.
func BenchmarkPull(b *testing.B) {
	svc := newService(b, "", service.Options{})
	const n = 10_000
	for from := uint64(0); from < n; from += 100 {
		push(b, svc, "pull", events(from, 100))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		got := 0
		err := svc.Pull(context.Background(), &syncv1.PullRequest{StoreId: "pull"}, func(p *syncv1.PullResponse) error {
			got += len(p.GetBatch())
			return nil
		})
		if err != nil || got != n {
			b.Fatalf("pulled %d events: %v", got, err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkLiveFanOut measures pushes of 10 events delivered to 50 live pulls of the store.
func BenchmarkLiveFanOut(b *testing.B) {
	const subscribers, perPush = 50, 10
	svc := newService(b, "", service.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errDone := errors.New("all delivered")
	var delivered, ready sync.WaitGroup
	ready.Add(subscribers)
	delivered.Add(subscribers)
	failures := make(chan error, subscribers)
	want := uint64(b.N * perPush)
	for range subscribers {
		go func() {
			defer delivered.Done()
			first := true
			err := svc.Pull(ctx, &syncv1.PullRequest{StoreId: "fanout", Live: true}, func(p *syncv1.PullResponse) error {
				if first {
					first = false
					ready.Done()
				}
				if n := len(p.GetBatch()); n > 0 && p.GetBatch()[n-1].GetEvent().GetSeqNum() == want {
					return errDone
				}
				return nil
			})
			if !errors.Is(err, errDone) {
				failures <- err
			}
		}()
	}
	ready.Wait()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		push(b, svc, "fanout", events(uint64(i*perPush), perPush))
	}
	delivered.Wait()
	close(failures)
	for err := range failures {
		b.Fatalf("a subscriber ended early: %v", err)
	}
	b.ReportMetric(float64(b.N*perPush*subscribers)/b.Elapsed().Seconds(), "deliveries/s")
}
