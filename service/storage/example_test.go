package storage_test

import (
	"context"
	"fmt"
	"os"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
)

// quotaEngine is an engine around another one that refuses to grow a store beyond maxEvents.
type quotaEngine struct {
	storage.Engine
	maxEvents uint64
}

func (q quotaEngine) Append(storeID string, prevHead uint64, events []storage.Record, info storage.StoreInfo) error {
	if info.EventCount > q.maxEvents {
		return fmt.Errorf("store %q would exceed its quota of %d events", storeID, q.maxEvents)
	}
	return q.Engine.Append(storeID, prevHead, events, info)
}

// The service runs over any storage.Engine: Pebble (pebblestore) by default, or your own. A new
// engine implements the interface and passes the conformance suite of the storagetest package
// (storagetest.Run in a test of its own). Here, an engine adds a quota around Pebble.
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	pebble, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		panic(err)
	}
	svc, err := service.New(quotaEngine{Engine: pebble, maxEvents: 3}, service.Options{})
	if err != nil {
		panic(err)
	}
	defer svc.Close()

	push := func(from uint64, n int) error {
		var batch []*syncv1.Event
		for seq := from + 1; seq <= from+uint64(n); seq++ {
			batch = append(batch, &syncv1.Event{Name: "todoCreated-v1", Args: `{}`, SeqNum: seq, ParentSeqNum: seq - 1,
				ClientId: "client", SessionId: "session"})
		}
		return svc.Push(context.Background(), &syncv1.PushRequest{StoreId: "todos", Batch: batch})
	}
	fmt.Println(push(0, 2))
	fmt.Println(push(2, 2))
	// Output:
	// <nil>
	// storage append: store "todos" would exceed its quota of 3 events
}
