package service

import (
	"bytes"
	"testing"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
	"github.com/livestore-sync/livestore-sync/service/storage"
)

// TestPageJSON checks that a page encoded straight from its records is byte for byte the
// encoding of its PullResponse.
func TestPageJSON(t *testing.T) {
	t.Parallel()
	rec := func(seq uint64, name, args string, createdAt int64) storage.Record {
		return storage.Record{Name: name, Args: args, SeqNum: seq, ParentSeqNum: seq - 1,
			ClientID: "client \"a\"", SessionID: "s\n\x01", CreatedAt: createdAt}
	}
	tests := []struct {
		name      string
		recs      []storage.Record
		remaining uint64
		backendID string
	}{
		{"empty", []storage.Record{}, 0, "b"},
		{"one", []storage.Record{rec(1, "e", `{"a":1}`, 1_700_000_000_123)}, 0, "backend"},
		{"no args", []storage.Record{rec(7, "e", "", 0)}, 3, "b"},
		{"more known", []storage.Record{rec(1, "a", `1`, 5), rec(2, "b", `"x"`, 5), rec(3, "c\\", `[]`, 6)}, 18446744073709551615, "b\""},
		{"times before 1970 and unicode", []storage.Record{rec(1, "é\u2028", `{"t":"ü"}`, -1), rec(2, "x", `{}`, -1), rec(3, "x", `{}`, 253402300799999)}, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			size := 0
			for i := range tt.recs {
				size += recordSize(&tt.recs[i]) + 1
			}
			p := newPage(tt.backendID, tt.recs, tt.remaining, size)
			want := eventjson.AppendPullResponse(nil, p.Response())
			if got := p.JSON(); !bytes.Equal(got, want) {
				t.Errorf("JSON()\n got %s\nwant %s", got, want)
			}
			q := PageOf(p.Response())
			if got := q.JSON(); !bytes.Equal(got, want) {
				t.Errorf("PageOf(…).JSON()\n got %s\nwant %s", got, want)
			}
			if p.NoMore() != (tt.remaining == 0) || q.NoMore() != p.NoMore() {
				t.Errorf("NoMore: %v, of the response %v, want %v", p.NoMore(), q.NoMore(), tt.remaining == 0)
			}
			if p.Len() != len(tt.recs) || q.Len() != p.Len() || q.LastSeqNum() != p.LastSeqNum() {
				t.Errorf("Len %d/%d, LastSeqNum %d/%d", p.Len(), q.Len(), p.LastSeqNum(), q.LastSeqNum())
			}
		})
	}
	if !PageOf(&syncv1.PullResponse{}).NoMore() {
		t.Error("a PullResponse without page info is not NoMore")
	}
}

// BenchmarkPageJSON measures the encoding of a full page of 100 typical events.
func BenchmarkPageJSON(b *testing.B) {
	recs := make([]storage.Record, 100)
	for i := range recs {
		recs[i] = storage.Record{Name: "todoCreated-v1", Args: `{"id":"todo-1","text":"Todo number 1","completed":false}`,
			SeqNum: uint64(i + 1), ParentSeqNum: uint64(i), ClientID: "client-a", SessionID: "session-a", CreatedAt: 1_700_000_000_000}
	}
	size := 0
	for i := range recs {
		size += recordSize(&recs[i]) + 1
	}
	b.ReportAllocs()
	for b.Loop() {
		newPage("backend", recs, 0, size).JSON()
	}
}
