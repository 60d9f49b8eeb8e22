package service

import (
	"context"
	"net/http"
)

// RequestInfo is what a transport knows about a request besides its message. Transports attach
// it to the context of every call with WithRequestInfo.
type RequestInfo struct {
	// Transport names the transport: "ws", "http", "connect", "grpc" or "grpcweb".
	Transport string
	// Headers are the request's HTTP headers; for a WebSocket, those of its upgrade request.
	Headers http.Header
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying info.
func WithRequestInfo(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

// RequestInfoFrom returns the RequestInfo a transport attached to ctx.
func RequestInfoFrom(ctx context.Context) (RequestInfo, bool) {
	info, ok := ctx.Value(requestInfoKey{}).(RequestInfo)
	return info, ok
}
