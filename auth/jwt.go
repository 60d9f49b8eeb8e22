package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/livestore-sync/livestore-sync/service"
	"google.golang.org/protobuf/types/known/structpb"
)

// jwtLeeway is the clock skew allowed when checking a JWT's exp and nbf claims.
const jwtLeeway = 30 * time.Second

// hmacMethods are the signing algorithms JWTSecret accepts: HMAC only, never "none".
var hmacMethods = []string{"HS256", "HS384", "HS512"}

// publicKeyMethods are the signing algorithms JWKS accepts: RSA, RSA-PSS, ECDSA and Ed25519,
// never HMAC (a public key must not be usable as an HMAC secret) nor "none".
var publicKeyMethods = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// errNoJWT is the answer to a connection that sent no token at all.
var errNoJWT = errors.New("missing auth token: send a JWT as payload.authToken or Authorization: Bearer")

// JWTClaims are the claim checks of JWTSecret and JWKS besides exp, nbf and the store. The zero
// value checks none of them.
type JWTClaims struct {
	// Issuer, when set, is the iss claim a token must carry.
	Issuer string
	// Audience, when set, is a value the token's aud claim must hold.
	Audience string
}

// parserOptions returns the jwt parser options of methods and c: exp required, nbf honoured,
// both with jwtLeeway.
func (c JWTClaims) parserOptions(methods []string) []jwt.ParserOption {
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithExpirationRequired(), jwt.WithLeeway(jwtLeeway)}
	if c.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(c.Issuer))
	}
	if c.Audience != "" {
		opts = append(opts, jwt.WithAudience(c.Audience))
	}
	return opts
}

// JWTSecret returns a validator that accepts a connection whose token (payload.authToken or
// Authorization: Bearer) is a JWT signed with HS256, HS384 or HS512 by secret, carrying an exp
// claim not in the past (nbf honoured; both with 30s of leeway), the claims c asks for, and
// allowing the requested store: a storeId claim equal to it, or a stores claim listing it or
// "*". Its errors say why a token failed without repeating it.
func JWTSecret(secret []byte, c JWTClaims) service.PayloadValidator {
	return jwtValidator(hmacMethods, c, secretKey(secret))
}

// secretKey is the KeySource of an HMAC secret.
func secretKey(secret []byte) KeySource {
	key := func(*jwt.Token) (any, error) { return secret, nil }
	return func(context.Context) jwt.Keyfunc { return key }
}

// KeySource returns the function that finds a token's verification key, for a request's
// context (a key set may be fetched for it). LoadJWKS returns one.
type KeySource func(ctx context.Context) jwt.Keyfunc

// jwtValidator is a payload validator of JWTs signed with one of methods by the key that keys
// find, with the checks of JWTSecret and c.
func jwtValidator(methods []string, c JWTClaims, keys KeySource) service.PayloadValidator {
	parser := jwt.NewParser(c.parserOptions(methods)...)
	return func(ctx context.Context, payload *structpb.Value, pc service.PayloadContext) error {
		tokens := candidates(payload, pc.Headers)
		if len(tokens) == 0 {
			return errNoJWT
		}
		key := keys(ctx)
		var first error
		for _, t := range tokens {
			err := checkJWT(parser, c, methods, key, t, pc.StoreID)
			if err == nil {
				return nil
			}
			if first == nil {
				first = err
			}
		}
		return first
	}
}

// checkJWT verifies one token for storeID, returning why it is refused.
func checkJWT(parser *jwt.Parser, c JWTClaims, methods []string, key jwt.Keyfunc, raw, storeID string) error {
	claims := jwt.MapClaims{}
	token, err := parser.ParseWithClaims(raw, claims, key)
	if err != nil {
		return c.reason(token, claims, methods, err)
	}
	if id, ok := claims["storeId"].(string); ok && id == storeID {
		return nil
	}
	if stores, ok := claims["stores"].([]any); ok && slices.ContainsFunc(stores, func(s any) bool {
		return s == storeID || s == "*"
	}) {
		return nil
	}
	_, hasID := claims["storeId"]
	_, hasStores := claims["stores"]
	if !hasID && !hasStores {
		return errors.New("invalid auth JWT: it has neither a storeId nor a stores claim")
	}
	return fmt.Errorf("auth JWT does not allow store %q", storeID)
}

// reason turns a parse error into a short reason that does not repeat the token.
func (c JWTClaims) reason(token *jwt.Token, claims jwt.MapClaims, methods []string, err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errors.New("invalid auth JWT: malformed token")
	case token != nil && !slices.Contains(methods, fmt.Sprint(token.Header["alg"])):
		return fmt.Errorf("invalid auth JWT: algorithm %q not allowed (want one of %s)",
			truncate(fmt.Sprint(token.Header["alg"]), 16), strings.Join(methods, ", "))
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// The key function failed: no key in the key set for the token's kid (or its alg or
		// use do not match the key's).
		kid, _ := token.Header["kid"].(string)
		return fmt.Errorf("invalid auth JWT: no key to verify it (kid %q)", truncate(kid, 64))
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return errors.New("invalid auth JWT: wrong signature")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && claims["exp"] == nil:
		return errors.New("invalid auth JWT: it has no exp claim")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.Issuer != "" && claims["iss"] == nil:
		return errors.New("auth JWT from another issuer (it has no iss claim)")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.Audience != "" && claims["aud"] == nil:
		return errors.New("auth JWT for another audience (it has no aud claim)")
	case errors.Is(err, jwt.ErrTokenExpired):
		return errors.New("auth JWT expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return errors.New("auth JWT not valid yet (nbf)")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errors.New("auth JWT from another issuer (iss)")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return errors.New("auth JWT for another audience (aud)")
	default:
		return errors.New("invalid auth JWT: bad claims")
	}
}

// truncate shortens s, which a client chose, to at most n bytes for a message.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
