package lineproto

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/herdmon/herd/internal/models"
)

const (
	// MaxKeyLength is InfluxDB's limit on the escaped length of a series
	// key (measurement and tags as written), and on that length plus 4
	// plus a field key's length (TSM's key for one field of a series).
	MaxKeyLength = 65535

	// MinNanoTime and MaxNanoTime bound the timestamps InfluxDB accepts.
	// InfluxDB keeps the two lowest int64 values and the highest as
	// sentinels, so points may not use them; herd keeps the same range so
	// data moves between the two unchanged.
	MinNanoTime = int64(math.MinInt64) + 2
	MaxNanoTime = int64(math.MaxInt64) - 1

	// MaxLineErrors is how many bad lines a ParseError lists. Further bad
	// lines are only counted (ParseError.More): a 25 MB body of bad lines
	// must not become millions of error records on a 1 GB machine.
	MaxLineErrors = 1000
)

// errTimeOutOfRange is InfluxDB 1.x's text for a timestamp outside
// [MinNanoTime, MaxNanoTime] at any precision (checked against a real
// influxd: the same text whatever the precision or the value).
var errTimeOutOfRange = fmt.Sprintf("time outside range %d - %d", MinNanoTime, MaxNanoTime)

// ParsePrecision maps the precision query parameter ("", n, ns, u, us, µ,
// ms, s, m, h) to nanoseconds per unit, the multiplier Parse takes.
func ParsePrecision(s string) (int64, error) {
	switch s {
	case "", "n", "ns":
		return 1, nil
	case "u", "us", "\u00b5", "\u03bc": // micro sign and Greek mu both seen in the wild
		return 1e3, nil
	case "ms":
		return 1e6, nil
	case "s":
		return 1e9, nil
	case "m":
		return 60e9, nil
	case "h":
		return 3600e9, nil
	}
	return 0, fmt.Errorf("invalid precision %q (use n, u, ms, s, m or h)", s)
}

// ParseError lists the lines of a body that did not parse. Parse returns
// it together with the points of the good lines.
type ParseError struct {
	// Lines are the bad lines in body order, at most MaxLineErrors.
	Lines []LineError
	// More counts bad lines beyond MaxLineErrors, not listed.
	More int
}

// LineError is one bad line.
type LineError struct {
	Line   int    // 1-based number of the line's first physical line in the body
	Text   string // the line without leading blanks and line end, as InfluxDB quotes it
	Reason string // InfluxDB's reason, e.g. "missing fields"
}

// Error returns InfluxDB's text: `unable to parse '<line>': <reason>` for
// each bad line, joined by "\n".
func (e *ParseError) Error() string {
	var b strings.Builder
	for i, l := range e.Lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("unable to parse '")
		b.WriteString(l.Text)
		b.WriteString("': ")
		b.WriteString(l.Reason)
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "\nand %d more bad lines", e.More)
	}
	return b.String()
}

// Dropped returns how many lines were rejected.
func (e *ParseError) Dropped() int { return len(e.Lines) + e.More }

func (e *ParseError) add(line int, text, reason string) {
	if len(e.Lines) >= MaxLineErrors {
		e.More++
		return
	}
	e.Lines = append(e.Lines, LineError{Line: line, Text: text, Reason: reason})
}

// Parser parses write bodies. It keeps its buffers between calls, so reuse
// one Parser per goroutine (or take them from a sync.Pool); it is not safe
// for concurrent use.
//
// Ownership: the Tags and Fields slices of the points a Parse call returns
// are carved from backing arrays the Parser owns and reuses, so they are
// valid only until the next Parse (or Reset) on the same Parser. Callers
// that keep points longer must copy those slices. Strings are never
// reused (see Parse).
type Parser struct {
	tags   []models.Tag   // backing array for Tags; len == cap
	tagN   int            // tags[:tagN] belong to points already returned
	fields []models.Field // backing array for Fields; len == cap
	fieldN int

	// MaxFields > 0 refuses a line with more fields (duplicates
	// counted), with a reason naming max-fields-per-point. Parsing stops
	// at the limit, so a hostile line costs at most MaxFields fields of
	// work and memory whatever its length.
	MaxFields int
}

