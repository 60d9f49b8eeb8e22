// Package pebblestore is a storage.Engine that keeps the stores' event logs in a Pebble database
// (github.com/cockroachdb/pebble/v2) in one data directory.
//
// Each store has one metadata key and one key per event, all under a prefix of their own (see
// keys.go); values use a small versioned binary encoding (see codec.go). Every write is one Pebble
// batch committed with sync, so it is durable and all or nothing. Reads of a store run on a
// Pebble snapshot, so they see one point in time. ListStores reads the stores' metadata keys in
// key order, skipping their events (liststores.go); Checkpoint is Pebble's checkpoint
// (checkpoint.go).
package pebblestore

import (
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/livestore-sync/livestore-sync/service/storage"
)

// ErrLocked is wrapped by the error of Open when the data directory is in use: another process,
// or another Engine in this process, holds its lock file (LOCK).
var ErrLocked = errors.New("pebblestore: data directory is in use by another process")

// errClosed is returned by a second Close.
var errClosed = errors.New("pebblestore: engine already closed")

// Engine is a storage.Engine over a Pebble database. Create it with Open; its methods are safe
// for concurrent use as storage.Engine describes.
type Engine struct {
	db     *pebble.DB
	lock   *pebble.Lock
	closed atomic.Bool
	heads  headCache // the stores' heads as last written or read (heads.go)
}

var _ storage.Engine = (*Engine)(nil)

// Open opens the engine whose data is in the directory dir, creating the directory and an empty
// database when missing. The directory stays locked until Close: opening it again, from this or
// another process, fails with an error that wraps ErrLocked.
func Open(dir string, opts Options) (*Engine, error) {
	if opts.CacheSize < 0 {
		return nil, fmt.Errorf("pebblestore: negative cache size %d", opts.CacheSize)
	}
	cacheSize := opts.CacheSize
	if cacheSize == 0 {
		cacheSize = DefaultCacheSize
	}
	memTableSize := opts.MemTableSize
	if memTableSize == 0 {
		memTableSize = DefaultMemTableSize
	}
	fsys := opts.FS
	if fsys == nil {
		fsys = vfs.Default
	}
	if err := mkdirAllSynced(fsys, dir); err != nil {
		return nil, fmt.Errorf("pebblestore: create data directory: %w", err)
	}
	// Take the lock ourselves, before Pebble touches anything, to tell a held lock apart from
	// other failures to open.
	lock, err := pebble.LockDirectory(dir, fsys)
	if err != nil {
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			// The lock file could not even be created: not a lock held by someone else.
			return nil, fmt.Errorf("pebblestore: lock data directory %s: %w", dir, err)
		}
		return nil, fmt.Errorf("%w: %s (its LOCK file is held: %w)", ErrLocked, dir, err)
	}
	po := PebbleOptions(memTableSize)
	po.FS = fsys
	po.Lock = lock
	po.Logger = pebbleLogger{opts.Logger}
	// Pebble counts its memtables against the cache (each reserves its size there, the one
	// being filled and the one kept for reuse): without room for two, a cache smaller than two
	// memtables would hold no block at all.
	po.CacheSize = cacheSize + 2*int64(memTableSize)
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("pebblestore: open %s: %w", dir, err), lock.Close())
	}
	return &Engine{db: db, lock: lock}, nil
}

// mkdirAllSynced creates dir and its missing parents, like MkdirAll, and syncs the directory
// that holds each one it creates, so that a crash cannot lose a new directory, and with it the
// whole database. (Pebble syncs the data directory, and the parents of the directories it
// creates, but Open creates them before Pebble sees them.)
func mkdirAllSynced(fsys vfs.FS, dir string) error {
	// The directories to sync: the parent of each missing directory, from dir's up to the
	// closest existing ancestor's.
	var parents []string
	for d := dir; ; {
		if _, err := fsys.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		p := fsys.PathDir(d)
		parents = append(parents, p)
		if p == d {
			break
		}
		d = p
	}
	if err := fsys.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	for _, p := range parents {
		f, err := fsys.OpenDir(p)
		if err != nil {
			return err
		}
		if err := errors.Join(f.Sync(), f.Close()); err != nil {
			return fmt.Errorf("sync directory %s: %w", p, err)
		}
	}
	return nil
}

