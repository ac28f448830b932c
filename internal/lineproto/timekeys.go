package lineproto

import "github.com/herdmon/herd/internal/models"

// DropTimeKeys applies InfluxDB 1.8's write-time rule for the reserved
// name "time" (tsdb/shard.go), which its parser lets through: a point with
// a tag keyed "time" is dropped; fields named "time" are removed, and a
// point left without fields is dropped. It filters pts in place (the
// Fields slices too) and returns the kept points, how many were dropped
// and the reason for the first drop, in InfluxDB's words, for the
// "partial write: <reason> dropped=<n>" answer. The measurement name
// "time" is allowed, as in InfluxDB.
func DropTimeKeys(pts []models.Point) (kept []models.Point, dropped int, reason string) {
	kept = pts[:0]
	for _, p := range pts {
		if hasTimeTag(p.Tags) {
			dropped++
			if reason == "" {
				reason = "invalid tag key: input tag \"time\" on measurement \"" + p.Measurement + "\" is invalid"
			}
			continue
		}
		n := 0
		for _, f := range p.Fields {
			if f.Key != "time" {
				p.Fields[n] = f
				n++
			}
		}
		if n == 0 {
			dropped++
			if reason == "" {
				reason = "invalid field name: input field \"time\" on measurement \"" + p.Measurement + "\" is invalid"
			}
			continue
		}
		p.Fields = p.Fields[:n]
		kept = append(kept, p)
	}
	return kept, dropped, reason
}

func hasTimeTag(tags models.Tags) bool {
	for _, t := range tags {
		if t.Key == "time" {
			return true
		}
	}
	return false
}
