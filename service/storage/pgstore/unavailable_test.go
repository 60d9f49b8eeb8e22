package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/livestore-sync/livestore-sync/service/storage"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "57P01"}, true},  // admin_shutdown, e.g. pg_terminate_backend
		{&pgconn.PgError{Code: "57P03"}, true},  // cannot_connect_now: starting up
		{&pgconn.PgError{Code: "08006"}, true},  // connection_failure
		{&pgconn.PgError{Code: "53300"}, true},  // too_many_connections
		{&pgconn.PgError{Code: "40001"}, true},  // serialization_failure
		{&pgconn.PgError{Code: "23505"}, false}, // unique_violation: an answer, not an outage
		{&pgconn.PgError{Code: "42P01"}, false}, // undefined_table
		{fmt.Errorf("query: %w", context.DeadlineExceeded), true},
		{io.ErrUnexpectedEOF, true},
		{errors.New("something else"), false},
		{storage.ErrHeadMismatch, false},
	}
	for _, tc := range tests {
		got := classify(tc.err)
		if errors.Is(got, storage.ErrUnavailable) != tc.want || !errors.Is(got, tc.err) {
			t.Errorf("classify(%v) = %v, want unavailable %v, wrapping the error", tc.err, got, tc.want)
		}
	}
	if classify(nil) != nil {
		t.Error("classify(nil) is not nil")
	}
}

// An engine whose database is not there fails every call with ErrUnavailable, within its
// timeout, so that clients are told to retry.
func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	t.Parallel()
	cfg, err := pgxpool.ParseConfig("postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg) // connects lazily
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{pool: pool, channel: channelOf("s"), q: newQueries(`"s"`), timeout: 5 * time.Second,
		log: slog.New(slog.DiscardHandler), where: "nowhere"}
	defer e.Close()
	info := storage.StoreInfo{BackendID: "b"}
	calls := map[string]func() error{
		"LoadStore":   func() error { _, err := e.LoadStore("s"); return err },
		"CreateStore": func() error { return e.CreateStore("s", info) },
		"CreateStoreIfMissing": func() error {
			_, err := e.CreateStoreIfMissing("s", info)
			return err
		},
		"Append": func() error {
			return e.Append("s", 0, []storage.Record{{Name: "n", SeqNum: 1}}, storage.StoreInfo{BackendID: "b", Head: 1})
		},
		"ReadEvents":  func() error { _, err := e.ReadEvents("s", 0, 10, 10); return err },
		"CountEvents": func() error { _, err := e.CountEvents("s", 0, 10); return err },
		"DeleteStore": func() error { return e.DeleteStore("s") },
		"ListStores":  func() error { _, err := e.ListStores("", 10); return err },
		"Ping":        func() error { return e.Ping(context.Background()) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s without a database: error %v, want ErrUnavailable", name, err)
		}
	}
}
