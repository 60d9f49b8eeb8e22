package pebblestore

import "sync"

// maxCachedHeads bounds the stores whose head headCache remembers; when it is reached the cache
// starts over, and the heads are read from disk again as stores are written.
const maxCachedHeads = 1 << 16

// headCache remembers the head of the stores this engine wrote or read, so that Append checks
// its prevHead without reading the store's metadata. The engine is the only writer of its
// database (its directory is locked), so what it wrote last is what is on disk; an entry is
// dropped whenever a write's outcome is unknown (a failed commit).
type headCache struct {
	mu    sync.Mutex
	heads map[string]uint64
}

// get returns the cached head of the store, reporting whether there is one.
func (c *headCache) get(storeID string) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.heads[storeID]
	return h, ok
}

// set remembers the head of the store.
func (c *headCache) set(storeID string, head uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.heads == nil || len(c.heads) >= maxCachedHeads {
		c.heads = make(map[string]uint64)
	}
	c.heads[storeID] = head
}

// forget drops what the cache knows of the store.
func (c *headCache) forget(storeID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.heads, storeID)
}
