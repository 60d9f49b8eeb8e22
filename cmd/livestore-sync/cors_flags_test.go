package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestCORSOriginsFlag(t *testing.T) {
	tests := []struct {
		args    []string
		env     string // LIVESTORE_SYNC_CORS_ORIGINS
		want    []string
		wantErr string
	}{
		{args: nil, want: nil},
		{args: []string{"--cors-origins", "*"}, want: nil},
		{env: "*", want: nil},
		{args: []string{"--cors-origins", "https://app.example.com"}, want: []string{"https://app.example.com"}},
		{args: []string{"--cors-origins", "HTTPS://App.Example.com"}, want: []string{"https://app.example.com"}},
		{args: []string{"--cors-origins", "https://App.Example.COM:443,http://localhost:5173"},
			want: []string{"https://app.example.com", "http://localhost:5173"}},
		{args: []string{"--cors-origins", "http://a.example:80", "--cors-origins", "https://[::1]:443"},
			want: []string{"http://a.example", "https://[::1]"}},
		{args: []string{"--cors-origins", "https://a.example:8443"}, want: []string{"https://a.example:8443"}},
		{env: "https://a.example, https://b.example", want: []string{"https://a.example", "https://b.example"}},
		{args: []string{"--cors-origins", "*,https://a.example"}, wantErr: "cannot be combined"},
		{args: []string{"--cors-origins", "https://a.example", "--cors-origins", "*"}, wantErr: "cannot be combined"},
		{args: []string{"--cors-origins", "https://app.example.com/"}, wantErr: "trailing slash"},
		{args: []string{"--cors-origins", "https://app.example.com/app"}, wantErr: "path"},
		{args: []string{"--cors-origins", "https://app.example.com?x=1"}, wantErr: "query"},
		{args: []string{"--cors-origins", "https://app.example.com#top"}, wantErr: "fragment"},
		{args: []string{"--cors-origins", "app.example.com"}, wantErr: "scheme must be http or https"},
		{args: []string{"--cors-origins", "ftp://app.example.com"}, wantErr: "scheme must be http or https"},
		{args: []string{"--cors-origins", "https://"}, wantErr: "no host"},
		{args: []string{"--cors-origins", "https://user@app.example.com"}, wantErr: "user information"},
		{args: []string{"--cors-origins", "https://*.example.com"}, wantErr: "not an origin"},
		{args: []string{"--cors-origins", "https://a.example:port"}, wantErr: "does not parse"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q env %q", tt.args, tt.env), func(t *testing.T) {
			t.Setenv("LIVESTORE_SYNC_CORS_ORIGINS", tt.env)
			cfg, err := parseServeFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a usage error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint([]string(cfg.corsOrigins)) != fmt.Sprint(tt.want) || (tt.want == nil) != (cfg.corsOrigins == nil) {
				t.Fatalf("origins %q, want %q", cfg.corsOrigins, tt.want)
			}
		})
	}
}

// TestWebhookCookiesNeedOrigins: an --auth-webhook that receives cookies is refused while any
// origin may connect.
func TestWebhookCookiesNeedOrigins(t *testing.T) {
	const hook = "https://auth.example/check"
	tests := []struct {
		args   []string
		refuse bool
	}{
		{[]string{"--auth-webhook", hook}, true},
		{[]string{"--auth-webhook", hook, "--cors-origins", "*"}, true},
		{[]string{"--auth-webhook", hook, "--forward-headers", "authorization,COOKIE"}, true},
		{[]string{"--auth-webhook", hook, "--forward-headers", "cookie", "--cors-origins", "https://app.example.com"}, false},
		{[]string{"--auth-webhook", hook, "--cors-origins", "https://app.example.com"}, false},
		{[]string{"--auth-webhook", hook, "--forward-headers", "authorization,x-tenant"}, false},
		{[]string{"--forward-headers", "cookie"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Setenv("LIVESTORE_SYNC_CORS_ORIGINS", "")
			t.Setenv("LIVESTORE_SYNC_FORWARD_HEADERS", "")
			_, err := parseServeFlags(tt.args, io.Discard)
			switch {
			case tt.refuse && (!errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "cross-site WebSocket hijacking")):
				t.Fatalf("err = %v, want the cookie refusal", err)
			case !tt.refuse && err != nil:
				t.Fatalf("err = %v", err)
			}
		})
	}
	var out strings.Builder
	if code := run([]string{"serve", "--help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "receives cookies") {
		t.Fatalf("--help (exit %d) does not explain the cookie rule:\n%s", code, out.String())
	}
}
