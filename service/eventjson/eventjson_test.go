package eventjson

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The golden file is a PullResponse exactly as the original server sent it
// (ws-live-pull-second-client transcript).
func TestAppendPullResponseGolden(t *testing.T) {
	t.Parallel()
	want, err := os.ReadFile("testdata/live-page.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	createdAt, _ := time.Parse(time.RFC3339Nano, "2026-11-25T17:20:09.524Z")
	page := &syncv1.PullResponse{
		Batch: []*syncv1.PulledEvent{{
			Event: &syncv1.Event{Name: "todoCreated-v1", Args: `{"id":"todo-2","text":"Todo number 2","completed":false}`,
				SeqNum: 2, ParentSeqNum: 1, ClientId: "client-b", SessionId: "session-b"},
			Metadata: &syncv1.SyncMetadata{CreatedAt: timestamppb.New(createdAt)},
		}},
		BackendId: "ET6LlB8gFYX_FA5fuxlva",
	}
	if got := AppendPullResponse(nil, page); string(got) != string(want) {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestAppendPageInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		info *syncv1.PageInfo
		want string
	}{
		{nil, `{"_tag":"NoMore"}`},
		{&syncv1.PageInfo{Kind: &syncv1.PageInfo_NoMore_{NoMore: &syncv1.PageInfo_NoMore{}}}, `{"_tag":"NoMore"}`},
		{&syncv1.PageInfo{Kind: &syncv1.PageInfo_MoreKnown_{MoreKnown: &syncv1.PageInfo_MoreKnown{Remaining: 150}}}, `{"_tag":"MoreKnown","remaining":150}`},
		{&syncv1.PageInfo{Kind: &syncv1.PageInfo_MoreUnknown_{MoreUnknown: &syncv1.PageInfo_MoreUnknown{}}}, `{"_tag":"MoreUnknown"}`},
	}
	for _, tt := range tests {
		if got := string(AppendPageInfo(nil, tt.info)); got != tt.want {
			t.Errorf("AppendPageInfo(%v) = %s, want %s", tt.info, got, tt.want)
		}
	}
}

// Strings are escaped as JavaScript's JSON.stringify escapes them: unlike encoding/json, it
// leaves <, >, &, U+2028 and U+2029 raw.
func TestAppendString(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`q"b\`, `"q\"b\\"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f\""},
		{"<a>&\u2028\u2029", "\"<a>&\u2028\u2029\""},
		{"ünï 🎉 é", "\"ünï 🎉 é\""},
	}
	for _, tt := range tests {
		got := string(AppendString(nil, tt.in))
		if got != tt.want {
			t.Errorf("AppendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
		if n := StringSize(tt.in); n != len(got) {
			t.Errorf("StringSize(%q) = %d, want %d", tt.in, n, len(got))
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil || back != tt.in {
			t.Errorf("%s decodes to %q (%v), want %q", got, back, err, tt.in)
		}
	}
}

func TestPulledEventSizeMatchesEncoding(t *testing.T) {
	t.Parallel()
	ts := timestamppb.New(time.UnixMilli(1_764_000_000_123))
	events := []*syncv1.Event{
		{Name: "e", SeqNum: 1},
		{Name: "todoCreated-v1", Args: `{"id":"t1"}`, SeqNum: 12345, ParentSeqNum: 12344, ClientId: "c", SessionId: "s"},
		{Name: "n\"a\\m\x01e", Args: `"` + strings.Repeat("x", 1000) + `"`, SeqNum: 1 << 63, ParentSeqNum: 9, ClientId: "\n", SessionId: "ü"},
	}
	for _, e := range events {
		got := AppendPulledEvent(nil, &syncv1.PulledEvent{Event: e, Metadata: &syncv1.SyncMetadata{CreatedAt: ts}})
		if n := PulledEventSize(e); n != len(got) {
			t.Errorf("PulledEventSize = %d, encoding is %d bytes: %s", n, len(got), got)
		}
		if ev := AppendEvent(nil, e); EventSize(e) != len(ev) {
			t.Errorf("EventSize = %d, encoding is %d bytes: %s", EventSize(e), len(ev), ev)
		}
		if !json.Valid(got) {
			t.Errorf("invalid JSON: %s", got)
		}
	}
}

func TestEventWithoutArgsOrMetadata(t *testing.T) {
	t.Parallel()
	got := string(AppendPulledEvent(nil, &syncv1.PulledEvent{Event: &syncv1.Event{Name: "x", SeqNum: 1, ClientId: "c", SessionId: "s"}}))
	want := `{"eventEncoded":{"name":"x","seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"},"metadata":{"_tag":"None"}}`
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
