package bridge

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/coder/websocket"

	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
)

var generateConversations = flag.Bool("generate-conversations", false,
	"write testdata/conversations/<name> from the captured transcripts (overwrites hand edits)")

// convAdminSecret is the admin secret of the conversations' server (LiveStore 0.3's admin
// messages).
const convAdminSecret = "reference03-admin-secret"

// convTimeout bounds every wait of a conversation: expect fails (never passes) when it runs out.
const convTimeout = 10 * time.Second

// TestConversations replays the conversations captured with the original server
// (testdata/transcripts/ws-*.jsonl, testdata/http/http-*.jsonl) against the real bridge over the
// real service on an in-memory Pebble, served by an httptest.Server on loopback and spoken to by
// a real WebSocket client. Each conversation is a datadriven script in testdata/conversations/,
// one per transcript, named as the transcript; each script starts with a fresh server.
//
// The script language (arguments in brackets are optional; sock defaults to "a"):
//
//	dial [sock=a] [store=<id>] [payload=<json>] [v03]
//	    opens a WebSocket to /?storeId=<id>&transport=ws[&payload=<json>] (store defaults to
//	    store-<script name>); with v03, LiveStore 0.3's /websocket?storeId=<id>[&payload=<json>].
//	    No output.
//	send [sock=a]
//	<frame>...
//	    sends each input line as one text frame, in order. No output.
//	expect [sock=a] [sorted]
//	----
//	<frame>...
//	    reads as many frames as the expected output has lines (with -rewrite too) and prints
//	    them one per line, in the order received. Each read waits at most convTimeout and fails
//	    the test when nothing came. With sorted, the frames are printed sorted: for frames of
//	    several requests whose relative order is not defined (broadcasts to two live pulls).
//	close [sock=a] [code=1000]
//	    closes the socket with a close frame and prints the close code the server answered.
//	drop [sock=a]
//	    drops the TCP connection of the socket without a close frame. No output.
//	post [store=<id>] [url=<target>] [method=POST] [header=<name>:<value>]... [headers]
//	<body>
//	----
//	<status>
//	<element>...
//	    sends one HTTP request (by default POST /?storeId=<id>&transport=http) with the input as
//	    body and prints the status, with headers the response's CORS headers and
//	    Content-Encoding (name: value, sorted), then the response body: a JSON array one element
//	    a line, any other body as it is. A gzip-encoded body is decoded first.
//
// Volatile values are replaced, both in what the server sends and in what a script sends, by
// placeholders: backend ids by <backend> (then <backend-2>, … for the next distinct ids, in the
// order they first appear), createdAt timestamps by <time>, Effect fiber ids by <fiber>. A
// placeholder in a frame or body a script sends is replaced by the value it stands for.
//
// Lines starting with # are comments; "# differs from the original: …" above a command says that
// the output written is ours and how the original's differed (README.md, "LiveStore's protocol").
//
// The scripts were first written by -generate-conversations from the transcripts (the original's
// frames as expected output) and then edited where our server differs; -rewrite rewrites the
// expected output with ours.
func TestConversations(t *testing.T) {
	if *generateConversations {
		generateConversationScripts(t)
	}
	scripts, err := filepath.Glob("testdata/conversations/*-*")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no conversations: %v", err)
	}
	have := map[string]bool{}
	for _, s := range scripts {
		have[filepath.Base(s)] = true
	}
	for _, name := range transcriptNames(t) {
		if !have[name] {
			t.Errorf("transcript %s has no conversation script", name)
		}
	}
	for _, path := range scripts {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c := newConversation(t, filepath.Base(path))
			datadriven.RunTest(t, path, c.run)
		})
	}
}

func transcriptNames(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, pattern := range []string{"testdata/transcripts/ws-*.jsonl", "testdata/http/http-*.jsonl"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			names = append(names, strings.TrimSuffix(filepath.Base(f), ".jsonl"))
		}
	}
	return names
}

// convNormaliser replaces volatile values by placeholders and back.
type convNormaliser struct {
	backends map[string]string // value -> placeholder
	order    []string          // values in the order learned
}

var (
	// A backend id is learned where the server names its own: a backendId field, or the expected
	// id of a BackendIdMismatchError.
	convBackendIDRE = regexp.MustCompile(`"(?:backendId|expected)":"([^"]+)"`)
	convCreatedAtRE = regexp.MustCompile(`"createdAt":"[^"]*"`)
	convFiberIDRE   = regexp.MustCompile(`"fiberId":\{"_tag":"Runtime","id":-?\d+,"startTimeMillis":\d+\}`)
)

func newConvNormaliser() *convNormaliser {
	return &convNormaliser{backends: map[string]string{}}
}

