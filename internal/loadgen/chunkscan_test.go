package loadgen

import (
	"encoding/json"
	"reflect"
	"testing"
)

// chunkFrames are Chunks as servers write them, and variations a walker could trip on.
var chunkFrames = []string{
	`{"_tag":"Chunk","requestId":"3","values":[{"batch":[],"pageInfo":{"_tag":"NoMore"},"backendId":"QdPJZDWkF6IRbXvDi7QXh"}]}`,
	`{"_tag":"Chunk","requestId":"12","values":[{"batch":[{"eventEncoded":{"name":"todoCreated-v1","args":{"id":"t1","text":"Buy \"milk\" \\ \u00e9 [{"},"seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"},"metadata":{"_tag":"Some","value":{"_tag":"SyncMessage.SyncMetadata","createdAt":"2026-11-25T10:00:00.000Z"}}},{"eventEncoded":{"name":"x","args":[1,-2.5e3,true,null,{"seqNum":99}],"seqNum":2,"parentSeqNum":1,"clientId":"c","sessionId":"s"},"metadata":{"_tag":"None"}}],"pageInfo":{"_tag":"MoreKnown","remaining":250},"backendId":"QdPJZDWkF6IRbXvDi7QXh"}]}`,
	// Keys in another order, whitespace, an event without args, an unknown key.
	" {\n \"values\" : [ { \"backendId\" : \"b\" , \"pageInfo\" : { \"remaining\" : 7 , \"_tag\" : \"MoreKnown\" } , \"batch\" : [ { \"metadata\" : {} , \"eventEncoded\" : { \"seqNum\" : 18446744073709551615 , \"parentSeqNum\" : 0 } } ] } ] , \"requestId\" : \"1\" , \"extra\" : [[{}],\"]\"] , \"_tag\" : \"Chunk\" } ",
	// Several PullResponses.
	`{"_tag":"Chunk","requestId":"5","values":[{"batch":[{"eventEncoded":{"seqNum":1,"parentSeqNum":0}}],"pageInfo":{"_tag":"NoMore"},"backendId":"b"},{"batch":[{"eventEncoded":{"seqNum":2,"parentSeqNum":1}}],"pageInfo":{"_tag":"NoMore"},"backendId":"b"}]}`,
}

// notScanned are frames the walker leaves to encoding/json.
var notScanned = []string{
	`{"_tag":"Exit","requestId":"1","exit":{"_tag":"Success"}}`,
	`{"_tag":"Pong"}`,
	`{"_tag":"Chunk","requestId":"1\u0031","values":[]}`,                                                       // escape in a read string
	`{"_tag":"Chunk","requestId":"1","values":[{"batch":[{"eventEncoded":{"seqNum":1.0}}]}]}`,                  // not an integer
	`{"_tag":"Chunk","requestId":"1","values":[{"batch":[{"eventEncoded":{"seqNum":18446744073709551616}}]}]}`, // too large
	`{"_tag":"Chunk","requestId":"1","values":[{"batch":[{"eventEncoded":{"seqNum":01}}]}]}`,
	`{"_tag":"Chunk","requestId":"1","values":[{"batch":[{"eventEncoded":{"seqNum":-1}}]}]}`,
	`{"_tag":"Chunk","requestId":"1","values":[]} x`,
	`{"_tag":"Chunk","requestId":"1","values":[}`,
	`{"_tag":"Chunk","requestId":"1","values":[{"batch":[{"eventEncoded":{"args":{]}}}]}]}`,
	`{"_tag":"Chunk","requestId":"1","values":null}`,
	``,
}

func TestScanChunkMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, f := range chunkFrames {
		var scanned, want serverMsg
		if !scanChunk([]byte(f), &scanned) {
			t.Errorf("not scanned: %s", f)
			continue
		}
		if err := json.Unmarshal([]byte(f), &want); err != nil {
			t.Fatalf("test frame not JSON: %v: %s", err, f)
		}
		if !sameMsg(&scanned, &want) {
			t.Errorf("frame %s\nscanned %+v\n   json %+v", f, scanned, want)
		}
	}
}

func TestScanChunkLeavesTheRestToEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, f := range notScanned {
		var m serverMsg
		if scanChunk([]byte(f), &m) {
			t.Errorf("scanned: %s", f)
		}
	}
	var m serverMsg
	if err := decodeServerMsg([]byte(notScanned[0]), &m); err != nil || m.Tag != "Exit" || m.Exit.err() != nil {
		t.Fatalf("Exit through encoding/json: %+v, %v", m, err)
	}
}

// TestScanChunkReusesMessages: decoding into the previous frame's message leaves nothing of it.
func TestScanChunkReusesMessages(t *testing.T) {
	t.Parallel()
	var m serverMsg
	for _, f := range []string{chunkFrames[3], chunkFrames[1], notScanned[0], chunkFrames[0]} {
		var want serverMsg
		_ = json.Unmarshal([]byte(f), &want)
		if err := decodeServerMsg([]byte(f), &m); err != nil || !sameMsg(&m, &want) {
			t.Fatalf("frame %s\ndecoded %+v (%v)\n   want %+v", f, m, err, want)
		}
	}
}

// sameMsg compares messages, taking empty and nil slices as the same.
func sameMsg(a, b *serverMsg) bool {
	norm := func(m *serverMsg) serverMsg {
		c := *m
		c.Values = nil
		for _, v := range m.Values {
			if len(v.Batch) == 0 {
				v.Batch = nil
			}
			c.Values = append(c.Values, v)
		}
		return c
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// FuzzScanChunk: whatever a server sends, the walker does not panic, and what it decodes from
// valid JSON is what encoding/json decodes.
func FuzzScanChunk(f *testing.F) {
	for _, s := range chunkFrames {
		f.Add([]byte(s))
	}
	for _, s := range notScanned {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m serverMsg
		if !scanChunk(data, &m) || !json.Valid(data) {
			return
		}
		var want serverMsg
		if err := json.Unmarshal(data, &want); err != nil {
			// Valid JSON of other types (a string where a number is read, say) is left to
			// encoding/json's error; the walker must not accept it either.
			t.Fatalf("scanned a frame encoding/json refuses (%v): %q", err, data)
		}
		if !sameMsg(&m, &want) {
			t.Fatalf("frame %q\nscanned %+v\n   json %+v", data, m, want)
		}
	})
}