// Backing array sizes. The initial ones fit a Telegraf batch of 1000
// points with ~2 tags and ~8 fields after one growth; a small body gets
// arrays no larger than it can fill (2,000 concurrent one-line writes
// each held 230 KB of them). Arrays grown past the retained limits by a
// huge body are dropped at the next Parse, so a pooled Parser does not
// pin hundreds of megabytes on a 1 GB machine.
const (
	minTagBuf        = 1024
	minFieldBuf      = 4096
	maxRetainedTags  = 1 << 15 // 1 MiB of models.Tag
	maxRetainedField = 1 << 16 // 3 MiB of models.Field
)

// minLineLen is the shortest line that makes a point ("m f=1\n"); it
// bounds how many points a body can hold.
const minLineLen = 6

// minPairLen is the fewest bytes a tag (",k=v") or a field ("k=1" and
// its separator) takes: a body of n bytes holds fewer than n/minPairLen+2
// of either.
const minPairLen = 4

// TooManyFieldsReason starts the reason for a line over Parser.MaxFields.
const TooManyFieldsReason = "too many fields"

// maxQuotedLine bounds how much of a line over Parser.MaxFields its
// error quotes: such a line is megabytes long by definition.
const maxQuotedLine = 256

// Reset drops the Parser's references to the last body, so that body can
// be garbage collected while the Parser sits idle (in a pool, say). Points
// from the last Parse must not be used afterwards.
func (p *Parser) Reset() {
	clear(p.tags)
	clear(p.fields)
	p.tagN, p.fieldN = 0, 0
}

// Parse parses a whole write body. now is the server time in Unix
// nanoseconds, used (truncated to the precision) for points without a
// timestamp; precision is the multiplier from ParsePrecision (values below
// 1 mean nanoseconds).
//
// Good points are appended to dst and returned even when some lines are
// bad; err is then a *ParseError listing the bad lines. A bad line never
// stops the lines around it from parsing.
//
// Strings in the returned points (measurement, keys, values) are
// substrings of one string copy of body, so they stay valid after body is
// reused, or fresh allocations where unescaping was needed. Holding any of
// them keeps the whole copy alive: clone (strings.Clone) what is kept for
// long, such as a new series' key. Tags are sorted by key and unique;
// Fields keep the order of the line, duplicates included (the last one
// wins when stored, as in InfluxDB). Tags is nil for a point without tags.
// See Parser for how long the Tags and Fields slices stay valid.
func (p *Parser) Parse(dst []models.Point, body []byte, now int64, precision int64) ([]models.Point, error) {
	if len(body) == 0 {
		return dst, nil
	}
	if precision < 1 {
		precision = 1
	}
	// One allocation for the output slice in the common case, sized by the
	// line count; a body of blank lines must not make a huge one, so big
	// bodies grow the slice as they go.
	dst = slices.Grow(dst, min(bytes.Count(body, []byte{'\n'})+1, len(body)/minLineLen+1, 1<<16))
	s := string(body)
	p.tagN, p.fieldN = 0, 0
	fit := len(body)/minPairLen + 2
	if len(p.tags) == 0 || len(p.tags) > maxRetainedTags {
		p.tags = make([]models.Tag, min(minTagBuf, fit))
	}
	if len(p.fields) == 0 || len(p.fields) > maxRetainedField {
		p.fields = make([]models.Field, min(minFieldBuf, fit))
	}
	lp := lineParser{p: p, s: s, defTime: now - floorMod(now, precision), precision: precision}

	var perr *ParseError
	lineNo := 1
	// Trying a bad line joined with the next ones rescans the body after
	// it; a body of many lines with a lone quote would make that
	// quadratic. The budget keeps the extra work linear: legitimate
	// multi-line strings cost their own length, a hostile body runs out.
	joinBudget := len(s) + 1<<20
	for pos := 0; pos < len(s); {
		physEnd, next := len(s), len(s)
		if nl := strings.IndexByte(s[pos:], '\n'); nl >= 0 {
			physEnd = pos + nl
			next = physEnd + 1
		}
		end := trimCR(s, pos, physEnd)
		start := skipBlanks(s, pos, end)
		if start == end || s[start] == '#' {
			pos, lineNo = next, lineNo+1
			continue
		}
		pt, reason := lp.parse(start, end)
		if reason == "" {
			dst = p.commit(dst, pt)
			pos, lineNo = next, lineNo+1
			continue
		}
		// A string value may hold newlines, and a backslash may escape
		// one: InfluxDB's line may be longer than the physical line.
		// Accept the longer line only if it parses.
		if next < len(s) && joinBudget > 0 {
			limit := min(len(s), pos+joinBudget)
			lineEnd := influxLineEnd(s, pos, limit)
			if lineEnd < 0 {
				joinBudget = 0 // it scanned up to the limit
			} else {
				joinBudget -= lineEnd - pos
			}
			if lineEnd > physEnd {
				joinBudget -= lineEnd - pos
				if pt2, r2 := lp.parse(start, trimCR(s, pos, lineEnd)); r2 == "" {
					dst = p.commit(dst, pt2)
					lineNo += 1 + strings.Count(s[physEnd:lineEnd], "\n")
					pos = lineEnd + 1
					continue
				}
			}
		}
		if perr == nil {
			perr = &ParseError{}
		}
		text := s[start:end]
		if len(text) > maxQuotedLine && strings.HasPrefix(reason, TooManyFieldsReason) {
			text = text[:maxQuotedLine] + "..."
		}
		perr.add(lineNo, text, reason)
		pos, lineNo = next, lineNo+1
	}
	if perr != nil {
		return dst, perr
	}
	return dst, nil
}

