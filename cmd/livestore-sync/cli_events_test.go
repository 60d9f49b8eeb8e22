package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
)

var createdAtField = regexp.MustCompile(`,"createdAt":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"}\n`)

// withoutCreatedAt removes createdAt from the events of an export.
func withoutCreatedAt(export string) string { return createdAtField.ReplaceAllString(export, "}\n") }

// encodeEvents is what an export of events prints, without createdAt.
func encodeEvents(events []*syncv1.Event) string {
	var b []byte
	for _, e := range events {
		b = append(eventjson.AppendEvent(b, e), '\n')
	}
	return string(b)
}

// trickyEvents returns events whose args, names and ids exercise the encoding: unicode, escapes,
// nesting, whitespace inside and around args, every kind of JSON value, no args; then many more
// events, some large, so that an import needs several batches, limited by count and by size.
func trickyEvents() []*syncv1.Event {
	args := []string{
		`{"id":"t1","text":"ü 🎉 \"quoted\" \\ back\\nslash \u00fc"}`,
		`{"nested":{"a":[1,2,{"b":null}],"c":{"d":{"e":"f"}}},"n":1.50,"big":12345678901234567890,"e":1E3}`,
		"{ \"spaced\" :  [ 1 , 2 ] ,\t\"tab\": \"x\" }",
		"{\n  \"multi\": \"line\",\n  \"list\": [\n    1\n  ]\n}",
		"  [\"whitespace around\"] \n",
		`"just a string"`,
		`null`,
		``,
		`42`,
		`{"html":"<a href=\"x\">&amp;</a>","ctl":"\u0001\t"}`,
	}
	var events []*syncv1.Event
	for i, a := range args {
		events = append(events, &syncv1.Event{Name: fmt.Sprintf("todo\"Created ü-v%d", i), Args: a, ClientId: "client-🎉", SessionId: "s\ttab"})
	}
	for i := range 240 {
		a := fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, strings.Repeat("x", 1000))
		if i%60 == 0 {
			a = fmt.Sprintf(`{"i":%d,"big":"%s"}`, i, strings.Repeat("é", 150_000)) // 300,000 bytes
		}
		events = append(events, &syncv1.Event{Name: "bulk", Args: a, ClientId: "c", SessionId: "s"})
	}
	return chain(0, events...)
}

// An export imported into another store exports the same, byte for byte but for createdAt.
func TestCLIExportImportRoundTrip(t *testing.T) {
	url := cliServer(t)
	events := trickyEvents()
	cliPush(t, url, "src", events)
	want := encodeEvents(events)

	exp := cliRun(t, "", "export", "src", "--server", url)
	exp.want(t, 0)
	if got := withoutCreatedAt(exp.stdout); got != want {
		t.Fatalf("export differs from the pushed events:\n%.2000s\nwant:\n%.2000s", got, want)
	}
	if strings.Count(exp.stdout, `"createdAt":"`) != len(events) {
		t.Fatalf("export lacks createdAt")
	}

	cliRun(t, exp.stdout, "import", "dst", "--server", url).want(t, 0, fmt.Sprintf(`imported %d events into store "dst"; its head is now %d`, len(events), len(events)))
	exp2 := cliRun(t, "", "export", "dst", "--server", url, "--admin-secret", cliSecret)
	exp2.want(t, 0)
	if withoutCreatedAt(exp2.stdout) != want {
		t.Fatalf("the import's export differs:\n%.2000s", exp2.stdout)
	}

	// --out writes the same as stdout; --in reads it back; --from exports a suffix.
	file := filepath.Join(t.TempDir(), "src.jsonl")
	cliRun(t, "", "export", "--out", file, "src", "--server", url).want(t, 0)
	if b, err := os.ReadFile(file); err != nil || string(b) != exp.stdout {
		t.Fatalf("export --out: %v\n%.500s", err, b)
	}
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
		t.Fatalf("export --out left files behind: %v", entries)
	}
	cliRun(t, "", "import", "dst2", "--in", file, "--server", url).want(t, 0, "imported 250 events")
	if got := cliRun(t, "", "export", "dst2", "--server", url); withoutCreatedAt(got.stdout) != want {
		t.Fatalf("import --in differs")
	}
	if got := cliRun(t, "", "export", "src", "--from", "248", "--server", url); withoutCreatedAt(got.stdout) != encodeEvents(events[248:]) {
		t.Fatalf("export --from 248:\n%.1000s", got.stdout)
	}

	// Importing the same events again is acknowledged without storing them twice.
	cliRun(t, exp.stdout, "import", "dst", "--server", url).want(t, 0)
	cliRun(t, "", "stores", "info", "dst", "--server", url, "--admin-secret", cliSecret).want(t, 0, "events:      250")

	// Importing into a store with other events fails with the server's ServerAhead error.
	cliPush(t, url, "other", chain(0, &syncv1.Event{Name: "x", ClientId: "c", SessionId: "s"}))
	cliRun(t, exp.stdout, "import", "other", "--server", url).want(t, 1, `store "other" already has events up to seqNum 1`)
	// So does importing with a gap.
	cliRun(t, `{"name":"x","seqNum":5,"parentSeqNum":4,"clientId":"c","sessionId":"s"}`, "import", "other", "--server", url).
		want(t, 1, `store "other" has events only up to seqNum 1, but input event 1 continues from seqNum 4`)
	// But an import that continues the store's head is fine.
	cliRun(t, `{"name":"y","seqNum":2,"parentSeqNum":1,"clientId":"c","sessionId":"s","createdAt":"2001-01-01T00:00:00.000Z"}`, "import", "other", "--server", url).
		want(t, 0, `imported 1 event into store "other"; its head is now 2`)
	if got := cliRun(t, "", "export", "other", "--server", url); strings.Contains(got.stdout, "2001-01-01") {
		t.Fatalf("import kept createdAt: %s", got.stdout)
	}

	// A missing store: exit 3 when the admin secret lets export tell, an empty export otherwise.
	cliRun(t, "", "export", "missing", "--server", url, "--admin-secret", cliSecret).want(t, 3, `store "missing" does not exist`)
	if r := cliRun(t, "", "export", "missing2", "--server", url); r.code != 0 || r.stdout != "" {
		t.Fatalf("export of a missing store without a secret: %+v", r)
	}
}

