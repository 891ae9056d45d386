#!/usr/bin/env bash
# generator-cost.sh -- issue 6's check: the harness's CPU per message against
# sipp's, on the same run. Two halves, each A/B alternated over PAIRS rounds:
#
#   uac side: a sipp uas on CPU 1 is the far end; on CPU 0 in turn
#     load-tick   sipshard-bench load (tick mode, the default: --tick-us 1000, 4 sockets)
#     load-event  sipshard-bench load --tick-us 0 --sockets 16 (the earlier event mode)
#     load-1sock  sipshard-bench load --sockets 1 (tick mode, one socket: fewer
#                 recvmmsg/sendmmsg per tick; only when named in UAC_SIDE)
#     load-nogso  sipshard-bench load --no-gso (tick mode, one datagram per
#                 sendmmsg entry: the A/B for UDP GSO; only when named)
#     load-tick2  sipshard-bench load --tick-us 2000 (only when named)
#     sipp-uac    sipp -sn uac
#   uas side: a sipp uac on CPU 0 is the driver; on CPU 1 in turn
#     uas-tick    sipshard-bench uas --tick-us 1000
#     uas-glommio sipshard-bench uas (glommio, woken per datagram)
#     uas-nogso   sipshard-bench uas --tick-us 1000 --no-gso (only when named)
#     sipp-uas    sipp -sn uas
#
# CPU = utime + stime of the measured process: a generator's whole run
# (GNU time), a far end's from /proc/PID/stat before and after the load plus
# one second; divided by the datagrams it handled: 6 per
# call of the default call scenario (it sends 3 and receives 3), plus
# retransmissions. A run passes with all calls completed and no
# retransmissions. Output: OUT/runs.tsv and OUT/summary.md (medians over
# rounds, and the median per-round ratio to sipp).
#
# Usage (workspace root, after cargo build --release -p sipshard-bench):
#   bench/scripts/generator-cost.sh
#   RATES="2000 8000" PAIRS=5 OUT=/tmp/gen bench/scripts/generator-cost.sh
#   bench/scripts/generator-cost.sh --summary DIR      # re-summarize runs.tsv
#
# Environment: RATES (default "2000 8000"), PAIRS (3), DURATION (10 s),
# UAC_SIDE (default "load-tick load-event sipp-uac"), UAS_SIDE (default
# "uas-tick uas-glommio sipp-uas"; empty: that half is skipped),
# TRANSPORT (udp; tcp: sipp -t t1, load and uas --transport tcp, so the
# counts are SIP messages rather than datagrams; uas-glommio is then the
# ticking TCP uas, the uas has no glommio TCP path),
# PORT_BASE (25500: far end = base, uac control/media = base + 20...),
# OUT (results/generator-cost), BIN (${CARGO_TARGET_DIR:-target}/release).
set -euo pipefail

RATES=${RATES:-"2000 8000"}
PAIRS=${PAIRS:-3}
DURATION=${DURATION:-10}
PORT_BASE=${PORT_BASE:-25500}
OUT=${OUT:-results/generator-cost}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
TRANSPORT=${TRANSPORT:-udp}
case $TRANSPORT in
udp) sipp_t=(-t u1) ss_l=-Hlun harness_t=() ;;
tcp) sipp_t=(-t t1) ss_l=-Hltn harness_t=(--transport tcp) ;;
*) echo "generator-cost: TRANSPORT must be udp or tcp" >&2; exit 1 ;;
esac
FAR=$PORT_BASE
UAC_PORT=$((PORT_BASE + 20))
CLK=$(getconf CLK_TCK)

die() {
	echo "generator-cost: $*" >&2
	exit 1
}

