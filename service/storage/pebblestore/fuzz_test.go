package pebblestore

import (
	"bytes"
	"cmp"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/livestore-sync/livestore-sync/service/storage"
	"github.com/livestore-sync/livestore-sync/service/storage/storagetest"
)

// Fuzz targets of the value codec (codec.go) and the key layout (keys.go). Run one with
//
//	go test -run '^$' -fuzz '^FuzzDecodeValue$' -fuzztime 30s ./service/storage/pebblestore/
//
// (make fuzz runs each for a few seconds). testdata/fuzz/<target>/ holds their committed seeds.

// FuzzDecodeValue decodes arbitrary bytes as a metadata value and as an event value. Decoding
// never panics; an error wraps ErrCorrupt; what decodes encodes to a value that decodes to the
// same thing (the encoder's output is canonical, the input need not be: varints may be overlong);
// and a decoded record shares no memory with the value.
func FuzzDecodeValue(f *testing.F) {
	for i := range testInfos {
		f.Add(appendMeta(nil, &testInfos[i]), uint64(0))
	}
	for i := range testRecords {
		f.Add(appendEvent(nil, &testRecords[i]), testRecords[i].SeqNum)
	}
	for _, b := range [][]byte{
		nil, {0}, {formatV1}, {2, 0}, {formatV1, 0x80},
		{formatV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // varint overflow
		{formatV1, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00},                         // overlong varints
		{formatV1, 0x05, 'a', 'b'},                                             // truncated string
	} {
		f.Add(b, uint64(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, seq uint64) {
		if info, err := decodeMeta(b); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeMeta error %v does not wrap ErrCorrupt", err)
			}
		} else {
			again, err := decodeMeta(appendMeta(nil, &info))
			if err != nil || !sameInfo(again, info) {
				t.Fatalf("decodeMeta(appendMeta(%+v)) = %+v, %v", info, again, err)
			}
		}

		orig := bytes.Clone(b)
		r, err := decodeEvent(b, seq, nil)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeEvent error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if r.SeqNum != seq {
			t.Fatalf("decodeEvent(…, %d) has SeqNum %d", seq, r.SeqNum)
		}
		for i := range b {
			b[i] ^= 0xff // the record must not see this
		}
		if want, err := decodeEvent(orig, seq, &arena{}); err != nil || !sameRec(want, r) {
			t.Fatalf("record changed with the value it was decoded from: %+v, want %+v (%v)", r, want, err)
		}
		again, err := decodeEvent(appendEvent(nil, &r), seq, nil)
		if err != nil || !sameRec(again, r) {
			t.Fatalf("decodeEvent(appendEvent(%+v)) = %+v, %v", r, again, err)
		}
	})
}