func TestCLIImportErrors(t *testing.T) {
	url := cliServer(t)
	line := func(seq uint64) string {
		return fmt.Sprintf(`{"name":"e","args":{"n":%d},"seqNum":%d,"parentSeqNum":%d,"clientId":"c","sessionId":"s"}`+"\n", seq, seq, seq-1)
	}
	var long strings.Builder
	for seq := uint64(1); seq <= 150; seq++ {
		long.WriteString(line(seq))
	}
	tests := []struct {
		name, stdin string
		wantCode    int
		wantOut     string
		wantHead    string
	}{
		{"not JSON", line(1) + "{nope\n", 1, "input event 2 is not valid JSON", ""},
		{"no seqNum", `{"name":"e"}`, 1, "input event 1 has no seqNum and parentSeqNum: import restores exported events", ""},
		{"only seqNum", `{"name":"e","seqNum":1}`, 1, "input event 1 has only one of seqNum and parentSeqNum", ""},
		{"no name", `{"seqNum":1,"parentSeqNum":0}`, 1, "input event 1 has no name", ""},
		{"unknown field", `{"name":"e","arg":1,"seqNum":1,"parentSeqNum":0}`, 1, `input event 1: json: unknown field "arg"`, ""},
		{"broken chain", line(1) + line(3), 1, "input event 2 (seqNum 3): parentSeqNum 2 is not the previous event's seqNum 1", ""},
		{"rejected by the server", `{"name":"e","seqNum":1,"parentSeqNum":1}`, 1, "the server rejected input event 1 (seqNum 1): seq_num 1 is not greater than parent_seq_num 1", ""},
		// The first batch (100 events) is stored before the bad line is read.
		{"partial", long.String() + "[]\n", 1, "pushed before this: 100 events, up to seqNum 100; after fixing the cause, run the same import again to continue", "head:        100"},
		{"empty", "", 0, `no events to import into store`, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := fmt.Sprintf("imp%d", i)
			cliRun(t, tt.stdin, "import", store, "--server", url).want(t, tt.wantCode, tt.wantOut)
			if tt.wantHead != "" {
				cliRun(t, "", "stores", "info", store, "--server", url, "--admin-secret", cliSecret).want(t, 0, tt.wantHead)
			}
		})
	}
	// Running the partial import again, fixed, completes it.
	cliRun(t, long.String(), "import", "imp7", "--server", url).want(t, 0, "imported 150 events")
}

