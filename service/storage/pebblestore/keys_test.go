package pebblestore

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/livestore-sync/livestore-sync/service/storage/storagetest"
)

func inRange(key, lower, upper []byte) bool {
	return bytes.Compare(key, lower) >= 0 && bytes.Compare(key, upper) < 0
}

// No store's key range holds a key of another store, and each holds all of its own.
func TestKeyRangesIsolated(t *testing.T) {
	t.Parallel()
	seqs := []uint64{0, 1, 255, 256, 1 << 32, math.MaxUint64}
	ids := storagetest.TrickyStoreIDs
	for _, a := range ids {
		ka := keysFor(a)
		lower, upper := ka.bounds()
		for _, b := range ids {
			kb := keysFor(b)
			keys := [][]byte{kb.meta()}
			for _, s := range seqs {
				keys = append(keys, kb.event(s))
			}
			for _, key := range keys {
				if got, want := inRange(key, lower, upper), a == b; got != want {
					t.Fatalf("key %x of store %q in the range of store %q: %v, want %v", key, b, a, got, want)
				}
			}
			if a != b {
				if _, err := ka.seqOf(kb.event(5)); err == nil {
					t.Errorf("store %q accepts an event key of store %q", a, b)
				}
			}
		}
	}
}

func TestEventBounds(t *testing.T) {
	t.Parallel()
	k := keysFor("a")
	const max = math.MaxUint64
	all := []uint64{0, 1, 2, 3, 10, 1 << 40, max - 1, max}
	tests := []struct{ after, upTo uint64 }{
		{0, max}, {0, 0}, {0, 1}, {1, 3}, {3, 1}, {2, 10}, {max - 1, max}, {max, max}, {10, max - 1},
	}
	for _, tc := range tests {
		lower, upper, ok := k.eventBounds(tc.after, tc.upTo)
		if ok != (tc.after < tc.upTo) {
			t.Errorf("eventBounds(%d, %d) ok = %v", tc.after, tc.upTo, ok)
		}
		for _, s := range all {
			want := s > tc.after && s <= tc.upTo
			if got := ok && inRange(k.event(s), lower, upper); got != want {
				t.Errorf("eventBounds(%d, %d) holds seq %d: %v, want %v", tc.after, tc.upTo, s, got, want)
			}
		}
		if ok && inRange(k.meta(), lower, upper) {
			t.Errorf("eventBounds(%d, %d) holds the metadata key", tc.after, tc.upTo)
		}
	}
}

func TestSeqOf(t *testing.T) {
	t.Parallel()
	k := keysFor("store")
	for _, s := range []uint64{0, 1, 1 << 20, math.MaxUint64} {
		if got, err := k.seqOf(k.event(s)); err != nil || got != s {
			t.Errorf("seqOf(event(%d)) = %d, %v", s, got, err)
		}
	}
	buf := []byte("reused buffer that is long enough")
	if got, err := k.seqOf(k.appendEvent(buf, 9)); err != nil || got != 9 {
		t.Errorf("seqOf(appendEvent(buf, 9)) = %d, %v", got, err)
	}
	for _, bad := range [][]byte{nil, k.meta(), k.event(1)[:5], append(k.event(1), 0)} {
		if _, err := k.seqOf(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("seqOf(%x) error = %v, want ErrCorrupt", bad, err)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"s", "t"},
		{"s\x01a", "s\x01b"},
		{"s\x01\xff", "s\x02"},
		{"s\x02\xff\xff", "s\x03"},
		{"\x00", "\x01"},
	}
	for _, tc := range tests {
		if got := prefixEnd([]byte(tc.in)); string(got) != tc.want {
			t.Errorf("prefixEnd(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseStoreKey(t *testing.T) {
	t.Parallel()
	for _, id := range storagetest.TrickyStoreIDs {
		k := keysFor(id)
		for _, c := range []struct {
			key  []byte
			kind byte
		}{{k.meta(), kindMeta}, {k.event(0), kindEvent}, {k.event(math.MaxUint64), kindEvent}} {
			got, kind, err := parseStoreKey(c.key)
			if err != nil || got != id || kind != c.kind {
				t.Errorf("parseStoreKey(%x) = %q, %c, %v, want %q, %c", c.key, got, kind, err, id, c.kind)
			}
		}
	}
	k := keysFor("ab")
	for _, bad := range [][]byte{
		nil, {tagStore}, {'x', 0, kindMeta}, {tagStore, 2, 'a', 'b'}, {tagStore, 3, 'a', 'b', kindMeta},
		append(k.meta(), 0), k.event(1)[:len(k.event(1))-1], append(k.event(1), 0),
		append(k.with(1), 'z'), append(k.with(9), kindMeta, 0, 0, 0, 0, 0, 0, 0, 1),
		{tagStore, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, kindMeta},
		{tagStore, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, kindMeta},
	} {
		if id, kind, err := parseStoreKey(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("parseStoreKey(%x) = %q, %c, %v, want ErrCorrupt", bad, id, kind, err)
		}
	}
}

func TestStoresBounds(t *testing.T) {
	t.Parallel()
	lower, upper := storesBounds()
	for _, id := range storagetest.TrickyStoreIDs {
		k := keysFor(id)
		for _, key := range [][]byte{k.meta(), k.event(0), k.event(math.MaxUint64)} {
			if !inRange(key, lower, upper) {
				t.Errorf("key %x of store %q outside the stores' bounds", key, id)
			}
		}
	}
}
