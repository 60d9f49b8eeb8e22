package bridge

import (
	"fmt"
	"strings"
	"testing"
)

// TestHTTPWithRealService runs ping, push, paged pull and the typed errors over the HTTP
// transport against the real service.
func TestHTTPWithRealService(t *testing.T) {
	t.Parallel()
	_, b := newRealBridge(t)

	if _, got := doHTTP(t, b, "POST", httpStore, nil, httpPing("0")); got != `[{"_tag":"Exit","requestId":"0","exit":{"_tag":"Success","value":{"_tag":"SyncMessage.Pong"}}}]` {
		t.Fatalf("ping: %s", got)
	}
	var events []string
	for i := uint64(1); i <= 250; i++ {
		events = append(events, eventJSON(i, fmt.Sprintf(`{"id":"todo-%d"}`, i)))
	}
	if _, got := doHTTP(t, b, "POST", httpStore, nil, httpPush("1", events...)); got != `[{"_tag":"Exit","requestId":"1","exit":{"_tag":"Success","value":{}}}]` {
		t.Fatalf("push: %s", got)
	}
	_, got := doHTTP(t, b, "POST", httpStore, map[string]string{"Accept-Encoding": "gzip"}, httpPull("2", ""))
	if n := strings.Count(got, `{"_tag":"Chunk","requestId":"2"`); n < 3 || !strings.HasSuffix(got, `{"_tag":"Exit","requestId":"2","exit":{"_tag":"Success"}}]`) || strings.Count(got, `"eventEncoded"`) != 250 {
		t.Fatalf("pull: %d chunks: %.200s … %s", n, got, got[max(0, len(got)-200):])
	}
	if _, got := doHTTP(t, b, "POST", httpStore, nil, httpPush("3", eventJSON(5, `{}`))); !strings.Contains(got, `"minimumExpectedNum":250,"providedNum":4,"_tag":"ServerAheadError"`) {
		t.Fatalf("server ahead: %s", got)
	}
	if _, got := doHTTP(t, b, "POST", httpStore, nil, httpPull("4", `{"_tag":"Some","value":{"backendId":"wrong","eventSequenceNumber":1}}`)); !strings.Contains(got, `"received":"wrong","_tag":"BackendIdMismatchError"`) {
		t.Fatalf("mismatch: %s", got)
	}
}
