// Package pgstore is a storage.Engine, and a storage.Shared engine, that keeps the stores' event
// logs in a PostgreSQL (14 or later) database, through github.com/jackc/pgx/v5.
//
// Every node of a cluster opens the same database; the engine creates and migrates its schema at
// start (schema.go, migrations/). The tables are meant to be queried by people too: one row per
// store in stores, one row per event in events (the view store_events joins them), with unsigned
// 64-bit numbers as numeric(20,0) and each event's arguments as the JSON text pushed.
//
// Every write is one transaction, committed (synced, unless the server is configured otherwise)
// before the method returns. An append is one statement that moves the store's head only if it
// is still the head and backend id the caller appended after, inserts the events and notifies the
// other nodes (append.go). Watch listens to those notifications (watch.go).
//
// PostgreSQL's text holds only valid UTF-8 without NUL bytes, so the engine refuses other strings
// (ErrInvalidText); and it is backed up with PostgreSQL's own tools, so Checkpoint fails
// (ErrCheckpointUnsupported).
package pgstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/livestore-sync/livestore-sync/service/storage"
)

// ErrCheckpointUnsupported is returned by Checkpoint: the database is backed up with
// PostgreSQL's tools, not by the engine.
var ErrCheckpointUnsupported = errors.New("pgstore: the events are in PostgreSQL, which is backed up with its own tools " +
	"(pg_dump for a logical copy, pg_basebackup or a managed service's snapshots for a physical one), not with livestore-sync backup")

// errClosed is returned by a second Close.
var errClosed = errors.New("pgstore: engine already closed")

// Engine is a storage.Shared engine over a PostgreSQL database. Create it with Open; its
// methods are safe for concurrent use, from any number of processes on one database.
type Engine struct {
	pool       *pgxpool.Pool
	schema     string // unquoted
	channel    string // the NOTIFY channel of the schema
	q          queries
	timeout    time.Duration
	log        *slog.Logger
	where      string
	reconnects atomic.Uint64 // Watch's reconnections, for metrics
	closed     atomic.Bool

	// onListen, when set (by tests), is called with the server's process id of Watch's
	// connection each time it starts listening, before Watch reports anything on it.
	onListen func(pid uint32)
	// beforeReconnect, when set (by tests), is called before each try to reconnect Watch.
	beforeReconnect func(ctx context.Context)
	// pingInterval, when set (by tests), replaces watchPingInterval; onIdlePing, when set, is
	// called with the result of each ping of an idle LISTEN connection.
	pingInterval time.Duration
	onIdlePing   func(error)
}

var (
	_ storage.Engine = (*Engine)(nil)
	_ storage.Shared = (*Engine)(nil)
)

// Open connects to the database at url (a postgres:// URL or a key=value connection string, as
// pgx reads them), creates or migrates the schema opts.Schema, and returns the engine. ctx bounds
// the connection and the migration.
func Open(ctx context.Context, url string, opts Options) (*Engine, error) {
	opts = opts.withDefaults()
	if err := opts.check(); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's error may quote the URL; it hides the password.
		return nil, fmt.Errorf("pgstore: parse database URL: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "livestore-sync"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	e := &Engine{
		pool:    pool,
		schema:  opts.Schema,
		channel: channelOf(opts.Schema),
		q:       newQueries(pgx.Identifier{opts.Schema}.Sanitize()),
		timeout: opts.Timeout,
		log:     opts.Logger.With("component", "postgres"),
		where:   describe(cfg, opts.Schema),
	}
	if err := e.start(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return e, nil
}

// start checks the server and migrates the schema.
func (e *Engine) start(ctx context.Context) error {
	var encoding string
	if err := e.pool.QueryRow(ctx, `SHOW server_encoding`).Scan(&encoding); err != nil {
		return fmt.Errorf("pgstore: connect to %s: %w", e.where, err)
	}
	if encoding != "UTF8" {
		return fmt.Errorf("pgstore: database %s has encoding %s; the events need a UTF8 database (CREATE DATABASE … ENCODING 'UTF8')", e.where, encoding)
	}
	return migrate(ctx, e.pool, e.schema)
}

// describe says where the engine's data is, without the password.
func describe(cfg *pgxpool.Config, schema string) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("postgres://%s@%s:%d/%s (schema %s)", c.User, c.Host, c.Port, c.Database, schema)
}

