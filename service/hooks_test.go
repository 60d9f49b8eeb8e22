package service_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"github.com/livestore-sync/livestore-sync/service"
	"google.golang.org/protobuf/types/known/structpb"
)

// recordingHooks rejects pushes and pulls of the store "forbidden" and records what it saw.
type recordingHooks struct {
	mu      sync.Mutex
	seen    []service.HookContext
	results []error
}

func (h *recordingHooks) hooks(code connect.Code) service.Hooks {
	check := func(hc service.HookContext) error {
		h.mu.Lock()
		h.seen = append(h.seen, hc)
		h.mu.Unlock()
		if hc.StoreID == "forbidden" {
			if code != 0 {
				return connect.NewError(code, errors.New("not yours"))
			}
			return errors.New("not yours")
		}
		return nil
	}
	return service.Hooks{
		OnPush: func(_ context.Context, _ *syncv1.PushRequest, hc service.HookContext) error { return check(hc) },
		OnPull: func(_ context.Context, _ *syncv1.PullRequest, hc service.HookContext) error { return check(hc) },
		OnPushResult: func(_ context.Context, _ *syncv1.PushRequest, _ service.HookContext, err error) {
			h.mu.Lock()
			h.results = append(h.results, err)
			h.mu.Unlock()
		},
	}
}

func TestHooksReject(t *testing.T) {
	t.Parallel()
	rec := &recordingHooks{}
	svc := newService(t, "", service.Options{Hooks: rec.hooks(0), ForwardHeaders: []string{"x-user", "COOKIE"}})
	ctx := service.WithRequestInfo(context.Background(), service.RequestInfo{Transport: "ws", Headers: http.Header{
		"X-User": {"alice"}, "Cookie": {"session=1"}, "Authorization": {"Bearer secret"},
	}})
	payload, _ := structpb.NewValue(map[string]any{"authToken": "t"})

	err := svc.Push(ctx, &syncv1.PushRequest{StoreId: "forbidden", Payload: payload, Batch: events(0, 2)})
	var rejected *service.RejectedError
	if !errors.As(err, &rejected) || rejected.Op != "push" || rejected.Err.Error() != "not yours" {
		t.Fatalf("push: %v, want a RejectedError", err)
	}
	push(t, svc, "allowed", events(0, 2)) // other stores are unaffected
	err = svc.Pull(ctx, &syncv1.PullRequest{StoreId: "forbidden"}, func(*syncv1.PullResponse) error {
		t.Fatal("a rejected pull sent a page")
		return nil
	})
	if !errors.As(err, &rejected) || rejected.Op != "pull" {
		t.Fatalf("pull: %v, want a RejectedError", err)
	}
	// Nothing of the rejected push was stored (read without the hook's context: no headers).
	stores, err := svc.ListStores(context.Background(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stores {
		if st.ID == "forbidden" && st.Info.EventCount != 0 {
			t.Fatalf("rejected push stored %d events", st.Info.EventCount)
		}
	}

	first := rec.seen[0]
	if first.StoreID != "forbidden" || first.Transport != "ws" || first.Payload.GetStructValue().GetFields()["authToken"].GetStringValue() != "t" {
		t.Fatalf("hook context %+v", first)
	}
	want := http.Header{"X-User": {"alice"}, "Cookie": {"session=1"}}
	if len(first.Headers) != 2 || first.Headers.Get("X-User") != "alice" || first.Headers.Get("Cookie") != "session=1" {
		t.Fatalf("forwarded headers %v, want %v (and never Authorization)", first.Headers, want)
	}
	if len(rec.results) != 1 || rec.results[0] != nil {
		t.Fatalf("OnPushResult saw %v, want one successful push (rejected pushes are not observed)", rec.results)
	}
}

func TestHooksOverConnect(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		hookCode connect.Code
		wantCode connect.Code
	}{
		{"plain error", 0, connect.CodePermissionDenied},
		{"connect error keeps its code", connect.CodeUnauthenticated, connect.CodeUnauthenticated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingHooks{}
			svc := newService(t, "", service.Options{Hooks: rec.hooks(tt.hookCode), ForwardHeaders: []string{"X-User"}})
			mux := http.NewServeMux()
			mux.Handle(syncv1connect.NewSyncServiceHandler(service.NewHandler(svc)))
			srv := httptest.NewServer(mux)
			defer srv.Close()
			client := syncv1connect.NewSyncServiceClient(srv.Client(), srv.URL)
			req := connect.NewRequest(&syncv1.PushRequest{StoreId: "forbidden", Batch: events(0, 1)})
			req.Header().Set("X-User", "bob")
			_, err := client.Push(context.Background(), req)
			if connect.CodeOf(err) != tt.wantCode {
				t.Fatalf("err = %v, want code %v", err, tt.wantCode)
			}
			if hc := rec.seen[0]; hc.Transport != "connect" || hc.Headers.Get("X-User") != "bob" {
				t.Fatalf("hook context %+v", hc)
			}
		})
	}
}

