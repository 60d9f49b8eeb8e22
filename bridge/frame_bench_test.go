package bridge

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkClientFrame measures the handling of the frames a LiveStore client sends most: an Ack
// of a Chunk of a running pull, and a Ping.
func BenchmarkClientFrame(b *testing.B) {
	for _, tc := range []struct{ name, frame string }{
		{"ack", ackFrame("12")},
		{"ping", `{"_tag":"Ping"}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := newConn(New(nil, Options{}), nil, syncQuery{StoreID: "s"}, nil)
			r := &request{id: "12", acks: make(chan struct{}, 1)}
			c.requests[r.id] = r
			c.out.stopped = true // no writer: the benchmark takes the frames itself
			data := []byte(tc.frame)
			b.ReportAllocs()
			for b.Loop() {
				c.handleFrame(data)
				select {
				case <-r.acks:
				default:
				}
				if f, ok := c.out.next(); ok {
					c.out.written(int64(f.size()))
				}
			}
		})
	}
}

// BenchmarkDecodePushFrame decodes a push of 100 events as LiveStore's client frames it: the
// frame's members, the payload's, and the batch.
func BenchmarkDecodePushFrame(b *testing.B) {
	var batch strings.Builder
	for i := 1; i <= 100; i++ {
		if i > 1 {
			batch.WriteByte(',')
		}
		fmt.Fprintf(&batch, `{"name":"todoCreated-v1","args":{"id":"todo-%d","text":"Todo number %d","completed":false},"seqNum":%d,"parentSeqNum":%d,"clientId":"client-a","sessionId":"session-a"}`, i, i, i, i-1)
	}
	frame := []byte(`{"_tag":"Request","id":"7","tag":"SyncWsRpc.Push","payload":{"storeId":"s","payload":{"_tag":"None"},"batch":[` +
		batch.String() + `],"backendId":{"_tag":"None"}},"headers":[]}`)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		m, d := decodeClientMessage(frame)
		if d != nil {
			b.Fatal(d)
		}
		call, reply := decodeWsRequest(m, syncQuery{StoreID: "s"})
		if reply != nil || len(call.push.GetBatch()) != 100 {
			b.Fatalf("%s %v", reply, call.push)
		}
	}
}
