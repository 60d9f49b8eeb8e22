package storagetest

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livestore-sync/livestore-sync/service/storage"
)

// RunCheckpoint checks Engine.Checkpoint: a checkpoint taken while goroutines append to several
// stores opens as an engine of its own that holds every write that returned before the call,
// each write wholly or not at all, and nothing written after the call returned. open opens the
// engine whose data is in dir, a directory that may not exist yet (or that a checkpoint wrote);
// the suite closes what it returns.
func RunCheckpoint(t *testing.T, open func(t *testing.T, dir string) storage.Engine) {
	t.Run("ExistingDirectory", func(t *testing.T) { testCheckpointExisting(t, open) })
	t.Run("WhileAppending", func(t *testing.T) { testCheckpointWhileAppending(t, open) })
}

// closer closes an engine once, from the test or from its cleanup.
type closer struct {
	e    storage.Engine
	once sync.Once
}

// openClosing opens the engine of dir and closes it when t ends, unless closed before.
func openClosing(t *testing.T, open func(t *testing.T, dir string) storage.Engine, dir string) (storage.Engine, *closer) {
	c := &closer{e: open(t, dir)}
	t.Cleanup(func() { c.close(t) })
	return c.e, c
}

// close closes the engine unless already closed.
func (c *closer) close(t testing.TB) {
	c.once.Do(func() {
		if err := c.e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// testCheckpointExisting checks that Checkpoint refuses a path that exists, leaving it alone.
func testCheckpointExisting(t *testing.T, open func(t *testing.T, dir string) storage.Engine) {
	e, _ := openClosing(t, open, t.TempDir())
	m := newModel("store", "b1")
	m.create(t, e)
	m.appendEvents(t, e, m.next(3))

	dir := t.TempDir()
	keep := filepath.Join(dir, "keep")
	if err := os.WriteFile(keep, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{dir, keep} {
		if err := e.Checkpoint(path); err == nil {
			t.Errorf("Checkpoint(%s), which exists, succeeded", path)
		} else {
			t.Logf("Checkpoint(%s): %v", path, err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) != 1 || entries[0].Name() != "keep" {
			t.Errorf("after Checkpoint(%s) the directory holds %v (%v), want only keep", path, entries, err)
		}
		if b, err := os.ReadFile(keep); err != nil || string(b) != "precious" {
			t.Errorf("after Checkpoint(%s) the file holds %q, %v", path, b, err)
		}
	}

	// A new directory works, once; the engine goes on.
	ck := filepath.Join(t.TempDir(), "checkpoint")
	if err := e.Checkpoint(ck); err != nil {
		t.Fatalf("Checkpoint(new directory): %v", err)
	}
	if err := e.Checkpoint(ck); err == nil {
		t.Errorf("second Checkpoint(%s) succeeded", ck)
	}
	before := *m
	m.appendEvents(t, e, m.next(2))
	m.check(t, e)
	c, _ := openClosing(t, open, ck)
	before.check(t, c)
}

// ckWriter appends to one store from its own goroutine, batches of 1, 2, 3, 4, 1, … events.
type ckWriter struct {
	m       *model        // owned by the writer's goroutine while it runs
	backend string        // m's backend id
	pad     int           // bytes added to each event's Args, to make some stores big
	acked   atomic.Uint64 // the head after the last append that returned
	appends atomic.Int64  // the number of appends that returned
}

// batchSize returns the number of events of the writer's append i (from 0).
func batchSize(i int) int { return i%4 + 1 }

// events returns the writer's events of append i, which continues the log after head.
func (w *ckWriter) events(head uint64, i int) []storage.Record {
	evs := make([]storage.Record, batchSize(i))
	for j := range evs {
		evs[j] = w.event(head + uint64(j) + 1)
	}
	return evs
}

// event returns the writer's event seq.
func (w *ckWriter) event(seq uint64) storage.Record {
	r := makeEvent(w.m.id, w.backend, seq, seq-1)
	if w.pad > 0 {
		r.Args = `{"pad":"` + strings.Repeat(strconv.FormatUint(seq%10, 10), w.pad) + `"}`
		r = WithEncoded(r)
	}
	return r
}

// run appends until stop closes, sending its error, if any, to errs.
func (w *ckWriter) run(e storage.Engine, stop <-chan struct{}, errs chan<- error) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if err := w.m.tryAppend(e, w.events(w.m.info.Head, i)); err != nil {
			errs <- err
			return
		}
		w.acked.Store(w.m.info.Head)
		w.appends.Add(1)
	}
}

// verifyCopy returns an error unless e holds the writer's store with whole appends only, at
// least up to head minHead: events 1…head exactly, and the metadata of those events.
func (w *ckWriter) verifyCopy(e storage.Engine, minHead uint64) error {
	info, err := e.LoadStore(w.m.id)
	if err != nil {
		return fmt.Errorf("LoadStore(%s): %v", quoteID(w.m.id), err)
	}
	if info.Head < minHead {
		return fmt.Errorf("store %s has head %d, but an append up to %d returned before the checkpoint", quoteID(w.m.id), info.Head, minHead)
	}
	want := storage.StoreInfo{BackendID: w.backend, CreatedAt: baseTime}
	var wantEvents []storage.Record
	for i := 0; want.Head < info.Head; i++ {
		evs := w.events(want.Head, i)
		wantEvents = append(wantEvents, evs...)
		want = (&model{info: want}).infoAfter(evs)
	}
	if want.Head != info.Head {
		return fmt.Errorf("store %s has head %d, inside the append that ends at %d", quoteID(w.m.id), info.Head, want.Head)
	}
	if err := sameInfo(info, want); err != nil {
		return fmt.Errorf("LoadStore(%s): %v", quoteID(w.m.id), err)
	}
	recs, err := e.ReadEvents(w.m.id, 0, math.MaxUint64, math.MaxInt)
	if err != nil {
		return fmt.Errorf("ReadEvents(%s): %v", quoteID(w.m.id), err)
	}
	if err := sameRecords(recs, wantEvents); err != nil {
		return fmt.Errorf("ReadEvents(%s): %v", quoteID(w.m.id), err)
	}
	if n, err := e.CountEvents(w.m.id, 0, math.MaxUint64); err != nil || n != info.Head {
		return fmt.Errorf("CountEvents(%s) = %d, %v, want %d", quoteID(w.m.id), n, err, info.Head)
	}
	return nil
}

// testCheckpointWhileAppending takes checkpoints while writers append to several stores and a
// store is created, filled and deleted over and over, then checks each checkpoint as an engine.
func testCheckpointWhileAppending(t *testing.T, open func(t *testing.T, dir string) storage.Engine) {
	const checkpoints = 3
	base := t.TempDir()
	liveDir := filepath.Join(base, "live")
	e, live := openClosing(t, open, liveDir)

	// Stores that stay as they are: written before the checkpoints, or deleted.
	quiet := newModel("quiet", "b1")
	quiet.create(t, e)
	quiet.appendEvents(t, e, quiet.next(2))
	replaced := newModel("replaced", "b1")
	replaced.create(t, e)
	replaced.appendEvents(t, e, replaced.next(5))
	replaced = newModel("replaced", "b2")
	replaced.create(t, e)
	replaced.appendEvents(t, e, replaced.next(2))
	gone := newModel("deleted", "b1")
	gone.create(t, e)
	gone.appendEvents(t, e, gone.next(3))
	if err := e.DeleteStore(gone.id); err != nil {
		t.Fatalf("DeleteStore: %v", err)
	}

	// The writers: tricky ids, and a store of big events so that an engine has to move data
	// out of memory (a Pebble memtable flushes at 4 MiB) while the checkpoints are taken.
	var writers []*ckWriter
	for i, id := range []string{"", "a", "ab", "a\x00", "\xff", strings.Repeat("x", 128), "bulk"} {
		w := &ckWriter{m: newModel(id, "w-"+strconv.Itoa(i)), backend: "w-" + strconv.Itoa(i)}
		if id == "bulk" {
			w.pad = 64 << 10
		}
		w.m.create(t, e)
		writers = append(writers, w)
	}
	stop := make(chan struct{})
	errs := make(chan error, len(writers)+1)
	var wg sync.WaitGroup
	for _, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(e, stop, errs)
		}()
	}
	var churns atomic.Int64
	wg.Add(1)
	go func() { // create, fill and delete the store "churn"
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c := newModel("churn", "churn")
			if err := e.CreateStore(c.id, c.info); err != nil {
				errs <- err
				return
			}
			if err := c.tryAppend(e, c.next(3)); err != nil {
				errs <- err
				return
			}
			if err := e.DeleteStore(c.id); err != nil {
				errs <- err
				return
			}
			churns.Add(1)
		}
	}()
	var stopOnce sync.Once
	stopWriters := func() {
		stopOnce.Do(func() {
			close(stop)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
	defer stopWriters() // before the engine closes, whatever happens
	// waitFor waits until every writer has made n more appends, and bulk bulkN more.
	waitFor := func(n, bulkN int64) bool {
		t.Helper()
		want := make([]int64, len(writers))
		for i, w := range writers {
			want[i] = w.appends.Load() + n
			if w.pad > 0 {
				want[i] += bulkN - n
			}
		}
		deadline := time.Now().Add(time.Minute)
		for i, w := range writers {
			for w.appends.Load() < want[i] {
				if len(errs) > 0 || time.Now().After(deadline) {
					t.Errorf("writers stopped or stalled: %d churns", churns.Load())
					return false
				}
				time.Sleep(time.Millisecond)
			}
		}
		return true
	}

	// The checkpoints, each after more appends; after each, a write to the quiet store that
	// must not be in it.
	type checkpoint struct {
		dir     string
		minHead []uint64 // per writer, the head of its last append that returned before
		quiet   model    // the quiet store when the checkpoint returned
	}
	var cks []checkpoint
	for k := range checkpoints {
		if !waitFor(3, 25) {
			return
		}
		ck := checkpoint{dir: filepath.Join(base, "checkpoint-"+strconv.Itoa(k)), minHead: make([]uint64, len(writers))}
		for i, w := range writers {
			ck.minHead[i] = w.acked.Load()
		}
		if err := e.Checkpoint(ck.dir); err != nil {
			t.Fatalf("Checkpoint(%s): %v", ck.dir, err)
		}
		ck.quiet = *quiet
		ck.quiet.events = slices.Clone(quiet.events)
		quiet.appendEvents(t, e, quiet.next(1))
		cks = append(cks, ck)
	}
	if !waitFor(3, 3) {
		return
	}
	stopWriters()
	if t.Failed() {
		return
	}
	t.Logf("%d churns; writers' heads %s", churns.Load(), heads(writers))

	// The live engine holds everything.
	for _, m := range []*model{quiet, replaced} {
		m.check(t, e)
	}
	for _, w := range writers {
		w.m.check(t, e)
	}
	checkGone(t, e, "churn")
	checkGone(t, e, gone.id)

	// checkCopy checks one checkpoint opened as c.
	checkCopy := func(name string, ck *checkpoint, c storage.Engine) {
		t.Helper()
		for i, w := range writers {
			if err := w.verifyCopy(c, ck.minHead[i]); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if err := ck.quiet.verify(c); err != nil {
			t.Errorf("%s: quiet store: %v", name, err)
		}
		if err := replaced.verify(c); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		checkGone(t, c, gone.id)
		churn := newModel("churn", "churn")
		if info, err := c.LoadStore(churn.id); err == nil {
			// Caught between its writes: empty, or with its 3 events.
			if info.Head != 0 {
				churn.events = churn.next(3)
				churn.info = churn.infoAfter(churn.events)
			}
			if err := churn.verify(c); err != nil {
				t.Errorf("%s: churned store: %v", name, err)
			}
		} else if !errors.Is(err, storage.ErrStoreNotFound) {
			t.Errorf("%s: LoadStore(churn): %v", name, err)
		}
		// The listing agrees.
		want := map[string]bool{quiet.id: true, replaced.id: true}
		for _, w := range writers {
			want[w.m.id] = true
		}
		stores := list(t, c, "", math.MaxInt)
		for _, s := range stores {
			if !want[s.ID] && s.ID != "churn" {
				t.Errorf("%s: ListStores lists %s", name, quoteID(s.ID))
			}
			delete(want, s.ID)
			info, err := c.LoadStore(s.ID)
			if err != nil || sameInfo(s.Info, info) != nil {
				t.Errorf("%s: ListStores lists %s with %+v, LoadStore says %+v, %v", name, quoteID(s.ID), s.Info, info, err)
			}
		}
		if len(want) > 0 {
			t.Errorf("%s: ListStores misses %d stores: %s", name, len(want), ids(stores))
		}
	}

	copies := make([]storage.Engine, len(cks))
	closers := make([]*closer, len(cks))
	for k := range cks {
		copies[k], closers[k] = openClosing(t, open, cks[k].dir)
		checkCopy(cks[k].dir, &cks[k], copies[k])
	}

	// A copy is an engine of its own: writing to it leaves the live engine alone, and it
	// outlives the live engine and its directory.
	w := writers[0]
	c := copies[0]
	info, err := c.LoadStore(w.m.id)
	if err != nil {
		t.Fatal(err)
	}
	extra := w.events(info.Head, 0) // whatever batch comes next, a valid continuation
	if err := c.Append(w.m.id, info.Head, extra, (&model{info: info}).infoAfter(extra)); err != nil {
		t.Fatalf("Append to the checkpoint: %v", err)
	}
	w.m.check(t, e)
	live.close(t)
	if err := os.RemoveAll(liveDir); err != nil {
		t.Fatal(err)
	}
	for k := range cks {
		closers[k].close(t)
		c, _ := openClosing(t, open, cks[k].dir)
		if k > 0 {
			checkCopy(cks[k].dir+" reopened", &cks[k], c)
			continue
		}
		if got, err := c.LoadStore(w.m.id); err != nil || got.Head != info.Head+uint64(len(extra)) {
			t.Errorf("reopened checkpoint: LoadStore(%s) = %+v, %v, want head %d", quoteID(w.m.id), got, err, info.Head+uint64(len(extra)))
		}
	}
}

// heads lists the writers' heads, for messages.
func heads(writers []*ckWriter) string {
	s := make([]string, len(writers))
	for i, w := range writers {
		s[i] = quoteID(w.m.id) + ":" + strconv.FormatUint(w.m.info.Head, 10)
	}
	return strings.Join(s, " ")
}
