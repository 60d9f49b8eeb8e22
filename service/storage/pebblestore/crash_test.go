package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
	"github.com/livestore-sync/livestore-sync/service/storage"
	"github.com/livestore-sync/livestore-sync/service/storage/storagetest"
)

// crashSeedEnv names the environment variable that sets the seed of TestCrashConsistency, to
// replay a failure: LIVESTORE_SYNC_CRASH_SEED=1234 go test -run TestCrashConsistency ./...
const crashSeedEnv = "LIVESTORE_SYNC_CRASH_SEED"

// crashIterationsEnv names the environment variable that multiplies the number of iterations
// of TestCrashConsistency, for a longer soak than the default.
const crashIterationsEnv = "LIVESTORE_SYNC_CRASH_ITERATIONS"

// crashMix is one kind of workload of TestCrashConsistency.
type crashMix struct {
	name string
	// dir is the data directory in the in-memory file system; its parents do not exist yet.
	dir string
	// iterations is the number of fresh file systems; each goes through generations crashes.
	iterations, generations int
	// unsynced says whether a crash keeps a random part (1–99%) of the data that was not synced.
	unsynced bool
	// resetPermille and deletePermille are the chances, in thousandths, that an operation on an
	// existing store is a CreateStore (a reset) or a DeleteStore rather than an Append.
	resetPermille, deletePermille int
	// flushPermille and compactPermille are the chances, in thousandths, that a writer starts a
	// flush of the memtable (without waiting for it) or compacts the whole database after an
	// operation, so that crashes also hit flushes and compactions.
	flushPermille, compactPermille int
	// maxPayload is the largest event payload; most payloads are much smaller (see crashPayload).
	maxPayload int
	// maxOps is the largest number of acknowledged operations before a crash.
	maxOps int
}

// TestCrashConsistency checks that the engine keeps every acknowledged write across a crash,
// and no write partly. Writers append batches of 1–50 events (and, in some mixes, reset and
// delete stores, and start Pebble flushes and compactions) to several stores of an engine over
// vfs.NewCrashableMem, serializing the writes to each store as the service does and recording
// each operation as acknowledged once it returned nil. After a random number of acknowledged
// operations, while writes are in flight, a crash clone of the file system (holding what was
// synced and, in some mixes, a random part of what was not) is opened as a new engine, and each
// store must be exactly the state after a prefix of the operations attempted on it, a prefix
// that holds every operation acknowledged before the crash: so no acknowledged batch is lost or
// altered, no batch is torn and none is half there; the store's metadata matches its events,
// ListStores agrees, and no key of a deleted or reset store is left. The recovered engine then
// takes the next generation of writes and crashes, so recovery is tested on recovered databases
// too.
//
// The seed is logged; set LIVESTORE_SYNC_CRASH_SEED to replay it (the interleaving of the
// writers still varies between runs, the operations and crash points do not), and
// LIVESTORE_SYNC_CRASH_ITERATIONS to run that many times more iterations.
func TestCrashConsistency(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
	}
	t.Logf("seed %d (replay with %s=%d)", seed, crashSeedEnv, seed)
	scale := 1
	if s := os.Getenv(crashIterationsEnv); s != "" {
		var err error
		if scale, err = strconv.Atoi(s); err != nil || scale < 1 {
			t.Fatalf("%s=%q: want a positive number", crashIterationsEnv, s)
		}
	}

	mixes := []crashMix{
		{name: "appends/synced-only", dir: "/data", iterations: 3, generations: 3,
			maxPayload: 512, maxOps: 150},
		{name: "appends/unsynced-kept", dir: "/data", iterations: 3, generations: 3, unsynced: true,
			maxPayload: 512, maxOps: 150},
		{name: "resets-deletes/synced-only", dir: "/srv/livestore/data", iterations: 3, generations: 3,
			resetPermille: 30, deletePermille: 20, maxPayload: 512, maxOps: 150},
		{name: "resets-deletes/unsynced-kept", dir: "/srv/livestore/data", iterations: 3, generations: 3,
			unsynced: true, resetPermille: 30, deletePermille: 20, maxPayload: 512, maxOps: 150},
		{name: "flushes-compactions/unsynced-kept", dir: "/data", iterations: 3, generations: 3, unsynced: true,
			resetPermille: 20, deletePermille: 10, flushPermille: 30, compactPermille: 5, maxPayload: 1024, maxOps: 150},
	}
	for i, mix := range mixes {
		t.Run(mix.name, func(t *testing.T) {
			iterations := mix.iterations * scale
			if testing.Short() {
				iterations = 1
			}
			var flushes, compactions int64
			for it := range iterations {
				iterSeed := seed ^ (uint64(i+1) << 56) ^ uint64(it+1)
				f, c := runCrashIteration(t, mix, iterSeed)
				flushes += f
				compactions += c
				if t.Failed() {
					t.Fatalf("iteration %d failed (seed %d, mix %q)", it, seed, mix.name)
				}
			}
			t.Logf("%d iterations of %d crashes; Pebble flushed %d memtables and ran %d compactions",
				iterations, mix.generations, flushes, compactions)
		})
	}
}

