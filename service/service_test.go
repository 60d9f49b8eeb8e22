package service_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
	"google.golang.org/protobuf/proto"
)

// newService returns a Service over a Pebble engine in dir (a new temporary directory when
// empty), closed when the test ends.
func newService(t testing.TB, dir string, opts service.Options) *service.Service {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	engine, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	svc, err := service.New(engine, opts)
	if err != nil {
		t.Fatalf("new service: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

// events returns n chained events with seq_nums from+1 … from+n.
func events(from uint64, n int) []*syncv1.Event {
	out := make([]*syncv1.Event, n)
	for i := range out {
		seq := from + uint64(i) + 1
		out[i] = &syncv1.Event{
			Name:         "todoCreated-v1",
			Args:         fmt.Sprintf(`{"id":"todo-%d","text":"Todo number %d","completed":false}`, seq, seq),
			SeqNum:       seq,
			ParentSeqNum: seq - 1,
			ClientId:     "client-a",
			SessionId:    "session-a",
		}
	}
	return out
}

func push(t testing.TB, svc *service.Service, storeID string, batch []*syncv1.Event) {
	t.Helper()
	if err := svc.Push(context.Background(), &syncv1.PushRequest{StoreId: storeID, Batch: batch}); err != nil {
		t.Fatalf("push to %q: %v", storeID, err)
	}
}

// pullAll runs a non-live pull and returns its pages.
func pullAll(t testing.TB, svc *service.Service, req *syncv1.PullRequest) []*syncv1.PullResponse {
	t.Helper()
	var pages []*syncv1.PullResponse
	err := svc.Pull(context.Background(), req, func(p *syncv1.PullResponse) error {
		pages = append(pages, p)
		return nil
	})
	if err != nil {
		t.Fatalf("pull %q: %v", req.GetStoreId(), err)
	}
	return pages
}

// pulledEvents returns the events of pages, in order.
func pulledEvents(pages []*syncv1.PullResponse) []*syncv1.Event {
	var out []*syncv1.Event
	for _, p := range pages {
		for _, e := range p.GetBatch() {
			out = append(out, e.GetEvent())
		}
	}
	return out
}

func TestPushValidation(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{Limits: service.Limits{MaxEventsPerPush: 5, MaxPushBytes: 1000}})
	ctx := context.Background()
	withEvent := func(i int, f func(e *syncv1.Event)) []*syncv1.Event {
		b := events(0, 3)
		f(b[i])
		return b
	}
	big := events(0, 1)
	big[0].Args = `"` + strings.Repeat("x", service.DefaultMaxEventBytes) + `"`
	tests := []struct {
		name      string
		req       *syncv1.PushRequest
		wantIndex int // -1: an *InvalidRequestError is expected
		wantText  string
	}{
		{"empty store id", &syncv1.PushRequest{Batch: events(0, 1)}, -1, "store_id is empty"},
		{"long store id", &syncv1.PushRequest{StoreId: strings.Repeat("s", 513), Batch: events(0, 1)}, -1, "513 bytes"},
		{"too many events", &syncv1.PushRequest{StoreId: "s", Batch: events(0, 6)}, -1, "6 events, more than the limit of 5"},
		{"too many bytes", &syncv1.PushRequest{StoreId: "s", Batch: events(0, 5)}, -1, "more than the limit of 1000"},
		{"empty name", &syncv1.PushRequest{StoreId: "s", Batch: withEvent(1, func(e *syncv1.Event) { e.Name = "" })}, 1, "name is empty"},
		{"seq not after parent", &syncv1.PushRequest{StoreId: "s", Batch: withEvent(0, func(e *syncv1.Event) { e.SeqNum = 0 })}, 0, "seq_num 0 is not greater than parent_seq_num 0"},
		{"broken chain", &syncv1.PushRequest{StoreId: "s", Batch: withEvent(2, func(e *syncv1.Event) { e.ParentSeqNum = 1; e.SeqNum = 4 })}, 2, "parent_seq_num 1 is not the previous event's seq_num 2"},
		{"seq going back", &syncv1.PushRequest{StoreId: "s", Batch: withEvent(2, func(e *syncv1.Event) { e.SeqNum = 1 })}, 2, "not greater than parent_seq_num 2"},
		{"args not JSON", &syncv1.PushRequest{StoreId: "s", Batch: withEvent(1, func(e *syncv1.Event) { e.Args = `{"a":` })}, 1, "args is not valid JSON"},
		{"event too big", &syncv1.PushRequest{StoreId: "big", Batch: big}, 0, "more than the limit of"},
		{"store id not UTF-8", &syncv1.PushRequest{StoreId: "s\xff\xfe", Batch: events(0, 1)}, -1, "store_id is not valid UTF-8"},
		{"args not UTF-8", &syncv1.PushRequest{StoreId: "s", Batch: withEvent(1, func(e *syncv1.Event) { e.Args = "{\"t\":\"\xff\xfe\"}" })}, 1, "args is not valid UTF-8"},
		{"name not UTF-8", &syncv1.PushRequest{StoreId: "s", Batch: withEvent(0, func(e *syncv1.Event) { e.Name = "todo\xc3" })}, 0, "name is not valid UTF-8"},
		{"client id not UTF-8", &syncv1.PushRequest{StoreId: "s", Batch: withEvent(2, func(e *syncv1.Event) { e.ClientId = "\xed\xa0\x80" })}, 2, "client_id is not valid UTF-8"},
		{"session id not UTF-8", &syncv1.PushRequest{StoreId: "s", Batch: withEvent(2, func(e *syncv1.Event) { e.SessionId = "\x80" })}, 2, "session_id is not valid UTF-8"},
		{"store id with U+0000", &syncv1.PushRequest{StoreId: "s\x00", Batch: events(0, 1)}, -1, "store_id holds the character U+0000"},
		{"name with U+0000", &syncv1.PushRequest{StoreId: "s", Batch: withEvent(1, func(e *syncv1.Event) { e.Name = "a\x00" })}, 1, "name holds the character U+0000"},
		{"client id with U+0000", &syncv1.PushRequest{StoreId: "s", Batch: withEvent(0, func(e *syncv1.Event) { e.ClientId = "\x00" })}, 0, "client_id holds the character U+0000"},
		{"session id with U+0000", &syncv1.PushRequest{StoreId: "s", Batch: withEvent(2, func(e *syncv1.Event) { e.SessionId = "x\x00y" })}, 2, "session_id holds the character U+0000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := svc.Push(ctx, tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantText)
			}
			var batchErr *service.InvalidBatchError
			var reqErr *service.InvalidRequestError
			switch {
			case tt.wantIndex < 0 && !errors.As(err, &reqErr):
				t.Fatalf("err = %T, want *InvalidRequestError", err)
			case tt.wantIndex >= 0 && !errors.As(err, &batchErr):
				t.Fatalf("err = %T, want *InvalidBatchError", err)
			case tt.wantIndex >= 0 && batchErr.Index != tt.wantIndex:
				t.Fatalf("index = %d, want %d", batchErr.Index, tt.wantIndex)
			}
		})
	}
	// Nothing of the rejected pushes was stored.
	if got := pulledEvents(pullAll(t, svc, &syncv1.PullRequest{StoreId: "s"})); len(got) != 0 {
		t.Fatalf("rejected pushes stored %d events", len(got))
	}
}

