package block

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/herdmon/herd/internal/models"
)

// FuzzOpen opens arbitrary bytes as a block file and reads everything it
// claims to hold: it must fail with errors, never panic or hang.
func FuzzOpen(f *testing.F) {
	f.Add(smallFile(f))
	empty := filepath.Join(f.TempDir(), "empty.blk")
	writeFile(f, empty, nil)
	f.Add(readFileBytes(f, empty))
	f.Add([]byte(magic))
	f.Add([]byte{})
	if v1, err := os.ReadFile("testdata/format-v1.blk"); err == nil {
		f.Add(v1)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := openBytes(b)
		if err != nil {
			return
		}
		defer r.Close()
		var c Column
		for _, id := range r.SeriesIDs() {
			fs, err := r.SeriesFields(id)
			if err != nil {
				continue
			}
			for _, fi := range fs {
				for _, m := range fi.Chunks {
					if err := r.ReadChunk(m, &c); err == nil && (c.Len() != m.Count || c.Type != fi.Type) {
						t.Fatalf("chunk of %d %s points, meta says %d %s", c.Len(), c.Type, m.Count, fi.Type)
					}
				}
			}
		}
		r.Verify()
	})
}

// FuzzReadChunk decodes arbitrary chunk bytes that carry a valid CRC, so
// the fuzzer reaches the decoders behind it. Seeds are the chunks of a
// real file. Whatever decodes must agree with the meta it was read for.
func FuzzReadChunk(f *testing.F) {
	b := smallFile(f)
	path := filepath.Join(f.TempDir(), "seed.blk")
	writeFile(f, path, smallData())
	r, err := Open(path)
	if err != nil {
		f.Fatal(err)
	}
	for _, id := range r.SeriesIDs() {
		for _, fi := range r.Fields(id) {
			for _, m := range fi.Chunks {
				chunk := b[m.offset : m.offset+m.length-crcLen]
				f.Add(chunk, byte(fi.Type), uint32(m.Count), m.MinTime, uint64(m.MaxTime-m.MinTime))
			}
		}
	}
	r.Close()
	f.Add([]byte{chunkZstd, 0x05, 0x28, 0xb5, 0x2f, 0xfd}, byte(models.Float), uint32(1), int64(0), uint64(0))
	f.Fuzz(func(t *testing.T, chunk []byte, typ byte, count uint32, minT int64, span uint64) {
		maxT, ok := addTime(minT, span)
		if len(chunk) == 0 || !ok {
			return
		}
		m := ChunkMeta{MinTime: minT, MaxTime: maxT, Count: int(count), typ: models.FieldType(typ)}
		if !validType(m.typ) {
			return
		}
		buf := binary.LittleEndian.AppendUint32(append([]byte(nil), chunk...), crc(chunk))
		rd := &Reader{path: "fuzz"}
		var c Column
		c.Reset(m.typ)
		if reason := rd.decodeChunk(buf, m, &c); reason != "" {
			return
		}
		n := c.Len()
		if n != m.Count || c.valuesLen() != n || c.Times[0] != minT || c.Times[n-1] != maxT {
			t.Fatalf("decoded %d points %d..%d, meta %+v", n, c.Times[0], c.Times[n-1], m)
		}
		for i := 1; i < n; i++ {
			if c.Times[i] <= c.Times[i-1] {
				t.Fatal("decoded times not ascending")
			}
		}
	})
}

// FuzzOpenValidChecksums mutates a real file and then recomputes the
// footer, index and entry checksums, so that the fuzzer reaches the index
// decoding behind them: hostile counts, offsets, times and lengths must
// give errors, never a panic or a chunk outside the file.
func FuzzOpenValidChecksums(f *testing.F) {
	f.Add(smallFile(f), uint16(0), byte(0))
	f.Add(smallFile(f), uint16(100), byte(0x80))
	f.Fuzz(func(t *testing.T, b []byte, at uint16, xor byte) {
		if int(at) < len(b) {
			b[at] ^= xor
		}
		fixChecksums(b)
		r, err := openBytes(b)
		if err != nil {
			return
		}
		var c Column
		for _, id := range r.SeriesIDs() {
			fs, err := r.SeriesFields(id)
			if err != nil {
				continue
			}
			for _, fi := range fs {
				for _, m := range fi.Chunks {
					if m.offset < headerLen || m.offset+m.length > int64(r.ft.indexOffset) {
						t.Fatalf("chunk %+v outside the data region", m)
					}
					r.ReadChunk(m, &c)
				}
			}
		}
		r.Verify()
	})
}

// fixChecksums rewrites, where the footer's sizes allow, every entry CRC,
// the index CRC and the footer CRC of b to match its contents.
func fixChecksums(b []byte) {
	if len(b) < headerLen+footerLen {
		return
	}
	le := binary.LittleEndian
	ft := b[len(b)-footerLen:]
	size := uint64(len(b))
	idx, entLen, namesLen, n := le.Uint64(ft), le.Uint64(ft[8:]), le.Uint64(ft[16:]), le.Uint64(ft[24:])
	if idx > size || entLen > size || namesLen > size || n > size/seriesRecLen ||
		idx+entLen+namesLen+n*seriesRecLen+footerLen != size {
		le.PutUint32(ft[60:], crc(ft[:60]))
		return
	}
	entries := b[idx : idx+entLen]
	table := b[idx+entLen+namesLen : size-footerLen]
	start := uint64(0)
	for i := uint64(0); i < n; i++ {
		end := uint64(le.Uint32(table[i*seriesRecLen+8:]))
		if end < start+crcLen || end > entLen {
			break
		}
		e := entries[start:end]
		le.PutUint32(e[len(e)-crcLen:], crc(e[:len(e)-crcLen]))
		start = end
	}
	le.PutUint32(ft[56:], crc(b[idx:size-footerLen]))
	le.PutUint32(ft[60:], crc(ft[:60]))
}
