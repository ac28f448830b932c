#!/usr/bin/env bash
# bench/peers.sh — load the same data, with the same client and settings,
# into herd, InfluxDB 1.x and VictoriaMetrics one after another on
# loopback, and compare ingestion rate, peak RSS, disk bytes per value
# after flush and bytes written to disk per value (SD-card wear).
#
# Usage: bash bench/peers.sh            (as root: installs Debian packages)
# Settings (environment):
#   BENCH_HOSTS=100 BENCH_DURATION=24h  data set: hosts × time span, 10 s interval
#   BENCH_SEED=1 BENCH_WORKERS=2 BENCH_BATCH=5000 BENCH_GZIP=0
#   BENCH_SYSTEMS="herd influxdb victoriametrics"
#   BENCH_QUERY=1 (default)   then bench/query.sh: query latency per TSBS devops
#                             query type, herd vs InfluxDB (InfluxQL) and
#                             VictoriaMetrics (PromQL), BENCH_QUERY_HOSTS=10
#                             hosts × 24 h, BENCH_QUERY_RUNS=30 runs per query
#   BENCH_AGENTS=1 (default)  then bench/agents.sh: herd agent vs node_exporter
#                             (and Telegraf with BENCH_TELEGRAF=1), RSS and CPU,
#                             for BENCH_AGENTS_DURATION=120 seconds, written to
#                             BENCH_AGENTS_RESULTS=bench/results/agents-latest.md
#   BENCH_TMPDIR=/var/tmp   must be a real disk: tmpfs counts no write_bytes
#   BENCH_HERD_BIN=         use this herd binary instead of `make build`'s bin/herd
#   BENCH_RESULTS=bench/results/peers-latest.md
#   BENCH_KEEP=0            1 keeps the temp dir (data, logs) for inspection
#   BENCH_READY_TIMEOUT=60 BENCH_SEND_TIMEOUT=7200 BENCH_FLUSH_TIMEOUT=900
#   BENCH_STOP_TIMEOUT=120 BENCH_STABLE_SECS=10 (seconds, every wait is bounded)
set -euo pipefail

HOSTS=${BENCH_HOSTS:-100}
DURATION=${BENCH_DURATION:-24h}
SEED=${BENCH_SEED:-1}
WORKERS=${BENCH_WORKERS:-2}
BATCH=${BENCH_BATCH:-5000}
GZIP=${BENCH_GZIP:-0}
SYSTEMS=${BENCH_SYSTEMS:-herd influxdb victoriametrics}
TMPBASE=${BENCH_TMPDIR:-/var/tmp}
KEEP=${BENCH_KEEP:-0}
READY_TIMEOUT=${BENCH_READY_TIMEOUT:-60}
SEND_TIMEOUT=${BENCH_SEND_TIMEOUT:-7200}
FLUSH_TIMEOUT=${BENCH_FLUSH_TIMEOUT:-900}
STOP_TIMEOUT=${BENCH_STOP_TIMEOUT:-120}
STABLE_SECS=${BENCH_STABLE_SECS:-10}
DB=benchmark

cd "$(dirname "$0")/.."
ROOT=$PWD
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results/peers-latest.md}

log() { printf '%s peers: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup
PIDS=()      # every process this script started, killed by id on exit
WORK=""
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ -n $WORK && -d $WORK ]]; then
		if [[ $KEEP == 1 ]]; then
			log "kept $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- setup