func TestPushHeadRules(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	ctx := context.Background()
	const store = "head-rules"
	push(t, svc, store, events(0, 3))
	backendID := pullAll(t, svc, &syncv1.PullRequest{StoreId: store})[0].GetBackendId()

	other := events(0, 3)
	other[1].Args = `{"different":true}`
	branch := events(1, 2) // seq 2 (stored), then seq 10 after it: a branch off the stored log
	branch[1].SeqNum, branch[1].ParentSeqNum = 10, 2
	tests := []struct {
		name      string
		batch     []*syncv1.Event
		backendID *string
		wantErr   error // nil: success
		wantHead  uint64
	}{
		{"empty batch is a no-op", nil, nil, nil, 3},
		{"empty batch ignores the backend id", nil, proto.String("wrong"), nil, 3},
		{"parent beyond head", events(4, 1), nil, &service.ServerAheadError{MinimumExpectedNum: 3, ProvidedNum: 4}, 3},
		{"parent behind head, different events", other, nil, &service.ServerAheadError{MinimumExpectedNum: 3, ProvidedNum: 0}, 3},
		{"wrong backend id", events(3, 1), proto.String("wrong"), &service.BackendIDMismatchError{Expected: backendID, Received: "wrong"}, 3},
		{"exact retry is acknowledged", events(0, 3), nil, nil, 3},
		{"retry of a middle part is acknowledged", events(1, 1), nil, nil, 3},
		{"retry that continues stores the rest", events(1, 4), proto.String(backendID), nil, 5},
		{"retry that branches off before the head", branch, nil, &service.ServerAheadError{MinimumExpectedNum: 5, ProvidedNum: 1}, 5},
		{"unchained batch is invalid", append(events(0, 1), events(4, 1)...), nil,
			&service.InvalidBatchError{Index: 1, SeqNum: 5, Reason: "parent_seq_num 4 is not the previous event's seq_num 1"}, 5},
		{"continues at head", events(5, 2), proto.String(backendID), nil, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := svc.Push(ctx, &syncv1.PushRequest{StoreId: store, Batch: tt.batch, BackendId: tt.backendID})
			if fmt.Sprint(err) != fmt.Sprint(tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil && fmt.Sprintf("%T", err) != fmt.Sprintf("%T", tt.wantErr) {
				t.Fatalf("err type = %T, want %T", err, tt.wantErr)
			}
			got := pulledEvents(pullAll(t, svc, &syncv1.PullRequest{StoreId: store}))
			if uint64(len(got)) != tt.wantHead {
				t.Fatalf("store has %d events, want %d", len(got), tt.wantHead)
			}
			for i, e := range got {
				if e.GetSeqNum() != uint64(i+1) || e.GetParentSeqNum() != uint64(i) {
					t.Fatalf("event %d is seq %d parent %d", i, e.GetSeqNum(), e.GetParentSeqNum())
				}
			}
		})
	}
}

