package storage

import (
	"log/slog"
	"time"

	"github.com/herdmon/herd/internal/storage/fsys"
	"github.com/herdmon/herd/internal/storage/wal"
)

// Options configures an Engine. The zero value of every field means its
// default (see DefaultOptions), so a server runs with no configuration.
type Options struct {
	// Dir holds everything the engine keeps: WAL, meta, index, blocks.
	Dir string
	// FsyncDelay > 0 lets acknowledged writes wait up to this long for an
	// fsync (fewer SD-card writes; a power cut may lose that window, a
	// kill -9 loses nothing). 0 fsyncs before every acknowledgement.
	FsyncDelay time.Duration
	// HeadMaxBytes bounds the memory that recent, not yet flushed data
	// may use before it is flushed to block files.
	HeadMaxBytes int64
	// HeadMaxAge flushes the head at least this often, which bounds WAL
	// replay time after a crash.
	HeadMaxAge time.Duration
	// MaxSeriesPerDatabase refuses new series in a database beyond it
	// (0: default; negative: no limit).
	MaxSeriesPerDatabase int
	// MaxFieldsPerMeasurement refuses points that would give a
	// measurement more distinct field keys in one shard (0: default,
	// negative: no limit). Points are checked before their WAL record,
	// so replay keeps what was acknowledged whatever the limit is then.
	MaxFieldsPerMeasurement int
	// MaxSeriesTotal refuses new series beyond it across all databases
	// (0: no total limit): any client may create databases, so only this
	// bounds the index's memory. The server derives it from its memory
	// limit.
	MaxSeriesTotal int
	// EntryCacheBytes bounds the decoded block index entries kept for
	// queries (0: DefaultEntryCacheBytes).
	EntryCacheBytes int64
	// RetentionCheckInterval is how often expired shards are dropped.
	RetentionCheckInterval time.Duration
	// Logger receives warnings (repairs, quarantines); nil: slog.Default().
	Logger *slog.Logger
	// MinFreeDiskSpace refuses writes while the data directory's file
	// system has less free space (room kept for flushes and compactions);
	// DiskReserve is the emergency reserve file released when the disk
	// fills (at most 1/16 of the file system). 0: default; < 0: off.
	MinFreeDiskSpace int64
	DiskReserve      int64

	// walAppend, set by tests, stands in for the WAL's Append to inject
	// failures; streamRestartBytes overrides walStreamRestartBytes (< 0:
	// never).
	walAppend          func(w *wal.WAL, rec []byte) error
	streamRestartBytes int
	// FS is what the engine changes the disk through; nil: the OS. The
	// fault-injection tests fail its writes and fsyncs.
	FS fsys.FS
	// walRoll, statfs and flushShard stand in for the WAL's Roll, the
	// free-space measurement and a shard's flush (tests inject ENOSPC).
	walRoll    func(w *wal.WAL) (uint64, error)
	statfs     func(dir string) (free, total int64, err error)
	flushShard func(s *shard, h *head) error
}

// DefaultOptions are sized for a Raspberry Pi 3 (1 GB) receiving
// Telegraf's default inputs from 100 hosts every 10 s (about 2,500
// values/s): the head keeps recent data compressed at about 3 bytes per
// value, so 32 MiB holds roughly an hour of that before a flush.
func DefaultOptions() Options {
	return Options{
		HeadMaxBytes:            32 << 20,
		HeadMaxAge:              time.Hour,
		MaxSeriesPerDatabase:    1_000_000,
		MaxFieldsPerMeasurement: DefaultMaxFieldsPerMeasurement,
		EntryCacheBytes:         DefaultEntryCacheBytes,
		RetentionCheckInterval:  30 * time.Minute,
		// A second of ingestion at full speed plus index and metadata
		// writes; the head's blocks are covered by flushing early.
		MinFreeDiskSpace: 16 << 20,
		DiskReserve:      16 << 20,
	}
}

// DefaultEntryCacheBytes bounds the decoded block index entries kept for
// queries: the entries of a dashboard's few thousand series-and-block
// pairs, a small part of a 1 GB board's memory.
const DefaultEntryCacheBytes = 4 << 20
