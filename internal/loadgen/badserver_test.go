package loadgen_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/livestore-sync/livestore-sync/internal/loadgen"
)

// badServer answers every pull with one page holding the events seqs (NoMore), then an Exit
// once the page is acknowledged.
func badServer(t *testing.T, seqs ...uint64) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				return
			}
			var m struct {
				Tag string `json:"_tag"`
				ID  string `json:"id"`
				RPC string `json:"tag"`
			}
			if json.Unmarshal(data, &m) != nil {
				return
			}
			switch {
			case m.Tag == "Request" && m.RPC == "SyncWsRpc.Pull":
				var events []string
				for _, s := range seqs {
					events = append(events, fmt.Sprintf(`{"eventEncoded":{"name":"x","args":{},"seqNum":%d,"parentSeqNum":%d,"clientId":"c","sessionId":"s"},"metadata":{"_tag":"None"}}`, s, s-1))
				}
				chunk := fmt.Sprintf(`{"_tag":"Chunk","requestId":%q,"values":[{"batch":[%s],"pageInfo":{"_tag":"NoMore"},"backendId":"badserverbackendid001"}]}`, m.ID, strings.Join(events, ","))
				if ws.Write(ctx, websocket.MessageText, []byte(chunk)) != nil {
					return
				}
				if _, ack, err := ws.Read(ctx); err != nil || !strings.Contains(string(ack), `"_tag":"Ack"`) {
					return
				}
				exit := fmt.Sprintf(`{"_tag":"Exit","requestId":%q,"exit":{"_tag":"Success"}}`, m.ID)
				if ws.Write(ctx, websocket.MessageText, []byte(exit)) != nil {
					return
				}
			case m.Tag == "Ping":
				_ = ws.Write(ctx, websocket.MessageText, []byte(`{"_tag":"Pong"}`))
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestPullFailsOnDuplicatesAndGaps: a server that sends an event twice, or skips one, fails
// the run with the checker's error.
func TestPullFailsOnDuplicatesAndGaps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		seqs []uint64
		want error
	}{
		{"exactly once", []uint64{1, 2, 3}, nil},
		{"duplicate", []uint64{1, 2, 2, 3}, loadgen.ErrDuplicate},
		{"gap", []uint64{1, 2, 4}, loadgen.ErrGap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			url := badServer(t, tt.seqs...)
			_, err := loadgen.Pull(ctx, loadgen.Config{URL: url}, loadgen.PullOptions{Store: "any", Pullers: 2})
			if (err == nil) != (tt.want == nil) || !errors.Is(err, tt.want) {
				t.Fatalf("Pull: %v, want %v", err, tt.want)
			}
		})
	}
}
