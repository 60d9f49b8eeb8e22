package main

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"
	"github.com/livestore-sync/livestore-sync/service"
)

// storeIDer is implemented by every request message that names a store.
type storeIDer interface{ GetStoreId() string }

// observer is a Connect interceptor that counts calls in progress per protocol and logs every
// call that fails, with its procedure, store id, code and reason — never its payload or headers —
// at the level failureLevel gives it.
type observer struct {
	metrics *service.Metrics
	log     *slog.Logger
}

func (o observer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		protocol := req.Peer().Protocol
		o.metrics.ConnectionOpened(protocol)
		defer o.metrics.ConnectionClosed(protocol)
		resp, err := next(ctx, req)
		o.logFailure(ctx, req.Spec().Procedure, protocol, req.Any(), err)
		return resp, err
	}
}

func (o observer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (o observer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
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
func (o observer) logFailure(ctx context.Context, procedure, protocol string, msg any, err error) {
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

// failureLevel returns the level and message of the log line of a call that failed with err:
//
//   - storage failures: Error, whatever else happened;
//   - the client went away or ran out of its deadline (the code is Canceled or
//     DeadlineExceeded, or the call's context ended, whatever the error became on the way):
//     Debug, as the client's own business;
//   - other Internal and Unknown errors: Error;
//   - anything else (invalid requests, refusals, server ahead, shutdown, …): Info.
func failureLevel(ctx context.Context, err error) (slog.Level, string) {
	var storage *service.StorageError
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