func TestCLIPush(t *testing.T) {
	url := cliServer(t)
	var bulk strings.Builder
	for i := range 250 {
		fmt.Fprintf(&bulk, `{"name":"bulk","args":{"i":%d}}`+"\n", i)
	}
	steps := []struct {
		name     string
		stdin    string
		flags    []string
		wantCode int
		wantOut  string
	}{
		{"numbered after the head of an empty store", "{\"name\":\"a\",\"args\":{\"x\": 1}}\n{\"name\":\"b\"}\n", nil, 0, `pushed 2 events to store "p"; its head is now 2`},
		{"numbered, head from the admin API", `{"name":"c","args":[1, "ü"],"clientId":"me","sessionId":"tab"}`, []string{"--admin-secret", cliSecret}, 0, "pushed 1 event to store \"p\"; its head is now 3"},
		{"with seqNums that continue the log", `{"name":"d","args":null,"seqNum":4,"parentSeqNum":3}`, nil, 0, "its head is now 4"},
		{"with seqNums the store has, different", `{"name":"e","seqNum":2,"parentSeqNum":1}`, nil, 1, `store "p" already has events up to seqNum 4, which differ`},
		{"with seqNums after a gap", `{"name":"e","seqNum":9,"parentSeqNum":8}`, nil, 1, `store "p" has events only up to seqNum 4, but input event 1 continues from seqNum 8`},
		{"mixed", `{"name":"e"} {"name":"f","seqNum":5,"parentSeqNum":4}`, nil, 1, "input event 2 and the first event differ in having seqNum and parentSeqNum"},
		{"a bad line pushes nothing", "{\"name\":\"e\"}\n{\"name\":", nil, 1, "input event 2 is not valid JSON"},
		{"no name", `{"args":{}}`, nil, 1, "input event 1 has no name"},
		{"misspelt field", `{"name":"e","arg":{}}`, nil, 1, `unknown field "arg"`},
		{"nothing", "\n", nil, 0, `no events to push to store "p"`},
		{"several batches", bulk.String(), nil, 0, "pushed 250 events to store \"p\"; its head is now 254"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			cliRun(t, s.stdin, append([]string{"push", "p", "--server", url}, s.flags...)...).want(t, s.wantCode, s.wantOut)
		})
	}
	exp := cliRun(t, "", "export", "p", "--server", url)
	exp.want(t, 0)
	want := encodeEvents(chain(0,
		&syncv1.Event{Name: "a", Args: `{"x": 1}`, ClientId: cliID, SessionId: cliID},
		&syncv1.Event{Name: "b", ClientId: cliID, SessionId: cliID},
		&syncv1.Event{Name: "c", Args: `[1, "ü"]`, ClientId: "me", SessionId: "tab"},
		&syncv1.Event{Name: "d", Args: `null`, ClientId: cliID, SessionId: cliID},
		&syncv1.Event{Name: "bulk", Args: `{"i":0}`, ClientId: cliID, SessionId: cliID},
	))
	if got := withoutCreatedAt(exp.stdout); !strings.HasPrefix(got, want) || strings.Count(got, "\n") != 254 {
		t.Fatalf("store after the pushes:\n%.1500s\nwant prefix:\n%s", got, want)
	}
}

// Concurrent pushes of numbered-after-the-head events all land: each is renumbered and retried
// when another came first.
func TestCLIPushConcurrent(t *testing.T) {
	url := cliServer(t)
	const writers, each = 4, 20
	var wg sync.WaitGroup
	results := make([]cliResult, writers)
	for w := range writers {
		wg.Go(func() {
			var in strings.Builder
			for i := range each {
				fmt.Fprintf(&in, `{"name":"w","args":{"w":%d,"i":%d}}`+"\n", w, i)
			}
			var stdout, stderr strings.Builder
			code := runWith(context.Background(), []string{"push", "c", "--server", url}, strings.NewReader(in.String()), &stdout, &stderr)
			results[w] = cliResult{code, stdout.String(), stderr.String()}
		})
	}
	wg.Wait()
	for _, r := range results {
		r.want(t, 0, "pushed 20 events")
	}
	cliRun(t, "", "stores", "info", "c", "--server", url, "--admin-secret", cliSecret).want(t, 0, fmt.Sprintf("head:        %d", writers*each))
}

// lineWriter is an io.Writer that hands complete lines to a channel.
type lineWriter struct {
	mu    sync.Mutex
	buf   []byte
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		w.lines <- string(w.buf[:i+1])
		w.buf = w.buf[i+1:]
	}
}

// next returns the next line written, or fails the test after a while.
func (w *lineWriter) next(t *testing.T) string {
	t.Helper()
	select {
	case l := <-w.lines:
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("no line from tail")
		return ""
	}
}