// commit appends pt and hands its tags and fields over to it: later lines
// carve their slices after them.
func (p *Parser) commit(dst []models.Point, pt models.Point) []models.Point {
	p.tagN += len(pt.Tags)
	p.fieldN += len(pt.Fields)
	return append(dst, pt)
}

// putTag stores the n-th tag of the point being parsed. The point's tags
// so far are p.tags[p.tagN:p.tagN+n]; when the array is full they move to
// a new, larger one (points already returned keep the old one).
func (p *Parser) putTag(n int, t models.Tag) {
	if p.tagN+n == len(p.tags) {
		nt := make([]models.Tag, max(2*len(p.tags), 2*n, minTagBuf))
		copy(nt, p.tags[p.tagN:p.tagN+n])
		p.tags, p.tagN = nt, 0
	}
	p.tags[p.tagN+n] = t
}

// field returns a pointer to the n-th field slot of the point being
// parsed, growing the backing array like putTag.
func (p *Parser) field(n int) *models.Field {
	if p.fieldN+n == len(p.fields) {
		nf := make([]models.Field, max(2*len(p.fields), 2*n, minFieldBuf))
		copy(nf, p.fields[p.fieldN:p.fieldN+n])
		p.fields, p.fieldN = nf, 0
	}
	return &p.fields[p.fieldN+n]
}

// lineParser holds what every line of one Parse call shares.
type lineParser struct {
	p         *Parser
	s         string
	defTime   int64
	precision int64
}

