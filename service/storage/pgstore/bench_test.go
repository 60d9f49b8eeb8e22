package pgstore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/livestore-sync/livestore-sync/service/storage"
)

// The append path, next to what PostgreSQL itself does with the same rows. Every variant commits
// each write synchronously (the server's synchronous_commit, on by default), so on one machine
// they are bounded by the WAL flushes the server manages per second; parallel writers share
// flushes (group commit).
//
//	LIVESTORE_SYNC_TEST_POSTGRES=… go test -run '^$' -bench . -benchtime 2s ./service/storage/pgstore/
//
// BenchmarkAppend is Engine.Append: one statement (UPDATE … WHERE head, INSERT … FROM unnest,
// pg_notify). BenchmarkAppendCopy does the same in a transaction with COPY, for comparison.
// BenchmarkInsertCeiling inserts the same rows with no head check and no NOTIFY: PostgreSQL's
// synced-commit ceiling for these inserts.

// benchSizes are the events per append measured.
var benchSizes = []int{1, 10, 100}

// benchEvent is an event of a typical size.
func benchEvent(seq uint64) storage.Record {
	return storage.Record{Name: "v1.TodoCreated", Args: `{"id":"8b0c2a8e-1c4f-4b4e-9a53-6f0d8f1f2e11","text":"Buy milk and bread"}`,
		SeqNum: seq, ParentSeqNum: seq - 1, ClientID: "client-4f2a", SessionID: "session-9c1d", CreatedAt: 1_700_000_000_000}
}

// benchKeys numbers the goroutines of all benchmarks of a run.
var benchKeys atomic.Int64

// benchRun runs write(store, its number, head, events) over b.N appends from parallel goroutines
// (4 per GOMAXPROCS, each with a store of its own) and reports events/s.
func benchRun(b *testing.B, e *Engine, n int, write func(id string, key int64, prev uint64, evs []storage.Record) error) {
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		key := benchKeys.Add(1)
		id := fmt.Sprintf("bench-%d", key)
		if err := e.CreateStore(id, storage.StoreInfo{BackendID: "b"}); err != nil {
			b.Error(err)
			return
		}
		head := uint64(0)
		evs := make([]storage.Record, n)
		for pb.Next() {
			for i := range evs {
				evs[i] = benchEvent(head + uint64(i) + 1)
			}
			if err := write(id, key, head, evs); err != nil {
				b.Error(err)
				return
			}
			head += uint64(n)
		}
	})
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkAppend(b *testing.B) {
	e := openTest(b)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			benchRun(b, e, n, func(id string, _ int64, prev uint64, evs []storage.Record) error {
				info := storage.StoreInfo{BackendID: "b", Head: evs[len(evs)-1].SeqNum}
				return e.Append(id, prev, evs, info)
			})
		})
	}
}

// BenchmarkAppendWithoutNotify is Append's statement without its pg_notify: what NOTIFY costs
// (a transaction that notified holds a lock of the whole database's notification queue while it
// commits, so notifying writers commit one after another).
func BenchmarkAppendWithoutNotify(b *testing.B) {
	e := openTest(b)
	stmt := strings.Replace(e.q.appendEvents, "SELECT pg_notify($15, $16) FROM upd", "SELECT 1 FROM upd", 1)
	if stmt == e.q.appendEvents {
		b.Fatal("the append statement changed: update this benchmark")
	}
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			benchRun(b, e, n, func(id string, _ int64, prev uint64, evs []storage.Record) error {
				head := evs[len(evs)-1].SeqNum
				params := append([]any{idHash(id), num(prev), "b", num(head), "0", "0", time.UnixMilli(0)}, eventColumns(evs)...)
				_, err := e.pool.Exec(context.Background(), stmt, params...)
				return err
			})
		})
	}
}

func BenchmarkAppendCopy(b *testing.B) {
	e := openTest(b)
	s := e.schemaQuoted()
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			benchRun(b, e, n, func(id string, _ int64, prev uint64, evs []storage.Record) error {
				ctx := context.Background()
				return pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
					var key int64
					if err := tx.QueryRow(ctx, `UPDATE `+s+`.stores SET head = $2::text::numeric
						WHERE id_hash = $1 AND head = $3::text::numeric AND backend_id = 'b' RETURNING key`,
						idHash(id), num(evs[len(evs)-1].SeqNum), num(prev)).Scan(&key); err != nil {
						return err
					}
					rows := make([][]any, len(evs))
					for i, r := range evs {
						rows[i] = []any{key, num(r.SeqNum), num(r.ParentSeqNum), r.Name, r.Args, r.ClientID, r.SessionID, r.CreatedAt}
					}
					if _, err := tx.CopyFrom(ctx, pgx.Identifier{e.schema, "events"},
						[]string{"store_key", "seq_num", "parent_seq_num", "name", "args", "client_id", "session_id", "created_at_ms"},
						pgx.CopyFromRows(rows)); err != nil {
						return err
					}
					_, err := tx.Exec(ctx, e.q.notify, e.channel, payload(id, "b", evs[len(evs)-1].SeqNum))
					return err
				})
			})
		})
	}
}

func BenchmarkInsertCeiling(b *testing.B) {
	e := openTest(b)
	ctx := context.Background()
	if _, err := e.pool.Exec(ctx, `CREATE TABLE `+e.schemaQuoted()+`.ceiling (LIKE `+e.schemaQuoted()+`.events INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	insert := `INSERT INTO ` + e.schemaQuoted() + `.ceiling (store_key, seq_num, parent_seq_num, name, args, client_id, session_id, created_at_ms)
		SELECT $1, ev.seq::numeric, ev.parent::numeric, ev.name, ev.args, ev.client, ev.session, ev.at
		FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int8[])
			AS ev(seq, parent, name, args, client, session, at)`
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			benchRun(b, e, n, func(_ string, key int64, _ uint64, evs []storage.Record) error {
				_, err := e.pool.Exec(ctx, insert, append([]any{key}, eventColumns(evs)...)...)
				return err
			})
		})
	}
}
