package bridge

import (
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
					c.out.written(f)
				}
			}
		})
	}
}
