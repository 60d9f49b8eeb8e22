package service

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"connectrpc.com/connect"
	"github.com/livestore-sync/livestore-sync/service/storage"
)

// TestConnectErrorCodes checks the codes of ConnectError, the context's errors among them: a
// caller that went away is Canceled, not Unknown (which servers log as an error).
func TestConnectErrorCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want connect.Code
	}{
		{context.Canceled, connect.CodeCanceled},
		{fmt.Errorf("send page: %w", context.Canceled), connect.CodeCanceled},
		{context.DeadlineExceeded, connect.CodeDeadlineExceeded},
		{ErrClosed, connect.CodeUnavailable},
		{ErrLivePullBehind, connect.CodeResourceExhausted},
		{&StorageError{Op: "append", Err: errors.New("disk full")}, connect.CodeInternal},
		{&StorageError{Op: "append", Err: fmt.Errorf("connect to database: %w", storage.ErrUnavailable)}, connect.CodeUnavailable},
		{&ServerAheadError{MinimumExpectedNum: 2, ProvidedNum: 1}, connect.CodeAborted},
		{connect.NewError(connect.CodeCanceled, errors.New("client gone")), connect.CodeCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			if got := connect.CodeOf(ConnectError(tt.err)); got != tt.want {
				t.Errorf("code %v, want %v", got, tt.want)
			}
		})
	}
}