want_pkg() { # want_pkg COMMAND PACKAGE: print PACKAGE when COMMAND is missing
	command -v "$1" >/dev/null 2>&1 || echo "$2"
}
install_packages() {
	local missing=() s
	for s in $SYSTEMS; do
		case $s in
		influxdb) missing+=($(want_pkg influxd influxdb)) ;;
		victoriametrics) missing+=($(want_pkg victoria-metrics victoria-metrics)) ;;
		esac
	done
	if [[ ${BENCH_QUERY:-1} == 1 ]]; then # bench/query.sh runs all three
		missing+=($(want_pkg influxd influxdb) $(want_pkg victoria-metrics victoria-metrics) $(want_pkg jq jq))
	fi
	[[ -x /usr/bin/time ]] || missing+=(time)
	command -v curl >/dev/null 2>&1 || missing+=(curl)
	((${#missing[@]} == 0)) && return 0
	[[ $(id -u) == 0 ]] || die "missing Debian packages ${missing[*]}: run as root, or install them first"
	log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# free_port BASE: the first port from BASE up that nothing listens on.
free_port() {
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do
		p=$((p + 1))
	done
	echo "$p"
}

# dir_bytes DIR: bytes allocated on disk (not apparent sizes: InfluxDB
# preallocates sparse series files that take no room until used). herd's
# disk-reserve file is a fixed emergency reserve (fallocated, never
# written), not data: left out.
dir_bytes() { du -s -B1 --exclude=disk-reserve "$1" 2>/dev/null | cut -f1; }

# child_of PID: the first child process of PID, if any.
child_of() {
	local c=""
	if command -v pgrep >/dev/null 2>&1; then
		c=$(pgrep -P "$1" | head -1) || true
	else
		c=$(cut -d' ' -f1 "/proc/$1/task/$1/children" 2>/dev/null) || true
	fi
	echo "$c"
}

# json_num KEY < json: the number after "KEY": in a one-line JSON object.
json_num() { sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p" | head -1; }

# ---------------------------------------------------------------- systems
# Each system defines cmd_X DIR PORT (sets CMD to its command line),
# ready_X URL, flush_X DIR URL and count_X URL (prints the number of cpu
# points it holds, or "skip: reason").

cmd_herd() { CMD=("$HERD" server --data-dir "$1/data" --http-addr "127.0.0.1:$2" --no-local-agent); }
ready_herd() { [[ $(curl -s -o /dev/null -w '%{http_code}' "$1/ping") == 204 ]]; }
flush_herd() { :; } # herd flushes its head on graceful stop (SIGTERM)
count_herd() { count_influxql "$1"; }

cmd_influxdb() {
	local dir=$1 port=$2 rpc
	rpc=$(free_port $((port + 1)))
	# Cold durations are short so that InfluxDB snapshots its cache to TSM
	# files and fully compacts them soon after the load ends (defaults 10m
	# and 4h): "after flush" then means the same for every system.
	cat >"$dir/influxdb.conf" <<EOF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$dir/data/meta"
  logging-enabled = false
[data]
  dir = "$dir/data/data"
  wal-dir = "$dir/data/wal"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "5s"
  compact-full-write-cold-duration = "30s"
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
[http]
  bind-address = "127.0.0.1:$port"
  log-enabled = false
  pprof-enabled = false
EOF
	CMD=(influxd -config "$dir/influxdb.conf")
}
ready_influxdb() { [[ $(curl -s -o /dev/null -w '%{http_code}' "$1/ping") == 204 ]]; }
# flush_influxdb: wait until the WAL has been snapshotted into TSM files,
# then until every shard is fully compacted (one TSM file, no compaction
# in progress), the state InfluxDB settles in when writes stop.
flush_influxdb() {
	local dir=$1 deadline=$((SECONDS + FLUSH_TIMEOUT)) wal shards
	while :; do
		wal=$(find "$dir/data/wal" -name '*.wal' -printf '%s\n' 2>/dev/null | awk '{s+=$1} END {print s+0}')
		((wal < 65536)) && break
		if ((SECONDS >= deadline)); then
			log "influxdb: WAL still holds $wal bytes after ${FLUSH_TIMEOUT}s"
			return 1
		fi
		sleep 1
	done
	while :; do
		# Shards with more than one TSM file, or a compaction's .tmp file.
		shards=$(find "$dir/data/data/$DB" -mindepth 2 -maxdepth 2 -type d -exec sh -c \
			'n=$(ls "$1" | grep -c "\.tsm$"); t=$(ls "$1" | grep -c "\.tmp$"); [ "$n" -gt 1 ] || [ "$t" -gt 0 ] && echo "$1"' _ {} \; | wc -l)
		((shards == 0)) && return 0
		if ((SECONDS >= deadline)); then
			log "influxdb: $shards shards not fully compacted after ${FLUSH_TIMEOUT}s"
			return 1
		fi
		sleep 1
	done
}
count_influxdb() { count_influxql "$1"; }

count_influxql() {
	local out n
	out=$(curl -s -m 120 "$1/query" --data-urlencode "db=$DB" --data-urlencode 'q=SELECT count(usage_idle) FROM cpu') || true
	n=$(sed -n 's/.*"values":\[\["[^"]*",\([0-9]*\)\]\].*/\1/p' <<<"$out")
	if [[ -n $n ]]; then
		echo "$n"
	else
		echo "skip: query answered: ${out:0:160}"
	fi
}

cmd_victoriametrics() {
	# A long retention: VictoriaMetrics silently drops samples older than
	# it (one month by default).
	CMD=(victoria-metrics -storageDataPath "$1/data" -httpListenAddr "127.0.0.1:$2" -retentionPeriod 100y)
}
ready_victoriametrics() { [[ $(curl -s "$1/health") == OK ]]; }
flush_victoriametrics() { curl -sf -m 60 "$2/internal/force_flush" >/dev/null; }
count_victoriametrics() {
	local out n span
	span=$(((END_NS - START_NS) / 1000000000 / 3600 + 2))
	out=$(curl -s -m 120 "$1/api/v1/query" --data-urlencode "query=sum(count_over_time(cpu_usage_idle[${span}h]))" \
		--data-urlencode "time=$((END_NS / 1000000000 + 60))") || true
	n=$(sed -n 's/.*"value":\[[^,]*,"\([0-9]*\)"\].*/\1/p' <<<"$out")
	if [[ -n $n ]]; then echo "$n"; else echo "skip: query answered: ${out:0:160}"; fi
}

# wait_stable DIR: until DIR's size has not changed for STABLE_SECS
# (background merges and compactions done), bounded by FLUSH_TIMEOUT.
wait_stable() {
	local dir=$1 deadline=$((SECONDS + FLUSH_TIMEOUT)) last=-1 since=$SECONDS cur
	while ((SECONDS < deadline)); do
		cur=$(dir_bytes "$dir")
		if [[ $cur != "$last" ]]; then
			last=$cur since=$SECONDS
		elif ((SECONDS - since >= STABLE_SECS)); then
			return 0
		fi
		sleep 1
	done
	log "$dir still changing after ${FLUSH_TIMEOUT}s; measuring anyway"
}

# sample PID OUT: record VmHWM (kB) and write_bytes every half second
# until PID exits; the last line is the latest.
sample() {
	local pid=$1 out=$2 hwm wb
	while [[ -r /proc/$pid/status ]]; do
		hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || break
		wb=$(awk '/^write_bytes:/ {print $2}' "/proc/$pid/io" 2>/dev/null) || break
		[[ -n $hwm && -n $wb ]] && echo "$hwm $wb" >>"$out"
		sleep 0.5
	done
}

# stop_pid PID: SIGTERM, then SIGKILL after STOP_TIMEOUT.
stop_pid() {
	local pid=$1 deadline=$((SECONDS + STOP_TIMEOUT))
	kill -TERM "$pid" 2>/dev/null || return 0
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			log "pid $pid did not stop in ${STOP_TIMEOUT}s: killing it"
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.2
	done
}

# run_system NAME: one full leg. Results go to $WORK/NAME/result as
# shell assignments; a failure is recorded there, never fatal.
run_system() {
	local name=$1 dir="$WORK/$1" port url wrapper="" pid="" deadline status=ok note="" load_start=? load_end=?
	mkdir -p "$dir/data"
	port=$(free_port "$2")
	url="http://127.0.0.1:$port"
	log "$name: starting on $url"

	# GNU time reports the server's peak RSS and block writes at its exit
	# (ru_maxrss, ru_oublock = write_bytes/512), so a flush at shutdown is
	# counted too; /proc sampling covers the run where time is missing.
	local CMD=()
	cmd_"$name" "$dir" "$port"
	if [[ -x /usr/bin/time ]]; then
		/usr/bin/time -f '%M %O' -o "$dir/rusage" "${CMD[@]}" >"$dir/server.log" 2>&1 &
		wrapper=$!
		PIDS+=("$wrapper")
		deadline=$((SECONDS + READY_TIMEOUT))
		while [[ -z $pid ]] && ((SECONDS < deadline)) && kill -0 "$wrapper" 2>/dev/null; do
			pid=$(child_of "$wrapper")
			[[ -n $pid ]] || sleep 0.05
		done
		[[ -n $pid ]] && PIDS+=("$pid")
		[[ -n $pid ]] || pid=$wrapper # it exited at once; the ready loop reports it
	else
		"${CMD[@]}" >"$dir/server.log" 2>&1 &
		wrapper=$!
		pid=$wrapper
		PIDS+=("$pid")
	fi

	deadline=$((SECONDS + READY_TIMEOUT))
	until ready_"$name" "$url"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			status=failed note="exited at start: $(tail -c 300 "$dir/server.log" | tr '\n' ' ')"
			break
		fi
		if ((SECONDS >= deadline)); then
			status=failed note="not ready after ${READY_TIMEOUT}s"
			break
		fi
		sleep 0.2
	done

	local sampler=""
	if [[ $status == ok ]]; then
		sample "$pid" "$dir/samples" &
		sampler=$!
		PIDS+=("$sampler")
		log "$name: ready; sending $DATA_POINTS points ($DATA_VALUES values)"
		local gz=()
		[[ $GZIP == 1 ]] && gz=(--gzip)
		load_start=$(cut -d' ' -f1 /proc/loadavg)
		# In the background so that a signal to this script is handled
		# at once (bash runs traps only between foreground commands).
		timeout "$SEND_TIMEOUT" "$HERD" bench send --file "$DATA" --url "$url" --db "$DB" \
			--workers "$WORKERS" --batch "$BATCH" --quiet "${gz[@]}" >"$dir/send.out" 2>"$dir/send.err" &
		local sender=$!
		PIDS+=("$sender")
		if ! wait "$sender"; then
			status=failed note="send failed: $(tail -c 300 "$dir/send.err" | tr '\n' ' ')"
		fi
		load_end=$(cut -d' ' -f1 /proc/loadavg)
	fi

	local count="" flushed=1
	if [[ $status == ok ]]; then
		log "$name: sent $(tail -1 "$dir/send.out" | json_num values_per_sec | cut -d. -f1) values/s; flushing"
		flush_"$name" "$dir" "$url" || flushed=0
		wait_stable "$dir/data"
		count=$(count_"$name" "$url")
		((flushed)) || note="flush not confirmed; "
	fi

	# The final samples before the stop signal.
	local hwm=0 wb=0
	if [[ -s $dir/samples ]]; then
		read -r hwm wb < <(tail -1 "$dir/samples")
	fi
	if kill -0 "$pid" 2>/dev/null; then
		log "$name: stopping"
		stop_pid "$pid"
	fi
	deadline=$((SECONDS + STOP_TIMEOUT))
	while kill -0 "$wrapper" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
	wait "$wrapper" 2>/dev/null || true
	[[ -n $sampler ]] && { wait "$sampler" 2>/dev/null || true; }
	# The sampler's last reading is as close to exit as /proc allows; GNU
	# time's rusage includes the very end.
	if [[ -s $dir/samples ]]; then
		read -r hwm wb < <(awk '{if ($1 > h) h = $1; w = $2} END {print h, w}' "$dir/samples")
	fi
	if [[ -s $dir/rusage ]]; then
		local rss oub
		read -r rss oub < <(grep -E '^[0-9]+ [0-9]+$' "$dir/rusage" | tail -1) || true
		((${rss:-0} > hwm)) && hwm=$rss
		((${oub:-0} * 512 > wb)) && wb=$((oub * 512))
	fi

	local vps=0 pps=0 values=0 disk=0
	if [[ $status == ok ]]; then
		local last
		last=$(tail -1 "$dir/send.out")
		vps=$(json_num values_per_sec <<<"$last")
		pps=$(json_num points_per_sec <<<"$last")
		values=$(json_num values <<<"$last")
		disk=$(dir_bytes "$dir/data")
		case $count in
		skip:*) note+="stored points not checked (${count#skip: })" ;;
		"$DATA_CPU") note+="holds all $count cpu points" ;;
		*)
			note+="holds $count of $DATA_CPU cpu points"
			status=incomplete
			;;
		esac
	fi
	cat >"$dir/result" <<EOF
R_STATUS='$status'
R_NOTE='${note//\'/}'
R_VPS=${vps:-0}
R_PPS=${pps:-0}
R_VALUES=${values:-0}
R_HWM_KB=${hwm:-0}
R_WRITE_BYTES=${wb:-0}
R_DISK_BYTES=${disk:-0}
R_LOAD='$load_start → $load_end'
EOF
	log "$name: $status ${note}"
}

# ---------------------------------------------------------------- main
install_packages
WORK=$(mktemp -d "$TMPBASE/herd-peers.XXXXXX")
if [[ -n ${BENCH_HERD_BIN:-} ]]; then
	HERD=$(realpath "$BENCH_HERD_BIN")
else
	log "building herd (make build)"
	make -s build >"$WORK/build.log" 2>&1 || die "make build failed: $(tail -5 "$WORK/build.log")"
	HERD=$ROOT/bin/herd
fi

DATA=$WORK/data.lp
log "generating $HOSTS hosts × $DURATION (seed $SEED) into $DATA"
"$HERD" bench write --hosts "$HOSTS" --duration "$DURATION" --seed "$SEED" --out "$DATA" >"$WORK/gen.out" \
	|| die "generating the data failed"
GEN=$(tail -1 "$WORK/gen.out")
DATA_POINTS=$(json_num points <<<"$GEN")
DATA_VALUES=$(json_num values <<<"$GEN")
DATA_BYTES=$(json_num bytes <<<"$GEN")
DATA_CPU=$(json_num cpu <<<"$GEN")
START_NS=$(json_num start_ns <<<"$GEN")
END_NS=$(json_num end_ns <<<"$GEN")
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

base=28086
for s in $SYSTEMS; do
	case $s in
	herd | influxdb | victoriametrics) run_system "$s" "$base" ;;
	*) die "unknown system $s (herd, influxdb, victoriametrics)" ;;
	esac
	base=$((base + 10))
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
version_of() {
	case $1 in
	herd) "$HERD" version 2>/dev/null | head -1 ;;
	influxdb) dpkg-query -W -f='Debian influxdb ${Version}' influxdb 2>/dev/null || influxd version ;;
	victoriametrics) dpkg-query -W -f='Debian victoria-metrics ${Version}' victoria-metrics 2>/dev/null || echo unknown ;;
	esac
}

