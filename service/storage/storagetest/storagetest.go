// Package storagetest is a conformance suite for storage.Engine implementations.
//
// An engine's tests call Run, and RunPersistence and RunCheckpoint when the engine keeps its data
// in a directory:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Engine { return openEngine(t, t.TempDir()) })
//	}
//
//	func TestCheckpoint(t *testing.T) {
//		storagetest.RunCheckpoint(t, func(t *testing.T, dir string) storage.Engine { return openEngine(t, dir) })
//	}
//
// The suite checks what the storage package documents, and that engines keep CreatedAt to at
// least a millisecond and the strings of every record byte for byte.
package storagetest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/livestore-sync/livestore-sync/service/storage"
)

// TrickyStoreIDs are store ids that an engine's key layout must keep apart: ids that are
// prefixes of each other, that differ in case or punctuation only, the empty id, ids with bytes
// 0x00 and 0xff, ids that look like key separators, and long ids around varint boundaries.
var TrickyStoreIDs = []string{
	"a", "ab", "A", "a.b", "a_b", "a/b", "a:b", "a b", "", "am", "ae", "a\x01",
	"\x00", "\x00\x00", "a\x00", "a\x00b", "\x00a",
	"\xff", "\xff\xff", "a\xff", "\xffa",
	"s", "sa", "m", "e", "日本語",
	strings.Repeat("x", 127), strings.Repeat("x", 128), strings.Repeat("x", 129) + "\xff",
	strings.Repeat("\xff", 300), strings.Repeat("\x00", 300), strings.Repeat("long-id/", 2000),
}

// TextStoreIDs are the TrickyStoreIDs that are valid UTF-8 without NUL bytes, and more such ids
// that differ only past a character limit an engine may index by (around 200 characters), for
// engines that run the suite with Options.TextOnly.
var TextStoreIDs = append(textOnly(TrickyStoreIDs),
	"\x7f", "\u00ff", "\u00ffa", "a\u0080", "\U0010ffff", "\uffff",
	strings.Repeat("x", 199), strings.Repeat("x", 200)+"\x01", strings.Repeat("x", 201),
	strings.Repeat("x", 200)+"a", strings.Repeat("日", 199)+"a", strings.Repeat("日", 200), strings.Repeat("日", 200)+"a",
)

// textOnly returns the ids that are valid UTF-8 without NUL bytes.
func textOnly(ids []string) []string {
	var text []string
	for _, id := range ids {
		if isText(id) {
			text = append(text, id)
		}
	}
	return text
}

// isText reports whether s is valid UTF-8 without NUL bytes.
func isText(s string) bool { return utf8.ValidString(s) && !strings.Contains(s, "\x00") }

// Options adapts the suite to an engine. The zero value runs all of it.
type Options struct {
	// TextOnly keeps every store id and every string of every record valid UTF-8 without NUL
	// bytes (TextStoreIDs instead of TrickyStoreIDs), for engines over a database whose text
	// type holds nothing else, such as PostgreSQL's. Such an engine must refuse other strings
	// with an error; the suite does not check how.
	TextOnly bool
}

// storeIDs returns the tricky store ids the engine must keep apart.
func (o Options) storeIDs() []string {
	if o.TextOnly {
		return TextStoreIDs
	}
	return TrickyStoreIDs
}

// keep returns the strings of ss that the engine takes: all of them unless TextOnly.
func (o Options) keep(ss ...string) []string {
	if o.TextOnly {
		return textOnly(ss)
	}
	return ss
}

// Run runs the conformance suite against the engines that open returns. Each subtest calls open
// once and expects a new, empty engine; the suite closes it (open must not).
func Run(t *testing.T, open func(t *testing.T) storage.Engine) {
	RunWith(t, Options{}, open)
}

