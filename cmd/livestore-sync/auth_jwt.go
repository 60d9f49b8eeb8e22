package main

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

// jwtMethods are the signing algorithms --auth-jwt-secret accepts: HMAC only, never "none".
var jwtMethods = []string{"HS256", "HS384", "HS512"}

// errNoJWT is the answer to a connection that sent no token at all.
var errNoJWT = errors.New("missing auth token: send a JWT as payload.authToken or Authorization: Bearer")

// authCandidates returns the non-empty tokens a connection sent: payload.authToken, then the
// Authorization header's bearer token.
func authCandidates(payload *structpb.Value, pc service.PayloadContext) []string {
	var out []string
	if t := payload.GetStructValue().GetFields()["authToken"].GetStringValue(); t != "" {
		out = append(out, t)
	}
	if bearer, ok := strings.CutPrefix(pc.Headers.Get("Authorization"), "Bearer "); ok && bearer != "" {
		out = append(out, bearer)
	}
	return out
}

// jwtTokens is a payload validator that accepts a connection whose token (payload.authToken or
// Authorization: Bearer) is a JWT signed with HS256, HS384 or HS512 by secret, carrying an exp
// claim not in the past (nbf honoured; both with jwtLeeway), and allowing the requested store:
// a storeId claim equal to it, or a stores claim listing it or "*". Its errors say why a token
// failed without repeating it.
func jwtTokens(secret []byte) service.PayloadValidator {
	parser := jwt.NewParser(jwt.WithValidMethods(jwtMethods), jwt.WithExpirationRequired(), jwt.WithLeeway(jwtLeeway))
	return func(_ context.Context, payload *structpb.Value, pc service.PayloadContext) error {
		candidates := authCandidates(payload, pc)
		if len(candidates) == 0 {
			return errNoJWT
		}
		var first error
		for _, c := range candidates {
			err := checkJWT(parser, secret, c, pc.StoreID)
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
func checkJWT(parser *jwt.Parser, secret []byte, raw, storeID string) error {
	claims := jwt.MapClaims{}
	token, err := parser.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return secret, nil })
	if err != nil {
		return jwtReason(token, err)
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

// jwtReason turns a parse error into a short reason that does not repeat the token.
func jwtReason(token *jwt.Token, err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errors.New("invalid auth JWT: malformed token")
	case token != nil && !slices.Contains(jwtMethods, fmt.Sprint(token.Header["alg"])):
		alg := fmt.Sprint(token.Header["alg"])
		if len(alg) > 16 {
			alg = alg[:16] + "…"
		}
		return fmt.Errorf("invalid auth JWT: algorithm %q not allowed (want one of %s)", alg, strings.Join(jwtMethods, ", "))
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return errors.New("invalid auth JWT: wrong signature")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return errors.New("invalid auth JWT: it has no exp claim")
	case errors.Is(err, jwt.ErrTokenExpired):
		return errors.New("auth JWT expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return errors.New("auth JWT not valid yet (nbf)")
	default:
		return errors.New("invalid auth JWT: bad claims")
	}
}
