package models

import "testing"

func TestAppendEscaped(t *testing.T) {
	cases := []struct{ s, chars, want string }{
		{"cpu", ", ", "cpu"},
		{"a b,c=d", ", ", `a\ b\,c=d`},
		{"a b,c=d", ", =", `a\ b\,c\=d`},
		{"", ", =", ""},
		{"x\"y", "\"", `x\"y`},
	}
	for _, c := range cases {
		if got := string(AppendEscaped(nil, c.s, c.chars)); got != c.want {
			t.Errorf("AppendEscaped(%q, %q) = %q, want %q", c.s, c.chars, got, c.want)
		}
	}
	if got := SeriesKey("m e,x", Tags{{Key: "k=1", Value: "v 2"}}); got != `m\ e\,x,k\=1=v\ 2` {
		t.Errorf("SeriesKey = %q", got)
	}
}
