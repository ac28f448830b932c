package wal

import (
	"hash/crc32"
	"testing"
)

// TestRecordCRC pins the checksum to the standard CRC-32C of length bytes
// followed by payload, so other tools can verify segments.
func TestRecordCRC(t *testing.T) {
	cases := []struct {
		name    string
		payload []byte
	}{
		{name: "empty", payload: nil},
		{name: "short", payload: []byte("a")},
		{name: "line", payload: []byte("cpu,host=a usage_idle=99.5 1700000000000000000")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h [recordHeaderSize]byte
			putRecordHeader(&h, tc.payload)
			want := crc32.Checksum(append(h[:4:4], tc.payload...), crc32.MakeTable(crc32.Castagnoli))
			if got := recordCRC(h[:4], tc.payload); got != want {
				t.Fatalf("crc %08x, want %08x", got, want)
			}
		})
	}
	// A zeroed header must never verify: that is how a zero-filled tail
	// is told apart from an empty record.
	var zero [4]byte
	if recordCRC(zero[:], nil) == 0 {
		t.Fatal("crc of a zero length is zero")
	}
}
