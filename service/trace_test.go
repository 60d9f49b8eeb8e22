package service_test

import (
	"context"
	"testing"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestSpanAttributes checks that the service describes each operation on the span of the RPC
// that calls it, whichever transport started that span.
func TestSpanAttributes(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	rec := tracetest.NewSpanRecorder()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test")
	push(t, svc, "store-a", events(0, 2))

	tests := []struct {
		name string
		call func(context.Context) error
		want map[attribute.Key]string
	}{
		{
			name: "push",
			call: func(ctx context.Context) error {
				return svc.Push(ctx, &syncv1.PushRequest{StoreId: "store-a", Batch: events(2, 3)})
			},
			want: map[attribute.Key]string{
				"livestore.store_id": "store-a", "livestore.push.batch_size": "3",
				"livestore.push.first_seq_num": "3", "livestore.push.last_seq_num": "5",
				"livestore.outcome": service.OutcomeOK,
			},
		},
		{
			name: "push server ahead",
			call: func(ctx context.Context) error {
				conflicting := events(0, 1)
				conflicting[0].ClientId = "client-b" // not a retry of the stored event 1
				if err := svc.Push(ctx, &syncv1.PushRequest{StoreId: "store-a", Batch: conflicting}); err == nil {
					t.Error("conflicting push accepted")
				}
				return nil
			},
			want: map[attribute.Key]string{"livestore.store_id": "store-a", "livestore.outcome": service.OutcomeServerAhead},
		},
		{
			name: "pull",
			call: func(ctx context.Context) error {
				return svc.Pull(ctx, &syncv1.PullRequest{StoreId: "store-a", Cursor: &syncv1.Cursor{EventSequenceNumber: 1}},
					func(*syncv1.PullResponse) error { return nil })
			},
			want: map[attribute.Key]string{"livestore.store_id": "store-a", "livestore.pull.cursor": "1", "livestore.pull.live": "false"},
		},
		{
			name: "ping",
			call: func(ctx context.Context) error { return svc.Ping(ctx, &syncv1.PingRequest{StoreId: "store-b"}) },
			want: map[attribute.Key]string{"livestore.store_id": "store-b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, span := tracer.Start(context.Background(), tt.name)
			if err := tt.call(ctx); err != nil {
				t.Fatal(err)
			}
			span.End()
			ended := rec.Ended()
			got := map[attribute.Key]string{}
			for _, kv := range ended[len(ended)-1].Attributes() {
				got[kv.Key] = kv.Value.String()
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}