summarize() { # summarize RUNS_TSV
	awk -F'\t' '
	function median(list,   a, n, i, j, t) {
		n = split(list, a, " "); if (n == 0) return 0
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	NR == 1 { next }
	{
		k = $2 SUBSEP $3; rates[$2] = 1; runs[k]++; if ($8 == "pass") passed[k]++
		all[k] = all[k] " " $6; usr[k] = usr[k] " " $9; sys[k] = sys[k] " " $10; loads[k] = loads[k] " " $11
		v[$1, $2, $3] = $6; ok[$1, $2, $3] = ($8 == "pass"); rounds[$1] = 1
	}
	END {
		nsides = split("load-tick load-tick2 load-nogso load-1sock load-event sipp-uac uas-tick uas-nogso uas-glommio sipp-uas", order, " ")
		ref["load-tick"] = ref["load-tick2"] = ref["load-nogso"] = ref["load-1sock"] = ref["load-event"] = ref["sipp-uac"] = "sipp-uac"
		ref["uas-tick"] = ref["uas-nogso"] = ref["uas-glommio"] = ref["sipp-uas"] = "sipp-uas"
		printf "| calls/s | side | passed | CPU-µs per datagram handled (median) | user | system | × sipp (median of rounds) | load averages |\n|---|---|---|---|---|---|---|---|\n"
		nr = 0; for (r in rates) rl[++nr] = r + 0
		for (i = 2; i <= nr; i++) { t = rl[i]; for (j = i - 1; j >= 1 && rl[j] > t; j--) rl[j + 1] = rl[j]; rl[j + 1] = t }
		for (i = 1; i <= nr; i++) for (o = 1; o <= nsides; o++) {
			k = rl[i] SUBSEP order[o]; if (!(k in runs)) continue
			l = ""; for (rd in rounds) if (ok[rd, rl[i], order[o]] && ok[rd, rl[i], ref[order[o]]] && v[rd, rl[i], ref[order[o]]] > 0)
				l = l " " v[rd, rl[i], order[o]] / v[rd, rl[i], ref[order[o]]]
			printf "| %d | %s | %d of %d | %.2f | %.2f | %.2f | %s | %s |\n", rl[i], order[o], passed[k] + 0, runs[k],
				median(all[k]), median(usr[k]), median(sys[k]), (l == "" ? "-" : sprintf("%.2f", median(l))), loads[k]
		}
	}' "$1"
}

if [ "${1:-}" = --summary ]; then
	summarize "$2/runs.tsv" | tee "$2/summary.md"
	exit 0
fi

command -v sipp > /dev/null || die "sipp not found (apt-get install sip-tester)"
[ -x "$BIN/sipshard-bench" ] || die "$BIN/sipshard-bench missing (cargo build --release -p sipshard-bench, or set BIN)"
[ "$(nproc)" -ge 2 ] || die "needs two CPUs (the measured side and the other side on a core each)"

port_busy() { ss "$ss_l" "sport = :$1" 2> /dev/null | grep -q .; }
ticks() { # utime stime of one process
	local line
	line=$(cat "/proc/$1/stat")
	set -- ${line##*) }
	echo "${12} ${13}"
}
counts_sum() { # sipp -trace_counts file, column suffix -> sum on the last line
	awk -F';' -v suf="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ ("_" suf "$")) col[i] = 1; next }
		{ t = 0; for (i in col) t += $i } END { print t + 0 }' "$1"
}
stat_col() { # sipp -trace_stat file, column -> value on the last line
	awk -F';' -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next } c { v = $c } END { print v + 0 }' "$1"
}
wait_port() {
	for _ in $(seq 100); do port_busy "$1" && return 0; sleep 0.05; done
	die "nothing bound $1"
}
sipp_common=(-i 127.0.0.1 -nostdin -buff_size 4194304 -trace_counts -fd 1 "${sipp_t[@]}")

# start_far SIDE DIR: the far end for SIDE on its CPU; sets FAR_PID
start_far() {
	case $1 in
	sipp-uas) (cd "$2" && exec taskset -c 1 sipp -sn uas -p "$FAR" -cp $((FAR + 1)) -mp $((FAR + 4)) "${sipp_common[@]}" > uas.out 2>&1) & ;;
	uas-tick) taskset -c 1 "$BIN/sipshard-bench" uas --listen "127.0.0.1:$FAR" --no-100 --tick-us 1000 --cpus 1 "${harness_t[@]}" > "$2/uas.out" 2>&1 & ;;
	uas-glommio) taskset -c 1 "$BIN/sipshard-bench" uas --listen "127.0.0.1:$FAR" --no-100 --cpus 1 "${harness_t[@]}" > "$2/uas.out" 2>&1 & ;;
	uas-nogso) taskset -c 1 "$BIN/sipshard-bench" uas --listen "127.0.0.1:$FAR" --no-100 --tick-us 1000 --no-gso --cpus 1 "${harness_t[@]}" > "$2/uas.out" 2>&1 & ;;
	esac
	FAR_PID=$!
	wait_port "$FAR"
	sleep 0.3
	# the subshell that cd'ed execs sipp, so the PID is sipp's
}

# drive SIDE RATE CALLS DIR: the generator for SIDE on CPU 0, in the
# foreground, its CPU (user system, seconds) written to DIR/gen.time
drive() {
	# sipp's uac can hang on a call stuck in its scenario (-timeout does
	# not end it): a hard limit, so one bad run cannot stall the rest
	local timed=(/usr/bin/time -o "$4/gen.time" -f "%U %S" timeout -s INT -k 5 $((DURATION + 60)) taskset -c 0)
	case $1 in
	sipp-uac) (cd "$4" && exec "${timed[@]}" sipp -sn uac "127.0.0.1:$FAR" -p "$UAC_PORT" -cp $((UAC_PORT + 1)) -mp $((UAC_PORT + 4)) \
		"${sipp_common[@]}" -trace_stat -stf uac_stats.csv -r "$2" -m "$3" -l 100000 -timeout $((DURATION + 40)) > uac.out 2>&1) || true ;;
	load-tick) "${timed[@]}" "$BIN/sipshard-bench" load --target "127.0.0.1:$FAR" --scenario call --rate "$2" --duration "$DURATION" \
		--json "$4/load.json" "${harness_t[@]}" > "$4/load.out" 2>&1 || true ;;
	load-1sock) "${timed[@]}" "$BIN/sipshard-bench" load --target "127.0.0.1:$FAR" --scenario call --rate "$2" --duration "$DURATION" \
		--sockets 1 --json "$4/load.json" "${harness_t[@]}" > "$4/load.out" 2>&1 || true ;;
	load-nogso) "${timed[@]}" "$BIN/sipshard-bench" load --target "127.0.0.1:$FAR" --scenario call --rate "$2" --duration "$DURATION" \
		--no-gso --json "$4/load.json" "${harness_t[@]}" > "$4/load.out" 2>&1 || true ;;
	load-tick2) "${timed[@]}" "$BIN/sipshard-bench" load --target "127.0.0.1:$FAR" --scenario call --rate "$2" --duration "$DURATION" \
		--tick-us 2000 --json "$4/load.json" "${harness_t[@]}" > "$4/load.out" 2>&1 || true ;;
	load-event) "${timed[@]}" "$BIN/sipshard-bench" load --target "127.0.0.1:$FAR" --scenario call --rate "$2" --duration "$DURATION" \
		--tick-us 0 --sockets 16 --json "$4/load.json" "${harness_t[@]}" > "$4/load.out" 2>&1 || true ;;
	esac
}

