package query

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/storage/index"
)

// measurementsOf resolves a statement's FROM clause to measurement names
// (sorted): all measurements when sources is empty, regex sources
// matched against every name.
func measurementsOf(ix *index.Index, sources influxql.Sources) []string {
	if len(sources) == 0 {
		return ix.Measurements()
	}
	set := map[string]bool{}
	for _, src := range sources {
		m, ok := src.(*influxql.Measurement)
		if !ok {
			continue
		}
		if m.Regex != nil {
			for _, name := range ix.MatchMeasurements(m.Regex.Val.MatchString) {
				set[name] = true
			}
			continue
		}
		set[m.Name] = true
	}
	return slices.Sorted(maps.Keys(set))
}

func limitOffset[T any](list []T, limit, offset int) []T {
	if offset > 0 {
		if offset >= len(list) {
			return nil
		}
		list = list[offset:]
	}
	if limit > 0 && limit < len(list) {
		list = list[:limit]
	}
	return list
}

// index returns a database's index, with InfluxDB's error text (no
// quotes around the name, unlike a write's).
func (x *Executor) index(db string) (*index.Index, error) {
	ix, err := x.Store.Index(db)
	if err != nil {
		return nil, fmt.Errorf("database not found: %s", db)
	}
	return ix, nil
}

func (x *Executor) showMeasurements(ctx context.Context, s *influxql.ShowMeasurementsStatement, opt Options) ([]*Row, error) {
	tk := ticker{ctx: ctx}
	db, err := database(s.Database, opt)
	if err != nil {
		return nil, err
	}
	ix, err := x.index(db)
	if err != nil {
		return nil, nil // InfluxDB lists nothing for a missing database
	}
	var names []string
	switch {
	case s.Source == nil:
		names = ix.Measurements()
	default:
		names = measurementsOf(ix, influxql.Sources{s.Source})
		if m, ok := s.Source.(*influxql.Measurement); ok && m.Regex == nil {
			// WITH MEASUREMENT = name lists it only when it exists.
			names = filterExisting(ix, names)
		}
	}
	if s.Condition != nil {
		kept := names[:0]
		for _, n := range names {
			if err := tk.tick(); err != nil {
				return nil, err
			}
			set, err := seriesMatching(ix, n, s.Condition, nil)
			if err != nil {
				return nil, err
			}
			if !set.IsEmpty() {
				kept = append(kept, n)
			}
		}
		names = kept
	}
	names = limitOffset(names, s.Limit, s.Offset)
	if len(names) == 0 {
		return nil, nil
	}
	row := &Row{Name: "measurements", Columns: []string{"name"}}
	for _, n := range names {
		row.Values = append(row.Values, []any{n})
	}
	return []*Row{row}, nil
}

func filterExisting(ix *index.Index, names []string) []string {
	kept := names[:0]
	for _, n := range names {
		if !ix.MeasurementSeries(n).IsEmpty() {
			kept = append(kept, n)
		}
	}
	return kept
}

