package bridge

import (
	"context"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"google.golang.org/protobuf/types/known/structpb"
)

var _ SyncService = (*service.Service)(nil)

// SyncService is what the bridge needs from the sync service; *service.Service implements it.
//
// Errors are the service package's typed errors (*service.ServerAheadError,
// *service.BackendIDMismatchError, service.ErrLivePullBehind, service.ErrClosed, …); the bridge
// maps each to its wire form in one place (errors.go).
type SyncService interface {
	// Push appends req.Batch to the store's log and returns once it is durable.
	Push(ctx context.Context, req *syncv1.PushRequest) error
	// Pull calls send once per page, in order, from the calling goroutine. send may block; if it
	// returns an error, Pull returns that error. A pull that is not live returns nil after the
	// page whose PageInfo is NoMore. A live pull then keeps calling send for every later push
	// (pages with NoMore) and returns only when ctx is cancelled, or with
	// service.ErrLivePullBehind or service.ErrClosed.
	Pull(ctx context.Context, req *syncv1.PullRequest, send func(*syncv1.PullResponse) error) error
	// Ping answers at once: nil, unless the service is shutting down (service.ErrClosed) or the
	// request is invalid. The HTTP transport's SyncHttpRpc.Ping calls it.
	Ping(ctx context.Context, req *syncv1.PingRequest) error
	// ValidatePayload checks a connection's client payload (from its URL) and headers before
	// anything else happens; an error (a *service.PayloadRejectedError) refuses the connection.
	ValidatePayload(ctx context.Context, storeID string, payload *structpb.Value, info service.RequestInfo) error
}

// pagePuller is implemented by a SyncService whose pulls hand out their pages as *service.Page,
// encoded once however many sockets a page is sent to: *service.Service does.
type pagePuller interface {
	PullPages(ctx context.Context, req *syncv1.PullRequest, send func(*service.Page) error) error
}

var _ pagePuller = (*service.Service)(nil)

// headerKeeper is implemented by a SyncService that can say whether its requests need the
// headers of the connection they came on (for its hooks): *service.Service does. A SyncService
// that does not implement it gets them.
type headerKeeper interface {
	UsesRequestHeaders() bool
}

var _ headerKeeper = (*service.Service)(nil)

// usesHeaders reports whether svc's requests need their connection's headers.
func usesHeaders(svc SyncService) bool {
	hk, ok := svc.(headerKeeper)
	return !ok || hk.UsesRequestHeaders()
}

// pullPages runs a pull of svc, handing each page to send as a *service.Page.
func pullPages(ctx context.Context, svc SyncService, req *syncv1.PullRequest, send func(*service.Page) error) error {
	if pp, ok := svc.(pagePuller); ok {
		return pp.PullPages(ctx, req, send)
	}
	return svc.Pull(ctx, req, func(r *syncv1.PullResponse) error { return send(service.PageOf(r)) })
}
