package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
)

// cliSecret is the admin secret of the servers the CLI tests start.
const cliSecret = "s3cret"

// cliResult is what one command line run in-process returned and printed.
type cliResult struct {
	code           int
	stdout, stderr string
}

// cliRun runs `livestore-sync args…` in-process with stdin and returns what it did. The
// environment variables of the client commands are cleared first, so that only args count.
func cliRun(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	t.Setenv("LIVESTORE_SYNC_SERVER", "")
	t.Setenv("LIVESTORE_SYNC_ADMIN_SECRET", "")
	os.Unsetenv("LIVESTORE_SYNC_SERVER")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := runWith(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// want fails the test unless the command exited with code and its output (stdout and stderr)
// contains every one of substrs.
func (r cliResult) want(t *testing.T, code int, substrs ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range substrs {
		if !strings.Contains(r.stdout+r.stderr, s) {
			t.Fatalf("output lacks %q\nstdout:\n%s\nstderr:\n%s", s, r.stdout, r.stderr)
		}
	}
}

// cliServer starts a server with the admin API on and returns its URL.
func cliServer(t *testing.T) string {
	t.Helper()
	return startServer(t, t.TempDir(), "--admin-secret", cliSecret).url
}

// cliPush pushes events to a store with the SyncService, in batches of at most 100.
func cliPush(t *testing.T, url, store string, events []*syncv1.Event) {
	t.Helper()
	client := syncv1connect.NewSyncServiceClient(h2cClient(), url)
	for len(events) > 0 {
		n := min(len(events), 100)
		_, err := client.Push(context.Background(), connect.NewRequest(&syncv1.PushRequest{StoreId: store, Batch: events[:n]}))
		if err != nil {
			t.Fatalf("push to %s: %v", store, err)
		}
		events = events[n:]
	}
}

// chain numbers events consecutively after head.
func chain(head uint64, events ...*syncv1.Event) []*syncv1.Event {
	for i, e := range events {
		e.ParentSeqNum, e.SeqNum = head+uint64(i), head+uint64(i)+1
	}
	return events
}

func TestCLIStores(t *testing.T) {
	url := cliServer(t)
	cliPush(t, url, "alpha", newEvents(0, 3))
	cliPush(t, url, "bêta 2", newEvents(0, 1))
	admin := []string{"--server", url, "--admin-secret", cliSecret}
	run := func(stdin string, args ...string) cliResult { return cliRun(t, stdin, append(args, admin...)...) }

	r := run("", "stores", "list")
	r.want(t, 0, "STORE", "HEAD", "EVENTS", "BACKEND ID")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`^alpha\s+3\s+3\s+\d+ B\s+\d{4}-\d\d-\d\dT`).MatchString(lines[1]) ||
		!strings.HasPrefix(lines[2], `"bêta 2"  `) {
		t.Fatalf("table:\n%s", r.stdout)
	}

	r = run("", "stores", "list", "--json")
	r.want(t, 0)
	var listed []storeJSON
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var st storeJSON
		if err := json.Unmarshal([]byte(line), &st); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		listed = append(listed, st)
	}
	if len(listed) != 2 || listed[0].StoreID != "alpha" || listed[0].Head != 3 || listed[0].EventCount != 3 ||
		listed[0].EventBytes == 0 || listed[0].BackendID == "" || listed[1].StoreID != "bêta 2" || listed[1].Head != 1 {
		t.Fatalf("stores list --json: %+v", listed)
	}
	if _, err := time.Parse(time.RFC3339, listed[0].CreatedAt); err != nil {
		t.Fatalf("createdAt %q: %v", listed[0].CreatedAt, err)
	}

	run("", "stores", "info", "alpha").want(t, 0, "store:       alpha", "head:        3", "events:      3", "backend id:  "+listed[0].BackendID)
	r = run("", "stores", "info", "--json", "alpha")
	r.want(t, 0)
	var info storeJSON
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || info != listed[0] {
		t.Fatalf("stores info --json = %+v (%v), want %+v", info, err, listed[0])
	}

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
	}{
		{"info of a missing store", []string{"stores", "info", "nope"}, 3, []string{`store "nope" does not exist`}},
		{"reset of a missing store", []string{"stores", "reset", "nope", "--yes"}, 3, []string{`store "nope" does not exist`}},
		{"delete of a missing store", []string{"stores", "delete", "nope", "--yes"}, 3, []string{`store "nope" does not exist`}},
		{"reset without --yes", []string{"stores", "reset", "alpha"}, 2, []string{"would drop all 3 events", `store "alpha"`, "--yes"}},
		{"delete without --yes", []string{"stores", "delete", "bêta 2"}, 2, []string{`would delete store "bêta 2" and its 1 event`, "--yes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { run("", tt.args...).want(t, tt.wantCode, tt.wantOut...) })
	}
	// Nothing was changed by the refusals.
	run("", "stores", "info", "alpha").want(t, 0, "head:        3")
	run("", "stores", "info", "bêta 2").want(t, 0, "head:        1")

	run("", "stores", "reset", "alpha", "--yes").want(t, 0, `reset store "alpha": dropped 3 events; its new backend id is `)
	r = run("", "stores", "info", "alpha", "--json")
	r.want(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || info.Head != 0 || info.EventCount != 0 || info.BackendID == listed[0].BackendID {
		t.Fatalf("after reset: %+v (%v)", info, err)
	}
	run("", "stores", "delete", "bêta 2", "--yes").want(t, 0, `deleted store "bêta 2" and its 1 event`)
	run("", "stores", "info", "bêta 2").want(t, 3, `store "bêta 2" does not exist`)
	run("", "stores", "list").want(t, 0, "alpha")
	if r := run("", "stores", "list"); strings.Contains(r.stdout, "bêta") {
		t.Fatalf("deleted store still listed:\n%s", r.stdout)
	}
}

// Admin calls that the server refuses exit with code 4 and say what to do.
func TestCLIAdminRefused(t *testing.T) {
	url := cliServer(t)
	off := startServer(t, t.TempDir()).url // no admin API
	cliPush(t, url, "s", newEvents(0, 1))
	commands := [][]string{{"stores", "list"}, {"stores", "info", "s"}, {"stores", "reset", "s", "--yes"}, {"stores", "delete", "s", "--yes"}, {"backup", filepath.Join(t.TempDir(), "b")}}
	cases := []struct {
		name    string
		args    []string
		wantOut string
	}{
		{"wrong secret", []string{"--server", url, "--admin-secret", "wrong"}, "rejected the admin secret: check --admin-secret"},
		{"no secret", []string{"--server", url}, "needs the server's admin secret: pass --admin-secret or set LIVESTORE_SYNC_ADMIN_SECRET"},
		{"admin API off", []string{"--server", off, "--admin-secret", cliSecret}, "refuses admin calls"},
	}
	for _, tc := range cases {
		for _, cmd := range commands {
			t.Run(tc.name+"/"+strings.Join(cmd[:min(2, len(cmd))], " "), func(t *testing.T) {
				cliRun(t, "", append(cmd, tc.args...)...).want(t, 4, tc.wantOut)
			})
		}
	}
	// Nothing was reset or deleted.
	cliRun(t, "", "stores", "info", "s", "--server", url, "--admin-secret", cliSecret).want(t, 0, "head:        1")

	// The secret may come from the environment, the server too.
	t.Run("secret and server from the environment", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		t.Setenv("LIVESTORE_SYNC_SERVER", strings.TrimPrefix(url, "http://"))
		t.Setenv("LIVESTORE_SYNC_ADMIN_SECRET", cliSecret)
		if code := runWith(context.Background(), []string{"stores", "info", "s"}, nil, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "head:        1") {
			t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
		}
	})
}

// A server that does not answer is exit code 1, with a message that names it.
func TestCLIUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	for _, cmd := range [][]string{
		{"stores", "list"}, {"stores", "info", "s"}, {"tail", "s"}, {"tail", "s", "--no-follow"}, {"export", "s"},
		{"import", "s"}, {"push", "s"}, {"backup", "/tmp/x"},
	} {
		t.Run(strings.Join(cmd, " "), func(t *testing.T) {
			stdin := `{"name":"a","seqNum":1,"parentSeqNum":0}`
			cliRun(t, stdin, append(cmd, "--server", url, "--admin-secret", cliSecret)...).want(t, 1, "cannot reach livestore-sync at "+url+": ", "connection refused")
		})
	}
}

