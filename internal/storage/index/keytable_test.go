package index

import (
	"fmt"
	"math/rand/v2"
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
