package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// PayloadContext is what a payload validator learns about a connection besides its payload.
type PayloadContext struct {
	// StoreID is the store the connection is for.
	StoreID string
	// Headers are all the request's headers (for a WebSocket, its upgrade request's).
	Headers http.Header
	// Transport names the transport ("ws", "http", "connect", "grpc", "grpcweb").
	Transport string
}

// PayloadValidator checks a client's payload when it connects: the counterpart of the original's
// validatePayload. An error rejects the connection before anything reaches the store.
type PayloadValidator func(ctx context.Context, payload *structpb.Value, pc PayloadContext) error

// PayloadRejectedError is a connection refused by the payload validator. Transports answer it
// at connection time: LiveStore's transports with 400 and the message (as the original), Connect
// with Unauthenticated (or the code of a *connect.Error the validator returned).
type PayloadRejectedError struct {
	// Err is the validator's error.
	Err error
}

func (e *PayloadRejectedError) Error() string { return fmt.Sprintf("payload rejected: %v", e.Err) }

// Unwrap returns the validator's error.
func (e *PayloadRejectedError) Unwrap() error { return e.Err }

// ValidatePayload runs the configured payload validator for a connection to storeID; nil when
// none is configured or it accepts. Transports call it once per connection (WebSocket upgrade,
// HTTP request, Connect call), before any other work.
//
// It first refuses, with an *InvalidRequestError, a store id that no push or pull could use (too
// long, or not valid UTF-8), so that such a connection ends before it starts.
func (s *Service) ValidatePayload(ctx context.Context, storeID string, payload *structpb.Value, info RequestInfo) error {
	if err := s.checkStoreIDText(storeID); err != nil {
		return err
	}
	if s.validatePayload == nil {
		return nil
	}
	if err := s.validatePayload(ctx, payload, PayloadContext{StoreID: storeID, Headers: info.Headers, Transport: info.Transport}); err != nil {
		return &PayloadRejectedError{Err: err}
	}
	return nil
}

// TypedPayload returns a PayloadValidator that first decodes the client payload (JSON) into a T,
// refusing payloads that do not decode, then calls validate with it: the counterpart of the
// original's syncPayloadSchema. A missing payload decodes as T's zero value. Unknown fields are
// refused, so that a misspelt field is not silently ignored.
func TypedPayload[T any](validate func(ctx context.Context, payload T, pc PayloadContext) error) PayloadValidator {
	return func(ctx context.Context, payload *structpb.Value, pc PayloadContext) error {
		var v T
		if payload != nil {
			raw, err := protojson.Marshal(payload)
			if err != nil {
				return fmt.Errorf("payload: %w", err)
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&v); err != nil {
				return fmt.Errorf("payload does not match %T: %w", v, err)
			}
		}
		return validate(ctx, v, pc)
	}
}
