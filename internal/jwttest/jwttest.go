// Package jwttest provides signing keys, JSON Web Key Sets, a key set server and signed tokens for
// the tests of the auth package and of the binary.
package jwttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Sign signs claims with method and key.
func Sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Key is a test key pair with its kid and JWS algorithm.
type Key struct {
	KID     string
	ALG     jwkset.ALG
	Method  jwt.SigningMethod
	Private crypto.Signer
}

// NewKeys returns fresh keys: "rsa" (kid rsa-1, RS256), "ec" (ec-1, ES256), "ed" (ed-1, EdDSA),
// and keys to sign with under another's kid: "other" (other-1, RS256), "other-ec" (other-ec-1,
// ES256).
func NewKeys(t testing.TB) map[string]Key {
	t.Helper()
	signer := func(k crypto.Signer, err error) crypto.Signer {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rs256, es256 := jwt.SigningMethodRS256, jwt.SigningMethodES256
	return map[string]Key{
		"rsa":      {KID: "rsa-1", ALG: jwkset.AlgRS256, Method: rs256, Private: signer(rsa.GenerateKey(rand.Reader, 2048))},
		"ec":       {KID: "ec-1", ALG: jwkset.AlgES256, Method: es256, Private: signer(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))},
		"ed":       {KID: "ed-1", ALG: jwkset.AlgEdDSA, Method: jwt.SigningMethodEdDSA, Private: edKey},
		"other":    {KID: "other-1", ALG: jwkset.AlgRS256, Method: rs256, Private: signer(rsa.GenerateKey(rand.Reader, 2048))},
		"other-ec": {KID: "other-ec-1", ALG: jwkset.AlgES256, Method: es256, Private: signer(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))},
	}
}

// Sign signs claims with k, naming kid in the header.
func (k Key) Sign(t testing.TB, kid string, claims jwt.MapClaims) string {
	t.Helper()
	token := jwt.NewWithClaims(k.Method, claims)
	token.Header["kid"] = kid
	s, err := token.SignedString(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// JWKS returns the public JSON Web Key Set of keys.
func JWKS(t testing.TB, keys ...Key) []byte {
	t.Helper()
	var set jwkset.JWKSMarshal
	for _, k := range keys {
		jwk, err := jwkset.NewJWKFromKey(k.Private.Public(), jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.KID, ALG: k.ALG, USE: jwkset.UseSig},
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

// Server serves a JSON Web Key Set that a test may change, counting the fetches.
type Server struct {
	mu   sync.Mutex
	body []byte
	// Fetches counts the requests served.
	Fetches atomic.Int32
	*httptest.Server
}

// NewServer starts a Server of body, closed when the test ends.
func NewServer(t testing.TB, body []byte) *Server {
	s := &Server{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

// Set changes the key set served.
func (s *Server) Set(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}
