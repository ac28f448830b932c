package query

import (
	"context"
	"errors"
	"fmt"

	"github.com/influxdata/influxql"
)

// Deleter removes data: what DROP MEASUREMENT, DROP SERIES and DELETE
// need from storage. Series ids are those of the database's Index. Until
// the Store implements it, those statements answer "not supported yet".
type Deleter interface {
	// DropMeasurement removes a measurement's series from the index and
	// their data from every retention policy.
	DropMeasurement(db, measurement string) error
	// DeleteSeries removes series from the index and all their data.
	DeleteSeries(db string, ids []uint64) error
	// DeleteRange removes the series' data with minT <= time <= maxT in
	// every retention policy; series left without data anywhere leave
	// the index too (as InfluxDB's DELETE does).
	DeleteRange(db string, ids []uint64, minT, maxT int64) error
}

var errFieldsInDelete = errors.New("fields not supported in WHERE clause during deletion")

// deleter returns the Store as a Deleter, or the "not supported yet"
// error naming the statement.
func (x *Executor) deleter(stmt influxql.Statement) (Deleter, error) {
	if d, ok := x.Store.(Deleter); ok {
		return d, nil
	}
	return nil, &UnsupportedError{What: fmt.Sprintf("%T", stmt)}
}

func (x *Executor) dropMeasurement(s *influxql.DropMeasurementStatement, opt Options) ([]*Row, error) {
	d, err := x.deleter(s)
	if err != nil {
		return nil, err
	}
	db, ix, err := x.databaseIndex("", opt)
	if err != nil {
		return nil, err
	}
	if ix.MeasurementSeries(s.Name).IsEmpty() {
		return nil, nil
	}
	return nil, d.DropMeasurement(db, s.Name)
}

// deletion resolves the series a DROP SERIES or DELETE names: per
// measurement of sources (all without FROM), those matching the tag
// condition, which may not name fields.
func (x *Executor) deletion(ctx context.Context, sources influxql.Sources, cond influxql.Expr, opt Options) (string, []uint64, error) {
	db, ix, err := x.databaseIndex("", opt)
	if err != nil {
		return "", nil, err
	}
	tk := ticker{ctx: ctx}
	var ids []uint64
	for _, m := range measurementsOf(ix, sources) {
		if err := tk.tick(); err != nil {
			return "", nil, err
		}
		if cond != nil {
			types, err := x.Store.FieldTypes(db, m)
			if err != nil {
				return "", nil, err
			}
			field := false
			influxql.WalkFunc(cond, func(n influxql.Node) {
				if v, ok := n.(*influxql.VarRef); ok {
					if _, ok := types[v.Val]; ok {
						field = true
					}
				}
			})
			if field {
				return "", nil, errFieldsInDelete
			}
		}
		set, err := seriesMatching(ix, m, cond, nil)
		if err != nil {
			return "", nil, err
		}
		it := set.Iterator()
		for it.HasNext() {
			if err := tk.tick(); err != nil {
				return "", nil, err
			}
			ids = append(ids, uint64(it.Next()))
		}
	}
	return db, ids, nil
}

func (x *Executor) dropSeries(ctx context.Context, s *influxql.DropSeriesStatement, opt Options) ([]*Row, error) {
	d, err := x.deleter(s)
	if err != nil {
		return nil, err
	}
	if s.Condition != nil && influxql.HasTimeExpr(s.Condition) {
		return nil, errors.New("DROP SERIES doesn't support time in WHERE clause")
	}
	db, ids, err := x.deletion(ctx, s.Sources, s.Condition, opt)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	return nil, d.DeleteSeries(db, ids)
}

func (x *Executor) deleteSeries(ctx context.Context, s *influxql.DeleteSeriesStatement, opt Options) ([]*Row, error) {
	d, err := x.deleter(s)
	if err != nil {
		return nil, err
	}
	cond, tr, err := conditionExpr(ctx, s.Condition, &influxql.NowValuer{Now: opt.Now})
	if err != nil {
		return nil, err
	}
	db, ids, err := x.deletion(ctx, s.Sources, cond, opt)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	minT, maxT := int64(influxql.MinTime), int64(influxql.MaxTime)
	if !tr.Min.IsZero() {
		minT = tr.Min.UnixNano()
	}
	if !tr.Max.IsZero() {
		maxT = tr.Max.UnixNano()
	}
	return nil, d.DeleteRange(db, ids, minT, maxT)
}
