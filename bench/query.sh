#!/usr/bin/env bash
# bench/query.sh: query latency per query type, herd beside InfluxDB 1.x
# and VictoriaMetrics, all three loaded with the same data (herd bench
# write) and asked the same questions over HTTP on loopback: herd and
# InfluxDB the same InfluxQL through /query, VictoriaMetrics the
# equivalent PromQL/MetricsQL through /api/v1/query_range. Prints median
# and p99 per type, herd/InfluxDB and herd/VictoriaMetrics ratios of the
# medians and whether the targets (herd ≤ 0.5× InfluxDB, ≤ 1× VM) are met;
# writes the same tables to bench/results/query-latest.md.
#
#   bench/query.sh            # 10 hosts, 24 h at 10 s, 30 runs per query
#   HOSTS=50 RUNS=100 bench/query.sh
#   ONLY=lastpoint bench/query.sh   # the query types matching a regex
#   HERD_BIN=/path/to/herd bench/query.sh   # a built binary
#   BENCH_QUERY_SYSTEMS="herd influxdb" bench/query.sh   # a subset
#
# Other settings: BENCH_VM_CACHE=1 keeps VictoriaMetrics' response cache
# (off by default: herd and InfluxDB compute every answer, and the same
# query is repeated RUNS times); BENCH_QUERY_RESULTS (the markdown file);
# BENCH_READY_TIMEOUT (60 s: start), BENCH_LOAD_TIMEOUT (600 s: data
# queryable and VictoriaMetrics' merges done after the load).
#
# Needs curl, jq, influxd (Debian package influxdb) and victoria-metrics
# (Debian package victoria-metrics). Ports: the first free ones from 28761
# up (herd, InfluxDB HTTP, InfluxDB RPC, VictoriaMetrics), checked free
# before use. Every process started here is killed by pid on exit.
#
# The PromQL equivalents (see bench/README.md for the caveats):
#  - a GROUP BY time(d) bucket [b, b+d) is a query_range step d evaluated
#    at b+d over the window [d], i.e. (b, b+d]: the same number of buckets
#    and of samples per bucket, shifted by one sample (10 s); buckets are
#    epoch-aligned in both, and the partial first and last buckets of an
#    InfluxQL range that does not start or end on a bucket edge are whole
#    windows in PromQL;
#  - max/mean over all series of a host (every cpu tag) is
#    max/avg(max/avg_over_time(...)) by (__name__[, host]); avg of the
#    per-series averages equals the mean of the samples because every
#    series has a sample at every timestamp;
#  - high-cpu (SELECT * ... WHERE usage_user > 80): every cpu_* series of
#    the host and cpu whose usage_user is above 80 at that timestamp,
#    `{__name__=~"cpu_.*"} and on(host,cpu) (cpu_usage_user > 80)`, step 10 s
#    (the data interval) so that every sample is one evaluation;
#  - lastpoint (no time condition): last_over_time over a window reaching
#    back past the oldest sample, one query_range step at the start of the
#    run. VictoriaMetrics answers each series' last value (every cpu core
#    and field), InfluxQL one row per host: its answer is larger;
#  - groupby-orderby-limit (the last 5 one-minute buckets before a time,
#    no lower bound): PromQL has no ORDER BY/LIMIT, so VictoriaMetrics is
#    given the 5 minutes explicitly (5 steps of 1 m ending at that time),
#    while InfluxQL has to find them.
set -euo pipefail
cd "$(dirname "$0")/.."

HOSTS=${HOSTS:-10}
RUNS=${RUNS:-30}
SYSTEMS=${BENCH_QUERY_SYSTEMS:-herd influxdb victoriametrics}
VM_CACHE=${BENCH_VM_CACHE:-0}
RESULTS=${BENCH_QUERY_RESULTS:-bench/results/query-latest.md}
READY_TIMEOUT=${BENCH_READY_TIMEOUT:-60}
LOAD_TIMEOUT=${BENCH_LOAD_TIMEOUT:-600}
DB=bench

say() { printf '%s query: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

has() { [[ " $SYSTEMS " == *" $1 "* ]]; }
for s in $SYSTEMS; do
	case $s in herd | influxdb | victoriametrics) ;; *) die "unknown system $s (herd, influxdb, victoriametrics)" ;; esac
done
for c in curl jq; do
	command -v "$c" >/dev/null 2>&1 || die "$c missing (Debian package $c)"
