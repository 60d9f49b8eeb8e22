package service

import (
	"context"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Span attributes the service adds to the span of the RPC that calls it (the transport starts
// that span: otelconnect for Connect, the bridge for LiveStore's transports), so that a trace
// says which store and which events an RPC was about, whatever the transport.
const (
	attrStoreID     = attribute.Key("livestore.store_id")
	attrBatchSize   = attribute.Key("livestore.push.batch_size")
	attrFirstSeqNum = attribute.Key("livestore.push.first_seq_num")
	attrLastSeqNum  = attribute.Key("livestore.push.last_seq_num")
	attrPullCursor  = attribute.Key("livestore.pull.cursor")
	attrPullLive    = attribute.Key("livestore.pull.live")
	attrOutcome     = attribute.Key("livestore.outcome")
)

// annotatePush describes a push on the span of ctx, if one is recording.
func annotatePush(ctx context.Context, req *syncv1.PushRequest) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{attrStoreID.String(req.GetStoreId()), attrBatchSize.Int(len(req.GetBatch()))}
	if batch := req.GetBatch(); len(batch) > 0 {
		attrs = append(attrs,
			attrFirstSeqNum.Int64(int64(batch[0].GetSeqNum())),
			attrLastSeqNum.Int64(int64(batch[len(batch)-1].GetSeqNum())))
	}
	span.SetAttributes(attrs...)
}

// annotatePull describes a pull on the span of ctx, if one is recording.
func annotatePull(ctx context.Context, req *syncv1.PullRequest) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(
		attrStoreID.String(req.GetStoreId()),
		attrPullCursor.Int64(int64(req.GetCursor().GetEventSequenceNumber())),
		attrPullLive.Bool(req.GetLive()))
}

// annotateStore names the store of an RPC on the span of ctx, if one is recording.
func annotateStore(ctx context.Context, storeID string) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(attrStoreID.String(storeID))
	}
}

// annotateOutcome records a push's outcome (as the metrics count it) on the span of ctx.
func annotateOutcome(ctx context.Context, outcome string) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(attrOutcome.String(outcome))
	}
}
