package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// serviceName is the service.name of the server's spans, unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES name another.
const serviceName = "livestore-sync"

// tracing is the server's OpenTelemetry set-up: a span for every RPC on every transport, sent
// where the standard OTEL_* environment variables say.
type tracing struct {
	provider   trace.TracerProvider
	propagator propagation.TextMapPropagator
	// on is whether spans are exported at all; off, provider is a no-op.
	on bool
	// shutdown flushes the spans not exported yet.
	shutdown func(context.Context) error
}

// tracingOn tells from the environment whether to trace. Tracing is off by default; it is on
// when OTEL_TRACES_EXPORTER names an exporter other than "none", or when an OTLP endpoint is
// set (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; the exporter is then
// OTLP). OTEL_SDK_DISABLED=true turns it off whatever else is set.
func tracingOn(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	if exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exp != "" {
		return exp != "none"
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// propagatorFromEnv returns the propagators OTEL_PROPAGATORS names (tracecontext, baggage, b3,
// b3multi, jaeger, xray, ottrace, none), or by default W3C trace context and baggage plus B3,
// which LiveStore's HTTP client sends besides traceparent. Reading B3 accepts both its single
// and multiple header forms. An unknown name is an error.
func propagatorFromEnv(getenv func(string) string) (propagation.TextMapPropagator, error) {
	env := strings.TrimSpace(getenv("OTEL_PROPAGATORS"))
	if env == "" {
		return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}, b3.New()), nil
	}
	var names []string
	for _, n := range strings.Split(env, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	p, err := autoprop.TextMapPropagator(names...)
	if err != nil {
		return nil, fmt.Errorf("OTEL_PROPAGATORS=%q: %w", env, err)
	}
	return p, nil
}

// setupTracing configures tracing from the environment (see tracingOn and propagatorFromEnv;
// the exporter follows OTEL_TRACES_EXPORTER and OTEL_EXPORTER_OTLP_*, the sampler
// OTEL_TRACES_SAMPLER, batching OTEL_BSP_*, the resource OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES). Errors of the OpenTelemetry SDK, such as a collector that cannot be
// reached, are logged as warnings.
func setupTracing(ctx context.Context, log *slog.Logger) (tracing, error) {
	getenv := os.Getenv // the SDK's parts read the environment themselves too
	prop, err := propagatorFromEnv(getenv)
	if err != nil {
		return tracing{}, err
	}
	off := tracing{provider: noop.NewTracerProvider(), propagator: prop, shutdown: func(context.Context) error { return nil }}
	if !tracingOn(getenv) {
		return off, nil
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("opentelemetry", "err", err)
	}))
	exporter, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return tracing{}, fmt.Errorf("tracing: OTEL_TRACES_EXPORTER=%q (otlp, console or none), OTEL_EXPORTER_OTLP_PROTOCOL=%q (http/protobuf or grpc): %w",
			getenv("OTEL_TRACES_EXPORTER"), getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", serviceName)),
		resource.WithFromEnv(), // after the default name, so that OTEL_SERVICE_NAME wins
		resource.WithTelemetrySDK())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return tracing{}, fmt.Errorf("tracing resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	log.Info("tracing on", "exporter", envDefault(getenv("OTEL_TRACES_EXPORTER"), "otlp"),
		"propagators", envDefault(getenv("OTEL_PROPAGATORS"), "tracecontext,baggage,b3"))
	return tracing{provider: tp, propagator: prop, on: true, shutdown: tp.Shutdown}, nil
}

func envDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// connectOptions returns the handler options that trace Connect, gRPC and gRPC-Web calls: a
// server span per call, the child of the caller's span when its headers (metadata) name one.
func (t tracing) connectOptions() ([]connect.HandlerOption, error) {
	if !t.on {
		return nil, nil
	}
	interceptor, err := otelconnect.NewInterceptor(
		otelconnect.WithTracerProvider(t.provider),
		otelconnect.WithPropagator(t.propagator),
		otelconnect.WithTrustRemote(), // continue the caller's trace, don't just link to it
		otelconnect.WithoutMetrics(),  // metrics are Prometheus's (/metrics)
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	return []connect.HandlerOption{connect.WithInterceptors(interceptor)}, nil
}
