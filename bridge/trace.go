package bridge

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// instrumentationName names the bridge's tracer.
const instrumentationName = "github.com/livestore-sync/livestore-sync/bridge"

// rpcSystem is the rpc.system attribute of the bridge's spans: LiveStore's sync RPCs, carried
// as Effect RPC messages.
const rpcSystem = "livestore_effect_rpc"

// requestParent reads the tracing fields Effect RPC clients put on every Request (PROTOCOL §2.1):
// traceId (32 hex digits), spanId (16 hex digits) and sampled (true when missing, as Effect
// samples by default). Missing or malformed ids give an invalid SpanContext: no parent.
func requestParent(fields map[string]json.RawMessage) trace.SpanContext {
	var traceID, spanID string
	if json.Unmarshal(fields["traceId"], &traceID) != nil || json.Unmarshal(fields["spanId"], &spanID) != nil {
		return trace.SpanContext{}
	}
	tid, err := trace.TraceIDFromHex(traceID)
	if err != nil {
		return trace.SpanContext{}
	}
	sid, err := trace.SpanIDFromHex(spanID)
	if err != nil {
		return trace.SpanContext{}
	}
	sampled := true
	if raw, ok := fields["sampled"]; ok {
		_ = json.Unmarshal(raw, &sampled)
	}
	var flags trace.TraceFlags
	if sampled {
		flags = trace.FlagsSampled
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: true})
}

// tracing starts the bridge's spans: one server span per RPC (Push, Pull, Ping), on both
// transports.
type tracing struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
}

func newTracing(tp trace.TracerProvider, p propagation.TextMapPropagator) tracing {
	return tracing{tracer: tp.Tracer(instrumentationName), propagator: p}
}

// headerContext returns ctx with what the propagator finds in h: the caller's span context
// (traceparent, b3, … as configured) and baggage.
func (t tracing) headerContext(ctx context.Context, h http.Header) context.Context {
	return t.propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// startRPC starts the span of one RPC. Its parent is the span context already in ctx when
// preferCtx is set and ctx has one, else the Request's own tracing fields, else whatever ctx
// holds. Over HTTP the headers come first (preferCtx): the LiveStore client's HTTP span, sent as
// traceparent and b3, is the child of the RPC span named in the body. Over WebSocket the
// Request's fields come first: the upgrade's headers, if any, belong to the socket, not to one
// RPC.
func (t tracing) startRPC(ctx context.Context, m clientMessage, transport transport, preferCtx bool) (context.Context, trace.Span) {
	if m.Parent.IsValid() && !(preferCtx && trace.SpanContextFromContext(ctx).IsValid()) {
		ctx = trace.ContextWithRemoteSpanContext(ctx, m.Parent)
	}
	service, method, _ := strings.Cut(m.RPC, ".")
	return t.tracer.Start(ctx, m.RPC,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("rpc.system", rpcSystem),
			attribute.String("rpc.service", service),
			attribute.String("rpc.method", method),
			attribute.String("livestore.transport", string(transport)),
		))
}

// endRPC ends an RPC's span, marking it failed with err's message when failed is set.
func endRPC(span trace.Span, failed bool, err error, message string) {
	if failed {
		if err != nil {
			span.RecordError(err)
		}
		span.SetStatus(codes.Error, message)
	}
	span.End()
}