# one_run ROUND RATE MEASURED: MEASURED is a uac-side or a uas-side candidate
one_run() {
	local round=$1 rate=$2 who=$3 dir calls far gen pid u0 s0 u1 s1 ok retr
	dir=$OUT/r$round-$rate-$who
	rm -rf "$dir"
	mkdir -p "$dir"
	calls=$((rate * DURATION))
	case $who in
	sipp-uac | load-*) far=sipp-uas gen=$who ;;
	*) far=$who gen=sipp-uac ;;
	esac
	for p in $FAR $((FAR + 1)) $UAC_PORT $((UAC_PORT + 1)); do
		for _ in $(seq 100); do port_busy "$p" || break; sleep 0.1; done
		port_busy "$p" && die "port $p is taken by another program; set PORT_BASE"
	done
	start_far "$far" "$dir"
	if [ "$gen" = "$who" ]; then
		# the generator's whole life (start-up and drain are a few ms of 10 s)
		drive "$gen" "$rate" "$calls" "$dir"
		read -r u1 s1 < <(tail -n 1 "$dir/gen.time" | awk -v c="$CLK" '{ printf "%d %d\n", $1 * c, $2 * c }')
		u0=0 s0=0
	else
		read -r u0 s0 < <(ticks "$FAR_PID")
		drive "$gen" "$rate" "$calls" "$dir"
		sleep 1
		read -r u1 s1 < <(ticks "$FAR_PID")
	fi
	sleep 1
	kill -TERM "$FAR_PID" 2> /dev/null || true
	wait "$FAR_PID" 2> /dev/null || true
	if [ -f "$dir/load.json" ]; then
		ok=$(grep -o '"completed": *[0-9]*' "$dir/load.json" | head -1 | grep -o '[0-9]*$')
		retr=$(grep -o '"retransmissions": *[0-9]*' "$dir/load.json" | head -1 | grep -o '[0-9]*$')
	else
		ok=$(stat_col "$dir/uac_stats.csv" 'SuccessfulCall(C)')
		retr=$(($(counts_sum "$(ls "$dir"/uac_*_counts.csv)" Retrans)))
	fi
	awk -v round="$round" -v rate="$rate" -v who="$who" -v calls="$calls" -v ok="${ok:-0}" -v retr="${retr:-0}" \
		-v u="$((u1 - u0))" -v s="$((s1 - s0))" -v clk="$CLK" -v load="$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)" 'BEGIN {
		m = 6 * ok + retr; if (m == 0) m = 1
		printf "%d\t%d\t%s\t%d\t%d\t%.3f\t%d\t%s\t%.3f\t%.3f\t%s\n", round, rate, who, ok, retr, 1e6 * (u + s) / clk / m, m,
			(ok == calls && retr == 0) ? "pass" : "FAIL", 1e6 * u / clk / m, 1e6 * s / clk / m, load }' | tee -a "$runs"
}

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
runs=$OUT/runs.tsv
printf 'round\trate\tside\tcalls_ok\tretrans\tus_per_datagram\tdatagrams\tverdict\tuser_us\tsys_us\tloadavg\n' | tee "$runs"
read -r -a uac_side <<< "${UAC_SIDE-load-tick load-event sipp-uac}"
read -r -a uas_side <<< "${UAS_SIDE-uas-tick uas-glommio sipp-uas}"
for round in $(seq "$PAIRS"); do
	for rate in $RATES; do
		# the order rotates round by round
		for i in "${!uac_side[@]}"; do one_run "$round" "$rate" "${uac_side[$(((i + round - 1) % ${#uac_side[@]}))]}"; done
		for i in "${!uas_side[@]}"; do one_run "$round" "$rate" "${uas_side[$(((i + round - 1) % ${#uas_side[@]}))]}"; done
	done
done
summarize "$runs" | tee "$OUT/summary.md"
