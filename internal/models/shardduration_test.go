package models

import (
	"testing"
	"time"
)

func TestDefaultShardDuration(t *testing.T) {
	const day = 24 * time.Hour
	cases := []struct {
		rp, want time.Duration
	}{
		{0, 7 * day},           // infinite
		{time.Hour, time.Hour}, // shortest allowed
		{47 * time.Hour, time.Hour},
		{2 * day, day},
		{30 * day, day},
		{179 * day, day},
		{180 * day, 7 * day},
		{365 * day, 7 * day},
	}
	for _, c := range cases {
		if got := DefaultShardDuration(c.rp); got != c.want {
			t.Errorf("DefaultShardDuration(%v) = %v, want %v", c.rp, got, c.want)
		}
	}
}

func TestNormalizeShardDuration(t *testing.T) {
	const day = 24 * time.Hour
	cases := []struct {
		shard, rp, want time.Duration
	}{
		{0, 0, 7 * day},
		{0, 3 * day, day},
		{time.Minute, 0, time.Hour},
		{2 * time.Hour, 0, 2 * time.Hour},
		{30 * day, 3 * day, 30 * day},
	}
	for _, c := range cases {
		if got := NormalizeShardDuration(c.shard, c.rp); got != c.want {
			t.Errorf("NormalizeShardDuration(%v, %v) = %v, want %v", c.shard, c.rp, got, c.want)
		}
	}
}