// RunWith is Run adapted by opts.
func RunWith(t *testing.T, opts Options, open func(t *testing.T) storage.Engine) {
	plain := func(fn func(t *testing.T, e storage.Engine)) func(*testing.T, storage.Engine, Options) {
		return func(t *testing.T, e storage.Engine, _ Options) { fn(t, e) }
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, e storage.Engine, o Options)
	}{
		{"CreateAndLoad", plain(testCreateAndLoad)},
		{"StoreNotFound", plain(testStoreNotFound)},
		{"AppendInOrder", plain(testAppendInOrder)},
		{"ReadEventsBounds", plain(testReadEventsBounds)},
		{"ExtremeSeqNums", plain(testExtremeSeqNums)},
		{"HeadMismatchWritesNothing", plain(testHeadMismatch)},
		{"StoreIsolation", testIsolation},
		{"CreateStoreReplaces", plain(testCreateReplaces)},
		{"DeleteStore", plain(testDeleteStore)},
		{"RecordBytesPreserved", testRecordBytes},
		{"ConcurrentStores", plain(testConcurrent)},
		{"ListStores", testListStores},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := open(t)
			t.Cleanup(func() {
				if err := e.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, e, opts)
		})
	}
}

// RunPersistence checks that an engine keeps everything across Close and a new open of the same
// directory. open opens the engine whose data is in dir; the suite closes what it returns.
func RunPersistence(t *testing.T, open func(t *testing.T, dir string) storage.Engine) {
	dir := t.TempDir()
	closeEngine := func(e storage.Engine) {
		t.Helper()
		if err := e.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}

	// First life: stores with events, an empty store, a deleted store, a replaced store.
	e := open(t, dir)
	models := make([]*model, len(TrickyStoreIDs))
	for i, id := range TrickyStoreIDs {
		m := newModel(id, "b1")
		m.create(t, e)
		for j := 0; j < i%3; j++ {
			m.appendEvents(t, e, m.next(j+2))
		}
		models[i] = m
	}
	gone := newModel("deleted", "b1")
	gone.create(t, e)
	gone.appendEvents(t, e, gone.next(3))
	if err := e.DeleteStore(gone.id); err != nil {
		t.Fatalf("DeleteStore: %v", err)
	}
	replaced := newModel("replaced", "b1")
	replaced.create(t, e)
	replaced.appendEvents(t, e, replaced.next(5))
	replaced = newModel("replaced", "b2")
	replaced.create(t, e)
	replaced.appendEvents(t, e, replaced.next(2))
	models = append(models, replaced)
	closeEngine(e)

	// Second life: everything is there; write more.
	e = open(t, dir)
	for _, m := range models {
		m.check(t, e)
	}
	checkGone(t, e, gone.id)
	for _, m := range models[:5] {
		m.appendEvents(t, e, m.next(4))
	}
	if err := e.DeleteStore(models[5].id); err != nil {
		t.Fatalf("DeleteStore: %v", err)
	}
	deleted := models[5]
	models = append(models[:5], models[6:]...)
	closeEngine(e)

	// Third life: the second life's writes are there too.
	e = open(t, dir)
	defer closeEngine(e)
	for _, m := range models {
		m.check(t, e)
	}
	checkGone(t, e, deleted.id)
	checkGone(t, e, gone.id)
}

func testCreateAndLoad(t *testing.T, e storage.Engine) {
	tests := []struct {
		name string
		info storage.StoreInfo
	}{
		{"typical", storage.StoreInfo{BackendID: "0f3c2a", CreatedAt: baseTime}},
		{"unicode backend id", storage.StoreInfo{BackendID: "bäckend-世界-🎉", CreatedAt: baseTime}},
		{"empty backend id", storage.StoreInfo{CreatedAt: baseTime}},
		{"zero time", storage.StoreInfo{BackendID: "b"}},
		{"before 1970", storage.StoreInfo{BackendID: "b", CreatedAt: time.UnixMilli(-86_400_123)}},
		{"large values", storage.StoreInfo{
			BackendID: strings.Repeat("b", 1000), Head: math.MaxUint64, CreatedAt: time.UnixMilli(253402300799999),
			EventCount: math.MaxUint64 - 1, EventBytes: math.MaxUint64,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := "store/" + tc.name
			if err := e.CreateStore(id, tc.info); err != nil {
				t.Fatalf("CreateStore: %v", err)
			}
			got, err := e.LoadStore(id)
			if err != nil {
				t.Fatalf("LoadStore: %v", err)
			}
			if err := sameInfo(got, tc.info); err != nil {
				t.Error(err)
			}
			if n, err := e.CountEvents(id, 0, math.MaxUint64); err != nil || n != 0 {
				t.Errorf("CountEvents = %d, %v, want 0, nil", n, err)
			}
			if recs, err := e.ReadEvents(id, 0, math.MaxUint64, 100); err != nil || len(recs) != 0 {
				t.Errorf("ReadEvents = %d events, %v, want none", len(recs), err)
			}
		})
	}
}

