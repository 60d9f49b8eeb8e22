package pgstore

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/livestore-sync/livestore-sync/service/storage"
)

// appendSQL is an append in one statement, so in one round trip and one transaction: it moves
// the store's head and metadata only where the stored head and backend id are the ones the caller
// appended after (the UPDATE locks the row, so appends of several nodes to one store queue there
// and each sees the one before it), inserts the events only when it did, and notifies the
// watchers, all committed together before the server answers. It returns one row when it wrote,
// none when the head or backend id differ or the store is missing.
//
// The events are sent as arrays of their columns and inserted from unnest: one statement whatever
// their number (BenchmarkAppend compares it with COPY's round trips).
const appendSQL = `WITH upd AS (
		UPDATE {{s}}.stores
		SET head = $4::text::numeric, event_count = $5::text::numeric, event_bytes = $6::text::numeric, created_at = $7
		WHERE id_hash = $1 AND head = $2::text::numeric AND backend_id = $3
		RETURNING key
	), ins AS (
		INSERT INTO {{s}}.events (store_key, seq_num, parent_seq_num, name, args, client_id, session_id, created_at_ms)
		SELECT upd.key, ev.seq::numeric, ev.parent::numeric, ev.name, NULLIF(ev.args, ''), ev.client, ev.session, ev.at
		FROM upd, unnest($8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::int8[])
			AS ev(seq, parent, name, args, client, session, at)
	)
	SELECT pg_notify($15, $16) FROM upd`

// Append implements storage.Engine and storage.Shared: it returns an error wrapping
// ErrHeadMismatch, having written nothing, when the stored head is not prevHead or the stored
// backend id is not info.BackendID; when the store is missing the error wraps both
// ErrHeadMismatch (as Shared asks) and ErrStoreNotFound.
func (e *Engine) Append(storeID string, prevHead uint64, events []storage.Record, info storage.StoreInfo) error {
	if err := checkAppend(storeID, prevHead, events, &info); err != nil {
		return fmt.Errorf("pgstore: append to store %q: %w", storeID, err)
	}
	ctx, cancel := e.op()
	defer cancel()
	params := []any{idHash(storeID), num(prevHead), info.BackendID,
		num(info.Head), num(info.EventCount), num(info.EventBytes), createdAt(info.CreatedAt)}
	params = append(params, eventColumns(events)...)
	params = append(params, e.channel, payload(storeID, info.BackendID, info.Head))
	tag, err := e.pool.Exec(ctx, e.q.appendEvents, params...)
	if err != nil {
		return fmt.Errorf("pgstore: append to store %q: %w", storeID, classify(err))
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	// Nothing written: say why, from what is stored now.
	var head, backend string
	err = e.pool.QueryRow(ctx, e.q.headOf, idHash(storeID)).Scan(&head, &backend)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w: %w: %q", storage.ErrHeadMismatch, storage.ErrStoreNotFound, storeID)
	case err != nil:
		return fmt.Errorf("%w: store %q (and reading its head failed: %v)", storage.ErrHeadMismatch, storeID, err)
	}
	return fmt.Errorf("%w: store %q: stored head is %s of backend %q, append is after %d of backend %q",
		storage.ErrHeadMismatch, storeID, head, backend, prevHead, info.BackendID)
}

// eventColumns returns events as the seven column arrays the append statement unnests, in its
// order: seq_num, parent_seq_num, name, args, client_id, session_id (text) and created_at_ms.
func eventColumns(events []storage.Record) []any {
	n := len(events)
	seqs, parents := make([]string, n), make([]string, n)
	names, args, clients, sessions := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ats := make([]int64, n)
	for i := range events {
		r := &events[i]
		seqs[i], parents[i] = num(r.SeqNum), num(r.ParentSeqNum)
		names[i], args[i], clients[i], sessions[i], ats[i] = r.Name, r.Args, r.ClientID, r.SessionID, r.CreatedAt
	}
	return []any{seqs, parents, names, args, clients, sessions, ats}
}

// checkAppend checks that events continue the log after prevHead up to info.Head, and that their
// text can be stored.
func checkAppend(storeID string, prevHead uint64, events []storage.Record, info *storage.StoreInfo) error {
	if err := checkInfo(storeID, info); err != nil {
		return err
	}
	head := prevHead
	for i := range events {
		if events[i].SeqNum <= head {
			return fmt.Errorf("event %d has seqNum %d, not after %d", i, events[i].SeqNum, head)
		}
		head = events[i].SeqNum
		if err := checkRecord(i, &events[i]); err != nil {
			return err
		}
	}
	if info.Head != head {
		return fmt.Errorf("new metadata has head %d, want %d", info.Head, head)
	}
	return nil
}
