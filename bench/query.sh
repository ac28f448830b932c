#!/usr/bin/env bash
# bench/query.sh: query latency per query type, herd beside InfluxDB 1.x,
# loaded with the same data (herd bench write) and asked the same InfluxQL
# over HTTP on loopback. Prints median and p99 per type and herd/InfluxDB
# ratios.
#
#   bench/query.sh            # 10 hosts, 24 h at 10 s, 30 runs per query
#   HOSTS=50 RUNS=100 bench/query.sh
#   ONLY=lastpoint bench/query.sh   # the query types matching a regex
#   HERD_BIN=/path/to/herd bench/query.sh   # a built binary
#
# Needs influxd (Debian package influxdb) and curl. Uses ports 28761-28763.
set -euo pipefail
cd "$(dirname "$0")/.."

HOSTS=${HOSTS:-10}
RUNS=${RUNS:-30}
# The data covers the last 24 hours (from a whole hour), so that, as in
# production, the latest data is recent; query times are offsets from it.
START_S=$(( $(date +%s) / 3600 * 3600 - 86400 ))
at() { date -u -d "@$((START_S + $1))" +%Y-%m-%dT%H:%M:%SZ; }
ms() { echo "$(( (START_S + $1) * 1000 ))ms"; }
START=$(at 0)
HERD_PORT=28761
INFLUX_PORT=28762

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

if [[ -n ${HERD_BIN:-} ]]; then
	cp "$HERD_BIN" "$work/herd"
else
	go build -o "$work/herd" ./cmd/herd
fi

"$work/herd" server --data-dir "$work/herd-data" --http-addr 127.0.0.1:$HERD_PORT --no-local-agent \
	>"$work/herd.log" 2>&1 &
pids+=($!)

cat >"$work/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:28763"
[meta]
  dir = "$work/influx/meta"
[data]
  dir = "$work/influx/data"
  wal-dir = "$work/influx/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$INFLUX_PORT"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
CONF
influxd -config "$work/influxdb.conf" >"$work/influxd.log" 2>&1 &
pids+=($!)

wait_up() {
	for _ in $(seq 300); do
		curl -sf -o /dev/null "http://127.0.0.1:$1/ping" && return 0
		sleep 0.1
	done
	echo "server on port $1 did not start" >&2
	exit 1
}
wait_up $HERD_PORT
wait_up $INFLUX_PORT

for port in $HERD_PORT $INFLUX_PORT; do
	"$work/herd" bench write --url "http://127.0.0.1:$port" --db bench --hosts "$HOSTS" \
		--start "$START" --duration 24h --seed 1 >/dev/null
done

# name|query: the TSBS devops query types (host tag as Telegraf names it)
# and the Grafana panel query (the last 6 hours).
queries=(
	"grafana-panel|SELECT mean(\"usage_idle\") FROM \"autogen\".\"cpu\" WHERE (\"host\" =~ /^host_1\$/) AND time >= $(ms 64800) and time <= $(ms 86399) GROUP BY time(1m), \"host\" fill(null)"
	"single-groupby-1-1-1|SELECT max(usage_user) from cpu where (host = 'host_7') and time >= '$(at 19057)' and time < '$(at 22657)' group by time(1m)"
	"single-groupby-5-8-1|SELECT max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait) from cpu where (host = 'host_1' or host = 'host_5' or host = 'host_0' or host = 'host_2' or host = 'host_6' or host = 'host_4' or host = 'host_3' or host = 'host_7') and time >= '$(at 7451)' and time < '$(at 11051)' group by time(1m)"
	"cpu-max-all-8|SELECT max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait),max(usage_irq),max(usage_softirq),max(usage_steal),max(usage_guest),max(usage_guest_nice) from cpu where (host = 'host_1' or host = 'host_2' or host = 'host_3' or host = 'host_4' or host = 'host_5' or host = 'host_6' or host = 'host_7' or host = 'host_0') and time >= '$(at 11520)' and time < '$(at 40320)' group by time(1h)"
	"double-groupby-1|SELECT mean(usage_user) from cpu where time >= '$(at 0)' and time < '$(at 43200)' group by time(1h),host"
	"double-groupby-all|SELECT mean(usage_user),mean(usage_system),mean(usage_idle),mean(usage_nice),mean(usage_iowait),mean(usage_irq),mean(usage_softirq),mean(usage_steal),mean(usage_guest),mean(usage_guest_nice) from cpu where time >= '$(at 0)' and time < '$(at 43200)' group by time(1h),host"
	"high-cpu-1|SELECT * from cpu where usage_user > 90.0 and (host = 'host_3') and time >= '$(at 0)' and time < '$(at 43200)'"
	"high-cpu-all|SELECT * from cpu where usage_user > 90.0 and time >= '$(at 0)' and time < '$(at 43200)'"
	"lastpoint|SELECT * from cpu group by \"host\" order by time desc limit 1"
	"groupby-orderby-limit|SELECT max(usage_user) from cpu WHERE time < '$(at 27180)' group by time(1m) order by time desc limit 5"
)

# latency port query: prints RUNS wall times in ms, sorted.
latency() {
	for _ in 1 2; do # warm up
		curl -s -o /dev/null "http://127.0.0.1:$1/query" --data-urlencode "db=bench" --data-urlencode "q=$2"
	done
	for _ in $(seq "$RUNS"); do
		curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$1/query" \
			--data-urlencode "db=bench" --data-urlencode "q=$2"
	done | awk '{printf "%.3f\n", $1*1000}' | sort -n
}

pick() { # pick quantile sorted-values
	awk -v q="$1" '{v[NR]=$1} END {i=int(q*NR+0.999999); if (i<1) i=1; if (i>NR) i=NR; print v[i]}'
}

printf "%-22s %10s %10s %10s %10s %8s\n" "query (ms)" "herd p50" "influx p50" "herd p99" "influx p99" "p50 ratio"
for entry in "${queries[@]}"; do
	name=${entry%%|*}
	q=${entry#*|}
	[[ $name =~ ${ONLY:-.} ]] || continue
	h=$(latency $HERD_PORT "$q")
	i=$(latency $INFLUX_PORT "$q")
	h50=$(pick 0.5 <<<"$h")
	i50=$(pick 0.5 <<<"$i")
	h99=$(pick 0.99 <<<"$h")
	i99=$(pick 0.99 <<<"$i")
	printf "%-22s %10s %10s %10s %10s %8s\n" "$name" "$h50" "$i50" "$h99" "$i99" \
		"$(awk -v a="$h50" -v b="$i50" 'BEGIN {printf "%.2f", a/b}')"
done
