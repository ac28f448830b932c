package compat

// tsbsQueries are the query types of TSBS's devops use case, written as
// its InfluxQL generator writes them (cmd/tsbs_generate_queries/
// databases/influx/devops.go), over tsbsDataset (2016-01-01, 12 hours).
var tsbsQueries = []string{
	// single-groupby-1-1-1, -1-1-12, -1-8-1, -5-1-1, -5-1-12, -5-8-1
	`SELECT max(usage_user) from cpu where (hostname = 'host_7') and time >= '2016-01-01T05:17:37Z' and time < '2016-01-01T06:17:37Z' group by time(1m)`,
	`SELECT max(usage_user) from cpu where (hostname = 'host_3') and time >= '2016-01-01T00:00:00Z' and time < '2016-01-01T12:00:00Z' group by time(1m)`,
	`SELECT max(usage_user) from cpu where (hostname = 'host_1' or hostname = 'host_5' or hostname = 'host_0' or hostname = 'host_2' or hostname = 'host_6' or hostname = 'host_4' or hostname = 'host_3' or hostname = 'host_7') and time >= '2016-01-01T02:04:11Z' and time < '2016-01-01T03:04:11Z' group by time(1m)`,
	`SELECT max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait) from cpu where (hostname = 'host_2') and time >= '2016-01-01T08:31:00Z' and time < '2016-01-01T09:31:00Z' group by time(1m)`,
	`SELECT max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait) from cpu where (hostname = 'host_6') and time >= '2016-01-01T00:00:00Z' and time < '2016-01-01T12:00:00Z' group by time(1m)`,
	`SELECT max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait) from cpu where (hostname = 'host_0' or hostname = 'host_4' or hostname = 'host_5') and time >= '2016-01-01T10:00:00Z' and time < '2016-01-01T11:00:00Z' group by time(1m)`,
	// cpu-max-all-1, -8
	`SELECT max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait),max(usage_irq),max(usage_softirq),max(usage_steal),max(usage_guest),max(usage_guest_nice) from cpu where (hostname = 'host_5') and time >= '2016-01-01T01:00:00Z' and time < '2016-01-01T09:00:00Z' group by time(1h)`,
	`SELECT max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait),max(usage_irq),max(usage_softirq),max(usage_steal),max(usage_guest),max(usage_guest_nice) from cpu where (hostname = 'host_1' or hostname = 'host_2' or hostname = 'host_3' or hostname = 'host_4' or hostname = 'host_5' or hostname = 'host_6' or hostname = 'host_7' or hostname = 'host_0') and time >= '2016-01-01T03:12:00Z' and time < '2016-01-01T11:12:00Z' group by time(1h)`,
	// double-groupby-1, -5, -all
	`SELECT mean(usage_user) from cpu where time >= '2016-01-01T00:00:00Z' and time < '2016-01-01T12:00:00Z' group by time(1h),hostname`,
	`SELECT mean(usage_user),mean(usage_system),mean(usage_idle),mean(usage_nice),mean(usage_iowait) from cpu where time >= '2016-01-01T00:00:00Z' and time < '2016-01-01T12:00:00Z' group by time(1h),hostname`,
	`SELECT mean(usage_user),mean(usage_system),mean(usage_idle),mean(usage_nice),mean(usage_iowait),mean(usage_irq),mean(usage_softirq),mean(usage_steal),mean(usage_guest),mean(usage_guest_nice) from cpu where time >= '2016-01-01T00:00:00Z' and time < '2016-01-01T12:00:00Z' group by time(1h),hostname`,
	// high-cpu-all, high-cpu-1
	`SELECT * from cpu where usage_user > 90.0 and time >= '2016-01-01T00:00:00Z' and time < '2016-01-01T12:00:00Z'`,
	`SELECT * from cpu where usage_user > 90.0 and (hostname = 'host_3') and time >= '2016-01-01T00:00:00Z' and time < '2016-01-01T12:00:00Z'`,
	`SELECT * from cpu where usage_user > 50.0 and (hostname = 'host_1') and time >= '2016-01-01T04:00:00Z' and time < '2016-01-01T05:00:00Z'`,
	// lastpoint
	`SELECT * from cpu group by "hostname" order by time desc limit 1`,
	// groupby-orderby-limit
	`SELECT max(usage_user) from cpu WHERE time < '2016-01-01T07:33:00Z' group by time(1m) limit 5`,
	`SELECT max(usage_user) from cpu WHERE time < '2016-01-01T07:33:00Z' group by time(1m) order by time desc limit 5`,
	`SELECT max(usage_user) from cpu WHERE time >= '2016-01-01T07:00:00Z' AND time < '2016-01-01T07:33:00Z' group by time(1m) order by time desc limit 5`,
	// schema of the TSBS set
	`SHOW TAG KEYS FROM cpu`,
	`SHOW TAG VALUES FROM cpu WITH KEY = "hostname"`,
	`SHOW TAG VALUES FROM cpu WITH KEY = "datacenter" WHERE region = 'eu-west-1'`,
	`SHOW FIELD KEYS FROM cpu`,
	`SHOW SERIES FROM cpu WHERE team = 'SF'`,
	`SELECT count(usage_user) FROM cpu GROUP BY region`,
	`SELECT mean(usage_user) FROM cpu WHERE time >= '2016-01-01T00:00:00Z' and time < '2016-01-01T12:00:00Z' GROUP BY time(2h), region, datacenter`,
	`SELECT last(usage_idle) FROM cpu GROUP BY hostname`,
	`SELECT top(usage_user, 5) FROM cpu WHERE time >= '2016-01-01T00:00:00Z' and time < '2016-01-01T00:10:00Z' AND hostname = 'host_2'`,
}