func testStoreNotFound(t *testing.T, e storage.Engine) {
	// A neighbour exists, so that a missing store is not just an empty engine.
	m := newModel("present", "b1")
	m.create(t, e)
	m.appendEvents(t, e, m.next(3))

	for _, id := range []string{"missing", "presen", "present2", ""} {
		checkGone(t, e, id)
		info := storage.StoreInfo{BackendID: "b", Head: 1, EventCount: 1}
		evs := []storage.Record{makeEvent(id, "b", 1, 0)}
		if err := e.Append(id, 0, evs, info); !errors.Is(err, storage.ErrStoreNotFound) {
			t.Errorf("Append(%q) error = %v, want ErrStoreNotFound", id, err)
		}
		if err := e.DeleteStore(id); err != nil {
			t.Errorf("DeleteStore(%q) of a missing store: %v", id, err)
		}
		checkGone(t, e, id)
	}
	m.check(t, e)
}

func testAppendInOrder(t *testing.T, e storage.Engine) {
	m := newModel("ordered", "b1")
	m.create(t, e)
	m.check(t, e)
	for _, n := range []int{1, 5, 2, 100, 1} {
		m.appendEvents(t, e, m.next(n))
		m.check(t, e)
	}
	// Seqnums need not be contiguous: they only increase.
	m.appendEvents(t, e, m.nextFrom(m.info.Head+10, 3, 7))
	m.check(t, e)
	// The big-endian order of seqnums past one byte, two bytes, four bytes.
	m.appendEvents(t, e, []storage.Record{
		makeEvent(m.id, "b1", 255, m.info.Head), makeEvent(m.id, "b1", 256, 255),
		makeEvent(m.id, "b1", 65536, 256), makeEvent(m.id, "b1", 1<<32+1, 65536),
	})
	m.check(t, e)
}

func testReadEventsBounds(t *testing.T, e storage.Engine) {
	// The store holds seqnums 2 3 5 8 13 21; a neighbour with other seqnums surrounds it.
	m := newModel("fib", "b1")
	m.create(t, e)
	var evs []storage.Record
	parent := uint64(0)
	for _, s := range []uint64{2, 3, 5, 8, 13, 21} {
		evs = append(evs, makeEvent(m.id, "b1", s, parent))
		parent = s
	}
	m.appendEvents(t, e, evs)
	for _, id := range []string{"fi", "fib0", "fibb"} {
		n := newModel(id, "b1")
		n.create(t, e)
		n.appendEvents(t, e, n.next(30))
	}

	const max = math.MaxUint64
	tests := []struct {
		after, upTo uint64
		limit       int
		want        []uint64 // ReadEvents
		count       uint64   // CountEvents, without limit
	}{
		{0, max, 100, []uint64{2, 3, 5, 8, 13, 21}, 6},
		{0, 21, 100, []uint64{2, 3, 5, 8, 13, 21}, 6},
		{0, 20, 100, []uint64{2, 3, 5, 8, 13}, 5},
		{1, 21, 100, []uint64{2, 3, 5, 8, 13, 21}, 6},
		{2, 13, 100, []uint64{3, 5, 8, 13}, 4},
		{2, 3, 100, []uint64{3}, 1},
		{3, 4, 100, nil, 0},
		{4, 5, 100, []uint64{5}, 1},
		{0, 1, 100, nil, 0},
		{0, 2, 100, []uint64{2}, 1},
		{21, max, 100, nil, 0},
		{20, max, 100, []uint64{21}, 1},
		{8, 8, 100, nil, 0},
		{13, 5, 100, nil, 0},
		{max, max, 100, nil, 0},
		{max - 1, max, 100, nil, 0},
		{0, 0, 100, nil, 0},
		{0, max, 1, []uint64{2}, 6},
		{0, max, 3, []uint64{2, 3, 5}, 6},
		{5, max, 2, []uint64{8, 13}, 3},
		{0, max, 6, []uint64{2, 3, 5, 8, 13, 21}, 6},
		{0, max, 7, []uint64{2, 3, 5, 8, 13, 21}, 6},
		{0, max, math.MaxInt, []uint64{2, 3, 5, 8, 13, 21}, 6},
		{3, 13, 2, []uint64{5, 8}, 3},
	}
	bySeq := map[uint64]storage.Record{}
	for _, r := range m.events {
		bySeq[r.SeqNum] = r
	}
	for _, tc := range tests {
		recs, err := e.ReadEvents(m.id, tc.after, tc.upTo, tc.limit)
		if err != nil {
			t.Errorf("ReadEvents(%d, %d, %d): %v", tc.after, tc.upTo, tc.limit, err)
			continue
		}
		want := make([]storage.Record, len(tc.want))
		for i, s := range tc.want {
			want[i] = bySeq[s]
		}
		if err := sameRecords(recs, want); err != nil {
			t.Errorf("ReadEvents(%d, %d, %d): %v", tc.after, tc.upTo, tc.limit, err)
		}
		n, err := e.CountEvents(m.id, tc.after, tc.upTo)
		if err != nil || n != tc.count {
			t.Errorf("CountEvents(%d, %d) = %d, %v, want %d", tc.after, tc.upTo, n, err, tc.count)
		}
	}
}

