package pgstore

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/livestore-sync/livestore-sync/service/storage"
	"github.com/livestore-sync/livestore-sync/service/storage/storagetest"
)

func TestConformance(t *testing.T) {
	testURL(t)
	storagetest.RunWith(t, storagetest.Options{TextOnly: true}, func(t *testing.T) storage.Engine {
		schema := newSchema(t)
		e, err := Open(context.Background(), testURL(t), Options{Schema: schema, MaxConns: 8})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return e // the suite closes it, before the schema is dropped
	})
}

func TestRefusesWhatTextCannotHold(t *testing.T) {
	t.Parallel()
	e := openTest(t)
	info := storage.StoreInfo{BackendID: "b1"}
	if err := e.CreateStore("s", info); err != nil {
		t.Fatal(err)
	}
	ev := func(mod func(r *storage.Record)) []storage.Record {
		r := storage.Record{Name: "n", Args: `{}`, SeqNum: 1, ClientID: "c", SessionID: "s"}
		mod(&r)
		return []storage.Record{r}
	}
	after := storage.StoreInfo{BackendID: "b1", Head: 1, EventCount: 1}
	tests := []struct {
		name string
		call func() error
	}{
		{"store id with NUL", func() error { return e.CreateStore("a\x00b", info) }},
		{"store id not UTF-8", func() error { return e.CreateStore("a\xffb", info) }},
		{"backend id with NUL", func() error { return e.CreateStore("t", storage.StoreInfo{BackendID: "\x00"}) }},
		{"if missing, store id with NUL", func() error { _, err := e.CreateStoreIfMissing("\x00", info); return err }},
		{"load", func() error { _, err := e.LoadStore("\xff"); return err }},
		{"read", func() error { _, err := e.ReadEvents("\x00", 0, 10, 10); return err }},
		{"count", func() error { _, err := e.CountEvents("\x00", 0, 10); return err }},
		{"delete", func() error { return e.DeleteStore("\x00") }},
		{"list after", func() error { _, err := e.ListStores("\xfe", 10); return err }},
		{"name with NUL", func() error { return e.Append("s", 0, ev(func(r *storage.Record) { r.Name = "a\x00" }), after) }},
		{"args with NUL", func() error { return e.Append("s", 0, ev(func(r *storage.Record) { r.Args = "\"\x00\"" }), after) }},
		{"args not UTF-8", func() error { return e.Append("s", 0, ev(func(r *storage.Record) { r.Args = "\"\xc3\"" }), after) }},
		{"client id not UTF-8", func() error { return e.Append("s", 0, ev(func(r *storage.Record) { r.ClientID = "\xff" }), after) }},
		{"session id with NUL", func() error { return e.Append("s", 0, ev(func(r *storage.Record) { r.SessionID = "\x00" }), after) }},
	}
	for _, tc := range tests {
		if err := tc.call(); !errors.Is(err, ErrInvalidText) {
			t.Errorf("%s: error = %v, want ErrInvalidText", tc.name, err)
		}
	}
	got, err := e.LoadStore("s")
	if err != nil || got.Head != 0 || got.EventCount != 0 {
		t.Errorf("LoadStore after refused appends = %+v, %v, want the empty store", got, err)
	}
	if _, err := e.LoadStore("t"); !errors.Is(err, storage.ErrStoreNotFound) {
		t.Errorf("LoadStore of a refused store: %v, want ErrStoreNotFound", err)
	}
}

func TestCheckpointUnsupported(t *testing.T) {
	t.Parallel()
	e := openTest(t)
	err := e.Checkpoint(t.TempDir() + "/backup")
	if !errors.Is(err, ErrCheckpointUnsupported) || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("Checkpoint error = %v, want ErrCheckpointUnsupported naming pg_dump", err)
	}
}

