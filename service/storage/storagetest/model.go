package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/livestore-sync/livestore-sync/service/eventjson"
	"github.com/livestore-sync/livestore-sync/service/storage"
)

// baseTime is the creation time of the suite's stores; engines must keep at least milliseconds.
var baseTime = time.UnixMilli(1_700_000_000_123)

// model is what the suite expects one store to hold.
type model struct {
	id     string
	info   storage.StoreInfo
	events []storage.Record
}

// newModel returns the model of a new store of incarnation backendID.
func newModel(id, backendID string) *model {
	return &model{id: id, info: storage.StoreInfo{BackendID: backendID, CreatedAt: baseTime}}
}

// next returns n new events that continue m's log, one seqNum apart, without recording them.
func (m *model) next(n int) []storage.Record {
	return m.nextFrom(m.info.Head, n, 1)
}

// nextFrom returns n events with seqNums from+step, from+2*step, ….
func (m *model) nextFrom(from uint64, n int, step uint64) []storage.Record {
	evs := make([]storage.Record, n)
	parent := from
	for i := range evs {
		seq := parent + step
		evs[i] = makeEvent(m.id, m.info.BackendID, seq, parent)
		parent = seq
	}
	return evs
}

// makeEvent returns an event whose fields all tell its store, incarnation and seqNum.
func makeEvent(storeID, backendID string, seq, parent uint64) storage.Record {
	return WithEncoded(storage.Record{
		Name:         "v1.TodoCreated",
		Args:         `{"store":` + strconv.Quote(storeID) + `,"backend":` + strconv.Quote(backendID) + `,"seq":` + strconv.FormatUint(seq, 10) + `}`,
		SeqNum:       seq,
		ParentSeqNum: parent,
		ClientID:     "client-" + strconv.FormatUint(seq%3, 10),
		SessionID:    "session-" + backendID,
		CreatedAt:    baseTime.UnixMilli() + int64(seq%1000),
	})
}

// WithEncoded returns r with its Encoded bytes set from its fields, as the service appends
// records (eventjson.AppendEventOf).
func WithEncoded(r storage.Record) storage.Record {
	r.Encoded = eventjson.AppendEventOf(nil, r.Name, r.Args, r.ClientID, r.SessionID, r.SeqNum, r.ParentSeqNum)
	return r
}

// infoAfter returns m's metadata after appending evs.
func (m *model) infoAfter(evs []storage.Record) storage.StoreInfo {
	info := m.info
	for i := range evs {
		info.Head = evs[i].SeqNum
		info.EventCount++
		info.EventBytes += uint64(evs[i].Size())
	}
	return info
}

// create creates the store in e, replacing any store of its id.
func (m *model) create(t testing.TB, e storage.Engine) {
	t.Helper()
	if err := e.CreateStore(m.id, m.info); err != nil {
		t.Fatalf("CreateStore(%q): %v", m.id, err)
	}
}

// appendEvents appends evs to the store in e and records them in m.
func (m *model) appendEvents(t testing.TB, e storage.Engine, evs []storage.Record) {
	t.Helper()
	if err := m.tryAppend(e, evs); err != nil {
		t.Fatal(err)
	}
}

// tryAppend is appendEvents that returns its error, for goroutines other than the test's.
func (m *model) tryAppend(e storage.Engine, evs []storage.Record) error {
	info := m.infoAfter(evs)
	if err := e.Append(m.id, m.info.Head, evs, info); err != nil {
		return fmt.Errorf("Append(%q, %d, %d events): %v", m.id, m.info.Head, len(evs), err)
	}
	m.info = info
	m.events = append(m.events, evs...)
	return nil
}

// check fails t unless e holds exactly the store m describes.
func (m *model) check(t testing.TB, e storage.Engine) {
	t.Helper()
	if err := m.verify(e); err != nil {
		t.Error(err)
	}
}

// verify returns an error unless e holds exactly the store m describes.
func (m *model) verify(e storage.Engine) error {
	info, err := e.LoadStore(m.id)
	if err != nil {
		return fmt.Errorf("LoadStore(%q): %v", m.id, err)
	}
	if err := sameInfo(info, m.info); err != nil {
		return fmt.Errorf("LoadStore(%q): %v", m.id, err)
	}
	recs, err := e.ReadEvents(m.id, 0, math.MaxUint64, math.MaxInt)
	if err != nil {
		return fmt.Errorf("ReadEvents(%q, 0, max, max): %v", m.id, err)
	}
	if err := sameRecords(recs, m.events); err != nil {
		return fmt.Errorf("ReadEvents(%q, 0, max, max): %v", m.id, err)
	}
	n, err := e.CountEvents(m.id, 0, math.MaxUint64)
	if err != nil {
		return fmt.Errorf("CountEvents(%q, 0, max): %v", m.id, err)
	}
	if n != uint64(len(m.events)) {
		return fmt.Errorf("CountEvents(%q, 0, max) = %d, want %d", m.id, n, len(m.events))
	}
	return nil
}

