package config

import (
	"strings"

	"github.com/BurntSushi/toml"
)

// The TOML decoder keeps no positions for keys it did not decode, and
// unknown keys are exactly what errors report: KeyLine finds them for
// the server's and the agent's configuration alike.

// KeyLine returns the 1-based line that sets key in src (as `last = ...`
// under the key's table header, as a dotted key, or as the header of a
// table named key), or 0 if it is not found.
func KeyLine(src string, key toml.Key) int {
	if len(key) == 0 {
		return 0
	}
	table := strings.Join(key[:len(key)-1], ".")
	last := key[len(key)-1]
	full := strings.Join(key, ".")
	cur := ""
	for i, line := range strings.Split(src, "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "[") {
			cur = strings.Trim(l, "[] \t")
			if cur == full {
				return i + 1
			}
			continue
		}
		k, _, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		k = strings.Trim(strings.TrimSpace(k), `"'`)
		if k == last && cur == table || k == full {
			return i + 1
		}
	}
	return 0
}
