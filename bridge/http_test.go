package bridge

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livestore-sync/livestore-sync/service"
)

// httpExchange is one request and response of a captured HTTP transcript (testdata/http, copied
// from the captures of the reference by testdata/extract_http.py).
type httpExchange struct {
	Method      string            `json:"method"`
	URL         string            `json:"url"`
	ReqHeaders  map[string]string `json:"reqHeaders"`
	Body        string            `json:"body"`
	Status      int               `json:"status"`
	RespHeaders map[string]string `json:"respHeaders"`
	RespBody    string            `json:"respBody"`
}

func loadHTTPExchanges(t *testing.T, path string) []httpExchange {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var exs []httpExchange
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 8<<20)
	for sc.Scan() {
		var ex httpExchange
		if err := json.Unmarshal(sc.Bytes(), &ex); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		exs = append(exs, ex)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return exs
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// doHTTP serves one request with b and returns the response with its body decoded.
func doHTTP(t *testing.T, b *Bridge, method, target string, header map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, req)
	res := rec.Result()
	raw := rec.Body.Bytes()
	if res.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return res, string(raw)
}

// httpDeliberate are the answers of the real service that differ on purpose from the captured
// reference's, by transcript and exchange index: the identical retry of a stored push is
// acknowledged.
var httpDeliberate = map[string]map[int]string{
	"http-push-server-ahead": {3: `[{"_tag":"Exit","requestId":"3","exit":{"_tag":"Success","value":{}}}]`},
}

var (
	createdAtRE = regexp.MustCompile(`"createdAt":"[^"]*"`)
	backendIDRE = regexp.MustCompile(`"(?:backendId|expected)":"([A-Za-z0-9_-]{21})"`)
)

// TestHTTPTranscripts replays the captured HTTP exchanges of the reference against a bridge over
// the real service and compares status and body byte for byte, apart from backend ids and
// createdAt. Differences on purpose: CORS headers on every response; the text of Die defects of
// payloads that fail decoding (Effect's schema printer); the capture's storage failure is not
// replayed; a push repeating events already stored, identical in every field (a retry), is
// acknowledged where the reference answered ServerAheadError (README, "LiveStore's protocol";
// httpDeliberate).
func TestHTTPTranscripts(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/http/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no http transcripts: %v", err)
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".jsonl")
		t.Run(name, func(t *testing.T) {
			exs := loadHTTPExchanges(t, path)
			// The reference's backend ids, to be swapped for the service's.
			realIDs := map[string]bool{}
			for _, ex := range exs {
				for _, m := range backendIDRE.FindAllStringSubmatch(ex.RespBody, -1) {
					realIDs[m[1]] = true
				}
			}
			svc := newGatedService(t, service.Options{})
			b := New(svc, Options{Logger: quietLogger})
			for i, ex := range exs {
				if strings.Contains(ex.Body, `"seqNum":251`) {
					continue
				}
				u, err := url.Parse(ex.URL)
				if err != nil {
					t.Fatal(err)
				}
				sr, isSync := matchSyncRequest(u.RawQuery)
				// The service's backend id of the store, if it has one (a request's store id
				// may be one the service refuses).
				svcID := "\x00no backend id"
				if id, err := svc.tryBackendID(sr.StoreID); isSync && err == nil {
					svcID = id
				}
				body := ex.Body
				for id := range realIDs {
					body = strings.ReplaceAll(body, id, svcID)
				}
				res, got := doHTTP(t, b, ex.Method, ex.URL, ex.ReqHeaders, body)
				want, gotLen := ex.RespBody, len(got)
				if d, ok := httpDeliberate[name][i]; ok {
					want = d
				}
				norm := func(s string) string {
					s = createdAtRE.ReplaceAllString(s, `"createdAt":"T"`)
					for id := range realIDs {
						s = strings.ReplaceAll(s, id, "B")
					}
					return strings.ReplaceAll(s, svcID, "B")
				}
				got, want = norm(got), norm(want)
				if i := strings.Index(want, `"_tag":"Die","defect":"`); i >= 0 {
					want, got = want[:i], got[:min(i, len(got))]
				}
				if res.StatusCode != ex.Status {
					t.Errorf("#%d %s %s: status %d, want %d", i, ex.Method, ex.URL, res.StatusCode, ex.Status)
				}
				if got != want {
					t.Errorf("#%d %s %s:\n got: %.600s\nwant: %.600s", i, ex.Method, ex.URL, got, want)
				}
				if ct := ex.RespHeaders["content-type"]; res.Header.Get("Content-Type") != ct {
					t.Errorf("#%d: content type %q, want %q", i, res.Header.Get("Content-Type"), ct)
				}
				hasCORS := res.Header.Get("Access-Control-Allow-Origin") == "*"
				if ex.RespHeaders["access-control-allow-origin"] == "*" && !hasCORS {
					t.Errorf("#%d: no CORS headers", i)
				}
				isJSON := isSync && sr.Transport == transportHTTP && ex.Method != "OPTIONS"
				if isJSON {
					if !hasCORS {
						t.Errorf("#%d: no CORS headers on an HTTP transport response", i)
					}
					wantGzip := acceptsGzip(http.Header{"Accept-Encoding": {ex.ReqHeaders["accept-encoding"]}}) && gotLen > gzipMinBytes
					if gz := res.Header.Get("Content-Encoding") == "gzip"; gz != wantGzip {
						t.Errorf("#%d: gzip %v, want %v", i, gz, wantGzip)
					}
				}
			}
		})
	}
}

