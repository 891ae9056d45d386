#!/usr/bin/env bash
# metrics-overhead.sh -- what per-message metrics recording costs in
# stateless forwarding (issue 5: "Metrics and logging at default level cost
# under 3% of stateless-forward throughput, measured in the bench").
#
# sipp uac -> sipshard (bench/configs/sipshard-stateless.cfg: forward(),
# shards=1, debug=1) -> sipp uas, the same calls twice per round: once with
# metrics recorded (the default) and once with `sipshard run --no-metrics`,
# the order alternating from round to round (A/B). For each run the proxy's
# CPU time (utime+stime, /proc/PID/stat) over the load is divided by the
# calls; the figure is the median over rounds of the per-round ratio
# CPU(on) / CPU(off) - 1. A run counts only with 0 failed calls.
#
# Usage (from the workspace root, after cargo build --release -p sipshard):
#   bench/scripts/metrics-overhead.sh
#   RATE=4000 DURATION=10 PAIRS=7 bench/scripts/metrics-overhead.sh
# Environment: RATE calls/s (default 3000), DURATION s (default 8), PAIRS
# (default 5), PORT_BASE (default 25460), BIN (default
# ${CARGO_TARGET_DIR:-target}/release), OUT (default results/metrics-overhead).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
RATE=${RATE:-3000}
DURATION=${DURATION:-8}
PAIRS=${PAIRS:-5}
PORT_BASE=${PORT_BASE:-25460}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
OUT=${OUT:-results/metrics-overhead}
PROXY_PORT=$PORT_BASE
UAS_PORT=$((PORT_BASE + 10))
UAC_PORT=$((PORT_BASE + 20))
CALLS=$((RATE * DURATION))
[ -x "$BIN/sipshard" ] || { echo "$BIN/sipshard missing (cargo build --release -p sipshard)" >&2; exit 1; }
command -v sipp > /dev/null || { echo "sipp missing" >&2; exit 1; }
mkdir -p "$OUT"
ncpu=$(nproc)
pin_proxy=(); pin_sipp=()
if [ "$ncpu" -ge 2 ]; then pin_proxy=(taskset -c 0); pin_sipp=(taskset -c 1); fi

ticks() { # utime+stime of PID (all threads), in clock ticks
	local line; line=$(cat "/proc/$1/stat"); set -- ${line##*) }; echo $((${12} + ${13}))
}

run() { # MODE(on|off) ROUND -> prints CPU-us per call
	local mode=$1 round=$2 dir="$OUT/$2-$1" extra=()
	mkdir -p "$dir"
	[ "$mode" = off ] && extra=(--no-metrics)
	sed -e "s/@PROXY_PORT@/$PROXY_PORT/g" -e "s/@UAS_PORT@/$UAS_PORT/g" \
		"$here/../configs/sipshard-stateless.cfg" > "$dir/proxy.cfg"
	"${pin_proxy[@]}" "$BIN/sipshard" run -f "$dir/proxy.cfg" --ctl-socket "$dir/ctl" "${extra[@]}" > "$dir/proxy.log" 2>&1 &
	local proxy=$!
	"${pin_sipp[@]}" sipp -sn uas -i 127.0.0.1 -p "$UAS_PORT" > /dev/null 2>&1 &
	local uas=$!
	sleep 0.5
	local t0; t0=$(ticks "$proxy")
	"${pin_sipp[@]}" sipp -sn uac 127.0.0.1:"$PROXY_PORT" -s service -i 127.0.0.1 -p "$UAC_PORT" \
		-m "$CALLS" -r "$RATE" -l $((RATE * 4)) -timeout $((DURATION + 30)) \
		-trace_stat -stf "$dir/uac.csv" > /dev/null 2>&1 || true
	sleep 0.5
	local t1; t1=$(ticks "$proxy")
	kill "$proxy"; wait "$proxy" 2> /dev/null || true
	kill "$uas" 2> /dev/null; wait "$uas" 2> /dev/null || true
	local failed; failed=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++) if($i=="FailedCall(C)") c=i; next} END{print $c+0}' "$dir/uac.csv")
	local hz; hz=$(getconf CLK_TCK)
	awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$CALLS" -v f="$failed" 'BEGIN{ if (f > 0) print "FAILED"; else printf "%.3f\n", t / hz * 1e6 / n }'
}

printf "round\ton_us_per_call\toff_us_per_call\tratio\n" > "$OUT/runs.tsv"
for r in $(seq 1 "$PAIRS"); do
	if [ $((r % 2)) -eq 1 ]; then on=$(run on "$r"); off=$(run off "$r"); else off=$(run off "$r"); on=$(run on "$r"); fi
	ratio=$(awk -v a="$on" -v b="$off" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.4f", a / b; else print "NA" }')
	printf "%s\t%s\t%s\t%s\n" "$r" "$on" "$off" "$ratio" | tee -a "$OUT/runs.tsv"
done
awk -F'\t' 'NR > 1 && $4 != "NA" { print $4 }' "$OUT/runs.tsv" | sort -n | awk '{ v[++n] = $1 } END {
	if (!n) { print "no valid round"; exit 1 }
	m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	printf "metrics on/off CPU per call: median ratio %.4f (overhead %+.1f%%) over %d rounds; min %.4f max %.4f\n", m, (m - 1) * 100, n, v[1], v[n]
}' | tee "$OUT/summary.txt"
