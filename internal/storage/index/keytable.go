package index

import (
	"hash/maphash"
	"math/bits"
	"unsafe"
)

// keyTable maps series keys to ids: an open-addressing hash table with
// linear probing whose slots hold only a 32-bit hash and the id; the key
// itself is read from the id → key table. A Go map[string]uint32 costs
// about 40-50 bytes per series here (a 24-byte slot plus control bytes at
// its load factor); this costs 8 bytes a slot at a load of 3/8 to 3/4,
// 11-21 bytes per series, and no second string header per key.
//
// Slot layout: hash<<32 | id. Id 0 never exists, so a zero slot is empty.
// The home position of a slot is its hash masked to the table size, so
// neither growth nor deletion has to hash keys again.
type keyTable struct {
	seed  maphash.Seed
	slots []uint64 // length a power of two
	n     int
}

// minTableSlots is the size of a new table: 8 KiB.
const minTableSlots = 1024

func newKeyTable(capacity int) keyTable {
	t := keyTable{seed: maphash.MakeSeed()}
	t.slots = make([]uint64, tableSize(capacity))
	return t
}

// maxTableSlots bounds the table: 2^32 slots are all the positions a
// 32-bit hash can name (and, ids being 32-bit, more than there can be
// keys); 32-bit platforms could not allocate more than 2^30 anyway.
const maxTableSlots = 1 << min(32, bits.UintSize-2)

// tableSize is the smallest power of two that holds n keys at a load of
// at most 3/4.
func tableSize(n int) int {
	size := minTableSlots
	for size*3/4 < n+1 && size < maxTableSlots {
		size <<= 1
	}
	return size
}

func (t *keyTable) hash(key string) uint32 { return uint32(maphash.String(t.seed, key)) }

// find returns the id of key, reading keys from ids.
func (t *keyTable) find(key string, ids *idTable) (uint32, bool) {
	h := t.hash(key)
	mask := uint64(len(t.slots) - 1)
	for i := uint64(h) & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return 0, false
		}
		if uint32(s>>32) == h && ids.key(uint32(s)) == key {
			return uint32(s), true
		}
	}
}

// insert adds a key known to be absent.
func (t *keyTable) insert(key string, id uint32) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow(tableSize(t.n + 1))
	}
	t.put(uint64(t.hash(key))<<32 | uint64(id))
	t.n++
}

func (t *keyTable) put(slot uint64) {
	mask := uint64(len(t.slots) - 1)
	i := (slot >> 32) & mask
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = slot
}

func (t *keyTable) grow(size int) {
	old := t.slots
	t.slots = make([]uint64, size)
	for _, s := range old {
		if s != 0 {
			t.put(s)
		}
	}
}

// remove deletes key (which must be present with id) by shifting later
// slots of its probe run back, so that no tombstones are needed (Knuth's
// algorithm R).
func (t *keyTable) remove(key string, id uint32) {
	mask := uint64(len(t.slots) - 1)
	i := uint64(t.hash(key)) & mask
	for uint32(t.slots[i]) != id {
		if t.slots[i] == 0 {
			return
		}
		i = (i + 1) & mask
	}
	t.n--
	for {
		t.slots[i] = 0
		j := i
		for {
			j = (j + 1) & mask
			s := t.slots[j]
			if s == 0 {
				return
			}
			home := (s >> 32) & mask
			// The slot at j stays if its home lies cyclically in (i, j].
			if i <= j {
				if i < home && home <= j {
					continue
				}
			} else if i < home || home <= j {
				continue
			}
			t.slots[i] = s
			i = j
			break
		}
	}
}

// idTable maps ids to keys in pages of pageSize strings, found through a
// directory of dirSize pages per entry. Growing it never copies (and
// briefly doubles) a table of a million strings, and ids far apart (a
// compacted log whose oldest live series is recent, a header whose next
// id is high) cost a page and a directory, not every page in between.
type idTable struct {
	dirs []*dir // id >> (pageBits+dirBits); at most 4096
}

const (
	pageBits = 10
	pageSize = 1 << pageBits
	dirBits  = 10
	dirSize  = 1 << dirBits
)

type (
	page [pageSize]string
	dir  [dirSize]*page
)

// page returns the page holding id, nil when there is none.
func (t *idTable) page(id uint32) *page {
	d := id >> (pageBits + dirBits)
	if d >= uint32(len(t.dirs)) || t.dirs[d] == nil {
		return nil
	}
	return t.dirs[d][(id>>pageBits)&(dirSize-1)]
}

// key returns the key of id, "" when it has none.
func (t *idTable) key(id uint32) string {
	if p := t.page(id); p != nil {
		return p[id&(pageSize-1)]
	}
	return ""
}

// set stores the key of id; setting "" on a missing page does nothing.
func (t *idTable) set(id uint32, key string) {
	p := t.page(id)
	if p == nil {
		if key == "" {
			return
		}
		d := int(id >> (pageBits + dirBits))
		for len(t.dirs) <= d {
			t.dirs = append(t.dirs, nil)
		}
		if t.dirs[d] == nil {
			t.dirs[d] = new(dir)
		}
		p = new(page)
		t.dirs[d][(id>>pageBits)&(dirSize-1)] = p
	}
	p[id&(pageSize-1)] = key
}

// each calls fn for every id with a key, in id order.
func (t *idTable) each(fn func(id uint32, key string)) {
	for d, dr := range t.dirs {
		if dr == nil {
			continue
		}
		for i, pg := range dr {
			if pg == nil {
				continue
			}
			base := uint32(d)<<(pageBits+dirBits) | uint32(i)<<pageBits
			for j, key := range pg {
				if key != "" {
					fn(base|uint32(j), key)
				}
			}
		}
	}
}

// dropEmpty frees the pages wholly below id next that hold no key: ids
// are never reused, so they would stay empty.
func (t *idTable) dropEmpty(next uint64) {
	for d, dr := range t.dirs {
		if dr == nil {
			continue
		}
		empty := true
		for i, pg := range dr {
			if pg == nil {
				continue
			}
			base := uint64(d)<<(pageBits+dirBits) | uint64(i)<<pageBits
			if base+pageSize <= next && *pg == (page{}) {
				dr[i] = nil
				continue
			}
			empty = false
		}
		if empty {
			t.dirs[d] = nil
		}
	}
}

// bytesView lets a []byte be looked up as a string without a copy. The
// string must not outlive the call: the caller may reuse the bytes.
func bytesView(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
