package service_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"google.golang.org/protobuf/proto"
)

func TestResetStore(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	ctx := context.Background()
	push(t, svc, "reset", events(0, 5))
	before, err := svc.GetStore(ctx, "reset")
	if err != nil || before.Head != 5 || before.EventCount != 5 {
		t.Fatalf("GetStore before reset: %+v %v", before, err)
	}
	live := startLive(svc, &syncv1.PullRequest{StoreId: "reset"})
	live.waitFor(t, 5)

	after, err := svc.ResetStore(ctx, "reset")
	if err != nil {
		t.Fatal(err)
	}
	if after.BackendID == before.BackendID || after.Head != 0 || after.EventCount != 0 {
		t.Fatalf("after reset: %+v", after)
	}
	// The live pull ends with the mismatch, naming the new backend id.
	var mismatch *service.BackendIDMismatchError
	if err := <-live.done; !errors.As(err, &mismatch) || mismatch.Expected != after.BackendID || mismatch.Received != before.BackendID {
		t.Fatalf("live pull ended with %v", err)
	}
	// A client still on the old backend id is told so, on pull and on push.
	err = svc.Pull(ctx, &syncv1.PullRequest{StoreId: "reset", Cursor: &syncv1.Cursor{BackendId: before.BackendID, EventSequenceNumber: 5}},
		func(*syncv1.PullResponse) error { return nil })
	if !errors.As(err, &mismatch) {
		t.Fatalf("pull with the old backend id: %v", err)
	}
	err = svc.Push(ctx, &syncv1.PushRequest{StoreId: "reset", Batch: events(5, 1), BackendId: proto.String(before.BackendID)})
	if !errors.As(err, &mismatch) {
		t.Fatalf("push with the old backend id: %v", err)
	}
	// A fresh sync starts from an empty log.
	if got := pulledEvents(pullAll(t, svc, &syncv1.PullRequest{StoreId: "reset"})); len(got) != 0 {
		t.Fatalf("reset store still has %d events", len(got))
	}
	push(t, svc, "reset", events(0, 1))

	if _, err := svc.ResetStore(ctx, "never-created"); !errors.Is(err, service.ErrStoreNotFound) {
		t.Fatalf("reset of a missing store: %v", err)
	}
}

func TestDeleteStore(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	ctx := context.Background()
	push(t, svc, "doomed", events(0, 3))
	push(t, svc, "doomed-not", events(0, 2))
	old, _ := svc.GetStore(ctx, "doomed")
	live := startLive(svc, &syncv1.PullRequest{StoreId: "doomed"})
	live.waitFor(t, 3)

	if err := svc.DeleteStore(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	if err := <-live.done; !errors.Is(err, service.ErrStoreDeleted) {
		t.Fatalf("live pull ended with %v, want ErrStoreDeleted", err)
	}
	if _, err := svc.GetStore(ctx, "doomed"); !errors.Is(err, service.ErrStoreNotFound) {
		t.Fatalf("GetStore after delete: %v", err)
	}
	if err := svc.DeleteStore(ctx, "doomed"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	// Its neighbour is untouched; the deleted id starts anew with a new backend id.
	if got := pulledEvents(pullAll(t, svc, &syncv1.PullRequest{StoreId: "doomed-not"})); len(got) != 2 {
		t.Fatalf("neighbour has %d events, want 2", len(got))
	}
	pages := pullAll(t, svc, &syncv1.PullRequest{StoreId: "doomed"})
	if len(pulledEvents(pages)) != 0 || pages[0].GetBackendId() == old.BackendID {
		t.Fatalf("recreated store: %v", pages)
	}
}

func TestListStoresPaging(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	ctx := context.Background()
	want := map[string]uint64{}
	for i := range 25 {
		id := fmt.Sprintf("list-%d", i)
		push(t, svc, id, events(0, i+1))
		want[id] = uint64(i + 1)
	}
	seen := map[string]bool{}
	after := ""
	for pages := 0; ; pages++ {
		stores, err := svc.ListStores(ctx, after, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(stores) == 0 {
			break
		}
		for _, st := range stores {
			if seen[st.ID] {
				t.Fatalf("store %q listed twice", st.ID)
			}
			seen[st.ID] = true
			if st.Info.Head != want[st.ID] || st.Info.EventCount != want[st.ID] {
				t.Errorf("store %q: %+v, want head %d", st.ID, st.Info, want[st.ID])
			}
		}
		after = stores[len(stores)-1].ID
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("listed %d stores, want %d", len(seen), len(want))
	}
}

// A backup taken while pushes land holds every push acknowledged before it, and no torn batch.
func TestBackupUnderConcurrentPushes(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	ctx := context.Background()
	const stores, batch = 4, 10
	var (
		mu    sync.Mutex
		acked = map[string]uint64{} // store → head acknowledged before the backup started
	)
	stop := make(chan struct{})
	firstAck := make(chan struct{}, stores) // one value per store, at its first acknowledged push
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("backup-%d", i)
			for head := uint64(0); ; head += batch {
				select {
				case <-stop:
					return
				default:
				}
				push(t, svc, id, events(head, batch))
				mu.Lock()
				acked[id] = head + batch
				mu.Unlock()
				if head == 0 {
					firstAck <- struct{}{}
				}
			}
		}()
	}
	bound := time.NewTimer(20 * time.Second) // against hanging when a pusher failed
	defer bound.Stop()
	for n := range stores { // until every store has an acknowledged push
		select {
		case <-firstAck:
		case <-bound.C:
			close(stop)
			wg.Wait()
			t.Fatalf("%d of %d stores have an acknowledged push", n, stores)
		}
	}
	mu.Lock()
	before := map[string]uint64{}
	for k, v := range acked {
		before[k] = v
	}
	mu.Unlock()
	dir := filepath.Join(t.TempDir(), "backup")
	abs, size, err := svc.Backup(ctx, dir)
	close(stop)
	wg.Wait()
	if err != nil || abs != dir || size == 0 {
		t.Fatalf("backup: %q %d %v", abs, size, err)
	}
	if _, _, err := svc.Backup(ctx, dir); err == nil {
		t.Fatal("a backup into an existing directory succeeded")
	}

	restored := newService(t, dir, service.Options{})
	for id, min := range before {
		got := pulledEvents(pullAll(t, restored, &syncv1.PullRequest{StoreId: id}))
		if uint64(len(got)) < min || len(got)%batch != 0 {
			t.Fatalf("store %s in backup has %d events; %d were acknowledged before it, batches of %d", id, len(got), min, batch)
		}
		for i, e := range got {
			if e.GetSeqNum() != uint64(i+1) {
				t.Fatalf("store %s in backup: event %d has seq %d", id, i, e.GetSeqNum())
			}
		}
	}
}
