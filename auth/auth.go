// Package auth provides payload validators and header checks for the sync service: the
// authentication of the livestore-sync binary, for programs that embed the sync backend.
//
// A validator (StaticTokens, JWTSecret, JWKS, Webhook, or several joined by Any) goes in
// service.Options.ValidatePayload and checks every connection once, on every transport, before
// anything reaches a store. Every mode but the webhook reads the client's token from its payload's
// authToken field (LiveStore's syncPayload) or else an Authorization: Bearer header; the
// errors say why a token was refused without repeating it.
//
// A HeaderCheck goes in service.ConnectGuardOptions.Authenticate: it checks a Connect, gRPC or
// gRPC-Web call's bearer token from its headers, before the body is read.
package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/livestore-sync/livestore-sync/service"
	"google.golang.org/protobuf/types/known/structpb"
)

// errBadToken is the answer to a connection without one of the configured tokens. It names no
// token.
var errBadToken = errors.New("missing or invalid auth token: send it as payload.authToken or Authorization: Bearer")

// StaticTokens returns a validator that accepts a connection whose token (payload.authToken or
// Authorization: Bearer) equals one of tokens. The comparison takes the same time whatever the
// tokens hold.
func StaticTokens(tokens []string) service.PayloadValidator {
	return func(_ context.Context, payload *structpb.Value, pc service.PayloadContext) error {
		for _, c := range candidates(payload, pc.Headers) {
			if oneOf(c, tokens) {
				return nil
			}
		}
		return errBadToken
	}
}

// Any returns a validator that accepts a connection when one of validators does, trying them in
// order and stopping at the first that accepts. When all refuse, its error gives each one's
// reason, and unwraps to each one's error. Any of no validators refuses every connection.
func Any(validators ...service.PayloadValidator) service.PayloadValidator {
	if len(validators) == 1 {
		return validators[0]
	}
	return func(ctx context.Context, payload *structpb.Value, pc service.PayloadContext) error {
		if len(validators) == 0 {
			return errNoValidator
		}
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

// errNoValidator is the answer of Any() without validators.
var errNoValidator = errors.New("no authentication accepts connections")

// allRefused is the error of Any when every validator refused.
type allRefused []error

func (e allRefused) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e allRefused) Unwrap() []error { return e }

// candidates returns the non-empty tokens a connection sent, in the order every mode tries them:
// payload.authToken, then the bearer token of headers.
func candidates(payload *structpb.Value, headers http.Header) []string {
	var out []string
	if t := payload.GetStructValue().GetFields()["authToken"].GetStringValue(); t != "" {
		out = append(out, t)
	}
	if t := bearer(headers); t != "" {
		out = append(out, t)
	}
	return out
}

// bearer returns the token of headers' Authorization: Bearer, or "" when there is none.
func bearer(headers http.Header) string {
	token, ok := strings.CutPrefix(headers.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return token
}

// oneOf reports whether s equals one of list, comparing every entry in constant time.
func oneOf(s string, list []string) bool {
	found := 0
	for _, t := range list {
		found |= subtle.ConstantTimeCompare([]byte(s), []byte(t))
	}
	return found == 1
}