// startTail runs tail in-process until the returned cancel is called; the channel receives
// its exit code and stderr.
func startTail(t *testing.T, args ...string) (*lineWriter, context.CancelFunc, chan cliResult) {
	out := &lineWriter{lines: make(chan string, 1000)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan cliResult, 1)
	go func() {
		var stderr strings.Builder
		code := runWith(ctx, append([]string{"tail"}, args...), nil, out, &stderr)
		done <- cliResult{code: code, stderr: stderr.String()}
	}()
	return out, cancel, done
}

// result waits for a tail to end.
func result(t *testing.T, done chan cliResult) cliResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("tail did not end")
		return cliResult{}
	}
}

func TestCLITail(t *testing.T) {
	url := cliServer(t)
	events := trickyEvents()[:10]
	cliPush(t, url, "t", events)

	t.Run("no-follow prints what export prints", func(t *testing.T) {
		tail := cliRun(t, "", "tail", "t", "--no-follow", "--server", url)
		tail.want(t, 0)
		if exp := cliRun(t, "", "export", "t", "--server", url); tail.stdout != exp.stdout || withoutCreatedAt(tail.stdout) != encodeEvents(events) {
			t.Fatalf("tail --no-follow:\n%s\nexport:\n%s", tail.stdout, exp.stdout)
		}
		tail = cliRun(t, "", "tail", "t", "--no-follow", "--from", "8", "--server", url)
		if withoutCreatedAt(tail.stdout) != encodeEvents(events[8:]) {
			t.Fatalf("tail --no-follow --from 8:\n%s", tail.stdout)
		}
	})

	t.Run("follows pushes until cancelled", func(t *testing.T) {
		out, cancel, done := startTail(t, "t", "--from", "9", "--server", url)
		if got := withoutCreatedAt(out.next(t)); got != encodeEvents(events[9:]) {
			t.Fatalf("first line %q", got)
		}
		more := chain(10, &syncv1.Event{Name: "live", Args: `{"a": "ü"}`, ClientId: "c", SessionId: "s"}, &syncv1.Event{Name: "live2", ClientId: "c", SessionId: "s"})
		cliRun(t, `{"name":"live","args":{"a": "ü"},"clientId":"c","sessionId":"s"}`+"\n"+`{"name":"live2","clientId":"c","sessionId":"s"}`, "push", "t", "--server", url).want(t, 0)
		if got := withoutCreatedAt(out.next(t) + out.next(t)); got != encodeEvents(more) {
			t.Fatalf("live lines %q", got)
		}
		cancel()
		if r := result(t, done); r.code != 0 || r.stderr != "" {
			t.Fatalf("cancelled tail: %+v", r)
		}
	})

	t.Run("ends with the store's deletion", func(t *testing.T) {
		cliPush(t, url, "gone", newEvents(0, 1))
		out, _, done := startTail(t, "gone", "--server", url)
		out.next(t)
		cliRun(t, "", "stores", "delete", "gone", "--yes", "--server", url, "--admin-secret", cliSecret).want(t, 0)
		result(t, done).want(t, 3, `store "gone" was deleted`)
	})

	t.Run("ends with the store's reset", func(t *testing.T) {
		cliPush(t, url, "reset", newEvents(0, 1))
		out, _, done := startTail(t, "reset", "--server", url)
		out.next(t)
		cliRun(t, "", "stores", "reset", "reset", "--yes", "--server", url, "--admin-secret", cliSecret).want(t, 0)
		result(t, done).want(t, 1, `store "reset" was reset`)
	})

	t.Run("a missing store", func(t *testing.T) {
		cliRun(t, "", "tail", "nope", "--server", url, "--admin-secret", cliSecret).want(t, 3, `store "nope" does not exist`)
	})
}

// The tail command of the binary ends cleanly, with exit code 0, on SIGINT.
func TestCLITailSIGINT(t *testing.T) {
	url := cliServer(t)
	cliPush(t, url, "sig", newEvents(0, 1))
	cmd := exec.Command(binary, "tail", "sig", "--server", url)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	lines := bufio.NewReader(stdout)
	if l, err := lines.ReadString('\n'); err != nil || !strings.Contains(l, `"seqNum":1`) {
		t.Fatalf("first line %q: %v", l, err)
	}
	cliPush(t, url, "sig", chain(1, &syncv1.Event{Name: "after", ClientId: "c", SessionId: "s"}))
	if l, err := lines.ReadString('\n'); err != nil || !strings.Contains(l, `"name":"after"`) {
		t.Fatalf("live line %q: %v", l, err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	rest, _ := io.ReadAll(lines)
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) || err != nil || len(rest) != 0 {
		t.Fatalf("tail after SIGINT: %v, rest %q\n%s", err, rest, stderr.String())
	}
}