# Load each system's result into H_* (herd) and print the tables.
declare -A STATUS NOTE VPS PPS HWM WBPV DBPV LOAD
for s in $SYSTEMS; do
	R_STATUS=failed R_NOTE="no result" R_LOAD="" R_VPS=0 R_PPS=0 R_VALUES=0 R_HWM_KB=0 R_WRITE_BYTES=0 R_DISK_BYTES=0
	# shellcheck disable=SC1090
	[[ -f $WORK/$s/result ]] && source "$WORK/$s/result"
	STATUS[$s]=$R_STATUS NOTE[$s]=$R_NOTE LOAD[$s]=$R_LOAD VPS[$s]=$R_VPS PPS[$s]=$R_PPS HWM[$s]=$R_HWM_KB
	WBPV[$s]=$(awk -v b="$R_WRITE_BYTES" -v v="$R_VALUES" 'BEGIN {if (v > 0) printf "%.3f", b / v; else print 0}')
	DBPV[$s]=$(awk -v b="$R_DISK_BYTES" -v v="$R_VALUES" 'BEGIN {if (v > 0) printf "%.3f", b / v; else print 0}')
done

fmt_rate() { awk -v x="$1" 'BEGIN {if (x >= 1e6) printf "%.2f M", x / 1e6; else printf "%.0f k", x / 1e3}'; }
ratio() { # herd's value ÷ the peer's, or n/a
	awk -v h="$1" -v p="$2" 'BEGIN {if (h > 0 && p > 0) printf "%.2f×", h / p; else print "n/a"}'
}
name_of() {
	case $1 in herd) echo herd ;; influxdb) echo "InfluxDB" ;; victoriametrics) echo "VictoriaMetrics" ;; esac
}

