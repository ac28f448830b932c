package query

import (
	"context"
	"github.com/RoaringBitmap/roaring/v2"
	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/storage/index"
)

// Cardinality statements count from the series index. InfluxDB answers
// the estimated forms without FROM or WHERE from a sketch (one
// "cardinality estimation" value); herd's count is exact, which equals
// the sketch below its error bound. Every other form is, as in InfluxDB,
// one "count" row per measurement.

func countRow(name string, n int) *Row {
	return &Row{Name: name, Columns: []string{"count"}, Values: [][]any{{int64(n)}}}
}

func estimationRow(n int) []*Row {
	return []*Row{{Columns: []string{"cardinality estimation"}, Values: [][]any{{int64(n)}}}}
}

func (x *Executor) showSeriesCardinality(ctx context.Context, s *influxql.ShowSeriesCardinalityStatement, opt Options) ([]*Row, error) {
	tk := ticker{ctx: ctx}
	db, err := database(s.Database, opt)
	if err != nil {
		return nil, err
	}
	ix, err := x.index(db)
	if !s.Exact && len(s.Sources) == 0 && s.Condition == nil {
		if err != nil {
			return estimationRow(0), nil
		}
		return estimationRow(ix.SeriesCount()), nil
	}
	if err != nil {
		return nil, err
	}
	return x.perMeasurement(&tk, db, s.Sources, s.Condition, func(_ *index.Index, _ string, set *roaring.Bitmap) (int, error) {
		return int(set.GetCardinality()), nil
	})
}

func (x *Executor) showMeasurementCardinality(ctx context.Context, s *influxql.ShowMeasurementCardinalityStatement, opt Options) ([]*Row, error) {
	tk := ticker{ctx: ctx}
	db, err := database(s.Database, opt)
	if err != nil {
		return nil, err
	}
	ix, err := x.index(db)
	if !s.Exact && len(s.Sources) == 0 && s.Condition == nil {
		if err != nil {
			return estimationRow(0), nil
		}
		return estimationRow(len(ix.Measurements())), nil
	}
	if err != nil {
		return nil, err
	}
	n := 0
	for _, m := range measurementsOf(ix, s.Sources) {
		if err := tk.tick(); err != nil {
			return nil, err
		}
		set, err := seriesMatching(ix, m, s.Condition, nil)
		if err != nil {
			return nil, err
		}
		if !set.IsEmpty() {
			n++
		}
	}
	return []*Row{{Columns: []string{"count"}, Values: [][]any{{int64(n)}}}}, nil
}

// perMeasurement runs count for each measurement of sources over the
// series matching cond, leaving out zero counts.
func (x *Executor) perMeasurement(tk *ticker, db string, sources influxql.Sources, cond influxql.Expr,
	count func(ix *index.Index, m string, set *roaring.Bitmap) (int, error)) ([]*Row, error) {
	ix, err := x.index(db)
	if err != nil {
		return nil, err
	}
	var rows []*Row
	for _, m := range measurementsOf(ix, sources) {
		if err := tk.tick(); err != nil {
			return nil, err
		}
		set, err := seriesMatching(ix, m, cond, nil)
		if err != nil {
			return nil, err
		}
		if set.IsEmpty() {
			continue
		}
		n, err := count(ix, m, set)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			rows = append(rows, countRow(m, n))
		}
	}
	return rows, nil
}

func (x *Executor) showTagValuesCardinality(ctx context.Context, s *influxql.ShowTagValuesCardinalityStatement, opt Options) ([]*Row, error) {
	tk := ticker{ctx: ctx}
	db, err := database(s.Database, opt)
	if err != nil {
		return nil, err
	}
	return x.perMeasurement(&tk, db, s.Sources, s.Condition, func(ix *index.Index, m string, set *roaring.Bitmap) (int, error) {
		n := 0
		for _, k := range matchTagKeys(ix.TagKeys(m), s.Op, s.TagKeyExpr) {
			for _, v := range ix.TagValues(m, k) {
				if err := tk.tick(); err != nil {
					return 0, err
				}
				if set.Intersects(ix.TagValueSeries(m, k, v)) {
					n++
				}
			}
		}
		return n, nil
	})
}

func (x *Executor) showTagKeyCardinality(ctx context.Context, s *influxql.ShowTagKeyCardinalityStatement, opt Options) ([]*Row, error) {
	tk := ticker{ctx: ctx}
	db, err := database(s.Database, opt)
	if err != nil {
		return nil, err
	}
	return x.perMeasurement(&tk, db, s.Sources, s.Condition, func(ix *index.Index, m string, set *roaring.Bitmap) (int, error) {
		keys, err := tagKeysOfSeries(&tk, ix, set)
		return len(keys), err
	})
}

func (x *Executor) showFieldKeyCardinality(ctx context.Context, s *influxql.ShowFieldKeyCardinalityStatement, opt Options) ([]*Row, error) {
	tk := ticker{ctx: ctx}
	db, err := database(s.Database, opt)
	if err != nil {
		return nil, err
	}
	return x.perMeasurement(&tk, db, s.Sources, s.Condition, func(_ *index.Index, m string, _ *roaring.Bitmap) (int, error) {
		types, err := x.Store.FieldTypes(db, m)
		return len(types), err
	})
}
