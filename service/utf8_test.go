package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"connectrpc.com/connect"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
)

// TestValidatePayloadRefusesUnusableStoreIDs: a connection naming a store id that no push or
// pull could use is refused when it connects, on every transport (they all call ValidatePayload).
func TestValidatePayloadRefusesUnusableStoreIDs(t *testing.T) {
	t.Parallel()
	svc := newService(t, "", service.Options{})
	for _, tt := range []struct {
		id   string
		want string // "" for accepted
	}{
		{"todo-app", ""},
		{"", ""}, // pushes and pulls of the empty id fail later, with their own error
		{"caf\u00e9", ""},
		{"\xff\xfe", "not valid UTF-8"},
		{"ok\xc3", "not valid UTF-8"},
		{strings.Repeat("s", service.DefaultMaxStoreIDBytes+1), "more than the limit"},
	} {
		err := svc.ValidatePayload(context.Background(), tt.id, nil, service.RequestInfo{Transport: "ws"})
		var invalid *service.InvalidRequestError
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: refused: %v", tt.id, err)
		case tt.want != "" && (!errors.As(err, &invalid) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: err = %v, want an *InvalidRequestError containing %q", tt.id, err, tt.want)
		}
	}
}

// TestStoredInvalidUTF8IsRepaired: data stored by an older version that did not check UTF-8
// (written here straight into the engine) can still be pulled over Connect, with U+FFFD in place
// of the invalid bytes, and listed by the admin API; only that store's responses are affected.
func TestStoredInvalidUTF8IsRepaired(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	engine, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const badStore = "legacy\xff\xfe"
	for _, id := range []string{badStore, "legacy-args"} {
		info := storage.StoreInfo{BackendID: "backend-" + strings.ToValidUTF8(id, "x")}
		if err := engine.CreateStore(id, info); err != nil {
			t.Fatal(err)
		}
		rec := storage.Record{Name: "todo\xc3", Args: "{\"t\":\"\xff\xfe\"}", SeqNum: 1, ClientID: "c\x80", SessionID: "s"}
		info.Head, info.EventCount, info.EventBytes = 1, 1, uint64(rec.Size())
		if err := engine.Append(id, 0, []storage.Record{rec}, info); err != nil {
			t.Fatal(err)
		}
	}
	if err := engine.Close(); err != nil {
		t.Fatal(err)
	}
	svc := newService(t, dir, service.Options{})
	mux := http.NewServeMux()
	mux.Handle(syncv1connect.NewSyncServiceHandler(service.NewHandler(svc)))
	mux.Handle(syncv1connect.NewAdminServiceHandler(service.NewAdminHandler(svc)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	client := syncv1connect.NewSyncServiceClient(srv.Client(), srv.URL)
	stream, err := client.Pull(context.Background(), connect.NewRequest(&syncv1.PullRequest{StoreId: "legacy-args"}))
	if err != nil {
		t.Fatal(err)
	}
	var got []*syncv1.Event
	for stream.Receive() {
		for _, e := range stream.Msg().GetBatch() {
			got = append(got, e.GetEvent())
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("pull of a store holding invalid UTF-8: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("pulled %d events, want 1", len(got))
	}
	e := got[0]
	for _, f := range []string{e.GetName(), e.GetArgs(), e.GetClientId()} {
		if !utf8.ValidString(f) || !strings.Contains(f, "\uFFFD") {
			t.Errorf("field %q was not repaired", f)
		}
	}
	if !json.Valid([]byte(e.GetArgs())) {
		t.Errorf("repaired args %q are not JSON", e.GetArgs())
	}

	admin := syncv1connect.NewAdminServiceClient(srv.Client(), srv.URL)
	list, err := admin.ListStores(context.Background(), connect.NewRequest(&syncv1.ListStoresRequest{}))
	if err != nil {
		t.Fatalf("list stores with an invalid store id among them: %v", err)
	}
	var ids []string
	for _, st := range list.Msg.GetStores() {
		ids = append(ids, st.GetStoreId())
	}
	if len(ids) != 2 || !slices.Contains(ids, "legacy-args") || !slices.Contains(ids, strings.ToValidUTF8(badStore, "\uFFFD")) {
		t.Fatalf("listed %q", ids)
	}
}