func TestStoreIsolation(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	ids := []string{"a", "ab", "A", "a.b", "a_b", "a b", "a/b", "ü", "a\x01", "\xff"[:0] + "z", strings.Repeat("x", 512)}
	for i, id := range ids {
		push(t, svc, id, events(0, i+1))
	}
	seen := map[string]string{}
	for i, id := range ids {
		pages := pullAll(t, svc, &syncv1.PullRequest{StoreId: id})
		if got := len(pulledEvents(pages)); got != i+1 {
			t.Errorf("store %q has %d events, want %d", id, got, i+1)
		}
		bid := pages[0].GetBackendId()
		if prev, dup := seen[bid]; dup {
			t.Errorf("stores %q and %q share backend id %q", prev, id, bid)
		}
		seen[bid] = id
	}
}

func TestPullPaging(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	const store = "paging"
	for from := uint64(0); from < 2500; from += 100 {
		push(t, svc, store, events(from, 100))
	}
	tests := []struct {
		name   string
		cursor uint64
	}{
		{"whole log", 0},
		{"from a cursor", 1234},
		{"from the last event", 2499},
		{"at the head", 2500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pages := pullAll(t, svc, &syncv1.PullRequest{StoreId: store, Cursor: &syncv1.Cursor{EventSequenceNumber: tt.cursor}})
			want := 2500 - tt.cursor
			next := tt.cursor + 1
			left := want
			for i, p := range pages {
				if n := len(p.GetBatch()); n > service.DefaultPageEvents || (n == 0 && want > 0) {
					t.Fatalf("page %d has %d events", i, n)
				}
				for _, e := range p.GetBatch() {
					if e.GetEvent().GetSeqNum() != next {
						t.Fatalf("page %d: seq %d, want %d", i, e.GetEvent().GetSeqNum(), next)
					}
					next++
				}
				left -= uint64(len(p.GetBatch()))
				last := i == len(pages)-1
				switch {
				case last && p.GetPageInfo().GetNoMore() == nil:
					t.Fatalf("last page %d: page info %v, want no_more", i, p.GetPageInfo())
				case !last && p.GetPageInfo().GetMoreKnown().GetRemaining() != left:
					t.Fatalf("page %d: page info %v, want more_known %d", i, p.GetPageInfo(), left)
				}
			}
			if next != 2501 {
				t.Fatalf("pulled up to seq %d, want 2500", next-1)
			}
			if wantPages := max(1, int(want+99)/100); len(pages) != wantPages {
				t.Fatalf("%d pages, want %d", len(pages), wantPages)
			}
		})
	}
}

