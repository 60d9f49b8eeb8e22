package pebblestore

import (
	"testing"

	"github.com/livestore-sync/livestore-sync/service/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollector(t *testing.T) {
	t.Parallel()
	e, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e.Collector())
	if err := e.CreateStore("s", storage.StoreInfo{BackendID: "b"}); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(e.Collector()); n != 8 {
		t.Fatalf("collected %d metrics, want 8", n)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "livestore_sync_pebble_disk_usage_bytes" && f.GetMetric()[0].GetGauge().GetValue() <= 0 {
			t.Fatalf("disk usage %v, want > 0", f.GetMetric()[0].GetGauge().GetValue())
		}
	}
}
