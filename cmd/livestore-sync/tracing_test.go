package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/coder/websocket"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

func TestTracingOn(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want bool
	}{
		{env: nil, want: false},
		{env: map[string]string{"OTEL_SERVICE_NAME": "x"}, want: false},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, want: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "console"}, want: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, want: false},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, want: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, want: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, want: false},
	}
	for _, tt := range tests {
		if got := tracingOn(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("tracingOn(%v) = %t, want %t", tt.env, got, tt.want)
		}
	}
}

func TestPropagatorFromEnv(t *testing.T) {
	const traceID, spanID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	carriers := map[string]http.Header{
		"traceparent": {"Traceparent": {"00-" + traceID + "-" + spanID + "-01"}},
		"b3":          {"B3": {traceID + "-" + spanID + "-1"}},
		"b3multi":     {"X-B3-Traceid": {traceID}, "X-B3-Spanid": {spanID}, "X-B3-Sampled": {"1"}},
	}
	tests := []struct {
		env     string
		reads   []string // the carriers whose trace the propagator finds
		wantErr bool
	}{
		{env: "", reads: []string{"traceparent", "b3", "b3multi"}},
		{env: "tracecontext", reads: []string{"traceparent"}},
		{env: "b3multi, baggage", reads: []string{"b3", "b3multi"}}, // reading B3 takes both forms
		{env: "none", reads: nil},
		{env: "w3c", wantErr: true},
	}
	for _, tt := range tests {
		p, err := propagatorFromEnv(func(k string) string {
			if k == "OTEL_PROPAGATORS" {
				return tt.env
			}
			return ""
		})
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "OTEL_PROPAGATORS") {
				t.Errorf("OTEL_PROPAGATORS=%q: err %v, want an error naming the variable", tt.env, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("OTEL_PROPAGATORS=%q: %v", tt.env, err)
		}
		for name, h := range carriers {
			sc := trace.SpanContextFromContext(p.Extract(context.Background(), propagation.HeaderCarrier(h)))
			found := sc.TraceID().String() == traceID && sc.SpanID().String() == spanID
			if want := slices.Contains(tt.reads, name); found != want {
				t.Errorf("OTEL_PROPAGATORS=%q, %s headers: trace found %t, want %t", tt.env, name, found, want)
			}
		}
	}
}

// exportedSpan is what the console exporter (stdouttrace) writes of a span.
type exportedSpan struct {
	Name        string
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct {
		TraceID, SpanID string
		Remote          bool
	}
	Attributes []struct {
		Key   string
		Value struct{ Value any }
	}
	Resource []struct {
		Key   string
		Value struct{ Value any }
	}
}

func (s exportedSpan) attr(key string) any {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value.Value
		}
	}
	return nil
}

func (s exportedSpan) resource(key string) any {
	for _, a := range s.Resource {
		if a.Key == key {
			return a.Value.Value
		}
	}
	return nil
}

// decodeSpans decodes the spans the console exporter wrote so far.
func decodeSpans(t *testing.T, out string) []exportedSpan {
	t.Helper()
	var spans []exportedSpan
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var s exportedSpan
		if err := dec.Decode(&s); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("decoding the exported spans: %v\n%s", err, out)
			}
			return spans
		}
		spans = append(spans, s)
	}
}

