package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
)

// sameAsEncodingJSON checks appendResponse's bytes against encoding/json
// (the reference: InfluxDB's own encoder) for resp, compact and pretty.
func sameAsEncodingJSON(t *testing.T, resp Response) {
	t.Helper()
	for _, pretty := range []bool{false, true} {
		var want []byte
		var err error
		if pretty {
			want, err = json.MarshalIndent(resp, "", "    ")
		} else {
			want, err = json.Marshal(resp)
		}
		if err != nil {
			want, _ = json.Marshal(Response{Err: errors.New("unable to encode response: " + err.Error())})
		}
		want = append(want, '\n')
		var got bytes.Buffer
		got.WriteString("prefix")
		appendResponse(&got, resp, pretty)
		if g := got.Bytes()[len("prefix"):]; !bytes.Equal(g, want) {
			t.Fatalf("pretty=%v:\n got %s\nwant %s", pretty, g, want)
		}
	}
}

func TestResponseJSONMatchesEncodingJSON(t *testing.T) {
	ts := time.Date(2026, 11, 27, 9, 30, 0, 123400000, time.UTC)
	berlin := time.FixedZone("CET", 3600)
	cases := map[string]Response{
		"empty":          {},
		"error only":     {Err: errors.New(`bad "query" <here> & \ there`)},
		"empty error":    {Err: errors.New("")},
		"empty result":   {Results: []*Result{{StatementID: 0}}},
		"nil result":     {Results: []*Result{nil, {StatementID: 3}}},
		"statement err":  {Results: []*Result{{StatementID: 1, Err: errors.New("database not found: x")}}},
		"message":        {Results: []*Result{{Messages: []*Message{{Level: WarningLevel, Text: "deprecated"}, nil}}}},
		"partial":        {Results: []*Result{{Partial: true, Series: []*Row{{Name: "cpu", Partial: true}}}}},
		"nil row":        {Results: []*Result{{Series: []*Row{nil}}}},
		"empty row":      {Results: []*Result{{Series: []*Row{{}}}}},
		"nil value rows": {Results: []*Result{{Series: []*Row{{Columns: []string{"a"}, Values: [][]any{nil, {}}}}}}},
		"values": {Results: []*Result{{Series: []*Row{{
			Name: "cpu", Tags: map[string]string{"z": "1", "host": "pi-1", "a": "é\u2028\xff"},
			Columns: []string{"time", "f", "i", "u", "s", "b", "n"},
			Values: [][]any{
				{ts, 1.5, int64(-3), uint64(math.MaxUint64), "x\ny\t\"\\\b\f\r\x01<>&", true, nil},
				{ts.In(berlin), 1e21, int64(math.MinInt64), uint64(0), "", false, 0.000001},
				{int64(1700000000000), 1e-7, 123, 5e-324, -0.0, math.MaxFloat64, 123456789.123456789},
				{json.Number("12"), []string{"nested"}, map[string]int{"k": 1}, float32(1.25), int32(-7)},
			},
		}}}}},
		"NaN falls back":      {Results: []*Result{{Series: []*Row{{Values: [][]any{{math.NaN()}}}}}}},
		"Inf falls back":      {Results: []*Result{{Series: []*Row{{Values: [][]any{{math.Inf(-1)}}}}}}},
		"year 10000 fallback": {Results: []*Result{{Series: []*Row{{Values: [][]any{{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}}}}}},
		"negative year":       {Results: []*Result{{Series: []*Row{{Values: [][]any{{time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}}}}}}},
		"odd zone":            {Results: []*Result{{Series: []*Row{{Values: [][]any{{ts.In(time.FixedZone("X", 25*3600))}}}}}}},
		"unmarshalable":       {Results: []*Result{{Series: []*Row{{Values: [][]any{{make(chan int)}}}}}}},
	}
	for name, resp := range cases {
		t.Run(name, func(t *testing.T) { sameAsEncodingJSON(t, resp) })
	}
}

// FuzzResponseJSON holds the hand-written encoder to encoding/json for
// arbitrary strings, numbers and times.
func FuzzResponseJSON(f *testing.F) {
	f.Add("cpu", "host", "pi\x00<1>", "usage", 1.5, int64(7), uint64(9), int64(1700000000123456789), true, 3)
	f.Add("", "", "\xed\xa0\x80", "\u2029", math.SmallestNonzeroFloat64, int64(-1), uint64(0), int64(-62135596800000000), false, 0)
	f.Add("m", "k", "v", "c", 1e20, int64(0), uint64(1), int64(0), false, 2)
	f.Fuzz(func(t *testing.T, name, key, val, col string, fv float64, iv int64, uv uint64, ns int64, b bool, stmt int) {
		resp := Response{Results: []*Result{{StatementID: stmt, Series: []*Row{{
			Name: name, Tags: map[string]string{key: val, val: key}, Columns: []string{"time", col},
			Values: [][]any{{time.Unix(0, ns).UTC(), fv, iv, uv, val, b}, {fv / 3, float64(iv) * 1e-9}},
		}}}}}
		if name == "" {
			resp.Err = errors.New(val)
		}
		sameAsEncodingJSON(t, resp)
	})
}

func BenchmarkResponseJSON(b *testing.B) {
	vals := make([][]any, 2160)
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for i := range vals {
		vals[i] = []any{start.Add(time.Duration(i) * time.Minute), 42.123456789 + float64(i)}
	}
	resp := Response{Results: []*Result{{Series: []*Row{{Name: "cpu", Tags: map[string]string{"host": "pi-1"},
		Columns: []string{"time", "mean"}, Values: vals}}}}}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		appendResponse(&buf, resp, false)
	}
}