// The payload validator runs for each Connect call with the call's payload and headers; a refusal
// is Unauthenticated and nothing reaches the store.
func TestValidatePayloadOverConnect(t *testing.T) {
	t.Parallel()
	var seen service.PayloadContext
	svc := newService(t, "", service.Options{ValidatePayload: func(_ context.Context, p *structpb.Value, pc service.PayloadContext) error {
		seen = pc
		if p.GetStructValue().GetFields()["authToken"].GetStringValue() != "good" {
			return errors.New("bad token")
		}
		return nil
	}})
	mux := http.NewServeMux()
	mux.Handle(syncv1connect.NewSyncServiceHandler(service.NewHandler(svc)))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := syncv1connect.NewSyncServiceClient(srv.Client(), srv.URL, connect.WithGRPC())
	token := func(s string) *structpb.Value {
		v, _ := structpb.NewValue(map[string]any{"authToken": s})
		return v
	}
	req := connect.NewRequest(&syncv1.PushRequest{StoreId: "v", Payload: token("bad"), Batch: events(0, 1)})
	req.Header().Set("X-Trace", "1")
	_, err := client.Push(context.Background(), req)
	if connect.CodeOf(err) != connect.CodeUnauthenticated || !strings.Contains(err.Error(), "bad token") {
		t.Fatalf("refused push: %v", err)
	}
	if seen.StoreID != "v" || seen.Transport != "grpc" || seen.Headers.Get("X-Trace") != "1" {
		t.Fatalf("validator saw %+v", seen)
	}
	if _, err := client.Push(context.Background(), connect.NewRequest(&syncv1.PushRequest{StoreId: "v", Payload: token("good"), Batch: events(0, 1)})); err != nil {
		t.Fatalf("accepted push: %v", err)
	}
	pages := pullAll(t, svc, &syncv1.PullRequest{StoreId: "v"})
	if n := len(pulledEvents(pages)); n != 1 {
		t.Fatalf("store has %d events, want only the accepted push's 1", n)
	}
}

// TestForwardHeadersFunc checks that headers computed from the request reach the hooks, next to
// the named ones, and that other headers do not.
func TestForwardHeadersFunc(t *testing.T) {
	t.Parallel()
	rec := &recordingHooks{}
	svc := newService(t, "", service.Options{
		Hooks:          rec.hooks(0),
		ForwardHeaders: []string{"X-Request-Id"},
		ForwardHeadersFunc: func(info service.RequestInfo) http.Header {
			// A user id from the session cookie, and the transport, as the original's
			// forwardHeaders: (request) => ({ 'x-user-id': … }) would.
			c, err := (&http.Request{Header: info.Headers}).Cookie("session")
			if err != nil {
				return nil
			}
			return http.Header{"x-user-id": {strings.TrimPrefix(c.Value, "user-")}, "X-Via": {info.Transport}}
		},
	})
	tests := []struct {
		name    string
		headers http.Header
		want    http.Header
	}{
		{"cookie", http.Header{"Cookie": {"theme=dark; session=user-42"}, "X-Request-Id": {"r1"}, "Authorization": {"Bearer x"}},
			http.Header{"X-User-Id": {"42"}, "X-Via": {"http"}, "X-Request-Id": {"r1"}}},
		{"no cookie", http.Header{"X-Request-Id": {"r2"}}, http.Header{"X-Request-Id": {"r2"}}},
		{"nothing", http.Header{"Authorization": {"Bearer x"}}, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := service.WithRequestInfo(context.Background(), service.RequestInfo{Transport: "http", Headers: tt.headers})
			if err := svc.Push(ctx, &syncv1.PushRequest{StoreId: "s", Batch: events(uint64(i), 1)}); err != nil {
				t.Fatal(err)
			}
			got := rec.seen[len(rec.seen)-1].Headers
			if len(got) != len(tt.want) {
				t.Fatalf("headers %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if strings.Join(got[k], ",") != strings.Join(v, ",") {
					t.Fatalf("headers %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestUsesRequestHeaders(t *testing.T) {
	t.Parallel()
	noop := func(context.Context, *syncv1.PushRequest, service.HookContext) error { return nil }
	tests := []struct {
		name  string
		hooks service.Hooks
		want  bool
	}{
		{"no hooks", service.Hooks{}, false},
		{"OnPush", service.Hooks{OnPush: noop}, true},
		{"OnPullResult", service.Hooks{OnPullResult: func(context.Context, *syncv1.PullRequest, service.HookContext, error) {}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := newService(t, "", service.Options{Hooks: tt.hooks})
			if got := svc.UsesRequestHeaders(); got != tt.want {
				t.Fatalf("UsesRequestHeaders() = %v, want %v", got, tt.want)
			}
		})
	}
}
