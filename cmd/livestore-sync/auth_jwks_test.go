package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"github.com/livestore-sync/livestore-sync/service"
	"google.golang.org/protobuf/types/known/structpb"
)

// signingKey is a test key pair with its kid and JWS algorithm.
type signingKey struct {
	kid     string
	alg     jwkset.ALG
	method  jwt.SigningMethod
	private crypto.Signer
}

func newSigningKeys(t *testing.T) map[string]signingKey {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]signingKey{
		"rsa":      {kid: "rsa-1", alg: jwkset.AlgRS256, method: jwt.SigningMethodRS256, private: rsaKey},
		"ec":       {kid: "ec-1", alg: jwkset.AlgES256, method: jwt.SigningMethodES256, private: ecKey},
		"ed":       {kid: "ed-1", alg: jwkset.AlgEdDSA, method: jwt.SigningMethodEdDSA, private: edKey},
		"other":    {kid: "other-1", alg: jwkset.AlgRS256, method: jwt.SigningMethodRS256, private: otherRSA},
		"other-ec": {kid: "other-ec-1", alg: jwkset.AlgES256, method: jwt.SigningMethodES256, private: otherEC},
	}
}

// jwksJSON returns the public JSON Web Key Set of keys.
func jwksJSON(t *testing.T, keys ...signingKey) []byte {
	t.Helper()
	var set jwkset.JWKSMarshal
	for _, k := range keys {
		jwk, err := jwkset.NewJWKFromKey(k.private.Public(), jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: k.alg, USE: jwkset.UseSig},
		})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// signWithKey signs claims with k, naming kid in the header.
func signWithKey(t *testing.T, k signingKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	token := jwt.NewWithClaims(k.method, claims)
	token.Header["kid"] = kid
	s, err := token.SignedString(k.private)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validateToken(v service.PayloadValidator, token, storeID string) error {
	payload, _ := structpb.NewValue(map[string]any{"authToken": token})
	return v(context.Background(), payload, service.PayloadContext{StoreID: storeID, Headers: http.Header{}, Transport: "ws"})
}

func TestJWKSTokensFromFile(t *testing.T) {
	keys := newSigningKeys(t)
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, jwksJSON(t, keys["rsa"], keys["ec"], keys["ed"]), 0o600); err != nil {
		t.Fatal(err)
	}
	kf, err := loadJWKS(context.Background(), file, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	validate := jwksTokens(kf, jwtChecks{issuer: "https://issuer.example", audience: "livestore"})
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
		pub, _ := json.Marshal(keys["rsa"].private.Public())
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
		tok.Header["kid"] = "rsa-1"
		s, _ := tok.SignedString(pub)
		return s
	}
	for _, tt := range []struct {
		name, token, wantErr string
	}{
		{"RS256", signWithKey(t, keys["rsa"], "rsa-1", claims(nil)), ""},
		{"ES256", signWithKey(t, keys["ec"], "ec-1", claims(nil)), ""},
		{"EdDSA", signWithKey(t, keys["ed"], "ed-1", claims(nil)), ""},
		{"audience in a list", signWithKey(t, keys["rsa"], "rsa-1", claims(jwt.MapClaims{"aud": []string{"x", "livestore"}})), ""},
		{"stores claim", signWithKey(t, keys["rsa"], "rsa-1", claims(jwt.MapClaims{"storeId": nil, "stores": []string{"s1"}})), ""},
		{"unknown kid", signWithKey(t, keys["other"], "other-1", claims(nil)), `no key to verify it (kid "other-1")`},
		{"signed by another key under a known kid", signWithKey(t, keys["other"], "rsa-1", claims(nil)), "wrong signature"},
		{"kid of a key of another algorithm", signWithKey(t, keys["rsa"], "ec-1", claims(nil)), "no key to verify it"},
		{"HMAC with the public key", hmacWithPublicKey(), `algorithm "HS256" not allowed`},
		{"expired", signWithKey(t, keys["rsa"], "rsa-1", claims(jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()})), "expired"},
		{"other store", signWithKey(t, keys["rsa"], "rsa-1", claims(jwt.MapClaims{"storeId": "s2"})), `does not allow store "s1"`},
		{"other issuer", signWithKey(t, keys["rsa"], "rsa-1", claims(jwt.MapClaims{"iss": "https://evil.example"})), "another issuer"},
		{"no issuer", signWithKey(t, keys["rsa"], "rsa-1", claims(jwt.MapClaims{"iss": nil})), "another issuer"},
		{"other audience", signWithKey(t, keys["rsa"], "rsa-1", claims(jwt.MapClaims{"aud": "billing"})), "another audience"},
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
			_, err := loadJWKS(ctx, tt.source, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("the error shows the URL's query: %v", err)
			}
		})
	}
}

