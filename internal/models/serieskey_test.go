package models

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseSeriesKey(t *testing.T) {
	cases := []struct {
		key, m string
		tags   Tags
	}{
		{"cpu", "cpu", nil},
		{"cpu,host=a", "cpu", Tags{{"host", "a"}}},
		{`disk\ io,path=/a\,b\=c`, "disk io", Tags{{"path", "/a,b=c"}}},
		{"m,k", "m", Tags{{"k", ""}}},
		{"m,k=", "m", Tags{{"k", ""}}},
		{"m,k=a=b", "m", Tags{{"k", "a=b"}}},
		{`m\`, `m\`, nil},
		{`m,k=v\`, "m", Tags{{"k", `v\`}}},
		{`m,\=k=v`, "m", Tags{{"=k", "v"}}},
		{",", "", Tags{{"", ""}}},
		{"", "", nil},
	}
	for _, tc := range cases {
		m, tags := ParseSeriesKey(tc.key)
		if m != tc.m || fmt.Sprint(tags) != fmt.Sprint(tc.tags) {
			t.Errorf("ParseSeriesKey(%q) = %q %v, want %q %v", tc.key, m, tags, tc.m, tc.tags)
		}
		// Appending keeps what dst held.
		m2, tags2 := AppendParsedSeriesKey(tc.key, Tags{{"x", "y"}})
		if m2 != tc.m || fmt.Sprint(tags2) != fmt.Sprint(append(Tags{{"x", "y"}}, tc.tags...)) {
			t.Errorf("AppendParsedSeriesKey(%q) = %q %v", tc.key, m2, tags2)
		}
	}
}

// FuzzParseSeriesKey: a key built from a measurement and tags parses back
// to them unless a part holds a backslash (line protocol does not escape
// backslashes, so such keys can be ambiguous), and no input panics.
func FuzzParseSeriesKey(f *testing.F) {
	f.Add("cpu", "host", "a")
	f.Add("disk io", "path", "/a,b=c")
	f.Add(`m\`, "k", `v\`)
	f.Fuzz(func(t *testing.T, m, k, v string) {
		ParseSeriesKey(m + "," + k + "=" + v) // must not panic
		if m == "" || k == "" || v == "" || strings.Contains(m+k+v, `\`) {
			return
		}
		key := string(AppendSeriesKey(nil, m, Tags{{k, v}}))
		gm, gt := ParseSeriesKey(key)
		if gm != m || len(gt) != 1 || gt[0].Key != k || gt[0].Value != v {
			t.Fatalf("%q parsed to %q %v, want %q %s=%s", key, gm, gt, m, k, v)
		}
	})
}
