package eventjson

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestParseEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Event
	}{
		{"typical", `{"name":"todoCreated-v1","args":{"id":"t1","text":"héllo","completed":false},"seqNum":2,"parentSeqNum":1,"clientId":"client-a","sessionId":"session-a"}`,
			Event{Name: "todoCreated-v1", Args: `{"id":"t1","text":"héllo","completed":false}`, SeqNum: 2, ParentSeqNum: 1, ClientID: "client-a", SessionID: "session-a"}},
		{"no args", `{"name":"e","seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`,
			Event{Name: "e", SeqNum: 1, ClientID: "c", SessionID: "s"}},
		{"empty strings", `{"name":"","seqNum":0,"parentSeqNum":0,"clientId":"","sessionId":""}`, Event{}},
		{"max numbers", `{"name":"n","seqNum":18446744073709551615,"parentSeqNum":18446744073709551614,"clientId":"c","sessionId":"s"}`,
			Event{Name: "n", SeqNum: math.MaxUint64, ParentSeqNum: math.MaxUint64 - 1, ClientID: "c", SessionID: "s"}},
		{"escapes", `{"name":"q\"b\\s\/\b\f\n\r\t","seqNum":1,"parentSeqNum":0,"clientId":"\u0000\u001f\u0041\u00e9\u20AC","sessionId":"a\"b"}`,
			Event{Name: "q\"b\\s/\b\f\n\r\t", SeqNum: 1, ClientID: "\x00\x1fAé€", SessionID: `a"b`}},
		{"surrogates", `{"name":"\ud83c\udf89","seqNum":1,"parentSeqNum":0,"clientId":"\ud800x\udc00","sessionId":"\udc00\ud800\ud800\udc00\ud83c"}`,
			Event{Name: "🎉", SeqNum: 1, ClientID: "\uFFFDx\uFFFD", SessionID: "\uFFFD\uFFFD\U00010000\uFFFD"}},
		{"surrogate then other escape", `{"name":"\ud800\n\ud800\u0041","seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`,
			Event{Name: "\uFFFD\n\uFFFDA", SeqNum: 1, ClientID: "c", SessionID: "s"}},
		{"raw unicode and invalid UTF-8", "{\"name\":\"ünï 🎉\u2028\",\"seqNum\":1,\"parentSeqNum\":0,\"clientId\":\"\xff\xfe\",\"sessionId\":\"\xed\xa0\x80\x7f\"}",
			Event{Name: "ünï 🎉\u2028", SeqNum: 1, ClientID: "\xff\xfe", SessionID: "\xed\xa0\x80\x7f"}},
		{"nested args with brackets in strings", `{"name":"n","args":{"a":[1,{"b":"]}[{\"\\"}],"c":[[[]]],"d":"\u005d"},"seqNum":3,"parentSeqNum":2,"clientId":"c","sessionId":"s"}`,
			Event{Name: "n", Args: `{"a":[1,{"b":"]}[{\"\\"}],"c":[[[]]],"d":"\u005d"}`, SeqNum: 3, ParentSeqNum: 2, ClientID: "c", SessionID: "s"}},
		{"string args", `{"name":"n","args":"a,\"b\" ]","seqNum":3,"parentSeqNum":2,"clientId":"c","sessionId":"s"}`,
			Event{Name: "n", Args: `"a,\"b\" ]"`, SeqNum: 3, ParentSeqNum: 2, ClientID: "c", SessionID: "s"}},
		{"number args", `{"name":"n","args":-1.5e+3,"seqNum":3,"parentSeqNum":2,"clientId":"c","sessionId":"s"}`,
			Event{Name: "n", Args: `-1.5e+3`, SeqNum: 3, ParentSeqNum: 2, ClientID: "c", SessionID: "s"}},
		{"literal args", `{"name":"n","args":null,"seqNum":3,"parentSeqNum":2,"clientId":"c","sessionId":"s"}`,
			Event{Name: "n", Args: `null`, SeqNum: 3, ParentSeqNum: 2, ClientID: "c", SessionID: "s"}},
		{"args with white space", "{\"name\":\"n\",\"args\": \t\n[ 1 , true ]\r\n ,\"seqNum\":3,\"parentSeqNum\":2,\"clientId\":\"c\",\"sessionId\":\"s\"}",
			Event{Name: "n", Args: " \t\n[ 1 , true ]\r\n ", SeqNum: 3, ParentSeqNum: 2, ClientID: "c", SessionID: "s"}},
		{"args with invalid UTF-8", "{\"name\":\"n\",\"args\":[\"\xff\"],\"seqNum\":3,\"parentSeqNum\":2,\"clientId\":\"c\",\"sessionId\":\"s\"}",
			Event{Name: "n", Args: "[\"\xff\"]", SeqNum: 3, ParentSeqNum: 2, ClientID: "c", SessionID: "s"}},
		{"keys inside args", `{"name":"n","args":{"seqNum":9,"clientId":"x"},"seqNum":3,"parentSeqNum":2,"clientId":"c","sessionId":"s"}`,
			Event{Name: "n", Args: `{"seqNum":9,"clientId":"x"}`, SeqNum: 3, ParentSeqNum: 2, ClientID: "c", SessionID: "s"}},
	}
	for _, tt := range tests {
		got, err := ParseEvent([]byte(tt.in))
		if err != nil {
			t.Errorf("%s: ParseEvent(%q): %v", tt.name, tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: ParseEvent(%q) = %#v, want %#v", tt.name, tt.in, got, tt.want)
		}
		// encoding/json reads the same fields (its strings with U+FFFD for invalid UTF-8).
		var std eventJSON
		if err := json.Unmarshal([]byte(tt.in), &std); err != nil {
			t.Errorf("%s: encoding/json: %v", tt.name, err)
			continue
		}
		if std.Name != decodedString(got.Name) || std.ClientID != decodedString(got.ClientID) || std.SessionID != decodedString(got.SessionID) ||
			std.SeqNum != got.SeqNum || std.ParentSeqNum != got.ParentSeqNum || string(std.Args) != strings.Trim(got.Args, " \t\r\n") {
			t.Errorf("%s: encoding/json reads %#v, ParseEvent %#v", tt.name, std, got)
		}
	}
}

