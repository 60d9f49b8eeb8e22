package pebblestore

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/livestore-sync/livestore-sync/service/storage"
	"github.com/livestore-sync/livestore-sync/service/storage/storagetest"
)

// listIDs returns the ids of all the stores, in order.
func listIDs(t *testing.T, e *Engine, after string) []string {
	t.Helper()
	stores, err := e.ListStores(after, math.MaxInt)
	if err != nil {
		t.Fatalf("ListStores(%q): %v", after, err)
	}
	ids := make([]string, len(stores))
	for i := range stores {
		ids[i] = stores[i].ID
	}
	return ids
}

// The engine's order is the order of the key prefixes, as ListStores documents.
func TestListStoresOrder(t *testing.T) {
	t.Parallel()
	e := openTest(t, t.TempDir())
	defer e.Close()
	extra := []string{strings.Repeat("y", 200), strings.Repeat("y", 300), "b", "bb", "c"}
	all := append(slices.Clone(storagetest.TrickyStoreIDs), extra...)
	for _, id := range all {
		if err := e.CreateStore(id, storage.StoreInfo{BackendID: "b"}); err != nil {
			t.Fatal(err)
		}
	}
	want := slices.Clone(all)
	slices.SortFunc(want, func(a, b string) int { return bytes.Compare(keysFor(a).prefix, keysFor(b).prefix) })
	got := listIDs(t, e, "")
	if !slices.Equal(got, want) {
		t.Fatalf("ListStores order differs from the key order")
	}
	pos := func(id string) int { return slices.Index(got, id) }
	// What the documentation says.
	for _, c := range []struct{ before, after string }{
		{"", "\x00"}, {"\xff", "ab"}, {"b", "bb"}, {"a\xff", "bb"}, {"bb", "a\x00b"},
		{strings.Repeat("x", 127), strings.Repeat("x", 128)}, {"a", strings.Repeat("x", 128)},
		{strings.Repeat("y", 300), strings.Repeat("y", 200)}, // lengths 0x2c|0x80 0x02 and 0x48|0x80 0x01
	} {
		if pos(c.before) >= pos(c.after) {
			t.Errorf("%.10q… (%d bytes) lists after %.10q… (%d bytes)", c.before, len(c.before), c.after, len(c.after))
		}
	}
	if got[0] != "" {
		t.Errorf("first store %q, want \"\"", got[0])
	}
}

// ListStores skips events whose store has no metadata (which the engine never writes), and
// reports keys and metadata it cannot decode as ErrCorrupt.
func TestListStoresOddData(t *testing.T) {
	t.Parallel()
	e := openTest(t, t.TempDir())
	defer e.Close()
	for _, id := range []string{"a", "c"} {
		if err := e.CreateStore(id, storage.StoreInfo{BackendID: "b", CreatedAt: time.UnixMilli(5)}); err != nil {
			t.Fatal(err)
		}
	}
	set := func(key, value []byte) {
		t.Helper()
		if err := e.db.Set(key, value, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	evs := []storage.Record{{Name: "n", SeqNum: 1}}
	if err := e.Append("a", 0, evs, storage.StoreInfo{BackendID: "b", Head: 1}); err != nil {
		t.Fatal(err)
	}
	set(keysFor("b").event(1), appendEvent(nil, &evs[0]))
	set(keysFor("b").event(2), appendEvent(nil, &evs[0]))
	if got := listIDs(t, e, ""); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("ListStores over orphan events = %q, want [a c]", got)
	}
	if got := listIDs(t, e, "a"); !slices.Equal(got, []string{"c"}) {
		t.Errorf("ListStores(a) over orphan events = %q, want [c]", got)
	}

	for _, bad := range []struct {
		name       string
		key, value []byte
	}{
		{"truncated metadata", keysFor("bb").meta(), []byte{formatV1, 3}},
		{"unknown kind", append(keysFor("bb").with(1), 'z'), nil},
		{"short event key", append(keysFor("bb").with(5), kindEvent, 0, 0, 0, 1), nil},
		{"truncated id", []byte{tagStore, 9, 'x'}, nil},
		// The id's length as an overlong uvarint: outside the range of the store it names, so
		// seeking to that store's keys would find this key again (FuzzParseStoreKey).
		{"overlong id length (event)", append([]byte{tagStore, 0x81, 0x00, 'b', kindEvent}, 0, 0, 0, 0, 0, 0, 0, 1), appendEvent(nil, &evs[0])},
		{"overlong id length (metadata)", []byte{tagStore, 0x81, 0x00, 'b', kindMeta}, appendMeta(nil, &storage.StoreInfo{BackendID: "b"})},
	} {
		set(bad.key, bad.value)
		if _, err := e.ListStores("", 10); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: ListStores error = %v, want ErrCorrupt", bad.name, err)
		}
		// A page that ends before the bad key does not see it.
		if got, err := e.ListStores("", 1); err != nil || len(got) != 1 {
			t.Errorf("%s: ListStores(\"\", 1) = %v, %v, want store a", bad.name, got, err)
		}
		if err := e.db.Delete(bad.key, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
}
