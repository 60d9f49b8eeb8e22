package service_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
	"github.com/livestore-sync/livestore-sync/service/storage"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
	"google.golang.org/protobuf/proto"
)

// TestStoreOfOlderVersionKeepsWorking: a store whose first events an older version wrote (their
// fields, without their encoding: written here straight into the engine) takes later pushes,
// which keep their encoding, and pulls all of them alike: the same events over protobuf, and
// JSON pages byte for byte the encoding of those responses. A retried push is recognized as
// stored against both kinds of record.
func TestStoreOfOlderVersionKeepsWorking(t *testing.T) {
	t.Parallel()
	const storeID = "older"
	dir := t.TempDir()
	engine, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	created := time.UnixMilli(1_700_000_000_123)
	info := storage.StoreInfo{BackendID: "old-backend", CreatedAt: created}
	if err := engine.CreateStore(storeID, info); err != nil {
		t.Fatal(err)
	}
	old := events(0, 3)
	recs := make([]storage.Record, len(old))
	for i, e := range old {
		recs[i] = storage.Record{Name: e.GetName(), Args: e.GetArgs(), SeqNum: e.GetSeqNum(), ParentSeqNum: e.GetParentSeqNum(),
			ClientID: e.GetClientId(), SessionID: e.GetSessionId(), CreatedAt: created.UnixMilli()}
		info.Head, info.EventCount, info.EventBytes = e.GetSeqNum(), info.EventCount+1, info.EventBytes+uint64(recs[i].Size())
	}
	if err := engine.Append(storeID, 0, recs, info); err != nil {
		t.Fatal(err)
	}
	if err := engine.Close(); err != nil {
		t.Fatal(err)
	}

	svc := newService(t, dir, service.Options{Limits: service.Limits{PageEvents: 2}})
	newer := events(3, 3)
	push(t, svc, storeID, newer)
	push(t, svc, storeID, events(0, 6)) // a retry of all of them: stored already, accepted

	want := append(old, newer...)
	pages := pullAll(t, svc, &syncv1.PullRequest{StoreId: storeID})
	got := pulledEvents(pages)
	if len(got) != len(want) {
		t.Fatalf("pulled %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("event %d = %v, want %v", i, got[i], want[i])
		}
	}
	var jsonPages [][]byte
	err = svc.PullPages(context.Background(), &syncv1.PullRequest{StoreId: storeID}, func(p *service.Page) error {
		jsonPages = append(jsonPages, bytes.Clone(p.JSON()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(jsonPages) != len(pages) {
		t.Fatalf("%d JSON pages, %d responses", len(jsonPages), len(pages))
	}
	for i := range pages {
		if want := eventjson.AppendPullResponse(nil, pages[i]); !bytes.Equal(jsonPages[i], want) {
			t.Errorf("JSON page %d\n got %s\nwant %s", i, jsonPages[i], want)
		}
	}
}
