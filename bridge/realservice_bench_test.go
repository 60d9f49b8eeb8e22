package bridge

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
)

// benchSocket is a raw LiveStore WebSocket client for benchmarks.
type benchSocket struct {
	ws *websocket.Conn
}

func dialBench(b *testing.B, url string) *benchSocket {
	b.Helper()
	ws, _, err := websocket.Dial(context.Background(), url, nil)
	if err != nil {
		b.Fatal(err)
	}
	ws.SetReadLimit(64 << 20)
	b.Cleanup(func() { ws.CloseNow() })
	return &benchSocket{ws: ws}
}

func (s *benchSocket) write(b *testing.B, frame string) {
	if err := s.ws.Write(context.Background(), websocket.MessageText, []byte(frame)); err != nil {
		b.Fatal(err)
	}
}

// awaitExit reads frames until the Exit of request id, failing on an Exit that is not a success.
func (s *benchSocket) awaitExit(b *testing.B, id string) {
	prefix := []byte(`{"_tag":"Exit","requestId":"` + id + `"`)
	for {
		_, data, err := s.ws.Read(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if bytes.HasPrefix(data, prefix) {
			if !bytes.Contains(data, []byte(`"_tag":"Success"`)) {
				b.Fatalf("request %s failed: %s", id, data)
			}
			return
		}
	}
}

// benchBatch returns the events seq from+1 … from+n as JSON, with args of a typical todo.
func benchBatch(from uint64, n int) []string {
	events := make([]string, n)
	for i := range events {
		seq := from + uint64(i) + 1
		events[i] = eventJSON(seq, fmt.Sprintf(`{"id":"todo-%d","text":"Todo number %d","completed":false}`, seq, seq))
	}
	return events
}

func newBenchServer(b *testing.B) *httptest.Server {
	_, br := newRealBridge(b)
	srv := httptest.NewServer(br)
	b.Cleanup(srv.Close)
	return srv
}

func wsURLOf(srv *httptest.Server, storeID string) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/?storeId=" + storeID + "&transport=ws"
}

// BenchmarkWebSocketPush measures pushes of 100 events over one WebSocket, each waiting for its
// acknowledgement (stored and synced to disk), as a LiveStore client pushes.
func BenchmarkWebSocketPush(b *testing.B) {
	srv := newBenchServer(b)
	s := dialBench(b, wsURLOf(srv, "bench-push"))
	const batch = 100
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprint(i)
		s.write(b, pushFrame(id, "", benchBatch(uint64(i*batch), batch)...))
		s.awaitExit(b, id)
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkWebSocketLiveFanout measures live delivery: one socket pushes 10 events at a time,
// subscribers sockets with a live pull each receive every event.
func BenchmarkWebSocketLiveFanout(b *testing.B) {
	for _, subscribers := range []int{10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", subscribers), func(b *testing.B) {
			srv := newBenchServer(b)
			store := fmt.Sprintf("bench-fanout-%d", subscribers)
			const batch = 10
			want := b.N * batch
			var ready, done sync.WaitGroup
			for range subscribers {
				s := dialBench(b, wsURLOf(srv, store))
				s.write(b, pullFrame("1", true, ""))
				ready.Add(1)
				done.Add(1)
				go func() {
					defer done.Done()
					got, first := 0, true
					for got < want {
						_, data, err := s.ws.Read(context.Background())
						if err != nil {
							b.Error(err)
							return
						}
						if first {
							s.ws.Write(context.Background(), websocket.MessageText, []byte(ackFrame("1")))
							ready.Done()
							first = false
						}
						got += bytes.Count(data, []byte(`"eventEncoded"`))
					}
				}()
			}
			ready.Wait()
			pusher := dialBench(b, wsURLOf(srv, store))
			b.ResetTimer()
			for i := range b.N {
				id := fmt.Sprint(i)
				pusher.write(b, pushFrame(id, "", benchBatch(uint64(i*batch), batch)...))
				pusher.awaitExit(b, id)
			}
			done.Wait()
			b.ReportMetric(float64(want*subscribers)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkWebSocketColdPull measures a pull of 10,000 stored events over one WebSocket, Acking
// every Chunk as LiveStore's client does.
func BenchmarkWebSocketColdPull(b *testing.B) {
	srv := newBenchServer(b)
	s := dialBench(b, wsURLOf(srv, "bench-pull"))
	const n, batch = 10_000, 100
	for i := range n / batch {
		id := fmt.Sprint(i)
		s.write(b, pushFrame(id, "", benchBatch(uint64(i*batch), batch)...))
		s.awaitExit(b, id)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprint(n + i)
		s.write(b, pullFrame(id, false, ""))
		chunk := []byte(`{"_tag":"Chunk","requestId":"` + id + `"`)
		got := 0
		for got < n {
			_, data, err := s.ws.Read(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if bytes.HasPrefix(data, chunk) {
				got += bytes.Count(data, []byte(`"eventEncoded"`))
				s.write(b, ackFrame(id))
			}
		}
		s.awaitExit(b, id)
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}