done
if has influxdb; then command -v influxd >/dev/null 2>&1 || die "influxd missing (Debian package influxdb)"; fi
if has victoriametrics; then command -v victoria-metrics >/dev/null 2>&1 || die "victoria-metrics missing (Debian package victoria-metrics)"; fi

# The data covers the last 24 hours (from a whole hour), so that, as in
# production, the latest data is recent; query times are offsets from it.
NOW=$(date +%s)
START_S=$((NOW / 3600 * 3600 - 86400))
at() { date -u -d "@$((START_S + $1))" +%Y-%m-%dT%H:%M:%SZ; }
ms() { echo "$(((START_S + $1) * 1000))ms"; }
START=$(at 0)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

work=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The tree when the run starts (others may commit while it runs).
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git status --porcelain -- internal cmd 2>/dev/null) ]] && commit+=" (internal/ or cmd/ modified)"
if [[ -n ${HERD_BIN:-} ]]; then
	cp "$HERD_BIN" "$work/herd"
else
	# Stamped as `make build` stamps it, so that the report names the commit.
	bi=github.com/herdmon/herd/internal/buildinfo
	go build -ldflags "-s -w -X $bi.Version=$(git describe --tags --always --dirty 2>/dev/null || echo dev) -X $bi.Commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
		-o "$work/herd" ./cmd/herd
fi

# port_from P: the first port from P up that nothing listens on.
port_from() {
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	echo "$p"
}
HERD_PORT=$(port_from 28761)
INFLUX_PORT=$(port_from $((HERD_PORT + 1)))
INFLUX_RPC_PORT=$(port_from $((INFLUX_PORT + 1)))
VM_PORT=$(port_from $((INFLUX_RPC_PORT + 1)))
declare -A URL=(
	[herd]=http://127.0.0.1:$HERD_PORT
	[influxdb]=http://127.0.0.1:$INFLUX_PORT
	[victoriametrics]=http://127.0.0.1:$VM_PORT
)
declare -A PID

if has herd; then
	"$work/herd" server --data-dir "$work/herd-data" --http-addr "127.0.0.1:$HERD_PORT" --no-local-agent \
		>"$work/herd.log" 2>&1 &
	PID[herd]=$!
	pids+=($!)
fi

if has influxdb; then
	cat >"$work/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$INFLUX_RPC_PORT"
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
	influxd -config "$work/influxdb.conf" >"$work/influxdb.log" 2>&1 &
	PID[influxdb]=$!
	pids+=($!)
fi

if has victoriametrics; then
	# A long retention: VictoriaMetrics drops samples older than it (one
	# month by default). The response cache is off unless BENCH_VM_CACHE=1.
	vm_flags=(-storageDataPath "$work/vm-data" -httpListenAddr "127.0.0.1:$VM_PORT" -retentionPeriod 100y)
	[[ $VM_CACHE == 1 ]] || vm_flags+=(-search.disableCache)
	victoria-metrics "${vm_flags[@]}" >"$work/victoriametrics.log" 2>&1 &
	PID[victoriametrics]=$!
	pids+=($!)
fi

ready() {
	case $1 in
	victoriametrics) [[ $(curl -s -m 5 "${URL[$1]}/health") == OK ]] ;;
	*) [[ $(curl -s -m 5 -o /dev/null -w '%{http_code}' "${URL[$1]}/ping") == 204 ]] ;;
	esac
}
for s in $SYSTEMS; do
	deadline=$((SECONDS + READY_TIMEOUT))
	until ready "$s"; do
		kill -0 "${PID[$s]}" 2>/dev/null || die "$s exited at start: $(tail -c 400 "$work/$s.log")"
		((SECONDS < deadline)) || die "$s not ready after ${READY_TIMEOUT}s"
		sleep 0.1
	done
done

# Load: the same generator, seed and time span for everyone. VictoriaMetrics
# takes the line protocol on its /write (and answers CREATE DATABASE on
# /query), naming each field <measurement>_<field> (cpu_usage_user) with
# the tags as labels (and db="bench").
for s in $SYSTEMS; do
	say "$s: loading $HOSTS hosts × 24 h"
	"$work/herd" bench write --url "${URL[$s]}" --db "$DB" --hosts "$HOSTS" \
		--start "$START" --duration 24h --seed 1 --quiet >"$work/$s.load" 2>"$work/$s.load.err" ||
		die "$s: loading failed: $(tail -c 400 "$work/$s.load.err")"