const httpStore = "/?storeId=s&transport=http"

func httpPing(id string) string {
	return `{"_tag":"Request","id":"` + id + `","tag":"SyncHttpRpc.Ping","payload":{"storeId":"s"},"headers":[]}`
}

func httpPull(id, cursor string) string {
	if cursor == "" {
		cursor = `{"_tag":"None"}`
	}
	return `{"_tag":"Request","id":"` + id + `","tag":"SyncHttpRpc.Pull","payload":{"storeId":"s","cursor":` + cursor + `},"headers":[]}`
}

func httpPush(id string, events ...string) string {
	return `{"_tag":"Request","id":"` + id + `","tag":"SyncHttpRpc.Push","payload":{"storeId":"s","batch":[` + strings.Join(events, ",") + `],"backendId":{"_tag":"None"}},"headers":[]}`
}

func TestHTTPMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string
	}{
		{"ping rpc", httpPing("7"), `[{"_tag":"Exit","requestId":"7","exit":{"_tag":"Success","value":{"_tag":"SyncMessage.Pong"}}}]`},
		{"protocol ping", `{"_tag":"Ping"}`, `[{"_tag":"Pong"}]`},
		{"eof", `{"_tag":"Eof"}`, `[]`},
		{"empty", ``, `[{"_tag":"Defect","defect":{"name":"SyntaxError","message":"Unexpected end of JSON input"}}]`},
		{"not json", `nope`, `[{"_tag":"Defect","defect":{"name":"SyntaxError","message":"Unexpected token 'o', \"nope\" is not valid JSON"}}]`},
		{"long not json", `{"_tag":"Request","id":x}`, `[{"_tag":"Defect","defect":{"name":"SyntaxError","message":"Unexpected token 'x', ...\"est\",\"id\":x}\" is not valid JSON"}}]`},
		{"array", `[` + httpPing("0") + `]`, `[{"_tag":"Defect","defect":"Unknown request tag: undefined"}]`},
		{"unknown message tag", `{"_tag":"Nope"}`, `[{"_tag":"Defect","defect":"Unknown request tag: Nope"}]`},
		{"unknown rpc", `{"_tag":"Request","id":"0","tag":"SyncHttpRpc.Nope","payload":{}}`, `[{"_tag":"Defect","defect":"Unknown request tag: SyncHttpRpc.Nope"}]`},
		{"ws rpc over http", `{"_tag":"Request","id":"0","tag":"SyncWsRpc.Pull","payload":{}}`, `[{"_tag":"Defect","defect":"Unknown request tag: SyncWsRpc.Pull"}]`},
		{"bad id", `{"_tag":"Request","id":"abc","tag":"SyncHttpRpc.Ping","payload":{"storeId":"s"}}`, `[{"_tag":"Defect","defect":"Invalid request id: abc"}]`},
		{"bad payload", `{"_tag":"Request","id":"3","tag":"SyncHttpRpc.Pull","payload":{"storeId":"s"}}`, `[{"_tag":"Exit","requestId":"3","exit":{"_tag":"Failure","cause":{"_tag":"Die","defect":"invalid SyncHttpRpc.Pull payload: `},
		{"push empty", httpPush("1"), `[{"_tag":"Exit","requestId":"1","exit":{"_tag":"Success","value":{}}}]`},
		{"pull empty", httpPull("2", ""), `[{"_tag":"Chunk","requestId":"2","values":[{"batch":[],"pageInfo":{"_tag":"NoMore"},"backendId":"<backend>"}]},{"_tag":"Exit","requestId":"2","exit":{"_tag":"Success"}}]`},
		{"pull live ignored", `{"_tag":"Request","id":"2","tag":"SyncHttpRpc.Pull","payload":{"storeId":"s","live":true,"cursor":{"_tag":"None"}}}`, `[{"_tag":"Chunk","requestId":"2","values":[{"batch":[],"pageInfo":{"_tag":"NoMore"},"backendId":"<backend>"}]},{"_tag":"Exit","requestId":"2","exit":{"_tag":"Success"}}]`},
		{"pull mismatch", httpPull("4", `{"_tag":"Some","value":{"backendId":"wrong","eventSequenceNumber":1}}`), `[{"_tag":"Exit","requestId":"4","exit":{"_tag":"Failure","cause":{"_tag":"Fail","error":{"expected":"<backend>","received":"wrong","_tag":"BackendIdMismatchError"}}}}]`},
		{"push server ahead", httpPush("5", eventJSON(5, `{}`)), `[{"_tag":"Exit","requestId":"5","exit":{"_tag":"Failure","cause":{"_tag":"Fail","error":{"minimumExpectedNum":0,"providedNum":4,"_tag":"ServerAheadError"}}}}]`},
	}
	svc := newGatedService(t, service.Options{})
	b := New(svc, Options{Logger: quietLogger})
	backendID := svc.backendID(t, "s")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want = strings.ReplaceAll(tt.want, "<backend>", backendID)
			for _, method := range []string{"POST", "PUT", "GET"} {
				res, got := doHTTP(t, b, method, "/any/path"+httpStore, nil, tt.body)
				if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
					t.Errorf("%s: status %d, content type %q", method, res.StatusCode, res.Header.Get("Content-Type"))
				}
				if !strings.HasPrefix(got, tt.want) || (!strings.HasSuffix(tt.want, ": ") && got != tt.want) {
					t.Errorf("%s:\n got %s\nwant %s", method, got, tt.want)
				}
				if res.Header.Get("Content-Length") == "" {
					t.Errorf("%s: no Content-Length", method)
				}
			}
		})
	}
}