// channelOf is the NOTIFY channel of a schema: an identifier of at most 63 bytes.
func channelOf(schema string) string {
	ch := "livestore_sync." + schema
	if len(ch) > 63 {
		h := sha256.Sum256([]byte(schema))
		ch = "livestore_sync." + hex.EncodeToString(h[:16])
	}
	return ch
}

// Where says where the engine keeps its data, for logs: user, host, port, database and schema,
// never the password.
func (e *Engine) Where() string { return e.where }

// Ping checks that the database answers, for readiness probes.
func (e *Engine) Ping(ctx context.Context) error {
	if err := e.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pgstore: ping %s: %w", e.where, classify(err))
	}
	return nil
}

// Close closes the connections of the engine, waiting for the ones in use to be released. Watch
// has its own connection, which ends with Watch's context.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return errClosed
	}
	e.pool.Close()
	return nil
}

// op returns the context of one operation: bounded by the engine's timeout, so that an
// unreachable database fails calls instead of blocking them.
func (e *Engine) op() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), e.timeout)
}

// LoadStore implements storage.Engine.
func (e *Engine) LoadStore(storeID string) (storage.StoreInfo, error) {
	if err := checkText("store id", storeID); err != nil {
		return storage.StoreInfo{}, err
	}
	ctx, cancel := e.op()
	defer cancel()
	info, err := e.loadStore(ctx, e.pool, storeID)
	if err != nil {
		return storage.StoreInfo{}, err
	}
	return info, nil
}

// querier is a pool, a connection or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// loadStore reads the metadata of a store, or returns an error wrapping ErrStoreNotFound.
func (e *Engine) loadStore(ctx context.Context, q querier, storeID string) (storage.StoreInfo, error) {
	var info storage.StoreInfo
	var head, count, bytes string
	err := q.QueryRow(ctx, e.q.loadStore, idHash(storeID)).Scan(&info.BackendID, &head, &count, &bytes, &info.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return info, fmt.Errorf("%w: %q", storage.ErrStoreNotFound, storeID)
	}
	if err != nil {
		return info, fmt.Errorf("pgstore: load store %q: %w", storeID, classify(err))
	}
	return info, parseInfo(&info, head, count, bytes)
}

// parseInfo fills the numbers of info from their text.
func parseInfo(info *storage.StoreInfo, head, count, bytes string) error {
	var err error
	if info.Head, err = parseNum("head", head); err != nil {
		return err
	}
	if info.EventCount, err = parseNum("event_count", count); err != nil {
		return err
	}
	info.EventBytes, err = parseNum("event_bytes", bytes)
	return err
}

// checkInfo checks the text of a store's metadata.
func checkInfo(storeID string, info *storage.StoreInfo) error {
	if err := checkText("store id", storeID); err != nil {
		return err
	}
	return checkText("backend id", info.BackendID)
}

// createdAt is the stored form of a store's creation time: to the millisecond, as StoreInfo
// documents.
func createdAt(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// CreateStore implements storage.Engine: it replaces the store's metadata (keeping its row) and
// deletes its events, in one transaction, and notifies the watchers.
func (e *Engine) CreateStore(storeID string, info storage.StoreInfo) error {
	if err := checkInfo(storeID, &info); err != nil {
		return err
	}
	ctx, cancel := e.op()
	defer cancel()
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		var key int64
		// The upsert locks the store's row, waiting for a write of another node in progress;
		// the DELETE that follows is a statement of its own, so its snapshot sees that write's
		// events.
		if err := tx.QueryRow(ctx, e.q.upsertStore, storeID, idHash(storeID), info.BackendID,
			num(info.Head), num(info.EventCount), num(info.EventBytes), createdAt(info.CreatedAt)).Scan(&key); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, e.q.deleteEvents, key); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, e.q.notify, e.channel, payload(storeID, info.BackendID, info.Head))
		return err
	})
	if err != nil {
		return fmt.Errorf("pgstore: create store %q: %w", storeID, classify(err))
	}
	return nil
}

