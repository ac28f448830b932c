package models

import "time"

// MinRetentionPolicyDuration is the shortest finite retention InfluxDB
// accepts; it is also the floor for an explicit shard duration.
const MinRetentionPolicyDuration = time.Hour

// DefaultShardDuration is the shard (time partition) length InfluxDB 1.x
// picks for a retention policy of the given duration when none is given
// (meta/data.go shardGroupDuration): infinite (0) or at least 180 days
// gets 7 days, at least 2 days gets 1 day, anything shorter 1 hour. Short
// policies get short shards so that expiry, which drops whole shards,
// frees space close to on time.
func DefaultShardDuration(rpDuration time.Duration) time.Duration {
	switch {
	case rpDuration == 0 || rpDuration >= 180*24*time.Hour:
		return 7 * 24 * time.Hour
	case rpDuration >= 2*24*time.Hour:
		return 24 * time.Hour
	}
	return time.Hour
}

// NormalizeShardDuration applies InfluxDB's rule for a requested shard
// duration (meta/data.go normalisedShardDuration): 0 means the default for
// rpDuration, and anything below an hour is raised to an hour.
func NormalizeShardDuration(shard, rpDuration time.Duration) time.Duration {
	switch {
	case shard == 0:
		return DefaultShardDuration(rpDuration)
	case shard < MinRetentionPolicyDuration:
		return MinRetentionPolicyDuration
	}
	return shard
}