done
read -r first _ <<<"$SYSTEMS"
read -r POINTS VALUES CPU_POINTS < <(tail -1 "$work/$first.load" | jq -r '"\(.points) \(.values) \(.per_measurement.cpu)"')

# cpu_count SYSTEM: the number of cpu points it answers for (usage_idle).
cpu_count() {
	case $1 in
	victoriametrics)
		curl -s -m 60 "${URL[$1]}/api/v1/query" \
			--data-urlencode "query=sum(count_over_time(cpu_usage_idle[25h]))" \
			--data-urlencode "time=$((START_S + 86400 + 60))" |
			jq -r '.data.result[0].value[1] // "none"' 2>/dev/null || echo none
		;;
	*)
		curl -s -m 60 "${URL[$1]}/query" --data-urlencode "db=$DB" \
			--data-urlencode "q=SELECT count(usage_idle) FROM cpu" |
			jq -r '.results[0].series[0].values[0][1] // "none"' 2>/dev/null || echo none
		;;
	esac
}
# Wait until each system answers for every cpu point sent (VictoriaMetrics
# after /internal/force_flush makes its buffered rows searchable), then
# until VictoriaMetrics' background merges of the load are done, so they
# do not run during the measurement. Bounded by LOAD_TIMEOUT.
for s in $SYSTEMS; do
	deadline=$((SECONDS + LOAD_TIMEOUT))
	while :; do
		[[ $s == victoriametrics ]] && { curl -sf -m 60 "${URL[$s]}/internal/force_flush" >/dev/null || true; }
		n=$(cpu_count "$s")
		[[ $n == "$CPU_POINTS" ]] && break
		((SECONDS < deadline)) || die "$s answers $n cpu points, not $CPU_POINTS, after ${LOAD_TIMEOUT}s"
		sleep 0.5
	done
	say "$s: holds all $n cpu points"
done
if has victoriametrics; then
	deadline=$((SECONDS + LOAD_TIMEOUT))
	while :; do
		m=$(curl -s -m 10 "${URL[victoriametrics]}/metrics" | awk '/^vm_active_merges[{ ]/ {s += $NF} END {print s + 0}')
		((m == 0)) && break
		if ((SECONDS >= deadline)); then
			say "victoriametrics: $m merges still active after ${LOAD_TIMEOUT}s; measuring anyway"
			break
		fi
		sleep 0.5
	done
fi

# ---------------------------------------------------------------- queries
# def NAME INFLUXQL PROMQL START END STEP: one query type. START, END
# (absolute seconds) and STEP are VictoriaMetrics' query_range arguments.
NAMES=()
declare -A IQL PQL PSTART PEND PSTEP
def() {
	NAMES+=("$1")
	IQL[$1]=$2 PQL[$1]=$3 PSTART[$1]=$4 PEND[$1]=$5 PSTEP[$1]=$6
}
# buckets T0 T1 STEP: the query_range START END STEP whose points are the
# ends of InfluxQL's GROUP BY time(STEP) buckets for time >= T0 and
# time < T1 (offsets in seconds; buckets are aligned to the epoch, and
# START_S is a whole hour).
buckets() {
	local first=$(($1 / $3 * $3)) last=$((($2 - 1) / $3 * $3))
	echo "$((START_S + first + $3)) $((START_S + last + $3)) $3"
}

F5='usage_user|usage_system|usage_idle|usage_nice|usage_iowait'
F10='usage_user|usage_system|usage_idle|usage_nice|usage_iowait|usage_irq|usage_softirq|usage_steal|usage_guest|usage_guest_nice'
# high-cpu's usage_user threshold: TSBS's 90 selects nothing here (this
# data's per-core usage_user stays at or below 85 %); 80 selects ~5 % of rows.
HIGH=80