// CreateStoreIfMissing implements storage.Shared.
func (e *Engine) CreateStoreIfMissing(storeID string, info storage.StoreInfo) (storage.StoreInfo, error) {
	if err := checkInfo(storeID, &info); err != nil {
		return storage.StoreInfo{}, err
	}
	ctx, cancel := e.op()
	defer cancel()
	info.CreatedAt = createdAt(info.CreatedAt)
	// A store found existing may be deleted before it is read; then try again. Each round
	// follows another process's write, so a few rounds are plenty.
	for range 5 {
		tag, err := e.pool.Exec(ctx, e.q.insertStore, storeID, idHash(storeID), info.BackendID,
			num(info.Head), num(info.EventCount), num(info.EventBytes), info.CreatedAt,
			e.channel, payload(storeID, info.BackendID, info.Head))
		if err != nil {
			return storage.StoreInfo{}, fmt.Errorf("pgstore: create store %q: %w", storeID, classify(err))
		}
		if tag.RowsAffected() == 1 {
			return info, nil
		}
		got, err := e.loadStore(ctx, e.pool, storeID)
		if !errors.Is(err, storage.ErrStoreNotFound) {
			return got, err
		}
	}
	return storage.StoreInfo{}, fmt.Errorf("pgstore: create store %q: it was created and deleted again by others, repeatedly", storeID)
}

// DeleteStore implements storage.Engine.
func (e *Engine) DeleteStore(storeID string) error {
	if err := checkText("store id", storeID); err != nil {
		return err
	}
	ctx, cancel := e.op()
	defer cancel()
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		var key int64
		err := tx.QueryRow(ctx, e.q.deleteStore, idHash(storeID)).Scan(&key)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // missing: nothing to do, nothing to tell
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, e.q.deleteEvents, key); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, e.q.notify, e.channel, payload(storeID, "", 0))
		return err
	})
	if err != nil {
		return fmt.Errorf("pgstore: delete store %q: %w", storeID, classify(err))
	}
	return nil
}

// ReadEvents implements storage.Engine. It is one statement, so it reads one snapshot.
func (e *Engine) ReadEvents(storeID string, after, upTo uint64, limit int) ([]storage.Record, error) {
	if err := checkText("store id", storeID); err != nil {
		return nil, err
	}
	ctx, cancel := e.op()
	defer cancel()
	rows, err := e.pool.Query(ctx, e.q.readEvents, idHash(storeID), num(after), num(upTo), max(limit, 0))
	if err != nil {
		return nil, fmt.Errorf("pgstore: read events of %q: %w", storeID, classify(err))
	}
	defer rows.Close()
	found := false
	recs := make([]storage.Record, 0, min(max(limit, 0), 256))
	for rows.Next() {
		found = true
		var seq, parent, name, args, client, session *string
		var at *int64
		if err := rows.Scan(&seq, &parent, &name, &args, &client, &session, &at); err != nil {
			return nil, fmt.Errorf("pgstore: read events of %q: %w", storeID, classify(err))
		}
		if seq == nil {
			continue // the store without events in range
		}
		r := storage.Record{Name: *name, Args: *args, ClientID: *client, SessionID: *session, CreatedAt: *at}
		if r.SeqNum, err = parseNum("seq_num", *seq); err != nil {
			return nil, err
		}
		if r.ParentSeqNum, err = parseNum("parent_seq_num", *parent); err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: read events of %q: %w", storeID, classify(err))
	}
	if !found {
		return nil, fmt.Errorf("%w: %q", storage.ErrStoreNotFound, storeID)
	}
	return recs, nil
}

// CountEvents implements storage.Engine.
func (e *Engine) CountEvents(storeID string, after, upTo uint64) (uint64, error) {
	if err := checkText("store id", storeID); err != nil {
		return 0, err
	}
	ctx, cancel := e.op()
	defer cancel()
	var n int64
	err := e.pool.QueryRow(ctx, e.q.countEvents, idHash(storeID), num(after), num(upTo)).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("%w: %q", storage.ErrStoreNotFound, storeID)
	}
	if err != nil {
		return 0, fmt.Errorf("pgstore: count events of %q: %w", storeID, classify(err))
	}
	return uint64(n), nil
}

