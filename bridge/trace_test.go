package bridge

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/livestore-sync/livestore-sync/service"
	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Trace and span ids used as the callers' spans in these tests.
const (
	fieldTraceID  = "5777d62ad22634cfc5e5add36b13ce37" // in a Request's traceId field
	fieldSpanID   = "4af74e5c113cf447"
	headerTraceID = "76460c17f9bb0e35a5d3d0ab66437300" // in traceparent or b3 headers
	headerSpanID  = "37d909139834da8c"
)

// tracedOptions returns Options recording every span in rec, reading W3C and B3 headers.
func tracedOptions(rec spanRecorder) Options {
	return Options{
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)),
		Propagator:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, b3.New()),
		PushExitDelay:  -1,
	}
}

// withTraceFields sets a Request frame's traceId, spanId and sampled fields.
func withTraceFields(frame, traceID, spanID string, sampled bool) string {
	frame = strings.Replace(frame, `"traceId":"00"`, fmt.Sprintf(`"traceId":%q`, traceID), 1)
	frame = strings.Replace(frame, `"spanId":"00"`, fmt.Sprintf(`"spanId":%q`, spanID), 1)
	return strings.Replace(frame, `"sampled":true`, fmt.Sprintf(`"sampled":%t`, sampled), 1)
}

// spanRecorder records spans like tracetest's recorder and signals each span that ends as a
// change (changes.go), so that endedSpan waits for the span instead of polling.
type spanRecorder struct{ *tracetest.SpanRecorder }

func newSpanRecorder() spanRecorder { return spanRecorder{tracetest.NewSpanRecorder()} }

// OnEnd records s, then signals it.
func (r spanRecorder) OnEnd(s sdktrace.ReadOnlySpan) {
	r.SpanRecorder.OnEnd(s)
	changes.notify()
}

// endedSpan waits for the one span named name to end and returns it.
func endedSpan(t *testing.T, rec spanRecorder, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	defer changes.watch()()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		changed := changes.next()
		var found []sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			if s.Name() == name {
				found = append(found, s)
			}
		}
		switch {
		case len(found) == 1:
			return found[0]
		case len(found) > 1:
			t.Fatalf("%d spans named %s, want 1", len(found), name)
		}
		select {
		case <-changed:
		case <-timeout.C:
			var names []string
			for _, s := range rec.Ended() {
				names = append(names, s.Name())
			}
			t.Fatalf("no ended span %s; ended: %v", name, names)
		}
	}
}

// checkParent checks that span continues the caller's span traceID/spanID.
func checkParent(t *testing.T, span sdktrace.ReadOnlySpan, traceID, spanID string) {
	t.Helper()
	if got := span.SpanContext().TraceID().String(); got != traceID {
		t.Errorf("%s: trace id %s, want %s", span.Name(), got, traceID)
	}
	if got := span.Parent().SpanID().String(); got != spanID {
		t.Errorf("%s: parent span id %s, want %s", span.Name(), got, spanID)
	}
	if !span.Parent().IsRemote() {
		t.Errorf("%s: parent is not remote", span.Name())
	}
	if span.SpanKind() != trace.SpanKindServer {
		t.Errorf("%s: kind %v, want server", span.Name(), span.SpanKind())
	}
}

