#!/usr/bin/env bash
# answer-floor.sh -- what answering a REGISTER costs on this machine, with
# no SIP server at all, beside sipshard's and Kamailio's registrars.
#
# For each registrar rate R (registrations/s, each = 2 REGISTERs in: the
# challenged one and the authorised one), `compare --scenario registrar`
# measures sipshard and Kamailio; then `sipshard-bench uas` answers plain
# REGISTERs (200 at once, no auth, no location) at 2R requests/s, the same
# datagrams per second in and out, as:
#   uas-blocking  plain thread asleep in recvmmsg, one sendmmsg per wake-up
#                 (Kamailio's I/O shape without Kamailio);
#   uas-glommio   a glommio executor woken through io_uring per datagram
#                 (sipshard's I/O shape without SIP processing).
# Each floor runs pinned on CPU 0 with `load` on CPU 1, as compare places
# them; its CPU comes from /proc/PID/stat before and after the load.
#
# Usage (after cargo build --release -p sipshard -p sipshard-bench):
#   RATES="1000 4000" DURATION=10 bench/scripts/answer-floor.sh
# Environment: RATES, DURATION (s), PORT_BASE (default 28500), BIN, OUT.
set -euo pipefail
RATES=${RATES:-"1000 4000"}
DURATION=${DURATION:-10}
PORT_BASE=${PORT_BASE:-28500}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
OUT=${OUT:-results/answer-floor}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

printf 'rate\tsystem\tmsgs_in_per_s\tcpu_us_per_msg_in\tpassed\n'
for rate in $RATES; do
	"$BIN/sipshard-bench" compare --scenario registrar --systems sipshard,kamailio --rates "$rate" \
		--duration "$DURATION" --port-base "$PORT_BASE" --out "$OUT/compare-$rate" > "$OUT/compare-$rate.txt" 2>&1 || true
	for sys in sipshard kamailio; do
		jq -r --arg s "$sys" --arg r "$rate" '.systems[] | select(.system == $s) | .points[]
			| [$r, $s, (.messages_into_system / '"$DURATION"' | floor), (.cpu_us_per_message * 100 | round / 100), .passed] | @tsv' \
			"$OUT/compare-$rate/results.json"
	done
	reqs=$((2 * rate))
	for sys in uas-blocking uas-glommio; do
		port=$((PORT_BASE + 40))
		mode=()
		[ "$sys" = uas-blocking ] && mode=(--blocking)
		"$BIN/sipshard-bench" uas --listen "127.0.0.1:$port" --cpus 0 "${mode[@]}" > "$OUT/$sys-$rate.uas.log" 2>&1 &
		uas=$!
		sleep 1
		"$BIN/sipshard-bench" load --target "127.0.0.1:$port" --scenario register --rate "$reqs" --duration 1 \
			--cpus 1 --warmup 0 --user sipp --password secret > /dev/null 2>&1 || true
		before=$(ticks "$uas")
		passed=true
		"$BIN/sipshard-bench" load --target "127.0.0.1:$port" --scenario register --rate "$reqs" --duration "$DURATION" \
			--cpus 1 --warmup 0 --user sipp --password secret > "$OUT/$sys-$rate.load.txt" 2>&1 || passed=false
		after=$(ticks "$uas")
		kill "$uas"
		wait "$uas" 2> /dev/null || true
		msgs=$((reqs * DURATION))
		printf '%s\t%s\t%s\t%s\t%s\n' "$rate" "$sys" "$reqs" \
			"$(echo "scale=2; ($after - $before) * 1000000 / $HZ / $msgs" | bc)" "$passed"
	done
done
