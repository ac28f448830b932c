package index

import "github.com/herdmon/herd/internal/models"

// parseKey splits a series key made by models.AppendSeriesKey into its
// measurement and tags, appending the tags to dst, sharing key's memory.
func parseKey(key string, dst models.Tags) (string, models.Tags) {
	return models.AppendParsedSeriesKey(key, dst)
}

// sameSeries reports whether a parsed key names the given measurement and
// tags. A key that does not parse back to what it was built from (a tag
// value ending in a backslash, say) is ambiguous: two different tag sets
// could share it, and with it one series id.
func sameSeries(m string, tags models.Tags, pm string, ptags models.Tags) bool {
	if m != pm || len(tags) != len(ptags) {
		return false
	}
	for i := range tags {
		if tags[i] != ptags[i] {
			return false
		}
	}
	return true
}
