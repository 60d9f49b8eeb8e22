package service

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"connectrpc.com/connect"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"github.com/livestore-sync/livestore-sync/service/storage"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	// DefaultListPageSize is the page size of ListStores when the request names none.
	DefaultListPageSize = 100
	// MaxListPageSize is the largest page size of ListStores.
	MaxListPageSize = 1000
)

// AdminHandler serves the AdminService of a Service over Connect, gRPC and gRPC-Web. Mount it
// only behind AdminAuth.
type AdminHandler struct {
	svc *Service
}

var _ syncv1connect.AdminServiceHandler = (*AdminHandler)(nil)

// NewAdminHandler returns an AdminService handler for svc. Mount it with
// syncv1connect.NewAdminServiceHandler(h, connect.WithInterceptors(AdminAuth(secret))).
func NewAdminHandler(svc *Service) *AdminHandler { return &AdminHandler{svc: svc} }

// ListStores implements livestore.sync.v1.AdminService.ListStores.
func (h *AdminHandler) ListStores(ctx context.Context, req *connect.Request[syncv1.ListStoresRequest]) (*connect.Response[syncv1.ListStoresResponse], error) {
	size := int(req.Msg.GetPageSize())
	switch {
	case size == 0:
		size = DefaultListPageSize
	case size > MaxListPageSize:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("page_size %d is more than the limit of %d", size, MaxListPageSize))
	}
	after, err := base64.RawURLEncoding.DecodeString(req.Msg.GetPageToken())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("page_token is not one this server gave out"))
	}
	// One more than asked tells whether another page follows.
	stores, err := h.svc.ListStores(ctx, string(after), size+1)
	if err != nil {
		return nil, ConnectError(err)
	}
	resp := &syncv1.ListStoresResponse{}
	if len(stores) > size {
		stores = stores[:size]
		resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(stores[size-1].ID))
	}
	for _, st := range stores {
		id := st.ID
		if !utf8.ValidString(id) {
			// Only older versions stored such ids; protobuf cannot carry them, and one of them
			// must not fail the whole listing.
			id = strings.ToValidUTF8(id, "\uFFFD")
			h.svc.log.Warn("listing a store whose id is not valid UTF-8 (created before ids were checked), with U+FFFD in place of the invalid bytes",
				"store_id", id, "store_id_hex", hex.EncodeToString([]byte(st.ID)))
		}
		resp.Stores = append(resp.Stores, storeSummary(id, st.Info))
	}
	return connect.NewResponse(resp), nil
}

// GetStore implements livestore.sync.v1.AdminService.GetStore.
func (h *AdminHandler) GetStore(ctx context.Context, req *connect.Request[syncv1.GetStoreRequest]) (*connect.Response[syncv1.GetStoreResponse], error) {
	info, err := h.svc.GetStore(ctx, req.Msg.GetStoreId())
	if err != nil {
		return nil, ConnectError(err)
	}
	return connect.NewResponse(&syncv1.GetStoreResponse{Store: storeSummary(req.Msg.GetStoreId(), info)}), nil
}

// ResetStore implements livestore.sync.v1.AdminService.ResetStore.
func (h *AdminHandler) ResetStore(ctx context.Context, req *connect.Request[syncv1.ResetStoreRequest]) (*connect.Response[syncv1.ResetStoreResponse], error) {
	info, err := h.svc.ResetStore(ctx, req.Msg.GetStoreId())
	if err != nil {
		return nil, ConnectError(err)
	}
	return connect.NewResponse(&syncv1.ResetStoreResponse{Store: storeSummary(req.Msg.GetStoreId(), info)}), nil
}

// DeleteStore implements livestore.sync.v1.AdminService.DeleteStore.
func (h *AdminHandler) DeleteStore(ctx context.Context, req *connect.Request[syncv1.DeleteStoreRequest]) (*connect.Response[syncv1.DeleteStoreResponse], error) {
	if err := h.svc.DeleteStore(ctx, req.Msg.GetStoreId()); err != nil {
		return nil, ConnectError(err)
	}
	return connect.NewResponse(&syncv1.DeleteStoreResponse{}), nil
}

// Backup implements livestore.sync.v1.AdminService.Backup.
func (h *AdminHandler) Backup(ctx context.Context, req *connect.Request[syncv1.BackupRequest]) (*connect.Response[syncv1.BackupResponse], error) {
	dir, size, err := h.svc.Backup(ctx, req.Msg.GetDir())
	if err != nil {
		return nil, ConnectError(err)
	}
	return connect.NewResponse(&syncv1.BackupResponse{Dir: dir, Bytes: size}), nil
}

func storeSummary(id string, info storage.StoreInfo) *syncv1.StoreSummary {
	return &syncv1.StoreSummary{
		StoreId: id, BackendId: info.BackendID, Head: info.Head, EventCount: info.EventCount,
		EventBytes: info.EventBytes, CreatedAt: timestamppb.New(info.CreatedAt),
	}
}

// AdminAuth returns an interceptor that lets through only requests that carry
// `Authorization: Bearer <secret>`; others fail with Unauthenticated. The comparison takes the
// same time whatever the secret's first wrong byte.
func AdminAuth(secret string) connect.Interceptor {
	return adminAuth{secret: []byte(secret)}
}

type adminAuth struct{ secret []byte }

func (a adminAuth) check(h interface{ Get(string) string }) error {
	token, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	if !ok || len(a.secret) == 0 || subtle.ConstantTimeCompare([]byte(token), a.secret) != 1 {
		return connect.NewError(connect.CodeUnauthenticated, errors.New("admin API: missing or wrong admin secret (send Authorization: Bearer <secret>)"))
	}
	return nil
}

func (a adminAuth) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := a.check(req.Header()); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (a adminAuth) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (a adminAuth) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if err := a.check(conn.RequestHeader()); err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
