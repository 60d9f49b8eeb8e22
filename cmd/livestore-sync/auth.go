package main

import (
	"log/slog"
	"net/http"

	"github.com/livestore-sync/livestore-sync/auth"
	"github.com/livestore-sync/livestore-sync/service"
	"go.opentelemetry.io/otel/propagation"
)

// payloadValidator combines the configured auth modes into one validator that accepts a
// connection when any of them does: the cheap local checks first, the webhook last. Nil when
// none is configured.
func payloadValidator(cfg serveConfig, jwks auth.KeySource, prop propagation.TextMapPropagator, log *slog.Logger) service.PayloadValidator {
	var validators []service.PayloadValidator
	if len(cfg.authTokens) > 0 {
		validators = append(validators, auth.StaticTokens(cfg.authTokens))
	}
	if cfg.jwtSecret != "" {
		validators = append(validators, auth.JWTSecret([]byte(cfg.jwtSecret), cfg.jwtClaims))
	}
	if jwks != nil {
		validators = append(validators, auth.JWKS(jwks, cfg.jwtClaims))
	}
	if cfg.webhookURL != "" {
		validators = append(validators, auth.Webhook(cfg.webhookURL, auth.WebhookOptions{
			Timeout: cfg.webhookWait, ForwardHeaders: cfg.forwardHdrs, Propagator: prop, Logger: log,
		}))
	}
	if len(validators) == 0 {
		return nil
	}
	return auth.Any(validators...)
}

// headerCheck returns the check of Connect calls' headers before their body is read: the admin
// secret, and the tokens payloadValidator accepts unless an --auth-webhook (which may accept a
// call without any of them) is configured. Nil when there is nothing to check.
func headerCheck(cfg serveConfig, jwks auth.KeySource) func(r *http.Request) error {
	check := auth.HeaderCheck{AdminSecret: cfg.adminSecret}
	if cfg.webhookURL == "" {
		check.Tokens, check.JWTSecret, check.JWKS, check.Claims = cfg.authTokens, []byte(cfg.jwtSecret), jwks, cfg.jwtClaims
	}
	return check.Func()
}
