package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/golang-jwt/jwt/v5"
	"github.com/livestore-sync/livestore-sync/auth"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
	"google.golang.org/protobuf/types/known/structpb"
)

// An embedding program accepts a connection that carries a static token or a JWT signed with its
// secret, as livestore-sync serve --auth-token … --auth-jwt-secret … does. Every transport then
// refuses other connections with the validators' reasons.
func ExampleAny() {
	secret := []byte("jwt-secret-change-me")
	engine, err := pebblestore.Open("data", pebblestore.Options{FS: vfs.NewMem()})
	if err != nil {
		panic(err)
	}
	svc, err := service.New(engine, service.Options{
		ValidatePayload: auth.Any(
			auth.StaticTokens([]string{"insecure-token-change-me"}),
			auth.JWTSecret(secret, auth.JWTClaims{}),
		),
	})
	if err != nil {
		panic(err)
	}
	defer svc.Close()

	// Transports call ValidatePayload once per connection; an embedding may check by hand.
	check := func(authToken, bearer string) error {
		payload, _ := structpb.NewValue(map[string]any{"authToken": authToken})
		headers := http.Header{}
		if bearer != "" {
			headers.Set("Authorization", "Bearer "+bearer)
		}
		return svc.ValidatePayload(context.Background(), "todo-123", payload, service.RequestInfo{Transport: "ws", Headers: headers})
	}
	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"stores": []string{"todo-123"}, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(secret)
	fmt.Println(check("insecure-token-change-me", ""))
	fmt.Println(check("", token))
	fmt.Println(check("wrong", ""))
	// Output:
	// <nil>
	// <nil>
	// payload rejected: missing or invalid auth token: send it as payload.authToken or Authorization: Bearer; invalid auth JWT: malformed token
}

// A HeaderCheck lets service.NewConnectGuard tell authenticated Connect calls from the others
// before reading their bodies; the others may send only a small body, for a token in their
// payload.
func ExampleHeaderCheck() {
	authenticate := auth.HeaderCheck{Tokens: []string{"insecure-token-change-me"}, AdminSecret: "admin-secret"}.Func()
	// The Connect handlers are served behind
	// service.NewConnectGuard(mux, service.ConnectGuardOptions{Authenticate: authenticate}).
	for _, bearer := range []string{"insecure-token-change-me", "wrong"} {
		r := httptest.NewRequest(http.MethodPost, "/livestore.sync.v1.SyncService/Push", nil)
		r.Header.Set("Authorization", "Bearer "+bearer)
		fmt.Println(authenticate(r))
	}
	// Output:
	// <nil>
	// missing or invalid auth token in the Authorization header
}