# The Grafana panel query (the last 6 hours, time <= end: T1 = end + 1 s)
# and the TSBS devops query types (host tag as Telegraf names it).
# shellcheck disable=SC2046 # buckets prints three words on purpose
{
	def grafana-panel \
		"SELECT mean(\"usage_idle\") FROM \"autogen\".\"cpu\" WHERE (\"host\" =~ /^host_1\$/) AND time >= $(ms 64800) and time <= $(ms 86399) GROUP BY time(1m), \"host\" fill(null)" \
		'avg(avg_over_time(cpu_usage_idle{host=~"^host_1$"}[1m])) by (host)' \
		$(buckets 64800 86400 60)
	def single-groupby-1-1-1 \
		"SELECT max(usage_user) from cpu where (host = 'host_7') and time >= '$(at 19057)' and time < '$(at 22657)' group by time(1m)" \
		'max(max_over_time({__name__=~"cpu_(usage_user)",host=~"host_7"}[1m])) by (__name__)' \
		$(buckets 19057 22657 60)
	def single-groupby-5-8-1 \
		"SELECT max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait) from cpu where (host = 'host_1' or host = 'host_5' or host = 'host_0' or host = 'host_2' or host = 'host_6' or host = 'host_4' or host = 'host_3' or host = 'host_7') and time >= '$(at 7451)' and time < '$(at 11051)' group by time(1m)" \
		"max(max_over_time({__name__=~\"cpu_($F5)\",host=~\"host_1|host_5|host_0|host_2|host_6|host_4|host_3|host_7\"}[1m])) by (__name__)" \
		$(buckets 7451 11051 60)
	def cpu-max-all-8 \
		"SELECT max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait),max(usage_irq),max(usage_softirq),max(usage_steal),max(usage_guest),max(usage_guest_nice) from cpu where (host = 'host_1' or host = 'host_2' or host = 'host_3' or host = 'host_4' or host = 'host_5' or host = 'host_6' or host = 'host_7' or host = 'host_0') and time >= '$(at 11520)' and time < '$(at 40320)' group by time(1h)" \
		"max(max_over_time({__name__=~\"cpu_($F10)\",host=~\"host_1|host_2|host_3|host_4|host_5|host_6|host_7|host_0\"}[1h])) by (__name__)" \
		$(buckets 11520 40320 3600)
	def double-groupby-1 \
		"SELECT mean(usage_user) from cpu where time >= '$(at 0)' and time < '$(at 43200)' group by time(1h),host" \
		'avg(avg_over_time({__name__=~"cpu_(usage_user)"}[1h])) by (__name__, host)' \
		$(buckets 0 43200 3600)
	def double-groupby-all \
		"SELECT mean(usage_user),mean(usage_system),mean(usage_idle),mean(usage_nice),mean(usage_iowait),mean(usage_irq),mean(usage_softirq),mean(usage_steal),mean(usage_guest),mean(usage_guest_nice) from cpu where time >= '$(at 0)' and time < '$(at 43200)' group by time(1h),host" \
		"avg(avg_over_time({__name__=~\"cpu_($F10)\"}[1h])) by (__name__, host)" \
		$(buckets 0 43200 3600)
	# Raw rows: one evaluation per sample (step = the data interval, from
	# the first sample to the last before the end).
	def high-cpu-1 \
		"SELECT * from cpu where usage_user > $HIGH.0 and (host = 'host_3') and time >= '$(at 0)' and time < '$(at 43200)'" \
		"{__name__=~\"cpu_.*\",host=\"host_3\"} and on(host,cpu) (cpu_usage_user{host=\"host_3\"} > $HIGH)" \
		"$START_S" $((START_S + 43190)) 10
	def high-cpu-all \
		"SELECT * from cpu where usage_user > $HIGH.0 and time >= '$(at 0)' and time < '$(at 43200)'" \
		"{__name__=~\"cpu_.*\"} and on(host,cpu) (cpu_usage_user > $HIGH)" \
		"$START_S" $((START_S + 43190)) 10
	# No time condition in InfluxQL: a window back past the first sample,
	# one step at the time the run started.
	def lastpoint \
		'SELECT * from cpu group by "host" order by time desc limit 1' \
		"last_over_time({__name__=~\"cpu_.*\"}[$((NOW - START_S + 3600))s])" \
		"$NOW" "$NOW" 60
	# The last 5 one-minute buckets before 07:33 (relative): InfluxQL finds
	# them, VictoriaMetrics is told the 5 minutes.
	def groupby-orderby-limit \
		"SELECT max(usage_user) from cpu WHERE time < '$(at 27180)' group by time(1m) order by time desc limit 5" \
		'max(max_over_time({__name__=~"cpu_(usage_user)"}[1m])) by (__name__)' \
		$((START_S + 27180 - 240)) $((START_S + 27180)) 60
}

SEL=()
for name in "${NAMES[@]}"; do
	[[ $name =~ ${ONLY:-.} ]] && SEL+=("$name")