func spanAttr(span sdktrace.ReadOnlySpan, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range span.Attributes() {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func checkAttrs(t *testing.T, span sdktrace.ReadOnlySpan, want map[attribute.Key]string) {
	t.Helper()
	for k, v := range want {
		got, ok := spanAttr(span, k)
		if !ok || got.String() != v {
			t.Errorf("%s: attribute %s = %q (set: %t), want %q", span.Name(), k, got.String(), ok, v)
		}
	}
}

func TestTraceWebSocket(t *testing.T) {
	t.Parallel()
	traceparent := "00-" + headerTraceID + "-" + headerSpanID + "-01"
	tests := []struct {
		name            string
		upgradeHeader   http.Header
		fields          bool // the Request carries valid traceId and spanId
		sampled         bool
		wantTrace       string
		wantParent      string
		wantUnsampledOK bool // no span is recorded
	}{
		{name: "request fields", fields: true, sampled: true, wantTrace: fieldTraceID, wantParent: fieldSpanID},
		{name: "upgrade traceparent", upgradeHeader: http.Header{"Traceparent": {traceparent}},
			wantTrace: headerTraceID, wantParent: headerSpanID},
		{name: "request fields before upgrade headers", upgradeHeader: http.Header{"Traceparent": {traceparent}},
			fields: true, sampled: true, wantTrace: fieldTraceID, wantParent: fieldSpanID},
		{name: "unsampled caller", fields: true, sampled: false, wantUnsampledOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newSpanRecorder()
			ts := newTestServer(t, tracedOptions(rec))
			c := ts.dialWithHeader("store-trace", false, tt.upgradeHeader)

			push := pushFrame("0", "", eventJSON(1, `{}`))
			if tt.fields {
				push = withTraceFields(push, fieldTraceID, fieldSpanID, tt.sampled)
			}
			c.send(push)
			if got := c.next(); !strings.Contains(got, `"_tag":"Exit","requestId":"0","exit":{"_tag":"Success"`) {
				t.Fatalf("push answer: %s", got)
			}
			if tt.wantUnsampledOK {
				c.ping() // the push's span would have ended before its Exit
				if n := len(rec.Ended()); n != 0 {
					t.Fatalf("%d spans recorded for an unsampled caller, want 0", n)
				}
				return
			}
			span := endedSpan(t, rec, "SyncWsRpc.Push")
			checkParent(t, span, tt.wantTrace, tt.wantParent)
			checkAttrs(t, span, map[attribute.Key]string{
				"rpc.system": rpcSystem, "rpc.service": "SyncWsRpc", "rpc.method": "Push", "livestore.transport": "ws",
			})
			if span.Status().Code != codes.Unset {
				t.Errorf("status %v, want unset", span.Status())
			}
		})
	}
}

func TestTraceWebSocketOutcomes(t *testing.T) {
	t.Parallel()
	rec := newSpanRecorder()
	ts := newTestServer(t, tracedOptions(rec))
	c := ts.dial("store-trace-outcomes", false)

	// A push the service refuses: the span fails with the service's error.
	c.send(withTraceFields(pushFrame("0", "", eventJSON(2, `{}`)), fieldTraceID, fieldSpanID, true))
	if got := c.next(); !strings.Contains(got, `ServerAheadError`) {
		t.Fatalf("push answer: %s", got)
	}
	span := endedSpan(t, rec, "SyncWsRpc.Push")
	if span.Status().Code != codes.Error || !strings.Contains(span.Status().Description, "server ahead") {
		t.Errorf("failed push: status %+v, want an error naming the server ahead", span.Status())
	}

	// A live pull the client interrupts: the span ends, not as a failure.
	c.send(withTraceFields(pullFrame("1", true, ""), fieldTraceID, fieldSpanID, true))
	c.next() // the first (empty) page
	c.send(ackFrame("1"))
	c.send(`{"_tag":"Interrupt","requestId":"1"}`)
	if got := c.next(); !strings.Contains(got, `"requestId":"1"`) || !strings.Contains(got, "Interrupt") {
		t.Fatalf("interrupt answer: %s", got)
	}
	pull := endedSpan(t, rec, "SyncWsRpc.Pull")
	if pull.Status().Code == codes.Error {
		t.Errorf("interrupted pull: status %+v, want no error", pull.Status())
	}
	checkAttrs(t, pull, map[attribute.Key]string{"livestore.interrupted": "true", "rpc.method": "Pull"})
	checkParent(t, pull, fieldTraceID, fieldSpanID)
}

func TestTraceHTTP(t *testing.T) {
	t.Parallel()
	traceparent := "00-" + headerTraceID + "-" + headerSpanID + "-01"
	b3Single := headerTraceID + "-" + headerSpanID + "-1"
	body := strings.Replace(httpPing("0"), `"headers":[]`,
		`"traceId":"`+fieldTraceID+`","spanId":"`+fieldSpanID+`","sampled":true,"headers":[]`, 1)
	tests := []struct {
		name       string
		header     map[string]string
		body       string
		wantTrace  string
		wantParent string
	}{
		{name: "traceparent", header: map[string]string{"traceparent": traceparent}, body: httpPing("0"),
			wantTrace: headerTraceID, wantParent: headerSpanID},
		{name: "b3 single header", header: map[string]string{"b3": b3Single}, body: httpPing("0"),
			wantTrace: headerTraceID, wantParent: headerSpanID},
		{name: "b3 multiple headers", header: map[string]string{
			"X-B3-TraceId": headerTraceID, "X-B3-SpanId": headerSpanID, "X-B3-Sampled": "1"}, body: httpPing("0"),
			wantTrace: headerTraceID, wantParent: headerSpanID},
		// The LiveStore HTTP client sends both: headers name its HTTP span, the child of the RPC
		// span the body names.
		{name: "headers before request fields", header: map[string]string{"traceparent": traceparent}, body: body,
			wantTrace: headerTraceID, wantParent: headerSpanID},
		{name: "request fields without headers", body: body, wantTrace: fieldTraceID, wantParent: fieldSpanID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newSpanRecorder()
			b := New(newGatedService(t, service.Options{}), withQuietLogger(tracedOptions(rec)))
			res, got := doHTTP(t, b, http.MethodPost, "/?storeId=store-trace&transport=http", tt.header, tt.body)
			if res.StatusCode != http.StatusOK || !strings.Contains(got, `"_tag":"SyncMessage.Pong"`) {
				t.Fatalf("ping: %d %s", res.StatusCode, got)
			}
			span := endedSpan(t, rec, "SyncHttpRpc.Ping")
			checkParent(t, span, tt.wantTrace, tt.wantParent)
			checkAttrs(t, span, map[attribute.Key]string{
				"rpc.system": rpcSystem, "rpc.service": "SyncHttpRpc", "rpc.method": "Ping", "livestore.transport": "http",
			})
		})
	}
}

