package query

import (
	"context"
	"fmt"
	"time"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/models"
)

// Writer stores points: what SELECT ... INTO writes through.
// storage.Engine satisfies it.
type Writer interface {
	WriteBatch(b *models.Batch) error
}

// selectInto runs SELECT ... INTO: the select's rows become points of
// the target measurement (or of each source measurement for
// :MEASUREMENT), with the GROUP BY tags as tags and every other column,
// selected tags included, as fields; null values are left out. The
// answer is InfluxDB's: one "result" row with the number of points
// written.
func (x *Executor) selectInto(ctx context.Context, s *influxql.SelectStatement, opt Options) ([]*Row, error) {
	w := x.Writer
	if w == nil {
		w, _ = x.Store.(Writer)
	}
	if w == nil {
		return nil, &UnsupportedError{What: "SELECT ... INTO"}
	}
	target := s.Target.Measurement
	db, err := database(target.Database, opt)
	if err != nil {
		return nil, err
	}
	if _, err := x.Store.Index(db); err != nil {
		return nil, fmt.Errorf("database not found: %s", db)
	}
	inner := s.Clone()
	inner.Target = nil
	rows, err := x.executeSelect(ctx, inner, opt)
	if err == nil {
		err = ctx.Err() // an interrupted select writes nothing
	}
	if err != nil {
		return nil, err
	}
	var pts []models.Point
	for _, r := range rows {
		name := target.Name
		if name == "" {
			name = r.Name
		}
		var tags models.Tags
		for k, v := range r.Tags {
			if v != "" {
				tags = append(tags, models.Tag{Key: k, Value: v})
			}
		}
		tags.Sort()
		for _, v := range r.Values {
			var fields []models.Field
			for c := 1; c < len(v) && c < len(r.Columns); c++ {
				if f, ok := intoField(r.Columns[c], v[c]); ok {
					fields = append(fields, f)
				}
			}
			if len(fields) == 0 {
				continue
			}
			ts, _ := v[0].(time.Time)
			pts = append(pts, models.Point{Measurement: name, Tags: tags, Fields: fields, Time: ts.UnixNano()})
		}
	}
	if len(pts) > 0 {
		if err := w.WriteBatch(&models.Batch{Database: db, RetentionPolicy: target.RetentionPolicy, Points: pts}); err != nil {
			return nil, err
		}
	}
	return []*Row{{Name: "result", Columns: []string{"time", "written"},
		Values: [][]any{{time.Unix(0, 0).UTC(), int64(len(pts))}}}}, nil
}

func intoField(key string, v any) (models.Field, bool) {
	switch x := v.(type) {
	case float64:
		return models.FloatField(key, x), true
	case int64:
		return models.IntegerField(key, x), true
	case uint64:
		return models.UnsignedField(key, x), true
	case string:
		return models.StringField(key, x), true
	case bool:
		return models.BooleanField(key, x), true
	}
	return models.Field{}, false
}
