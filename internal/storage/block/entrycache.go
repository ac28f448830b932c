package block

import (
	"container/list"
	"sync"
	"sync/atomic"
	"unsafe"
)

// EntryCache keeps decoded series entries (the field and chunk lists
// Fields returns) of recently read series, across the readers that share
// it, within a memory budget. A dashboard asks for the same few hundred
// series every refresh; without the cache each ask is a pread, a CRC and
// a decode of the series' whole entry, a sixth of a small query's time.
// Readers are immutable, so entries never go stale; those of closed
// readers age out.
type EntryCache struct {
	mu     sync.Mutex
	budget int64
	bytes  int64
	lru    *list.List // front: most recently used *cacheItem
	items  map[entryKey]*list.Element

	hits, misses atomic.Int64
}

type entryKey struct {
	reader uint64 // Reader.id: unique per open, never reused
	series int    // index in the series table
}

type cacheItem struct {
	key    entryKey
	fields []FieldInfo
	size   int64
}

// NewEntryCache returns a cache holding at most budget bytes of entries
// (estimated from their decoded size).
func NewEntryCache(budget int64) *EntryCache {
	return &EntryCache{budget: budget, lru: list.New(), items: make(map[entryKey]*list.Element)}
}

// Stats returns the cache's hits and misses.
func (c *EntryCache) Stats() (hits, misses int64) { return c.hits.Load(), c.misses.Load() }

func (c *EntryCache) get(k entryKey) ([]FieldInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	c.lru.MoveToFront(e)
	return e.Value.(*cacheItem).fields, true
}

func (c *EntryCache) put(k entryKey, fs []FieldInfo) {
	size := int64(unsafe.Sizeof(cacheItem{})) + 64 // the item, its list element and map slot
	for _, f := range fs {
		size += int64(unsafe.Sizeof(f)) + int64(len(f.Chunks))*int64(unsafe.Sizeof(ChunkMeta{}))
	}
	if size > c.budget/8 {
		return // one huge entry must not flush everything else
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[k]; ok {
		return
	}
	c.items[k] = c.lru.PushFront(&cacheItem{key: k, fields: fs, size: size})
	c.bytes += size
	for c.bytes > c.budget {
		old := c.lru.Back()
		it := old.Value.(*cacheItem)
		c.lru.Remove(old)
		delete(c.items, it.key)
		c.bytes -= it.size
	}
}

var readerIDs atomic.Uint64
