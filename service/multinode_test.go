package service_test

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/livestore-sync/livestore-sync/service/servicetest"
	"github.com/livestore-sync/livestore-sync/service/storage"
	"github.com/livestore-sync/livestore-sync/service/storage/pebblestore"
	"github.com/livestore-sync/livestore-sync/service/storage/storagetest"
)

// The multi-node suite over nodes that share one in-memory Pebble engine through
// storagetest.Cluster; pgstore runs the same suite over PostgreSQL.
func TestMultiNode(t *testing.T) {
	t.Parallel()
	clusters := map[*storage.Shared]*storagetest.Cluster{}
	servicetest.RunMultiNode(t, servicetest.Cluster{
		Open: func(t *testing.T, n int) []storage.Shared {
			engine, err := pebblestore.Open("db", pebblestore.Options{FS: vfs.NewMem()})
			if err != nil {
				t.Fatal(err)
			}
			c := storagetest.NewCluster(engine)
			out := make([]storage.Shared, n)
			for i := range out {
				out[i] = c.Node()
			}
			clusters[&out[0]] = c
			return out
		},
		Interrupt: func(t *testing.T, engines []storage.Shared, i int) func() {
			c := clusters[&engines[0]]
			c.Pause()
			return c.Resume
		},
	})
}
