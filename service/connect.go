package service

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"github.com/livestore-sync/livestore-sync/service/storage"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// Handler serves a Service over Connect, gRPC and gRPC-Web: it decodes nothing itself, calls the
// Service and maps its errors to Connect errors with typed details (ConnectError).
type Handler struct {
	svc *Service
}

var _ syncv1connect.SyncServiceHandler = (*Handler)(nil)

// NewHandler returns a Connect handler for svc. Mount it with
// syncv1connect.NewSyncServiceHandler.
func NewHandler(svc *Service) *Handler { return &Handler{svc: svc} }

// Push implements livestore.sync.v1.SyncService.Push.
func (h *Handler) Push(ctx context.Context, req *connect.Request[syncv1.PushRequest]) (*connect.Response[syncv1.PushResponse], error) {
	ctx, err := h.admit(ctx, req, req.Msg)
	if err != nil {
		return nil, err
	}
	if err := h.svc.Push(ctx, req.Msg); err != nil {
		return nil, ConnectError(err)
	}
	return connect.NewResponse(&syncv1.PushResponse{}), nil
}

// Pull implements livestore.sync.v1.SyncService.Pull.
func (h *Handler) Pull(ctx context.Context, req *connect.Request[syncv1.PullRequest], stream *connect.ServerStream[syncv1.PullResponse]) error {
	ctx, err := h.admit(ctx, req, req.Msg)
	if err != nil {
		return err
	}
	return ConnectError(h.svc.Pull(ctx, req.Msg, stream.Send))
}

// Ping implements livestore.sync.v1.SyncService.Ping.
func (h *Handler) Ping(ctx context.Context, req *connect.Request[syncv1.PingRequest]) (*connect.Response[syncv1.PingResponse], error) {
	ctx, err := h.admit(ctx, req, req.Msg)
	if err != nil {
		return nil, err
	}
	if err := h.svc.Ping(ctx, req.Msg); err != nil {
		return nil, ConnectError(err)
	}
	return connect.NewResponse(&syncv1.PingResponse{}), nil
}

// payloadRequest is a request message that carries a store id and a client payload.
type payloadRequest interface {
	GetStoreId() string
	GetPayload() *structpb.Value
}

// admit validates the call's payload and returns ctx carrying the call's protocol and headers
// for the hooks.
func (h *Handler) admit(ctx context.Context, req connect.AnyRequest, msg payloadRequest) (context.Context, error) {
	info := RequestInfo{Transport: req.Peer().Protocol, Headers: req.Header()}
	if err := h.svc.ValidatePayload(ctx, msg.GetStoreId(), msg.GetPayload(), info); err != nil {
		return nil, ConnectError(err)
	}
	return WithRequestInfo(ctx, info), nil
}

// ConnectError maps an error of the Service to a Connect error:
//
//   - *ServerAheadError: Aborted, with a syncv1.ServerAheadError detail
//   - *BackendIDMismatchError: FailedPrecondition, with a syncv1.BackendIdMismatchError detail
//   - *InvalidBatchError: InvalidArgument, with a syncv1.InvalidBatchError detail
//   - *InvalidRequestError: InvalidArgument
//   - *RejectedError (a hook refused): the code of a *connect.Error the hook returned, else
//     PermissionDenied
//   - *PayloadRejectedError (the payload validator refused): likewise, else Unauthenticated
//   - ErrStoreNotFound: NotFound
//   - ErrStoreDeleted: NotFound
//   - ErrLivePullBehind: ResourceExhausted
//   - ErrClosed, and storage errors wrapping storage.ErrUnavailable: Unavailable
//   - context.Canceled, context.DeadlineExceeded: Canceled, DeadlineExceeded
//   - anything else (storage failures): Internal
//
// A nil error and errors that are Connect errors already are returned unchanged.
func ConnectError(err error) error {
	if err == nil {
		return nil
	}
	var (
		cerr     *connect.Error
		rejected *RejectedError
		refused  *PayloadRejectedError
	)
	switch {
	case errors.As(err, &rejected) && errors.As(err, &cerr), errors.As(err, &refused) && errors.As(err, &cerr):
		return connect.NewError(cerr.Code(), err)
	case rejected != nil:
		return connect.NewError(connect.CodePermissionDenied, err)
	case refused != nil:
		return connect.NewError(connect.CodeUnauthenticated, err)
	}
	if errors.As(err, &cerr) {
		return err
	}
	var (
		ahead    *ServerAheadError
		mismatch *BackendIDMismatchError
		batch    *InvalidBatchError
		invalid  *InvalidRequestError
	)
	switch {
	case errors.As(err, &ahead):
		return withDetail(connect.CodeAborted, err, &syncv1.ServerAheadError{
			MinimumExpectedNum: ahead.MinimumExpectedNum, ProvidedNum: ahead.ProvidedNum,
		})
	case errors.As(err, &mismatch):
		return withDetail(connect.CodeFailedPrecondition, err, &syncv1.BackendIdMismatchError{
			Expected: mismatch.Expected, Received: mismatch.Received,
		})
	case errors.As(err, &batch):
		return withDetail(connect.CodeInvalidArgument, err, &syncv1.InvalidBatchError{
			EventIndex: uint32(batch.Index), SeqNum: batch.SeqNum, Reason: batch.Reason,
		})
	case errors.As(err, &invalid):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, ErrStoreNotFound), errors.Is(err, ErrStoreDeleted):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, ErrLivePullBehind):
		return connect.NewError(connect.CodeResourceExhausted, err)
	case errors.Is(err, ErrClosed), errors.Is(err, storage.ErrUnavailable):
		return connect.NewError(connect.CodeUnavailable, err)
	case errors.Is(err, context.Canceled): // the caller went away (not CodeOf: that says Unknown)
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	default:
		return connect.NewError(connect.CodeInternal, err)
	}
}

// withDetail returns a Connect error with code whose detail is msg.
func withDetail(code connect.Code, err error, msg proto.Message) error {
	cerr := connect.NewError(code, err)
	if d, derr := connect.NewErrorDetail(msg); derr == nil { // only fails for unmarshalable messages
		cerr.AddDetail(d)
	}
	return cerr
}