func testExtremeSeqNums(t *testing.T, e storage.Engine) {
	const max = math.MaxUint64
	m := newModel("extreme", "b1")
	m.create(t, e)
	var evs []storage.Record
	parent := uint64(0)
	for _, s := range []uint64{1, 1 << 32, 1 << 63, max - 1, max} {
		evs = append(evs, makeEvent(m.id, "b1", s, parent))
		parent = s
	}
	m.appendEvents(t, e, evs)
	m.check(t, e)
	tests := []struct {
		after, upTo uint64
		want        int // the number of events
	}{
		{0, max, 5},
		{1 << 63, max, 2},
		{max - 2, max, 2},
		{max - 1, max, 1},
		{0, max - 1, 4},
		{1, 1 << 63, 2},
	}
	for _, tc := range tests {
		recs, err := e.ReadEvents(m.id, tc.after, tc.upTo, 10)
		if err != nil || len(recs) != tc.want {
			t.Errorf("ReadEvents(%d, %d) = %s, %v, want %d events", tc.after, tc.upTo, seqs(recs), err, tc.want)
		}
		for _, r := range recs {
			if r.SeqNum <= tc.after || r.SeqNum > tc.upTo {
				t.Errorf("ReadEvents(%d, %d) returned seqnum %d", tc.after, tc.upTo, r.SeqNum)
			}
		}
		if n, err := e.CountEvents(m.id, tc.after, tc.upTo); err != nil || n != uint64(tc.want) {
			t.Errorf("CountEvents(%d, %d) = %d, %v, want %d", tc.after, tc.upTo, n, err, tc.want)
		}
	}
}

func testHeadMismatch(t *testing.T, e storage.Engine) {
	m := newModel("head", "b1")
	m.create(t, e)
	m.appendEvents(t, e, m.next(3)) // head 3
	for _, prevHead := range []uint64{0, 2, 4, math.MaxUint64 - 1} {
		stale := &model{id: m.id, info: m.info}
		stale.info.Head = prevHead
		stale.info.BackendID = "other" // so that overwritten events would show
		n := 3
		if prevHead > math.MaxUint64-3 {
			n = 1
		}
		evs := stale.next(n)
		err := e.Append(m.id, prevHead, evs, stale.infoAfter(evs))
		if !errors.Is(err, storage.ErrHeadMismatch) {
			t.Errorf("Append after %d with head 3: error = %v, want ErrHeadMismatch", prevHead, err)
		}
		m.check(t, e) // nothing written: neither events nor metadata
	}
	// The right head still works.
	m.appendEvents(t, e, m.next(2))
	m.check(t, e)
}

