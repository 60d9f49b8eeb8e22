package bridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
)

func TestDecodePushPayload(t *testing.T) {
	t.Parallel()
	ev := func(fields string) string {
		return `{"storeId":"s","batch":[` + fields + `],"backendId":{"_tag":"None"}}`
	}
	tests := []struct {
		name    string
		payload string
		want    *syncv1.PushRequest // nil when decoding fails
		err     string
	}{
		{
			name:    "args passed through byte for byte",
			payload: ev(`{"name":"n","args": {"b" : [1, 2.50, "\u00e9"], "a":null} ,"seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`),
			want:    &syncv1.PushRequest{Batch: []*syncv1.Event{{Name: "n", Args: `{"b" : [1, 2.50, "\u00e9"], "a":null}`, SeqNum: 1, ClientId: "c", SessionId: "s"}}},
		},
		{
			name:    "missing args is undefined",
			payload: ev(`{"name":"n","seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`),
			want:    &syncv1.PushRequest{Batch: []*syncv1.Event{{Name: "n", SeqNum: 1, ClientId: "c", SessionId: "s"}}},
		},
		{
			name:    "integers spelled as floats",
			payload: ev(`{"name":"n","args":null,"seqNum":1e3,"parentSeqNum":999.0,"clientId":"c","sessionId":"s"}`),
			want:    &syncv1.PushRequest{Batch: []*syncv1.Event{{Name: "n", Args: "null", SeqNum: 1000, ParentSeqNum: 999, ClientId: "c", SessionId: "s"}}},
		},
		{
			name:    "backend id and extra keys",
			payload: `{"storeId":"s","extra":1,"batch":[],"backendId":{"_tag":"Some","value":"b1"}}`,
			want:    &syncv1.PushRequest{BackendId: proto.String("b1")},
		},
		{name: "not an object", payload: `[]`, err: "expected an object, actual []"},
		{name: "missing storeId", payload: `{"batch":[],"backendId":{"_tag":"None"}}`, err: `["storeId"]: is missing`},
		{name: "storeId not a string", payload: `{"storeId":1,"batch":[],"backendId":{"_tag":"None"}}`, err: `["storeId"]: expected a string, actual 1`},
		{name: "missing batch", payload: `{"storeId":"s","backendId":{"_tag":"None"}}`, err: `["batch"]: is missing`},
		{name: "batch not an array", payload: `{"storeId":"s","batch":{},"backendId":{"_tag":"None"}}`, err: `["batch"]: expected an array of events, actual {}`},
		{name: "missing backendId", payload: `{"storeId":"s","batch":[]}`, err: `["backendId"]: is missing`},
		{name: "backendId not an option", payload: `{"storeId":"s","batch":[],"backendId":"b"}`, err: `["backendId"]: expected {"_tag":"None"} or {"_tag":"Some","value":…}, actual "b"`},
		{name: "bad option tag", payload: `{"storeId":"s","batch":[],"backendId":{"_tag":"Maybe"}}`, err: `["backendId"]["_tag"]: expected "None" or "Some", actual "Maybe"`},
		{name: "Some without value", payload: `{"storeId":"s","batch":[],"backendId":{"_tag":"Some"}}`, err: `["backendId"]["value"]: is missing`},
		{name: "backendId value not a string", payload: `{"storeId":"s","batch":[],"backendId":{"_tag":"Some","value":3}}`, err: `["backendId"]["value"]: expected a string, actual 3`},
		{name: "fractional seqNum", payload: ev(`{"name":"n","seqNum":1.5,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`), err: `["batch"][0]["seqNum"]: expected an integer, actual 1.5`},
		{name: "negative parentSeqNum", payload: ev(`{"name":"n","seqNum":1,"parentSeqNum":-1,"clientId":"c","sessionId":"s"}`), err: `["batch"][0]["parentSeqNum"]: expected a non-negative integer, actual -1`},
		{name: "huge seqNum", payload: ev(`{"name":"n","seqNum":1e30,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`), err: `["batch"][0]["seqNum"]: expected an integer below 2^64, actual 1e30`},
		{name: "string seqNum", payload: ev(`{"name":"n","seqNum":"1","parentSeqNum":0,"clientId":"c","sessionId":"s"}`), err: `["batch"][0]["seqNum"]: expected an integer, actual "1"`},
		{name: "missing sessionId", payload: ev(`{"name":"n","seqNum":1,"parentSeqNum":0,"clientId":"c"},{}`), err: `["batch"][0]["sessionId"]: is missing`},
		{name: "event not an object", payload: ev(`{"name":"n","seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"},7`), err: `["batch"][1]: expected an event object, actual 7`},
		{name: "event null", payload: ev(`{"name":"n","seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"},null`), err: `["batch"][1]: expected an event object, actual null`},
		{name: "second event missing a field", payload: ev(`{"name":"n","seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"},{"name":"n","seqNum":2,"parentSeqNum":1,"clientId":"c"}`), err: `["batch"][1]["sessionId"]: is missing`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := decodePushPayload(json.RawMessage(tt.payload), nil, nil)
			if tt.want == nil {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecodePullPayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		payload  string
		withLive bool
		want     *syncv1.PullRequest
		err      string
	}{
		{payload: `{"storeId":"s","live":true,"cursor":{"_tag":"None"}}`, withLive: true, want: &syncv1.PullRequest{Live: true}},
		{payload: `{"storeId":"s","payload":{"a":1},"live":false,"cursor":{"_tag":"Some","value":{"backendId":"b","eventSequenceNumber":3}}}`, withLive: true,
			want: &syncv1.PullRequest{Cursor: &syncv1.Cursor{BackendId: "b", EventSequenceNumber: 3}}},
		{payload: `{"storeId":"s","cursor":{"_tag":"None"}}`, withLive: true, err: `["live"]: is missing`},
		{payload: `{"storeId":"s","live":"yes","cursor":{"_tag":"None"}}`, withLive: true, err: `["live"]: expected a boolean, actual "yes"`},
		{payload: `{"storeId":"s","live":true}`, withLive: true, err: `["cursor"]: is missing`},
		{payload: `{"storeId":"s","live":true,"cursor":{"_tag":"Some","value":{"backendId":"b"}}}`, withLive: true, err: `["cursor"]["value"]["eventSequenceNumber"]: is missing`},
		{payload: `{"storeId":"s","cursor":{"_tag":"None"}}`, withLive: false, want: &syncv1.PullRequest{}},
		{payload: `{"storeId":"s","live":true,"cursor":{"_tag":"None"}}`, withLive: false, want: &syncv1.PullRequest{}},
	}
	for _, tt := range tests {
		t.Run(tt.payload, func(t *testing.T) {
			got, _, err := decodePullPayload(json.RawMessage(tt.payload), nil, tt.withLive)
			if tt.want == nil {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// shorten never splits a UTF-8 sequence, so that error messages about valid UTF-8 payloads are
// valid UTF-8 (FuzzDecodeClientMessage/describe-cuts-utf8).
func TestShorten(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "abc…"},
		{"aé", 2, "a…"},                              // é is 2 bytes: cut before it
		{"aéb", 3, "aé…"},                            // cut right after it
		{"a🎉", 4, "a…"},                              // 4-byte rune
		{"\xff\xff\xff\xff\xff", 3, "\xff\xff\xff…"}, // not UTF-8: cut where asked
		{"a\x80\x80\x80\x80\x80", 4, "a\x80\x80\x80…"},
	}
	for _, tt := range tests {
		if got := shorten(tt.in, tt.max); got != tt.want {
			t.Errorf("shorten(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestCanonicalRequestID(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		`"0"`: "0", `"12"`: "12", `"007"`: "7", `"-0"`: "0", `"-3"`: "-3",
		`"abc"`: "", `""`: "", `"1.5"`: "", `" 1"`: "", `5`: "", `null`: "", `"0x1"`: "",
	}
	for raw, want := range tests {
		if got := canonicalRequestID(json.RawMessage(raw)); got != want {
			t.Errorf("%s: got %q, want %q", raw, got, want)
		}
	}
	if got := canonicalRequestID(nil); got != "" {
		t.Errorf("missing id: %q", got)
	}
}

func TestClientPayloadValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body, url string
		want      string // JSON of the value, "" for nil
	}{
		{body: `{"a":1}`, url: `{"b":2}`, want: `{"a":1}`},
		{url: `{"b":[true,null,"x"]}`, want: `{"b":[true,null,"x"]}`},
		{body: `"s"`, want: `"s"`},
		{},
		{body: `{"a":1`, want: ""}, // not JSON: dropped, never fatal
	}
	for _, tt := range tests {
		var body, url json.RawMessage
		if tt.body != "" {
			body = json.RawMessage(tt.body)
		}
		if tt.url != "" {
			url = json.RawMessage(tt.url)
		}
		v := clientPayloadValue(body, url)
		got := ""
		if v != nil {
			b, err := json.Marshal(v.AsInterface())
			if err != nil {
				t.Fatal(err)
			}
			got = string(b)
		}
		if got != tt.want {
			t.Errorf("body %s url %s: got %s, want %s", tt.body, tt.url, got, tt.want)
		}
	}
}

func TestExitForError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err   error
		exit  string
		close *closeRequest
	}{
		{err: fmt.Errorf("wrapped: %w", &service.ServerAheadError{MinimumExpectedNum: 1, ProvidedNum: 4}),
			exit: `{"_tag":"Failure","cause":{"_tag":"Fail","error":{"minimumExpectedNum":1,"providedNum":4,"_tag":"ServerAheadError"}}}`},
		{err: &service.BackendIDMismatchError{Expected: "lntrKg_qGuml47WAVXKtD", Received: "wrong-backend-id"},
			exit: `{"_tag":"Failure","cause":{"_tag":"Fail","error":{"expected":"lntrKg_qGuml47WAVXKtD","received":"wrong-backend-id","_tag":"BackendIdMismatchError"}}}`},
		{err: errors.New("line1\nline2 \"q\""),
			exit: `{"_tag":"Failure","cause":{"_tag":"Fail","error":{"cause":{"name":"Error","message":"line1\nline2 \"q\""},"_tag":"UnknownError"}}}`},
		{err: fmt.Errorf("pull: %w", service.ErrLivePullBehind), close: &closeLivePullBehind},
		{err: service.ErrClosed, close: &closeServiceClosed},
	}
	for _, tt := range tests {
		e, cr := exitOrCloseFor(tt.err)
		if string(e) != tt.exit || (cr == nil) != (tt.close == nil) || (cr != nil && *cr != *tt.close) {
			t.Errorf("%v: got %s %v", tt.err, e, cr)
		}
	}
}
