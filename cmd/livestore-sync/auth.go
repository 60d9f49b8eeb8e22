package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"strings"

	"github.com/livestore-sync/livestore-sync/service"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/types/known/structpb"
)

// listFlag is a flag that may be given several times, each value also split at commas.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

// errBadToken is the answer to a connection without one of the configured tokens. It names no
// token.
var errBadToken = errors.New("missing or invalid auth token: send it as payload.authToken or Authorization: Bearer")

// staticTokens is a payload validator that accepts a connection whose client payload has an
// authToken, or whose Authorization header has a bearer token, equal to one of tokens. The
// comparison takes the same time whatever the tokens hold.
func staticTokens(tokens []string) service.PayloadValidator {
	return func(_ context.Context, payload *structpb.Value, pc service.PayloadContext) error {
		candidates := []string{payload.GetStructValue().GetFields()["authToken"].GetStringValue()}
		if bearer, ok := strings.CutPrefix(pc.Headers.Get("Authorization"), "Bearer "); ok {
			candidates = append(candidates, bearer)
		}
		for _, c := range candidates {
			if c != "" && oneOf(c, tokens) {
				return nil
			}
		}
		return errBadToken
	}
}

// oneOf reports whether s equals one of list, comparing every entry in constant time.
func oneOf(s string, list []string) bool {
	found := 0
	for _, t := range list {
		found |= subtle.ConstantTimeCompare([]byte(s), []byte(t))
	}
	return found == 1
}

// payloadValidator combines the configured auth modes into one validator that accepts a
// connection when any of them does: the cheap local checks first, the webhook last. Nil when
// none is configured.
func payloadValidator(cfg serveConfig, jwks keySource, prop propagation.TextMapPropagator, log *slog.Logger) service.PayloadValidator {
	var validators []service.PayloadValidator
	if len(cfg.authTokens) > 0 {
		validators = append(validators, staticTokens(cfg.authTokens))
	}
	if cfg.jwtSecret != "" {
		validators = append(validators, jwtTokens([]byte(cfg.jwtSecret), cfg.jwtChecks))
	}
	if jwks != nil {
		validators = append(validators, jwksTokens(jwks, cfg.jwtChecks))
	}
	if cfg.webhookURL != "" {
		validators = append(validators, webhookAuth(cfg.webhookURL, cfg.webhookWait, cfg.forwardHdrs, prop, log.With("component", "auth-webhook")))
	}
	if len(validators) == 0 {
		return nil
	}
	return anyValidator(validators...)
}
