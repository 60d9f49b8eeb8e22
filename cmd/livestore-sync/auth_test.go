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
	"github.com/livestore-sync/livestore-sync/auth"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"github.com/livestore-sync/livestore-sync/internal/jwttest"
)

// testJWTSecret is the --auth-jwt-secret of the tests.
const testJWTSecret = "test-secret-0123456789"

func TestAuthJWTEndToEnd(t *testing.T) {
	var hookCalls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hookCalls.Add(1)
		var body auth.WebhookRequest
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
	good := jwttest.Sign(t, jwt.SigningMethodHS256, []byte(testJWTSecret), jwt.MapClaims{"stores": []string{"auth"}, "exp": exp})
	expired := jwttest.Sign(t, jwt.SigningMethodHS256, []byte(testJWTSecret), jwt.MapClaims{"storeId": "auth", "exp": time.Now().Add(-time.Hour).Unix()})
	other := jwttest.Sign(t, jwt.SigningMethodHS256, []byte(testJWTSecret), jwt.MapClaims{"storeId": "elsewhere", "exp": exp})
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
	if err != nil || cfg.jwtSecret != "env-jwt-secret" || cfg.webhookURL == "" || cfg.webhookWait != auth.DefaultWebhookTimeout {
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

// TestAuthJWKSEndToEnd runs the binary with --auth-jwks at a URL and connects with tokens over
// the Connect protocol and LiveStore's HTTP transport.
func TestAuthJWKSEndToEnd(t *testing.T) {
	keys := jwttest.NewKeys(t)
	jwks := jwttest.NewServer(t, jwttest.JWKS(t, keys["ec"]))
	srv := startServer(t, t.TempDir(), "--auth-jwks", jwks.URL, "--auth-jwt-audience", "livestore")
	exp := time.Now().Add(time.Hour).Unix()
	good := keys["ec"].Sign(t, "ec-1", jwt.MapClaims{"storeId": "jwks", "exp": exp, "aud": "livestore"})
	tests := []struct {
		name, token, wantMsg string
	}{
		{"right token", good, ""},
		{"expired", keys["ec"].Sign(t, "ec-1", jwt.MapClaims{"storeId": "jwks", "exp": time.Now().Add(-time.Hour).Unix(), "aud": "livestore"}), "expired"},
		{"other store", keys["ec"].Sign(t, "ec-1", jwt.MapClaims{"storeId": "elsewhere", "exp": exp, "aud": "livestore"}), "does not allow store"},
		{"wrong key", keys["other-ec"].Sign(t, "ec-1", jwt.MapClaims{"storeId": "jwks", "exp": exp, "aud": "livestore"}), "wrong signature"},
		{"no audience", keys["ec"].Sign(t, "ec-1", jwt.MapClaims{"storeId": "jwks", "exp": exp}), "another audience"},
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
