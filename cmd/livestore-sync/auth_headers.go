package main

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/golang-jwt/jwt/v5"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
)

// errNoHeaderCredentials says why a Connect call's headers did not authenticate it.
var errNoHeaderCredentials = errors.New("missing or invalid auth token in the Authorization header")

// headerAuthenticator returns the check of a Connect, gRPC or gRPC-Web call's headers that
// service.NewConnectGuard makes before reading its body: the admin secret for the
// AdminService, and for the SyncService a bearer token that --auth-token or one of the JWT modes
// accepts for some store (which store the call is for is in its body: the payload validator
// checks that once the body is read). Nil when nothing can be checked from headers alone: no
// authentication, or an --auth-webhook (which is asked about the whole request).
func headerAuthenticator(cfg serveConfig, jwks keySource) func(r *http.Request) error {
	var checks []func(ctx context.Context, token string) bool
	if len(cfg.authTokens) > 0 {
		checks = append(checks, func(_ context.Context, token string) bool { return oneOf(token, cfg.authTokens) })
	}
	if cfg.jwtSecret != "" {
		key := func(*jwt.Token) (any, error) { return []byte(cfg.jwtSecret), nil }
		checks = append(checks, jwtAuthentic(hmacMethods, cfg.jwtChecks, func(context.Context) jwt.Keyfunc { return key }))
	}
	if jwks != nil {
		checks = append(checks, jwtAuthentic(publicKeyMethods, cfg.jwtChecks, jwks))
	}
	syncAuth := len(checks) > 0 && cfg.webhookURL == ""
	if !syncAuth && cfg.adminSecret == "" {
		return nil
	}
	return func(r *http.Request) error {
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case strings.HasPrefix(r.URL.Path, "/"+syncv1connect.AdminServiceName+"/"):
			if cfg.adminSecret != "" && token != "" && oneOf(token, []string{cfg.adminSecret}) {
				return nil
			}
			return errors.New("missing or wrong admin secret in the Authorization header")
		case !syncAuth:
			return nil
		}
		for _, ok := range checks {
			if token != "" && ok(r.Context(), token) {
				return nil
			}
		}
		return errNoHeaderCredentials
	}
}

// jwtAuthentic returns a check that a token is a JWT signed with one of methods by the key keys
// finds, with the exp, nbf, iss and aud checks of the JWT modes; which store it allows is left to
// the payload validator.
func jwtAuthentic(methods []string, checks jwtChecks, keys keySource) func(ctx context.Context, token string) bool {
	parser := jwt.NewParser(checks.parserOptions(methods)...)
	return func(ctx context.Context, token string) bool {
		_, err := parser.ParseWithClaims(token, jwt.MapClaims{}, keys(ctx))
		return err == nil
	}
}
