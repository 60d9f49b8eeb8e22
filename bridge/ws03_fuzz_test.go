package bridge

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
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
