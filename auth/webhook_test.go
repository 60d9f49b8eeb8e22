package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/livestore-sync/livestore-sync/service"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestWebhook(t *testing.T) {
	t.Parallel()
	type received struct {
		method, contentType string
		body                WebhookRequest
	}
	got := make(chan received, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body WebhookRequest
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		got <- received{r.Method, r.Header.Get("Content-Type"), body}
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusOK)
		case "/no-content":
			w.WriteHeader(http.StatusNoContent)
		case "/forbidden":
			http.Error(w, "store closed", http.StatusForbidden)
		case "/slow":
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer hook.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	payload, _ := structpb.NewValue(map[string]any{"authToken": "secret-token", "n": 1})
	headers := http.Header{"Authorization": {"Bearer abc"}, "X-Tenant": {"a", "b"}, "Cookie": {"sid=1"}}
	for _, tt := range []struct {
		name    string
		url     string
		wantErr string // "" to accept
		wantLog string
	}{
		{"200 allows", hook.URL + "/ok", "", ""},
		{"204 allows", hook.URL + "/no-content", "", ""},
		{"403 refuses", hook.URL + "/forbidden", "HTTP 403 Forbidden", "level=INFO"},
		{"404 refuses", hook.URL + "/missing", "HTTP 404", "level=INFO"},
		{"timeout refuses", hook.URL + "/slow", "did not answer within 200ms", "level=WARN"},
		{"unreachable refuses", deadURL, "auth webhook unavailable", "level=WARN"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			validate := Webhook(tt.url, WebhookOptions{Timeout: 200 * time.Millisecond, Propagator: propagation.TraceContext{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			pc := service.PayloadContext{StoreID: "s1", Headers: headers, Transport: "ws"}
			start := time.Now()
			err := validate(context.Background(), payload, pc)
			if time.Since(start) > 3*time.Second {
				t.Fatalf("the webhook call took %v", time.Since(start))
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "127.0.0.1"):
				t.Fatalf("the client's error reveals the webhook's address: %v", err)
			}
			if tt.wantLog != "" && (!strings.Contains(logs.String(), tt.wantLog) || !strings.Contains(logs.String(), "store_id=s1")) {
				t.Fatalf("log lacks %q and store_id=s1:\n%s", tt.wantLog, logs.String())
			}
			for _, secret := range []string{"secret-token", "abc", "sid=1"} {
				if strings.Contains(logs.String(), secret) {
					t.Fatalf("log holds %q:\n%s", secret, logs.String())
				}
			}
			if tt.url == deadURL {
				return
			}
			r := <-got
			if r.method != http.MethodPost || r.contentType != "application/json" {
				t.Fatalf("webhook got %s with Content-Type %q", r.method, r.contentType)
			}
			if r.body.StoreID != "s1" || r.body.Transport != "ws" {
				t.Fatalf("webhook body: storeId %q transport %q", r.body.StoreID, r.body.Transport)
			}
			var p map[string]any
			if err := json.Unmarshal(r.body.Payload, &p); err != nil || p["authToken"] != "secret-token" || p["n"] != 1.0 {
				t.Fatalf("webhook payload %s (%v)", r.body.Payload, err)
			}
			if !reflect.DeepEqual(r.body.Headers, map[string][]string(headers)) {
				t.Fatalf("webhook headers %v, want %v", r.body.Headers, headers)
			}
		})
	}
}

// TestWebhookForwardHeaders checks that with ForwardHeaders the webhook receives only
// the headers named.
func TestWebhookForwardHeaders(t *testing.T) {
	t.Parallel()
	got := make(chan WebhookRequest, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body WebhookRequest
		json.NewDecoder(r.Body).Decode(&body)
		got <- body
	}))
	defer hook.Close()
	validate := Webhook(hook.URL, WebhookOptions{Timeout: time.Second, ForwardHeaders: []string{"cookie", "X-Missing"}, Propagator: propagation.TraceContext{}, Logger: slog.New(slog.DiscardHandler)})
	headers := http.Header{"Authorization": {"Bearer abc"}, "Cookie": {"sid=1", "theme=dark"}, "Sec-Websocket-Key": {"k"}}
	if err := validate(context.Background(), nil, service.PayloadContext{StoreID: "s", Headers: headers}); err != nil {
		t.Fatal(err)
	}
	if want := map[string][]string{"Cookie": {"sid=1", "theme=dark"}}; !reflect.DeepEqual((<-got).Headers, want) {
		t.Fatalf("webhook headers, want only %v", want)
	}
}

func TestWebhookNilPayload(t *testing.T) {
	t.Parallel()
	var raw string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		buf.ReadFrom(r.Body)
		raw = buf.String()
	}))
	defer hook.Close()
	err := Webhook(hook.URL, WebhookOptions{Timeout: time.Second, Propagator: propagation.TraceContext{}, Logger: slog.New(slog.DiscardHandler)})(context.Background(), nil, service.PayloadContext{StoreID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"storeId":"s","payload":null,"headers":{},"transport":""}`; raw != want {
		t.Fatalf("body %s, want %s", raw, want)
	}
}

// TestWebhookCarriesTrace checks that the webhook request continues the caller's trace.
func TestWebhookCarriesTrace(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("traceparent")
	}))
	defer hook.Close()
	const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	prop := propagation.TraceContext{}
	ctx := prop.Extract(context.Background(), propagation.HeaderCarrier(http.Header{"Traceparent": {traceparent}}))
	validate := Webhook(hook.URL, WebhookOptions{Timeout: time.Second, Propagator: prop, Logger: slog.New(slog.DiscardHandler)})
	if err := validate(ctx, nil, service.PayloadContext{StoreID: "s"}); err != nil {
		t.Fatal(err)
	}
	if tp := <-got; tp != traceparent {
		t.Fatalf("webhook got traceparent %q, want %q", tp, traceparent)
	}
}