done
((${#SEL[@]})) || die "no query type matches ONLY=$ONLY"

# ask SYSTEM NAME OUT: one request; prints curl's time_total in ms, the
# answer goes to OUT. Dies unless the answer is HTTP 200.
ask() {
	local s=$1 n=$2 out=$3 r
	if [[ $s == victoriametrics ]]; then
		r=$(curl -s -m 300 -o "$out" -w '%{http_code} %{time_total}' "${URL[$s]}/api/v1/query_range" \
			--data-urlencode "query=${PQL[$n]}" --data-urlencode "start=${PSTART[$n]}" \
			--data-urlencode "end=${PEND[$n]}" --data-urlencode "step=${PSTEP[$n]}") || true
	else
		r=$(curl -s -m 300 -o "$out" -w '%{http_code} %{time_total}' "${URL[$s]}/query" \
			--data-urlencode "db=$DB" --data-urlencode "q=${IQL[$n]}") || true
	fi
	[[ ${r%% *} == 200 ]] || die "$s $n: HTTP ${r%% *}: $(head -c 400 "$out" 2>/dev/null)"
	awk -v t="${r#* }" 'BEGIN {printf "%.3f\n", t * 1000}'
}

# size SYSTEM FILE: "series values error" of an answer; values are the
# numbers in it (InfluxQL: non-null numeric cells besides time;
# PromQL: points of the matrix).
size() {
	if [[ $1 == victoriametrics ]]; then
		jq -r '"\(.data.result // [] | length) \([(.data.result // [])[] | .values[]?] | length) \(.error // "")"' "$2"
	else
		jq -r '[.error // empty, ((.results // [])[] | .error // empty)][0] as $e
			| [(.results // [])[] | (.series // [])[]] as $s
			| "\($s | length) \([$s[] | .values[]? | .[1:][] | numbers] | length) \($e // "")"' "$2"
	fi
}

# Sanity check: one answer per type and system, its size printed;
# VictoriaMetrics' must not be empty and should be as large as herd's
# (lastpoint excepted: every series' last value, not one row per host).
declare -A SERIES NVALUES CHECK
say "answers (series, values) per type:"
for n in "${SEL[@]}"; do
	line=""
	for s in $SYSTEMS; do
		ask "$s" "$n" "$work/answer.json" >/dev/null
		read -r ser val err < <(size "$s" "$work/answer.json")
		SERIES[$s,$n]=$ser NVALUES[$s,$n]=$val
		[[ -n $err ]] && say "$s $n: error in the answer: $err"
		line+=" $s $ser/$val"
	done
	say "  $n:$line"
	if has victoriametrics; then
		((${NVALUES[victoriametrics,$n]} > 0)) || die "victoriametrics $n: empty answer to ${PQL[$n]}"
	fi
	check=""
	if has herd && has victoriametrics; then
		h=${NVALUES[herd,$n]} v=${NVALUES[victoriametrics,$n]}
		if ((h == v)); then
			check="same size"
		elif [[ $n == lastpoint ]]; then
			check="VM per series, InfluxQL per host (expected)"
		else
			check="SIZES DIFFER"
			say "$n: herd answers $h values, VictoriaMetrics $v"
		fi
	fi
	CHECK[$n]=$check
done

# ---------------------------------------------------------------- latency
# Two warm-up requests each, then RUNS rounds in which every system answers
# once in turn, so that a busy moment of the (shared) machine hits all.
say "measuring: ${#SEL[@]} types × $RUNS runs × ($SYSTEMS)"
declare -A P50 P99
pick() { # pick QUANTILE < sorted values
	awk -v q="$1" '{v[NR] = $1} END {i = int(q * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; print v[i]}'
}
for n in "${SEL[@]}"; do
	for s in $SYSTEMS; do
		: >"$work/t.$s"
		ask "$s" "$n" /dev/null >/dev/null
		ask "$s" "$n" /dev/null >/dev/null
	done
	for _ in $(seq "$RUNS"); do
		for s in $SYSTEMS; do
			ask "$s" "$n" /dev/null >>"$work/t.$s"
		done
	done
	for s in $SYSTEMS; do
		sort -n "$work/t.$s" -o "$work/t.$s"
		P50[$s,$n]=$(pick 0.5 <"$work/t.$s")
		P99[$s,$n]=$(pick 0.99 <"$work/t.$s")
	done
	say "  $n done"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a"}'; }
met() { awk -v a="$1" -v b="$2" -v k="$3" 'BEGIN {if (a > 0 && b > 0) print (a <= k * b ? "yes" : "no"); else print "n/a"}'; }
val() { local v=${P50[$1,$2]:-}; [[ $3 == 99 ]] && v=${P99[$1,$2]:-}; echo "${v:--}"; }
version_of() {
	case $1 in
	herd) "$work/herd" version 2>/dev/null | head -1 ;;
	influxdb) dpkg-query -W -f='${Version}' influxdb 2>/dev/null || influxd version 2>/dev/null | head -1 ;;
	victoriametrics) dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null || echo unknown ;;
	esac
}

report() {
	local n s
	echo "# Query latency: herd, InfluxDB 1.x and VictoriaMetrics"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $LOAD_BEFORE before and $LOAD_AFTER after."
	echo "Tree at $commit when the run started; herd binary: $(version_of herd)."
	has influxdb && echo "InfluxDB: Debian influxdb $(version_of influxdb) (InfluxQL on /query)."
	has victoriametrics && echo "VictoriaMetrics: Debian victoria-metrics $(version_of victoriametrics) (PromQL/MetricsQL on /api/v1/query_range, response cache $([[ $VM_CACHE == 1 ]] && echo on || echo 'off: -search.disableCache'))."
	echo "Data: $HOSTS hosts × 24 h every 10 s (\`herd bench write --seed 1\`): $POINTS points, $VALUES values, $CPU_POINTS cpu points."
	echo "$RUNS timed runs per type and system after 2 warm-up requests, the systems in turn in each round; curl's time_total in ms."
	echo "p99 of $RUNS runs is the $(awk -v r="$RUNS" 'BEGIN {i = int(0.99 * r + 0.999999); print (i >= r ? "slowest run" : i "th fastest")}')."
	[[ -n ${ONLY:-} ]] && echo "Only the types matching \`$ONLY\`."
	echo
	echo "Targets: herd's median ≤ 0.5× InfluxDB's and ≤ 1× VictoriaMetrics'."
	echo
	echo "| query | herd p50 | InfluxDB p50 | VM p50 | herd p99 | InfluxDB p99 | VM p99 | herd/InfluxDB p50 | herd/VM p50 | ≤ 0.5× InfluxDB | ≤ 1× VM |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
	local met_i=0 met_v=0
	for n in "${SEL[@]}"; do
		local hi hv
		hi=$(met "$(val herd "$n" 50)" "$(val influxdb "$n" 50)" 0.5)
		hv=$(met "$(val herd "$n" 50)" "$(val victoriametrics "$n" 50)" 1)
		[[ $hi == yes ]] && met_i=$((met_i + 1))
		[[ $hv == yes ]] && met_v=$((met_v + 1))
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" \
			"$(val herd "$n" 50)" "$(val influxdb "$n" 50)" "$(val victoriametrics "$n" 50)" \
			"$(val herd "$n" 99)" "$(val influxdb "$n" 99)" "$(val victoriametrics "$n" 99)" \
			"$(ratio "$(val herd "$n" 50)" "$(val influxdb "$n" 50)")" \
			"$(ratio "$(val herd "$n" 50)" "$(val victoriametrics "$n" 50)")" "$hi" "$hv"
	done
	echo
	echo "Targets met: $met_i of ${#SEL[@]} types ≤ 0.5× InfluxDB, $met_v of ${#SEL[@]} ≤ 1× VictoriaMetrics"
	echo "(the verdicts compare the unrounded medians: a ratio shown as 0.50 may be just above 0.5)."
	echo
	echo "Answer sizes (series / numeric values), checked before timing:"
	echo
	echo "| query | herd | InfluxDB | VM | herd vs VM |"
	echo "|---|---:|---:|---:|---|"
	for n in "${SEL[@]}"; do
		local cells=()
		for s in herd influxdb victoriametrics; do
			if has "$s"; then cells+=("${SERIES[$s,$n]} / ${NVALUES[$s,$n]}"); else cells+=(-); fi
		done
		printf '| %s | %s | %s | %s | %s |\n' "$n" "${cells[@]}" "${CHECK[$n]:--}"
	done
	if has victoriametrics; then
		echo
		echo "PromQL sent to VictoriaMetrics (start and end relative to the data's first sample at $(at 0)):"
		echo
		echo "| query | PromQL | start | end | step |"
		echo "|---|---|---|---|---|"
		for n in "${SEL[@]}"; do
			printf '| %s | `%s` | +%ss | +%ss | %ss |\n' "$n" "${PQL[$n]//|/\\|}" \
				$((${PSTART[$n]} - START_S)) $((${PEND[$n]} - START_S)) "${PSTEP[$n]}"
		done
	fi
}

mkdir -p "$(dirname "$RESULTS")"
report | tee "$RESULTS"
say "written to $RESULTS"