report() {
	echo "# herd vs peers: ingestion benchmark"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $LOAD_BEFORE before and $LOAD_AFTER after."
	echo "Data: $HOSTS hosts × $DURATION every 10 s (Telegraf's cpu, mem, disk, diskio, net, system, processes,"
	echo "kernel, swap; seed $SEED): $DATA_POINTS points, $DATA_VALUES values, $DATA_BYTES bytes of line protocol,"
	echo "replayed by \`herd bench send\` with $WORKERS workers, batches of $BATCH points$([[ $GZIP == 1 ]] && echo ", gzip")."
	echo
	echo "| system | version | values/s | points/s | peak RSS | disk bytes/value | written bytes/value | load avg during send | status |"
	echo "|---|---|---:|---:|---:|---:|---:|---|---|"
	local s
	for s in $SYSTEMS; do
		printf '| %s | %s | %s | %s | %s MiB | %s | %s | %s | %s: %s |\n' "$(name_of "$s")" "$(version_of "$s")" \
			"$(fmt_rate "${VPS[$s]}")" "$(fmt_rate "${PPS[$s]}")" \
			"$(awk -v k="${HWM[$s]}" 'BEGIN {printf "%.0f", k / 1024}')" "${DBPV[$s]}" "${WBPV[$s]}" \
			"${LOAD[$s]}" "${STATUS[$s]}" "${NOTE[$s]}"
	done
	if [[ " $SYSTEMS " == *" herd "* ]]; then
		echo
		echo "herd ÷ peer (targets: values/s ≥ 1.5× VictoriaMetrics and ≥ 4× InfluxDB; peak RSS ≤ 0.5× VictoriaMetrics;"
		echo "disk and written bytes/value ≤ 1× VictoriaMetrics):"
		echo
		echo "| peer | values/s | peak RSS | disk bytes/value | written bytes/value |"
		echo "|---|---:|---:|---:|---:|"
		for s in $SYSTEMS; do
			[[ $s == herd ]] && continue
			if [[ ${STATUS[herd]} == failed || ${STATUS[$s]} == failed ]]; then
				printf '| %s | n/a | n/a | n/a | n/a |\n' "$(name_of "$s")"
				continue
			fi
			printf '| %s | %s | %s | %s | %s |\n' "$(name_of "$s")" \
				"$(ratio "${VPS[herd]}" "${VPS[$s]}")" "$(ratio "${HWM[herd]}" "${HWM[$s]}")" \
				"$(ratio "${DBPV[herd]}" "${DBPV[$s]}")" "$(ratio "${WBPV[herd]}" "${WBPV[$s]}")"
		done
	fi
	echo
	echo "Peak RSS is VmHWM (and ru_maxrss at exit); written bytes are write_bytes from /proc/PID/io (and ru_oublock at exit, shutdown included);"
	echo "disk bytes are those allocated to the data directory (\`du -s -B1\`) after the system flushed and stopped"
	echo "(InfluxDB: WAL snapshotted and shards fully compacted; VictoriaMetrics: /internal/force_flush and merges"
	echo "settled; herd: graceful stop). Throughput depends on the machine's load (1-minute load average at the start"
	echo "and end of each send above; the machine has $(nproc) cores): trust ratios only from legs that ran under similar load."
}

