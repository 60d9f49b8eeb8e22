package service_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2/vfs"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
)

// Fuzz targets of what clients send into the service. Run one with
//
//	go test -run '^$' -fuzz '^FuzzPushProto$' -fuzztime 30s ./service/
//
// (make fuzz runs each for a few seconds). testdata/fuzz/<target>/ holds their committed seeds.

// fuzzBackendID is the backend id of every store of the fuzz targets' service, so that fuzzed
// pushes can name the right one as well as a wrong one.
const fuzzBackendID = "fuzz-backend-id"

// fuzzLimits are small, so that fuzzed inputs reach the limits and pulls take several pages.
var fuzzLimits = service.Limits{MaxStoreIDBytes: 64, MaxEventsPerPush: 50, PageEvents: 3, PageBytes: 2048}

// newFuzzService returns a Service over a Pebble engine on an in-memory file system, closed when
// the fuzz target ends. Each iteration deletes the store it used, so iterations do not see each
// other's events.
func newFuzzService(f *testing.F) *service.Service {
	f.Helper()
	engine, err := pebblestore.Open("/data", pebblestore.Options{FS: vfs.NewMem()})
	if err != nil {
		f.Fatal(err)
	}
	svc, err := service.New(engine, service.Options{
		Limits:       fuzzLimits,
		NewBackendID: func() string { return fuzzBackendID },
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { svc.Close() })
	return svc
}

// checkPushPull pushes req and pulls its store back. Either the push fails with one of the
// errors Push documents for a request (never a *StorageError) and the store holds no event, or
// it succeeds and the pull returns exactly the pushed events, in order, each with its creation
// time, in pages that fit Limits.PageBytes, the last one NoMore; pushing the same request again
// is then acknowledged and stores nothing more. The store is deleted afterwards.
func checkPushPull(t *testing.T, svc *service.Service, req *syncv1.PushRequest) {
	ctx := context.Background()
	id := req.GetStoreId()
	defer func() {
		if err := svc.DeleteStore(ctx, id); err != nil && !errors.Is(err, service.ErrStoreNotFound) && !isInvalidRequest(err) {
			t.Fatalf("DeleteStore(%q): %v", id, err)
		}
	}()

	pushErr := svc.Push(ctx, req)
	if pushErr != nil {
		var (
			invalid  *service.InvalidRequestError
			batch    *service.InvalidBatchError
			ahead    *service.ServerAheadError
			mismatch *service.BackendIDMismatchError
		)
		if !errors.As(pushErr, &invalid) && !errors.As(pushErr, &batch) && !errors.As(pushErr, &ahead) && !errors.As(pushErr, &mismatch) {
			t.Fatalf("Push failed with %T %v, not an error of the request", pushErr, pushErr)
		}
	}
	got, pullErr := pullEvents(t, svc, id)
	switch {
	case pullErr != nil:
		// Only a store id Push refused too is refused.
		if !isInvalidRequest(pullErr) || !isInvalidRequest(pushErr) {
			t.Fatalf("Pull(%q): %v (push: %v)", id, pullErr, pushErr)
		}
		return
	case pushErr != nil:
		if len(got) != 0 {
			t.Fatalf("Push failed (%v) but the store holds %d events", pushErr, len(got))
		}
		return
	}
	checkSameEvents(t, got, req.GetBatch())

	if err := svc.Push(ctx, req); err != nil {
		t.Fatalf("pushing the same request again: %v", err)
	}
	again, err := pullEvents(t, svc, id)
	if err != nil {
		t.Fatalf("Pull after the second push: %v", err)
	}
	checkSameEvents(t, again, req.GetBatch())
}

func isInvalidRequest(err error) bool {
	var invalid *service.InvalidRequestError
	return errors.As(err, &invalid)
}

// pullEvents runs a non-live pull of the whole store and returns its events, checking its pages.
func pullEvents(t *testing.T, svc *service.Service, storeID string) ([]*syncv1.PulledEvent, error) {
	var events []*syncv1.PulledEvent
	var last *syncv1.PullResponse
	err := svc.Pull(context.Background(), &syncv1.PullRequest{StoreId: storeID}, func(page *syncv1.PullResponse) error {
		if last != nil && last.GetPageInfo().GetNoMore() != nil {
			t.Fatalf("page after a NoMore page")
		}
		if n := len(eventjson.AppendPullResponse(nil, page)); n > svc.Limits().PageBytes {
			t.Fatalf("page of %d events is %d bytes, over PageBytes %d", len(page.GetBatch()), n, svc.Limits().PageBytes)
		}
		if len(page.GetBatch()) > svc.Limits().PageEvents {
			t.Fatalf("page of %d events, over PageEvents %d", len(page.GetBatch()), svc.Limits().PageEvents)
		}
		if page.GetBackendId() != fuzzBackendID {
			t.Fatalf("page with backend id %q", page.GetBackendId())
		}
		events = append(events, page.GetBatch()...)
		last = page
		return nil
	})
	if err == nil && last.GetPageInfo().GetNoMore() == nil {
		t.Fatalf("pull ended on a page that is not NoMore: %v", last.GetPageInfo())
	}
	return events, err
}

func checkSameEvents(t *testing.T, got []*syncv1.PulledEvent, want []*syncv1.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("pulled %d events, pushed %d", len(got), len(want))
	}
	for i, p := range got {
		g, w := p.GetEvent(), want[i]
		if g.GetName() != w.GetName() || g.GetArgs() != w.GetArgs() || g.GetSeqNum() != w.GetSeqNum() ||
			g.GetParentSeqNum() != w.GetParentSeqNum() || g.GetClientId() != w.GetClientId() || g.GetSessionId() != w.GetSessionId() {
			t.Fatalf("event %d pulled as %v, pushed as %v", i, g, w)
		}
		if p.GetMetadata().GetCreatedAt() == nil {
			t.Fatalf("event %d pulled without its creation time", i)
		}
	}
}

