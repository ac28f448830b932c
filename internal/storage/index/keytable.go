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

// idTable maps ids to keys in pages of pageSize, so that growing it never
// copies (and briefly doubles) a table of a million strings.
type idTable struct {
	pages []*page
}

const (
	pageBits = 10
	pageSize = 1 << pageBits
)

type page [pageSize]string

// key returns the key of id, "" when it has none.
func (t *idTable) key(id uint32) string {
	p := id >> pageBits
	if p >= uint32(len(t.pages)) || t.pages[p] == nil {
		return ""
	}
	return t.pages[p][id&(pageSize-1)]
}

func (t *idTable) set(id uint32, key string) {
	p := int(id >> pageBits)
	for len(t.pages) <= p {
		t.pages = append(t.pages, new(page))
	}
	t.pages[p][id&(pageSize-1)] = key
}

// bytesView lets a []byte be looked up as a string without a copy. The
// string must not outlive the call: the caller may reuse the bytes.
func bytesView(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
