package service

import (
	"bytes"
	"errors"
	"testing"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
	"github.com/livestore-sync/livestore-sync/service/storage"
	"github.com/livestore-sync/livestore-sync/service/storage/storagetest"
	"google.golang.org/protobuf/proto"
)

// TestPageJSON checks that a page encoded straight from its records is byte for byte the
// encoding of its PullResponse, whichever way an engine returned the records: with their fields,
// with their Encoded bytes only, or with both (as the service appends them).
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
		{"args with spaces", []storage.Record{rec(4, "w", " [ 1 , {\"a\" : \"]\"} ]\n", 9)}, 0, "b"},
	}
	kinds := []struct {
		name string
		of   func(storage.Record) storage.Record
	}{
		{"fields", func(r storage.Record) storage.Record { return r }},
		{"encoded", func(r storage.Record) storage.Record {
			return storage.Record{SeqNum: r.SeqNum, CreatedAt: r.CreatedAt, Encoded: storagetest.WithEncoded(r).Encoded}
		}},
		{"both", storagetest.WithEncoded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var want []byte
			var wantResp *syncv1.PullResponse
			for _, kind := range kinds {
				recs := make([]storage.Record, len(tt.recs))
				size := 0
				for i := range tt.recs {
					recs[i] = kind.of(tt.recs[i])
					size += recordSize(&recs[i]) + 1
					if got, want := recordSize(&recs[i]), recordSize(&tt.recs[i]); got != want {
						t.Errorf("%s: recordSize of event %d = %d, want %d", kind.name, i, got, want)
					}
				}
				p := newPage(tt.backendID, recs, tt.remaining, size)
				resp, err := p.Response()
				if err != nil {
					t.Fatalf("%s: Response: %v", kind.name, err)
				}
				if wantResp == nil {
					wantResp, want = resp, eventjson.AppendPullResponse(nil, resp)
				} else if !proto.Equal(resp, wantResp) {
					t.Errorf("%s: Response()\n got %v\nwant %v", kind.name, resp, wantResp)
				}
				if got := p.JSON(); !bytes.Equal(got, want) {
					t.Errorf("%s: JSON()\n got %s\nwant %s", kind.name, got, want)
				}
				if len(p.JSON()) > size+eventjson.PageOverhead {
					t.Errorf("%s: JSON() is %d bytes, more than the %d measured", kind.name, len(p.JSON()), size+eventjson.PageOverhead)
				}
				q := PageOf(resp)
				if got := q.JSON(); !bytes.Equal(got, want) {
					t.Errorf("%s: PageOf(…).JSON()\n got %s\nwant %s", kind.name, got, want)
				}
				if p.NoMore() != (tt.remaining == 0) || q.NoMore() != p.NoMore() {
					t.Errorf("%s: NoMore: %v, of the response %v, want %v", kind.name, p.NoMore(), q.NoMore(), tt.remaining == 0)
				}
				if p.Len() != len(tt.recs) || q.Len() != p.Len() || q.LastSeqNum() != p.LastSeqNum() {
					t.Errorf("%s: Len %d/%d, LastSeqNum %d/%d", kind.name, p.Len(), q.Len(), p.LastSeqNum(), q.LastSeqNum())
				}
			}
		})
	}
	if !PageOf(&syncv1.PullResponse{}).NoMore() {
		t.Error("a PullResponse without page info is not NoMore")
	}
}

// TestPageResponseCorrupt checks that a stored event whose encoding cannot be decoded fails the
// page's Response with a StorageError (its JSON passes the bytes through, as stored).
func TestPageResponseCorrupt(t *testing.T) {
	t.Parallel()
	for _, enc := range []string{`{"name":"x"}`, `{"name":"x","seqNum":2,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`, `{}`} {
		p := newPage("b", []storage.Record{{SeqNum: 1, Encoded: []byte(enc)}}, 0, 100)
		resp, err := p.Response()
		var se *StorageError
		if !errors.As(err, &se) || resp != nil {
			t.Errorf("Response of a page holding %s = %v, %v; want a *StorageError", enc, resp, err)
		}
	}
}

// BenchmarkPageJSON measures the encoding of a full page of 100 typical events.
func BenchmarkPageJSON(b *testing.B) {
	recs := make([]storage.Record, 100)
	for i := range recs {
		recs[i] = storage.Record{Name: "todoCreated-v1", Args: `{"id":"todo-1","text":"Todo number 1","completed":false}`,
			SeqNum: uint64(i + 1), ParentSeqNum: uint64(i), ClientID: "client-a", SessionID: "session-a", CreatedAt: 1_700_000_000_000}
	}
	b.Run("fields", func(b *testing.B) { benchmarkPageJSON(b, recs) })
	for i := range recs {
		recs[i] = storage.Record{SeqNum: recs[i].SeqNum, CreatedAt: recs[i].CreatedAt, Encoded: storagetest.WithEncoded(recs[i]).Encoded}
	}
	b.Run("encoded", func(b *testing.B) { benchmarkPageJSON(b, recs) })
}

func benchmarkPageJSON(b *testing.B, recs []storage.Record) {
	size := 0
	for i := range recs {
		size += recordSize(&recs[i]) + 1
	}
	b.ReportAllocs()
	for b.Loop() {
		newPage("backend", recs, 0, size).JSON()
	}
}