// server normalises what the server sent, learning backend ids from it.
func (n *convNormaliser) server(s string) string {
	for _, m := range convBackendIDRE.FindAllStringSubmatch(s, -1) {
		if _, ok := n.backends[m[1]]; !ok {
			p := "<backend>"
			if len(n.order) > 0 {
				p = fmt.Sprintf("<backend-%d>", len(n.order)+1)
			}
			n.backends[m[1]] = p
			n.order = append(n.order, m[1])
		}
	}
	s = n.replaceBackends(s)
	s = convCreatedAtRE.ReplaceAllString(s, `"createdAt":"<time>"`)
	return convFiberIDRE.ReplaceAllString(s, `"fiberId":"<fiber>"`)
}

// replaceBackends replaces every quoted known backend id by its placeholder.
func (n *convNormaliser) replaceBackends(s string) string {
	for _, v := range n.order {
		s = strings.ReplaceAll(s, `"`+v+`"`, `"`+n.backends[v]+`"`)
	}
	return s
}

// client replaces placeholders in what a script sends by the values they stand for.
func (n *convNormaliser) client(s string) string {
	// Longest placeholders first: <backend-2> before <backend>.
	vals := append([]string(nil), n.order...)
	sort.Slice(vals, func(i, j int) bool { return len(n.backends[vals[i]]) > len(n.backends[vals[j]]) })
	for _, v := range vals {
		s = strings.ReplaceAll(s, n.backends[v], v)
	}
	return s
}

type convSocket struct {
	ws     *websocket.Conn
	frames chan string
	done   chan struct{}
	err    error
}

type conversation struct {
	t       *testing.T
	name    string
	srv     *httptest.Server
	client  *http.Client
	norm    *convNormaliser
	sockets map[string]*convSocket
}

func newConversation(t *testing.T, name string) *conversation {
	engine, err := pebblestore.Open("/data", pebblestore.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(engine, service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := New(svc, Options{Logger: slog.New(slog.DiscardHandler), AdminSecret: convAdminSecret})
	srv := httptest.NewServer(b)
	c := &conversation{
		t: t, name: name, srv: srv, norm: newConvNormaliser(), sockets: map[string]*convSocket{},
		client: &http.Client{Transport: &http.Transport{DisableCompression: true}},
	}
	t.Cleanup(func() {
		for _, s := range c.sockets {
			_ = s.ws.CloseNow()
		}
		ctx, cancel := context.WithTimeout(context.Background(), convTimeout)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		srv.Close()
		svc.Close()
	})
	return c
}

func (c *conversation) run(t *testing.T, d *datadriven.TestData) string {
	switch d.Cmd {
	case "dial":
		c.dial(t, d)
		return ""
	case "send":
		s := c.socket(t, d)
		for _, line := range inputLines(d.Input) {
			ctx, cancel := context.WithTimeout(context.Background(), convTimeout)
			err := s.ws.Write(ctx, websocket.MessageText, []byte(c.norm.client(line)))
			cancel()
			if err != nil {
				d.Fatalf(t, "write: %v", err)
			}
		}
		return ""
	case "expect":
		s := c.socket(t, d)
		n := len(inputLines(d.Expected))
		if n == 0 {
			d.Fatalf(t, "expect needs its frames as expected output")
		}
		frames := make([]string, n)
		for i := range frames {
			frames[i] = c.norm.server(s.next(t, d))
		}
		if d.HasArg("sorted") {
			sort.Strings(frames)
		}
		return strings.Join(frames, "\n") + "\n"
	case "close":
		s := c.socket(t, d)
		code := 1000
		if d.HasArg("code") {
			d.ScanArgs(t, "code", &code)
		}
		err := s.ws.Close(websocket.StatusCode(code), "")
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return fmt.Sprintf("closed %d\n", ce.Code)
		}
		if err != nil {
			return fmt.Sprintf("close: %v\n", err)
		}
		return fmt.Sprintf("closed %d\n", code)
	case "drop":
		s := c.socket(t, d)
		_ = s.ws.CloseNow()
		<-s.done
		return ""
	case "post":
		return c.post(t, d)
	}
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}

func inputLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func sockName(t *testing.T, d *datadriven.TestData) string {
	name := "a"
	if d.HasArg("sock") {
		d.ScanArgs(t, "sock", &name)
	}
	return name
}

func (c *conversation) socket(t *testing.T, d *datadriven.TestData) *convSocket {
	s := c.sockets[sockName(t, d)]
	if s == nil {
		d.Fatalf(t, "socket %q not dialled", sockName(t, d))
	}
	return s
}

func (c *conversation) storeArg(t *testing.T, d *datadriven.TestData) string {
	store := "store-" + c.name
	if d.HasArg("store") {
		d.ScanArgs(t, "store", &store)
	}
	return store
}

func (c *conversation) dial(t *testing.T, d *datadriven.TestData) {
	name := sockName(t, d)
	if c.sockets[name] != nil {
		d.Fatalf(t, "socket %q already dialled", name)
	}
	target := "ws" + strings.TrimPrefix(c.srv.URL, "http") + "/?storeId=" + url.QueryEscape(c.storeArg(t, d)) + "&transport=ws"
	if d.HasArg("v03") { // LiveStore 0.3's URL (ws03_conversation_test.go)
		target = "ws" + strings.TrimPrefix(c.srv.URL, "http") + "/websocket?storeId=" + url.QueryEscape(c.storeArg(t, d))
	}
	if d.HasArg("payload") {
		var payload string
		d.ScanArgs(t, "payload", &payload)
		target += "&payload=" + url.QueryEscape(payload)
	}
	ctx, cancel := context.WithTimeout(context.Background(), convTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, target, nil)
	if err != nil {
		d.Fatalf(t, "dial: %v", err)
	}
	ws.SetReadLimit(64 << 20)
	s := &convSocket{ws: ws, frames: make(chan string, 4096), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				s.err = err
				return
			}
			s.frames <- string(data)
		}
	}()
	c.sockets[name] = s
}

