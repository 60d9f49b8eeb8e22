package storagetest

import (
	"context"
	"errors"
	"sync"

	"github.com/livestore-sync/livestore-sync/service/storage"
)

// Cluster makes one engine look like a database that several nodes share: each Node is a
// storage.Shared over it, whose writes the others see through Watch. It lets the service's
// multi-node behaviour be tested in one process, without a database server. Writes are
// serialized across all nodes, as a database's row locks would serialize them.
type Cluster struct {
	base storage.Engine

	mu       sync.Mutex // serializes writes and guards the fields below
	watchers map[*watcher]struct{}
	paused   bool
	nodes    int
	closed   bool
}

// NewCluster returns a cluster over base, which it closes when the last of its nodes is closed.
func NewCluster(base storage.Engine) *Cluster {
	return &Cluster{base: base, watchers: make(map[*watcher]struct{})}
}

// Node returns a new node's view of the cluster's data.
func (c *Cluster) Node() storage.Shared {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes++
	return &clusterNode{Engine: c.base, c: c}
}

// Pause stops reporting writes to the watchers, as a lost connection to the database would:
// writes made while paused are never reported.
func (c *Cluster) Pause() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paused = true
}

// Resume reports writes again, after telling every watcher to resync.
func (c *Cluster) Resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paused = false
	for w := range c.watchers {
		w.push(report{resync: true})
	}
}

// notify reports a write to every watcher. The caller holds c.mu.
func (c *Cluster) notify(ch storage.Change) {
	if c.paused {
		return
	}
	for w := range c.watchers {
		w.push(report{change: ch})
	}
}

type clusterNode struct {
	storage.Engine
	c      *Cluster
	closed bool
}

func (n *clusterNode) CreateStore(storeID string, info storage.StoreInfo) error {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	if err := n.Engine.CreateStore(storeID, info); err != nil {
		return err
	}
	n.c.notify(storage.Change{StoreID: storeID, BackendID: info.BackendID, Head: info.Head})
	return nil
}

func (n *clusterNode) CreateStoreIfMissing(storeID string, info storage.StoreInfo) (storage.StoreInfo, error) {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	existing, err := n.Engine.LoadStore(storeID)
	if err == nil {
		return existing, nil
	}
	if !errors.Is(err, storage.ErrStoreNotFound) {
		return storage.StoreInfo{}, err
	}
	if err := n.Engine.CreateStore(storeID, info); err != nil {
		return storage.StoreInfo{}, err
	}
	n.c.notify(storage.Change{StoreID: storeID, BackendID: info.BackendID, Head: info.Head})
	return info, nil
}

func (n *clusterNode) Append(storeID string, prevHead uint64, events []storage.Record, info storage.StoreInfo) error {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	stored, err := n.Engine.LoadStore(storeID)
	if errors.Is(err, storage.ErrStoreNotFound) {
		return storage.ErrHeadMismatch
	}
	if err != nil {
		return err
	}
	if stored.Head != prevHead || stored.BackendID != info.BackendID {
		return storage.ErrHeadMismatch
	}
	if err := n.Engine.Append(storeID, prevHead, events, info); err != nil {
		return err
	}
	n.c.notify(storage.Change{StoreID: storeID, BackendID: info.BackendID, Head: info.Head})
	return nil
}

func (n *clusterNode) DeleteStore(storeID string) error {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	if err := n.Engine.DeleteStore(storeID); err != nil {
		return err
	}
	n.c.notify(storage.Change{StoreID: storeID})
	return nil
}

func (n *clusterNode) Watch(ctx context.Context, changed func(storage.Change), resync func()) error {
	w := &watcher{wake: make(chan struct{}, 1)}
	w.push(report{resync: true}) // writes before this call were not reported
	n.c.mu.Lock()
	n.c.watchers[w] = struct{}{}
	n.c.mu.Unlock()
	defer func() {
		n.c.mu.Lock()
		delete(n.c.watchers, w)
		n.c.mu.Unlock()
	}()
	for {
		for _, r := range w.take() {
			if r.resync {
				resync()
			} else {
				changed(r.change)
			}
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close closes the node; the last node to close closes the cluster's engine.
func (n *clusterNode) Close() error {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	if n.c.nodes--; n.c.nodes > 0 || n.c.closed {
		return nil
	}
	n.c.closed = true
	return n.c.base.Close()
}

// A report is what a watcher is told: a change, or to resync.
type report struct {
	change storage.Change
	resync bool
}

// A watcher is one Watch call's queue of reports, unbounded (tests only).
type watcher struct {
	mu    sync.Mutex
	queue []report
	wake  chan struct{}
}

func (w *watcher) push(r report) {
	w.mu.Lock()
	w.queue = append(w.queue, r)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watcher) take() []report {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queue
	w.queue = nil
	return q
}
