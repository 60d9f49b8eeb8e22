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
// call that fails, with its procedure, store id, code and reason — never its payload or headers.
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
		o.logFailure(req.Spec().Procedure, protocol, req.Any(), err)
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
		o.logFailure(conn.Spec().Procedure, protocol, sc.msg, err)
		return err
	}
}

func (o observer) logFailure(procedure, protocol string, msg any, err error) {
	if err == nil {
		return
	}
	code := connect.CodeOf(err)
	if code == connect.CodeCanceled {
		return // the client went away: not a rejection
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
	level := slog.LevelInfo
	if code == connect.CodeInternal || code == connect.CodeUnknown {
		level = slog.LevelError
	}
	o.log.Log(context.Background(), level, "request failed", "procedure", procedure, "protocol", protocol,
		"store_id", storeID, "code", code.String(), "reason", reason)
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
