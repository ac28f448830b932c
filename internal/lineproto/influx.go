package lineproto

import (
	"fmt"
	"strconv"
)

// This file replays InfluxDB 1.8's own scanning rules (models/points.go)
// where herd needs InfluxDB's exact verdict: where a line ends, and which
// reason a bad fields section gets. These run only for bad lines, so they
// favour faithfulness over speed.

// influxLineEnd returns the index of the newline that ends the line
// starting at s[i] by InfluxDB's scanLine rules, or len(s): a backslash
// skips the next byte, and after the first unescaped space a newline
// inside a double-quoted field value does not end the line. It looks no
// further than s[:limit] and returns -1 if the line goes on past it.
func influxLineEnd(s string, i, limit int) int {
	quoted, fields := false, false
	equals, commas := 0, 0
	for i < limit {
		c := s[i]
		if c == '\\' {
			i += 2
			continue
		}
		if c == ' ' {
			fields = true
		}
		if fields {
			switch {
			case !quoted && c == '=':
				equals++
				i++
				continue
			case !quoted && c == ',':
				commas++
				i++
				continue
			case c == '"' && equals > commas:
				quoted = !quoted
				i++
				continue
			}
		}
		if c == '\n' && !quoted {
			return i
		}
		i++
	}
	if limit < len(s) {
		return -1
	}
	return len(s)
}

// influxFieldsReason replays InfluxDB's scanFields over the fields section
// of the line buf, starting at buf[i], and returns its error text, or ""
// if InfluxDB would accept the section. Unsigned values are accepted
// (InfluxDB's EnableUintSupport on).
func influxFieldsReason(buf string, i int) string {
	i = skipBlanks(buf, i, len(buf))
	quoted := false
	equals, commas := 0, 0
	for i < len(buf) {
		c := buf[i]
		if c == '\\' && i+1 < len(buf) {
			i += 2
			continue
		}
		if c == '"' && equals > commas {
			quoted = !quoted
			i++
			continue
		}
		if c == '=' && !quoted {
			equals++
			if i >= 1 && (buf[i-1] == ' ' || buf[i-1] == ',') && (i < 2 || buf[i-2] != '\\') {
				return "missing field key"
			}
			if i+1 >= len(buf) || buf[i+1] == ',' || buf[i+1] == ' ' {
				return "missing field value"
			}
			n := buf[i+1]
			if isNumeric(n) || n == '-' || n == 'N' || n == 'n' {
				var reason string
				if i, reason = influxScanNumber(buf, i+1); reason != "" {
					return reason
				}
				continue
			}
			if n != '"' {
				var reason string
				if i, reason = influxScanBoolean(buf, i+1); reason != "" {
					return reason
				}
				continue
			}
		}
		if c == ',' && !quoted {
			commas++
		}
		if c == ' ' && !quoted {
			break
		}
		i++
	}
	if quoted {
		return "unbalanced quotes"
	}
	if equals == 0 || commas != equals-1 {
		return "invalid field format"
	}
	return ""
}

func isNumeric(c byte) bool { return (c >= '0' && c <= '9') || c == '.' }

// influxScanNumber replays InfluxDB's scanNumber from buf[i]: it returns
// where the number ends and InfluxDB's reason if it is invalid.
func influxScanNumber(buf string, i int) (int, string) {
	start := i
	isInt, isUnsigned := false, false
	if i < len(buf) && buf[i] == '-' {
		i++
		if i == len(buf) {
			return i, "invalid number"
		}
	}
	decimal, scientific := false, false
	for i < len(buf) {
		c := buf[i]
		if c == ',' || c == ' ' {
			break
		}
		if c == 'i' && i > start && !(isInt || isUnsigned) {
			isInt = true
			i++
			continue
		}
		if c == 'u' && i > start && !(isInt || isUnsigned) {
			isUnsigned = true
			i++
			continue
		}
		if c == '.' {
			if decimal {
				return i, "invalid number"
			}
			decimal = true
		}
		if i > start && (c == 'e' || c == 'E') {
			scientific = true
			i++
			continue
		}
		if (c == '+' || c == '-') && (buf[i-1] == 'e' || buf[i-1] == 'E') {
			i++
			continue
		}
		if !isNumeric(c) { // NaN, Inf and any other letter
			return i, "invalid number"
		}
		i++
	}
	if (isInt || isUnsigned) && (decimal || scientific) {
		return i, "invalid number"
	}
	digits := i - start
	if isInt {
		digits--
	}
	if decimal {
		digits--
	}
	if buf[start] == '-' {
		digits--
	}
	if digits == 0 {
		return i, "invalid number"
	}
	switch {
	case isInt:
		if buf[i-1] != 'i' {
			return i, "invalid number"
		}
		if n := buf[start : i-1]; len(n) >= 19 {
			if _, err := strconv.ParseInt(n, 10, 64); err != nil {
				return i, fmt.Sprintf("unable to parse integer %s: %s", n, err)
			}
		}
	case isUnsigned:
		if buf[i-1] != 'u' || buf[start] == '-' {
			return i, "invalid number"
		}
		if n := buf[start : i-1]; len(n) >= 20 {
			if _, err := strconv.ParseUint(n, 10, 64); err != nil {
				return i, fmt.Sprintf("unable to parse unsigned %s: %s", n, err)
			}
		}
	default:
		if n := buf[start:i]; scientific || len(n) >= 25 {
			if _, err := strconv.ParseFloat(n, 64); err != nil {
				return i, "invalid float"
			}
		}
	}
	return i, ""
}

// influxScanBoolean replays InfluxDB's scanBoolean from buf[i].
func influxScanBoolean(buf string, i int) (int, string) {
	j := i
	for j < len(buf) && buf[j] != ',' && buf[j] != ' ' {
		j++
	}
	switch buf[i:j] {
	case "t", "T", "f", "F", "true", "True", "TRUE", "false", "False", "FALSE":
		return j, ""
	}
	return j, "invalid boolean"
}
