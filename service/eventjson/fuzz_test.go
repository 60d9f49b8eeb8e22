package eventjson

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Fuzz targets of the encoders. Run one with
//
//	go test -run '^$' -fuzz '^FuzzAppendString$' -fuzztime 30s ./service/eventjson/
//
// (make fuzz runs each for a few seconds). testdata/fuzz/<target>/ holds their committed seeds.

// decodedString is what encoding/json decodes from a JSON string holding s: s itself when it is
// valid UTF-8, else s with each invalid byte replaced by U+FFFD.
func decodedString(s string) string { return string([]rune(s)) }

// FuzzAppendString checks AppendString against encoding/json and JavaScript's JSON.stringify:
// it appends to dst without touching it, writes StringSize(s) bytes (ScanString's Size too, with
// its NUL and ASCII right), the output is valid JSON with no raw control character, a string
// without '"', '\\' or control characters is copied through unchanged (JavaScript escapes
// nothing else), and encoding/json decodes the output back to s (to s with U+FFFD for each
// invalid byte, when s is not valid UTF-8).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{
		"", "plain", `q"b\`, "\b\f\n\r\t", "\x00\x01\x1f\x7f", "<a>&\u2028\u2029", "ünï 🎉 é",
		"\xff\xfe", "a\xffb\"\\", "\xed\xa0\x80", // a UTF-16 surrogate in UTF-8
		"\\u0000", strings.Repeat("\"", 100),
	} {
		f.Add("prefix", s)
	}
	f.Fuzz(func(t *testing.T, prefix, s string) {
		out := AppendString([]byte(prefix), s)
		if string(out[:len(prefix)]) != prefix {
			t.Fatalf("AppendString changed dst: %q", out[:len(prefix)])
		}
		enc := out[len(prefix):]
		if n := StringSize(s); n != len(enc) {
			t.Fatalf("StringSize(%q) = %d, AppendString wrote %d bytes: %s", s, n, len(enc), enc)
		}
		ascii := !strings.ContainsFunc(s, func(r rune) bool { return r >= 0x80 })
		want := StringScan{Size: len(enc), NUL: strings.IndexByte(s, 0) >= 0, ASCII: ascii}
		if got := ScanString(s); got != want {
			t.Fatalf("ScanString(%q) = %+v, want %+v", s, got, want)
		}
		if !json.Valid(enc) || enc[0] != '"' || enc[len(enc)-1] != '"' {
			t.Fatalf("AppendString(%q) = %s: not a JSON string", s, enc)
		}
		if i := bytes.IndexFunc(enc, func(r rune) bool { return r < 0x20 }); i >= 0 {
			t.Fatalf("AppendString(%q) = %q: raw control character at %d", s, enc, i)
		}
		if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == '"' || r == '\\' }) && string(enc) != `"`+s+`"` {
			t.Fatalf("AppendString(%q) = %q, want it copied through", s, enc)
		}
		var back string
		if err := json.Unmarshal(enc, &back); err != nil || back != decodedString(s) {
			t.Fatalf("AppendString(%q) = %s decodes to %q, %v", s, enc, back, err)
		}
	})
}

// eventJSON is an event as encoding/json reads it.
type eventJSON struct {
	Name         string          `json:"name"`
	Args         json.RawMessage `json:"args"`
	SeqNum       uint64          `json:"seqNum"`
	ParentSeqNum uint64          `json:"parentSeqNum"`
	ClientID     string          `json:"clientId"`
	SessionID    string          `json:"sessionId"`
}

// pulledEventJSON is a pulled event as encoding/json reads it.
type pulledEventJSON struct {
	EventEncoded eventJSON `json:"eventEncoded"`
	Metadata     struct {
		Tag   string `json:"_tag"`
		Value struct {
			Tag       string `json:"_tag"`
			CreatedAt string `json:"createdAt"`
		} `json:"value"`
	} `json:"metadata"`
}

// fourDigitYear reports whether ts is written with a four-digit year (years 0 to 9999), the
// length PulledEventSize assumes. The service's creation times are the server's clock.
func fourDigitYear(ts *timestamppb.Timestamp) bool {
	y := ts.AsTime().UTC().Year()
	return y >= 0 && y <= 9999
}

// FuzzPulledEvent encodes a pulled event made of the fuzzed fields, with or without a creation
// time, and checks that PulledEventSize and PulledEventSizeOf are the length of what
// AppendPulledEvent writes (for creation times with a four-digit year), that the event's
// encoding is AppendEvent's and EventSize its length, and, when args is absent or valid JSON, that the output is valid
// JSON that encoding/json decodes back to the event: the same strings (see decodedString), the
// same numbers, args byte for byte, and the creation time or None.
func FuzzPulledEvent(f *testing.F) {
	f.Add("todoCreated-v1", `{"id":"t1","text":"héllo","completed":false}`, "client-a", "session-a", uint64(2), uint64(1), int64(1_764_000_000_123), true)
	f.Add("e", "", "", "", uint64(1), uint64(0), int64(0), false)
	f.Add("n\"a\\m\x01e", `"`+strings.Repeat("x", 100)+`"`, "\n", "ü", uint64(1<<63), uint64(9), int64(-1), true)
	f.Add("\xff\xfe", `{"a":"\xff\xfe"}`, "\x00", "\u2028", uint64(math.MaxUint64), uint64(math.MaxUint64), int64(253402300799999), true)
	f.Add("big", `[1e999,-0.0,123456789012345678901234567890]`, "c", "s", uint64(10), uint64(9), int64(math.MaxInt64), true)
	f.Add("nope", `{"a":`, "c", "s", uint64(10), uint64(9), int64(math.MinInt64), true)
	f.Add("ws", " \t\n null \r\n", "c", "s", uint64(3), uint64(2), int64(5), false)
	f.Fuzz(func(t *testing.T, name, args, clientID, sessionID string, seq, parent uint64, ms int64, withTime bool) {
		e := &syncv1.Event{Name: name, Args: args, SeqNum: seq, ParentSeqNum: parent, ClientId: clientID, SessionId: sessionID}
		p := &syncv1.PulledEvent{Event: e}
		var created time.Time
		if withTime {
			created = time.UnixMilli(ms)
			p.Metadata = &syncv1.SyncMetadata{CreatedAt: timestamppb.New(created)}
		}
		out := AppendPulledEvent(nil, p)
		if withTime && fourDigitYear(p.GetMetadata().GetCreatedAt()) {
			if n := PulledEventSize(e); n != len(out) {
				t.Fatalf("PulledEventSize = %d, AppendPulledEvent wrote %d bytes: %s", n, len(out), out)
			}
			if n := PulledEventSizeOf(name, args, clientID, sessionID, seq, parent); n != len(out) {
				t.Fatalf("PulledEventSizeOf = %d, AppendPulledEvent wrote %d bytes: %s", n, len(out), out)
			}
		}
		const head = `{"eventEncoded":`
		ev := AppendEvent(nil, e)
		if n := EventSize(e); n != len(ev) {
			t.Fatalf("EventSize = %d, AppendEvent wrote %d bytes: %s", n, len(ev), ev)
		}
		if !bytes.HasPrefix(out, append([]byte(head), ev...)) {
			t.Fatalf("AppendPulledEvent = %s, does not start with AppendEvent's %s", out, ev)
		}
		if args != "" && !json.Valid([]byte(args)) {
			return // args is copied through as pushed; the service refuses args that are not JSON
		}
		if !json.Valid(out) {
			t.Fatalf("AppendPulledEvent wrote invalid JSON: %s", out)
		}
		var got pulledEventJSON
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		ge := got.EventEncoded
		if ge.Name != decodedString(name) || ge.ClientID != decodedString(clientID) || ge.SessionID != decodedString(sessionID) ||
			ge.SeqNum != seq || ge.ParentSeqNum != parent {
			t.Fatalf("%s decodes to %+v", out, ge)
		}
		if wantArgs := strings.Trim(args, " \t\r\n"); string(ge.Args) != wantArgs {
			t.Fatalf("args %q decodes to %q", args, ge.Args)
		}
		switch {
		case !withTime && got.Metadata.Tag != "None":
			t.Fatalf("metadata without a time: %s", out)
		case withTime && (got.Metadata.Tag != "Some" || got.Metadata.Value.Tag != "SyncMessage.SyncMetadata" ||
			got.Metadata.Value.CreatedAt != FormatTime(created)):
			t.Fatalf("metadata with time %v: %s", created, out)
		}
	})
}

// FuzzPullResponse encodes a PullResponse unmarshalled from the fuzzed protobuf bytes (whose
// strings are valid UTF-8: protobuf refuses others; FuzzPulledEvent covers those). When
// every event's args is absent or valid JSON, the output is valid JSON with the page's events,
// page info and backend id. Whenever the page's creation times have four-digit years and its
// backend id takes at most 64 bytes, the output is at most the events' PulledEventSize plus one
// byte each plus PageOverhead: the bound the service sizes pages with.
func FuzzPullResponse(f *testing.F) {
	ts := timestamppb.New(time.UnixMilli(1_764_000_000_123))
	ev := func(seq uint64, args string) *syncv1.PulledEvent {
		return &syncv1.PulledEvent{
			Event:    &syncv1.Event{Name: "todoCreated-v1", Args: args, SeqNum: seq, ParentSeqNum: seq - 1, ClientId: "client-a", SessionId: "session-a"},
			Metadata: &syncv1.SyncMetadata{CreatedAt: ts},
		}
	}
	for _, r := range []*syncv1.PullResponse{
		{},
		{Batch: []*syncv1.PulledEvent{ev(2, `{"id":"todo-2","text":"Todo number 2","completed":false}`)}, BackendId: "ET6LlB8gFYX_FA5fuxlva"},
		{Batch: []*syncv1.PulledEvent{ev(1, ""), ev(2, `{}`), ev(3, `[null]`)}, BackendId: "b",
			PageInfo: &syncv1.PageInfo{Kind: &syncv1.PageInfo_MoreKnown_{MoreKnown: &syncv1.PageInfo_MoreKnown{Remaining: math.MaxUint64}}}},
		{Batch: []*syncv1.PulledEvent{{}, {Event: &syncv1.Event{Name: "x"}}}, BackendId: "\x00\"\\\u2028",
			PageInfo: &syncv1.PageInfo{Kind: &syncv1.PageInfo_MoreUnknown_{MoreUnknown: &syncv1.PageInfo_MoreUnknown{}}}},
		{Batch: []*syncv1.PulledEvent{{Event: &syncv1.Event{Name: "y", SeqNum: 1}, Metadata: &syncv1.SyncMetadata{
			CreatedAt: &timestamppb.Timestamp{Seconds: 1 << 40, Nanos: -5}}}}, BackendId: strings.Repeat("\x01", 64)},
		{BackendId: strings.Repeat("b", 65), PageInfo: &syncv1.PageInfo{Kind: &syncv1.PageInfo_NoMore_{NoMore: &syncv1.PageInfo_NoMore{}}}},
	} {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &syncv1.PullResponse{}
		if proto.Unmarshal(data, r) != nil {
			return
		}
		out := AppendPullResponse(nil, r)

		bound, sized := PageOverhead, StringSize(r.GetBackendId()) <= 64+2
		jsonArgs := true
		for _, p := range r.GetBatch() {
			bound += PulledEventSize(p.GetEvent()) + 1
			if ts := p.GetMetadata().GetCreatedAt(); ts != nil && !fourDigitYear(ts) {
				sized = false
			}
			if args := p.GetEvent().GetArgs(); args != "" && !json.Valid([]byte(args)) {
				jsonArgs = false
			}
		}
		if sized && len(out) > bound {
			t.Fatalf("page of %d events is %d bytes, over its bound %d: %s", len(r.GetBatch()), len(out), bound, out)
		}
		if !jsonArgs {
			return
		}
		var got struct {
			Batch    []json.RawMessage `json:"batch"`
			PageInfo struct {
				Tag       string `json:"_tag"`
				Remaining uint64 `json:"remaining"`
			} `json:"pageInfo"`
			BackendID string `json:"backendId"`
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %s", out)
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		wantTag := "NoMore"
		switch k := r.GetPageInfo().GetKind().(type) {
		case *syncv1.PageInfo_MoreKnown_:
			wantTag = "MoreKnown"
			if got.PageInfo.Remaining != k.MoreKnown.GetRemaining() {
				t.Fatalf("remaining %d, want %d", got.PageInfo.Remaining, k.MoreKnown.GetRemaining())
			}
		case *syncv1.PageInfo_MoreUnknown_:
			wantTag = "MoreUnknown"
		}
		if len(got.Batch) != len(r.GetBatch()) || got.PageInfo.Tag != wantTag || got.BackendID != decodedString(r.GetBackendId()) {
			t.Fatalf("%s decodes to %d events, page info %q, backend id %q", out, len(got.Batch), got.PageInfo.Tag, got.BackendID)
		}
		for i, p := range r.GetBatch() {
			if want := AppendPulledEvent(nil, p); !bytes.Equal(got.Batch[i], want) {
				t.Fatalf("event %d is %s, want %s", i, got.Batch[i], want)
			}
		}
	})
}

// FuzzValid checks that Valid and ValidString agree with encoding/json's Valid on any input (and that
// ValidString leaves its string as it was).
func FuzzValid(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `"a"`, `1`, `-0.5e+3`, `{"a":[1,2,{"b":null}]}`, "\"\x01\"", `"\u12"`,
		`01`, `1.`, `[1,]`, `{"a":1,}`, "\"\xff\"", ` true `, `nul`, `{"a" 1}`, `[[[[]]]]`, `"\u00e9"`, `1e`, `-`,
		`"\/"`, `"\a"`, "1\x00garbage", "[1,2]\x00", "\"a\x00b\"", `{"a":1}{"b":2}`, "\t\r\n[\n]\n"} {
		f.Add([]byte(s))
	}
	f.Add(append(bytes.Repeat([]byte("["), 10001), bytes.Repeat([]byte("]"), 10001)...)) // past the nesting limit
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := Valid(data), json.Valid(data); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", data, got, want)
		}
		s := string(data)
		if got, want := ValidString(s), json.Valid(data); got != want || s != string(data) {
			t.Fatalf("ValidString(%q) = %v, encoding/json says %v; the string after: %q", data, got, want, s)
		}
	})
}

// FuzzParseEvent checks ParseEvent two ways. On the fuzzed bytes data it never panics, and when
// it succeeds: args is absent or valid JSON standing exactly where data has it, encoding/json reads
// the same strings (see decodedString) and numbers from data (args replaced by 0: its nesting may
// reach the limit on its own), AppendEventOf of the fields parses back to them, and reproduces data
// exactly when data's strings have no escape. From the fuzzed fields, the event AppendEventOf
// writes parses back to them, for any strings (invalid UTF-8 is copied through both ways), with
// args the fuzzed text when it is valid JSON, else that text as a JSON string in an array.
func FuzzParseEvent(f *testing.F) {
	for _, s := range []struct {
		data                            string
		name, args, clientID, sessionID string
		seq, parent                     uint64
	}{
		{`{"name":"todoCreated-v1","args":{"id":"t1","text":"héllo","completed":false},"seqNum":2,"parentSeqNum":1,"clientId":"client-a","sessionId":"session-a"}`,
			"todoCreated-v1", `{"id":"t1","text":"héllo","completed":false}`, "client-a", "session-a", 2, 1},
		{`{"name":"e","seqNum":1,"parentSeqNum":0,"clientId":"","sessionId":""}`, "e", "", "", "", 1, 0},
		{`{"name":"q\"\\\/\b\f\n\r\t\u0000\u00E9\ud83c\udf89\ud800\udc00x","seqNum":18446744073709551615,"parentSeqNum":0,"clientId":"\udc00","sessionId":"\ud800\u0041"}`,
			"n\"a\\m\x01e", `"\u2028"`, "\n", "ü", math.MaxUint64, math.MaxUint64},
		{"{\"name\":\"\xff\xfe\",\"args\":[\"\xff\"],\"seqNum\":1,\"parentSeqNum\":0,\"clientId\":\"\xed\xa0\x80\",\"sessionId\":\"\u2028\"}",
			"\xff\xfe", `{"a":"\xff\xfe"}`, "\x00", "\u2028", 1 << 63, 9},
		{"{\"name\":\"n\",\"args\": \t\n[ {\"a\":\"]}[\\\"\"} ]\r\n ,\"seqNum\":3,\"parentSeqNum\":2,\"clientId\":\"c\",\"sessionId\":\"s\"}",
			"big", `[1e999,-0.0,123456789012345678901234567890]`, "c", "s", 10, 9},
		{`{"name":"n","args":{"seqNum":1,"parentSeqNum":2},"seqNum":3,"parentSeqNum":2,"clientId":"c","sessionId":"s"}`,
			"ws", " \t\n null \r\n", "c", "s", 3, 2},
		{`{"name":"n","args":[1 2],"seqNum":01,"parentSeqNum":18446744073709551616,"clientId":"c","sessionId":"s"}`,
			"nope", `{"a":`, "c", "s", 0, 0},
		{`{"name":"n","args":,"seqNum":1,"parentSeqNum":0,"clientId":"\x","sessionId":"\u12"}`,
			"", "[]", "", "", 0, 0},
		{`{"name":"n","parentSeqNum":0,"seqNum":1,"clientId":"c","sessionId":"s"} `, `{"name":"x"}`, `,"seqNum":1,`, `"`, `\`, 7, 8},
		{`{"name":"n","args":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `,"seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`,
			"deep", strings.Repeat("[", 10001) + strings.Repeat("]", 10001), "c", "s", 1, 0},
	} {
		f.Add([]byte(s.data), s.name, s.args, s.clientID, s.sessionID, s.seq, s.parent)
	}
	f.Fuzz(func(t *testing.T, data []byte, name, args, clientID, sessionID string, seq, parent uint64) {
		if got, err := ParseEvent(data); err == nil {
			checkParsedEvent(t, data, got)
		} else if got != (Event{}) {
			t.Fatalf("ParseEvent(%q) = %#v with error %v", data, got, err)
		}

		if args != "" && !Valid([]byte(args)) {
			args = "[" + string(AppendString(nil, args)) + "]"
		}
		want := Event{Name: name, Args: args, ClientID: clientID, SessionID: sessionID, SeqNum: seq, ParentSeqNum: parent}
		enc := AppendEventOf(nil, name, args, clientID, sessionID, seq, parent)
		if got, err := ParseEvent(enc); err != nil || got != want {
			t.Fatalf("ParseEvent(%q) = %#v, %v; want %#v", enc, got, err, want)
		}
	})
}

// checkParsedEvent checks the event got that ParseEvent read from data (see FuzzParseEvent).
func checkParsedEvent(t *testing.T, data []byte, got Event) {
	t.Helper()
	rest := data // data with args replaced by 0
	if got.Args != "" {
		if !Valid([]byte(got.Args)) {
			t.Fatalf("ParseEvent(%q): args %q is not JSON", data, got.Args)
		}
		// No string of the event can hold `,"args":`: a quote in it is escaped.
		i := bytes.Index(data, []byte(`,"args":`)) + len(`,"args":`)
		if i < len(`,"args":`) || !bytes.HasPrefix(data[i:], []byte(got.Args)) {
			t.Fatalf("ParseEvent(%q): args %q is not the text of data", data, got.Args)
		}
		rest = append(append(data[:i:i], '0'), data[i+len(got.Args):]...)
	}
	var std eventJSON
	if err := json.Unmarshal(rest, &std); err != nil {
		t.Fatalf("ParseEvent(%q) = %#v, but encoding/json fails on %q: %v", data, got, rest, err)
	}
	if std.Name != decodedString(got.Name) || std.ClientID != decodedString(got.ClientID) || std.SessionID != decodedString(got.SessionID) ||
		std.SeqNum != got.SeqNum || std.ParentSeqNum != got.ParentSeqNum || (got.Args != "") != (std.Args != nil) {
		t.Fatalf("ParseEvent(%q) = %#v, encoding/json reads %#v", data, got, std)
	}
	enc := AppendEventOf(nil, got.Name, got.Args, got.ClientID, got.SessionID, got.SeqNum, got.ParentSeqNum)
	if again, err := ParseEvent(enc); err != nil || again != got {
		t.Fatalf("ParseEvent(%q) = %#v, but its encoding %q parses to %#v, %v", data, got, enc, again, err)
	}
	if !bytes.Contains(rest, []byte(`\`)) && !bytes.Equal(enc, data) {
		t.Fatalf("ParseEvent(%q) = %#v, without escapes, but AppendEventOf writes %q", data, got, enc)
	}
}
