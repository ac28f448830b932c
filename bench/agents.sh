#!/usr/bin/env bash
# bench/agents.sh: herd agent beside node_exporter (and real Telegraf when
# asked), side by side on this machine, the same inputs, the same interval,
# for a bounded time. Prints steady-state RSS and CPU time per system and
# each one's ratio to herd's; writes the table to bench/results/agents-latest.md.
#
#   bash bench/agents.sh                       # 2 minutes, 10 s interval
#   BENCH_DURATION=300 bash bench/agents.sh    # longer
#   BENCH_TELEGRAF=1 bash bench/agents.sh      # also Telegraf (builds it: slow)
#
# Settings: BENCH_DURATION (s, 120), BENCH_WARMUP (s, 30: start-up is not
# steady state; measurement starts after it), BENCH_INTERVAL (s, 10),
# BENCH_HERD_BIN (default: built from this tree), BENCH_TELEGRAF=1,
# BENCH_TELEGRAF_BIN, BENCH_TMPDIR (/tmp), BENCH_RESULTS, BENCH_KEEP=1.
#
# All traffic is on 127.0.0.1; every process started here is killed by pid
# on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${BENCH_DURATION:-120}
WARMUP=${BENCH_WARMUP:-30}
INTERVAL=${BENCH_INTERVAL:-10}
TELEGRAF=${BENCH_TELEGRAF:-0}
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results/agents-latest.md}
TMP=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/herd-agents.XXXXXX")
CLK_TCK=$(getconf CLK_TCK)
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "agents.sh: $*" >&2; }

apt_install() { # command package
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" != 0 ]; then say "$1 missing: install Debian package $2 (needs root)"; return 1; fi
	say "installing Debian package $2"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1 ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null; }
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
		echo $((20000 + RANDOM % 20000))
}

wait_http() { # url seconds
	local deadline=$((SECONDS + $2))
	until curl -fsS -o /dev/null "$1" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || { say "no answer from $1 within $2 s"; return 1; }
		sleep 0.2
	done
}

apt_install curl curl
apt_install prometheus-node-exporter prometheus-node-exporter

# herd: the binary users get (make build's flags).
HERD=${BENCH_HERD_BIN:-}
if [ -z "$HERD" ]; then
	HERD=$TMP/herd
	say "building herd"
	(cd "$ROOT" && CGO_ENABLED=0 go build -ldflags '-s -w' -o "$HERD" ./cmd/herd)
fi
# The server runs from its own copy: on an agent-only host no other process
# maps the binary's pages, and the agent drops those it only needed at
# start-up from the page cache (see agent.ReleaseStartupMemory), which
# needs them written back (clean), as an installed binary's are.
cp "$HERD" "$TMP/herd-server"
sync "$HERD" "$TMP/herd-server"

# Telegraf (only when asked: building it takes minutes).
TELEGRAF_BIN=${BENCH_TELEGRAF_BIN:-}
if [ "$TELEGRAF" = 1 ] && [ -z "$TELEGRAF_BIN" ]; then
	TELEGRAF_BIN=$(command -v telegraf || true)
	GOBIN_DIR=$(go env GOBIN); GOBIN_DIR=${GOBIN_DIR:-$(go env GOPATH)/bin}
	[ -n "$TELEGRAF_BIN" ] || [ ! -x "$GOBIN_DIR/telegraf" ] || TELEGRAF_BIN=$GOBIN_DIR/telegraf
	if [ -z "$TELEGRAF_BIN" ]; then
		say "building Telegraf v1.37.2 (go install; several minutes)"
		CGO_ENABLED=0 go install github.com/influxdata/telegraf/cmd/telegraf@v1.37.2
		TELEGRAF_BIN=$GOBIN_DIR/telegraf
	fi
fi

# The server the agents write to: a herd server on loopback, without its
# own local agent. It is not measured.
SRV_PORT=$(free_port)
SRV=http://127.0.0.1:$SRV_PORT
"$TMP/herd-server" server --data-dir "$TMP/server" --http-addr "127.0.0.1:$SRV_PORT" --no-local-agent >"$TMP/server.log" 2>&1 &
PIDS+=($!)
wait_http "$SRV/ping" 30

declare -A PID
SYSTEMS=(herd node_exporter)

"$HERD" agent --url "$SRV" --interval "${INTERVAL}s" --hostname bench-herd \
	--buffer-dir "$TMP/herd-buffer" >"$TMP/herd-agent.log" 2>&1 &
PID[herd]=$!; PIDS+=($!)

# node_exporter with the collectors that match herd's default inputs
# (cpu, mem+swap, disk, diskio, net, system, kernel, processes, temp).
NE_PORT=$(free_port)
prometheus-node-exporter --web.listen-address="127.0.0.1:$NE_PORT" --collector.disable-defaults \
	--collector.cpu --collector.meminfo --collector.filesystem --collector.diskstats \
	--collector.netdev --collector.loadavg --collector.stat --collector.vmstat \
	--collector.processes --collector.hwmon --collector.thermal_zone --collector.uname \
	>"$TMP/node_exporter.log" 2>&1 &
