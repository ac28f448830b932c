package encoding_test

import (
	"fmt"

	"github.com/herdmon/herd/internal/storage/encoding"
)

// A regular 10 s series costs the same few bytes however long it is.
func ExampleAppendTimestamps() {
	ts := make([]int64, 1000)
	for i := range ts {
		ts[i] = 1_795_000_000_000_000_000 + int64(i)*10e9
	}
	col := encoding.AppendTimestamps(nil, ts)
	back, err := encoding.DecodeTimestamps(nil, col)
	fmt.Println(len(col), "bytes;", len(back), "values;", err)
	// Output: 17 bytes; 1000 values; <nil>
}

// Floats written with two decimals are stored as scaled integers, yet read
// back bit for bit.
func ExampleAppendFloats() {
	vs := []float64{12.34, 12.5, 13.01, 11.99, 12.0}
	back, err := encoding.DecodeFloats(nil, encoding.AppendFloats(nil, vs))
	fmt.Println(back, err)
	// Output: [12.34 12.5 13.01 11.99 12] <nil>
}