// Close closes the database and releases the data directory's lock.
func (e *Engine) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return errClosed
	}
	err := e.db.Close()
	if err != nil {
		err = fmt.Errorf("pebblestore: close: %w", err)
	}
	return errors.Join(err, e.lock.Close())
}

// LoadStore implements storage.Engine. CreatedAt comes back in UTC, to the millisecond.
func (e *Engine) LoadStore(storeID string) (storage.StoreInfo, error) {
	info, err := loadMeta(e.db, keysFor(storeID), storeID)
	if err == nil {
		e.heads.set(storeID, info.Head)
	}
	return info, err
}

// CreateStore implements storage.Engine: one batch deletes the store's whole key range, unless
// it holds no key (a new store: no range tombstone, which reads would have to skip until a
// compaction drops it), and writes the new metadata.
func (e *Engine) CreateStore(storeID string, info storage.StoreInfo) error {
	k := keysFor(storeID)
	lower, upper := k.bounds()
	empty, err := isEmpty(e.db, lower, upper)
	if err != nil {
		return fmt.Errorf("pebblestore: create store %q: %w", storeID, err)
	}
	b := e.db.NewBatch()
	defer b.Close()
	if !empty {
		if err := b.DeleteRange(lower, upper, nil); err != nil {
			return fmt.Errorf("pebblestore: create store %q: %w", storeID, err)
		}
	}
	if err := b.Set(k.meta(), appendMeta(nil, &info), nil); err != nil {
		return fmt.Errorf("pebblestore: create store %q: %w", storeID, err)
	}
	e.heads.forget(storeID)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebblestore: create store %q: %w", storeID, err)
	}
	e.heads.set(storeID, info.Head)
	return nil
}

// isEmpty reports whether r holds no key in [lower, upper).
func isEmpty(r pebble.Reader, lower, upper []byte) (bool, error) {
	empty := true
	err := scan(r, lower, upper, func(*pebble.Iterator) (bool, error) {
		empty = false
		return false, nil
	})
	return empty, err
}

// Append implements storage.Engine. Besides checking the stored head, it rejects events whose
// seqNums do not increase strictly from prevHead and an info whose Head is not the last event's
// seqNum (prevHead when there are no events), since writing them would overwrite or orphan
// stored events.
func (e *Engine) Append(storeID string, prevHead uint64, events []storage.Record, info storage.StoreInfo) error {
	if err := checkAppend(prevHead, events, &info); err != nil {
		return fmt.Errorf("pebblestore: append to store %q: %w", storeID, err)
	}
	k := keysFor(storeID)
	head, known := e.heads.get(storeID)
	if !known {
		cur, err := loadMeta(e.db, k, storeID)
		if err != nil {
			return err
		}
		head = cur.Head
	}
	if head != prevHead {
		return fmt.Errorf("%w: store %q: stored head is %d, append is after %d",
			storage.ErrHeadMismatch, storeID, head, prevHead)
	}
	b := e.db.NewBatchWithSize(appendBatchSize(k, events))
	defer b.Close()
	key := make([]byte, 0, len(k.prefix)+9)
	var val []byte
	for i := range events {
		ev := &events[i]
		key = k.appendEvent(key, ev.SeqNum)
		val = appendEvent(val[:0], ev)
		if err := b.Set(key, val, nil); err != nil { // Set copies key and value
			return fmt.Errorf("pebblestore: append to store %q: %w", storeID, err)
		}
	}
	if err := b.Set(k.meta(), appendMeta(val[:0], &info), nil); err != nil {
		return fmt.Errorf("pebblestore: append to store %q: %w", storeID, err)
	}
	e.heads.forget(storeID) // until the commit's outcome is known
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebblestore: append to store %q: %w", storeID, err)
	}
	e.heads.set(storeID, info.Head)
	return nil
}

// appendBatchSize is about the size of the batch that appends events, so that it is allocated
// once.
func appendBatchSize(k storeKeys, events []storage.Record) int {
	n := 64 + 2*len(k.prefix)
	for i := range events {
		n += 16 + len(k.prefix) + 9 + events[i].Size() + 4*binaryMaxVarintLen
	}
	return n
}

// checkAppend checks that events continue the log after prevHead and that info.Head is the new
// head.
func checkAppend(prevHead uint64, events []storage.Record, info *storage.StoreInfo) error {
	head := prevHead
	for i := range events {
		if events[i].SeqNum <= head {
			return fmt.Errorf("event %d has seqNum %d, not after %d", i, events[i].SeqNum, head)
		}
		head = events[i].SeqNum
	}
	if info.Head != head {
		return fmt.Errorf("new metadata has head %d, want %d", info.Head, head)
	}
	return nil
}