// parse parses the line s[i:end] (no leading blanks, no line end). On
// success it returns the point, whose Tags and Fields lie at the free end
// of the Parser's arrays, not yet committed; otherwise InfluxDB's reason.
func (lp *lineParser) parse(i, end int) (models.Point, string) {
	s := lp.s
	var pt models.Point

	// Measurement: anything up to an unescaped comma or space. A first
	// comma means the measurement is missing; the end of the line before
	// a space means the fields are.
	if s[i] == ',' {
		return pt, "missing measurement"
	}
	keyStart := i
	j, esc := scanEscaped(s, i, end, &measurementStop)
	if j >= end {
		return pt, "missing fields"
	}
	pt.Measurement = s[i:j]
	if esc {
		pt.Measurement = unescapeName(pt.Measurement, true)
	}

	// Tags, scanned exactly as InfluxDB's scanTagsKey and scanTagsValue.
	ntags := 0
	sorted := true
	for s[j] == ',' {
		k := j + 1
		if k >= end || s[k] == ' ' || s[k] == ',' || s[k] == '=' {
			return pt, "missing tag key"
		}
		ks := k
		k, kesc := scanEscaped(s, k, end, &tagStop)
		if k >= end || s[k] != '=' {
			return pt, "missing tag value"
		}
		v := k + 1
		if v >= end || s[v] == ',' || s[v] == ' ' {
			return pt, "missing tag value"
		}
		vs := v
		v, vesc := scanEscaped(s, v, end, &tagStop)
		if v >= end {
			return pt, "missing fields"
		}
		if s[v] == '=' {
			return pt, "invalid tag format"
		}
		t := models.Tag{Key: s[ks:k], Value: s[vs:v]}
		if kesc {
			t.Key = unescapeName(t.Key, false)
		}
		if vesc {
			t.Value = unescapeName(t.Value, false)
		}
		if ntags > 0 && sorted && t.Key <= lp.p.tags[lp.p.tagN+ntags-1].Key {
			sorted = false
		}
		lp.p.putTag(ntags, t)
		ntags++
		j = v
	}
	if ntags > 0 {
		tags := models.Tags(lp.p.tags[lp.p.tagN : lp.p.tagN+ntags : lp.p.tagN+ntags])
		if !sorted {
			sortTags(tags)
			for n := 1; n < len(tags); n++ {
				if tags[n].Key == tags[n-1].Key {
					return pt, "duplicate tags"
				}
			}
		}
		pt.Tags = tags
	}
	keyLen := j - keyStart
	if keyLen > MaxKeyLength {
		return pt, fmt.Sprintf("max key length exceeded: %d > %d", keyLen, MaxKeyLength)
	}

	// Fields. The fast path below accepts a subset of what InfluxDB's
	// scanFields accepts; on anything else influxFieldsReason replays
	// InfluxDB's scan of the whole section to give its reason.
	fieldsStart := j
	f := skipBlanks(s, j, end)
	nfields := 0
	longKey := 0 // length of the first field key that makes the key too long
	for {
		ks := f
		kesc := false
		for {
			for f < end && !fieldKeyStop[s[f]] {
				f++
			}
			if f+1 < end && s[f] == '\\' {
				kesc = true
				f += 2 // in the fields section a backslash escapes the next byte, whatever it is
				continue
			}
			break
		}
		if f >= end || s[f] != '=' {
			return pt, lp.fieldsReason(fieldsStart, end, "invalid field format")
		}
		if f == ks {
			return pt, lp.fieldsReason(fieldsStart, end, "missing field key")
		}
		fd := lp.p.field(nfields)
		fd.Key = s[ks:f]
		if kesc {
			fd.Key = unescapeName(fd.Key, true)
		}
		if longKey == 0 && keyLen+4+(f-ks) > MaxKeyLength {
			longKey = f - ks
		}
		f++ // '='
		if f >= end {
			return pt, lp.fieldsReason(fieldsStart, end, "missing field value")
		}
		var reason string
		switch c := s[f]; {
		case c-'0' <= 9 || c == '-' || c == '.' || c == 'N' || c == 'n':
			f, reason = lp.number(fd, f, end)
		case c == '"':
			f, reason = lp.str(fd, f, end)
		case c == ',' || c == ' ':
			reason = "missing field value"
		default:
			f, reason = boolean(fd, s, f, end)
		}
		if reason != "" {
			return pt, lp.fieldsReason(fieldsStart, end, reason)
		}
		nfields++
		if f >= end || s[f] == ' ' {
			break
		}
		if nfields == lp.p.MaxFields {
			return pt, fmt.Sprintf("%s: more than %d in one point; raise max-fields-per-point to write it", TooManyFieldsReason, nfields)
		}
		f++ // ','
	}
	if longKey > 0 {
		return pt, fmt.Sprintf("max key length exceeded: %d > %d", keyLen+4+longKey, MaxKeyLength)
	}
	pt.Fields = lp.p.fields[lp.p.fieldN : lp.p.fieldN+nfields : lp.p.fieldN+nfields]

	// Timestamp, as InfluxDB's scanTime: an optional minus, digits, then
	// nothing but spaces.
	t := skipBlanks(s, f, end)
	if t == end {
		pt.Time = lp.defTime
		return pt, ""
	}
	tsStart := t
	neg := false
	if s[t] == '-' {
		neg = true
		t++
	}
	var ts uint64
	nd := 0
	for ; t < end && s[t] != ' ' && s[t] != '\n'; t++ {
		d := s[t] - '0'
		if d > 9 {
			return pt, "bad timestamp"
		}
		ts = ts*10 + uint64(d)
		nd++
	}
	var tv int64
	switch {
	case nd > 0 && nd <= 19 && !neg && ts <= math.MaxInt64:
		tv = int64(ts)
	case nd > 0 && nd <= 19 && neg && ts <= 1<<63:
		tv = int64(-ts) // -(1<<63) wraps to MinInt64, as wanted
	default:
		// Rare: let strconv decide, for InfluxDB's exact error text.
		v, err := strconv.ParseInt(s[tsStart:t], 10, 64)
		if err != nil {
			return pt, err.Error()
		}
		tv = v
	}
	for ; t < end; t++ {
		if s[t] != ' ' {
			return pt, "point is invalid"
		}
	}
	var ok bool
	if pt.Time, ok = safeMul(tv, lp.precision); !ok || pt.Time < MinNanoTime || pt.Time > MaxNanoTime {
		return pt, errTimeOutOfRange
	}
	return pt, ""
}

