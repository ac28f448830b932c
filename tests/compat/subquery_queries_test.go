package compat

// intoQueries write with SELECT ... INTO, then read what was written;
// they run last, since they add measurements.
var intoQueries = []string{
	`SELECT mean(usage_idle) INTO compat..cpu_1m FROM cpu WHERE time < '2026-01-01T00:05:00Z' GROUP BY time(1m), *`,
	`SELECT * FROM cpu_1m`,
	`SELECT used, host INTO mem_copy FROM mem WHERE time < '2026-01-01T00:00:20Z'`,
	`SELECT * FROM mem_copy`,
	`SELECT used INTO mem_by_host FROM mem WHERE time < '2026-01-01T00:00:20Z' GROUP BY host`,
	`SELECT * FROM mem_by_host GROUP BY *`,
	`SELECT max(*) INTO tsbs.autogen.:MEASUREMENT FROM /^(mem|net)$/ WHERE time < '2026-01-01T00:05:00Z' GROUP BY time(5m), host`,
	`SELECT * FROM tsbs..mem`,
	`SELECT * FROM tsbs..net GROUP BY host`,
	`SELECT mean(usage_idle) INTO cpu_none FROM cpu WHERE host = 'nosuch'`,
	`SELECT used INTO nosuchdb..x FROM mem`,
	`SELECT text, level INTO events_copy FROM event`,
	`SHOW FIELD KEYS FROM events_copy`,
	`SHOW MEASUREMENTS`,
}

// subqueryQueries exercise SELECT ... FROM (subquery) over the compat data set.
var subqueryQueries = []string{
	`SELECT mean(max) FROM (SELECT max(usage_idle) FROM cpu GROUP BY time(1m), host) WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T00:10:00Z' GROUP BY time(5m)`,
	`SELECT max(mean) FROM (SELECT mean(usage_idle) FROM cpu GROUP BY host)`,
	`SELECT mean FROM (SELECT mean(usage_idle) FROM cpu GROUP BY host) WHERE mean > 80`,
	`SELECT * FROM (SELECT mean(usage_idle) FROM cpu GROUP BY host)`,
	`SELECT * FROM (SELECT mean(usage_idle) FROM cpu GROUP BY host) GROUP BY host`,
	`SELECT sum(last) FROM (SELECT last(used) FROM mem GROUP BY host)`,
	`SELECT mean(diff) FROM (SELECT usage_idle - usage_user AS diff FROM cpu WHERE host = 'pi1' AND time < '2026-01-01T00:05:00Z')`,
	`SELECT count(usage_idle) FROM (SELECT usage_idle FROM cpu WHERE usage_idle > 90) WHERE time < '2026-01-01T00:10:00Z'`,
	`SELECT max(spread) FROM (SELECT spread(used) FROM mem WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T00:30:00Z' GROUP BY time(5m), host) GROUP BY host`,
	`SELECT mean(usage_idle) FROM (SELECT usage_idle, host FROM cpu WHERE time < '2026-01-01T00:02:00Z') WHERE host = 'pi2'`,
	`SELECT top(mean, 2) FROM (SELECT mean(usage_idle) FROM cpu GROUP BY host)`,
	`SELECT non_negative_derivative(max, 1s) FROM (SELECT max(bytes_recv) FROM net WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T00:05:00Z' GROUP BY time(1m), host) GROUP BY host`,
	`SELECT mean(m) FROM (SELECT mean(usage_idle) AS m FROM cpu WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T00:10:00Z' GROUP BY time(1m), cpu) WHERE cpu = 'cpu1' GROUP BY time(2m) fill(none)`,
	`SELECT last(max) FROM (SELECT max(used) FROM mem GROUP BY host) GROUP BY host`,
	`SELECT max(mean) FROM (SELECT mean(max) FROM (SELECT max(usage_idle) FROM cpu GROUP BY host, cpu) GROUP BY host)`,
	`SELECT mean(used) FROM (SELECT used FROM mem WHERE time < '2026-01-01T00:01:00Z' GROUP BY host) GROUP BY host ORDER BY time DESC`,
	`SELECT used FROM (SELECT used FROM mem WHERE host = 'pi1' AND time < '2026-01-01T00:01:00Z') ORDER BY time DESC LIMIT 2`,
	`SELECT min(mean), max(mean) FROM (SELECT mean(usage_idle) FROM cpu WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T00:30:00Z' GROUP BY time(5m), host) WHERE time >= '2026-01-01T00:10:00Z'`,
	`SELECT count(mean) FROM (SELECT mean(usage_idle) FROM cpu WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T00:30:00Z' GROUP BY time(5m), host) WHERE mean > 80 GROUP BY host`,
	`SELECT * FROM (SELECT mean(used) FROM mem GROUP BY host), (SELECT mean(bytes_recv) FROM net GROUP BY host)`,
	`SELECT mean FROM (SELECT mean(usage_idle) FROM cpu GROUP BY host) WHERE host =~ /pi/ AND mean < 80.1`,
	`SELECT sum(max) FROM (SELECT max(usage_idle) FROM cpu WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T00:04:00Z' GROUP BY time(1m), host) WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T00:04:00Z' GROUP BY time(2m)`,
	`SELECT mean(x) FROM (SELECT usage_idle AS x FROM cpu WHERE host = 'pi3' AND time < '2026-01-01T00:03:00Z'), (SELECT usage_user AS x FROM cpu WHERE host = 'pi3' AND time < '2026-01-01T00:03:00Z')`,
	// Nested three deep, with wildcards expanded at every level (each
	// level is rewritten once, over its subqueries' rewritten fields).
	`SELECT * FROM (SELECT * FROM (SELECT usage_idle, usage_user, host FROM cpu WHERE time < '2026-01-01T00:01:00Z') WHERE usage_idle > 70) WHERE host = 'pi1' OR host = 'pi2'`,
}
