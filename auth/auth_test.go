package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/livestore-sync/livestore-sync/service"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestStaticTokens(t *testing.T) {
	t.Parallel()
	validate := StaticTokens([]string{"t1", "t2"})
	for _, tt := range []struct {
		name, payloadToken, authorization string
		wantErr                           bool
	}{
		{"payload token", "t1", "", false},
		{"bearer token", "", "Bearer t2", false},
		{"wrong payload token, right bearer", "nope", "Bearer t1", false},
		{"no token", "", "", true},
		{"wrong token", "nope", "", true},
		{"not bearer", "", "t1", true},
		{"empty bearer", "", "Bearer ", true},
		{"prefix of a token", "t", "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var payload *structpb.Value
			if tt.payloadToken != "" {
				payload, _ = structpb.NewValue(map[string]any{"authToken": tt.payloadToken})
			}
			pc := service.PayloadContext{StoreID: "s", Headers: http.Header{}}
			if tt.authorization != "" {
				pc.Headers.Set("Authorization", tt.authorization)
			}
			err := validate(context.Background(), payload, pc)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want an error: %v", err, tt.wantErr)
			}
			if err != nil && (!strings.Contains(err.Error(), "missing or invalid auth token") || strings.Contains(err.Error(), "t1")) {
				t.Fatalf("err = %v, want the refusal without a token", err)
			}
		})
	}
}

func TestAny(t *testing.T) {
	t.Parallel()
	accept := func(context.Context, *structpb.Value, service.PayloadContext) error { return nil }
	refuse := func(msg string) service.PayloadValidator {
		return func(context.Context, *structpb.Value, service.PayloadContext) error { return errors.New(msg) }
	}
	calls := 0
	counting := func(context.Context, *structpb.Value, service.PayloadContext) error { calls++; return nil }
	for _, tt := range []struct {
		name       string
		validators []service.PayloadValidator
		wantErr    string
	}{
		{"one accepts", []service.PayloadValidator{accept}, ""},
		{"one refuses", []service.PayloadValidator{refuse("no")}, "no"},
		{"second accepts", []service.PayloadValidator{refuse("a"), accept}, ""},
		{"first accepts, rest not asked", []service.PayloadValidator{accept, counting}, ""},
		{"all refuse", []service.PayloadValidator{refuse("a"), refuse("b")}, "a; b"},
		{"none", nil, "no authentication accepts connections"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Any(tt.validators...)(context.Background(), nil, service.PayloadContext{})
			if (tt.wantErr == "") != (err == nil) || (err != nil && err.Error() != tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if calls != 0 {
		t.Fatalf("a validator after one that accepted was called %d times", calls)
	}
	sentinel := errors.New("sentinel")
	err := Any(refuse("a"), func(context.Context, *structpb.Value, service.PayloadContext) error { return sentinel })(context.Background(), nil, service.PayloadContext{})
	if !errors.Is(err, sentinel) {
		t.Fatalf("err = %v, want it to unwrap to each validator's error", err)
	}
}
