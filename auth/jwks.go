package auth

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

// Limits of LoadJWKS when its source is a URL.
const (
	// jwksRefreshInterval is how often the key set is fetched again, to follow key rotation.
	jwksRefreshInterval = time.Hour
	// jwksUnknownKIDInterval is how often, at most, a token whose kid is not in the key set
	// makes the key set be fetched at once (a key that was just added).
	jwksUnknownKIDInterval = 5 * time.Minute
	// jwksFetchTimeout bounds one fetch of the key set.
	jwksFetchTimeout = 10 * time.Second
)

// JWKS returns a validator of JWTs signed with a public key that keys finds (RS, PS, ES or
// EdDSA; the token's kid names the key of a JSON Web Key Set), with the checks of JWTSecret.
// HMAC-signed tokens are refused, so that a public key can never serve as a secret.
func JWKS(keys KeySource, c JWTClaims) service.PayloadValidator {
	return jwtValidator(publicKeyMethods, c, keys)
}

// LoadJWKS loads a JSON Web Key Set for JWKS and HeaderCheck: from a file, read once, or from an
// http(s) URL, fetched now (it fails when that fails) and then every hour, and when a token names
// a kid the set lacks (at most every 5 minutes; that fetch ends with the request's context),
// until ctx is done. Failed refreshes are logged on log (nil: slog.Default()); the keys fetched
// last stay in use. Its errors and logs show the URL without its user information and query,
// which may hold credentials.
func LoadJWKS(ctx context.Context, source string, log *slog.Logger) (KeySource, error) {
	if !strings.HasPrefix(source, "http://") && !strings.HasPrefix(source, "https://") {
		raw, err := os.ReadFile(source)
		if err != nil {
			return nil, err
		}
		kf, err := keyfunc.NewJWKSetJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: not a JSON Web Key Set: %w", source, err)
		}
		return kf.KeyfuncCtx, nil
	}
	if log == nil {
		log = slog.Default()
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
		return nil, fmt.Errorf("fetching %s: %w", shown, err)
	}
	client, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{source: storage},
		RefreshUnknownKID: rate.NewLimiter(rate.Every(jwksUnknownKIDInterval), 1),
		// Bounds the fetch for an unknown kid; within jwksUnknownKIDInterval of the last one,
		// the token is refused at once rather than made to wait.
		RateLimitWaitMax: jwksFetchTimeout,
	})
	if err != nil {
		return nil, err
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: client})
	if err != nil {
		return nil, err
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
