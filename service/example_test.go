package service_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
	"google.golang.org/protobuf/types/known/structpb"
)

// Hooks check every push and pull on every transport. Here only the user named in a forwarded
// header may push to a store of the same name; every transport's client sees the rejection.
func ExampleHooks() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	engine, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		panic(err)
	}
	svc, err := service.New(engine, service.Options{
		ForwardHeaders: []string{"X-User"},
		Hooks: service.Hooks{
			OnPush: func(ctx context.Context, req *syncv1.PushRequest, hc service.HookContext) error {
				if user := hc.Headers.Get("X-User"); user != hc.StoreID {
					return fmt.Errorf("user %q may not push to store %q", user, hc.StoreID)
				}
				return nil
			},
		},
	})
	if err != nil {
		panic(err)
	}
	defer svc.Close()

	// Transports attach what they know of the request; a test or an embedding does it by hand.
	ctx := service.WithRequestInfo(context.Background(), service.RequestInfo{
		Transport: "connect", Headers: map[string][]string{"X-User": {"alice"}},
	})
	event := &syncv1.Event{Name: "todoCreated-v1", Args: `{"id":"t1"}`, SeqNum: 1, ClientId: "c", SessionId: "s"}
	fmt.Println(svc.Push(ctx, &syncv1.PushRequest{StoreId: "alice", Batch: []*syncv1.Event{event}}))
	err = svc.Push(ctx, &syncv1.PushRequest{StoreId: "bob", Batch: []*syncv1.Event{event}})
	var rejected *service.RejectedError
	fmt.Println(errors.As(err, &rejected), err)
	// Output:
	// <nil>
	// true push rejected: user "alice" may not push to store "bob"
}

// TypedPayload decodes the client payload into a Go type before checking it, and refuses
// payloads that do not decode.
func ExampleTypedPayload() {
	type syncPayload struct {
		AuthToken string `json:"authToken"`
	}
	validate := service.TypedPayload(func(_ context.Context, p syncPayload, pc service.PayloadContext) error {
		if p.AuthToken != "insecure-token-change-me" {
			return errors.New("invalid auth token")
		}
		return nil
	})
	for _, payload := range []map[string]any{
		{"authToken": "insecure-token-change-me"},
		{"authToken": "wrong"},
		{"authToken": 42},
		{"authTokn": "insecure-token-change-me"},
	} {
		v, _ := structpb.NewValue(payload)
		fmt.Println(validate(context.Background(), v, service.PayloadContext{StoreID: "s"}))
	}
	// Output:
	// <nil>
	// invalid auth token
	// payload does not match service_test.syncPayload: json: cannot unmarshal number into Go struct field syncPayload.authToken of type string
	// payload does not match service_test.syncPayload: json: unknown field "authTokn"
}
