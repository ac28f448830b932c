package httpapi

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/influxdata/influxql"
)

// Query text bounds, checked before the text reaches influxql's parser:
// the parser recurses once per nesting level (about 640 bytes of stack
// each: a megabyte of "(" would take 640 MB, past a Pi's memory and a
// 32-bit build's 250 MB stack limit, which is fatal, not an error), and
// a query's planning and evaluation cost grows with its terms.
const (
	// DefaultMaxQuerySize is the default bound of q in bytes: 1 MiB is
	// what a GET can carry (net/http's default header limit), so every
	// query that works as a GET works as a POST; dashboards send a few
	// KB.
	DefaultMaxQuerySize = 1 << 20
	// DefaultMaxQueryDepth is the default nesting bound of parentheses
	// and subqueries: real queries nest a handful of levels.
	DefaultMaxQueryDepth = 100
	// DefaultMaxQueryTerms is the default bound of the operands joined
	// by operators (AND, OR, comparisons, arithmetic) in one statement:
	// a dashboard's `host = 'a' OR host = 'b' ...` over 1,000 hosts has
	// 4,000.
	DefaultMaxQueryTerms = 10_000
)

// QueryLimits bound a /query request's q before it is parsed; 0 picks
// the default of each.
type QueryLimits struct {
	MaxSize  int64
	MaxDepth int
	MaxTerms int
}

func (l QueryLimits) withDefaults() QueryLimits {
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultMaxQuerySize
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxQueryDepth
	}
	if l.MaxTerms <= 0 {
		l.MaxTerms = DefaultMaxQueryTerms
	}
	return l
}

// queryLimitError is a q that exceeds a QueryLimits bound; it reads as
// influxql's parse errors do ("... at line 1, char 2"), and names its
// setting.
type queryLimitError struct {
	limit string // "depth" or "terms", for the counters
	err   *influxql.ParseError
}

func (e *queryLimitError) Error() string { return e.err.Error() }

// scanQuery checks q's nesting depth and the terms of each statement
// against the limits in one pass, without parsing, and returns the text
// of each statement (for SHOW QUERIES).
//
// It tokenizes as influxql's scanner does: strings, quoted identifiers,
// comments and regular expressions are skipped whole, so that their
// contents count nothing. A "/" is a regular expression where an operand
// may start (after FROM, "(", ",", "=~" ...) and a division after an
// operand, as the parser reads it. Where the two could disagree the
// parser fails at that very place (a "/*" regex is never a valid
// regexp, an operand directly before a regex is a syntax error), so no
// nesting it could reach is missed.
func scanQuery(q string, lim QueryLimits) ([]string, error) {
	lim = lim.withDefaults()
	s := &queryScanner{q: q}
	var stmts []string
	stmtStart, tokens, ops, depth := 0, 0, 0, 0
	endStatement := func(end int) {
		if tokens > 0 {
			stmts = append(stmts, strings.TrimSpace(q[stmtStart:end]))
		}
		stmtStart, tokens, ops = end+1, 0, 0
	}
	operand := false // the last token ends an operand
	cast := false    // the last token is "::": a type name follows
	for s.i < len(q) {
		start, pos := s.i, s.pos
		c := q[s.i]
		if c == 0 {
			// influxql's scanner reads NUL as the end of the text at
			// the start of a token, skips it after a name or spaces
			// and fails in a string: no query means one, so herd
			// refuses it rather than guess (text of NULs and spaces
			// only is no statement, as in InfluxDB).
			if strings.Trim(q, "\x00 \t\r\n") == "" {
				return nil, nil
			}
			return nil, &queryLimitError{err: &influxql.ParseError{Pos: pos, Message: "found NUL byte, which a query may not contain"}}
		}
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			s.advance(1)
			continue
		case c == '-' && s.peek(1) == '-':
			s.skipTo("\n")
			continue
		case c == '/' && s.peek(1) == '*':
			s.skipTo("*/")
			continue
		}
		tokens++
		wasCast := cast
		cast = false
		switch {
		case c == '\'' || c == '"':
			s.skipDelimited(c)
			operand = true
		case isLetter(c) || c == '_':
			word := s.word()
			switch tok := influxql.Lookup(word); {
			case wasCast || tok == influxql.IDENT || tok == influxql.TRUE || tok == influxql.FALSE:
				operand = true
			case tok == influxql.AND || tok == influxql.OR:
				ops++
				operand = false
			default:
				operand = false
			}
		case c >= '0' && c <= '9' || c == '.' && s.peek(1) >= '0' && s.peek(1) <= '9':
			s.number()
			operand = true
		case c == '$':
			s.advance(1)
			if s.i < len(q) && q[s.i] == '"' {
				s.skipDelimited('"')
			} else {
				s.word()
			}
			operand = true
		case c == '/' && !operand:
			s.skipDelimited('/')
			operand = true
		case c == '(':
			s.advance(1)
			depth++
			if depth > lim.MaxDepth {
				return nil, &queryLimitError{limit: "depth", err: &influxql.ParseError{Pos: pos,
					Message: fmt.Sprintf("parentheses or subqueries nested deeper than %d levels (max-query-depth)", lim.MaxDepth)}}
			}
			operand = false
		case c == ')':
			s.advance(1)
			depth = max(depth-1, 0)
			operand = true
		case c == ';':
			s.advance(1)
			tokens--
			endStatement(start)
			operand = false
		case c == ':' && s.peek(1) == ':':
			s.advance(2)
			cast = true
			operand = false
		case c == '*':
			// A wildcard is an operand (SELECT * / 2 parses); as an
			// operator it is a term like the others.
			s.advance(1)
			ops++
			operand = true
		case strings.IndexByte("+-/%&|^=!<>", c) >= 0:
			n := 1
			if next := s.peek(1); next == '=' || next == '~' || c == '<' && next == '>' {
				n = 2
			}
			s.advance(n)
			ops++
			operand = false
		default:
			s.advance(1)
			operand = false
		}
		if ops >= lim.MaxTerms {
			return nil, &queryLimitError{limit: "terms", err: &influxql.ParseError{Pos: pos,
				Message: fmt.Sprintf("statement has more than %d terms (max-query-terms)", lim.MaxTerms)}}
		}
	}
	endStatement(s.i)
	return stmts, nil
}

