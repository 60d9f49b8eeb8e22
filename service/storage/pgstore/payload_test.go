package pgstore

import (
	"strings"
	"testing"

	"github.com/livestore-sync/livestore-sync/service/storage"
)

func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []storage.Change{
		{StoreID: "s", BackendID: "b1", Head: 42},
		{StoreID: "", BackendID: "", Head: 0},
		{StoreID: "with space 3 4 ", BackendID: "b 2", Head: 1},
		{StoreID: "日本語", BackendID: "bäck", Head: 1<<64 - 1},
		{StoreID: "deleted"},
		{StoreID: strings.Repeat("x", maxPayload-len("0 1 b")), BackendID: "b"},
	}
	for _, c := range tests {
		p := payload(c.StoreID, c.BackendID, c.Head)
		if len(p) > maxPayload {
			t.Errorf("payload of %+v is %d bytes", c, len(p))
		}
		got, ok := parsePayload(p)
		if !ok || got != c {
			t.Errorf("parsePayload(payload(%+v)) = %+v, %v", c, got, ok)
		}
	}
	if p := payload(strings.Repeat("x", maxPayload), "b", 1); p != resyncPayload {
		t.Errorf("payload of a too long store id = %.20q…, want the resync payload", p)
	}
	for _, bad := range []string{resyncPayload, "", "1", "1 2", "x 1 b", "1 x b", "1 -1 b", "1 5 abc", "-1 0 s"} {
		if c, ok := parsePayload(bad); ok {
			t.Errorf("parsePayload(%q) = %+v, want not ok", bad, c)
		}
	}
}

// FuzzParsePayload checks that a notification payload is either refused or read back into a
// change whose payload is the same text.
func FuzzParsePayload(f *testing.F) {
	for _, s := range []string{"42 2 b1store", "0 0 ", "*", "1 3 abc", "18446744073709551615 1 bs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, ok := parsePayload(p)
		if !ok {
			return
		}
		if got := payload(c.StoreID, c.BackendID, c.Head); got != p && len(got) <= maxPayload {
			// Numbers may be written differently ("007"); the change must survive a round trip.
			if again, ok := parsePayload(got); !ok || again != c {
				t.Fatalf("payload %q read as %+v, written as %q, read again as %+v, %v", p, c, got, again, ok)
			}
		}
	})
}