func testIsolation(t *testing.T, e storage.Engine, o Options) {
	models := make(map[string]*model, len(o.storeIDs()))
	for i, id := range o.storeIDs() {
		m := newModel(id, "b-"+id)
		m.create(t, e)
		// A different number of events per store, in up to two appends.
		evs := m.next(i%7 + 1)
		m.appendEvents(t, e, evs[:len(evs)/2])
		m.appendEvents(t, e, evs[len(evs)/2:])
		models[id] = m
	}
	checkAll := func(step string) {
		t.Helper()
		for _, m := range models {
			if err := m.verify(e); err != nil {
				t.Errorf("%s: %v", step, err)
			}
		}
	}
	checkAll("after writing every store")

	// Removing, replacing and growing one store leaves the others alone.
	for _, id := range o.keep("a", "", "\x00", "\xff", strings.Repeat("x", 128)) {
		if err := e.DeleteStore(id); err != nil {
			t.Fatalf("DeleteStore(%q): %v", id, err)
		}
		delete(models, id)
		checkGone(t, e, id)
	}
	checkAll("after deleting some stores")
	for _, id := range o.keep("ab", "a\x00", "a\xff", strings.Repeat("x", 127)) {
		m := newModel(id, "b2-"+id)
		m.create(t, e)
		models[id] = m
	}
	checkAll("after replacing some stores")
	for _, id := range o.keep("A", "ab", "\x00\x00", "\xff\xff") {
		models[id].appendEvents(t, e, models[id].next(3))
	}
	checkAll("after appending to some stores")
}

func testCreateReplaces(t *testing.T, e storage.Engine) {
	old := newModel("reset", "b1")
	old.create(t, e)
	old.appendEvents(t, e, old.next(5))
	m := newModel("reset", "b2")
	m.info.CreatedAt = baseTime.Add(time.Hour)
	m.create(t, e)
	m.check(t, e) // new metadata, no events
	for _, r := range [][2]uint64{{0, 5}, {0, 1}, {4, 5}} {
		if recs, err := e.ReadEvents(m.id, r[0], r[1], 10); err != nil || len(recs) != 0 {
			t.Errorf("ReadEvents(%d, %d) after reset = %s, %v, want none", r[0], r[1], seqs(recs), err)
		}
	}
	// The log starts again from 0, with new events at the old seqnums.
	m.appendEvents(t, e, m.next(2))
	m.check(t, e)
	// And a store replaced while empty stays empty.
	m = newModel("reset", "b3")
	m.create(t, e)
	m.create(t, e)
	m.check(t, e)
}

func testDeleteStore(t *testing.T, e storage.Engine) {
	m := newModel("doomed", "b1")
	m.create(t, e)
	m.appendEvents(t, e, m.next(10))
	if err := e.DeleteStore(m.id); err != nil {
		t.Fatalf("DeleteStore: %v", err)
	}
	checkGone(t, e, m.id)
	if err := e.DeleteStore(m.id); err != nil {
		t.Errorf("DeleteStore of a deleted store: %v", err)
	}
	// Created again, it starts empty.
	m = newModel("doomed", "b2")
	m.create(t, e)
	m.check(t, e)
	m.appendEvents(t, e, m.next(1))
	m.check(t, e)
}

func testRecordBytes(t *testing.T, e storage.Engine, o Options) {
	tests := []struct {
		name string
		rec  storage.Record
	}{
		{"big number text", storage.Record{Name: "v1.Paid", Args: `{"amount":12345678901234567890.000}`}},
		{"exponent and negative zero", storage.Record{Name: "n", Args: `[1E+400,-0.0,1e-7,0.1000]`}},
		{"unicode", storage.Record{Name: "v1.Créé-名前", Args: `{"text":"héllo 世界 🎉","rtl":"שלום"}`}},
		{"escapes", storage.Record{Name: "e", Args: `{"s":"\u0000\ud83c\udf89\"\\\n"}`}},
		{"whitespace", storage.Record{Name: " spaced ", Args: " \t{\n  \"a\" : 1 ,\r\n \"b\":[ ] }\n "}},
		{"empty", storage.Record{}},
		{"null", storage.Record{Name: "x", Args: "null"}},
		{"raw bytes", storage.Record{Name: "\x00\xff", Args: "\x00\x01\xfe\xff", ClientID: "\xff", SessionID: "\x00"}},
		{"large", storage.Record{Name: "big", Args: `"` + strings.Repeat("0123456789abcdef", 1<<16) + `"`}},
		{"ids", storage.Record{Name: "i", ClientID: "client-ü-🎉", SessionID: strings.Repeat("s", 300)}},
		{"negative time", storage.Record{Name: "t", CreatedAt: -1}},
		{"max time", storage.Record{Name: "t", CreatedAt: math.MaxInt64}},
		{"min time", storage.Record{Name: "t", CreatedAt: math.MinInt64}},
	}
	if o.TextOnly {
		tests = slices.DeleteFunc(tests, func(tc struct {
			name string
			rec  storage.Record
		}) bool {
			return !isText(tc.rec.Name) || !isText(tc.rec.Args) || !isText(tc.rec.ClientID) || !isText(tc.rec.SessionID)
		})
	}
	m := newModel("bytes", "b1")
	m.create(t, e)
	for i, tc := range tests {
		r := tc.rec
		r.SeqNum = uint64(i + 1)
		r.ParentSeqNum = uint64(i)
		r = WithEncoded(r)
		m.appendEvents(t, e, []storage.Record{r})
		recs, err := e.ReadEvents(m.id, r.ParentSeqNum, r.SeqNum, 1)
		if err != nil {
			t.Fatalf("%s: ReadEvents: %v", tc.name, err)
		}
		if err := sameRecords(recs, []storage.Record{r}); err != nil {
			t.Errorf("%s: ReadEvents: %v", tc.name, err)
		}
	}
	m.check(t, e) // all at once too
}