// FuzzEncodeValue encodes metadata and an event made of the fuzzed fields (in both versions) and
// checks that they decode to exactly what was encoded (CreatedAt of metadata to the millisecond, in UTC), that the
// encoding starts with the version byte, and that every proper prefix of it fails to decode
// (the decoder notices truncation).
func FuzzEncodeValue(f *testing.F) {
	for _, r := range testRecords {
		f.Add(r.Name, r.Args, r.ClientID, r.SessionID, r.ParentSeqNum, r.SeqNum, uint64(len(r.Args)), r.CreatedAt)
	}
	f.Add("", "", "", "", uint64(0), uint64(0), uint64(0), int64(0))
	f.Add(strings.Repeat("x", 128), "\xff\xfe", "\x00", "ü", uint64(math.MaxUint64), uint64(1<<63), uint64(127), int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, s1, s2, s3, s4 string, u1, u2, u3 uint64, ms int64) {
		info := storage.StoreInfo{BackendID: s1, Head: u1, CreatedAt: time.UnixMilli(ms), EventCount: u2, EventBytes: u3}
		mb := appendMeta(nil, &info)
		got, err := decodeMeta(mb)
		if err != nil || !sameInfo(got, info) || got.CreatedAt.Location() != time.UTC {
			t.Fatalf("decodeMeta(appendMeta(%+v)) = %+v, %v", info, got, err)
		}
		rec := storage.Record{Name: s1, Args: s2, ClientID: s3, SessionID: s4, ParentSeqNum: u1, SeqNum: u2, CreatedAt: ms}
		// Version 1 (the fields) and version 2 (the encoding, which version 2 alone keeps).
		for _, r := range []storage.Record{rec, storagetest.WithEncoded(rec)} {
			eb := appendEvent(nil, &r)
			if got, err := decodeEvent(eb, u2, &arena{}); err != nil || !sameRec(got, decoded(r)) {
				t.Fatalf("decodeEvent(appendEvent(%+v)) = %+v, %v", r, got, err)
			}
			if version := map[bool]byte{false: formatV1, true: formatV2}[r.Encoded != nil]; eb[0] != version {
				t.Fatalf("event encoding starts with %d, want the version %d", eb[0], version)
			}
			for _, n := range []int{0, 1, len(eb) / 2, len(eb) - 1} {
				if _, err := decodeEvent(eb[:n], u2, nil); err == nil {
					t.Fatalf("event value cut to %d of %d bytes decodes", n, len(eb))
				}
			}
		}
		if mb[0] != formatV1 {
			t.Fatalf("metadata encoding starts with %d, want the version %d", mb[0], formatV1)
		}
		for _, n := range []int{0, 1, len(mb) / 2, len(mb) - 1} {
			if _, err := decodeMeta(mb[:n]); err == nil {
				t.Fatalf("metadata value cut to %d of %d bytes decodes", n, len(mb))
			}
		}
	})
}

// FuzzStoreKeys checks what keys.go promises for the keys of two stores a and b:
//
//   - a's prefix is a prefix of b's only when a == b (the prefixes are prefix-free), so a's
//     key range holds b's metadata and event keys only when a == b, and always holds a's own;
//   - different stores' key ranges do not overlap: every key of a compares to every key of b
//     as a's prefix compares to b's;
//   - parseStoreKey and seqOf give back the store and seqNum of every key, and seqOf refuses
//     the event keys of another store;
//   - event keys sort by seqNum, all of them before the metadata key, and eventBounds holds
//     exactly the events with after < seqNum <= upTo.
func FuzzStoreKeys(f *testing.F) {
	ids := storagetest.TrickyStoreIDs
	for i, a := range ids {
		b := ids[(i+1)%len(ids)]
		f.Add(a, b, uint64(i), uint64(1)<<(i%64))
		f.Add(a, a, uint64(math.MaxUint64), uint64(0))
	}
	f.Add("a", "a\x00", uint64(255), uint64(256))
	f.Add(strings.Repeat("x", 127), strings.Repeat("x", 128), uint64(1), uint64(math.MaxUint64))
	f.Fuzz(func(t *testing.T, a, b string, x, y uint64) {
		ka, kb := keysFor(a), keysFor(b)
		if got := bytes.HasPrefix(kb.prefix, ka.prefix); got != (a == b) {
			t.Fatalf("prefix of %q is a prefix of the prefix of %q: %v", a, b, got)
		}
		lower, upper := ka.bounds()
		aKeys := [][]byte{ka.meta(), ka.event(x), ka.event(y), ka.event(0), ka.event(math.MaxUint64)}
		bKeys := [][]byte{kb.meta(), kb.event(x), kb.event(y), kb.event(0), kb.event(math.MaxUint64)}
		for _, key := range aKeys {
			if !inRange(key, lower, upper) {
				t.Fatalf("key %x of store %q outside its own range [%x, %x)", key, a, lower, upper)
			}
		}
		order := bytes.Compare(ka.prefix, kb.prefix)
		for _, key := range bKeys {
			if got := inRange(key, lower, upper); got != (a == b) {
				t.Fatalf("key %x of store %q in the range of store %q: %v", key, b, a, got)
			}
			for _, ak := range aKeys {
				if a != b && bytes.Compare(ak, key) != order {
					t.Fatalf("stores %q and %q interleave: keys %x and %x", a, b, ak, key)
				}
			}
		}

		for _, k := range []struct {
			key  []byte
			kind byte
		}{{ka.meta(), kindMeta}, {ka.event(x), kindEvent}} {
			id, kind, err := parseStoreKey(k.key)
			if err != nil || id != a || kind != k.kind {
				t.Fatalf("parseStoreKey(%x) = %q, %q, %v; want %q, %q", k.key, id, kind, err, a, k.kind)
			}
		}
		if seq, err := ka.seqOf(ka.event(x)); err != nil || seq != x {
			t.Fatalf("seqOf(event(%d)) = %d, %v", x, seq, err)
		}
		if a != b {
			if _, err := ka.seqOf(kb.event(x)); err == nil {
				t.Fatalf("store %q accepts the event key of store %q", a, b)
			}
		}
		if _, err := ka.seqOf(ka.meta()); err == nil {
			t.Fatalf("seqOf accepts the metadata key")
		}
		if dst := ka.appendEvent(make([]byte, 3, 64), y); !bytes.Equal(dst, ka.event(y)) {
			t.Fatalf("appendEvent = %x, want %x", dst, ka.event(y))
		}

		if got := bytes.Compare(ka.event(x), ka.event(y)); got != cmp.Compare(x, y) {
			t.Fatalf("event keys %d and %d compare %d", x, y, got)
		}
		if bytes.Compare(ka.event(math.MaxUint64), ka.meta()) >= 0 {
			t.Fatalf("metadata key of %q sorts before its last event key", a)
		}
		after, upTo := min(x, y), max(x, y)
		lo, hi, ok := ka.eventBounds(after, upTo)
		if ok != (after < upTo) {
			t.Fatalf("eventBounds(%d, %d) ok = %v", after, upTo, ok)
		}
		if ok {
			for _, s := range []uint64{after, after + 1, upTo, upTo + 1, (after + upTo) / 2, 0, math.MaxUint64} {
				if got, want := inRange(ka.event(s), lo, hi), after < s && s <= upTo; got != want {
					t.Fatalf("event %d in eventBounds(%d, %d): %v, want %v", s, after, upTo, got, want)
				}
			}
			if inRange(ka.meta(), lo, hi) {
				t.Fatalf("metadata key in eventBounds(%d, %d)", after, upTo)
			}
		}
	})
}