// jwksServer serves a JSON Web Key Set that a test may change, counting the fetches.
type jwksServer struct {
	mu      sync.Mutex
	body    []byte
	fetches atomic.Int32
	*httptest.Server
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	s := &jwksServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

// TestJWKSTokensFromURLFollowRotation checks that a key added to the key set at its URL is
// picked up when a token first names it.
func TestJWKSTokensFromURLFollowRotation(t *testing.T) {
	keys := newSigningKeys(t)
	jwks := newJWKSServer(t, jwksJSON(t, keys["rsa"]))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kf, err := loadJWKS(ctx, jwks.URL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	validate := jwksTokens(kf, jwtChecks{})
	claims := jwt.MapClaims{"storeId": "s1", "exp": time.Now().Add(time.Hour).Unix()}
	if err := validateToken(validate, signWithKey(t, keys["rsa"], "rsa-1", claims), "s1"); err != nil {
		t.Fatalf("token of the first key: %v", err)
	}
	fetches := jwks.fetches.Load()

	jwks.set(jwksJSON(t, keys["rsa"], keys["ec"])) // the identity provider adds a key
	if err := validateToken(validate, signWithKey(t, keys["ec"], "ec-1", claims), "s1"); err != nil {
		t.Fatalf("token of the added key: %v", err)
	}
	if got := jwks.fetches.Load(); got != fetches+1 {
		t.Errorf("%d fetches for the new kid, want 1", got-fetches)
	}
	// An unknown kid right after does not make the server fetch again (rate limit).
	if err := validateToken(validate, signWithKey(t, keys["other"], "other-1", claims), "s1"); err == nil {
		t.Fatal("token of a key not in the set accepted")
	}
	if got := jwks.fetches.Load(); got != fetches+1 {
		t.Errorf("unknown kids made the server fetch %d times, want once per %s", got-fetches, jwksUnknownKIDInterval)
	}
}

// TestAuthJWKSEndToEnd runs the binary with --auth-jwks at a URL and connects with tokens over
// the Connect protocol and LiveStore's HTTP transport.
func TestAuthJWKSEndToEnd(t *testing.T) {
	keys := newSigningKeys(t)
	jwks := newJWKSServer(t, jwksJSON(t, keys["ec"]))
	srv := startServer(t, t.TempDir(), "--auth-jwks", jwks.URL, "--auth-jwt-audience", "livestore")
	exp := time.Now().Add(time.Hour).Unix()
	good := signWithKey(t, keys["ec"], "ec-1", jwt.MapClaims{"storeId": "jwks", "exp": exp, "aud": "livestore"})
	tests := []struct {
		name, token, wantMsg string
	}{
		{"right token", good, ""},
		{"expired", signWithKey(t, keys["ec"], "ec-1", jwt.MapClaims{"storeId": "jwks", "exp": time.Now().Add(-time.Hour).Unix(), "aud": "livestore"}), "expired"},
		{"other store", signWithKey(t, keys["ec"], "ec-1", jwt.MapClaims{"storeId": "elsewhere", "exp": exp, "aud": "livestore"}), "does not allow store"},
		{"wrong key", signWithKey(t, keys["other-ec"], "ec-1", jwt.MapClaims{"storeId": "jwks", "exp": exp, "aud": "livestore"}), "wrong signature"},
		{"no audience", signWithKey(t, keys["ec"], "ec-1", jwt.MapClaims{"storeId": "jwks", "exp": exp}), "another audience"},
	}
	client := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url)
	for _, tt := range tests {
		t.Run("connect/"+tt.name, func(t *testing.T) {
			req := connect.NewRequest(&syncv1.PingRequest{StoreId: "jwks"})
			req.Header().Set("Authorization", "Bearer "+tt.token)
			_, err := client.Ping(context.Background(), req)
			switch {
			case tt.wantMsg == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantMsg != "" && (connect.CodeOf(err) != connect.CodeUnauthenticated || !strings.Contains(err.Error(), tt.wantMsg)):
				t.Fatalf("err = %v, want Unauthenticated containing %q", err, tt.wantMsg)
			}
		})
		t.Run("http/"+tt.name, func(t *testing.T) {
			payload, _ := json.Marshal(map[string]string{"authToken": tt.token})
			body := `{"_tag":"Request","id":"0","tag":"SyncHttpRpc.Ping","payload":{"storeId":"jwks"},"headers":[]}`
			target := srv.url + "/?storeId=jwks&transport=http&payload=" + url.QueryEscape(url.QueryEscape(string(payload)))
			res, err := http.Post(target, "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(res.Body)
			res.Body.Close()
			switch {
			case tt.wantMsg == "" && (res.StatusCode != http.StatusOK || !strings.Contains(string(answer), "Pong")):
				t.Fatalf("refused: %d %s", res.StatusCode, answer)
			case tt.wantMsg != "" && (res.StatusCode != http.StatusBadRequest || !strings.Contains(string(answer), tt.wantMsg)):
				t.Fatalf("answer %d %s, want 400 containing %q", res.StatusCode, answer, tt.wantMsg)
			}
		})
	}
}
