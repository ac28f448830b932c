package lineproto

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func wideLine(m string, n int) string {
	var b strings.Builder
	b.WriteString(m + " ")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "f%d=%d", i, i)
	}
	return b.String()
}

func TestMaxFields(t *testing.T) {
	cases := []struct {
		name      string
		maxFields int
		body      string
		points    int
		errLine   int // the bad line, 0 for none
	}{
		{"no limit", 0, wideLine("m", 5000), 1, 0},
		{"at the limit", 10, wideLine("m", 10), 1, 0},
		{"at the limit with a timestamp", 10, wideLine("m", 10) + " 123", 1, 0},
		{"one past", 10, wideLine("m", 11), 0, 1},
		{"duplicates count", 2, "m a=1,a=2,a=3", 0, 1},
		{"other lines still parse", 10, "m x=1\n" + wideLine("m", 1000) + "\nm y=2", 2, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Parser{MaxFields: c.maxFields}
			pts, err := p.Parse(nil, []byte(c.body), now, 1)
			if len(pts) != c.points {
				t.Fatalf("got %d points, want %d", len(pts), c.points)
			}
			if c.errLine == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) || len(pe.Lines) != 1 || pe.Lines[0].Line != c.errLine {
				t.Fatalf("want one error on line %d, got %v", c.errLine, err)
			}
			want := fmt.Sprintf("too many fields: more than %d in one point; raise max-fields-per-point to write it", c.maxFields)
			if pe.Lines[0].Reason != want {
				t.Fatalf("reason %q, want %q", pe.Lines[0].Reason, want)
			}
			if len(pe.Lines[0].Text) > maxQuotedLine+3 {
				t.Fatalf("the error quotes %d bytes of the line", len(pe.Lines[0].Text))
			}
			if !strings.HasPrefix(c.body[strings.Index(c.body, pe.Lines[0].Text[:5]):], strings.TrimSuffix(pe.Lines[0].Text, "...")) {
				t.Fatalf("quoted text %q is not the line's start", pe.Lines[0].Text)
			}
		})
	}
}

// A one-line body allocated the parser's full arrays (1,024 tags and
// 4,096 fields, 230 KB): 2,000 concurrent tiny writes held 273 MB.
func TestSmallBodyAllocatesLittle(t *testing.T) {
	body := []byte("cpu,host=a usage=1.5 1\n")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 20
	for i := 0; i < n; i++ {
		var p Parser
		if _, err := p.Parse(nil, body, now, 1); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 4096 {
		t.Fatalf("parsing a %d-byte body with a new Parser allocated %d bytes", len(body), per)
	}
}

// FuzzMaxFields checks that the limit only removes the lines over it:
// the points parsed with MaxFields are those parsed without it that have
// at most MaxFields fields.
func FuzzMaxFields(f *testing.F) {
	f.Add("m a=1,b=2,c=3\nm a=1\nm,t=x a=1,b=\"x\ny\" 5", 2)
	f.Add(wideLine("m", 40)+"\n"+wideLine("n", 3), 3)
	f.Add("m a=1,a=2\n", 1)
	f.Fuzz(func(t *testing.T, body string, maxFields int) {
		if maxFields < 1 || maxFields > 64 {
			return
		}
		var all, limited Parser
		want, _ := all.Parse(nil, []byte(body), now, 1)
		limited.MaxFields = maxFields
		got, _ := limited.Parse(nil, []byte(body), now, 1)
		k := 0
		for _, p := range want {
			if len(p.Fields) > maxFields {
				continue
			}
			if k >= len(got) || fmt.Sprint(got[k]) != fmt.Sprint(p) {
				t.Fatalf("point %d: limited parse differs\nwant %v\ngot  %v", k, want, got)
			}
			k++
		}
		if k != len(got) {
			t.Fatalf("limited parse returned %d points, want %d", len(got), k)
		}
	})
}
