// Package storage defines the small interface between the sync service and the engine that keeps
// the stores' event logs on disk.
//
// An engine keeps, per store id, the store's metadata (StoreInfo) and its events ordered by
// sequence number. The service serializes all writes to one store, so an engine never sees two
// concurrent writes to the same store, but it does see concurrent writes to different stores and
// concurrent reads of every store.
//
// To add an engine, implement Engine and pass it to service.New; the package
// github.com/livestore-sync/livestore-sync/service/storage/storagetest has a conformance suite
// that every engine should pass.
package storage

import (
	"context"
	"errors"
	"time"
)

// ErrStoreNotFound is returned for an operation on a store that does not exist.
var ErrStoreNotFound = errors.New("store not found")

// ErrUnavailable is wrapped by the errors of an engine that cannot reach its data for now, such
// as a database server that is down or unreachable: the operation may succeed when retried, and
// clients are told to retry (Connect code unavailable).
var ErrUnavailable = errors.New("storage unavailable")

// ErrHeadMismatch is returned by Append when the store's head on disk is not the head the caller
// appended after: a bug in the caller's serialization, never expected in normal operation.
var ErrHeadMismatch = errors.New("store head changed concurrently")

// StoreInfo is a store's metadata.
type StoreInfo struct {
	// BackendID identifies this incarnation of the store; it changes only when the store is reset.
	BackendID string
	// Head is the sequence number of the store's last event, 0 when it has none.
	Head uint64
	// CreatedAt is when the store was created, kept to the millisecond (its time zone is not kept).
	CreatedAt time.Time
	// EventCount is the number of events stored.
	EventCount uint64
	// EventBytes is the sum of the stored events' encoded sizes (Record.Size).
	EventBytes uint64
}

// Record is one stored event.
type Record struct {
	// Name is the event's name.
	Name string
	// Args is the event's arguments as JSON text, exactly as pushed; empty when absent.
	Args string
	// SeqNum is the event's sequence number.
	SeqNum uint64
	// ParentSeqNum is the sequence number of the event it follows.
	ParentSeqNum uint64
	// ClientID is the id of the client that created the event.
	ClientID string
	// SessionID is the id of the session that created the event.
	SessionID string
	// CreatedAt is when the server stored the event, in milliseconds since the Unix epoch.
	CreatedAt int64
	// Encoded is the event in LiveStore's JSON encoding, the "eventEncoded" object of a pulled
	// event: eventjson.AppendEventOf of the fields above, which the service checked at push. The
	// service sets it, with the fields, on every record it appends, so that pulls can send the
	// stored bytes as they are instead of encoding each event again.
	//
	// An engine keeps the fields, or Encoded, or both: ReadEvents returns each record with SeqNum
	// and CreatedAt, and either Encoded exactly as appended, with the other fields empty, or
	// (Encoded nil) the fields. The caller decodes Encoded when it needs the fields.
	Encoded []byte
}

// Size is the number of bytes the record's variable-length fields take, used for accounting;
// it is meaningful for a record with its fields, such as one appended.
func (r *Record) Size() int {
	return len(r.Name) + len(r.Args) + len(r.ClientID) + len(r.SessionID) + 3*8
}

// StoreSummary is a store's id with its metadata.
type StoreSummary struct {
	// ID is the store's id.
	ID string
	// Info is the store's metadata.
	Info StoreInfo
}

// Engine stores the event logs of many stores.
//
// All methods are safe for concurrent use, with one restriction: Append, CreateStore and
// DeleteStore for one store id are never called concurrently with each other (the service
// serializes them per store). Every write is durable (synced to stable storage) when it returns.
type Engine interface {
	// LoadStore returns the store's metadata, or ErrStoreNotFound.
	LoadStore(storeID string) (StoreInfo, error)
	// CreateStore durably records a new, empty store with the given metadata, replacing any
	// existing store of that id with all its events.
	CreateStore(storeID string, info StoreInfo) error
	// Append durably stores events, which continue the log after prevHead (their sequence
	// numbers grow, the first is above prevHead and info.Head is the last), and replaces the
	// store's metadata with info, all or nothing. Each event has its fields and Encoded set; the
	// engine does not keep the events' memory after it returns. It returns ErrHeadMismatch when the stored head
	// is not prevHead, and an error for events that do not continue the log.
	Append(storeID string, prevHead uint64, events []Record, info StoreInfo) error
	// ReadEvents returns, in order, up to limit events of the store with after < SeqNum <= upTo,
	// read from one consistent snapshot, each with its fields or its Encoded bytes (see Record).
	// The records do not share memory with the engine's. A limit <= 0 returns no events.
	ReadEvents(storeID string, after, upTo uint64, limit int) ([]Record, error)
	// CountEvents returns the number of the store's events with after < SeqNum <= upTo.
	CountEvents(storeID string, after, upTo uint64) (uint64, error)
	// DeleteStore durably removes the store and all its events. Deleting a missing store is not
	// an error.
	DeleteStore(storeID string) error
	// ListStores returns up to limit stores that come after the store id after in the engine's
	// order (any stable total order of store ids; pass "" to start from the first), read from one
	// consistent snapshot. A limit <= 0 returns no stores.
	ListStores(after string, limit int) ([]StoreSummary, error)
	// Checkpoint writes a consistent copy of all stores into dir, a directory that must not exist
	// yet, while the engine keeps serving: every write that returned before the call is in the
	// copy, and no write is in it partly. The copy can be opened as an engine of the same kind.
	Checkpoint(dir string) error
	// Close releases the engine. No other method may be called after it.
	Close() error
}

// A Change is what a Shared engine reports of a write to a store, by any process: the store's
// backend id and head once the write committed.
type Change struct {
	// StoreID is the id of the store written.
	StoreID string
	// BackendID is the store's backend id after the write, "" when the write deleted the store.
	BackendID string
	// Head is the store's head after the write: 0 after a reset (CreateStore) or a deletion.
	Head uint64
}

// Shared is implemented by engines whose data several processes (nodes) use at once, such as a
// database server. Any other process may write to any store at any time, so a Service over a
// Shared engine never trusts the metadata it has cached: it reads it again before answering a
// pull, treats ErrHeadMismatch from Append as a write by another node, and feeds its live pulls
// from Watch.
//
// On a Shared engine, Append returns ErrHeadMismatch, writing nothing, when the stored head is
// not prevHead, when the stored backend id is not info.BackendID, or when the store does not
// exist (any of them is another process's write); every Engine method may be called
// concurrently for one store id from several processes.
type Shared interface {
	Engine
	// CreateStoreIfMissing durably records a new, empty store with the given metadata unless a
	// store of that id exists (another process may have created it a moment ago), and returns
	// the metadata of the store that exists once it returns.
	CreateStoreIfMissing(storeID string, info StoreInfo) (StoreInfo, error)
	// Watch reports writes to the stores until ctx ends, then returns ctx's error. It calls
	// changed for every Append, CreateStore and DeleteStore that commits, in any process this one
	// included, in commit order for each store; and resync whenever it may have missed some:
	// once it has started watching (writes before it were not reported), and after its connection
	// to the database was lost and restored. After resync, every store may have changed. Both are called from one goroutine, never at once; they should return
	// quickly. Watch returns at once with an error when it cannot start watching at all.
	Watch(ctx context.Context, changed func(Change), resync func()) error
}
