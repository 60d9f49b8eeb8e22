package bridge

import (
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
)

// CORS (PROTOCOL §1.1): which origins may use the sync protocols, and the headers that let their
// browsers read the answers.

// originAccepted refuses, with 403, a sync request that a browser sent from an origin that
// Options.CORSOrigins (or OriginPatterns) does not allow, before anything else looks at it (the
// payload validator may trust cookies, which browsers attach whatever page sends the request).
// A request without an Origin header (not sent by a browser page), or from the server's own
// origin, is always accepted.
func (b *Bridge) originAccepted(w http.ResponseWriter, r *http.Request, sr syncQuery) bool {
	if b.originAllowed(r) {
		return true
	}
	msg := "origin " + logQuote(r.Header.Get("Origin")) + " is not allowed on this server (see --cors-origins)"
	b.opts.Logger.Info("livestore sync request refused: origin not allowed", "store_id", sr.StoreID,
		"transport", string(sr.Transport), "origin", logQuote(r.Header.Get("Origin")))
	if sr.Transport == transportHTTP {
		b.writeHTTPMessages(w, r, http.StatusForbidden, [][]byte{appendDefectMessage(nil, defect{Message: msg})})
		return false
	}
	writeText(w, http.StatusForbidden, "text/plain", msg)
	return false
}

// originAllowed reports whether r's Origin may use the sync protocols (see originAccepted).
func (b *Bridge) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || (len(b.opts.CORSOrigins) == 0 && len(b.opts.OriginPatterns) == 0) ||
		slices.Contains(b.opts.CORSOrigins, origin) {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range b.opts.OriginPatterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}

// corsMaxAge is how long browsers may cache a preflight answer, in seconds (they cap it: Chrome
// at 2 hours, Firefox at 24).
const corsMaxAge = "86400"

// setCORS is the one place that decides CORS headers: unless Options.DisableCORS, the headers the
// reference worker adds (enableCORS: true) on every response that carries them — 204 preflight,
// 400, 426 and, unlike the reference, the HTTP transport's responses — plus Max-Age on preflight.
func (b *Bridge) setCORS(w http.ResponseWriter, r *http.Request) {
	if b.opts.DisableCORS {
		return
	}
	h := w.Header()
	if len(b.opts.CORSOrigins) == 0 {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if !slices.Contains(b.opts.CORSOrigins, origin) {
			return // not an allowed origin: no CORS headers, so its browser cannot read the answer
		}
		h.Set("Access-Control-Allow-Origin", origin)
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	allow := r.Header.Get("Access-Control-Request-Headers")
	if allow == "" {
		allow = "*"
	}
	h.Set("Access-Control-Allow-Headers", allow)
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Max-Age", corsMaxAge)
	}
}