// queryScanner walks a query's bytes, keeping influxql's positions
// (zero-based line, and character within it).
type queryScanner struct {
	q   string
	i   int
	pos influxql.Pos
}

func (s *queryScanner) peek(n int) byte {
	if s.i+n < len(s.q) {
		return s.q[s.i+n]
	}
	return 0
}

func (s *queryScanner) advance(n int) {
	for end := min(s.i+n, len(s.q)); s.i < end; s.i++ {
		switch c := s.q[s.i]; {
		case c == '\n':
			s.pos.Line++
			s.pos.Char = 0
		case utf8.RuneStart(c):
			s.pos.Char++
		}
	}
}

// skipTo skips past the next end, or to the end of the query.
func (s *queryScanner) skipTo(end string) {
	if k := strings.Index(s.q[s.i+len(end):], end); k >= 0 {
		s.advance(len(end) + k + len(end))
		return
	}
	s.advance(len(s.q) - s.i)
}

// skipDelimited skips a string, quoted identifier or regex: to the
// closing delimiter not escaped by a backslash, or to the end of the
// line (where influxql's scanner ends it with an error).
func (s *queryScanner) skipDelimited(delim byte) {
	s.advance(1)
	for s.i < len(s.q) {
		switch s.q[s.i] {
		case 0:
			return // the main loop refuses it
		case '\\':
			s.advance(2)
			continue
		case '\n':
			return
		case delim:
			s.advance(1)
			return
		}
		s.advance(1)
	}
}

func (s *queryScanner) word() string {
	start := s.i
	for s.i < len(s.q) && (isLetter(s.q[s.i]) || s.q[s.i] == '_' || s.q[s.i] >= '0' && s.q[s.i] <= '9') {
		s.advance(1)
	}
	return s.q[start:s.i]
}

// number skips a number or a duration (10s, 1.5, 3µs).
func (s *queryScanner) number() {
	for s.i < len(s.q) {
		c := s.q[s.i]
		if c >= '0' && c <= '9' || c == '.' || isLetter(c) || c == '_' {
			s.advance(1)
			continue
		}
		if strings.HasPrefix(s.q[s.i:], "µ") {
			s.advance(len("µ"))
			continue
		}
		return
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
