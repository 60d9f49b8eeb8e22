package service_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"connectrpc.com/connect"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
)

// TestLoggingInterceptorLevels: a call the client cancelled or let run out of time is logged at
// Debug, whatever its error became on the way; storage failures and other internal errors at
// Error; the rest at Info.
func TestLoggingInterceptorLevels(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	storage := &service.StorageError{Op: "append", Err: errors.New("disk full")}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want string // level=…, or "" for no line
	}{
		{"ok", context.Background(), nil, ""},
		{"cancelled", context.Background(), service.ConnectError(context.Canceled), "level=DEBUG"},
		{"deadline", context.Background(), service.ConnectError(context.DeadlineExceeded), "level=DEBUG"},
		{"unknown after the client left", cancelled, errors.New("write: broken pipe"), "level=DEBUG"},
		{"storage", context.Background(), service.ConnectError(storage), "level=ERROR"},
		{"storage after the client left", cancelled, service.ConnectError(storage), "level=ERROR"},
		{"internal", context.Background(), errors.New("bug"), "level=ERROR"},
		{"shutting down", context.Background(), service.ConnectError(service.ErrClosed), "level=INFO"},
		{"invalid", context.Background(), service.ConnectError(&service.InvalidRequestError{Reason: "no"}), "level=INFO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			call := service.NewLoggingInterceptor(nil, log).WrapUnary(func(context.Context, connect.AnyRequest) (connect.AnyResponse, error) {
				return nil, tt.err
			})
			_, _ = call(tt.ctx, connect.NewRequest(&syncv1.PushRequest{StoreId: "s"}))
			got := buf.String()
			if tt.want == "" {
				if got != "" {
					t.Fatalf("logged %q", got)
				}
				return
			}
			if strings.Count(got, "\n") != 1 || !strings.Contains(got, tt.want) || !strings.Contains(got, "store_id=s") {
				t.Fatalf("logged %q, want one line at %s", got, tt.want)
			}
		})
	}
}
