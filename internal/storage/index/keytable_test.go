package index

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestKeyTable checks the hash table against a Go map through random
// inserts and removes, in a table small enough for long probe runs that
// wrap around its end, and across growth.
func TestKeyTable(t *testing.T) {
	for _, tt := range []struct {
		name      string
		keys, ops int
	}{
		{"dense, no growth", 700, 20_000},
		{"growth", 5000, 30_000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tt.keys)))
			var ids idTable
			tab := newKeyTable(0)
			model := map[string]uint32{}
			for id := uint32(1); id <= uint32(tt.keys); id++ {
				ids.set(id, fmt.Sprintf("k%d", id))
			}
			for range tt.ops {
				id := uint32(rng.IntN(tt.keys)) + 1
				key := ids.key(id)
				if _, ok := model[key]; ok && rng.IntN(2) == 0 {
					tab.remove(key, id)
					delete(model, key)
				} else if !ok {
					tab.insert(key, id)
					model[key] = id
				}
				if tab.n != len(model) {
					t.Fatalf("n = %d, model has %d", tab.n, len(model))
				}
			}
			for id := uint32(1); id <= uint32(tt.keys); id++ {
				key := ids.key(id)
				got, ok := tab.find(key, &ids)
				want, wok := model[key]
				if ok != wok || got != want {
					t.Fatalf("find(%s) = %d %v, want %d %v", key, got, ok, want, wok)
				}
			}
		})
	}
}

func TestTableSize(t *testing.T) {
	for _, tt := range []struct{ n, want int }{
		{0, minTableSlots}, {767, minTableSlots}, {768, 2 * minTableSlots}, {1_000_000, 1 << 21},
	} {
		if got := tableSize(tt.n); got != tt.want {
			t.Errorf("tableSize(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
}

func TestIDTable(t *testing.T) {
	var ids idTable
	want := map[uint32]string{1: "a", 1023: "b", 1024: "c", 1 << 20: "d", 1<<32 - 1: "e"}
	for id, k := range want {
		ids.set(id, k)
	}
	ids.set(5000, "") // clearing a missing page allocates nothing
	if ids.page(5000) != nil {
		t.Fatal("set of an empty key allocated a page")
	}
	var got []uint32
	ids.each(func(id uint32, key string) {
		if want[id] != key {
			t.Errorf("each: id %d key %q, want %q", id, key, want[id])
		}
		got = append(got, id)
	})
	if !slices.Equal(got, []uint32{1, 1023, 1024, 1 << 20, 1<<32 - 1}) {
		t.Fatalf("each visited %v", got)
	}
	ids.set(1024, "")
	ids.set(1<<20, "")
	ids.dropEmpty(1<<20 + 5) // the page of 1<<20 is still being filled
	if ids.page(1024) != nil || ids.page(1<<20) == nil || ids.key(1) != "a" || ids.key(1<<32-1) != "e" {
		t.Fatal("dropEmpty dropped the wrong pages")
	}
	ids.dropEmpty(1 << 21)
	if ids.dirs[1] != nil {
		t.Fatal("dropEmpty kept an empty directory")
	}
}
