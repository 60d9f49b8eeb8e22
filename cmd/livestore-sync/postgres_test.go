package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"github.com/livestore-sync/livestore-sync/internal/pgtest"
)

func TestServePostgres(t *testing.T) {
	dbURL, schema := pgtest.Database(t), "custom_schema"
	// A password in the URL (the test server ignores it) must never reach the log.
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "s3cret-pw")
	env := []string{"LIVESTORE_SYNC_POSTGRES_URL=" + u.String(), "LIVESTORE_SYNC_ADMIN_SECRET=adm"}
	dataDir := t.TempDir()
	srv := startServerEnv(t, dataDir, env, "--postgres-schema", schema)
	if log := srv.stderr.String(); !strings.Contains(log, "engine=postgres") || !strings.Contains(log, "schema "+schema) ||
		strings.Contains(log, "s3cret-pw") {
		t.Errorf("startup log does not say engine=postgres and the schema, or shows the password:\n%s", log)
	}
	client := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url, connect.WithGRPC())
	ctx := context.Background()
	for i := range 10 {
		if _, err := client.Push(ctx, connect.NewRequest(&syncv1.PushRequest{StoreId: "pg", Batch: newEvents(uint64(i*3), 3)})); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.url + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/readyz"); code != 200 {
		t.Errorf("/readyz: %d %q", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `livestore_sync_postgres_pool_connections{state="idle"}`) {
		t.Errorf("/metrics (%d) lacks the pool's connections:\n%s", code, body)
	}
	// backup answers that PostgreSQL has its own tools.
	cmd := exec.Command(binary, "backup", t.TempDir()+"/backup")
	cmd.Env = append(os.Environ(), "LIVESTORE_SYNC_SERVER="+srv.url, "LIVESTORE_SYNC_ADMIN_SECRET=adm")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "pg_dump") {
		t.Errorf("backup = %v, %s; want a failure naming pg_dump", err, out)
	}

	// Killed, and started again: everything acknowledged is in the database, not in --data-dir.
	srv.stop(t, syscall.SIGKILL)
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Errorf("--data-dir holds %d entries with --postgres, want none", len(entries))
	}
	srv = startServerEnv(t, dataDir, env, "--postgres-schema", schema)
	client = syncv1connect.NewSyncServiceClient(h2cClient(), srv.url, connect.WithGRPC())
	pages, err := pullAll(ctx, client, &syncv1.PullRequest{StoreId: "pg"})
	if err != nil {
		t.Fatal(err)
	}
	if n := eventCount(pages); n != 30 {
		t.Errorf("after SIGKILL the store has %d events, want 30", n)
	}
}

func TestServePostgresUnreachable(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(binary, "serve", "--addr", "127.0.0.1:0",
		"--postgres", "postgres://nobody:pw-hidden@127.0.0.1:1/none?connect_timeout=2")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--postgres") || strings.Contains(string(out), "pw-hidden") {
		t.Errorf("serve with an unreachable database = %v, %s; want a failure about --postgres without the password", err, out)
	}
}

func TestReadyzFollowsTheDatabase(t *testing.T) {
	t.Parallel()
	var down bool
	pings := 0
	r := &readiness{interval: -1, ping: func(context.Context) error { // -1: check every time
		pings++
		if down {
			return errors.New("connection refused")
		}
		return nil
	}}
	s := &server{log: slog.New(slog.DiscardHandler), database: r}
	s.ready.Store(true)
	h := s.readyz()
	probe := func() int {
		rec := httptest.NewRecorder()
		h(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code
	}
	if code := probe(); code != http.StatusOK {
		t.Errorf("/readyz with the database up = %d", code)
	}
	down = true
	if code := probe(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database down = %d, want 503", code)
	}
	down = false
	if code := probe(); code != http.StatusOK {
		t.Errorf("/readyz with the database back = %d", code)
	}
	// Within the interval, probes reuse the last answer, even if the database went down since.
	r.interval = time.Hour
	down = true
	before := pings
	for range 5 {
		if code := probe(); code != http.StatusOK {
			t.Errorf("/readyz within the interval of an answer of 200 = %d", code)
		}
	}
	if pings != before {
		t.Errorf("5 probes within the interval pinged %d times, want none", pings-before)
	}
	// No database to check (Pebble): always ready.
	s.database = nil
	if code := probe(); code != http.StatusOK {
		t.Errorf("/readyz without a database to check = %d", code)
	}
}
