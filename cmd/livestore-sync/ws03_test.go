package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/coder/websocket"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
)

// TestWS03Wiring: the binary serves LiveStore 0.3's protocol by default, with the admin secret
// for its admin messages, next to the Connect API on the same store; --transports without ws03
// turns it off alone.
func TestWS03Wiring(t *testing.T) {
	t.Parallel()
	srv := startServerEnv(t, t.TempDir(), []string{"LIVESTORE_SYNC_ADMIN_SECRET=adm"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.url, "http")+"/websocket?storeId=w03", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	exchange := func(send, want string) {
		t.Helper()
		if err := ws.Write(ctx, websocket.MessageText, []byte(send)); err != nil {
			t.Fatal(err)
		}
		_, got, err := ws.Read(ctx)
		if err != nil || !strings.HasPrefix(string(got), want) {
			t.Fatalf("sent %s\n got %s (%v)\nwant %s…", send, got, err, want)
		}
	}
	exchange(`{"_tag":"WSMessage.AdminInfoReq","requestId":"a","adminSecret":"adm"}`, `{"_tag":"WSMessage.AdminInfoRes","requestId":"a"`)
	// A push over Connect reaches the 0.3 socket.
	_, err = syncv1connect.NewSyncServiceClient(h2cClient(), srv.url).Push(ctx, connect.NewRequest(&syncv1.PushRequest{
		StoreId: "w03", Batch: []*syncv1.Event{{Name: "n", Args: `{}`, SeqNum: 1, ClientId: "c", SessionId: "s"}}}))
	if err != nil {
		t.Fatal(err)
	}
	if _, got, err := ws.Read(ctx); err != nil || !strings.Contains(string(got), `"requestId":{"context":"push","requestId":"livestore-sync-e1"}`) {
		t.Fatalf("broadcast of the Connect push: %s (%v)", got, err)
	}

	off := startServer(t, t.TempDir(), "--transports", "ws,http,grpc")
	resp, err := http.Get(off.url + "/websocket?storeId=w03")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || string(body) != "the ws03 transport is disabled on this server" {
		t.Fatalf("ws03 off: %d %s", resp.StatusCode, body)
	}
}