func TestPullEmptyStore(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	pages := pullAll(t, svc, &syncv1.PullRequest{StoreId: "empty"})
	if len(pages) != 1 || len(pages[0].GetBatch()) != 0 || pages[0].GetPageInfo().GetNoMore() == nil {
		t.Fatalf("pages = %v, want one empty no_more page", pages)
	}
	if id := pages[0].GetBackendId(); len(id) != 21 {
		t.Fatalf("backend id %q is not 21 characters", id)
	}
	// The backend id is the store's for good: the next pull and pushes see the same.
	again := pullAll(t, svc, &syncv1.PullRequest{StoreId: "empty"})
	if again[0].GetBackendId() != pages[0].GetBackendId() {
		t.Fatalf("backend id changed from %q to %q", pages[0].GetBackendId(), again[0].GetBackendId())
	}
}

func TestPullBackendIDMismatch(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	push(t, svc, "s", events(0, 2))
	called := false
	err := svc.Pull(context.Background(), &syncv1.PullRequest{StoreId: "s", Cursor: &syncv1.Cursor{BackendId: "stale", EventSequenceNumber: 1}},
		func(*syncv1.PullResponse) error { called = true; return nil })
	var mismatch *service.BackendIDMismatchError
	if !errors.As(err, &mismatch) || mismatch.Received != "stale" || len(mismatch.Expected) != 21 {
		t.Fatalf("err = %v, want BackendIDMismatchError received stale", err)
	}
	if called {
		t.Fatal("a page was sent before the mismatch error")
	}
}

// TestPullRemainingWithGaps checks MoreKnown.remaining on stores whose seqNums are 1 … head (the
// count is arithmetic) and on one with gaps (the engine counts), live catch-up included.
func TestPullRemainingWithGaps(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	gapped := func(from uint64, n int) []*syncv1.Event { // seqNums from+2, from+4, …
		batch := events(0, n)
		parent := from
		for _, e := range batch {
			e.ParentSeqNum, e.SeqNum = parent, parent+2
			parent += 2
		}
		return batch
	}
	push(t, svc, "contiguous", events(0, 250))
	push(t, svc, "gaps", gapped(0, 250)) // 2, 4, …, 500
	tests := []struct {
		store         string
		cursor        uint64
		wantRemaining []uint64 // of the pages before the last
	}{
		{"contiguous", 0, []uint64{150, 50}},
		{"contiguous", 120, []uint64{30}},
		{"gaps", 0, []uint64{150, 50}},
		{"gaps", 241, []uint64{30}}, // 242 … 500: 130 events
		{"gaps", 499, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s from %d", tt.store, tt.cursor), func(t *testing.T) {
			for _, live := range []bool{false, true} {
				req := &syncv1.PullRequest{StoreId: tt.store, Cursor: &syncv1.Cursor{EventSequenceNumber: tt.cursor}}
				var pages []*syncv1.PullResponse
				if live {
					c := startLive(svc, req)
					c.waitFor(t, len(pulledEvents(pullAll(t, svc, &syncv1.PullRequest{StoreId: tt.store, Cursor: req.Cursor}))))
					c.cancel()
					<-c.done
					pages = c.pages
				} else {
					pages = pullAll(t, svc, req)
				}
				var got []uint64
				for _, p := range pages[:len(pages)-1] {
					got = append(got, p.GetPageInfo().GetMoreKnown().GetRemaining())
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.wantRemaining) || pages[len(pages)-1].GetPageInfo().GetNoMore() == nil {
					t.Fatalf("live %t: remaining %v then %v, want %v then no_more", live, got, pages[len(pages)-1].GetPageInfo(), tt.wantRemaining)
				}
			}
		})
	}
}
