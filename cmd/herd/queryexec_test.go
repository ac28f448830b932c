package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/herdmon/herd/internal/httpapi"
	"github.com/herdmon/herd/internal/query"
)

// chunk is one result as a chunked reply shows it.
type chunk struct {
	series     string
	rows       int
	partialRow bool
	partial    bool
}

// TestSeriesSenderChunks feeds series in pieces of many sizes and checks
// the results against InfluxDB's chunking of each whole series: chunks
// of chunk_size, "partial" on a series that continues and on every
// result but a statement's last.
func TestSeriesSenderChunks(t *testing.T) {
	cases := []struct {
		size   int
		series [][]int // per series, the sizes of its pieces
	}{
		{2, [][]int{{3}, {1}}},
		{2, [][]int{{1, 1, 1}, {2}}},
		{2, [][]int{{2}, {2, 2}}},
		{3, [][]int{{1, 5, 2, 1}, {3, 3}, {7}}},
		{10000, [][]int{{4096, 4096, 4096}, {1}}},
		{1, [][]int{{1}, {2}, {1, 1, 1}}},
		{5, [][]int{{5}}},
	}
	for _, tc := range cases {
		var want []chunk
		for i, pieces := range tc.series {
			n := 0
			for _, p := range pieces {
				n += p
			}
			name := fmt.Sprint("s", i)
			for left := n; left > 0; left -= tc.size {
				k := min(left, tc.size)
				more := left > k
				want = append(want, chunk{name, k, more, more || i < len(tc.series)-1})
			}
		}
		var got []chunk
		ectx := httpapi.NewExecutionContext(context.Background(), func(r *httpapi.Result) error {
			for _, s := range r.Series {
				got = append(got, chunk{s.Name, len(s.Values), s.Partial, r.Partial})
			}
			return nil
		})
		s := &seriesSender{ectx: ectx, size: tc.size}
		for i, pieces := range tc.series {
			for j, p := range pieces {
				vals := make([][]any, p)
				for k := range vals {
					vals[k] = []any{int64(k)}
				}
				if err := s.row(&query.Row{Name: fmt.Sprint("s", i), Values: vals, Partial: j < len(pieces)-1}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.finish(); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("size %d, %v:\n got %v\nwant %v", tc.size, tc.series, got, want)
		}
	}
}
