package encoding

import (
	"fmt"
	"strings"
	"testing"
)

// TestSizeReport prints bytes per value of every scheme on the realistic
// columns (go test -run SizeReport -v). It also guards the headline sizes.
func TestSizeReport(t *testing.T) {
	var b strings.Builder
	perValue := func(enc []byte, n int) string {
		if enc == nil {
			return "-"
		}
		return fmt.Sprintf("%.3f", float64(len(enc))/float64(n))
	}
	fmt.Fprintf(&b, "%-36s %7s %7s %7s %7s %7s | %7s %s\n", "integer column", "run", "delta", "dod", "for", "raw", "chosen", "scheme")
	ints := append(timestampCases(), integerCases()...)
	for _, c := range ints {
		sp := new([]uint64)
		g, regular := deltaGCD(c.vs)
		var run []byte
		if regular {
			run = appendIntRun(nil, c.vs)
		}
		chosen := AppendIntegers(nil, c.vs)
		if strings.HasPrefix(c.name, "ts") {
			chosen = AppendTimestamps(nil, c.vs)
		}
		fmt.Fprintf(&b, "%-36s %7s %7s %7s %7s %7s | %7s %#x\n", c.name,
			perValue(run, len(c.vs)),
			perValue(appendIntDelta(nil, c.vs, g, sp), len(c.vs)),
			perValue(appendIntDoD(nil, c.vs, g, sp), len(c.vs)),
			perValue(appendIntFOR(nil, c.vs, sp), len(c.vs)),
			perValue(appendIntRaw(nil, c.vs), len(c.vs)),
			perValue(chosen, len(c.vs)), chosen[0])
	}
	fmt.Fprintf(&b, "\n%-36s %7s %7s %7s %7s | %7s %s\n", "float column", "const", "decimal", "gorilla", "raw", "chosen", "scheme")
	for _, c := range floatCases() {
		var constant []byte
		if c.name == "constant" {
			constant = AppendFloats(nil, c.vs)
		}
		dec, ok := appendDecimal(nil, c.vs)
		if !ok {
			dec = nil
		}
		chosen := AppendFloats(nil, c.vs)
		scheme := fmt.Sprintf("%#x", chosen[0])
		if chosen[0] == floatDecimal {
			scheme += fmt.Sprintf(" k=%d ints %#x", chosen[1], chosen[2])
		}
		fmt.Fprintf(&b, "%-36s %7s %7s %7s %7s | %7s %s\n", c.name,
			perValue(constant, len(c.vs)), perValue(dec, len(c.vs)),
			perValue(appendGorilla(nil, c.vs), len(c.vs)),
			perValue(appendFloatRaw(nil, c.vs), len(c.vs)),
			perValue(chosen, len(c.vs)), scheme)
	}
	t.Log("bytes per value, columns of 1000 values\n" + b.String())

	// Headline sizes: regular timestamps and small-decimal floats must stay
	// tiny; these are what most of a Raspberry Pi's disk holds.
	if n := len(AppendTimestamps(nil, timestampCases()[0].vs)); n > 20 {
		t.Errorf("regular timestamps: %d bytes per column", n)
	}
	if n := len(AppendFloats(nil, floatCases()[2].vs)); n > colLen*2 {
		t.Errorf("2-decimal percentages: %.2f bytes per value", float64(n)/colLen)
	}
}