// Bytes that end or escape a name, for the scanning loops: a table lookup
// lets them skip ordinary bytes with one test each.
var measurementStop, tagStop, fieldKeyStop [256]bool

func init() {
	for _, c := range ", \\" {
		measurementStop[c] = true
	}
	for _, c := range ", =\\" {
		tagStop[c] = true
		fieldKeyStop[c] = true
	}
}

// scanEscaped scans a measurement, tag key or tag value that starts at
// s[i] and returns the index of the first unescaped byte in stop (or
// end), and whether the name holds a backslash. It follows InfluxDB's
// scanner: a byte right after a backslash never ends the name, even when
// that backslash itself follows a backslash. The first byte never ends the
// name (callers check it), though it may be a backslash.
func scanEscaped(s string, i, end int, stop *[256]bool) (int, bool) {
	esc := false
	j := i
	if s[j] != '\\' {
		j++
	}
	for {
		for j < end && !stop[s[j]] {
			j++
		}
		if j >= end || s[j] != '\\' {
			return j, esc
		}
		esc = true
		for j++; j < end && s[j] == '\\'; j++ {
		}
		if j >= end {
			return end, esc
		}
		j++ // the escaped byte
	}
}

// fieldsReason returns InfluxDB's reason for a bad fields section starting
// at s[start], or fallback where InfluxDB would have accepted it (one of
// the deliberate differences listed in the package doc).
func (lp *lineParser) fieldsReason(start, end int, fallback string) string {
	if r := influxFieldsReason(lp.s[:end], start); r != "" {
		return r
	}
	return fallback
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// number parses a numeric field value starting at s[i]. The common forms
// (-12, 3.25, 42i, 7u) are converted inline; exponents, very long numbers
// and anything odd go through InfluxDB's scanNumber rules and strconv.
func (lp *lineParser) number(fd *models.Field, i, end int) (int, string) {
	s := lp.s
	j := i
	neg := s[j] == '-'
	if neg {
		j++
	}
	var m uint64
	nd, frac := 0, 0
	dot := false
	for ; j < end; j++ {
		c := s[j]
		if d := c - '0'; d <= 9 {
			if nd < 19 {
				m = m*10 + uint64(d)
			}
			nd++
			if dot {
				frac++
			}
			continue
		}
		if c == '.' && !dot {
			dot = true
			continue
		}
		break
	}
	typ := models.Float
	if j < end && s[j] != ',' && s[j] != ' ' {
		switch {
		case s[j] == 'i' && !dot:
			typ = models.Integer
		case s[j] == 'u' && !dot && !neg:
			typ = models.Unsigned
		default:
			return lp.slowNumber(fd, i, end)
		}
		j++
		if j < end && s[j] != ',' && s[j] != ' ' {
			return lp.slowNumber(fd, i, end)
		}
	}
	if nd == 0 {
		return lp.slowNumber(fd, i, end)
	}
	fd.Type, fd.Str = typ, ""
	switch typ {
	case models.Float:
		if nd > 19 || m >= 1<<53 || frac >= len(pow10) {
			v, err := strconv.ParseFloat(s[i:j], 64)
			if err != nil {
				return j, "invalid float"
			}
			fd.Num = math.Float64bits(v)
			return j, ""
		}
		// Exact: m and 10^frac are exact float64 values, and one IEEE
		// division rounds correctly, so this equals strconv's result.
		v := float64(m) / pow10[frac]
		if neg {
			v = -v
		}
		fd.Num = math.Float64bits(v)
	case models.Integer:
		if nd > 18 {
			return lp.slowNumber(fd, i, end)
		}
		v := int64(m)
		if neg {
			v = -v
		}
		fd.Num = uint64(v)
	case models.Unsigned:
		if nd > 19 {
			return lp.slowNumber(fd, i, end)
		}
		fd.Num = m
	}
	return j, ""
}

// slowNumber validates a numeric value with InfluxDB's scanNumber rules
// and converts it with strconv.
func (lp *lineParser) slowNumber(fd *models.Field, i, end int) (int, string) {
	s := lp.s
	j, reason := influxScanNumber(s[:end], i)
	if reason != "" {
		return j, reason
	}
	fd.Str = ""
	var err error
	switch s[j-1] {
	case 'i':
		var v int64
		v, err = strconv.ParseInt(s[i:j-1], 10, 64)
		fd.Type, fd.Num = models.Integer, uint64(v)
	case 'u':
		fd.Type = models.Unsigned
		fd.Num, err = strconv.ParseUint(s[i:j-1], 10, 64)
	default:
		var v float64
		v, err = strconv.ParseFloat(s[i:j], 64)
		fd.Type, fd.Num = models.Float, math.Float64bits(v)
		if err == nil && (math.IsInf(v, 0) || math.IsNaN(v)) {
			return j, "invalid float"
		}
	}
	if err != nil {
		// influxScanNumber has range-checked what strconv could reject;
		// this is only a guard.
		return j, "invalid number"
	}
	return j, ""
}

// str parses a double-quoted string value starting at the quote s[i].
func (lp *lineParser) str(fd *models.Field, i, end int) (int, string) {
	s := lp.s
	j := i + 1
	esc := false
	for j < end {
		c := s[j]
		if c == '\\' && j+1 < end {
			esc = true
			j += 2
			continue
		}
		if c == '"' {
			break
		}
		j++
	}
	if j >= end {
		return j, "unbalanced quotes"
	}
	v := s[i+1 : j]
	j++
	if j < end && s[j] != ',' && s[j] != ' ' {
		return j, "invalid field format"
	}
	if esc {
		v = unescapeString(v)
	}
	fd.Type, fd.Num, fd.Str = models.String, 0, v
	return j, ""
}

// boolean parses a boolean value starting at s[i].
func boolean(fd *models.Field, s string, i, end int) (int, string) {
	j := i
	for j < end && s[j] != ',' && s[j] != ' ' {
		j++
	}
	fd.Type, fd.Str = models.Boolean, ""
	switch s[i:j] {
	case "t", "T", "true", "True", "TRUE":
		fd.Num = 1
	case "f", "F", "false", "False", "FALSE":
		fd.Num = 0
	default:
		return j, "invalid boolean"
	}
	return j, ""
}

// unescapeName undoes the escapes of a measurement, tag key, tag value or
// field key: a backslash before comma, space or equals (and, in
// measurements and field keys, a double quote, as InfluxDB's Name and
// field iterator do) is dropped, left to right. Other backslashes stay.
func unescapeName(s string, quote bool) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			if n := s[i+1]; n == ',' || n == ' ' || n == '=' || (quote && n == '"') {
				b.WriteByte(n)
				i++
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// unescapeString undoes \" and \\ in a string field value; other
// backslashes stay, as in InfluxDB.
func unescapeString(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
			b.WriteByte(s[i+1])
			i++
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// sortTags sorts a point's tags by key without allocating.
func sortTags(t models.Tags) {
	if len(t) <= 12 {
		for i := 1; i < len(t); i++ {
			for j := i; j > 0 && t[j].Key < t[j-1].Key; j-- {
				t[j], t[j-1] = t[j-1], t[j]
			}
		}
		return
	}
	slices.SortFunc(t, func(a, b models.Tag) int { return strings.Compare(a.Key, b.Key) })
}

// skipBlanks returns the first index in s[i:end] that is not a space, tab
// or NUL (InfluxDB's skipWhitespace), or end.
func skipBlanks(s string, i, end int) int {
	for i < end && (s[i] == ' ' || s[i] == '\t' || s[i] == 0) {
		i++
	}
	return i
}

// trimCR drops one carriage return before a line end at s[end].
func trimCR(s string, start, end int) int {
	if end > start && s[end-1] == '\r' {
		return end - 1
	}
	return end
}

// safeMul multiplies a timestamp by the precision, reporting overflow the
// way InfluxDB's safeSignedMult does.
func safeMul(a, b int64) (int64, bool) {
	if a == 0 || b == 0 || a == 1 || b == 1 {
		return a * b, true
	}
	if a == MinNanoTime || b == MaxNanoTime {
		return 0, false
	}
	c := a * b
	return c, c/b == a
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }
