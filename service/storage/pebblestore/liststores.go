package pebblestore

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/livestore-sync/livestore-sync/service/storage"
)

// ListStores implements storage.Engine. The engine's order of store ids is the bytewise order of
// the stores' key prefixes: shorter ids first, ids of the same length bytewise, for ids shorter
// than 128 bytes; longer ids follow in the order of their uvarint-encoded lengths, which is not
// the order of the lengths (see keys.go). The empty id comes first, so after == "" lists it.
//
// One iterator, a point-in-time view of the database, reads the page. It does not visit the
// stores' events: on a store's first event key it seeks to the store's metadata key, which sorts
// after the events, and after a metadata key it seeks past the store's key range. A store whose
// metadata key is missing (events without metadata, never written by the engine) is skipped, as
// LoadStore would not find it.
func (e *Engine) ListStores(after string, limit int) ([]storage.StoreSummary, error) {
	if limit <= 0 {
		return []storage.StoreSummary{}, nil
	}
	lower, upper := storesBounds()
	if after != "" {
		// The stores strictly after the store after, whether it exists or not.
		lower = prefixEnd(keysFor(after).prefix)
	}
	stores := make([]storage.StoreSummary, 0, min(limit, 64))
	err := seekScan(e.db, lower, upper, func(it *pebble.Iterator) (bool, error) {
		id, kind, err := parseStoreKey(it.Key())
		if err != nil {
			return false, err
		}
		k := keysFor(id)
		if kind == kindEvent {
			return it.SeekGE(k.meta()), nil
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return false, err
		}
		info, err := decodeMeta(v)
		if err != nil {
			return false, fmt.Errorf("store %q: %w", id, err)
		}
		stores = append(stores, storage.StoreSummary{ID: id, Info: info})
		if len(stores) == limit {
			return false, nil
		}
		return it.SeekGE(prefixEnd(k.prefix)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: list stores after %q: %w", after, err)
	}
	return stores, nil
}

// seekScan positions an iterator over [lower, upper) of r on its first key and calls fn while
// the iterator is valid and fn returns true and no error. fn moves the iterator itself (with
// Next or a seek) and returns whether it is still valid. The iterator is always closed.
func seekScan(r pebble.Reader, lower, upper []byte, fn func(it *pebble.Iterator) (bool, error)) (err error) {
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
	for valid := it.First(); valid; {
		if valid, err = fn(it); err != nil {
			return err
		}
	}
	return it.Error()
}