// ReadEvents implements storage.Engine. A limit of 0 or less returns no events.
func (e *Engine) ReadEvents(storeID string, after, upTo uint64, limit int) ([]storage.Record, error) {
	k := keysFor(storeID)
	snap := e.db.NewSnapshot()
	defer snap.Close()
	if err := checkStore(snap, k, storeID); err != nil {
		return nil, err
	}
	lower, upper, ok := k.eventBounds(after, upTo)
	if !ok || limit <= 0 {
		return []storage.Record{}, nil
	}
	recs := make([]storage.Record, 0, min(uint64(limit), upTo-after, 256))
	a := arena{expect: int(min(uint64(limit), upTo-after, 1<<20))}
	err := scan(snap, lower, upper, func(it *pebble.Iterator) (bool, error) {
		seq, err := k.seqOf(it.Key())
		if err != nil {
			return false, err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return false, err
		}
		r, err := decodeEvent(v, seq, &a)
		if err != nil {
			return false, err
		}
		recs = append(recs, r)
		return len(recs) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: read events of store %q: %w", storeID, err)
	}
	return recs, nil
}

// CountEvents implements storage.Engine. It iterates over the event keys without reading the
// values.
func (e *Engine) CountEvents(storeID string, after, upTo uint64) (uint64, error) {
	k := keysFor(storeID)
	snap := e.db.NewSnapshot()
	defer snap.Close()
	if err := checkStore(snap, k, storeID); err != nil {
		return 0, err
	}
	lower, upper, ok := k.eventBounds(after, upTo)
	if !ok {
		return 0, nil
	}
	var n uint64
	err := scan(snap, lower, upper, func(*pebble.Iterator) (bool, error) {
		n++
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("pebblestore: count events of store %q: %w", storeID, err)
	}
	return n, nil
}

// DeleteStore implements storage.Engine: one batch deletes the store's whole key range.
func (e *Engine) DeleteStore(storeID string) error {
	e.heads.forget(storeID)
	b := e.db.NewBatch()
	defer b.Close()
	lower, upper := keysFor(storeID).bounds()
	if err := b.DeleteRange(lower, upper, nil); err != nil {
		return fmt.Errorf("pebblestore: delete store %q: %w", storeID, err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebblestore: delete store %q: %w", storeID, err)
	}
	return nil
}

// loadMeta reads and decodes the store's metadata, or returns storage.ErrStoreNotFound.
func loadMeta(r pebble.Reader, k storeKeys, storeID string) (storage.StoreInfo, error) {
	v, closer, err := r.Get(k.meta())
	if errors.Is(err, pebble.ErrNotFound) {
		return storage.StoreInfo{}, storage.ErrStoreNotFound
	}
	if err != nil {
		return storage.StoreInfo{}, fmt.Errorf("pebblestore: load store %q: %w", storeID, err)
	}
	defer closer.Close()
	info, err := decodeMeta(v)
	if err != nil {
		return storage.StoreInfo{}, fmt.Errorf("pebblestore: load store %q: %w", storeID, err)
	}
	return info, nil
}

// checkStore returns storage.ErrStoreNotFound when the store has no metadata.
func checkStore(r pebble.Reader, k storeKeys, storeID string) error {
	_, closer, err := r.Get(k.meta())
	if errors.Is(err, pebble.ErrNotFound) {
		return storage.ErrStoreNotFound
	}
	if err != nil {
		return fmt.Errorf("pebblestore: load store %q: %w", storeID, err)
	}
	return closer.Close()
}

// binaryMaxVarintLen is the most bytes of one varint in the codec.
const binaryMaxVarintLen = 10

// scan calls fn on each key in [lower, upper) of r, in order, while fn returns true and no
// error. The iterator is always closed.
func scan(r pebble.Reader, lower, upper []byte, fn func(it *pebble.Iterator) (bool, error)) (err error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	defer func() {
		// Close returns the iterator's error too: report it only when there is no other.
		if cerr := it.Close(); err == nil {
			err = cerr
		}
	}()
	for valid := it.First(); valid; valid = it.Next() {
		more, err := fn(it)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
	return it.Error()
}