// ListStores implements storage.Engine, in the byte order of store ids.
func (e *Engine) ListStores(after string, limit int) ([]storage.StoreSummary, error) {
	if err := checkText("store id", after); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return []storage.StoreSummary{}, nil
	}
	ctx, cancel := e.op()
	defer cancel()
	var rows pgx.Rows
	var err error
	if after == "" {
		rows, err = e.pool.Query(ctx, e.q.listFirst, limit)
	} else {
		rows, err = e.pool.Query(ctx, e.q.listAfter, after, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: list stores: %w", classify(err))
	}
	defer rows.Close()
	list := make([]storage.StoreSummary, 0, min(limit, 256))
	for rows.Next() {
		var s storage.StoreSummary
		var head, count, bytes string
		if err := rows.Scan(&s.ID, &s.Info.BackendID, &head, &count, &bytes, &s.Info.CreatedAt); err != nil {
			return nil, fmt.Errorf("pgstore: list stores: %w", classify(err))
		}
		if err := parseInfo(&s.Info, head, count, bytes); err != nil {
			return nil, err
		}
		list = append(list, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: list stores: %w", classify(err))
	}
	return list, nil
}

// Checkpoint implements storage.Engine: it returns ErrCheckpointUnsupported, since PostgreSQL is
// backed up with its own tools.
func (e *Engine) Checkpoint(string) error { return ErrCheckpointUnsupported }

// queries are the engine's statements, with the schema in place.
type queries struct {
	loadStore, upsertStore, insertStore, deleteStore, deleteEvents, notify string
	readEvents, countEvents, listFirst, listAfter, appendEvents, headOf    string
}

// newQueries returns the statements of the schema quoted.
func newQueries(quoted string) queries {
	s := func(sql string) string { return strings.ReplaceAll(sql, "{{s}}", quoted) }
	const storeColumns = `backend_id, head::text, event_count::text, event_bytes::text, created_at`
	return queries{
		loadStore: s(`SELECT ` + storeColumns + ` FROM {{s}}.stores WHERE id_hash = $1`),
		upsertStore: s(`INSERT INTO {{s}}.stores (id, id_hash, backend_id, head, event_count, event_bytes, created_at)
			VALUES ($1, $2, $3, $4::text::numeric, $5::text::numeric, $6::text::numeric, $7)
			ON CONFLICT (id_hash) DO UPDATE SET backend_id = EXCLUDED.backend_id, head = EXCLUDED.head,
				event_count = EXCLUDED.event_count, event_bytes = EXCLUDED.event_bytes, created_at = EXCLUDED.created_at
			RETURNING key`),
		insertStore: s(`WITH ins AS (
				INSERT INTO {{s}}.stores (id, id_hash, backend_id, head, event_count, event_bytes, created_at)
				VALUES ($1, $2, $3, $4::text::numeric, $5::text::numeric, $6::text::numeric, $7)
				ON CONFLICT (id_hash) DO NOTHING
				RETURNING key)
			SELECT pg_notify($8, $9) FROM ins`),
		deleteStore:  s(`DELETE FROM {{s}}.stores WHERE id_hash = $1 RETURNING key`),
		deleteEvents: s(`DELETE FROM {{s}}.events WHERE store_key = $1`),
		notify:       `SELECT pg_notify($1, $2)`,
		readEvents: s(`SELECT e.seq_num::text, e.parent_seq_num::text, e.name, coalesce(e.args, ''), e.client_id, e.session_id, e.created_at_ms
			FROM {{s}}.stores s LEFT JOIN LATERAL (
				SELECT * FROM {{s}}.events
				WHERE store_key = s.key AND seq_num > $2::text::numeric AND seq_num <= $3::text::numeric
				ORDER BY seq_num LIMIT $4) e ON true
			WHERE s.id_hash = $1`),
		countEvents: s(`SELECT (SELECT count(*) FROM {{s}}.events
				WHERE store_key = s.key AND seq_num > $2::text::numeric AND seq_num <= $3::text::numeric)
			FROM {{s}}.stores s WHERE s.id_hash = $1`),
		// ORDER BY left(id, 200), id is the byte order of ids (the column's collation is "C"),
		// and walks the index stores_id_order.
		listFirst: s(`SELECT id, ` + storeColumns + ` FROM {{s}}.stores ORDER BY left(id, 200), id LIMIT $1`),
		listAfter: s(`SELECT id, ` + storeColumns + ` FROM {{s}}.stores
			WHERE left(id, 200) >= left($1, 200) AND id > $1 ORDER BY left(id, 200), id LIMIT $2`),
		appendEvents: s(appendSQL),
		headOf:       s(`SELECT head::text, backend_id FROM {{s}}.stores WHERE id_hash = $1`),
	}
}

// schemaQuoted is the engine's schema as a quoted identifier.
func (e *Engine) schemaQuoted() string { return pgx.Identifier{e.schema}.Sanitize() }