mkdir -p "$(dirname "$RESULTS")"
report | tee "$RESULTS"
log "written to $RESULTS"
fail=0
for s in $SYSTEMS; do
	[[ ${STATUS[$s]} == ok ]] || fail=1
done

# Query latency per query type, herd beside InfluxDB and VictoriaMetrics
# (each loaded with its own smaller data set: the query leg measures
# answers, not ingestion), with the herd binary measured above.
# Writes bench/results/query-latest.md. BENCH_QUERY=0 skips it.
if [[ ${BENCH_QUERY:-1} == 1 ]]; then
	log "query: bench/query.sh (${BENCH_QUERY_HOSTS:-10} hosts × 24 h, ${BENCH_QUERY_RUNS:-30} runs per query)"
	HOSTS=${BENCH_QUERY_HOSTS:-10} RUNS=${BENCH_QUERY_RUNS:-30} HERD_BIN=$HERD \
		bash "$ROOT/bench/query.sh" || fail=1
fi

# The agents side by side (herd agent, node_exporter, and Telegraf with
# BENCH_TELEGRAF=1): RSS and CPU at the same inputs and interval.
# BENCH_AGENTS=0 skips it. agents.sh reads BENCH_DURATION as seconds and
# BENCH_RESULTS as its own file, not as this script's data span (24h) and
# results, hence BENCH_AGENTS_DURATION and BENCH_AGENTS_RESULTS.
if [[ ${BENCH_AGENTS:-1} == 1 ]]; then
	log "agents: bench/agents.sh (BENCH_TELEGRAF=${BENCH_TELEGRAF:-0})"
	agents_env=(BENCH_DURATION="${BENCH_AGENTS_DURATION:-120}"
		BENCH_RESULTS="${BENCH_AGENTS_RESULTS:-$ROOT/bench/results/agents-latest.md}")
	[[ -n ${BENCH_HERD_BIN:-} ]] && agents_env+=(BENCH_HERD_BIN="$BENCH_HERD_BIN")
	env "${agents_env[@]}" bash "$ROOT/bench/agents.sh" || fail=1
fi
exit "$fail"
