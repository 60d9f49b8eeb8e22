package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// anyOrigin is the value of --cors-origins that allows every origin, as the default does.
const anyOrigin = "*"

// parseCORSOrigins checks the values of --cors-origins and returns the origins in the form
// browsers send them in the Origin header (host in lower case, no default port), or nil for any
// origin: no value, or "*" alone.
func parseCORSOrigins(values []string) ([]string, error) {
	for _, v := range values {
		if v == anyOrigin && len(values) > 1 {
			return nil, fmt.Errorf("--cors-origins: %s (any origin) cannot be combined with other origins (%s)",
				anyOrigin, strings.Join(values, ","))
		}
	}
	if len(values) == 0 || values[0] == anyOrigin {
		return nil, nil
	}
	origins := make([]string, 0, len(values))
	for _, v := range values {
		o, err := normalizeOrigin(v)
		if err != nil {
			return nil, fmt.Errorf("--cors-origins: %w", err)
		}
		origins = append(origins, o)
	}
	return origins, nil
}

// normalizeOrigin checks that s is an origin, scheme://host[:port] with scheme http or https and
// nothing after, and returns it as browsers send it: host in lower case, without the scheme's
// default port.
func normalizeOrigin(s string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("%q is not an origin (%s): write scheme://host[:port] with http or https, without path, "+
			"query or trailing slash, e.g. https://app.example.com; or %s alone for any origin", s, why, anyOrigin)
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", bad("it does not parse")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", bad("the scheme must be http or https")
	case u.Host == "" || u.Opaque != "":
		return "", bad("no host")
	case u.User != nil:
		return "", bad("it has user information")
	case strings.ContainsAny(afterScheme(s), "/?#"):
		return "", bad("it has a path, query, fragment or trailing slash")
	case strings.Contains(u.Host, anyOrigin):
		return "", bad("patterns are not supported")
	}
	host := strings.ToLower(u.Host)
	if port := u.Port(); (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		host = strings.ToLower(u.Hostname())
		if strings.Contains(host, ":") { // IPv6
			host = "[" + host + "]"
		}
	}
	return u.Scheme + "://" + host, nil
}

// errCookiesAnyOrigin refuses a configuration in which any web page can use its visitors'
// cookies: see checkCookieOrigins.
var errCookiesAnyOrigin = errors.New("--auth-webhook receives the requests' cookies (--forward-headers is " +
	"empty, which passes every header, or lists Cookie) while --cors-origins allows any origin: any web page " +
	"could then open WebSockets to this server with its visitors' cookies and be let in (cross-site WebSocket " +
	"hijacking). Set --cors-origins to your app's origins, or --forward-headers to the headers the webhook " +
	"needs, without Cookie")

// checkCookieOrigins refuses --auth-webhook with the Cookie header among those it receives when
// any origin may connect: browsers send a site's cookies with WebSocket upgrades from every
// other site, so a webhook that trusts cookies would let any page act as its visitors.
func checkCookieOrigins(cfg serveConfig) error {
	if cfg.webhookURL == "" || len(cfg.corsOrigins) > 0 {
		return nil
	}
	if len(cfg.forwardHdrs) == 0 {
		return errCookiesAnyOrigin // every header is passed on
	}
	for _, h := range cfg.forwardHdrs {
		if strings.EqualFold(h, "Cookie") {
			return errCookiesAnyOrigin
		}
	}
	return nil
}

// afterScheme returns what follows "scheme://" in s (the scheme in any case), or s.
func afterScheme(s string) string {
	if _, rest, ok := strings.Cut(s, "://"); ok {
		return rest
	}
	return s
}
