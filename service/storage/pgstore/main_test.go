package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/livestore-sync/livestore-sync/internal/pgtest"
	"go.uber.org/goleak"
)

// TestMain fails the run when goroutines outlive the tests; goleak retries for a bounded time
// before it reports, so goroutines that are just finishing are not counted.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testURL returns the URL of the tests' PostgreSQL server (LIVESTORE_SYNC_TEST_POSTGRES), or
// skips t saying how to run it.
func testURL(t testing.TB) string {
	t.Helper()
	return pgtest.URL(t)
}

// newSchema returns the name of a schema of its own for t, dropped with all it holds when t ends
// (after the cleanups registered later, such as closing engines).
func newSchema(t testing.TB) string {
	t.Helper()
	url := testURL(t)
	b := make([]byte, 8)
	rand.Read(b)
	schema := "test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// openSchema opens an engine on schema, closed when t ends.
func openSchema(t testing.TB, schema string) *Engine {
	t.Helper()
	e, err := Open(context.Background(), testURL(t), Options{Schema: schema, MaxConns: 4})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// openTest opens an engine on a schema of its own, closed and dropped when t ends.
func openTest(t testing.TB) *Engine {
	t.Helper()
	return openSchema(t, newSchema(t))
}
