package bridge

import (
	"log/slog"
	"testing"

	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
)

// newRealBridge returns a Bridge over the real service on a Pebble engine in a temporary
// directory. The caller closes the service when the test needs it closed at a given point;
// it is closed at the end of the test anyway.
func newRealBridge(t testing.TB) (*service.Service, *Bridge) {
	t.Helper()
	engine, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(engine, service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc, New(svc, Options{Logger: slog.New(slog.DiscardHandler)})
}