// next returns the next frame of the socket, failing after convTimeout.
func (s *convSocket) next(t *testing.T, d *datadriven.TestData) string {
	timer := time.NewTimer(convTimeout)
	defer timer.Stop()
	select {
	case f := <-s.frames:
		return f
	case <-s.done:
		select {
		case f := <-s.frames:
			return f
		default:
		}
		d.Fatalf(t, "socket ended while waiting for a frame: %v", s.err)
	case <-timer.C:
		d.Fatalf(t, "no frame within %s", convTimeout)
	}
	return ""
}

func (c *conversation) post(t *testing.T, d *datadriven.TestData) string {
	method := "POST"
	if d.HasArg("method") {
		d.ScanArgs(t, "method", &method)
	}
	target := "/?storeId=" + url.QueryEscape(c.storeArg(t, d)) + "&transport=http"
	if d.HasArg("url") {
		d.ScanArgs(t, "url", &target)
	}
	body := strings.TrimSuffix(d.Input, "\n")
	req, err := http.NewRequest(method, c.srv.URL+target, strings.NewReader(c.norm.client(body)))
	if err != nil {
		d.Fatalf(t, "request: %v", err)
	}
	for _, a := range d.CmdArgs {
		if a.Key != "header" {
			continue
		}
		k, val, _ := strings.Cut(strings.Join(a.Vals, ","), ":")
		req.Header.Add(k, val)
	}
	ctx, cancel := context.WithTimeout(context.Background(), convTimeout)
	defer cancel()
	res, err := c.client.Do(req.WithContext(ctx))
	if err != nil {
		d.Fatalf(t, "%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	var r io.Reader = res.Body
	if res.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			d.Fatalf(t, "gzip: %v", err)
		}
		r = zr
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		d.Fatalf(t, "read body: %v", err)
	}
	out := fmt.Sprintf("%d\n", res.StatusCode)
	if d.HasArg("headers") {
		h := map[string]string{}
		for k := range res.Header {
			h[strings.ToLower(k)] = res.Header.Get(k)
		}
		out += formatShownHeaders(h)
	}
	return out + formatHTTPBody(c.norm.server(string(raw)))
}

// formatShownHeaders writes the response headers that post's headers argument shows, sorted:
// the CORS headers and Content-Encoding.
func formatShownHeaders(h map[string]string) string {
	var lines []string
	for k, v := range h {
		if strings.HasPrefix(k, "access-control-") || k == "content-encoding" {
			lines = append(lines, k+": "+v+"\n")
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "")
}

// formatHTTPBody writes a JSON array one element a line, any other body as it is.
func formatHTTPBody(body string) string {
	var elems []json.RawMessage
	if strings.HasPrefix(body, "[") && json.Unmarshal([]byte(body), &elems) == nil && len(elems) > 0 {
		var b strings.Builder
		for _, e := range elems {
			var buf bytes.Buffer
			if json.Compact(&buf, e) != nil {
				return body + "\n"
			}
			b.Write(buf.Bytes())
			b.WriteByte('\n')
		}
		return b.String()
	}
	if body == "" {
		return ""
	}
	return strings.TrimSuffix(body, "\n") + "\n"
}

// generateConversationScripts writes one script per transcript with the original server's
// answers as expected output.
func generateConversationScripts(t *testing.T) {
	if err := os.MkdirAll("testdata/conversations", 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/transcripts/ws-*.jsonl")
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".jsonl")
		writeScript(t, name, generateWSScript(name, loadTranscript(t, f)))
	}
	files, _ = filepath.Glob("testdata/http/http-*.jsonl")
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".jsonl")
		writeScript(t, name, generateHTTPScript(name, loadHTTPExchanges(t, f)))
	}
}

