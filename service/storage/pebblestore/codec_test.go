package pebblestore

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/livestore-sync/livestore-sync/service/storage"
	"github.com/livestore-sync/livestore-sync/service/storage/storagetest"
)

var testInfos = []storage.StoreInfo{
	{},
	{BackendID: "b", CreatedAt: time.UnixMilli(0)},
	{BackendID: "0f3c2a9e", Head: 42, CreatedAt: time.UnixMilli(1_700_000_000_123), EventCount: 40, EventBytes: 4096},
	{BackendID: "ü🎉\x00\xff", Head: math.MaxUint64, CreatedAt: time.UnixMilli(-1), EventCount: math.MaxUint64, EventBytes: math.MaxUint64},
	{BackendID: strings.Repeat("b", 300), CreatedAt: time.UnixMilli(253402300799999)},
}

var testRecords = []storage.Record{
	{},
	{Name: "v1.TodoCreated", Args: `{"id":"t1","text":"héllo 世界"}`, SeqNum: 7, ParentSeqNum: 6, ClientID: "c1", SessionID: "s1", CreatedAt: 1_700_000_000_123},
	{Name: "n", Args: `{"n":12345678901234567890.000}`, SeqNum: math.MaxUint64, ParentSeqNum: math.MaxUint64 - 1, CreatedAt: math.MinInt64},
	{Name: "\x00", Args: " \t\n\x00\xff", ClientID: "\xff", SessionID: "\x00", CreatedAt: math.MaxInt64},
	{Name: "big", Args: strings.Repeat("x", 1<<16), SessionID: strings.Repeat("s", 200), CreatedAt: -1},
	// Records as the service appends them: with their encoding (version 2).
	storagetest.WithEncoded(storage.Record{Name: "v1.TodoCreated", Args: `{"id":"t1","text":"héllo 世界"}`, SeqNum: 7, ParentSeqNum: 6, ClientID: "c1", SessionID: "s1", CreatedAt: 1_700_000_000_123}),
	storagetest.WithEncoded(storage.Record{Name: "n", SeqNum: math.MaxUint64, ParentSeqNum: math.MaxUint64 - 1, CreatedAt: math.MinInt64}),
	storagetest.WithEncoded(storage.Record{Name: "big", Args: `"` + strings.Repeat("x", 1<<16) + `"`, SessionID: strings.Repeat("s", 200), CreatedAt: -1}),
}

// decoded returns what decodeEvent returns for the value of r: r itself when it has no Encoded
// bytes (version 1), else only its SeqNum, CreatedAt and Encoded (version 2).
func decoded(r storage.Record) storage.Record {
	if r.Encoded == nil {
		return r
	}
	return storage.Record{SeqNum: r.SeqNum, CreatedAt: r.CreatedAt, Encoded: r.Encoded}
}

// sameRec reports whether a and b are equal, Encoded bytes included (nil apart from empty).
func sameRec(a, b storage.Record) bool {
	return a.Name == b.Name && a.Args == b.Args && a.SeqNum == b.SeqNum && a.ParentSeqNum == b.ParentSeqNum &&
		a.ClientID == b.ClientID && a.SessionID == b.SessionID && a.CreatedAt == b.CreatedAt &&
		bytes.Equal(a.Encoded, b.Encoded) && (a.Encoded == nil) == (b.Encoded == nil)
}

func TestMetaRoundTrip(t *testing.T) {
	t.Parallel()
	for _, info := range testInfos {
		b := appendMeta(nil, &info)
		if b[0] != formatV1 {
			t.Errorf("first byte %d, want the version %d", b[0], formatV1)
		}
		got, err := decodeMeta(b)
		if err != nil {
			t.Fatalf("decodeMeta(appendMeta(%+v)): %v", info, err)
		}
		if got.BackendID != info.BackendID || got.Head != info.Head || !got.CreatedAt.Equal(info.CreatedAt) ||
			got.EventCount != info.EventCount || got.EventBytes != info.EventBytes {
			t.Errorf("round trip of %+v = %+v", info, got)
		}
		if got.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt in %v, want UTC", got.CreatedAt.Location())
		}
	}
	// The zero time comes back as the zero time.
	if got, _ := decodeMeta(appendMeta(nil, &storage.StoreInfo{})); !got.CreatedAt.IsZero() {
		t.Errorf("zero CreatedAt came back as %v", got.CreatedAt)
	}
	// Milliseconds are kept, finer is not.
	ns := storage.StoreInfo{CreatedAt: time.Unix(1, 123_456_789)}
	if got, _ := decodeMeta(appendMeta(nil, &ns)); !got.CreatedAt.Equal(time.Unix(1, 123_000_000)) {
		t.Errorf("CreatedAt %v came back as %v", ns.CreatedAt, got.CreatedAt)
	}
}