func (x *Executor) showTagKeys(ctx context.Context, s *influxql.ShowTagKeysStatement, opt Options) ([]*Row, error) {
	tk := ticker{ctx: ctx}
	_, ix, err := x.databaseIndex(s.Database, opt)
	if err != nil {
		return nil, err
	}
	var rows []*Row
	for _, m := range limitOffset(measurementsOf(ix, s.Sources), s.SLimit, s.SOffset) {
		if err := tk.tick(); err != nil {
			return nil, err
		}
		var keys []string
		if s.Condition != nil {
			set, err := seriesMatching(ix, m, s.Condition, nil)
			if err != nil {
				return nil, err
			}
			if keys, err = tagKeysOfSeries(&tk, ix, set); err != nil {
				return nil, err
			}
		} else {
			keys = ix.TagKeys(m)
		}
		keys = limitOffset(keys, s.Limit, s.Offset)
		if len(keys) == 0 {
			continue
		}
		row := &Row{Name: m, Columns: []string{"tagKey"}}
		for _, k := range keys {
			row.Values = append(row.Values, []any{k})
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func tagKeysOfSeries(tk *ticker, ix *index.Index, set *roaring.Bitmap) ([]string, error) {
	keys := map[string]bool{}
	it := set.Iterator()
	for it.HasNext() {
		if err := tk.tick(); err != nil {
			return nil, err
		}
		_, tags, ok := ix.Series(uint64(it.Next()))
		if !ok {
			continue
		}
		for _, t := range tags {
			keys[t.Key] = true
		}
	}
	out := make([]string, 0, len(keys))
	for k := range keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

func (x *Executor) showTagValues(ctx context.Context, s *influxql.ShowTagValuesStatement, opt Options) ([]*Row, error) {
	tk := ticker{ctx: ctx}
	_, ix, err := x.databaseIndex(s.Database, opt)
	if err != nil {
		return nil, err
	}
	var rows []*Row
	for _, m := range measurementsOf(ix, s.Sources) {
		if err := tk.tick(); err != nil {
			return nil, err
		}
		keys := matchTagKeys(ix.TagKeys(m), s.Op, s.TagKeyExpr)
		var set *roaring.Bitmap
		if s.Condition != nil {
			if set, err = seriesMatching(ix, m, s.Condition, nil); err != nil {
				return nil, err
			}
		}
		row := &Row{Name: m, Columns: []string{"key", "value"}}
		for _, k := range keys {
			for _, v := range ix.TagValues(m, k) {
				if err := tk.tick(); err != nil {
					return nil, err
				}
				if set != nil && !set.Intersects(ix.TagValueSeries(m, k, v)) {
					continue
				}
				row.Values = append(row.Values, []any{k, v})
			}
		}
		row.Values = limitOffset(row.Values, s.Limit, s.Offset)
		if len(row.Values) > 0 {
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// matchTagKeys applies WITH KEY = / != / =~ / !~ / IN to a sorted key list.
func matchTagKeys(keys []string, op influxql.Token, expr influxql.Literal) []string {
	var match func(string) bool
	switch lit := expr.(type) {
	case *influxql.StringLiteral:
		match = func(k string) bool { return k == lit.Val }
	case *influxql.RegexLiteral:
		match = lit.Val.MatchString
	case *influxql.ListLiteral:
		set := map[string]bool{}
		for _, v := range lit.Vals {
			set[v] = true
		}
		match = func(k string) bool { return set[k] }
	default:
		return nil
	}
	var out []string
	for _, k := range keys {
		ok := match(k)
		if op == influxql.NEQ || op == influxql.NEQREGEX {
			ok = !ok
		}
		if ok {
			out = append(out, k)
		}
	}
	return out
}

func (x *Executor) showFieldKeys(ctx context.Context, s *influxql.ShowFieldKeysStatement, opt Options) ([]*Row, error) {
	tk := ticker{ctx: ctx}
	db, ix, err := x.databaseIndex(s.Database, opt)
	if err != nil {
		return nil, err
	}
	var rows []*Row
	for _, m := range measurementsOf(ix, s.Sources) {
		if err := tk.tick(); err != nil {
			return nil, err
		}
		types, err := x.Store.FieldTypes(db, m)
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(types))
		for n := range types {
			names = append(names, n)
		}
		sort.Strings(names)
		names = limitOffset(names, s.Limit, s.Offset)
		if len(names) == 0 {
			continue
		}
		row := &Row{Name: m, Columns: []string{"fieldKey", "fieldType"}}
		for _, n := range names {
			row.Values = append(row.Values, []any{n, types[n].String()})
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (x *Executor) showSeries(ctx context.Context, s *influxql.ShowSeriesStatement, opt Options) ([]*Row, error) {
	tk := ticker{ctx: ctx}
	_, ix, err := x.databaseIndex(s.Database, opt)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, m := range measurementsOf(ix, s.Sources) {
		set := ix.MeasurementSeries(m)
		if s.Condition != nil {
			if set, err = seriesMatching(ix, m, s.Condition, nil); err != nil {
				return nil, err
			}
		}
		it := set.Iterator()
		for it.HasNext() {
			if err := tk.tick(); err != nil {
				return nil, err
			}
			if k, ok := ix.SeriesKey(uint64(it.Next())); ok {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	keys = limitOffset(keys, s.Limit, s.Offset)
	if len(keys) == 0 {
		return nil, nil
	}
	row := &Row{Columns: []string{"key"}}
	for _, k := range keys {
		row.Values = append(row.Values, []any{k})
	}
	return []*Row{row}, nil
}

// databaseIndex resolves the database a statement names (or the
// request's) and its series index: the preamble of every SHOW and
// deletion statement.
func (x *Executor) databaseIndex(stmtDB string, opt Options) (string, *index.Index, error) {
	db, err := database(stmtDB, opt)
	if err != nil {
		return "", nil, err
	}
	ix, err := x.index(db)
	return db, ix, err
}
