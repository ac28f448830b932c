#!/usr/bin/env bash
# bench/hostile.sh: the hostile-client cases of issue 10 against a real
# herd server, at each memory limit given: one point with 100,000 fields,
# 1,000 slow bodies, 2,000 tiny concurrent writes, SELECT * over 1 M rows
# (plain and chunked), 2,000 statements in one request, 600,000 series
# across 3 databases, 400 nested subqueries and a 10,000-term OR chain.
# For each: the result, its time, the server's peak RSS (VmHWM, reset
# between cases) and whether /ping and a small query kept answering within
# 1 s. Writes bench/results/hostile-latest.md. About 2-3 minutes per limit.
#
#   bench/hostile.sh                          # the default limit and 256MiB
#   MEMORY_LIMITS=512MiB bench/hostile.sh
#   ONLY='OR chain' bench/hostile.sh          # the cases matching a regexp
#   HERD_BIN=/path/to/herd MEMORY_LIMITS=default bench/hostile.sh
#                                             # a built binary (one without
#                                             # --memory-limit: use default)
#
# Other settings: CASE_TIMEOUT (20s: a case is cut off after it),
# RSS_CAP_MIB (4096: the server is killed past it, the machine being
# shared), HOSTILE_RESULTS (the markdown file). Loopback only; the server
# runs on a free port in a temporary data directory, removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=${HERD_BIN:-}
if [[ -z $bin ]]; then
	CGO_ENABLED=0 go build -o "$tmp/herd" ./cmd/herd
	bin=$tmp/herd
fi
go build -o "$tmp/hostile" ./bench/hostile
mkdir -p bench/results
"$tmp/hostile" --herd "$bin" \
	--memory-limits "${MEMORY_LIMITS:-default,256MiB}" \
	--case-timeout "${CASE_TIMEOUT:-20s}" \
	--rss-cap-mib "${RSS_CAP_MIB:-4096}" \
	--only "${ONLY:-}" \
	--out "${HOSTILE_RESULTS:-bench/results/hostile-latest.md}"