// TestTracingOverEveryTransport runs the server with the console exporter and checks that a
// call on each transport gives a server span continuing the caller's trace, sent as the
// transport allows: W3C traceparent or B3 headers, gRPC metadata, Effect RPC request fields.
func TestTracingOverEveryTransport(t *testing.T) {
	srv := startServerEnv(t, t.TempDir(), []string{
		"OTEL_TRACES_EXPORTER=console", "OTEL_BSP_SCHEDULE_DELAY=20", "OTEL_SERVICE_NAME=sync-under-test",
		"OTEL_PROPAGATORS=", "OTEL_SDK_DISABLED=",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	type caller struct{ traceID, spanID string }
	callers := map[string]caller{
		"connect":  {"0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"},
		"grpc":     {"1af7651916cd43dd8448eb211c80319c", "c7ad6b7169203331"},
		"grpc-web": {"2af7651916cd43dd8448eb211c80319c", "d7ad6b7169203331"},
		"http":     {"3af7651916cd43dd8448eb211c80319c", "e7ad6b7169203331"},
		"ws":       {"4af7651916cd43dd8448eb211c80319c", "f7ad6b7169203331"},
	}
	traceparent := func(c caller) string { return "00-" + c.traceID + "-" + c.spanID + "-01" }

	// Connect protocol, traceparent header.
	client := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url)
	ping := connect.NewRequest(&syncv1.PingRequest{StoreId: "store-connect"})
	ping.Header().Set("traceparent", traceparent(callers["connect"]))
	if _, err := client.Ping(ctx, ping); err != nil {
		t.Fatalf("connect ping: %v", err)
	}
	// gRPC, traceparent metadata.
	grpcClient := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url, connect.WithGRPC())
	push := connect.NewRequest(&syncv1.PushRequest{StoreId: "store-grpc", Batch: newEvents(0, 2)})
	push.Header().Set("traceparent", traceparent(callers["grpc"]))
	if _, err := grpcClient.Push(ctx, push); err != nil {
		t.Fatalf("grpc push: %v", err)
	}
	// gRPC-Web, B3 single header.
	webClient := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url, connect.WithGRPCWeb())
	ping = connect.NewRequest(&syncv1.PingRequest{StoreId: "store-grpc-web"})
	ping.Header().Set("b3", callers["grpc-web"].traceID+"-"+callers["grpc-web"].spanID+"-1")
	if _, err := webClient.Ping(ctx, ping); err != nil {
		t.Fatalf("grpc-web ping: %v", err)
	}
	// LiveStore's HTTP transport, traceparent header.
	body := `{"_tag":"Request","id":"0","tag":"SyncHttpRpc.Ping","payload":{"storeId":"store-http"},"headers":[]}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.url+"/?storeId=store-http&transport=http", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", traceparent(callers["http"]))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("http ping: %v", err)
	}
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !bytes.Contains(answer, []byte("SyncMessage.Pong")) {
		t.Fatalf("http ping: %s", answer)
	}
	// LiveStore's WebSocket transport, Effect RPC tracing fields.
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.url, "http")+"/?storeId=store-ws&transport=ws", nil)
	if err != nil {
		t.Fatalf("ws dial: %v", err)
	}
	defer ws.CloseNow()
	frame := `{"_tag":"Request","id":"0","tag":"SyncWsRpc.Push","payload":{"storeId":"store-ws","batch":[` +
		`{"name":"todoCreated-v1","args":{},"seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}],` +
		`"backendId":{"_tag":"None"}},"traceId":"` + callers["ws"].traceID + `","spanId":"` + callers["ws"].spanID +
		`","sampled":true,"headers":[]}`
	if err := ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		t.Fatalf("ws write: %v", err)
	}
	if _, data, err := ws.Read(ctx); err != nil || !bytes.Contains(data, []byte(`"_tag":"Success"`)) {
		t.Fatalf("ws push answer: %s %v", data, err)
	}

	want := map[string]struct{ name, store string }{
		"connect":  {"livestore.sync.v1.SyncService/Ping", "store-connect"},
		"grpc":     {"livestore.sync.v1.SyncService/Push", "store-grpc"},
		"grpc-web": {"livestore.sync.v1.SyncService/Ping", "store-grpc-web"},
		"http":     {"SyncHttpRpc.Ping", "store-http"},
		"ws":       {"SyncWsRpc.Push", "store-ws"},
	}
	// The exporter writes the spans on the server's standard output as they are batched: they
	// are decoded again after each write (what is missing after the bound is reported below).
	var spans []exportedSpan
	srv.stdout.await(20*time.Second, func(out string) bool {
		spans = decodeSpans(t, out)
		return len(spans) >= len(want)
	})
	for transport, w := range want {
		c := callers[transport]
		var found *exportedSpan
		for i, s := range spans {
			if s.SpanContext.TraceID == c.traceID {
				found = &spans[i]
			}
		}
		if found == nil {
			t.Errorf("%s: no span in the caller's trace %s; exported:\n%s", transport, c.traceID, srv.stdout.String())
			continue
		}
		if found.Name != w.name || found.Parent.SpanID != c.spanID || !found.Parent.Remote {
			t.Errorf("%s: span %q with parent %+v, want %q with remote parent %s", transport, found.Name, found.Parent, w.name, c.spanID)
		}
		if w.store != "" && found.attr("livestore.store_id") != w.store {
			t.Errorf("%s: livestore.store_id = %v, want %s", transport, found.attr("livestore.store_id"), w.store)
		}
		if got := found.resource("service.name"); got != "sync-under-test" {
			t.Errorf("%s: service.name = %v, want sync-under-test (OTEL_SERVICE_NAME)", transport, got)
		}
	}
}

// TestTracingOffByDefault checks that without OTEL_* configuration the server exports nothing
// and says nothing about tracing.
func TestTracingOffByDefault(t *testing.T) {
	srv := startServerEnv(t, t.TempDir(), []string{"OTEL_TRACES_EXPORTER=", "OTEL_EXPORTER_OTLP_ENDPOINT=",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="})
	client := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url)
	ping := connect.NewRequest(&syncv1.PingRequest{StoreId: "s"})
	ping.Header().Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	if _, err := client.Ping(context.Background(), ping); err != nil {
		t.Fatal(err)
	}
	if err := srv.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if out := srv.stdout.String(); out != "" {
		t.Errorf("standard output %q, want nothing", out)
	}
	if strings.Contains(srv.stderr.String(), "tracing on") {
		t.Errorf("logs say tracing is on:\n%s", srv.stderr)
	}
}

func TestSetupTracing(t *testing.T) {
	tests := []struct {
		env      map[string]string
		wantOn   bool
		wantErr  string
		wantOpts int // Connect handler options
	}{
		{env: nil, wantOn: false},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "console"}, wantOn: true, wantOpts: 1},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "bogus"}, wantErr: `OTEL_TRACES_EXPORTER="bogus"`},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"},
			wantErr: `OTEL_EXPORTER_OTLP_PROTOCOL="carrier-pigeon"`},
		{env: map[string]string{"OTEL_PROPAGATORS": "w3c"}, wantErr: `OTEL_PROPAGATORS="w3c"`},
	}
	vars := []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_PROPAGATORS", "OTEL_SDK_DISABLED",
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.env), func(t *testing.T) {
			for _, v := range vars {
				t.Setenv(v, tt.env[v]) // empty counts as unset
			}
			tr, err := setupTracing(context.Background(), slog.New(slog.DiscardHandler))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			opts, err := tr.connectOptions()
			if err != nil || tr.on != tt.wantOn || len(opts) != tt.wantOpts {
				t.Errorf("on %t with %d Connect options (%v), want %t and %d", tr.on, len(opts), err, tt.wantOn, tt.wantOpts)
			}
			if err := tr.shutdown(context.Background()); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
}