func TestHTTPPullPages(t *testing.T) {
	t.Parallel()
	f := newGatedService(t, service.Options{})
	b := New(f, Options{Logger: quietLogger})
	var events []string
	for i := uint64(1); i <= 250; i++ {
		events = append(events, eventJSON(i, `{}`))
	}
	if _, got := doHTTP(t, b, "POST", httpStore, nil, httpPush("1", events...)); !strings.Contains(got, `"Success"`) {
		t.Fatal(got)
	}
	for _, tt := range []struct {
		cursor string
		pages  []string // page info of each Chunk
	}{
		{"", []string{`{"_tag":"MoreKnown","remaining":150}`, `{"_tag":"MoreKnown","remaining":50}`, `{"_tag":"NoMore"}`}},
		{`{"_tag":"Some","value":{"backendId":"<backend>","eventSequenceNumber":200}}`, []string{`{"_tag":"NoMore"}`}},
		{`{"_tag":"Some","value":{"backendId":"<backend>","eventSequenceNumber":250}}`, []string{`{"_tag":"NoMore"}`}},
	} {
		tt.cursor = strings.ReplaceAll(tt.cursor, "<backend>", f.backendID(t, "s"))
		_, got := doHTTP(t, b, "POST", httpStore, nil, httpPull("9", tt.cursor))
		var msgs []map[string]json.RawMessage
		if err := json.Unmarshal([]byte(got), &msgs); err != nil {
			t.Fatal(err)
		}
		if len(msgs) != len(tt.pages)+1 || string(msgs[len(msgs)-1]["exit"]) != `{"_tag":"Success"}` {
			t.Fatalf("cursor %s: %d messages, last %s", tt.cursor, len(msgs), got[max(0, len(got)-100):])
		}
		for i, want := range tt.pages {
			var values []struct{ PageInfo json.RawMessage }
			_ = json.Unmarshal(msgs[i]["values"], &values)
			if string(msgs[i]["_tag"]) != `"Chunk"` || len(values) != 1 || string(values[0].PageInfo) != want {
				t.Errorf("cursor %s page %d: %s, want page info %s", tt.cursor, i, msgs[i]["values"][:80], want)
			}
		}
	}
}