func TestAppendToMissingStore(t *testing.T) {
	t.Parallel()
	e := openTest(t)
	err := e.Append("missing", 0, []storage.Record{{Name: "n", SeqNum: 1}}, storage.StoreInfo{Head: 1, EventCount: 1})
	if !errors.Is(err, storage.ErrHeadMismatch) || !errors.Is(err, storage.ErrStoreNotFound) {
		t.Errorf("Append to a missing store: error = %v, want ErrHeadMismatch and ErrStoreNotFound", err)
	}
}

func TestArgsNullWhenEmpty(t *testing.T) {
	t.Parallel()
	e := openTest(t)
	if err := e.CreateStore("s", storage.StoreInfo{BackendID: "b"}); err != nil {
		t.Fatal(err)
	}
	evs := []storage.Record{{Name: "a", SeqNum: 1}, {Name: "b", Args: `{"x": 1}`, SeqNum: 2, ParentSeqNum: 1}}
	if err := e.Append("s", 0, evs, storage.StoreInfo{BackendID: "b", Head: 2, EventCount: 2}); err != nil {
		t.Fatal(err)
	}
	// What a person querying the table sees: NULL for no args, JSON that jsonb reads otherwise.
	rows, err := e.pool.Query(context.Background(), `SELECT seq_num::int8, args IS NULL, coalesce((args::jsonb->>'x')::int, 0)
		FROM `+e.schemaQuoted()+`.store_events WHERE store_id = 's' ORDER BY seq_num`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got [][3]int64
	for rows.Next() {
		var seq, x int64
		var null bool
		if err := rows.Scan(&seq, &null, &x); err != nil {
			t.Fatal(err)
		}
		n := int64(0)
		if null {
			n = 1
		}
		got = append(got, [3]int64{seq, n, x})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := [][3]int64{{1, 1, 0}, {2, 0, 1}}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("store_events = %v, want %v", got, want)
	}
}

func TestOpenConcurrentlyMigratesOnce(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	const nodes = 4
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	engines := make([]*Engine, nodes)
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			engines[i], errs[i] = Open(context.Background(), testURL(t), Options{Schema: schema, MaxConns: 2})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		t.Cleanup(func() { engines[i].Close() })
	}
	var versions int
	if err := engines[0].pool.QueryRow(context.Background(),
		`SELECT count(*) FROM `+engines[0].schemaQuoted()+`.schema_version`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if ms, _ := loadMigrations("x"); versions != len(ms) {
		t.Errorf("schema_version has %d rows, want %d", versions, len(ms))
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	e := openSchema(t, schema)
	if _, err := e.pool.Exec(context.Background(),
		`INSERT INTO `+e.schemaQuoted()+`.schema_version (version, name) VALUES (1000, 'future')`); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), testURL(t), Options{Schema: schema})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a newer schema: error = %v, want one saying it is newer", err)
	}
}

func TestOpenBadOptions(t *testing.T) {
	t.Parallel()
	for _, opts := range []Options{
		{Timeout: -1}, {MaxConns: -1}, {Schema: strings.Repeat("s", 64)}, {Schema: "a\x00"},
	} {
		if _, err := Open(context.Background(), "postgres://nobody@127.0.0.1:1/none", opts); err == nil {
			t.Errorf("Open with %+v: no error", opts)
		}
	}
}

func TestWhereHidesPassword(t *testing.T) {
	t.Parallel()
	url := "postgres://user:s3cret@127.0.0.1:1/db?connect_timeout=1"
	_, err := Open(context.Background(), url, Options{})
	if err == nil {
		t.Fatal("Open of an unreachable server: no error")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows the password: %v", err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := describe(cfg, "sch"), "postgres://user@127.0.0.1:1/db (schema sch)"; got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
}

func TestReadEventsLimits(t *testing.T) {
	t.Parallel()
	e := openTest(t)
	if err := e.CreateStore("s", storage.StoreInfo{BackendID: "b"}); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{0, -1, math.MinInt} {
		if recs, err := e.ReadEvents("s", 0, math.MaxUint64, limit); err != nil || len(recs) != 0 {
			t.Errorf("ReadEvents limit %d = %d, %v", limit, len(recs), err)
		}
	}
}
