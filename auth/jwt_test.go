package auth

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/livestore-sync/livestore-sync/internal/jwttest"
	"github.com/livestore-sync/livestore-sync/service"
	"google.golang.org/protobuf/types/known/structpb"
)

const testJWTSecret = "test-secret-0123456789"

func TestJWTSecret(t *testing.T) {
	t.Parallel()
	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	hs := func(claims jwt.MapClaims) string {
		return jwttest.Sign(t, jwt.SigningMethodHS256, []byte(testJWTSecret), claims)
	}
	validate := JWTSecret([]byte(testJWTSecret), JWTClaims{})
	for _, tt := range []struct {
		name    string
		token   string
		bearer  bool   // send as Authorization: Bearer instead of payload.authToken
		wantErr string // "" to accept
	}{
		{"right token", hs(jwt.MapClaims{"storeId": "s1", "exp": exp}), false, ""},
		{"right token as bearer", hs(jwt.MapClaims{"storeId": "s1", "exp": exp}), true, ""},
		{"HS512", jwttest.Sign(t, jwt.SigningMethodHS512, []byte(testJWTSecret), jwt.MapClaims{"storeId": "s1", "exp": exp}), false, ""},
		{"stores array", hs(jwt.MapClaims{"stores": []string{"s0", "s1"}, "exp": exp}), false, ""},
		{"stores wildcard", hs(jwt.MapClaims{"stores": []string{"*"}, "exp": exp}), false, ""},
		{"expired within leeway", hs(jwt.MapClaims{"storeId": "s1", "exp": now.Add(-10 * time.Second).Unix()}), false, ""},
		{"no token", "", false, "missing auth token"},
		{"wrong signature", jwttest.Sign(t, jwt.SigningMethodHS256, []byte("other-secret"), jwt.MapClaims{"storeId": "s1", "exp": exp}), false, "wrong signature"},
		{"expired", hs(jwt.MapClaims{"storeId": "s1", "exp": now.Add(-time.Hour).Unix()}), false, "expired"},
		{"no exp", hs(jwt.MapClaims{"storeId": "s1"}), false, "no exp claim"},
		{"not yet valid", hs(jwt.MapClaims{"storeId": "s1", "exp": exp, "nbf": now.Add(10 * time.Minute).Unix()}), false, "not valid yet"},
		{"other store", hs(jwt.MapClaims{"storeId": "s2", "exp": exp}), false, `does not allow store "s1"`},
		{"stores array without it", hs(jwt.MapClaims{"stores": []string{"s2"}, "exp": exp}), false, `does not allow store "s1"`},
		{"no store claim", hs(jwt.MapClaims{"exp": exp}), false, "neither a storeId nor a stores claim"},
		{"alg none", jwttest.Sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"storeId": "s1", "exp": exp}), false, `algorithm "none" not allowed`},
		{"not a JWT", "t1", false, "malformed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var payload *structpb.Value
			pc := service.PayloadContext{StoreID: "s1", Headers: http.Header{}, Transport: "connect"}
			if tt.bearer {
				pc.Headers.Set("Authorization", "Bearer "+tt.token)
			} else if tt.token != "" {
				payload, _ = structpb.NewValue(map[string]any{"authToken": tt.token})
			}
			err := validate(context.Background(), payload, pc)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if err != nil && tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Fatalf("the error repeats the token: %v", err)
			}
		})
	}
}

func TestJWTSecretTriesEveryCandidate(t *testing.T) {
	t.Parallel()
	good := jwttest.Sign(t, jwt.SigningMethodHS256, []byte(testJWTSecret), jwt.MapClaims{"storeId": "s1", "exp": time.Now().Add(time.Hour).Unix()})
	payload, _ := structpb.NewValue(map[string]any{"authToken": "stale"})
	pc := service.PayloadContext{StoreID: "s1", Headers: http.Header{"Authorization": {"Bearer " + good}}}
	if err := JWTSecret([]byte(testJWTSecret), JWTClaims{})(context.Background(), payload, pc); err != nil {
		t.Fatalf("a good bearer token after a bad payload token: %v", err)
	}
}
