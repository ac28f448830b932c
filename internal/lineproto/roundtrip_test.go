package lineproto

import (
	"bytes"
	"errors"
	"math"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/quick"

	"github.com/herdmon/herd/internal/models"
)

// nameBytes are the bytes random names are made of: plain ones, the ones
// line protocol escapes, quotes, a tab, a NUL and multi-byte UTF-8.
var nameBytes = []string{"a", "b", "z", "X", "0", "9", "_", "-", ".", ",", " ", "=", `"`, "'", "#", ":", "/", "\t", "\x00", "é", "€", "时"}

func randName(r *rand.Rand) string {
	var b strings.Builder
	for n := 1 + r.Intn(8); n > 0; n-- {
		b.WriteString(nameBytes[r.Intn(len(nameBytes))])
	}
	s := b.String()
	// Names that cannot survive a text round trip in InfluxDB either: a
	// leading # makes a comment, leading blanks are skipped.
	if s[0] == '#' || s[0] == '\t' || s[0] == 0 {
		s = "x" + s
	}
	return s
}

// stringBytes adds what only string values may hold: backslashes and line ends.
var stringBytes = append([]string{`\`, "\n", "\r", `\"`, `"`}, nameBytes...)

func randString(r *rand.Rand) string {
	var b strings.Builder
	for n := r.Intn(10); n > 0; n-- {
		b.WriteString(stringBytes[r.Intn(len(stringBytes))])
	}
	return b.String()
}

func randFloat(r *rand.Rand) float64 {
	switch r.Intn(6) {
	case 0:
		return float64(r.Intn(200)) - 100
	case 1:
		return r.NormFloat64() * 100
	case 2:
		return math.Float64frombits(r.Uint64()&^(0x7ff<<52) | uint64(r.Intn(0x7ff))<<52) // any finite
	case 3:
		return []float64{0, math.Copysign(0, -1), math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 1e21, 1e-7}[r.Intn(7)]
	case 4:
		return float64(r.Intn(1e6)) / 1000
	}
	return r.Float64()
}

// randPoint is a point any InfluxDB-compatible encoder and parser must
// carry through line protocol unchanged.
type randPoint struct{ models.Point }

func (randPoint) Generate(r *rand.Rand, _ int) reflect.Value {
	p := models.Point{Measurement: randName(r)}
	seen := map[string]bool{}
	for n := r.Intn(4); n > 0; n-- {
		k := randName(r)
		if seen[k] {
			continue
		}
		seen[k] = true
		p.Tags = append(p.Tags, models.Tag{Key: k, Value: randName(r)})
	}
	p.Tags.Sort()
	for n := 1 + r.Intn(5); n > 0; n-- {
		k := randName(r)
		var f models.Field
		switch r.Intn(5) {
		case 0:
			f = models.FloatField(k, randFloat(r))
		case 1:
			f = models.IntegerField(k, int64(r.Uint64()))
		case 2:
			f = models.UnsignedField(k, r.Uint64()>>uint(r.Intn(64)))
		case 3:
			f = models.StringField(k, randString(r))
		default:
			f = models.BooleanField(k, r.Intn(2) == 0)
		}
		p.Fields = append(p.Fields, f)
	}
	switch r.Intn(4) {
	case 0:
		p.Time = MinNanoTime + int64(r.Intn(3))
	case 1:
		p.Time = MaxNanoTime - int64(r.Intn(3))
	default:
		p.Time = int64(r.Uint64()>>1) - math.MaxInt64/2
	}
	return reflect.ValueOf(randPoint{p})
}

// TestRoundTrip checks Parse(AppendPoint(p)) == p for random points, one
// at a time and many in one body.
func TestRoundTrip(t *testing.T) {
	var p Parser
	one := func(rp randPoint) bool {
		line := AppendPoint(nil, &rp.Point)
		got, err := p.Parse(nil, line, now, 1)
		if err != nil || !equalPoints(got, []models.Point{rp.Point}) {
			t.Logf("line %q\nerr %v\n got %s\nwant %s", line, err, dumpPoints(got), dumpPoints([]models.Point{rp.Point}))
			return false
		}
		return true
	}
	if err := quick.Check(one, &quick.Config{MaxCount: 5000}); err != nil {
		t.Fatal(err)
	}
	many := func(rps []randPoint) bool {
		var body []byte
		want := make([]models.Point, len(rps))
		for i := range rps {
			body = AppendPoint(body, &rps[i].Point)
			want[i] = rps[i].Point
		}
		got, err := p.Parse(nil, body, now, 1)
		return err == nil && equalPoints(got, want)
	}
	if err := quick.Check(many, &quick.Config{MaxCount: 300}); err != nil {
		t.Fatal(err)
	}
}

// roundTrippable reports whether a parsed point can be written back as
// line protocol and read again unchanged. Backslashes and line ends in
// names, and names that start with a blank or #, cannot: InfluxDB has no
// escape for them either.
func roundTrippable(p *models.Point) bool {
	bad := func(s string) bool { return strings.ContainsAny(s, "\\\n\r") }
	blankStart := func(s string) bool { return s == "" || s[0] == '\t' || s[0] == 0 || s[0] == ' ' }
	if bad(p.Measurement) || p.Measurement[0] == '#' || blankStart(p.Measurement) {
		return false
	}
	for _, t := range p.Tags {
		if bad(t.Key) || bad(t.Value) {
			return false
		}
	}
	for _, f := range p.Fields {
		if bad(f.Key) || blankStart(f.Key) {
			return false
		}
	}
	return true
}

// checkPoint checks what every parsed point must satisfy.
func checkPoint(t *testing.T, p *models.Point) {
	t.Helper()
	if p.Measurement == "" || len(p.Fields) == 0 {
		t.Fatalf("point without measurement or fields: %s", dumpPoints([]models.Point{*p}))
	}
	if p.Time < MinNanoTime || p.Time > MaxNanoTime {
		t.Fatalf("time %d out of range", p.Time)
	}
	for i, tag := range p.Tags {
		if tag.Key == "" || tag.Value == "" || (i > 0 && p.Tags[i-1].Key >= tag.Key) {
			t.Fatalf("tags not sorted, unique and non-empty: %s", dumpPoints([]models.Point{*p}))
		}
	}
	for _, f := range p.Fields {
		if f.Key == "" || f.Type < models.Float || f.Type > models.Boolean {
			t.Fatalf("bad field %+v", f)
		}
		if f.Type == models.Float && (math.IsNaN(f.Float()) || math.IsInf(f.Float(), 0)) {
			t.Fatalf("non-finite float %v", f.Float())
		}
	}
}

// influxKeyEnd returns where the key (measurement and tags) of a good line
// ends: at the first space not right after a backslash.
func influxKeyEnd(line string) int {
	i := skipBlanks(line, 0, len(line))
	for i++; i < len(line); i++ {
		if line[i] == ' ' && line[i-1] != '\\' {
			return i
		}
	}
	return len(line)
}

func FuzzParse(f *testing.F) {
	for _, c := range parseCases() {
		if len(c.in) < 1000 {
			f.Add([]byte(c.in), c.precision)
		}
	}
	for _, line := range bytes.SplitAfter(telegrafBody(f, 1), []byte{'\n'})[:20] {
		f.Add(line, int64(0))
	}
	f.Add([]byte("m s=\"a\nb\\\nc\" 1\n\\\nm,t=a\\\nb v=1\n"), int64(1e9))
	f.Add([]byte("m,a=\\\\ b,c=d e=\"x\ny\"\nm v=1"), int64(0))
	var p Parser
	f.Fuzz(func(t *testing.T, body []byte, precision int64) {
		if precision < 1 || precision > 3600e9 {
			precision = 1
		}
		pts, err := p.Parse(nil, body, now, precision)
		lines := bytes.Count(body, []byte{'\n'}) + 1
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Dropped() == 0 {
				t.Fatalf("error %v is not a *ParseError with bad lines", err)
			}
			if len(pts)+pe.Dropped() > lines {
				t.Fatalf("%d points and %d bad lines from %d lines", len(pts), pe.Dropped(), lines)
			}
			for _, l := range pe.Lines {
				if l.Line < 1 || l.Line > lines || l.Reason == "" || l.Text == "" {
					t.Fatalf("bad line error %+v", l)
				}
			}
		}
		if len(pts) > lines {
			t.Fatalf("%d points from %d lines", len(pts), lines)
		}
		// What Parse accepts, InfluxDB's own fields scan accepts too.
		if line := string(body); len(pts) == 1 && !strings.ContainsAny(line, "\n\r") {
			if r := influxFieldsReason(line, influxKeyEnd(line)); r != "" {
				t.Fatalf("Parse accepted %q, InfluxDB says %s", line, r)
			}
		}
		var again []byte
		var keep []models.Point
		for i := range pts {
			checkPoint(t, &pts[i])
			if roundTrippable(&pts[i]) {
				again = AppendPoint(again, &pts[i])
				keep = append(keep, pts[i])
			}
		}
		// Copy: the next Parse reuses the Parser's arrays.
		for i := range keep {
			keep[i].Tags = slices.Clone(keep[i].Tags)
			keep[i].Fields = slices.Clone(keep[i].Fields)
		}
		got, err := p.Parse(nil, again, now, 1)
		if err != nil || !equalPoints(got, keep) {
			t.Fatalf("re-encoded points parse differently\nbody %q\nre-encoded %q\nerr %v\n got %s\nwant %s", body, again, err, dumpPoints(got), dumpPoints(keep))
		}
	})
}
