package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"github.com/livestore-sync/livestore-sync/service"
	"google.golang.org/protobuf/types/known/structpb"
)

const testJWTSecret = "test-secret-0123456789"

// signJWT signs claims with method and key; a test helper.
func signJWT(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTTokens(t *testing.T) {
	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	hs := func(claims jwt.MapClaims) string {
		return signJWT(t, jwt.SigningMethodHS256, []byte(testJWTSecret), claims)
	}
	validate := jwtTokens([]byte(testJWTSecret), jwtChecks{})
	for _, tt := range []struct {
		name    string
		token   string
		bearer  bool   // send as Authorization: Bearer instead of payload.authToken
		wantErr string // "" to accept
	}{
		{"right token", hs(jwt.MapClaims{"storeId": "s1", "exp": exp}), false, ""},
		{"right token as bearer", hs(jwt.MapClaims{"storeId": "s1", "exp": exp}), true, ""},
		{"HS512", signJWT(t, jwt.SigningMethodHS512, []byte(testJWTSecret), jwt.MapClaims{"storeId": "s1", "exp": exp}), false, ""},
		{"stores array", hs(jwt.MapClaims{"stores": []string{"s0", "s1"}, "exp": exp}), false, ""},
		{"stores wildcard", hs(jwt.MapClaims{"stores": []string{"*"}, "exp": exp}), false, ""},
		{"expired within leeway", hs(jwt.MapClaims{"storeId": "s1", "exp": now.Add(-10 * time.Second).Unix()}), false, ""},
		{"no token", "", false, "missing auth token"},
		{"wrong signature", signJWT(t, jwt.SigningMethodHS256, []byte("other-secret"), jwt.MapClaims{"storeId": "s1", "exp": exp}), false, "wrong signature"},
		{"expired", hs(jwt.MapClaims{"storeId": "s1", "exp": now.Add(-time.Hour).Unix()}), false, "expired"},
		{"no exp", hs(jwt.MapClaims{"storeId": "s1"}), false, "no exp claim"},
		{"not yet valid", hs(jwt.MapClaims{"storeId": "s1", "exp": exp, "nbf": now.Add(10 * time.Minute).Unix()}), false, "not valid yet"},
		{"other store", hs(jwt.MapClaims{"storeId": "s2", "exp": exp}), false, `does not allow store "s1"`},
		{"stores array without it", hs(jwt.MapClaims{"stores": []string{"s2"}, "exp": exp}), false, `does not allow store "s1"`},
		{"no store claim", hs(jwt.MapClaims{"exp": exp}), false, "neither a storeId nor a stores claim"},
		{"alg none", signJWT(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"storeId": "s1", "exp": exp}), false, `algorithm "none" not allowed`},
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

func TestJWTTokensTriesEveryCandidate(t *testing.T) {
	good := signJWT(t, jwt.SigningMethodHS256, []byte(testJWTSecret), jwt.MapClaims{"storeId": "s1", "exp": time.Now().Add(time.Hour).Unix()})
	payload, _ := structpb.NewValue(map[string]any{"authToken": "stale"})
	pc := service.PayloadContext{StoreID: "s1", Headers: http.Header{"Authorization": {"Bearer " + good}}}
	if err := jwtTokens([]byte(testJWTSecret), jwtChecks{})(context.Background(), payload, pc); err != nil {
		t.Fatalf("a good bearer token after a bad payload token: %v", err)
	}
}

func TestAuthJWTEndToEnd(t *testing.T) {
	var hookCalls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hookCalls.Add(1)
		var body webhookRequest
		json.NewDecoder(r.Body).Decode(&body)
		if body.StoreID != "hooked" {
			http.Error(w, "no", http.StatusForbidden)
		}
	}))
	defer hook.Close()
	srv := startServer(t, t.TempDir(), "--auth-jwt-secret", testJWTSecret, "--auth-token", "static1",
		"--auth-webhook", hook.URL, "--auth-webhook-timeout", "1s", "--forward-headers", "authorization")
	client := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url, connect.WithGRPC())
	exp := time.Now().Add(time.Hour).Unix()
	good := signJWT(t, jwt.SigningMethodHS256, []byte(testJWTSecret), jwt.MapClaims{"stores": []string{"auth"}, "exp": exp})
	expired := signJWT(t, jwt.SigningMethodHS256, []byte(testJWTSecret), jwt.MapClaims{"storeId": "auth", "exp": time.Now().Add(-time.Hour).Unix()})
	other := signJWT(t, jwt.SigningMethodHS256, []byte(testJWTSecret), jwt.MapClaims{"storeId": "elsewhere", "exp": exp})
	for _, tt := range []struct {
		name, store, bearer string
		wantCode            connect.Code
		wantMsg             string
	}{
		{"no token", "auth", "", connect.CodeUnauthenticated, "missing auth token"},
		{"good JWT", "auth", good, 0, ""},
		{"expired JWT", "auth", expired, connect.CodeUnauthenticated, "auth JWT expired"},
		{"other store's JWT", "auth", other, connect.CodeUnauthenticated, `does not allow store "auth"`},
		{"static token still works", "auth", "static1", 0, ""},
		{"webhook allows", "hooked", "", 0, ""},
	} {
		t.Run("connect/"+tt.name, func(t *testing.T) {
			req := connect.NewRequest(&syncv1.PingRequest{StoreId: tt.store})
			if tt.bearer != "" {
				req.Header().Set("Authorization", "Bearer "+tt.bearer)
			}
			_, err := client.Ping(context.Background(), req)
			if connect.CodeOf(err) != tt.wantCode && !(tt.wantCode == 0 && err == nil) {
				t.Fatalf("err = %v, want code %v", err, tt.wantCode)
			}
			// Every mode refused: the error gives each one's reason, the webhook's with its status.
			if err != nil && (!strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), "HTTP 403")) {
				t.Fatalf("err = %v, want it to hold %q and the webhook's status", err, tt.wantMsg)
			}
		})
	}
	// LiveStore's HTTP transport: the payload in the URL, refused with 400 and the reason.
	ping := `{"_tag":"Request","id":"1","tag":"SyncHttpRpc.Ping","payload":{"storeId":"auth"},"headers":[]}`
	for _, tt := range []struct {
		token  string
		want   int
		reason string
	}{
		{"", http.StatusBadRequest, "missing auth token"},
		{good, http.StatusOK, ""},
		{expired, http.StatusBadRequest, "auth JWT expired"},
	} {
		query := ""
		if tt.token != "" {
			query = "&payload=" + url.QueryEscape(url.QueryEscape(`{"authToken":"`+tt.token+`"}`))
		}
		resp, err := http.Post(srv.url+"/?storeId=auth&transport=http"+query, "application/json", strings.NewReader(ping))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || !strings.Contains(string(body), tt.reason) {
			t.Fatalf("HTTP transport: %d %s, want %d and %q", resp.StatusCode, body, tt.want, tt.reason)
		}
		if strings.Contains(string(body), tt.token) && tt.token != "" {
			t.Fatalf("the refusal repeats the token: %s", body)
		}
	}
	if hookCalls.Load() == 0 {
		t.Fatal("the webhook was never asked")
	}
	for _, secret := range []string{testJWTSecret, good, expired, "static1"} {
		if strings.Contains(srv.stderr.String(), secret) {
			t.Fatalf("a secret reached the log:\n%s", srv.stderr)
		}
	}
}