// A store written right after Open created its data directory, and the directory's missing
// parents, survives a crash that keeps only synced data: Open syncs the directory entries it
// creates, which Pebble does not do for directories that exist when it starts.
func TestCrashAfterOpenCreatedDirectory(t *testing.T) {
	t.Parallel()
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

// crashOpKind is the kind of a write of TestCrashConsistency.
type crashOpKind int

const (
	opAppend crashOpKind = iota
	opCreate
	opDelete
)

// crashOp is one write to a store: its events (Append) and the store's new metadata (Append,
// CreateStore).
type crashOp struct {
	kind     crashOpKind
	prevHead uint64
	events   []storage.Record
	info     storage.StoreInfo
}

// crashState is what a store holds: nothing when it does not exist, or its metadata and events.
type crashState struct {
	exists bool
	info   storage.StoreInfo
	events []storage.Record
}

// apply changes s into the state after op, reusing the memory of s.events.
func (s *crashState) apply(op crashOp) {
	switch op.kind {
	case opCreate:
		s.exists, s.info, s.events = true, op.info, s.events[:0]
	case opDelete:
		s.exists, s.info, s.events = false, storage.StoreInfo{}, s.events[:0]
	default:
		s.exists, s.info, s.events = true, op.info, append(s.events, op.events...)
	}
}

// String summarizes the state for failure messages.
func (s crashState) String() string {
	if !s.exists {
		return "no store"
	}
	return fmt.Sprintf("backend %q head %d count %d bytes %d, %d events", s.info.BackendID, s.info.Head,
		s.info.EventCount, s.info.EventBytes, len(s.events))
}

// crashStore is one store of TestCrashConsistency and what was done to it in one generation.
type crashStore struct {
	id string
	// mu serializes the writes to the store, as the service does; it guards exists, info and
	// ops.
	mu sync.Mutex
	// base is the store's state when the generation started.
	base crashState
	// exists and info are the store's state after every operation of ops, but its events.
	exists bool
	info   storage.StoreInfo
	// ops are the operations attempted in this generation, in order.
	ops []crashOp
	// attempted counts the operations started (it is incremented before the engine is called),
	// acked those that returned nil: the first acked of ops are acknowledged.
	attempted, acked atomic.Int64
}

// crashStoreIDs are the stores' ids, some of them odd on purpose: the empty id, a long one (its
// length's uvarint takes two bytes) and non-ASCII.
var crashStoreIDs = []string{"a", "store-b", "", strings.Repeat("x", 200), "ü/🎉", "f"}

// runCrashIteration runs one fresh file system through mix.generations crashes and returns the
// number of flushes and compactions Pebble did.
func runCrashIteration(t *testing.T, mix crashMix, seed uint64) (flushes, compactions int64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0))
	fs := vfs.NewCrashableMem()
	e, err := Open(mix.dir, Options{FS: fs})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	stores := make([]*crashStore, len(crashStoreIDs))
	for i, id := range crashStoreIDs {
		stores[i] = &crashStore{id: id}
	}
	for gen := range mix.generations {
		const writers = 4
		target := 1 + rng.IntN(mix.maxOps)
		var (
			stop    = make(chan struct{})
			reached = make(chan struct{})
			done    = make(chan struct{})
			once    sync.Once
			total   atomic.Int64
			wg      sync.WaitGroup
		)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				wrng := rand.New(rand.NewPCG(seed, uint64(gen)<<8|uint64(w)+1))
				for {
					select {
					case <-stop:
						return
					default:
					}
					st := stores[wrng.IntN(len(stores))]
					if err := crashWrite(e, st, mix, wrng, fmt.Sprintf("w%d", w), gen); err != nil {
						t.Errorf("write to store %q: %v", st.id, err)
						return
					}
					switch p := wrng.IntN(1000); {
					case p < mix.flushPermille:
						if _, err := e.db.AsyncFlush(); err != nil {
							t.Errorf("flush: %v", err)
							return
						}
					case p < mix.flushPermille+mix.compactPermille:
						lower, upper := storesBounds()
						if err := e.db.Compact(context.Background(), lower, upper, true); err != nil {
							t.Errorf("compact: %v", err)
							return
						}
					}
					if total.Add(1) == int64(target) {
						once.Do(func() { close(reached) })
					}
				}
			}()
		}
		go func() { wg.Wait(); close(done) }()
		select {
		case <-reached:
		case <-done: // every writer failed
			e.Close()
			return flushes, compactions
		}

		// The crash. An operation acknowledged before the clone starts is synced, so it must be
		// in the clone; one attempted after the clone ends cannot be.
		lo := make([]int, len(stores))
		for i, st := range stores {
			lo[i] = int(st.acked.Load())
		}
		cfg := vfs.CrashCloneCfg{}
		if mix.unsynced {
			cfg = vfs.CrashCloneCfg{UnsyncedDataPercent: 1 + rng.IntN(99), RNG: rng}
		}
		crashed := fs.CrashClone(cfg)
		hi := make([]int, len(stores))
		for i, st := range stores {
			hi[i] = int(st.attempted.Load())
		}
		close(stop)
		<-done
		m := e.db.Metrics()
		flushes += m.Flush.Count
		compactions += m.Compact.Count
		if err := e.Close(); err != nil {
			t.Errorf("Close before the crash: %v", err)
		}
		if t.Failed() {
			return flushes, compactions
		}

		fs = crashed
		if _, err := fs.Stat(mix.dir); err != nil {
			t.Fatalf("generation %d: the crash lost the data directory %s itself (%v): a directory entry on its path was never synced",
				gen, mix.dir, err)
		}
		if e, err = Open(mix.dir, Options{FS: fs}); err != nil {
			t.Fatalf("generation %d: Open after the crash (unsynced data kept: %d%%): %v",
				gen, cfg.UnsyncedDataPercent, err)
		}
		if !checkCrashed(t, e, stores, lo, hi) {
			t.Logf("generation %d, crash after %d acknowledged operations, unsynced data kept: %d%%",
				gen, target, cfg.UnsyncedDataPercent)
			e.Close()
			return flushes, compactions
		}
	}
	m := e.db.Metrics()
	flushes += m.Flush.Count
	compactions += m.Compact.Count
	if err := e.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	return flushes, compactions
}

