package bridge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2/vfs"
	"google.golang.org/protobuf/proto"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
)

// Fuzz targets of the parsers of what clients send: WebSocket frames and HTTP transport bodies
// (decodeClientMessage, decodeRequest), sync URLs (matchSyncRequest), and the HTTP transport end
// to end over the real service. Run one with
//
//	go test -run '^$' -fuzz '^FuzzDecodeClientMessage$' -fuzztime 30s ./bridge/
//
// (make fuzz runs each for a few seconds). Besides f.Add seeds, each reads the client frames and
// bodies of the captured transcripts (testdata/transcripts, testdata/http) as seeds, and
// testdata/fuzz/<target>/ holds committed seeds of hostile inputs.

// Seeds from transcripts are kept few, as every seed costs time before a fuzz run mutates
// anything: messages over maxSeedBytes (batches of 100 events, like the smaller ones) are left
// out, and of messages with the same seedShape only the first is kept.
const maxSeedBytes = 4 << 10

var shapeBlanks = []*regexp.Regexp{
	regexp.MustCompile(`[0-9a-f]{16,}`),    // trace and span ids
	regexp.MustCompile(`store-[a-z0-9-]+`), // the scenarios' store ids
	regexp.MustCompile(`[0-9]+`),           // request ids, sequence numbers, todo numbers
}

// seedShape is msg with its ids and numbers blanked.
func seedShape(msg string) string {
	for _, re := range shapeBlanks {
		msg = re.ReplaceAllString(msg, "0")
	}
	return msg
}

// transcriptClientMessages returns the client messages of the captured transcripts (the client
// frames of testdata/transcripts and the request bodies of testdata/http), one per seedShape.
func transcriptClientMessages(tb testing.TB) [][]byte {
	tb.Helper()
	seen := map[string]bool{}
	var msgs [][]byte
	for _, pattern := range []string{"testdata/transcripts/*.jsonl", "testdata/http/*.jsonl"} {
		files, err := filepath.Glob(pattern)
		if err != nil || len(files) == 0 {
			tb.Fatalf("no transcripts %s: %v", pattern, err)
		}
		for _, file := range files {
			forEachJSONLine(tb, file, func(line []byte) {
				var rec struct {
					Dir  string  `json:"dir"`
					Text *string `json:"text"`
					Body *string `json:"body"`
				}
				if err := json.Unmarshal(line, &rec); err != nil {
					tb.Fatalf("%s: %v", file, err)
				}
				msg := rec.Body
				if rec.Text != nil && rec.Dir == "c" {
					msg = rec.Text
				}
				if msg == nil || *msg == "" || len(*msg) > maxSeedBytes || seen[seedShape(*msg)] {
					return
				}
				seen[seedShape(*msg)] = true
				msgs = append(msgs, []byte(*msg))
			})
		}
	}
	return msgs
}

// transcriptQueries returns the distinct query strings of the requests of testdata/http.
func transcriptQueries(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob("testdata/http/*.jsonl")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no HTTP transcripts: %v", err)
	}
	seen := map[string]bool{}
	var queries []string
	for _, file := range files {
		forEachJSONLine(tb, file, func(line []byte) {
			var rec struct {
				URL string `json:"url"`
			}
			if err := json.Unmarshal(line, &rec); err != nil {
				tb.Fatalf("%s: %v", file, err)
			}
			u, err := url.Parse(rec.URL)
			if err != nil {
				tb.Fatalf("%s: %v", file, err)
			}
			if !seen[u.RawQuery] {
				seen[u.RawQuery] = true
				queries = append(queries, u.RawQuery)
			}
		})
	}
	return queries
}