// FuzzParseStoreKey parses arbitrary bytes as a key of the stores' range. It never panics; an
// error wraps ErrCorrupt; and a key that parses is exactly the metadata key or an event key of
// the store it names, and so lies in that store's key range (ListStores seeks from it within
// that range).
func FuzzParseStoreKey(f *testing.F) {
	for _, id := range storagetest.TrickyStoreIDs {
		k := keysFor(id)
		f.Add(k.meta())
		f.Add(k.event(42))
	}
	for _, b := range [][]byte{
		nil, {tagStore}, {tagStore, 0}, {tagStore, 0, kindMeta}, {tagStore, 1, 'a'},
		{tagStore, 0x80}, {tagStore, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, kindMeta},
		{'m', 0, kindMeta},
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, key []byte) {
		id, kind, err := parseStoreKey(key)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("parseStoreKey error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		k := keysFor(id)
		switch kind {
		case kindMeta:
			if !bytes.Equal(key, k.meta()) {
				t.Fatalf("parseStoreKey(%x) = %q, meta; its metadata key is %x", key, id, k.meta())
			}
		case kindEvent:
			seq, err := k.seqOf(key)
			if err != nil || !bytes.Equal(key, k.event(seq)) {
				t.Fatalf("parseStoreKey(%x) = %q, event; seqOf: %d, %v", key, id, seq, err)
			}
		default:
			t.Fatalf("parseStoreKey(%x) returned kind %q", key, kind)
		}
		if lower, upper := k.bounds(); !inRange(key, lower, upper) {
			t.Fatalf("key %x outside the range of its store %q", key, id)
		}
	})
}