// crashWrite does one random operation on st, as one writer would, and records it.
func crashWrite(e *Engine, st *crashStore, mix crashMix, rng *rand.Rand, writer string, gen int) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	var op crashOp
	switch p := rng.IntN(1000); {
	case !st.exists || p < mix.resetPermille:
		op = crashOp{kind: opCreate, info: storage.StoreInfo{
			BackendID: fmt.Sprintf("backend-%d-%s-%d", gen, writer, len(st.ops)),
			CreatedAt: time.UnixMilli(rng.Int64N(1 << 42)).UTC(),
		}}
	case p < mix.resetPermille+mix.deletePermille:
		op = crashOp{kind: opDelete}
	default:
		op = crashOp{kind: opAppend, prevHead: st.info.Head, info: st.info}
		n := 1 + rng.IntN(50)
		op.events = make([]storage.Record, n)
		createdAt := rng.Int64N(1 << 42)
		for i := range op.events {
			seq := st.info.Head + uint64(i) + 1
			r := storage.Record{
				Name:         "event-" + writer,
				Args:         crashPayload(rng, mix.maxPayload, seq),
				SeqNum:       seq,
				ParentSeqNum: seq - 1,
				ClientID:     "client-" + writer,
				SessionID:    fmt.Sprintf("session-%d", gen),
				CreatedAt:    createdAt,
			}
			op.events[i] = storagetest.WithEncoded(r)
			op.info.EventCount++
			op.info.EventBytes += uint64(r.Size())
		}
		op.info.Head = op.events[n-1].SeqNum
	}
	st.ops = append(st.ops, op)
	st.attempted.Add(1)
	var err error
	switch op.kind {
	case opCreate:
		err = e.CreateStore(st.id, op.info)
	case opDelete:
		err = e.DeleteStore(st.id)
	default:
		err = e.Append(st.id, op.prevHead, op.events, op.info)
	}
	if err != nil {
		return err
	}
	st.acked.Store(int64(len(st.ops)))
	st.exists, st.info = op.kind != opDelete, op.info
	return nil
}

