package auth

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/livestore-sync/livestore-sync/internal/jwttest"
)

func TestHeaderCheck(t *testing.T) {
	t.Parallel()
	if f := (HeaderCheck{}).Func(); f != nil {
		t.Fatal("HeaderCheck{}.Func() is not nil")
	}
	keys := jwttest.NewKeys(t)
	public := func(context.Context) jwt.Keyfunc {
		return func(*jwt.Token) (any, error) { return keys["rsa"].Private.Public(), nil }
	}
	exp := time.Now().Add(time.Hour).Unix()
	hs := func(claims jwt.MapClaims) string {
		return jwttest.Sign(t, jwt.SigningMethodHS256, []byte(testJWTSecret), claims)
	}
	const (
		sync   = "/livestore.sync.v1.SyncService/Push"
		admin  = "/livestore.sync.v1.AdminService/GetStore"
		health = "/grpc.health.v1.Health/Check"
	)
	adminOnly := HeaderCheck{AdminSecret: "s3cret"}
	tokens := HeaderCheck{Tokens: []string{"t1", "t2"}}
	jwts := HeaderCheck{JWTSecret: []byte(testJWTSecret), JWKS: public, Claims: JWTClaims{Audience: "livestore"}}
	for _, tt := range []struct {
		name         string
		check        HeaderCheck
		path, header string
		wantErr      bool
	}{
		{"admin: right secret", adminOnly, admin, "Bearer s3cret", false},
		{"admin: wrong secret", adminOnly, admin, "Bearer nope", true},
		{"admin: no secret", adminOnly, admin, "", true},
		{"admin: not bearer", adminOnly, admin, "s3cret", true},
		{"admin: a sync token", HeaderCheck{Tokens: []string{"t1"}, AdminSecret: "s3cret"}, admin, "Bearer t1", true},
		{"admin: off", tokens, admin, "Bearer t1", true},
		{"admin only: sync calls unchecked", adminOnly, sync, "", false},
		{"token", tokens, sync, "Bearer t2", false},
		{"wrong token", tokens, sync, "Bearer t3", true},
		{"no token", tokens, sync, "", true},
		{"token not bearer", tokens, sync, "t1", true},
		{"token for health", tokens, health, "Bearer t1", false},
		{"no token for health", tokens, health, "", true},
		{"JWT for any store", jwts, sync, "Bearer " + hs(jwt.MapClaims{"storeId": "any", "exp": exp, "aud": "livestore"}), false},
		{"JWT without store", jwts, sync, "Bearer " + hs(jwt.MapClaims{"exp": exp, "aud": "livestore"}), false},
		{"JWT expired", jwts, sync, "Bearer " + hs(jwt.MapClaims{"storeId": "s", "exp": time.Now().Add(-time.Hour).Unix(), "aud": "livestore"}), true},
		{"JWT for another audience", jwts, sync, "Bearer " + hs(jwt.MapClaims{"storeId": "s", "exp": exp, "aud": "billing"}), true},
		{"JWT of another secret", jwts, sync, "Bearer " + jwttest.Sign(t, jwt.SigningMethodHS256, []byte("other"), jwt.MapClaims{"exp": exp, "aud": "livestore"}), true},
		{"JWT of the key set", jwts, sync, "Bearer " + keys["rsa"].Sign(t, "rsa-1", jwt.MapClaims{"exp": exp, "aud": "livestore"}), false},
		{"JWT of another key", jwts, sync, "Bearer " + keys["other"].Sign(t, "rsa-1", jwt.MapClaims{"exp": exp, "aud": "livestore"}), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", tt.path, nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			if err := tt.check.Func()(r); (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want an error: %v", err, tt.wantErr)
			}
		})
	}
}