func TestHTTPResponseLimit(t *testing.T) {
	t.Parallel()
	f := newGatedService(t, service.Options{Limits: service.Limits{PageEvents: 10}})
	b := New(f, Options{Logger: quietLogger, HTTPResponseLimit: 1})
	var events []string
	for i := uint64(1); i <= 30; i++ {
		events = append(events, eventJSON(i, `{}`))
	}
	doHTTP(t, b, "POST", httpStore, nil, httpPush("1", events...))
	_, got := doHTTP(t, b, "POST", httpStore, nil, httpPull("2", ""))
	if strings.Count(got, `"_tag":"Chunk"`) != 1 || !strings.Contains(got, `"remaining":20`) || !strings.HasSuffix(got, `{"_tag":"Exit","requestId":"2","exit":{"_tag":"Success"}}]`) {
		t.Errorf("got %.300s", got)
	}
}

func TestHTTPServiceErrorsAreUnknownErrors(t *testing.T) {
	t.Parallel()
	f := newGatedService(t, service.Options{})
	f.pingErr = service.ErrClosed
	f.pushErr = errors.New("disk on fire")
	b := New(f, Options{Logger: quietLogger})
	_, got := doHTTP(t, b, "POST", httpStore, nil, httpPing("1"))
	if want := `[{"_tag":"Exit","requestId":"1","exit":{"_tag":"Failure","cause":{"_tag":"Fail","error":{"cause":{"name":"Error","message":"` + service.ErrClosed.Error() + `"},"_tag":"UnknownError"}}}}]`; got != want {
		t.Errorf("ping: %s", got)
	}
	_, got = doHTTP(t, b, "POST", httpStore, nil, httpPush("2", eventJSON(1, `{}`)))
	if want := `[{"_tag":"Exit","requestId":"2","exit":{"_tag":"Failure","cause":{"_tag":"Fail","error":{"cause":{"name":"Error","message":"disk on fire"},"_tag":"UnknownError"}}}}]`; got != want {
		t.Errorf("push: %s", got)
	}
}