// crashPayload returns a JSON payload of random size: most are under 64 bytes, one in four is
// up to maxLen bytes.
func crashPayload(rng *rand.Rand, maxLen int, seq uint64) string {
	n := rng.IntN(64)
	if rng.IntN(4) == 0 {
		n = rng.IntN(maxLen + 1)
	}
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[rng.IntN(len(letters))]
	}
	return fmt.Sprintf(`{"seq":%d,"pad":"%s"}`, seq, b)
}

// checkCrashed checks every store of the engine opened after a crash: its state must be the
// state after a prefix of its operations of at least lo[i] and at most hi[i] operations. On
// success it makes that state the stores' base for the next generation. It reports whether all
// stores passed.
func checkCrashed(t *testing.T, e *Engine, stores []*crashStore, lo, hi []int) bool {
	t.Helper()
	ok := true
	want := map[string]storage.StoreInfo{}
	for i, st := range stores {
		got, err := readCrashState(e, st.id)
		if err != nil {
			t.Errorf("store %q after the crash: %v", st.id, err)
			ok = false
			continue
		}
		k, diff := matchPrefix(st, got, lo[i], hi[i])
		if k < 0 {
			t.Errorf("store %q after the crash: %s\n(%d operations acknowledged before the crash, "+
				"%d attempted by its end, %d in all)", st.id, diff, lo[i], hi[i], len(st.ops))
			ok = false
			continue
		}
		if got.exists {
			want[st.id] = got.info
		}
		st.base, st.exists, st.info, st.ops = got, got.exists, got.info, nil
		st.attempted.Store(0)
		st.acked.Store(0)
	}
	if !ok {
		return false
	}
	listed, err := e.ListStores("", math.MaxInt)
	if err != nil {
		t.Errorf("ListStores after the crash: %v", err)
		return false
	}
	if len(listed) != len(want) {
		t.Errorf("ListStores after the crash lists %d stores, want %d: %v", len(listed), len(want), listed)
		return false
	}
	for _, s := range listed {
		if w, found := want[s.ID]; !found || !sameInfo(w, s.Info) {
			t.Errorf("ListStores after the crash: store %q %+v, want %+v (present %v)", s.ID, s.Info, w, found)
			ok = false
		}
	}
	return ok
}

