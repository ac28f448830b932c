package storage

import (
	"fmt"

	"github.com/herdmon/herd/internal/models"
)

// DefaultMaxFieldsPerMeasurement bounds the distinct field keys of one
// measurement in one shard. InfluxDB 1.x has no such limit; herd has one
// because every field key of a series is a head column and a fields.json
// entry: a client inventing keys without end would grow the head, the
// flushes and SELECT * until the board stalls. Real Telegraf inputs stay
// in the hundreds (mysql, nstat and snmp tables are among the widest), so
// 100,000 is never met in practice and still keeps a shard's field map
// to a few megabytes.
const DefaultMaxFieldsPerMeasurement = 100_000

// checkFieldLimits drops the prepared points that would give their
// measurement more distinct field keys in their shard than
// MaxFieldsPerMeasurement. It runs before the write is queued, so a
// refused point never reaches the WAL and replay (whatever the limit is
// then) never brings it back. Concurrent writers check against the
// same stored state, so together they may pass the limit by the new
// keys of the writes in flight: a bound on growth, not an exact count.
// The common case (no measurement of the shard near the limit) takes no
// lock.
func (e *Engine) checkFieldLimits(db *database, rp string, b *models.Batch, sc *writeScratch, res *applyResult) {
	limit := e.opts.MaxFieldsPerMeasurement
	if limit <= 0 {
		return
	}
	var cur *shard
	for i := range b.Points {
		p := &b.Points[i]
		if sc.ids[i] == 0 {
			continue
		}
		if cur == nil || p.Time < cur.start || p.Time >= cur.end {
			if cur = e.findShard(db, rp, p.Time); cur == nil {
				continue // beyond retention: apply drops it
			}
		}
		if int(cur.widest.Load())+len(p.Fields) <= limit {
			continue
		}
		cur.mu.RLock()
		reason := fieldLimitReason(cur.fields[p.Measurement], p, limit)
		cur.mu.RUnlock()
		if reason != "" {
			e.stats.FieldLimitDrops.Add(1)
			res.drop(reason)
			sc.ids[i] = 0
		}
	}
}

// fieldLimitReason says why p may not add its new field keys to known,
// its measurement's keys in the shard; "" when it may.
func fieldLimitReason(known map[string]models.FieldType, p *models.Point, limit int) string {
	if len(known)+len(p.Fields) <= limit {
		return ""
	}
	var added map[string]struct{}
	for j := range p.Fields {
		k := p.Fields[j].Key
		if _, ok := known[k]; !ok {
			if added == nil {
				added = make(map[string]struct{})
			}
			added[k] = struct{}{}
		}
	}
	if len(known)+len(added) <= limit {
		return ""
	}
	// InfluxDB's max-values-per-tag wording, for a limit it does not have.
	return fmt.Sprintf("max-fields-per-measurement limit exceeded (%d/%d): measurement=%q new fields=%d; raise max-fields-per-measurement to write more field keys",
		len(known)+len(added), limit, p.Measurement, len(added))
}