func TestParseEventErrors(t *testing.T) {
	t.Parallel()
	const (
		head = `{"name":"n",`
		tail = `"seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`
	)
	ok := head + tail
	if _, err := ParseEvent([]byte(ok)); err != nil {
		t.Fatalf("ParseEvent(%s): %v", ok, err)
	}
	tests := []struct{ name, in string }{
		{"empty", ``},
		{"not an object", `[]`},
		{"null", `null`},
		{"only brace", `{`},
		{"empty object", `{}`},
		{"truncated", ok[:len(ok)-1]},
		{"truncated in a key", ok[:len(`{"name":"n","seqN`)]},
		{"trailing byte", ok + ` `},
		{"trailing value", ok + `{}`},
		{"leading space", ` ` + ok},
		{"space after brace", `{ "name":"n",` + tail},
		{"space before value", `{"name": "n",` + tail},
		{"space before comma", `{"name":"n" ,` + tail},
		{"other key order", `{"name":"n","parentSeqNum":0,"seqNum":1,"clientId":"c","sessionId":"s"}`},
		{"args last", `{"name":"n","seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s","args":1}`},
		{"name second", `{"seqNum":1,"name":"n","parentSeqNum":0,"clientId":"c","sessionId":"s"}`},
		{"missing name", `{"seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`},
		{"missing seqNum", `{"name":"n","parentSeqNum":0,"clientId":"c","sessionId":"s"}`},
		{"missing parentSeqNum", `{"name":"n","seqNum":1,"clientId":"c","sessionId":"s"}`},
		{"missing clientId", `{"name":"n","seqNum":1,"parentSeqNum":0,"sessionId":"s"}`},
		{"missing sessionId", `{"name":"n","seqNum":1,"parentSeqNum":0,"clientId":"c"}`},
		{"extra key", `{"name":"n","seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s","x":1}`},
		{"extra key in the middle", `{"name":"n","x":1,` + tail},
		{"duplicate key", `{"name":"n","name":"n",` + tail},
		{"key with other case", `{"Name":"n",` + tail},
		{"escaped key", `{"n\u0061me":"n",` + tail},
		{"name not a string", `{"name":1,` + tail},
		{"name null", `{"name":null,` + tail},
		{"clientId not a string", `{"name":"n","seqNum":1,"parentSeqNum":0,"clientId":7,"sessionId":"s"}`},
		{"unterminated name", `{"name":"n`},
		{"unterminated sessionId", `{"name":"n","seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s`},
		{"raw control character", "{\"name\":\"a\nb\"," + tail},
		{"raw NUL", "{\"name\":\"a\x00b\"," + tail},
		{"bad escape", `{"name":"\a",` + tail},
		{"escaped single quote", `{"name":"\'",` + tail},
		{"escaped x", `{"name":"\x41",` + tail},
		{"short \\u", `{"name":"\u12",` + tail},
		{"bad hex", `{"name":"\u12g4",` + tail},
		{"uppercase U", `{"name":"\U0041",` + tail},
		{"escape at end", `{"name":"\`},
		{"\\u at end", `{"name":"\u00`},
		{"negative seqNum", `{"name":"n","seqNum":-1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`},
		{"plus seqNum", `{"name":"n","seqNum":+1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`},
		{"leading zero", `{"name":"n","seqNum":01,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`},
		{"zeros", `{"name":"n","seqNum":00,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`},
		{"fraction", `{"name":"n","seqNum":1.0,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`},
		{"exponent", `{"name":"n","seqNum":1e3,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`},
		{"quoted number", `{"name":"n","seqNum":"1","parentSeqNum":0,"clientId":"c","sessionId":"s"}`},
		{"empty number", `{"name":"n","seqNum":,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`},
		{"null number", `{"name":"n","seqNum":null,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`},
		{"overflow", `{"name":"n","seqNum":18446744073709551616,"parentSeqNum":0,"clientId":"c","sessionId":"s"}`},
		{"overflow by far", `{"name":"n","seqNum":1,"parentSeqNum":99999999999999999999999,"clientId":"c","sessionId":"s"}`},
		{"truncated number", `{"name":"n","seqNum":1`},
		{"empty args", head + `"args":,` + tail},
		{"blank args", head + `"args": ,` + tail},
		{"args at end", head + `"args":`},
		{"args not JSON", head + `"args":undefined,` + tail},
		{"args two values", head + `"args":1 2,` + tail},
		{"args bad number", head + `"args":01,` + tail},
		{"args bad grammar", head + `"args":[1 2],` + tail},
		{"args trailing comma", head + `"args":{"a":1,},` + tail},
		{"args mismatched brackets", head + `"args":[},` + tail},
		{"args unbalanced open", head + `"args":[[1],` + tail},
		{"args unbalanced close", head + `"args":[1]],` + tail},
		{"args unterminated string", head + `"args":["a,` + tail},
		{"args unterminated top string", head + `"args":"a,` + tail},
		{"args bad escape", head + `"args":"\a",` + tail},
		{"args raw control character", head + "\"args\":\"\x01\"," + tail},
		{"args bracket hidden by escape", head + `"args":["\"],` + tail},
		{"args null byte", head + "\"args\":null\x00," + tail},
	}
	for _, tt := range tests {
		got, err := ParseEvent([]byte(tt.in))
		if err == nil {
			t.Errorf("%s: ParseEvent(%q) = %#v, want an error", tt.name, tt.in, got)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "eventjson: event: ") || !strings.Contains(msg, " at byte ") {
			t.Errorf("%s: ParseEvent(%q): error %q without its context", tt.name, tt.in, msg)
		}
		if got != (Event{}) {
			t.Errorf("%s: ParseEvent(%q) = %#v with its error", tt.name, tt.in, got)
		}
	}
}

// Args nest as deep as Valid allows them (10000, as encoding/json), without recursion; deeper
// or unbalanced ones are errors.
func TestParseEventDeepArgs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args string
		ok   bool
	}{
		{strings.Repeat("[", 10000) + strings.Repeat("]", 10000), true},
		{strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000), true},
		{strings.Repeat("[", 10001) + strings.Repeat("]", 10001), false},
		{strings.Repeat("[", 1_000_000), false},
		{strings.Repeat("[", 1_000_000) + strings.Repeat("]", 1_000_000), false},
		{strings.Repeat("]", 1_000_000), false},
	} {
		in := AppendEventOf(nil, "n", tt.args, "c", "s", 2, 1)
		got, err := ParseEvent(in)
		switch {
		case tt.ok && (err != nil || got.Args != tt.args):
			t.Errorf("args nested %d deep: %v", len(tt.args)/2, err)
		case !tt.ok && err == nil:
			t.Errorf("args %.20s… (%d bytes): no error", tt.args, len(tt.args))
		}
	}
}

