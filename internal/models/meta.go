package models

import (
	"fmt"
	"time"
)

// RetentionPolicy describes how long a database keeps data and how it
// partitions it in time. A zero Duration keeps data forever.
type RetentionPolicy struct {
	Name          string
	Duration      time.Duration
	ShardDuration time.Duration
	Replication   int
	Default       bool
}

// RetentionPolicyUpdate names the attributes ALTER RETENTION POLICY
// changes; nil fields stay as they are.
type RetentionPolicyUpdate struct {
	Duration      *time.Duration
	ShardDuration *time.Duration
	Replication   *int
}

// DatabaseNotFoundError reports a write or query against a database that
// does not exist. The HTTP layer words it as InfluxDB does per endpoint.
type DatabaseNotFoundError struct{ Name string }

func (e *DatabaseNotFoundError) Error() string { return fmt.Sprintf("database not found: %q", e.Name) }

// RetentionPolicyNotFoundError reports an unknown retention policy.
type RetentionPolicyNotFoundError struct{ Database, Name string }

func (e *RetentionPolicyNotFoundError) Error() string {
	return fmt.Sprintf("retention policy not found: %s", e.Name)
}

// PartialWriteError reports that some points of a batch were not written
// (field type conflicts, points beyond retention); the others were, and
// are durable. Its text is InfluxDB's, which Telegraf matches on.
type PartialWriteError struct {
	Reason  string
	Dropped int
}

func (e *PartialWriteError) Error() string {
	return fmt.Sprintf("partial write: %s dropped=%d", e.Reason, e.Dropped)
}

// FieldTypeConflictReason is InfluxDB's wording of a field whose type
// differs from the one already stored in the shard.
func FieldTypeConflictReason(field, measurement string, got, have FieldType) string {
	return fmt.Sprintf("field type conflict: input field %q on measurement %q is type %s, already exists as type %s",
		field, measurement, got, have)
}
