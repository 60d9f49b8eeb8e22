package service_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"connectrpc.com/connect"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
)

// A backend service syncs through the generated Connect client (Connect, gRPC or gRPC-Web):
// it follows a store with a live pull and pushes to it; what it pushes reaches every LiveStore
// client of the store, and the other way round.
func ExampleNewHandler() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	engine, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		panic(err)
	}
	svc, err := service.New(engine, service.Options{})
	if err != nil {
		panic(err)
	}
	defer svc.Close()
	mux := http.NewServeMux()
	mux.Handle(syncv1connect.NewSyncServiceHandler(service.NewHandler(svc)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// The client side, as in any Go service (connect.WithGRPC() for gRPC).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := syncv1connect.NewSyncServiceClient(http.DefaultClient, srv.URL)
	live, err := client.Pull(ctx, connect.NewRequest(&syncv1.PullRequest{StoreId: "todos", Live: true}))
	if err != nil {
		panic(err)
	}
	live.Receive() // the backlog's last page (here, the store is empty)

	push := func(seq uint64, args string) error {
		_, err := client.Push(ctx, connect.NewRequest(&syncv1.PushRequest{StoreId: "todos", Batch: []*syncv1.Event{{
			Name: "todoCreated-v1", Args: args, SeqNum: seq, ParentSeqNum: seq - 1, ClientId: "backend", SessionId: "job-1",
		}}}))
		return err
	}
	if err := push(1, `{"id":"t1","text":"Buy milk"}`); err != nil {
		panic(err)
	}
	if live.Receive() {
		for _, e := range live.Msg().GetBatch() {
			fmt.Println("live:", e.GetEvent().GetSeqNum(), e.GetEvent().GetArgs())
		}
	}
	// Pushing on a stale head fails with the typed error LiveStore clients get too.
	err = push(1, `{"id":"t2","text":"Walk the dog"}`)
	var cerr *connect.Error
	if errors.As(err, &cerr) {
		for _, d := range cerr.Details() {
			if v, err := d.Value(); err == nil {
				if ahead, ok := v.(*syncv1.ServerAheadError); ok {
					fmt.Println(cerr.Code(), "minimum expected:", ahead.GetMinimumExpectedNum())
				}
			}
		}
	}
	// Output:
	// live: 1 {"id":"t1","text":"Buy milk"}
	// aborted minimum expected: 1
}