func TestAuthFlags(t *testing.T) {
	t.Setenv("LIVESTORE_SYNC_AUTH_JWT_SECRET", "env-jwt-secret")
	t.Setenv("LIVESTORE_SYNC_AUTH_WEBHOOK", "http://user:hook-password@127.0.0.1:1/auth")
	t.Setenv("LIVESTORE_SYNC_CORS_ORIGINS", "https://app.example.com") // a webhook seeing cookies needs origins
	t.Setenv("LIVESTORE_SYNC_AUTH_JWKS", "https://id.example/jwks?key=jwks-password")
	var out strings.Builder
	if code := run([]string{"serve", "--help"}, &out, &out); code != 0 {
		t.Fatalf("--help: exit %d\n%s", code, out.String())
	}
	for _, want := range []string{"-auth-jwt-secret", "-auth-jwks", "-auth-jwt-issuer", "-auth-jwt-audience", "-auth-webhook", "-auth-webhook-timeout", "accepted if any of them accepts"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("--help lacks %q:\n%s", want, out.String())
		}
	}
	for _, secret := range []string{"env-jwt-secret", "hook-password", "jwks-password"} {
		if strings.Contains(out.String(), secret) {
			t.Fatalf("--help prints %q", secret)
		}
	}
	cfg, err := parseServeFlags(nil, io.Discard)
	if err != nil || cfg.jwtSecret != "env-jwt-secret" || cfg.webhookURL == "" || cfg.webhookWait != defaultWebhookTimeout {
		t.Fatalf("from the environment: %+v, %v", cfg, err)
	}
	for _, args := range [][]string{
		{"--auth-webhook", "ftp://example.com/"},
		{"--auth-webhook", "not a url"},
		{"--auth-webhook-timeout", "0s"},
		{"--auth-webhook-timeout", "soon"},
	} {
		if _, err := parseServeFlags(args, io.Discard); !errors.As(err, new(usageError)) {
			t.Fatalf("%v: err = %v, want a usage error", args, err)
		}
	}
}