PID[node_exporter]=$!; PIDS+=($!)
wait_http "http://127.0.0.1:$NE_PORT/metrics" 30
# Scrape it every interval, as a Prometheus server would: node_exporter
# only works when scraped.
(while :; do curl -fsS -o /dev/null "http://127.0.0.1:$NE_PORT/metrics" || true; sleep "$INTERVAL"; done) &
PIDS+=($!)

if [ "$TELEGRAF" = 1 ]; then
	cat >"$TMP/telegraf.conf" <<EOF
[agent]
  interval = "${INTERVAL}s"
  round_interval = true
  flush_interval = "${INTERVAL}s"
  hostname = "bench-telegraf"
  omit_hostname = false
[[outputs.influxdb]]
  urls = ["$SRV"]
  database = "telegraf"
[[inputs.cpu]]
  percpu = true
  totalcpu = true
[[inputs.mem]]
[[inputs.disk]]
  ignore_fs = ["tmpfs", "devtmpfs", "devfs", "iso9660", "overlay", "aufs", "squashfs"]
[[inputs.diskio]]
[[inputs.net]]
[[inputs.system]]
[[inputs.processes]]
[[inputs.kernel]]
[[inputs.swap]]
[[inputs.temp]]
EOF
	"$TELEGRAF_BIN" --config "$TMP/telegraf.conf" >"$TMP/telegraf.log" 2>&1 &
	PID[telegraf]=$!; PIDS+=($!)
	SYSTEMS+=(telegraf)
fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say "running ${DURATION}s (${WARMUP}s warm-up), interval ${INTERVAL}s: ${SYSTEMS[*]}"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/{print $2}' "/proc/$1/status"; }
alive() { for s in "${SYSTEMS[@]}"; do kill -0 "${PID[$s]}" 2>/dev/null || { say "$s exited early; log:"; cat "$TMP/$s"*.log >&2 || true; exit 1; }; done; }

sleep "$WARMUP"; alive
declare -A T0 RSUM RMAX
for s in "${SYSTEMS[@]}"; do T0[$s]=$(cpu_ticks "${PID[$s]}"); RSUM[$s]=0; RMAX[$s]=0; done
n=0
end=$((SECONDS + DURATION - WARMUP))
while [ $SECONDS -lt $end ]; do
	alive
	for s in "${SYSTEMS[@]}"; do
		r=$(rss_kb "${PID[$s]}")
		RSUM[$s]=$((RSUM[$s] + r))
		[ "$r" -le "${RMAX[$s]}" ] || RMAX[$s]=$r
	done
	n=$((n + 1))
	sleep 2
done
WINDOW=$((DURATION - WARMUP))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

declare -A RSS CPU HWM
for s in "${SYSTEMS[@]}"; do
	RSS[$s]=$((RSUM[$s] / n))
	CPU[$s]=$(( ( $(cpu_ticks "${PID[$s]}") - T0[$s] ) * 1000 / CLK_TCK ))
	HWM[$s]=$(hwm_kb "${PID[$s]}")
done

NE_VERSION=$(prometheus-node-exporter --version 2>&1 | awk 'NR==1{print $3}')
{
	echo "## herd agent beside its peers ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -m))"
	echo
	echo "Same inputs, ${INTERVAL} s interval, ${DURATION} s run; measured over the last ${WINDOW} s"
	echo "(after ${WARMUP} s of warm-up): RSS is the mean of VmRSS sampled every 2 s ($n samples),"
	echo "CPU is utime+stime from /proc/PID/stat over the window (resolution $((1000 / CLK_TCK)) ms)."
	echo "node_exporter is scraped with curl every ${INTERVAL} s (curl's CPU not counted)."
	echo "Load average before: $LOAD_BEFORE; after: $LOAD_AFTER."
	echo
	echo "| system | RSS (MiB, mean) | RSS max | VmHWM (peak) | CPU ms in ${WINDOW} s | CPU ms/min | RSS × herd | CPU × herd |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for s in "${SYSTEMS[@]}"; do
		name=$s
		[ "$s" != node_exporter ] || name="node_exporter $NE_VERSION"
		[ "$s" != herd ] || name="herd agent"
		[ "$s" != telegraf ] || name="Telegraf v1.37.2"
		awk -v name="$name" -v r="${RSS[$s]}" -v m="${RMAX[$s]}" -v h="${HWM[$s]}" -v c="${CPU[$s]}" \
			-v w="$WINDOW" -v hr="${RSS[herd]}" -v hc="${CPU[herd]}" 'BEGIN {
			cr = (hc > 0) ? sprintf("%.1f", c / hc) : "n/a (herd < 1 tick)"
			printf "| %s | %.1f | %.1f | %.1f | %d | %.1f | %.1f | %s |\n", name, r/1024, m/1024, h/1024, c, c*60/w, r/hr, cr
		}'
	done
} >"$TMP/table.md"
cat "$TMP/table.md"
mkdir -p "$(dirname "$RESULTS")"
cp "$TMP/table.md" "$RESULTS"
say "wrote $RESULTS"