func TestCLIUsage(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{[]string{"help"}, 0, "livestore-sync stores list"},
		{[]string{"help"}, 0, "3  the store does not exist"},
		{[]string{"stores"}, 2, "missing command"},
		{[]string{"stores", "bogus"}, 2, `unknown command "stores bogus"`},
		{[]string{"stores", "--help"}, 0, "Usage: livestore-sync stores COMMAND"},
		{[]string{"stores", "list", "extra"}, 2, `unexpected arguments: ["extra"]`},
		{[]string{"stores", "info"}, 2, "missing STORE (see livestore-sync stores info --help)"},
		{[]string{"stores", "reset"}, 2, "missing STORE"},
		{[]string{"stores", "delete", "a", "b"}, 2, "unexpected arguments"},
		{[]string{"tail"}, 2, "missing STORE"},
		{[]string{"tail", ""}, 2, "STORE is empty"},
		{[]string{"tail", "s", "--from", "x"}, 2, `invalid value "x" for flag -from`},
		{[]string{"export", "a", "b"}, 2, `unexpected arguments: ["b"]`},
		{[]string{"import", "s", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"push"}, 2, "missing STORE"},
		{[]string{"push", "s", "--server", "ftp://x"}, 2, "the scheme must be http or https"},
		{[]string{"push", "s", "--server", ""}, 2, "--server is empty"},
		{[]string{"backup"}, 2, "missing DIR"},
	}
	for _, cmd := range []string{"stores list", "stores info", "stores reset", "stores delete", "tail", "export", "import", "push", "backup"} {
		tests = append(tests, struct {
			args     []string
			wantCode int
			wantOut  string
		}{append(strings.Fields(cmd), "--help"), 0, "Usage: livestore-sync " + cmd})
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cliRun(t, "", tt.args...).want(t, tt.wantCode, tt.wantOut)
		})
	}
	// The help of every client command documents the connection flags.
	cliRun(t, "", "export", "--help").want(t, 0, "-server URL", "LIVESTORE_SYNC_SERVER", "-admin-secret", "LIVESTORE_SYNC_ADMIN_SECRET")
	cliRun(t, "", "import", "--help").want(t, 0, "createdAt in the input is ignored")
}

func TestCLIBackup(t *testing.T) {
	url := cliServer(t)
	cliPush(t, url, "b", newEvents(0, 5))
	dir := filepath.Join(t.TempDir(), "backup")
	cliRun(t, "", "backup", dir, "--server", url, "--admin-secret", cliSecret).want(t, 0, "backup written to "+dir+" (", " bytes)")
	cliRun(t, "", "backup", dir, "--server", url, "--admin-secret", cliSecret).want(t, 1, "exists already")

	want := cliRun(t, "", "export", "b", "--server", url)
	restored := startServer(t, dir).url
	cliRun(t, "", "export", "b", "--server", restored).want(t, 0)
	if got := cliRun(t, "", "export", "b", "--server", restored); got.stdout != want.stdout || want.stdout == "" {
		t.Fatalf("the backup's export:\n%s\nwant:\n%s", got.stdout, want.stdout)
	}
}