func TestTraceHTTPFailure(t *testing.T) {
	t.Parallel()
	rec := newSpanRecorder()
	b := New(newGatedService(t, service.Options{}), withQuietLogger(tracedOptions(rec)))
	_, got := doHTTP(t, b, http.MethodPost, "/?storeId=store-trace&transport=http", nil, httpPush("0", eventJSON(5, `{}`)))
	if !strings.Contains(got, "ServerAheadError") {
		t.Fatalf("push answer: %s", got)
	}
	span := endedSpan(t, rec, "SyncHttpRpc.Push")
	if span.Status().Code != codes.Error {
		t.Errorf("status %+v, want error", span.Status())
	}
	if span.Parent().IsValid() {
		t.Errorf("span has parent %v though the caller sent no trace", span.Parent())
	}
}

func withQuietLogger(o Options) Options {
	o.Logger = quietLogger
	return o
}

// TestTracePayloadValidation checks that the payload validator runs in the caller's trace, so
// that one calling out (an auth webhook) can pass it on.
func TestTracePayloadValidation(t *testing.T) {
	t.Parallel()
	svc := newGatedService(t, service.Options{})
	b := New(svc, withQuietLogger(tracedOptions(newSpanRecorder())))
	doHTTP(t, b, http.MethodPost, "/?storeId=s&transport=http",
		map[string]string{"traceparent": "00-" + headerTraceID + "-" + headerSpanID + "-01"}, httpPing("0"))
	svc.mu.Lock()
	got := svc.validatedTrace
	svc.mu.Unlock()
	if got.TraceID().String() != headerTraceID || got.SpanID().String() != headerSpanID {
		t.Fatalf("validator's context has span %v, want the caller's %s/%s", got, headerTraceID, headerSpanID)
	}
}
