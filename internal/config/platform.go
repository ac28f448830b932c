package config

import (
	"fmt"
	"strings"
)

// AddressSpace32 is about what a 32-bit process can map: Raspberry Pi
// OS's 32-bit kernels (armv6 on a Pi Zero/1, armv7 on a Pi 2/3) give user
// space 3 GiB whatever the board's RAM, and the binary, the stacks and
// the Go runtime's own structures take part of that. A memory setting
// above it cannot be reached: the process fails to allocate (a crash, not
// the limit's clear error) first.
const AddressSpace32 Size = 3 << 30

// PlatformWarnings returns one sentence per setting that cannot hold in
// a process whose pointers have addressBits bits (buildinfo.AddressBits);
// the server logs them at start, after ApplyMemoryLimit has resolved the
// derived settings (a setting still Derived is skipped). They are warnings, not Validate errors:
// the same configuration file is deployed to 32- and 64-bit hosts, and
// a limit that 32-bit hosts never reach is a misjudgement there, not a
// reason to refuse to start.
func (c *ServerConfig) PlatformWarnings(addressBits int) []string {
	if addressBits > 32 {
		return nil
	}
	limit := formatSize(AddressSpace32)
	var warnings []string
	budgets := []struct {
		key  string
		size Size
		// unlimited says what 0 means for this key, "" when 0 is not
		// "no limit".
		unlimited string
		// inSum: the budget is held beside the others at once (one
		// query's budget is part of all queries' total).
		inSum bool
	}{
		{"memory-limit", c.MemoryLimit, "", false},
		{"head-max-bytes", c.HeadMaxBytes, "", true},
		{"max-query-memory", c.MaxQueryMemory, "", false},
		{"max-query-memory-total", c.MaxQueryMemoryTotal, "no limit on the memory of all queries together", true},
		{"max-write-memory", c.MaxWriteMemory, "no limit on the memory of writes in progress", true},
	}
	var sum Size
	var keys []string
	for _, b := range budgets {
		if b.size < 0 { // Derived: not resolved yet
			continue
		}
		switch {
		case b.size > AddressSpace32:
			warnings = append(warnings, fmt.Sprintf("%s: %s is more than a 32-bit process can address (about %s): "+
				"allocation fails, and the server crashes, before the limit is reached; set it well below %s, or run the 64-bit (arm64) build on a 64-bit OS",
				b.key, formatSize(b.size), limit, limit))
		case b.size == 0 && b.unlimited != "":
			warnings = append(warnings, fmt.Sprintf("%s: 0 means %s, but a 32-bit process has only about %s of address space: "+
				"past it the server crashes instead of refusing the request; set a limit",
				b.key, b.unlimited, limit))
		}
		if b.inSum {
			sum += b.size
			keys = append(keys, b.key)
		}
	}
	// The series limits bound the index's memory at about
	// SeriesMemoryBytes a series.
	series := []struct {
		key       string
		n         int
		unlimited bool
	}{
		{"max-series-per-database", c.MaxSeriesPerDatabase, false},
		{"max-series-total", c.MaxSeriesTotal, c.MaxSeriesTotal == -1},
	}
	for _, sl := range series {
		switch need := Size(sl.n) * SeriesMemoryBytes; {
		case need > AddressSpace32:
			warnings = append(warnings, fmt.Sprintf("%s: %d series need about %s of index memory (%d bytes a series), more than a 32-bit process can address (about %s): "+
				"the server crashes before the limit refuses a series; set at most %d",
				sl.key, sl.n, formatSize(need), SeriesMemoryBytes, limit, int64(AddressSpace32/SeriesMemoryBytes)/2))
		case sl.unlimited:
			warnings = append(warnings, fmt.Sprintf("%s: -1 means no limit on series across databases, but a 32-bit process has only about %s of address space: "+
				"past it the server crashes instead of refusing new series; set a limit, or 0 to derive it from memory-limit",
				sl.key, limit))
		}
	}
	if sum > AddressSpace32 {
		warnings = append(warnings, fmt.Sprintf("%s: %s together is more than a 32-bit process can address (about %s): "+
			"under load the server crashes before these limits refuse anything; lower them so that they add up to well below %s",
			strings.Join(keys, " + "), formatSize(sum), limit, limit))
	}
	return warnings
}

// formatSize writes a size in the largest binary unit that holds it
// exactly ("3GiB", "1536MiB"), else in bytes, so that a value just above
// a limit does not read as equal to it.
func formatSize(s Size) string {
	for _, u := range []struct {
		suffix string
		mult   Size
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if s >= u.mult && s%u.mult == 0 {
			return fmt.Sprintf("%d%s", s/u.mult, u.suffix)
		}
	}
	return fmt.Sprintf("%d bytes", s)
}
