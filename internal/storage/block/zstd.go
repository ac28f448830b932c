package block

import (
	"sync"

	"github.com/klauspost/compress/zstd"
)

// The zstd stage is shared by all writers and readers: EncodeAll and
// DecodeAll are safe for concurrent use, and one coder each keeps the
// memory the package holds small and fixed.
var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
	zstdErr  error
)

func zstdCoders() (*zstd.Encoder, *zstd.Decoder, error) {
	zstdOnce.Do(func() {
		zstdEnc, zstdErr = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			// Flushes and compactions are rare and sequential: one
			// encoder is enough, and each costs a few MiB.
			zstd.WithEncoderConcurrency(1),
			zstd.WithLowerEncoderMem(true),
			// Chunks carry their own CRC32-C.
			zstd.WithEncoderCRC(false),
		)
		if zstdErr != nil {
			return
		}
		zstdDec, zstdErr = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(maxChunkBytes),
			zstd.WithDecoderMaxWindow(maxChunkBytes),
			// DecodeAll may fill only the capacity the caller gave,
			// which is the raw length the chunk declares.
			zstd.WithDecodeAllCapLimit(true),
		)
	})
	return zstdEnc, zstdDec, zstdErr
}

// zstdStage can be turned off by benchmarks to measure what the stage
// saves.
var zstdStage = true

// zstdWorth reports whether a zstd frame of packed bytes (plus its length
// header) is worth storing instead of raw bytes: it must save at least an
// eighth of the chunk and 32 bytes, since every compressed chunk costs a
// zstd decode on each read.
func zstdWorth(raw, packed int) bool {
	saved := raw - packed
	return saved >= 32 && saved*8 >= raw
}