func forEachJSONLine(tb testing.TB, file string, fn func(line []byte)) {
	tb.Helper()
	fh, err := os.Open(file)
	if err != nil {
		tb.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 8<<20)
	for sc.Scan() {
		fn(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
}

// canonicalID matches a request id in canonical decimal form.
var canonicalID = regexp.MustCompile(`^(0|-?[1-9][0-9]*)$`)

// fuzzFrames are hand-written seeds of the message decoders, next to the transcripts'.
var fuzzFrames = []string{
	`{"_tag":"Ping"}`,
	`{"_tag":"Eof"}`,
	`{"_tag":"Ack","requestId":"0077"}`,
	`{"_tag":"Interrupt","requestId":-0}`,
	`{"_tag":"Request","id":"-00","tag":"SyncWsRpc.Pull","payload":{"storeId":"x","live":false,"cursor":{"_tag":"None"}}}`,
	`{"_tag":"Request","id":"1","tag":"SyncHttpRpc.Pull","payload":{"storeId":"x","cursor":{"_tag":"Some","value":{"backendId":"b","eventSequenceNumber":1e3}}}}`,
	`{"_tag":"Request","id":"2","tag":"SyncHttpRpc.Ping","payload":{"storeId":"x","payload":{"token":[1,2,3]}}}`,
	`{"_tag":"Request","id":"3","tag":"SyncWsRpc.Push","payload":{"storeId":"x","batch":[{"name":"n","args":{"a":1},"seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}],"backendId":{"_tag":"Some","value":"b"}}}`,
	`{"_tag":"Request","id":"4","tag":"SyncHttpRpc.Push","payload":{"storeId":"x","batch":[null,1,"e"],"backendId":{"_tag":"None"}}}`,
	`{"_tag":"Request","id":"5","tag":{"not":"a string"},"payload":null}`,
	`{"_tag":"Request","id":"99999999999999999999999999999999999999999999999999999999999999999","tag":"SyncWsRpc.Pull"}`,
	`{"_tag":"Request","id":"6","tag":"SyncWsRpc.Push","payload":{"storeId":"x","batch":[{"name":"ééééééééééééééééééééééééééééééééééééé","seqNum":"1"}],"backendId":{"_tag":"None"}}}`,
	`{"_tag":"Request","id":"7","tag":"SyncWsRpc.Pull","payload":{"storeId":"x","live":true,"cursor":{"_tag":"Some","value":{"backendId":"b","eventSequenceNumber":18446744073709551616}}}}`,
	`{"_tag":"Request","_tag":"Ping"}`,
	`{"_tag":"Request","id":"8","traceId":"dd54262ff770c203fbc544745efccafd","spanId":"ed3b35ac0eec0e6f","sampled":true,"tag":"SyncWsRpc.Push"}`,
	`[{"_tag":"Ping"}]`, `"Ping"`, `null`, `{}`, ``, `{`, `this is not json`, `{"_tag":"Ping"} {}`,
	"{\"_tag\":\"\xff\xfe\"}",
	"{\"_tag\":\"Request\",\"id\":\"9\",\"tag\":\"SyncWsRpc.Push\",\"payload\":{\"storeId\":\"x\",\"batch\":[{\"name\":\"\xff\",\"args\":\"\xff\xfe\",\"seqNum\":1,\"parentSeqNum\":0,\"clientId\":\"c\",\"sessionId\":\"s\"}],\"backendId\":{\"_tag\":\"None\"}}}",
}

// FuzzDecodeClientMessage decodes a frame as both transports do (decodeClientMessage, then
// decodeRequest of the WebSocket and the HTTP RPC group for a Request) and checks:
//
//   - the frame is answered with a SyntaxError Defect exactly when it is not JSON;
//   - every reply the bridge would send (the Defect, the Defect for an unknown tag, the reply of
//     decodeRequest) is valid JSON, and valid UTF-8 whenever the frame is;
//   - request ids are "" or canonical decimal;
//   - a Request either decodes to exactly one of pull, push and ping, matching its RPC tag, with
//     the URL's store id and the request's canonical id (a pull over HTTP never live), or gets a
//     reply and a reason for the log.
//
// Frames that are not valid UTF-8 never reach the decoder from a socket (the read loop closes
// the socket with 1007) nor from an HTTP body (400), so replies need be UTF-8 only for UTF-8
// frames.
func FuzzDecodeClientMessage(f *testing.F) {
	for _, msg := range transcriptClientMessages(f) {
		f.Add(msg, "store-from-url")
	}
	for _, frame := range fuzzFrames {
		f.Add([]byte(frame), "s")
	}
	f.Add([]byte(fuzzFrames[4]), "")
	f.Add([]byte(fuzzFrames[4]), "\xff\xfe")
	f.Fuzz(func(t *testing.T, frame []byte, storeID string) {
		validUTF8 := utf8.Valid(frame)
		checkReply := func(what string, reply []byte) {
			t.Helper()
			if !json.Valid(reply) {
				t.Fatalf("%s is not JSON: %q", what, reply)
			}
			if validUTF8 && !utf8.Valid(reply) {
				t.Fatalf("%s of a valid UTF-8 frame is not valid UTF-8: %q", what, reply)
			}
		}
		m, d := decodeClientMessage(frame)
		// The fast path must agree with the general decoder on every frame it takes.
		switch kind, id := decodeFastFrame(frame); kind {
		case fastPing:
			if d != nil || m.Tag != tagPing {
				t.Fatalf("decodeFastFrame: Ping, decodeClientMessage: %+v, %v", m, d)
			}
		case fastAck:
			if d != nil || m.Tag != tagAck || m.ID != string(id) {
				t.Fatalf("decodeFastFrame: Ack of %q, decodeClientMessage: %+v, %v", id, m, d)
			}
		}
		checkFastBatch(t, m)
		if (d != nil) != !json.Valid(frame) {
			t.Fatalf("decodeClientMessage defect %v for a frame that is JSON: %v", d, json.Valid(frame))
		}
		if d != nil {
			checkReply("Defect", appendDefectMessage(nil, *d))
			return
		}
		if m.ID != "" && !canonicalID.MatchString(m.ID) {
			t.Fatalf("request id %q is not canonical", m.ID)
		}
		switch m.Tag {
		case tagPing, tagEof, tagAck, tagInterrupt:
			return
		case tagRequest:
		default:
			checkReply("Unknown request tag Defect", appendDefectMessage(nil, defect{Message: "Unknown request tag: " + m.Tag}))
			return
		}
		for _, g := range []struct {
			rpcGroup
			sr syncQuery
		}{
			{wsRPCs, syncQuery{StoreID: storeID, Transport: transportWS}},
			{httpRPCs, syncQuery{StoreID: storeID, Transport: transportHTTP, Payload: json.RawMessage(`{"authToken":"from-url"}`)}},
		} {
			call, reply, reason := decodeRequest(m, g.sr, g.rpcGroup)
			if reply != nil {
				checkReply(string(g.sr.Transport)+" reply", reply)
				if reason == "" || call.pull != nil || call.push != nil || call.ping != nil {
					t.Fatalf("%s: reply %s with reason %q and call %+v", g.sr.Transport, reply, reason, call)
				}
				continue
			}
			if call.id != m.ID || !canonicalID.MatchString(call.id) || call.rpc != m.RPC {
				t.Fatalf("%s: call id %q, rpc %q for request id %q, tag %q", g.sr.Transport, call.id, call.rpc, m.ID, m.RPC)
			}
			var set int
			var storeIDs []string
			if call.pull != nil {
				set++
				storeIDs = append(storeIDs, call.pull.GetStoreId())
				if m.RPC != g.pull || (!g.pullLive && call.pull.GetLive()) {
					t.Fatalf("%s: %s decoded as a pull (live %v)", g.sr.Transport, m.RPC, call.pull.GetLive())
				}
			}
			if call.push != nil {
				set++
				storeIDs = append(storeIDs, call.push.GetStoreId())
				if m.RPC != g.push {
					t.Fatalf("%s: %s decoded as a push", g.sr.Transport, m.RPC)
				}
			}
			if call.ping != nil {
				set++
				storeIDs = append(storeIDs, call.ping.GetStoreId())
				if m.RPC != g.ping {
					t.Fatalf("%s: %s decoded as a ping", g.sr.Transport, m.RPC)
				}
			}
			if set != 1 || storeIDs[0] != storeID {
				t.Fatalf("%s: %d of pull, push and ping set, store ids %q, want 1 for the URL's %q", g.sr.Transport, set, storeIDs, storeID)
			}
		}
	})
}

// FuzzMatchSyncRequest checks matchSyncRequest against url.ParseQuery: a query matches exactly
// when it has storeId once, transport once and "ws" or "http", and payload at most once, whose
// value or its percent-decoding is JSON; the match has that store id and transport, and its
// payload, when present, is valid JSON and valid UTF-8, and converts to a client payload value
// without panicking. MatchSyncRequest agrees with it.
//
// A store id that is not UTF-8 (a percent-encoded "%ff") matches: the service refuses it when
// the connection is validated, before the upgrade or the body.
func FuzzMatchSyncRequest(f *testing.F) {
	for _, q := range transcriptQueries(f) {
		f.Add(q)
	}
	for _, q := range []string{
		"storeId=s&transport=ws", "transport=http&storeId=s", "storeId=&transport=ws",
		"storeId=a%20b%2Bc+d&transport=ws", "storeId=s&transport=ws&payload=%7B%22a%22%3A1%7D",
		"storeId=s&transport=ws&payload=%257B%2522a%2522%253A%2522100%2525%2522%257D",
		"storeId=s&transport=ws&payload=%7B%22a%22%3A%22100%25%22%7D", "storeId=s&transport=ws&payload=42",
		"storeId=s&transport=ws&payload=notjson", "storeId=s&transport=ws&payload=", "storeId=s&transport=ws&payload=1&payload=2",
		"storeId=s&transport=HTTP", "storeId=s", "storeId=a&storeId=b&transport=ws", "storeId=s;transport=ws",
		"storeId=%ff%fe&transport=ws", "storeId=s&transport=http&payload=%22%ff%22", "storeId=s&transport=http&payload=%2522%25ff%2522",
		"storeId=s&transport=ws&payload=%zz", "storeId=s&transport=ws&payload=" + strings.Repeat("%5B", 10001) + strings.Repeat("%5D", 10001),
		"storeId=s&transport=ws&payload=1e999999", "storeId=s%00&transport=ws\x00", "",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		sr, ok := matchSyncRequest(rawQuery)
		q, _ := url.ParseQuery(rawQuery)
		shape := len(q["storeId"]) == 1 && len(q["transport"]) == 1 && (q.Get("transport") == "ws" || q.Get("transport") == "http") &&
			len(q["payload"]) <= 1
		if !ok {
			if shape && len(q["payload"]) == 1 {
				p := q.Get("payload")
				if d, err := url.PathUnescape(p); (err == nil && utf8.ValidString(d) && json.Valid([]byte(d))) || (utf8.ValidString(p) && json.Valid([]byte(p))) {
					t.Fatalf("%q does not match, but its payload %q is JSON", rawQuery, p)
				}
			} else if shape {
				t.Fatalf("%q does not match", rawQuery)
			}
		} else {
			if !shape || sr.StoreID != q.Get("storeId") || string(sr.Transport) != q.Get("transport") {
				t.Fatalf("%q matches as %+v", rawQuery, sr)
			}
			if (sr.Payload != nil) != (len(q["payload"]) == 1) {
				t.Fatalf("%q matches with payload %q", rawQuery, sr.Payload)
			}
			if sr.Payload != nil {
				if !json.Valid(sr.Payload) || !utf8.Valid(sr.Payload) {
					t.Fatalf("%q matches with payload %q: not valid JSON and UTF-8", rawQuery, sr.Payload)
				}
				_ = clientPayloadValue(nil, sr.Payload)
			}
		}
		pub, pubOK := MatchSyncRequest(&http.Request{URL: &url.URL{RawQuery: rawQuery}})
		if pubOK != ok || pub.StoreID != sr.StoreID || pub.Transport != string(sr.Transport) || !bytes.Equal(pub.Payload, sr.Payload) {
			t.Fatalf("MatchSyncRequest(%q) = %+v, %v; matchSyncRequest = %+v, %v", rawQuery, pub, pubOK, sr, ok)
		}
	})
}

// fuzzHTTPTarget is the URL of FuzzServeHTTP's requests.
const fuzzHTTPTarget = "/?storeId=s&transport=http"

// newFuzzBridge returns a Bridge over the real service, over Pebble on an in-memory file system,
// closed when the fuzz target ends. Its stores' backend id is "fuzz-backend", and its pulls take
// pages of 7 events, so that a pull takes several Chunks.
func newFuzzBridge(f *testing.F) (*service.Service, *Bridge) {
	f.Helper()
	engine, err := pebblestore.Open("/data", pebblestore.Options{FS: vfs.NewMem()})
	if err != nil {
		f.Fatal(err)
	}
	svc, err := service.New(engine, service.Options{
		Limits:       service.Limits{PageEvents: 7},
		NewBackendID: func() string { return "fuzz-backend" },
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { svc.Close() })
	return svc, New(svc, Options{Logger: slog.New(slog.DiscardHandler)})
}

// FuzzServeHTTP sends the fuzzed body through ServeHTTP as an HTTP transport request to the
// real service, then pulls the store's events with a valid request, and deletes the store.
// Neither answer is ever 5xx (the body is under HTTPBodyLimit); both are a JSON array of
// messages, valid UTF-8 whenever the body is; the pull ends with a successful Exit.
//
// Every answer is valid UTF-8, whatever the body: one that is not UTF-8 is refused before it is
// decoded, so nothing of it is echoed.
func FuzzServeHTTP(f *testing.F) {
	svc, b := newFuzzBridge(f)
	for _, msg := range transcriptClientMessages(f) {
		f.Add(msg)
	}
	for _, frame := range fuzzFrames {
		f.Add([]byte(frame))
	}
	pull := httpPull("0", "")
	f.Fuzz(func(t *testing.T, body []byte) {
		defer func() {
			if err := svc.DeleteStore(context.Background(), "s"); err != nil && !errors.Is(err, service.ErrStoreNotFound) {
				t.Fatalf("DeleteStore: %v", err)
			}
		}()
		if int64(len(body)) > DefaultHTTPBodyLimit {
			return
		}
		for _, req := range []struct {
			what string
			body []byte
		}{{"fuzzed request", body}, {"pull", []byte(pull)}} {
			rec := httptest.NewRecorder()
			b.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, fuzzHTTPTarget, bytes.NewReader(req.body)))
			res := rec.Result()
			out := rec.Body.Bytes()
			if res.StatusCode >= 500 {
				t.Fatalf("%s: status %d: %s", req.what, res.StatusCode, out)
			}
			var msgs []map[string]json.RawMessage
			if ct := res.Header.Get("Content-Type"); ct != "application/json" || !json.Valid(out) || json.Unmarshal(out, &msgs) != nil {
				t.Fatalf("%s: status %d, %s: not a JSON array of messages: %q", req.what, res.StatusCode, ct, out)
			}
			if !utf8.Valid(out) {
				t.Fatalf("%s: answer is not valid UTF-8: %q", req.what, out)
			}
			if req.what == "pull" {
				if len(msgs) == 0 || string(msgs[len(msgs)-1]["_tag"]) != `"Exit"` ||
					!strings.HasPrefix(string(msgs[len(msgs)-1]["exit"]), `{"_tag":"Success"`) {
					t.Fatalf("pull after the fuzzed request: %s", out)
				}
			}
		}
	})
}