// testConcurrent appends to many stores from many goroutines while other goroutines read them,
// list them and churn a store of their own. Run it with -race.
func testConcurrent(t *testing.T, e storage.Engine) {
	const (
		stores  = 12
		appends = 15
		perCall = 4
	)
	models := make([]*model, stores)
	for i := range models {
		// Ids that share prefixes with each other and the churned store, so that a range that
		// leaks shows.
		models[i] = newModel(strings.Repeat("c", i+2), "b1")
		models[i].create(t, e)
	}
	var writers, others sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 4*stores)
	for _, m := range models {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for range appends {
				if err := m.tryAppend(e, m.next(perCall)); err != nil {
					errs <- err
					return
				}
			}
		}()
		others.Add(1)
		go func() { // a reader: it must always see a whole number of appends, in order
			defer others.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				recs, err := e.ReadEvents(m.id, 0, math.MaxUint64, math.MaxInt)
				if err != nil {
					errs <- err
					return
				}
				if len(recs)%perCall != 0 {
					errs <- errors.New("ReadEvents saw a partial append of " + m.id)
					return
				}
				for i := range recs {
					if recs[i].SeqNum != uint64(i+1) {
						errs <- errors.New("ReadEvents saw events out of order in " + m.id)
						return
					}
				}
				if _, err := e.CountEvents(m.id, 0, math.MaxUint64); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	others.Add(1)
	go func() { // a lister: each listing sees whole appends, and every store at most once
		defer others.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := checkListing(e, perCall); err != nil {
				errs <- err
				return
			}
		}
	}()
	others.Add(1)
	go func() { // churn: create, fill and delete a store whose id the others start with
		defer others.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			c := newModel("c", "churn")
			if i%2 == 1 {
				c = newModel("", "churn")
			}
			if err := e.CreateStore(c.id, c.info); err != nil {
				errs <- err
				return
			}
			if err := c.tryAppend(e, c.next(2)); err != nil {
				errs <- err
				return
			}
			if err := e.DeleteStore(c.id); err != nil {
				errs <- err
				return
			}
		}
	}()
	writers.Wait()
	close(done)
	others.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, m := range models {
		m.check(t, e)
	}
}

// checkListing pages through the stores of testConcurrent, 3 a page, while they change. Every
// store must be listed at most once, with a head that ends an append: a multiple of perCall for
// the appended stores, 0 or 2 for the churned ones ("c" and "").
func checkListing(e storage.Engine, perCall uint64) error {
	seen := map[string]bool{}
	after := ""
	for pages := 0; ; pages++ {
		if pages > 0 && after == "" {
			return errors.New("ListStores: cannot page past the store \"\"")
		}
		page, err := e.ListStores(after, 3)
		if err != nil {
			return err
		}
		for _, s := range page {
			if seen[s.ID] {
				return fmt.Errorf("ListStores: store %s listed twice in one pass", quoteID(s.ID))
			}
			seen[s.ID] = true
			churned := s.ID == "c" || s.ID == ""
			if s.Info.EventCount != s.Info.Head ||
				(!churned && s.Info.Head%perCall != 0) || (churned && s.Info.Head != 0 && s.Info.Head != 2) {
				return fmt.Errorf("ListStores: store %s listed with a partial append: %+v", quoteID(s.ID), s.Info)
			}
		}
		if len(page) < 3 {
			return nil
		}
		after = page[len(page)-1].ID
	}
}
