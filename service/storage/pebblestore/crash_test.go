package pebblestore

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// A store written right after Open created its data directory, and the directory's missing
// parents, survives a crash that keeps only synced data: Open syncs the directory entries it
// creates, which Pebble does not do for directories that exist when it starts.
func TestCrashAfterOpenCreatedDirectory(t *testing.T) {
	for _, dir := range []string{"/data", "/srv/livestore/data", "data", "var/lib/livestore/data"} {
		t.Run(dir, func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			e, err := Open(dir, Options{FS: fs})
			if err != nil {
				t.Fatal(err)
			}
			writeSome(t, e)
			crashed := fs.CrashClone(vfs.CrashCloneCfg{})
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := crashed.Stat(dir); err != nil {
				t.Fatalf("the crash lost the data directory: %v", err)
			}
			e, err = Open(dir, Options{FS: crashed})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if info, err := e.LoadStore("s"); err != nil || info.Head != 1 {
				t.Fatalf("LoadStore after the crash = %+v, %v, want head 1", info, err)
			}
		})
	}
}
