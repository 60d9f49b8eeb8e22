package auth

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

// HeaderCheck is the check of a Connect, gRPC or gRPC-Web call's Authorization: Bearer header
// that service.NewConnectGuard makes before reading its body (see Func). Its fields are those of
// the validators in service.Options.ValidatePayload that read tokens.
//
// Leave Tokens, JWTSecret and JWKS empty when that validator also accepts connections that
// carry none of their tokens (such as with a Webhook, which may judge cookies): then only
// AdminService calls are checked from headers.
type HeaderCheck struct {
	// Tokens are the tokens of StaticTokens.
	Tokens []string
	// JWTSecret is the secret of JWTSecret.
	JWTSecret []byte
	// JWKS is the key source of JWKS.
	JWKS KeySource
	// Claims are the claim checks of JWTSecret and JWKS.
	Claims JWTClaims
	// AdminSecret is the secret of service.AdminAuth: AdminService calls must carry it.
	AdminSecret string
}

// Func returns the check for service.ConnectGuardOptions.Authenticate, or nil when there is
// nothing to check from headers (no field set). It accepts an AdminService call whose bearer
// token is AdminSecret, and any other call whose bearer token one of Tokens, JWTSecret and JWKS
// accepts for some store; which store the call is for is in its body, for the validator to check
// once the body is read. Without Tokens, JWTSecret and JWKS, calls other than the AdminService's
// are not checked.
func (c HeaderCheck) Func() func(r *http.Request) error {
	var checks []func(ctx context.Context, token string) bool
	if len(c.Tokens) > 0 {
		checks = append(checks, func(_ context.Context, token string) bool { return oneOf(token, c.Tokens) })
	}
	if len(c.JWTSecret) > 0 {
		checks = append(checks, jwtAuthentic(hmacMethods, c.Claims, secretKey(c.JWTSecret)))
	}
	if c.JWKS != nil {
		checks = append(checks, jwtAuthentic(publicKeyMethods, c.Claims, c.JWKS))
	}
	if len(checks) == 0 && c.AdminSecret == "" {
		return nil
	}
	return func(r *http.Request) error {
		token := bearer(r.Header)
		switch {
		case strings.HasPrefix(r.URL.Path, "/"+syncv1connect.AdminServiceName+"/"):
			if c.AdminSecret != "" && token != "" && oneOf(token, []string{c.AdminSecret}) {
				return nil
			}
			return errors.New("missing or wrong admin secret in the Authorization header")
		case len(checks) == 0:
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
// finds, with the exp, nbf and c checks of the JWT validators; which store it allows is left to
// the payload validator.
func jwtAuthentic(methods []string, c JWTClaims, keys KeySource) func(ctx context.Context, token string) bool {
	parser := jwt.NewParser(c.parserOptions(methods)...)
	return func(ctx context.Context, token string) bool {
		_, err := parser.ParseWithClaims(token, jwt.MapClaims{}, keys(ctx))
		return err == nil
	}
}