// ParseEvent reads back the fields AppendEventOf wrote.
func TestParseEventRoundTrip(t *testing.T) {
	t.Parallel()
	strs := []string{"", "plain", "todoCreated-v1", `q"b\`, "\b\f\n\r\t", "\x00\x01\x1f\x7f", "<a>&\u2028\u2029", "ünï 🎉 é",
		"\uFFFD", "\\u0041", `{"name":"x"}`, `,"seqNum":1,`, strings.Repeat(`"`, 50)}
	args := []string{"", `{}`, `[]`, `null`, `true`, `false`, `0`, `-1.5e-7`, `"s"`, `"\"]}"`, ` [ 1 , 2 ] `, "\n{\"a\":\n[]}\t",
		`{"id":"t1","text":"héllo \"w\" \u00e9","completed":false}`, `[{"a":[{"b":"}]"}]}]`, `{"seqNum":1,"parentSeqNum":2}`}
	nums := []uint64{0, 1, 9, 10, 1 << 32, math.MaxUint64 - 1, math.MaxUint64}
	n := 0
	for i, name := range strs {
		for j, a := range args {
			want := Event{
				Name: name, Args: a, ClientID: strs[(i+j)%len(strs)], SessionID: strs[(i+2*j+1)%len(strs)],
				SeqNum: nums[(i+j)%len(nums)], ParentSeqNum: nums[j%len(nums)],
			}
			in := AppendEventOf(nil, want.Name, want.Args, want.ClientID, want.SessionID, want.SeqNum, want.ParentSeqNum)
			got, err := ParseEvent(in)
			if err != nil {
				t.Fatalf("ParseEvent(%q): %v", in, err)
			}
			if got != want {
				t.Fatalf("ParseEvent(%q) = %#v, want %#v", in, got, want)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no event")
	}
}

func BenchmarkParseEvent(b *testing.B) {
	in := AppendEventOf(nil, "benchEvent-v1", `{"id":"e-1","text":"Benchmark event number 1","completed":false}`,
		"loadgen-client", "loadgen-session", 12345, 12344)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEvent(in); err != nil {
			b.Fatal(err)
		}
	}
}
