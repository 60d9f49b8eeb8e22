package auth

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/livestore-sync/livestore-sync/internal/jwttest"
	"github.com/livestore-sync/livestore-sync/service"
	"google.golang.org/protobuf/types/known/structpb"
)

func validateToken(v service.PayloadValidator, token, storeID string) error {
	payload, _ := structpb.NewValue(map[string]any{"authToken": token})
	return v(context.Background(), payload, service.PayloadContext{StoreID: storeID, Headers: http.Header{}, Transport: "ws"})
}

func TestJWKSFromFile(t *testing.T) {
	t.Parallel()
	keys := jwttest.NewKeys(t)
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, jwttest.JWKS(t, keys["rsa"], keys["ec"], keys["ed"]), 0o600); err != nil {
		t.Fatal(err)
	}
	kf, err := LoadJWKS(context.Background(), file, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	validate := JWKS(kf, JWTClaims{Issuer: "https://issuer.example", Audience: "livestore"})
	exp := time.Now().Add(time.Hour).Unix()
	claims := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"storeId": "s1", "exp": exp, "iss": "https://issuer.example", "aud": "livestore"}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	hmacWithPublicKey := func() string {
		// The algorithm-confusion attack: HS256 with the public key's bytes as the secret.
		pub, _ := json.Marshal(keys["rsa"].Private.Public())
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
		tok.Header["kid"] = "rsa-1"
		s, _ := tok.SignedString(pub)
		return s
	}
	for _, tt := range []struct {
		name, token, wantErr string
	}{
		{"RS256", keys["rsa"].Sign(t, "rsa-1", claims(nil)), ""},
		{"ES256", keys["ec"].Sign(t, "ec-1", claims(nil)), ""},
		{"EdDSA", keys["ed"].Sign(t, "ed-1", claims(nil)), ""},
		{"audience in a list", keys["rsa"].Sign(t, "rsa-1", claims(jwt.MapClaims{"aud": []string{"x", "livestore"}})), ""},
		{"stores claim", keys["rsa"].Sign(t, "rsa-1", claims(jwt.MapClaims{"storeId": nil, "stores": []string{"s1"}})), ""},
		{"unknown kid", keys["other"].Sign(t, "other-1", claims(nil)), `no key to verify it (kid "other-1")`},
		{"signed by another key under a known kid", keys["other"].Sign(t, "rsa-1", claims(nil)), "wrong signature"},
		{"kid of a key of another algorithm", keys["rsa"].Sign(t, "ec-1", claims(nil)), "no key to verify it"},
		{"HMAC with the public key", hmacWithPublicKey(), `algorithm "HS256" not allowed`},
		{"expired", keys["rsa"].Sign(t, "rsa-1", claims(jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()})), "expired"},
		{"other store", keys["rsa"].Sign(t, "rsa-1", claims(jwt.MapClaims{"storeId": "s2"})), `does not allow store "s1"`},
		{"other issuer", keys["rsa"].Sign(t, "rsa-1", claims(jwt.MapClaims{"iss": "https://evil.example"})), "another issuer"},
		{"no issuer", keys["rsa"].Sign(t, "rsa-1", claims(jwt.MapClaims{"iss": nil})), "another issuer"},
		{"other audience", keys["rsa"].Sign(t, "rsa-1", claims(jwt.MapClaims{"aud": "billing"})), "another audience"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := validateToken(validate, tt.token, "s1")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadJWKSErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notJWKS := filepath.Join(dir, "bad.json")
	os.WriteFile(notJWKS, []byte(`{"keys": "nope"}`), 0o600)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	for _, tt := range []struct{ name, source, wantErr string }{
		{"missing file", filepath.Join(dir, "missing.json"), "no such file"},
		{"not a key set", notJWKS, "not a JSON Web Key Set"},
		{"URL failing", down.URL + "/jwks?secret=s3cr3t", "fetching " + down.URL + "/jwks"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := LoadJWKS(ctx, tt.source, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("the error shows the URL's query: %v", err)
			}
		})
	}
}

// TestJWKSFromURLFollowsRotation checks that a key added to the key set at its URL is
// picked up when a token first names it.
func TestJWKSFromURLFollowsRotation(t *testing.T) {
	t.Parallel()
	keys := jwttest.NewKeys(t)
	jwks := jwttest.NewServer(t, jwttest.JWKS(t, keys["rsa"]))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kf, err := LoadJWKS(ctx, jwks.URL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	validate := JWKS(kf, JWTClaims{})
	claims := jwt.MapClaims{"storeId": "s1", "exp": time.Now().Add(time.Hour).Unix()}
	if err := validateToken(validate, keys["rsa"].Sign(t, "rsa-1", claims), "s1"); err != nil {
		t.Fatalf("token of the first key: %v", err)
	}
	fetches := jwks.Fetches.Load()

	jwks.Set(jwttest.JWKS(t, keys["rsa"], keys["ec"])) // the identity provider adds a key
	if err := validateToken(validate, keys["ec"].Sign(t, "ec-1", claims), "s1"); err != nil {
		t.Fatalf("token of the added key: %v", err)
	}
	if got := jwks.Fetches.Load(); got != fetches+1 {
		t.Errorf("%d fetches for the new kid, want 1", got-fetches)
	}
	// An unknown kid right after does not make the server fetch again (rate limit).
	if err := validateToken(validate, keys["other"].Sign(t, "other-1", claims), "s1"); err == nil {
		t.Fatal("token of a key not in the set accepted")
	}
	if got := jwks.Fetches.Load(); got != fetches+1 {
		t.Errorf("unknown kids made the server fetch %d times, want once per %s", got-fetches, jwksUnknownKIDInterval)
	}
}
