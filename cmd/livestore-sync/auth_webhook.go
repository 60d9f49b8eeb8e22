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
	"strings"
	"time"

	"github.com/livestore-sync/livestore-sync/service"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// defaultWebhookTimeout bounds one call to --auth-webhook.
const defaultWebhookTimeout = 2 * time.Second

// webhookRequest is the JSON body --auth-webhook receives for each connection.
type webhookRequest struct {
	StoreID   string              `json:"storeId"`
	Payload   json.RawMessage     `json:"payload"`
	Headers   map[string][]string `json:"headers"`
	Transport string              `json:"transport"`
}

// webhookAuth is a payload validator that asks the service at url: it POSTs the store id,
// the client's payload and the request's headers as JSON — all of them, or only those named in
// forward when it names any (--forward-headers) — and accepts the connection when the answer is
// 2xx within timeout. Anything else refuses it. Refusals are logged with their reason, never
// with the payload or headers; the client's error does not reveal the URL.
//
// The request carries the caller's trace (traceparent, … as prop writes it), so that the webhook's
// own spans join the trace of the connection it decides on.
func webhookAuth(url string, timeout time.Duration, forward []string, prop propagation.TextMapPropagator, log *slog.Logger) service.PayloadValidator {
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
	body := webhookRequest{StoreID: pc.StoreID, Payload: json.RawMessage("null"), Headers: map[string][]string(pc.Headers), Transport: pc.Transport}
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

// anyValidator accepts a connection when one of validators does, trying them in order and
// stopping at the first that accepts. When all refuse, its error gives each one's reason.
func anyValidator(validators ...service.PayloadValidator) service.PayloadValidator {
	if len(validators) == 1 {
		return validators[0]
	}
	return func(ctx context.Context, payload *structpb.Value, pc service.PayloadContext) error {
		var errs []error
		for _, v := range validators {
			err := v(ctx, payload, pc)
			if err == nil {
				return nil
			}
			errs = append(errs, err)
		}
		return allRefused(errs)
	}
}

// allRefused is the error of anyValidator when every validator refused.
type allRefused []error

func (e allRefused) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e allRefused) Unwrap() []error { return e }
