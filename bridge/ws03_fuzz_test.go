package bridge

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeMessage03 fuzzes the decoder of LiveStore 0.3's client frames (decodeMessage03) and
// the frames that answer it: it never panics; a frame is either a message or an error; the
// answer to an error that names a request id is valid JSON carrying that id; a decoded PushReq's
// events are in the order and with the seqNums of the frame. Seeds: f.Add below, the client
// frames of testdata/transcripts03 (up to maxSeedBytes, one per shape) and testdata/fuzz.
//
//	go test -run '^$' -fuzz '^FuzzDecodeMessage03$' -fuzztime 30s ./bridge/
func FuzzDecodeMessage03(f *testing.F) {
	for _, s := range []string{
		`{"_tag":"WSMessage.Ping","requestId":"ping"}`,
		`{"requestId":"ping","_tag":"WSMessage.Ping"}`,
		`{"_tag":"WSMessage.PullReq","requestId":"a"}`,
		`{"_tag":"WSMessage.PullReq","requestId":"a","cursor":1e3}`,
		`{"_tag":"WSMessage.PullReq","requestId":"a","cursor":-0}`,
		`{"_tag":"WSMessage.PushReq","requestId":"a","batch":[{"name":"n","args":{"x":"\u2028"},"seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}]}`,
		`{"_tag":"WSMessage.PushReq","requestId":"a","batch":[null]}`,
		`{"_tag":"WSMessage.AdminInfoReq","requestId":"a","adminSecret":"x"}`,
		`{"_tag":"WSMessage.AdminResetRoomReq","requestId":"a"}`,
		`{"_tag":1,"requestId":"a"}`,
		`{"_tag":"WSMessage.Nope","requestId":"\ud800"}`,
		`null`, `[]`, `"x"`, ``,
	} {
		f.Add([]byte(s))
	}
	for _, m := range transcript03ClientFrames(f) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, derr := decodeMessage03(data)
		if derr != nil {
			if m.Tag != "" {
				t.Fatalf("an error and a message: %+v", m)
			}
			if derr.HasID {
				frame := error03(derr.RequestID, derr.Msg)
				var back struct{ RequestID, Message string }
				if !json.Valid(frame) || json.Unmarshal(frame, &back) != nil {
					t.Fatalf("Error frame is not JSON: %q", frame)
				}
				if utf8.ValidString(derr.RequestID) && back.RequestID != derr.RequestID {
					t.Fatalf("Error frame's requestId %q, want %q", back.RequestID, derr.RequestID)
				}
			}
			return
		}
		switch m.Tag {
		case tag03Ping, tag03PullReq, tag03PushReq, tag03AdminInfoReq, tag03AdminResetReq:
		default:
			t.Fatalf("decoded an unknown tag %q", m.Tag)
		}
		if m.Tag == tag03PushReq {
			var raw struct {
				Batch []struct{ SeqNum json.Number }
			}
			if err := json.Unmarshal(data, &raw); err == nil && len(raw.Batch) != len(m.Batch) {
				t.Fatalf("%d events decoded from %d", len(m.Batch), len(raw.Batch))
			}
		}
		if m.Tag == tag03PushReq || m.Tag == tag03PullReq {
			if !json.Valid(pushAck03(m.RequestID)) {
				t.Fatalf("PushAck is not JSON for requestId %q", m.RequestID)
			}
		}
	})
}

var transcript03FrameRE = regexp.MustCompile(`(?m)^\s+[\d.]+ C->S (.*)$`)

// transcript03ClientFrames returns the client frames of testdata/transcripts03, one per
// seedShape, each at most maxSeedBytes (shortened frames of the transcripts are left out).
func transcript03ClientFrames(tb testing.TB) [][]byte {
	tb.Helper()
	files, err := filepath.Glob("testdata/transcripts03/*.txt")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no 0.3 transcripts: %v", err)
	}
	seen := map[string]bool{}
	var out [][]byte
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, m := range transcript03FrameRE.FindAllSubmatch(text, -1) {
			frame := m[1]
			if len(frame) > maxSeedBytes || !json.Valid(frame) {
				continue
			}
			if shape := seedShape(string(frame)); !seen[shape] {
				seen[shape] = true
				out = append(out, frame)
			}
		}
	}
	return out
}

// FuzzMatchSyncRequest03 fuzzes the recognition of LiveStore 0.3 sync URLs: it never panics, and a
// match has exactly one storeId, no transport, a path ending in /websocket and a JSON payload.
//
//	go test -run '^$' -fuzz '^FuzzMatchSyncRequest03$' -fuzztime 30s ./bridge/
func FuzzMatchSyncRequest03(f *testing.F) {
	for _, s := range [][2]string{
		{"/websocket", "storeId=a"},
		{"/a/b/websocket", "storeId=x+y%2F%C3%BC&payload=%257B%2522authToken%2522%253A%2522x%2522%257D"},
		{"/websocket", "storeId=a&payload=%7B%7D"},
		{"/websocket", "storeId=a&transport=ws"},
		{"/websocket", "storeId=a;storeId=b&payload=%25"},
		{"/websocket", "payload=null&storeId=%FF"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, path, query string) {
		sr, ok := matchSyncRequest03(path, query)
		if !ok {
			return
		}
		q, _ := url.ParseQuery(query)
		if len(q["storeId"]) != 1 || q.Has("transport") || !strings.HasSuffix(path, "/websocket") || sr.Transport != transportWS03 {
			t.Fatalf("matched %q ? %q: %+v", path, query, sr)
		}
		if sr.Payload != nil && !json.Valid(sr.Payload) {
			t.Fatalf("payload is not JSON: %q", sr.Payload)
		}
	})
}