// readCrashState reads a store's whole state and checks that its metadata is consistent with
// its events and that no key of the store is left when the store does not exist.
func readCrashState(e *Engine, id string) (crashState, error) {
	info, err := e.LoadStore(id)
	if errors.Is(err, storage.ErrStoreNotFound) {
		lower, upper := keysFor(id).bounds()
		var keys int
		if err := scan(e.db, lower, upper, func(*pebble.Iterator) (bool, error) { keys++; return true, nil }); err != nil {
			return crashState{}, err
		}
		if keys > 0 {
			return crashState{}, fmt.Errorf("no metadata, yet %d keys in the store's range", keys)
		}
		return crashState{}, nil
	}
	if err != nil {
		return crashState{}, err
	}
	events, err := e.ReadEvents(id, 0, math.MaxUint64, math.MaxInt)
	if err != nil {
		return crashState{}, err
	}
	count, err := e.CountEvents(id, 0, math.MaxUint64)
	if err != nil {
		return crashState{}, err
	}
	var bytes, head uint64
	for i := range events {
		size, err := fieldsSize(&events[i])
		if err != nil {
			return crashState{}, err
		}
		bytes += uint64(size)
		head = events[i].SeqNum
	}
	if info.Head != head || info.EventCount != uint64(len(events)) || info.EventBytes != bytes || count != info.EventCount {
		return crashState{}, fmt.Errorf("metadata head %d count %d bytes %d, but the %d events (counted %d) end at %d with %d bytes",
			info.Head, info.EventCount, info.EventBytes, len(events), count, head, bytes)
	}
	return crashState{exists: true, info: info, events: events}, nil
}

// matchPrefix returns the k in [lo, hi] for which got is the state after st's first k
// operations, or -1 and a description of how got differs from the candidates.
func matchPrefix(st *crashStore, got crashState, lo, hi int) (int, string) {
	s := st.base
	s.events = slices.Clone(s.events)
	var diffs []string
	for k := 0; k <= hi; k++ {
		if k > 0 {
			s.apply(st.ops[k-1])
		}
		if k < lo {
			continue
		}
		d := diffState(s, got)
		if d == "" {
			return k, ""
		}
		diffs = append(diffs, fmt.Sprintf("  after %d operations: %s", k, d))
	}
	return -1, "matches no allowed prefix of its operations:\n" + strings.Join(diffs, "\n")
}

// fieldsSize is the Size of the fields of r, a record read back, decoded from its Encoded bytes
// when it has only those.
func fieldsSize(r *storage.Record) (int, error) {
	if r.Encoded == nil {
		return r.Size(), nil
	}
	f, err := eventjson.ParseEvent(r.Encoded)
	if err != nil {
		return 0, fmt.Errorf("event %d: %w", r.SeqNum, err)
	}
	fields := storage.Record{Name: f.Name, Args: f.Args, ClientID: f.ClientID, SessionID: f.SessionID}
	return fields.Size(), nil
}

// diffState describes how got differs from want, or returns "" when they are the same.
func diffState(want, got crashState) string {
	if want.exists != got.exists || !sameInfo(want.info, got.info) || len(want.events) != len(got.events) {
		return fmt.Sprintf("want %v, got %v", want, got)
	}
	for i := range want.events {
		if !sameRec(decoded(want.events[i]), got.events[i]) {
			return fmt.Sprintf("event %d: want %+v, got %+v", i, want.events[i], got.events[i])
		}
	}
	return ""
}

// sameInfo compares metadata, CreatedAt as an instant.
func sameInfo(a, b storage.StoreInfo) bool {
	return a.BackendID == b.BackendID && a.Head == b.Head && a.CreatedAt.Equal(b.CreatedAt) &&
		a.EventCount == b.EventCount && a.EventBytes == b.EventBytes
}
