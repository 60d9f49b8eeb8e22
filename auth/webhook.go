package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/livestore-sync/livestore-sync/service"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// DefaultWebhookTimeout bounds one call of a Webhook whose options give no Timeout.
const DefaultWebhookTimeout = 2 * time.Second

// WebhookRequest is the JSON body a Webhook POSTs for each connection.
type WebhookRequest struct {
	// StoreID is the store the connection is for.
	StoreID string `json:"storeId"`
	// Payload is the client's payload (LiveStore's syncPayload), null when it sent none.
	Payload json.RawMessage `json:"payload"`
	// Headers are the request's headers (for a WebSocket, its upgrade's), all of them or those
	// that WebhookOptions.ForwardHeaders names.
	Headers map[string][]string `json:"headers"`
	// Transport names the transport, as service.PayloadContext.Transport does.
	Transport string `json:"transport"`
}

// WebhookOptions configures Webhook. The zero value is ready to use.
type WebhookOptions struct {
	// Timeout bounds one call of the webhook; zero or negative: DefaultWebhookTimeout.
	Timeout time.Duration
	// ForwardHeaders names the request headers (case-insensitive) the webhook receives; empty:
	// every header.
	ForwardHeaders []string
	// Propagator writes the caller's trace into the webhook request's headers (traceparent, …),
	// so that the webhook's own spans join the trace of the connection it decides on. Nil: the
	// global propagator (otel.GetTextMapPropagator()).
	Propagator propagation.TextMapPropagator
	// Logger receives a line (component=auth-webhook) for every connection the webhook refuses
	// or fails to decide on, with the reason, never the payload or headers. Nil: slog.Default().
	Logger *slog.Logger
}

// Webhook returns a validator that asks the service at url: it POSTs a WebhookRequest as JSON
// and accepts the connection when the answer is 2xx within opts.Timeout. Anything else refuses
// it; the client's error says why (such as "HTTP 403 Forbidden") without revealing the URL.
func Webhook(url string, opts WebhookOptions) service.PayloadValidator {
	timeout, forward, prop, log := opts.Timeout, opts.ForwardHeaders, opts.Propagator, opts.Logger
	if timeout <= 0 {
		timeout = DefaultWebhookTimeout
	}
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "auth-webhook")
	client := &http.Client{Timeout: timeout}
	return func(ctx context.Context, payload *structpb.Value, pc service.PayloadContext) error {
		if len(forward) > 0 {
			kept := http.Header{}
			for _, name := range forward {
				if v := pc.Headers.Values(name); len(v) > 0 {
					kept[http.CanonicalHeaderKey(name)] = v
				}
			}
			pc.Headers = kept
		}
		err := callWebhook(ctx, client, url, timeout, prop, payload, pc)
		if err != nil {
			var refused *webhookRefusal
			if errors.As(err, &refused) {
				log.Info("auth webhook refused a connection", "store_id", pc.StoreID, "transport", pc.Transport, "reason", err)
				return err
			}
			log.Warn("auth webhook failed; connection refused", "store_id", pc.StoreID, "transport", pc.Transport, "reason", err)
			if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
				return fmt.Errorf("auth webhook did not answer within %s", timeout)
			}
			return errors.New("auth webhook unavailable")
		}
		return nil
	}
}

// webhookRefusal is a non-2xx answer from the webhook.
type webhookRefusal struct{ status int }

func (e *webhookRefusal) Error() string {
	return fmt.Sprintf("auth webhook refused the connection (HTTP %d %s)", e.status, http.StatusText(e.status))
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

func callWebhook(ctx context.Context, client *http.Client, url string, timeout time.Duration,
	prop propagation.TextMapPropagator, payload *structpb.Value, pc service.PayloadContext) error {
	body := WebhookRequest{StoreID: pc.StoreID, Payload: json.RawMessage("null"), Headers: map[string][]string(pc.Headers), Transport: pc.Transport}
	if body.Headers == nil {
		body.Headers = map[string][]string{}
	}
	if payload != nil {
		b, err := protojson.Marshal(payload)
		if err != nil {
			return fmt.Errorf("encode payload: %w", err)
		}
		body.Payload = b
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection can be reused
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &webhookRefusal{status: resp.StatusCode}
	}
	return nil
}
