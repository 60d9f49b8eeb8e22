package service

import (
	"context"
	"fmt"
	"net/http"
	"net/textproto"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// HookContext is what the hooks learn about a request: the counterpart of the original server's
// `{ storeId, payload, headers }`.
type HookContext struct {
	// StoreID is the store the request is for.
	StoreID string
	// Payload is the client's payload, nil when it sent none.
	Payload *structpb.Value
	// Headers are the request's headers named in Options.ForwardHeaders and those
	// Options.ForwardHeadersFunc computed; nil when there are none.
	Headers http.Header
	// Transport names the transport the request came by (see RequestInfo).
	Transport string
}

// Hooks let an embedding application check and observe every push and pull, on every transport.
// A nil field does nothing.
type Hooks struct {
	// OnPush is called for every push with events, before it touches the store. An error
	// rejects the push: nothing is stored, and the client gets a *RejectedError carrying the
	// error's message (LiveStore clients an UnknownError; Connect clients PermissionDenied, or the
	// code of a *connect.Error the hook returns).
	OnPush func(ctx context.Context, req *syncv1.PushRequest, hc HookContext) error
	// OnPull is called for every pull before anything is sent; an error rejects it like OnPush's.
	OnPull func(ctx context.Context, req *syncv1.PullRequest, hc HookContext) error
	// OnPushResult observes the outcome of every push that OnPush let through (err nil: stored).
	OnPushResult func(ctx context.Context, req *syncv1.PushRequest, hc HookContext, err error)
	// OnPullResult observes how every pull that OnPull let through ended (for live pulls: when
	// the stream ends).
	OnPullResult func(ctx context.Context, req *syncv1.PullRequest, hc HookContext, err error)
}

// RejectedError is a request refused by a hook.
type RejectedError struct {
	// Op is "push" or "pull".
	Op string
	// Err is the hook's error.
	Err error
}

func (e *RejectedError) Error() string { return fmt.Sprintf("%s rejected: %v", e.Op, e.Err) }

// Unwrap returns the hook's error.
func (e *RejectedError) Unwrap() error { return e.Err }

// UsesRequestHeaders reports whether the service looks at the headers of a request's connection
// (RequestInfo.Headers) after the connection was admitted: only its hooks do, so a transport
// need not keep a copy of a long-lived connection's headers when there are none.
func (s *Service) UsesRequestHeaders() bool {
	h := s.hooks
	return h.OnPush != nil || h.OnPushResult != nil || h.OnPull != nil || h.OnPullResult != nil
}

// hookContext builds the HookContext of a request from the RequestInfo in ctx, keeping only the
// forwarded headers.
func (s *Service) hookContext(ctx context.Context, storeID string, payload *structpb.Value) HookContext {
	hc := HookContext{StoreID: storeID, Payload: payload}
	info, ok := RequestInfoFrom(ctx)
	if !ok {
		return hc
	}
	hc.Transport = info.Transport
	for _, name := range s.forwardHeaders {
		if v := info.Headers.Values(name); len(v) > 0 {
			if hc.Headers == nil {
				hc.Headers = make(http.Header)
			}
			hc.Headers[name] = append([]string(nil), v...)
		}
	}
	if s.forwardHeadersFunc != nil {
		for name, v := range s.forwardHeadersFunc(info) {
			if hc.Headers == nil {
				hc.Headers = make(http.Header)
			}
			hc.Headers[textproto.CanonicalMIMEHeaderKey(name)] = v
		}
	}
	return hc
}

// canonicalHeaders returns the canonical forms of header names, as http.Header keys them.
func canonicalHeaders(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n != "" {
			out = append(out, textproto.CanonicalMIMEHeaderKey(n))
		}
	}
	return out
}
