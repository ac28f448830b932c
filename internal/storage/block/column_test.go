package block

import (
	"fmt"
	"testing"

	"github.com/herdmon/herd/internal/models"
)

func TestColumnSpanSliceAppend(t *testing.T) {
	col := Column{Type: models.Integer, Times: []int64{10, 20, 30, 40}, Integers: []int64{1, 2, 3, 4}}
	cases := []struct {
		minT, maxT int64
		lo, hi     int
	}{
		{0, 100, 0, 4}, {10, 40, 0, 4}, {11, 39, 1, 3}, {20, 20, 1, 2}, {21, 29, 2, 2},
		{50, 60, 4, 4}, {0, 5, 0, 0}, {40, 10, 3, 3},
	}
	for _, tc := range cases {
		lo, hi := col.Span(tc.minT, tc.maxT)
		if lo != tc.lo || hi != tc.hi {
			t.Errorf("Span(%d, %d) = %d, %d, want %d, %d", tc.minT, tc.maxT, lo, hi, tc.lo, tc.hi)
		}
	}
	view := col.Slice(1, 3)
	if fmt.Sprint(view.Times, view.Integers, view.Value(0)) != "[20 30] [2 3] 2" {
		t.Fatalf("Slice: %v %v", view.Times, view.Integers)
	}
	var dst Column
	dst.Reset(models.Integer)
	dst.Grow(3)
	if cap(dst.Times) < 3 || cap(dst.Integers) < 3 {
		t.Fatalf("Grow: caps %d %d", cap(dst.Times), cap(dst.Integers))
	}
	dst.AppendRange(&col, 2, 4)
	dst.AppendAt(&col, 0)
	if fmt.Sprint(dst.Times, dst.Integers) != "[30 40 10] [3 4 1]" {
		t.Fatalf("Append: %v %v", dst.Times, dst.Integers)
	}
	for _, c := range []Column{
		{Type: models.Float, Floats: []float64{1.5}}, {Type: models.Unsigned, Unsigneds: []uint64{7}},
		{Type: models.String, Strings: []string{"s"}}, {Type: models.Boolean, Booleans: []bool{true}},
	} {
		c.Times = []int64{1}
		got := c.Slice(0, 1)
		if got.Value(0) != c.Value(0) || fmt.Sprint(c.Value(0)) == "<nil>" {
			t.Errorf("%v: Value %v, Slice %v", c.Type, c.Value(0), got.Value(0))
		}
	}
}
