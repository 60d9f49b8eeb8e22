package pebblestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Key layout. Every key of a store starts with the store's prefix:
//
//	prefix     = tagStore uvarint(len(storeID)) storeID
//	metadata   = prefix kindMeta
//	event      = prefix kindEvent bigEndianUint64(seqNum)
//
// Length-prefixing the id makes the prefixes prefix-free: a store's prefix is never a prefix of
// another store's prefix (uvarints are prefix-free, so two prefixes that share their start have
// the same length and so the same id). So the keys that start with a store's prefix are exactly
// that store's keys, and [prefix, prefixEnd(prefix)) is exactly the store's key range, whatever
// bytes the ids hold. Big-endian seqNums make the event keys sort by seqNum, and since kindEvent
// sorts before kindMeta, a store's metadata key comes after all its event keys.
//
// The stores' order is the bytewise order of their prefixes, which is the engine's order of store
// ids (ListStores): first by the bytes of uvarint(len(id)), then by the id's bytes. For ids shorter
// than 128 bytes that is shorter ids first, then ids of the same length bytewise; but uvarints are
// little-endian, so ids of 128 bytes or more come after all of those and sort by their length's
// low 7 bits first (an id of 300 bytes comes before one of 200). The empty id comes first.
const (
	// tagStore starts every key that belongs to a store.
	tagStore byte = 's'
	// kindMeta follows the prefix in the key of the store's metadata.
	kindMeta byte = 'm'
	// kindEvent follows the prefix in the key of one event, before the seqNum.
	kindEvent byte = 'e'
)

// storeKeys builds the keys and key ranges of one store.
type storeKeys struct {
	prefix []byte
}

// keysFor returns the key builder of the store storeID.
func keysFor(storeID string) storeKeys {
	p := make([]byte, 0, 1+binary.MaxVarintLen64+len(storeID))
	p = append(p, tagStore)
	p = binary.AppendUvarint(p, uint64(len(storeID)))
	p = append(p, storeID...)
	return storeKeys{prefix: p}
}

// with returns a new slice: the prefix followed by extra bytes of room.
func (k storeKeys) with(extra int) []byte {
	b := make([]byte, len(k.prefix), len(k.prefix)+extra)
	copy(b, k.prefix)
	return b
}

// meta returns the key of the store's metadata.
func (k storeKeys) meta() []byte {
	return append(k.with(1), kindMeta)
}

// event returns the key of the store's event seq.
func (k storeKeys) event(seq uint64) []byte {
	return k.appendEvent(k.with(9), seq)
}

// appendEvent appends the key of the store's event seq to dst[:0], reusing dst's room.
func (k storeKeys) appendEvent(dst []byte, seq uint64) []byte {
	dst = append(dst[:0], k.prefix...)
	dst = append(dst, kindEvent)
	return binary.BigEndian.AppendUint64(dst, seq)
}

// bounds returns the store's whole key range [lower, upper): its metadata and all its events.
func (k storeKeys) bounds() (lower, upper []byte) {
	return k.with(0), prefixEnd(k.prefix)
}

// eventBounds returns the key range [lower, upper) of the store's events with
// after < seqNum <= upTo; ok is false when that range is empty.
func (k storeKeys) eventBounds(after, upTo uint64) (lower, upper []byte, ok bool) {
	if after >= upTo {
		return nil, nil, false
	}
	lower = k.event(after + 1)
	if upTo == math.MaxUint64 {
		// No seqNum follows upTo: end at the first key after all event keys.
		upper = append(k.with(1), kindEvent+1)
	} else {
		upper = k.event(upTo + 1)
	}
	return lower, upper, true
}

// storesBounds returns the key range [lower, upper) that holds the keys of every store.
func storesBounds() (lower, upper []byte) {
	return []byte{tagStore}, []byte{tagStore + 1}
}

// errBadStoreKey reports a key in the stores' range that is no store's metadata or event key.
var errBadStoreKey = errors.New("malformed store key")

// parseStoreKey returns the id of the store that key belongs to and the key's kind, kindMeta or
// kindEvent: key is exactly that store's metadata key or one of its event keys. The id does not
// share memory with key.
//
// A length written as an overlong uvarint is refused: such a key lies outside the range of the
// store it would name, and ListStores, which seeks to that store's keys from it, would find it
// again and again.
func parseStoreKey(key []byte) (storeID string, kind byte, err error) {
	if len(key) == 0 || key[0] != tagStore {
		return "", 0, fmt.Errorf("%w: %w: %x", ErrCorrupt, errBadStoreKey, key)
	}
	n, w := binary.Uvarint(key[1:])
	start := 1 + w
	if w <= 0 || w != uvarintLen(n) || n >= uint64(len(key)-start) { // the id and at least the kind byte
		return "", 0, fmt.Errorf("%w: %w: %x", ErrCorrupt, errBadStoreKey, key)
	}
	end := start + int(n)
	kind, rest := key[end], len(key)-end-1
	if (kind != kindMeta || rest != 0) && (kind != kindEvent || rest != 8) {
		return "", 0, fmt.Errorf("%w: %w: %x", ErrCorrupt, errBadStoreKey, key)
	}
	return string(key[start:end]), kind, nil
}

// uvarintLen is the length of the (shortest) uvarint encoding of v, as binary.AppendUvarint
// writes it.
func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// errBadEventKey reports an event key of the wrong shape.
var errBadEventKey = errors.New("malformed event key")

// seqOf returns the seqNum of one of the store's event keys.
func (k storeKeys) seqOf(key []byte) (uint64, error) {
	n := len(k.prefix)
	if len(key) != n+9 || key[n] != kindEvent || string(key[:n]) != string(k.prefix) {
		return 0, fmt.Errorf("%w: %w: %x", ErrCorrupt, errBadEventKey, key)
	}
	return binary.BigEndian.Uint64(key[n+1:]), nil
}

// prefixEnd returns the smallest key greater than every key that starts with prefix. prefix must
// hold a byte other than 0xff (every store prefix starts with tagStore).
func prefixEnd(prefix []byte) []byte {
	end := make([]byte, len(prefix))
	copy(end, prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	panic("pebblestore: prefixEnd of an all-0xff prefix")
}