// fuzzEvents returns n chained events after parent, all with the same fields.
func fuzzEvents(parent uint64, n int, name, args, clientID, sessionID string) []*syncv1.Event {
	batch := make([]*syncv1.Event, n)
	for i := range batch {
		seq := parent + uint64(i)
		batch[i] = &syncv1.Event{Name: name, Args: args, SeqNum: seq + 1, ParentSeqNum: seq, ClientId: clientID, SessionId: sessionID}
	}
	return batch
}

// FuzzPushProto unmarshals the fuzzed bytes as a PushRequest, as the Connect handler receives
// it, pushes it and pulls it back (see checkPushPull). Protobuf refuses strings that are not
// valid UTF-8, so these requests have none (FuzzPushEvents has them).
func FuzzPushProto(f *testing.F) {
	svc := newFuzzService(f)
	backend := fuzzBackendID
	wrong := "wrong"
	payload, _ := structpb.NewValue(map[string]any{"authToken": "insecure-token-change-me", "n": 1e300})
	for _, req := range []*syncv1.PushRequest{
		{StoreId: "s", Batch: events(0, 1)},
		{StoreId: "s", Batch: events(0, 5), BackendId: &backend, Payload: payload},
		{StoreId: "s", Batch: events(0, 3), BackendId: &wrong},
		{StoreId: "s", Batch: events(4, 2)},
		{StoreId: "s"},
		{StoreId: "", Batch: events(0, 1)},
		{StoreId: strings.Repeat("x", 65), Batch: events(0, 1)},
		{StoreId: "s", Batch: fuzzEvents(0, 2, "", "", "", "")},
		{StoreId: "s", Batch: fuzzEvents(0, 1, "n", `{"a":`, "c", "s")},
		{StoreId: "s", Batch: fuzzEvents(0, 1, "n", `"`+strings.Repeat("x", 3000)+`"`, "c", "s")},
		{StoreId: "s", Batch: fuzzEvents(1<<64-3, 3, "n", "", "c", "s")},
		{StoreId: "s", Batch: []*syncv1.Event{{Name: "n", SeqNum: 1}, {Name: "n", SeqNum: 3, ParentSeqNum: 2}}},
	} {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req := &syncv1.PushRequest{}
		if proto.Unmarshal(data, req) != nil {
			return
		}
		checkPushPull(t, svc, req)
	})
}

// FuzzPushEvents pushes a batch of n%8 chained events after parent made of the fuzzed fields
// (which, unlike in FuzzPushProto, may be invalid UTF-8, as the bridge may pass them today) to
// the fuzzed store, with the store's backend id, a wrong one or none, and pulls it back (see
// checkPushPull).
//
// A push with invalid UTF-8 in its store id, or in an event's name, ids or args, fails with an
// InvalidRequestError or InvalidBatchError and stores nothing.
func FuzzPushEvents(f *testing.F) {
	svc := newFuzzService(f)
	f.Add("s", "todoCreated-v1", `{"id":"todo-1","text":"Todo number 1","completed":false}`, "client-a", "session-a", uint64(0), uint8(1), uint8(0))
	f.Add("s", "n", "", "c", "s", uint64(0), uint8(7), uint8(1))
	f.Add("s", "n", "{}", "c", "s", uint64(0), uint8(3), uint8(2))
	f.Add("s", "n", "{}", "c", "s", uint64(5), uint8(3), uint8(0))
	f.Add("s", "n", "{}", "c", "s", uint64(1<<64-2), uint8(3), uint8(0))
	f.Add("", "n", "{}", "c", "s", uint64(0), uint8(1), uint8(0))
	f.Add("a/b\x00", "", "{}", "c", "s", uint64(0), uint8(1), uint8(0))
	f.Add("\xff\xfe", "\xff\xfe", `{"a":"\xff\xfe"}`, "\xff", "\xfe", uint64(0), uint8(2), uint8(1))
	f.Add("s", "n", "[1e99999,-0,"+strings.Repeat("[", 100)+strings.Repeat("]", 100)+"]", "c", "s", uint64(0), uint8(1), uint8(0))
	f.Add("s", "n", `{"a":1,"a":2}`, "c", "s", uint64(0), uint8(1), uint8(0))
	f.Add("s", "n", "nope", "c", "s", uint64(0), uint8(1), uint8(0))
	f.Fuzz(func(t *testing.T, storeID, name, args, clientID, sessionID string, parent uint64, n, backend uint8) {
		req := &syncv1.PushRequest{StoreId: storeID, Batch: fuzzEvents(parent, int(n%8), name, args, clientID, sessionID)}
		switch backend % 3 {
		case 1:
			id := fuzzBackendID
			req.BackendId = &id
		case 2:
			id := fuzzBackendID + "\xff"
			req.BackendId = &id
		}
		invalidText := !utf8.ValidString(storeID) || (len(req.Batch) > 0 && !(utf8.ValidString(name) &&
			utf8.ValidString(args) && utf8.ValidString(clientID) && utf8.ValidString(sessionID)))
		if invalidText {
			err := svc.Push(context.Background(), req)
			var invalid *service.InvalidRequestError
			var batch *service.InvalidBatchError
			if !errors.As(err, &invalid) && !errors.As(err, &batch) {
				t.Fatalf("push with invalid UTF-8: err = %v, want an invalid request or batch", err)
			}
			return
		}
		checkPushPull(t, svc, req)
	})
}
