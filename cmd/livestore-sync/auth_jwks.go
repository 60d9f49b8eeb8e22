package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/livestore-sync/livestore-sync/service"
	"golang.org/x/time/rate"
)

// Limits of --auth-jwks when it is a URL.
const (
	// jwksRefreshInterval is how often the key set is fetched again, to follow key rotation.
	jwksRefreshInterval = time.Hour
	// jwksUnknownKIDInterval is how often, at most, a token whose kid is not in the key set
	// makes the server fetch the key set at once (a key that was just added).
	jwksUnknownKIDInterval = 5 * time.Minute
	// jwksFetchTimeout bounds one fetch of the key set.
	jwksFetchTimeout = 10 * time.Second
)

// jwksTokens is a payload validator of JWTs signed with a public key of the JSON Web Key Set
// keys (RS, PS, ES or EdDSA; the token's kid names the key), with the claim checks of jwtTokens.
func jwksTokens(keys keySource, checks jwtChecks) service.PayloadValidator {
	return jwtValidator(publicKeyMethods, checks, keys)
}

// loadJWKS loads the JSON Web Key Set of --auth-jwks: from a file, read once, or from an
// http(s) URL, fetched now (the server does not start when that fails) and then every
// jwksRefreshInterval, and when a token names a kid the set lacks (at most every
// jwksUnknownKIDInterval; that fetch ends with the request's context), until ctx is done. Failed
// refreshes are logged; the keys fetched last stay in use.
func loadJWKS(ctx context.Context, source string, log *slog.Logger) (keySource, error) {
	if !strings.HasPrefix(source, "http://") && !strings.HasPrefix(source, "https://") {
		raw, err := os.ReadFile(source)
		if err != nil {
			return nil, fmt.Errorf("--auth-jwks: %w", err)
		}
		kf, err := keyfunc.NewJWKSetJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("--auth-jwks %s: not a JSON Web Key Set: %w", source, err)
		}
		return kf.KeyfuncCtx, nil
	}
	shown := redactURL(source)
	storage, err := jwkset.NewStorageFromHTTP(source, jwkset.HTTPClientStorageOptions{
		Ctx:             ctx,
		Client:          &http.Client{Timeout: jwksFetchTimeout},
		HTTPTimeout:     jwksFetchTimeout,
		RefreshInterval: jwksRefreshInterval,
		RefreshErrorHandler: func(_ context.Context, err error) {
			log.Warn("auth-jwks: fetching the key set failed; keeping the keys fetched before", "url", shown, "err", err)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("--auth-jwks: fetching %s: %w", shown, err)
	}
	client, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{source: storage},
		RefreshUnknownKID: rate.NewLimiter(rate.Every(jwksUnknownKIDInterval), 1),
		// Bounds the fetch for an unknown kid; within jwksUnknownKIDInterval of the last one,
		// the token is refused at once rather than made to wait.
		RateLimitWaitMax: jwksFetchTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("--auth-jwks: %w", err)
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: client})
	if err != nil {
		return nil, fmt.Errorf("--auth-jwks: %w", err)
	}
	return kf.KeyfuncCtx, nil
}

// redactURL returns u without its user information and query, which may hold credentials, for
// logs.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User = nil
	p.RawQuery = ""
	return p.String()
}
