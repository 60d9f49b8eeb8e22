package bridge

import (
	"context"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestWithRealService runs the main flows against the real service on a Pebble store in a
// temporary directory: push, paged pull, live pull with a push from another socket, interrupt,
// and the service closing under open sockets.
func TestWithRealService(t *testing.T) {
	t.Parallel()
	svc, b := newRealBridge(t)
	srv := httptest.NewServer(b)
	ts := &testServer{t: t, bridge: b, srv: srv}
	closed := false
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("bridge shutdown: %v", err)
		}
		srv.Close()
		if !closed {
			_ = svc.Close()
		}
	})

	a := ts.dial("real-store", false)
	c := ts.dial("real-store", false)
	var events []string
	for i := uint64(1); i <= 150; i++ {
		events = append(events, eventJSON(i, fmt.Sprintf(`{"id":"todo-%d","text":"Todo number %d","completed":false}`, i, i)))
	}
	a.send(pushFrame("0", "", events...))
	a.expect(fmt.Sprintf(exitPush, "0"))

	// Paged backlog: 100 + 50 events.
	a.send(pullFrame("1", false, ""))
	first := a.next()
	if seqs, page := chunkSeqNums(t, first, "1"); len(seqs) != 100 || page != "MoreKnown" {
		t.Fatalf("first page: %d events, %s", len(seqs), page)
	}
	if !regexp.MustCompile(`"metadata":\{"_tag":"Some","value":\{"_tag":"SyncMessage.SyncMetadata","createdAt":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"\}\}`).MatchString(first) {
		t.Errorf("no createdAt metadata: %.300s", first)
	}
	backendID := regexp.MustCompile(`"backendId":"([A-Za-z0-9_-]{21})"`).FindStringSubmatch(first)
	if backendID == nil {
		t.Fatalf("no backend id: %.300s", first[len(first)-200:])
	}
	// The second page comes within the Ack window (PROTOCOL §5.3); the Exit waits for both Acks.
	if seqs, page := chunkSeqNums(t, a.next(), "1"); len(seqs) != 50 || page != "NoMore" {
		t.Fatalf("second page: %d events, %s", len(seqs), page)
	}
	a.send(ackFrame("1"))
	a.ping() // one Ack is missing: the Pong comes first
	a.send(ackFrame("1"))
	a.expect(fmt.Sprintf(exitStream, "1"))

	// Live pull from the head; a push from the other socket arrives without an Ack.
	a.send(pullFrame("2", true, fmt.Sprintf(`{"_tag":"Some","value":{"backendId":%q,"eventSequenceNumber":150}}`, backendID[1])))
	a.expect(fmt.Sprintf(`{"_tag":"Chunk","requestId":"2","values":[{"batch":[],"pageInfo":{"_tag":"NoMore"},"backendId":%q}]}`, backendID[1]))
	a.send(ackFrame("2"))
	for i := uint64(151); i <= 152; i++ {
		c.send(pushFrame(fmt.Sprint(i), backendID[1], eventJSON(i, `{}`)))
		c.expect(fmt.Sprintf(exitPush, fmt.Sprint(i)))
		if seqs, _ := chunkSeqNums(t, a.next(), "2"); fmt.Sprint(seqs) != fmt.Sprintf("[%d]", i) {
			t.Fatalf("live page %v", seqs)
		}
	}

	// Typed errors.
	c.send(pushFrame("9", "", eventJSON(5, `{}`)))
	c.expect(`{"_tag":"Exit","requestId":"9","exit":{"_tag":"Failure","cause":{"_tag":"Fail","error":{"minimumExpectedNum":152,"providedNum":4,"_tag":"ServerAheadError"}}}}`)
	c.send(pullFrame("10", false, `{"_tag":"Some","value":{"backendId":"stale","eventSequenceNumber":1}}`))
	c.expect(fmt.Sprintf(`{"_tag":"Exit","requestId":"10","exit":{"_tag":"Failure","cause":{"_tag":"Fail","error":{"expected":%q,"received":"stale","_tag":"BackendIdMismatchError"}}}}`, backendID[1]))

	// Interrupt, then the service closing ends the sockets with 1012.
	a.send(`{"_tag":"Interrupt","requestId":"2"}`)
	a.expect(`{"_tag":"Exit","requestId":"2","exit":{"_tag":"Failure","cause":{"_tag":"Interrupt","fiberId":{"_tag":"Runtime","id":-499,"startTimeMillis":0}}}}`)
	a.send(pullFrame("3", true, ""))
	for {
		f := a.next()
		if strings.Contains(f, `"pageInfo":{"_tag":"NoMore"}`) {
			a.send(ackFrame("3"))
			break
		}
		a.send(ackFrame("3"))
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if ce := a.closeError(5 * time.Second); ce.Code != websocket.StatusServiceRestart {
		t.Fatalf("close %v", ce)
	}
}