func TestHTTPGzip(t *testing.T) {
	t.Parallel()
	f := newGatedService(t, service.Options{})
	b := New(f, Options{Logger: quietLogger})
	var events []string
	for i := uint64(1); i <= 20; i++ {
		events = append(events, eventJSON(i, `{}`))
	}
	doHTTP(t, b, "POST", httpStore, nil, httpPush("1", events...))
	big, small := httpPull("2", ""), httpPing("3")
	tests := []struct {
		name, accept, body string
		gzip               bool
	}{
		{"big, gzip", "gzip, deflate", big, true},
		{"big, star", "*", big, true},
		{"big, x-gzip", "x-gzip", big, true},
		{"big, gzip q=0", "gzip;q=0, deflate", big, false},
		{"big, star but gzip q=0", "*, gzip; q=0", big, false},
		{"big, deflate only", "deflate", big, false},
		{"big, none", "", big, false},
		{"small, gzip", "gzip", small, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", httpStore, strings.NewReader(tt.body))
			if tt.accept != "" {
				req.Header.Set("Accept-Encoding", tt.accept)
			}
			rec := httptest.NewRecorder()
			b.ServeHTTP(rec, req)
			h := rec.Result().Header
			if gz := h.Get("Content-Encoding") == "gzip"; gz != tt.gzip {
				t.Fatalf("gzip %v, want %v", gz, tt.gzip)
			}
			if h.Get("Content-Length") != itoa(rec.Body.Len()) {
				t.Errorf("Content-Length %q, body %d", h.Get("Content-Length"), rec.Body.Len())
			}
			if h.Get("Vary") != "Accept-Encoding" {
				t.Errorf("Vary %q", h.Get("Vary"))
			}
			body := rec.Body.Bytes()
			if tt.gzip {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(zr)
			}
			if !json.Valid(body) || body[0] != '[' {
				t.Errorf("body %.100s", body)
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestHTTPCORS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, target string
		status               int
	}{
		{"sync 200", "POST", httpStore, 200},
		{"preflight 204", "OPTIONS", httpStore, 204},
		{"400", "POST", "/other", 400},
		{"426", "GET", "/?storeId=s&transport=ws", 426},
		{"413", "POST", httpStore, 413},
	}
	for _, disable := range []bool{false, true} {
		b := New(newGatedService(t, service.Options{}), Options{Logger: quietLogger, DisableCORS: disable, HTTPBodyLimit: 200})
		for _, tt := range tests {
			body := httpPing("1")
			if tt.status == 413 {
				body = strings.Repeat(" ", 300) + body
			}
			res, _ := doHTTP(t, b, tt.method, tt.target, map[string]string{"Access-Control-Request-Headers": "content-type,b3"}, body)
			wantStatus := tt.status
			if disable && tt.method == "OPTIONS" {
				wantStatus = 200 // an ordinary sync request without a body
			}
			if res.StatusCode != wantStatus {
				t.Errorf("%s (disable %v): status %d", tt.name, disable, res.StatusCode)
			}
			want := map[string]string{
				"Access-Control-Allow-Origin":  "*",
				"Access-Control-Allow-Methods": "GET, POST, OPTIONS",
				"Access-Control-Allow-Headers": "content-type,b3",
				"Access-Control-Max-Age":       "",
			}
			if tt.method == "OPTIONS" {
				want["Access-Control-Max-Age"] = corsMaxAge
			}
			for k, v := range want {
				if disable {
					v = ""
				}
				if got := res.Header.Get(k); got != v {
					t.Errorf("%s (disable %v): %s %q, want %q", tt.name, disable, k, got, v)
				}
			}
		}
	}
}

func TestHTTPBodyLimit(t *testing.T) {
	t.Parallel()
	f := newGatedService(t, service.Options{})
	b := New(f, Options{Logger: quietLogger, HTTPBodyLimit: 1000})
	res, got := doHTTP(t, b, "POST", httpStore, nil, httpPush("1", eventJSON(1, `"`+strings.Repeat("x", 1000)+`"`)))
	if res.StatusCode != http.StatusRequestEntityTooLarge || res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if want := `[{"_tag":"Defect","defect":"request body exceeds the limit of 1000 bytes (HTTPBodyLimit)"}]`; got != want {
		t.Errorf("got %s", got)
	}
	if f.head(t, "s") != 0 {
		t.Errorf("pushed anyway")
	}
	// Exactly at the limit is fine.
	body := httpPing("2")
	body += strings.Repeat(" ", 1000-len(body))
	if res, got := doHTTP(t, b, "POST", httpStore, nil, body); res.StatusCode != 200 || !strings.Contains(got, "Pong") {
		t.Errorf("at the limit: %d %s", res.StatusCode, got)
	}
}

func TestHTTPDefaults(t *testing.T) {
	t.Parallel()
	o := Options{}.withDefaults(nil)
	if o.HTTPBodyLimit != 4<<20 || o.RequestTimeout != 10*time.Second {
		t.Errorf("defaults: %d %v", o.HTTPBodyLimit, o.RequestTimeout)
	}
}

func TestHTTPTimeout(t *testing.T) {
	t.Parallel()
	f := newGatedService(t, service.Options{})
	f.callDelay = 10 * time.Second
	b := New(f, Options{Logger: quietLogger, RequestTimeout: 50 * time.Millisecond})
	for _, body := range []string{httpPing("1"), httpPush("1", eventJSON(1, `{}`)), httpPull("1", "")} {
		_, got := doHTTP(t, b, "POST", httpStore, nil, body)
		if want := `[{"_tag":"Exit","requestId":"1","exit":{"_tag":"Failure","cause":{"_tag":"Fail","error":{"cause":{"name":"Error","message":"request timed out"},"_tag":"UnknownError"}}}}]`; got != want {
			t.Errorf("got %s", got)
		}
		// The answer came because the call's context ran out, not because the call ended.
		select {
		case err := <-f.calls:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("call ended with %v, want context.DeadlineExceeded", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("the service call was not cancelled by the timeout")
		}
	}
}

func TestHTTPClientGoneCancelsCall(t *testing.T) {
	t.Parallel()
	f := newGatedService(t, service.Options{})
	f.callDelay = 30 * time.Second
	f.callStarted = make(chan struct{}, 1)
	var logs safeBuffer
	b := New(f, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	defer func() {
		if strings.Contains(logs.String(), "level=ERROR") {
			t.Errorf("a client that went away was logged as an error:\n%s", logs.String())
		}
	}()
	srv := httptest.NewServer(b)
	defer srv.Close()
	for _, body := range []string{httpPing("1"), httpPush("1", eventJSON(1, `{}`)), httpPull("1", "")} {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+httpStore, strings.NewReader(body))
		done := make(chan error, 1)
		go func() {
			res, err := http.DefaultClient.Do(req)
			if err == nil {
				res.Body.Close()
			}
			done <- err
		}()
		select {
		case <-f.callStarted: // the request reached the service
		case err := <-done:
			t.Fatalf("request ended before the service was called: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("the service was not called")
		}
		cancel()
		if err := <-done; err == nil {
			t.Fatal("request succeeded")
		}
		select {
		case err := <-f.calls:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("call ended with %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("service call not cancelled")
		}
	}
}

func TestHTTPMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	f := newGatedService(t, service.Options{})
	b := New(f, Options{Logger: quietLogger, Metrics: service.NewMetrics(reg)})
	open := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetValue() == "http" && m.GetGauge() != nil {
						return m.GetGauge().GetValue()
					}
				}
			}
		}
		return -1
	}
	f.callGate = make(chan struct{}) // the request stays in flight until it is closed
	f.callStarted = make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		doHTTP(t, b, "POST", httpStore, nil, httpPing("1"))
	}()
	select { // the bridge counts the request open before it calls the service
	case <-f.callStarted:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the service")
	}
	if got := open(); got != 1 {
		t.Errorf("open http connections during the request: %v", got)
	}
	close(f.callGate)
	<-done
	if got := open(); got != 0 {
		t.Errorf("open http connections after the request: %v", got)
	}
	// Nil metrics count nothing.
	doHTTP(t, New(newGatedService(t, service.Options{}), Options{Logger: quietLogger}), "POST", httpStore, nil, httpPing("1"))
}

func TestHTTPLogsFailuresWithoutPayload(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	b := New(newGatedService(t, service.Options{}), Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	doHTTP(t, b, "POST", httpStore, nil, httpPush("1", eventJSON(5, `{"secret":"hunter2"}`)))
	doHTTP(t, b, "POST", httpStore, nil, httpPing("2"))
	log := buf.String()
	if strings.Count(log, "http sync request failed") != 1 || !strings.Contains(log, "storeId=s") ||
		!strings.Contains(log, "rpc=SyncHttpRpc.Push") || strings.Contains(log, "hunter2") {
		t.Errorf("log: %s", log)
	}
}

// safeBuffer is a bytes.Buffer safe for concurrent use, for logs.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