// checkGone fails t unless the store id is missing from e.
func checkGone(t testing.TB, e storage.Engine, id string) {
	t.Helper()
	if _, err := e.LoadStore(id); !errors.Is(err, storage.ErrStoreNotFound) {
		t.Errorf("LoadStore(%q) error = %v, want ErrStoreNotFound", id, err)
	}
	if recs, err := e.ReadEvents(id, 0, math.MaxUint64, 10); !errors.Is(err, storage.ErrStoreNotFound) {
		t.Errorf("ReadEvents(%q) = %d events, error %v, want ErrStoreNotFound", id, len(recs), err)
	}
	if n, err := e.CountEvents(id, 0, math.MaxUint64); !errors.Is(err, storage.ErrStoreNotFound) {
		t.Errorf("CountEvents(%q) = %d, %v, want ErrStoreNotFound", id, n, err)
	}
}

// sameInfo compares two StoreInfos, CreatedAt as an instant.
func sameInfo(got, want storage.StoreInfo) error {
	if got.BackendID != want.BackendID || got.Head != want.Head || !got.CreatedAt.Equal(want.CreatedAt) ||
		got.EventCount != want.EventCount || got.EventBytes != want.EventBytes {
		return fmt.Errorf("info = %+v, want %+v", got, want)
	}
	return nil
}

// sameRecords compares the events got read with the events want appended: each has the same
// SeqNum and CreatedAt, and either exactly the same Encoded bytes and no fields, or no Encoded
// bytes and exactly the same fields (storage.Record).
func sameRecords(got, want []storage.Record) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d events %s, want %d %s", len(got), seqs(got), len(want), seqs(want))
	}
	for i := range got {
		if !SameRecord(&got[i], &want[i]) {
			return fmt.Errorf("event %d = %s, want %s", i, describe(&got[i]), describe(&want[i]))
		}
	}
	return nil
}

// SameRecord reports whether the record got, read from an engine, is the record want that was
// appended: the same SeqNum and CreatedAt, and either the same Encoded bytes and no fields, or
// no Encoded bytes and the same fields (storage.Record).
func SameRecord(got, want *storage.Record) bool {
	if got.SeqNum != want.SeqNum || got.CreatedAt != want.CreatedAt {
		return false
	}
	if got.Encoded != nil {
		return bytes.Equal(got.Encoded, want.Encoded) && got.Name == "" && got.Args == "" &&
			got.ParentSeqNum == 0 && got.ClientID == "" && got.SessionID == ""
	}
	return got.Name == want.Name && got.Args == want.Args && got.ParentSeqNum == want.ParentSeqNum &&
		got.ClientID == want.ClientID && got.SessionID == want.SessionID
}

// seqs lists the seqNums of recs, for messages.
func seqs(recs []storage.Record) string {
	if len(recs) > 20 {
		return fmt.Sprintf("[%d … %d]", recs[0].SeqNum, recs[len(recs)-1].SeqNum)
	}
	s := make([]uint64, len(recs))
	for i := range recs {
		s[i] = recs[i].SeqNum
	}
	return fmt.Sprint(s)
}

// describe formats r for messages, eliding the middle of long strings.
func describe(r *storage.Record) string {
	short := func(s string) string {
		if len(s) > 120 {
			return fmt.Sprintf("%q…(%d bytes)…%q", s[:50], len(s), s[len(s)-50:])
		}
		return strconv.Quote(s)
	}
	enc := "nil"
	if r.Encoded != nil {
		enc = short(string(r.Encoded))
	}
	return fmt.Sprintf("{SeqNum:%d ParentSeqNum:%d Name:%s Args:%s ClientID:%s SessionID:%s CreatedAt:%d Encoded:%s}",
		r.SeqNum, r.ParentSeqNum, short(r.Name), short(r.Args), short(r.ClientID), short(r.SessionID), r.CreatedAt, enc)
}