func writeScript(t *testing.T, name, text string) {
	if err := os.WriteFile(filepath.Join("testdata/conversations", name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func generateWSScript(name string, frames []frame) string {
	norm := newConvNormaliser()
	socks := map[string]string{} // conn -> sock name
	var out strings.Builder
	fmt.Fprintf(&out, "# Replays testdata/transcripts/%s.jsonl.\n\n", name)
	multi := map[string]bool{} // the connections of the transcript
	for _, fr := range frames {
		multi[fr.Conn] = true
	}
	var pendCmd, pendSock string
	var pend []string
	flush := func() {
		if len(pend) == 0 {
			return
		}
		out.WriteString(pendCmd)
		if len(multi) > 1 {
			fmt.Fprintf(&out, " sock=%s", pendSock)
		}
		out.WriteByte('\n')
		if pendCmd == "send" {
			out.WriteString(strings.Join(pend, "\n") + "\n----\n\n")
		} else {
			out.WriteString("----\n" + strings.Join(pend, "\n") + "\n\n")
		}
		pend = nil
	}
	for _, fr := range frames {
		sock, ok := socks[fr.Conn]
		if !ok {
			flush()
			sock = string(rune('a' + len(socks)))
			socks[fr.Conn] = sock
			out.WriteString("dial")
			if len(multi) > 1 {
				fmt.Fprintf(&out, " sock=%s", sock)
			}
			if store := frameStore(frames, fr.Conn); store != "" && store != "store-"+name {
				fmt.Fprintf(&out, " store=%s", store)
			}
			out.WriteString("\n----\n\n")
		}
		cmd, text := "send", norm.replaceBackends(fr.Text)
		if fr.Dir == "s" {
			cmd, text = "expect", norm.server(fr.Text)
		}
		if cmd != pendCmd || sock != pendSock {
			flush()
		}
		pendCmd, pendSock = cmd, sock
		pend = append(pend, text)
	}
	flush()
	return strings.TrimSuffix(out.String(), "\n")
}

// frameStore returns the store id of the first request a connection sent.
func frameStore(frames []frame, conn string) string {
	for _, fr := range frames {
		if fr.Conn != conn || fr.Dir != "c" {
			continue
		}
		var m struct {
			Payload struct {
				StoreID string `json:"storeId"`
			} `json:"payload"`
		}
		if json.Unmarshal([]byte(fr.Text), &m) == nil && m.Payload.StoreID != "" {
			return m.Payload.StoreID
		}
	}
	return ""
}

func generateHTTPScript(name string, exs []httpExchange) string {
	norm := newConvNormaliser()
	var out strings.Builder
	fmt.Fprintf(&out, "# Replays testdata/http/%s.jsonl.\n\n", name)
	showHeaders := name == "http-raw-edge-cases" // the one that checks CORS and compression
	for _, ex := range exs {
		out.WriteString("post")
		u, _ := url.Parse(ex.URL)
		q := u.Query()
		plain := ex.Method == "POST" && u.Path == "/" && len(q) == 2 && q.Get("transport") == "http" && q.Get("storeId") != ""
		if plain {
			if s := q.Get("storeId"); s != "store-"+name {
				fmt.Fprintf(&out, " store=%s", s)
			}
		} else {
			if ex.Method != "POST" {
				fmt.Fprintf(&out, " method=%s", ex.Method)
			}
			fmt.Fprintf(&out, " url=%s", ex.URL)
		}
		keys := make([]string, 0, len(ex.ReqHeaders))
		for k := range ex.ReqHeaders {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "accept-encoding" && ex.ReqHeaders[k] == "gzip, deflate" {
				continue
			}
			fmt.Fprintf(&out, " header=%s:%s", k, ex.ReqHeaders[k])
		}
		if showHeaders {
			out.WriteString(" headers")
		}
		out.WriteByte('\n')
		if ex.Body != "" {
			out.WriteString(norm.replaceBackends(ex.Body) + "\n")
		}
		fmt.Fprintf(&out, "----\n%d\n", ex.Status)
		if showHeaders {
			out.WriteString(formatShownHeaders(ex.RespHeaders))
		}
		fmt.Fprintf(&out, "%s\n", formatHTTPBody(norm.server(ex.RespBody)))
	}
	return strings.TrimSuffix(out.String(), "\n")
}
