package config

import (
	"testing"

	"github.com/BurntSushi/toml"
)

func TestKeyLine(t *testing.T) {
	src := "a = 1\n[disk]\n  ignore_fss = [\"x\"]\n\"quoted\" = 2\n[net.eth]\nmtu = 3\nx.y = 4\n"
	cases := []struct {
		key  toml.Key
		want int
	}{
		{toml.Key{"a"}, 1},
		{toml.Key{"disk"}, 2},
		{toml.Key{"disk", "ignore_fss"}, 3},
		{toml.Key{"disk", "quoted"}, 4},
		{toml.Key{"net", "eth"}, 5},
		{toml.Key{"net", "eth", "mtu"}, 6},
		{toml.Key{"net", "eth", "x.y"}, 7},
		{toml.Key{"nope"}, 0},
		{toml.Key{"disk", "a"}, 0},
		{nil, 0},
	}
	for _, tc := range cases {
		if got := KeyLine(src, tc.key); got != tc.want {
			t.Errorf("KeyLine(%v) = %d, want %d", tc.key, got, tc.want)
		}
	}
}

// FuzzLine: no input panics.
func FuzzKeyLine(f *testing.F) {
	f.Add("[disk]\nignore_fss = 1\n")
	f.Add("[[x]]\n a = [")
	f.Fuzz(func(t *testing.T, src string) {
		KeyLine(src, toml.Key{"disk", "ignore_fss"})
		KeyLine(src, toml.Key{"x"})
		KeyLine(src, nil)
	})
}
