package service

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"
)

// storeIDer is implemented by every request message that names a store.
type storeIDer interface{ GetStoreId() string }

// NewLoggingInterceptor returns a Connect interceptor for the handlers of NewHandler and
// NewAdminHandler that counts the calls in progress per protocol in metrics (nil counts nothing)
// and logs every call that fails on log (nil: slog.Default()), with its procedure, store id, code
// and reason, never its payload or headers:
//
//   - storage failures at Error, whatever else happened;
//   - calls the client cancelled or let run out of time (the code is Canceled or
//     DeadlineExceeded, or the call's context ended, whatever the error became on the way) at
//     Debug, as the client's own business;
//   - other Internal and Unknown errors at Error;
//   - anything else (invalid requests, refusals, server ahead, shutdown, …) at Info.
//
// Put it after a tracing interceptor, so that the span covers it. It wraps handlers only, not
// clients.
func NewLoggingInterceptor(metrics *Metrics, log *slog.Logger) connect.Interceptor {
	if log == nil {
		log = slog.Default()
	}
	return loggingInterceptor{metrics: metrics, log: log}
}

// loggingInterceptor is the interceptor of NewLoggingInterceptor.
type loggingInterceptor struct {
	metrics *Metrics
	log     *slog.Logger
}

func (o loggingInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		protocol := req.Peer().Protocol
		o.metrics.ConnectionOpened(protocol)
		defer o.metrics.ConnectionClosed(protocol)
		resp, err := next(ctx, req)
		o.logFailure(ctx, req.Spec().Procedure, protocol, req.Any(), err)
		return resp, err
	}
}

func (o loggingInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (o loggingInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		protocol := conn.Peer().Protocol
		o.metrics.ConnectionOpened(protocol)
		defer o.metrics.ConnectionClosed(protocol)
		sc := &firstMessage{StreamingHandlerConn: conn}
		err := next(ctx, sc)
		o.logFailure(ctx, conn.Spec().Procedure, protocol, sc.msg, err)
		return err
	}
}

// logFailure logs a call that failed with err; ctx is the call's context.
func (o loggingInterceptor) logFailure(ctx context.Context, procedure, protocol string, msg any, err error) {
	if err == nil {
		return
	}
	storeID := ""
	if m, ok := msg.(storeIDer); ok {
		storeID = m.GetStoreId()
	}
	var cerr *connect.Error
	reason := err.Error()
	if errors.As(err, &cerr) {
		reason = cerr.Message()
	}
	level, what := failureLevel(ctx, err)
	o.log.Log(context.Background(), level, what, "procedure", procedure, "protocol", protocol,
		"store_id", storeID, "code", connect.CodeOf(err).String(), "reason", reason)
}

// failureLevel returns the level and message of the log line of a call that failed with err (see
// NewLoggingInterceptor).
func failureLevel(ctx context.Context, err error) (slog.Level, string) {
	var storage *StorageError
	code := connect.CodeOf(err)
	switch {
	case errors.As(err, &storage):
		return slog.LevelError, "request failed"
	case code == connect.CodeCanceled || code == connect.CodeDeadlineExceeded || ctx.Err() != nil:
		return slog.LevelDebug, "request ended by the client (cancelled or out of time)"
	case code == connect.CodeInternal || code == connect.CodeUnknown:
		return slog.LevelError, "request failed"
	}
	return slog.LevelInfo, "request failed"
}

// firstMessage remembers the first message a streaming handler received (a server stream's
// request), so a failure can be logged with its store id.
type firstMessage struct {
	connect.StreamingHandlerConn
	msg any
}

func (c *firstMessage) Receive(m any) error {
	err := c.StreamingHandlerConn.Receive(m)
	if err == nil && c.msg == nil {
		c.msg = m
	}
	return err
}
