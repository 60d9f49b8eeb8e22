package bridge

import (
	"encoding/json"
	"maps"
	"testing"
)

var splitObjectCases = []struct {
	in string
	ok bool // false: splitObject leaves it to Unmarshal
}{
	{`{}`, true},
	{` { } `, true},
	{`{"a":1}`, true},
	{`{"a" : [1, {"b":"}"}] , "c":"x\"y" ,"d":null}`, true},
	{`{"a":1,"a":2}`, true}, // the last wins, as with Unmarshal
	{`{"_tag":"Request","id":"1","tag":"SyncWsRpc.Push","payload":{"batch":[{"name":"n","args":{"k":"]}"},"seqNum":1}]},"headers":[]}`, true},
	{"{\"a\":\"\xff\"}", true}, // a value's bytes are kept as they are, as Unmarshal keeps a RawMessage's
	{`{"a\"b":1}`, false},      // an escaped key
	{`{"é":1}`, false},         // a key above ASCII
	{`[1]`, false},
	{`"x"`, false},
	{`{"a":1}x`, false},                       // not valid JSON: callers check first, but splitObject does not take it
	{`{"payload":{"a":1},"payload":2}`, true}, // the last payload is no object: no inner split
	{`{"payload":{"a":1} , "payload" : {"b":[2]}}`, true}, // the last payload's members
	{`{"payload":{"a\"b":1},"x":[]}`, true},               // the payload's own split fails, the frame's does not
	{`{"payload":"{}"}`, true},
}

func TestSplitObject(t *testing.T) {
	t.Parallel()
	for _, tt := range splitObjectCases {
		got, ok := splitObject([]byte(tt.in))
		if ok != tt.ok {
			t.Errorf("splitObject(%q): ok = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal([]byte(tt.in), &want); err != nil {
			t.Fatalf("Unmarshal(%q): %v", tt.in, err)
		}
		if !sameMembers(got, want) {
			t.Errorf("splitObject(%q) = %q, Unmarshal: %q", tt.in, got, want)
		}
		checkSplitWith(t, []byte(tt.in), got)
	}
}

// checkSplitWith checks that splitObjectWith(data, "payload") gives the members splitObject
// gave, and the members splitObject gives of the payload (nil when it reports false).
func checkSplitWith(t *testing.T, data []byte, members map[string]json.RawMessage) {
	t.Helper()
	outer, inner, ok := splitObjectWith(data, "payload", nil)
	if !ok || !sameMembers(outer, members) {
		t.Fatalf("splitObjectWith(%q) = %q, %v; splitObject: %q", data, outer, ok, members)
	}
	want, ok := map[string]json.RawMessage(nil), false
	if p, has := members["payload"]; has {
		want, ok = splitObject(p)
	}
	if ok != (inner != nil) || !sameMembers(inner, want) {
		t.Fatalf("splitObjectWith(%q) split the payload into %q, splitObject: %q, %v", data, inner, want, ok)
	}
}

func sameMembers(a, b map[string]json.RawMessage) bool {
	return maps.EqualFunc(a, b, func(x, y json.RawMessage) bool { return string(x) == string(y) })
}

// FuzzSplitObject checks splitObject against json.Unmarshal into a map of raw values, on every
// valid JSON text it takes.
func FuzzSplitObject(f *testing.F) {
	for _, tt := range splitObjectCases {
		f.Add([]byte(tt.in))
	}
	for _, frame := range fuzzFrames {
		f.Add([]byte(frame))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		got, ok := splitObject(data)
		var want map[string]json.RawMessage
		err := json.Unmarshal(data, &want)
		switch {
		case !ok:
			return // left to Unmarshal
		case err != nil:
			t.Fatalf("splitObject took %q, Unmarshal refuses it: %v", data, err)
		case !sameMembers(got, want):
			t.Fatalf("splitObject(%q) = %q, Unmarshal: %q", data, got, want)
		}
		checkSplitWith(t, data, got)
	})
}