func TestEventRoundTrip(t *testing.T) {
	t.Parallel()
	for _, r := range testRecords {
		b := appendEvent(nil, &r)
		version := formatV1
		if r.Encoded != nil {
			version = formatV2
		}
		if b[0] != version {
			t.Errorf("first byte %d, want the version %d", b[0], version)
		}
		want := decoded(r)
		for _, a := range []*arena{nil, {}} {
			got, err := decodeEvent(b, r.SeqNum, a)
			if err != nil {
				t.Fatalf("decodeEvent: %v", err)
			}
			if !sameRec(got, want) {
				t.Errorf("round trip of %+v = %+v", r, got)
			}
			// The record must not share memory with the value, which Pebble reuses.
			saved := bytes.Clone(b)
			for i := range b {
				b[i] = 0xee
			}
			if !sameRec(got, want) {
				t.Errorf("decoded record changed with the value's bytes: %+v", got)
			}
			copy(b, saved)
		}
	}
}

// TestArena checks that the copies an arena hands out are the bytes copied, independent of the
// bytes and of each other (appending to one does not overwrite the next), however they are sized.
func TestArena(t *testing.T) {
	t.Parallel()
	a := arena{expect: 5}
	var srcs, copies [][]byte
	for i, n := range []int{1, 100, maxArenaBlock - 50, 60, maxArenaBlock * 2, 7, 0, 3, 100, 100} {
		src := bytes.Repeat([]byte{byte('a' + i)}, n)
		srcs, copies = append(srcs, bytes.Clone(src)), append(copies, a.copy(src))
		clear(src)
	}
	for i := range copies {
		_ = append(copies[i], 'X') // must not write into the next copy
	}
	for i := range copies {
		if !bytes.Equal(copies[i], srcs[i]) {
			t.Errorf("copy %d (%d bytes) = %.20q…, want %.20q…", i, len(srcs[i]), copies[i], srcs[i])
		}
	}
}

// Every proper prefix of a value, every other version and every value with bytes left over
// is refused with ErrCorrupt.
func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	var values [][]byte
	for _, info := range testInfos {
		values = append(values, appendMeta(nil, &info))
	}
	for _, r := range testRecords {
		values = append(values, appendEvent(nil, &r))
	}
	decoders := map[string]func([]byte) error{
		"meta":  func(b []byte) error { _, err := decodeMeta(b); return err },
		"event": func(b []byte) error { _, err := decodeEvent(b, 1, nil); return err },
	}
	for i, v := range values {
		name := "event"
		if i < len(testInfos) {
			name = "meta"
		}
		decode := decoders[name]
		for n := 0; n < len(v); n++ {
			if err := decode(v[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s value %d truncated to %d of %d bytes: error = %v, want ErrCorrupt", name, i, n, len(v), err)
			}
		}
		for _, version := range []byte{0, 3, 0xff} {
			w := append([]byte{version}, v[1:]...)
			if err := decode(w); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "version") {
				t.Errorf("%s value %d with version %d: error = %v, want ErrCorrupt about the version", name, i, version, err)
			}
		}
		if err := decode(append(v[:len(v):len(v)], 0)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s value %d with a trailing byte: error = %v, want ErrCorrupt", name, i, err)
		}
	}
	// Version 2 values whose encoding is not an object.
	for _, enc := range []string{"", "{", "}", "[]", `"{}"`, " {}", "{} "} {
		v := append([]byte{formatV2, 0}, byte(len(enc)))
		v = append(v, enc...)
		if _, err := decodeEvent(v, 1, nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("version 2 value holding %q: error = %v, want ErrCorrupt", enc, err)
		}
	}
	// A string length past the end, and varints that overflow.
	for _, b := range [][]byte{
		{1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		{1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		for name, decode := range decoders {
			if err := decode(b); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s of % x: error = %v, want ErrCorrupt", name, b, err)
			}
		}
	}
}

// FuzzDecode checks that the decoders never panic, and that what they accept encodes back to
// a value that decodes to the same thing.
func FuzzDecode(f *testing.F) {
	for _, info := range testInfos {
		f.Add(appendMeta(nil, &info))
	}
	for _, r := range testRecords {
		if len(r.Args) < 1000 {
			f.Add(appendEvent(nil, &r))
		}
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if info, err := decodeMeta(b); err == nil {
			again, err := decodeMeta(appendMeta(nil, &info))
			if err != nil || again.BackendID != info.BackendID || again.Head != info.Head ||
				!again.CreatedAt.Equal(info.CreatedAt) || again.EventCount != info.EventCount ||
				again.EventBytes != info.EventBytes {
				t.Errorf("meta %+v re-decoded as %+v, %v", info, again, err)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeMeta error %v does not wrap ErrCorrupt", err)
		}
		if r, err := decodeEvent(b, 9, nil); err == nil {
			again, err := decodeEvent(appendEvent(nil, &r), 9, nil)
			if err != nil || !sameRec(again, r) {
				t.Errorf("event %+v re-decoded as %+v, %v", r, again, err)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeEvent error %v does not wrap ErrCorrupt", err)
		}
	})
}