// checkFastBatch checks that decodeBatchFast, when it takes the batch of a Push request m,
// decodes it as the general decoder does, and so does the frame's own decoding of it
// (clientMessage.Batch), which is set only for batches decodeBatchFast takes.
func checkFastBatch(t *testing.T, m clientMessage) {
	t.Helper()
	var payload map[string]json.RawMessage // exact keys, the last of duplicates
	if m.Tag != tagRequest || json.Unmarshal(m.Payload, &payload) != nil || len(payload["batch"]) == 0 {
		if m.Batch != nil {
			t.Fatalf("a batch decoded with a frame whose payload has none: %s", m.Payload)
		}
		return
	}
	batch := payload["batch"]
	fast, ok := decodeBatchFast(batch)
	if !ok {
		if m.Batch != nil {
			t.Fatalf("a batch decoded with the frame that decodeBatchFast refuses: %s", batch)
		}
		return
	}
	general, perr := decodeBatchGeneral(batch)
	if perr != nil {
		t.Fatalf("decodeBatchFast took a batch the general decoder refuses (%v): %s", perr, batch)
	}
	for what, events := range map[string][]*syncv1.Event{"decodeBatchFast": fast, "the frame's decoding": m.Batch} {
		if events == nil && what != "decodeBatchFast" {
			continue // not decoded with the frame (its payload was not split with it)
		}
		if len(events) != len(general) {
			t.Fatalf("%s: %d events, general: %d", what, len(events), len(general))
		}
		for i := range events {
			if !proto.Equal(events[i], general[i]) {
				t.Fatalf("event %d: %s %v, general %v", i, what, events[i], general[i])
			}
		}
	}
}
