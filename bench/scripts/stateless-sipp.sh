#!/usr/bin/env bash
# stateless-sipp.sh -- issue 2's figure: sipp uac -> proxy -> sipp uas, where
# the proxy is in turn sipshard (stateless forward()), Kamailio 5.6 with the
# same forward() config, and the bare UDP relay `sipshard-bench floor` (the
# I/O floor, no parsing). For each run it reads the proxy's CPU time from
# /proc/PID/stat (utime and stime apart, the process and its children, as the
# Kamailio kit does) before the load and after it plus SETTLE seconds, and
# divides by the SIP messages the proxy had to forward: everything the two
# sipps sent, retransmissions included (sipp's -trace_counts files).
#
# Method (docs/benchmarks.md, performance.md §7): one worker each -- sipshard
# with shards=1, Kamailio -n 1 -x tlsf -b 4194304 -m 4096 -M 16, the floor
# with --shards 1; the proxy pinned to CPU 0, both sipps to CPU 1 (with two
# or more CPUs). PAIRS rounds; in each round every system runs once at each
# rate, the order rotating from round to round (A/B alternation), so the
# ratios are taken between runs minutes apart at most. A run passes with 0
# failed calls, 0 retransmissions and 0 unexpected messages.
#
# Output: OUT/runs.tsv (one row per run), OUT/summary.md (per rate and
# system: median CPU-us per message with user and system apart, and the
# median of the per-round ratios sipshard/floor, sipshard/Kamailio,
# Kamailio/floor, with their spread), one directory per run with the logs.
#
# Usage (from the workspace root, after
#   cargo build --release -p sipshard -p sipshard-bench):
#   bench/scripts/stateless-sipp.sh
#   RATES="2000 8000" PAIRS=5 DURATION=10 OUT=/tmp/ss bench/scripts/stateless-sipp.sh
#
# Environment:
#   RATES      calls/s, space-separated (default: 2000 8000; performance.md §7
#              also has 14000, which two sipps sharing one core cannot drive:
#              every system, Kamailio included, fails there with RATES=14000)
#   PAIRS      rounds (default 3)
#   DURATION   seconds of load per run (default 10; CALLS = RATE * DURATION)
#   SETTLE     seconds after the last call before the CPU is read (default 1)
#   SYSTEMS    subset of "sipshard kamailio floor sipshard-32 floor-32" (default
#              the first three); sipshard-N / floor-N are the same binaries
#              with SIPSHARD_UDP_BATCH=N (batched receive, shards::udp_batch,
#              N datagrams per recvmmsg), for A/B against the default path
#              (glommio recv_from per datagram); the summary knows N=32;
#              sipshard-old / floor-old run with OLD_ENV set (default
#              "SIPSHARD_UDP_IO=glommio SIPSHARD_TM_TICK_MS=1": the send path
#              and timer tick before shards::udp_io), for before/after A/B
#   PORT_BASE  proxy port; uas = +10 (+11 control, +14 media), uac = +20 (default 25400)
#   OUT        results directory (default results/stateless-sipp)
#   BIN        directory holding sipshard and sipshard-bench
#              (default ${CARGO_TARGET_DIR:-target}/release)
#   KAMAILIO   kamailio binary (default: kamailio on PATH)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
configs=$here/../configs
RATES=${RATES:-"2000 8000"}
PAIRS=${PAIRS:-3}
DURATION=${DURATION:-10}
SETTLE=${SETTLE:-1}
SYSTEMS=${SYSTEMS:-"sipshard kamailio floor"}
PORT_BASE=${PORT_BASE:-25400}
OUT=${OUT:-results/stateless-sipp}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
KAMAILIO=${KAMAILIO:-kamailio}
PROXY_PORT=$PORT_BASE
UAS_PORT=$((PORT_BASE + 10))
UAC_PORT=$((PORT_BASE + 20))
CLK=$(getconf CLK_TCK)

die() {
	echo "stateless-sipp: $*" >&2
	exit 1
}

if [ "$(nproc)" -ge 2 ]; then
	PIN_PROXY=(taskset -c 0)
	PIN_SIPP=(taskset -c 1)
	cores="system under test: 1 core (CPU 0); sipp uac + uas: 1 core (CPU 1)"
else
	PIN_PROXY=()
	PIN_SIPP=()
	cores="1 CPU: proxy and sipps share it (figures are indicative only)"
fi

port_busy() { ss -Hlun "sport = :$1" 2> /dev/null | grep -q .; }

# utime stime (clock ticks) of PID and all its descendants
tree_ticks() {
	local pids=$1 todo=$1 p c u=0 s=0 line
	while [ -n "$todo" ]; do
		set -- $todo
		todo=
		for p in "$@"; do
			for c in $(cat /proc/"$p"/task/*/children 2> /dev/null); do
				pids="$pids $c"
				todo="$todo $c"
			done
		done
	done
	for p in $pids; do
		line=$(cat "/proc/$p/stat" 2> /dev/null) || continue
		set -- ${line##*) }
		u=$((u + ${12}))
		s=$((s + ${13}))
	done
	echo "$u $s"
}

# sums sipp -trace_counts columns ending in SUFFIX on the file's last line
counts_sum() {
	awk -F';' -v suf="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ ("_" suf "$")) col[i] = 1; next }
		{ t = 0; for (i in col) t += $i } END { print t + 0 }' "$1"
}

# value of column NAME on the last line of a sipp -trace_stat file (0 if absent)
stat_col() {
	[ -f "$1" ] || { echo 0; return; }
	awk -F';' -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
		c { v = $c } END { print v + 0 }' "$1"
}

render() { # render TEMPLATE DEST
	sed -e "s/@PROXY_PORT@/$PROXY_PORT/g" -e "s/@UAS_PORT@/$UAS_PORT/g" "$1" > "$2"
}

OLD_ENV=${OLD_ENV:-"SIPSHARD_UDP_IO=glommio SIPSHARD_TM_TICK_MS=1"}
# extra environment of a system: OLD_ENV for the -old variants
env_of() { case $1 in *-old) echo "$OLD_ENV" ;; esac; }

# SIPSHARD_UDP_BATCH for a system: N for the -N variants, else 1 (the default)
batch_of() { case $1 in *-[0-9]*) echo "${1##*-}" ;; *) echo "${SIPSHARD_UDP_BATCH:-1}" ;; esac; }

start_proxy() { # start_proxy SYSTEM DIR -> sets PROXY_PID
	local sys=$1 dir=$2
	case $sys in
	sipshard | sipshard-*)
		render "$configs/sipshard-stateless.cfg" "$dir/proxy.cfg"
		env $(env_of "$sys") SIPSHARD_UDP_BATCH=$(batch_of "$sys") "${PIN_PROXY[@]}" "$BIN/sipshard" run -f "$dir/proxy.cfg" > "$dir/proxy.log" 2>&1 &
		;;
	kamailio)
		render "$configs/kamailio-stateless.cfg" "$dir/proxy.cfg"
		"${PIN_PROXY[@]}" "$KAMAILIO" -f "$dir/proxy.cfg" -DD -E -n 1 -m 4096 -M 16 -x tlsf -b 4194304 \
			> "$dir/proxy.log" 2>&1 &
		;;
	floor | floor-*)
		env $(env_of "$sys") SIPSHARD_UDP_BATCH=$(batch_of "$sys") "${PIN_PROXY[@]}" "$BIN/sipshard-bench" floor --listen "127.0.0.1:$PROXY_PORT" \
			--upstream "127.0.0.1:$UAS_PORT" --shards 1 > "$dir/proxy.log" 2>&1 &
		;;
	esac
	PROXY_PID=$!
	for _ in $(seq 100); do port_busy "$PROXY_PORT" && break; sleep 0.05; done
	port_busy "$PROXY_PORT" || { tail -5 "$dir/proxy.log" >&2; die "$sys did not bind $PROXY_PORT"; }
	sleep 0.5 # Kamailio forks its workers after binding
	kill -0 "$PROXY_PID" 2> /dev/null || { tail -5 "$dir/proxy.log" >&2; die "$sys exited"; }
}

stop() { # stop PID...: SIGTERM, then wait until gone
	local p
	for p in "$@"; do kill -TERM "$p" 2> /dev/null || true; done
	for p in "$@"; do wait "$p" 2> /dev/null || true; done
}

one_run() { # one_run ROUND RATE SYSTEM
	local round=$1 rate=$2 sys=$3 dir calls p
	dir=$OUT/r$round-$rate-$sys
	rm -rf "$dir"
	mkdir -p "$dir"
	calls=$((rate * DURATION))
	for p in $PROXY_PORT $UAS_PORT $((UAS_PORT + 1)) $UAC_PORT $((UAC_PORT + 1)); do
		for _ in $(seq 100); do port_busy "$p" || break; sleep 0.1; done
		port_busy "$p" && die "port $p is taken by another program (ss -ulnp sport = :$p); set PORT_BASE"
	done
	start_proxy "$sys" "$dir"
	local sipp_common=(-i 127.0.0.1 -nostdin -buff_size 4194304 -trace_counts -fd 1)
	(cd "$dir" && exec "${PIN_SIPP[@]}" sipp -sn uas -p "$UAS_PORT" -cp $((UAS_PORT + 1)) -mp $((UAS_PORT + 4)) \
		"${sipp_common[@]}" > uas.out 2>&1) &
	local uas_pid=$!
	for _ in $(seq 100); do port_busy "$UAS_PORT" && break; sleep 0.05; done
	port_busy "$UAS_PORT" || die "sipp uas did not bind $UAS_PORT"
	sleep 0.3
	local uas_sipp
	uas_sipp=$(pgrep -P "$uas_pid" -x sipp || echo "$uas_pid")
	local pu0 ps0 pu1 ps1 su0 ss0 su1 ss1
	read -r pu0 ps0 < <(tree_ticks "$PROXY_PID")
	read -r su0 ss0 < <(tree_ticks "$uas_sipp")
	(cd "$dir" && exec "${PIN_SIPP[@]}" /usr/bin/time -o uac.time -f "%U %S" \
		sipp -sn uac "127.0.0.1:$PROXY_PORT" -p "$UAC_PORT" -cp $((UAC_PORT + 1)) -mp $((UAC_PORT + 4)) \
		"${sipp_common[@]}" -trace_stat -stf uac_stats.csv -r "$rate" -m "$calls" -l 100000 -recv_timeout 10000 \
		-timeout $((DURATION + 40)) > uac.out 2>&1) || true
	sleep "$SETTLE"
	read -r pu1 ps1 < <(tree_ticks "$PROXY_PID")
	read -r su1 ss1 < <(tree_ticks "$uas_sipp")
	sleep 1 # the uas writes its counts file every second
	stop "$uas_pid"
	kill -TERM "$PROXY_PID" 2> /dev/null || true
	wait "$PROXY_PID" 2> /dev/null || true
	local uac_counts uas_counts
	uac_counts=$(ls "$dir"/uac_*_counts.csv 2> /dev/null | head -1)
	uas_counts=$(ls "$dir"/uas_*_counts.csv 2> /dev/null | head -1)
	[ -n "$uac_counts" ] && [ -n "$uas_counts" ] || { tail -5 "$dir/uac.out" >&2; die "no sipp counts in $dir"; }
	local sent retr unexp tmo ok failed
	sent=$(($(counts_sum "$uac_counts" Sent) + $(counts_sum "$uas_counts" Sent)))
	retr=$(($(counts_sum "$uac_counts" Retrans) + $(counts_sum "$uas_counts" Retrans)))
	unexp=$(($(counts_sum "$uac_counts" Unexp) + $(counts_sum "$uas_counts" Unexp)))
	tmo=$(($(counts_sum "$uac_counts" Timeout) + $(counts_sum "$uas_counts" Timeout)))
	ok=$(stat_col "$dir/uac_stats.csv" 'SuccessfulCall(C)')
	failed=$(stat_col "$dir/uac_stats.csv" 'FailedCall(C)')
	[ $((ok + failed)) -ge "$calls" ] || failed=$((calls - ok)) # calls never finished count as failed
	local uac_u uac_s
	# the last line: GNU time puts "Command exited with non-zero status" first
	read -r uac_u uac_s < <(tail -n 1 "$dir/uac.time" 2> /dev/null || echo "0 0")
	awk -v round="$round" -v rate="$rate" -v sys="$sys" -v ok="$ok" -v failed="$failed" -v retr="$retr" \
		-v unexp="$unexp" -v tmo="$tmo" -v msgs="$((sent + retr))" -v clk="$CLK" \
		-v pu="$((pu1 - pu0))" -v ps="$((ps1 - ps0))" -v su="$((su1 - su0 + ss1 - ss0))" \
		-v uac_u="$uac_u" -v uac_s="$uac_s" -v load="$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)" 'BEGIN {
		m = msgs > 0 ? msgs : 1
		verdict = (failed == 0 && retr == 0 && unexp == 0 && tmo == 0) ? "pass" : "FAIL"
		printf "%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%.2f\t%.2f\t%.3f\t%.3f\t%.3f\t%s\t%.3f\t%.3f\t%s\n",
			round, rate, sys, ok, failed, retr, unexp, msgs, pu / clk, ps / clk,
			1e6 * (pu + ps) / clk / m, 1e6 * pu / clk / m, 1e6 * ps / clk / m, verdict,
			1e6 * (uac_u + uac_s) / (m / 2), 1e6 * su / clk / (m / 2), load }' | tee -a "$runs"
}

# medians over rounds and medians of the per-round ratios, from runs.tsv
summarize() { # summarize RUNS_TSV
	awk -F'\t' -v cores="$cores" -v pairs="$PAIRS" -v dur="$DURATION" '
function median(list,   a, k, n, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	if (n == 0) return "-"
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function range(list,   a, n, i, lo, hi) {
	n = split(list, a, " "); if (n == 0) return "-"
	lo = hi = a[1]; for (i = 2; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
	return sprintf("%.2f–%.2f", lo, hi)
}
NR == 1 { next }
{
	key = $2 SUBSEP $3; rates[$2] = 1; systems[$3] = 1
	all[key] = all[key] " " $11; usr[key] = usr[key] " " $12; sys[key] = sys[key] " " $13
	uac[key] = uac[key] " " $15; uas[key] = uas[key] " " $16; loads[key] = loads[key] " " $17
	runs[key]++; if ($14 == "pass") passed[key]++
	v[$1, $2, $3] = $11; ok[$1, $2, $3] = ($14 == "pass"); rounds[$1] = 1
}
END {
	printf "sipp uac -> proxy -> sipp uas, default sipp call scenario, %s s per run, %d rounds (A/B alternated); %s.\n", dur, pairs, cores
	printf "CPU-µs per forwarded message = proxy utime+stime (/proc/PID/stat, children included) / messages the two sipps sent (retransmissions included); medians over rounds.\n\n"
	printf "| calls/s | system | passed runs | CPU-µs/msg | user | system | sipp uac / uas CPU-µs per datagram | load averages (1/5/15 min) |\n|---|---|---|---|---|---|---|---|\n"
	nr = 0; for (r in rates) rl[++nr] = r + 0
	for (i = 2; i <= nr; i++) { t = rl[i]; for (j = i - 1; j >= 1 && rl[j] > t; j--) rl[j + 1] = rl[j]; rl[j + 1] = t }
	no = split("sipshard kamailio floor sipshard-32 floor-32 sipshard-old floor-old", order, " ")
	for (i = 1; i <= nr; i++) for (o = 1; o <= no; o++) {
		key = rl[i] SUBSEP order[o]; if (!(key in runs)) continue
		printf "| %d | %s | %d of %d | %.2f (%s) | %.2f | %.2f | %.2f / %.2f | %s |\n", rl[i], order[o], passed[key] + 0, runs[key],
			median(all[key]), range(all[key]), median(usr[key]), median(sys[key]), median(uac[key]), median(uas[key]), loads[key]
	}
	printf "\nRatios per round (both runs must pass), median (range, rounds used):\n\n| calls/s | sipshard / floor | sipshard / Kamailio | Kamailio / floor | sipshard-32 / sipshard | floor-32 / floor | sipshard-32 / floor-32 | sipshard-32 / Kamailio | sipshard / sipshard-old | floor / floor-old | sipshard-old / floor-old | sipshard-old / Kamailio |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
	npr = split("sipshard floor sipshard kamailio kamailio floor sipshard-32 sipshard floor-32 floor sipshard-32 floor-32 sipshard-32 kamailio sipshard sipshard-old floor floor-old sipshard-old floor-old sipshard-old kamailio", pr, " ")
	for (i = 1; i <= nr; i++) {
		line = sprintf("| %d", rl[i])
		for (q = 1; q < npr; q += 2) {
			l = ""; c = 0
			for (rd in rounds) if (ok[rd, rl[i], pr[q]] && ok[rd, rl[i], pr[q + 1]] && v[rd, rl[i], pr[q + 1]] > 0) {
				l = l " " v[rd, rl[i], pr[q]] / v[rd, rl[i], pr[q + 1]]; c++ }
			line = line (c ? sprintf(" | %.2f (%s, %d)", median(l), range(l), c) : " | -")
		}
		print line " |"
	}
}' "$1"
}

if [ "${1:-}" = --summary ]; then # re-summarize an earlier run: --summary DIR
	summarize "$2/runs.tsv" | tee "$2/summary.md"
	exit 0
fi

command -v sipp > /dev/null || die "sipp not found (apt-get install sip-tester)"
for s in $SYSTEMS; do
	case $s in
	sipshard | sipshard-[0-9]* | sipshard-old) [ -x "$BIN/sipshard" ] || die "$BIN/sipshard missing (cargo build --release -p sipshard, or set BIN)" ;;
	floor | floor-[0-9]* | floor-old) [ -x "$BIN/sipshard-bench" ] || die "$BIN/sipshard-bench missing (cargo build --release -p sipshard-bench)" ;;
	kamailio) command -v "$KAMAILIO" > /dev/null || die "kamailio not found (apt-get install kamailio, or set KAMAILIO)" ;;
	*) die "unknown system $s (expected sipshard, kamailio, floor, sipshard-N or floor-N)" ;;
	esac
done

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
runs=$OUT/runs.tsv
printf 'round\trate\tsystem\tcalls_ok\tfailed\tretrans\tunexpected\tmsgs\tuser_s\tsys_s\tus_per_msg\tuser_us\tsys_us\tverdict\tuac_us_per_msg\tuas_us_per_msg\tloadavg\n' > "$runs"

echo "stateless-sipp: rates [$RATES], $PAIRS rounds, ${DURATION}s per run; $cores; out $OUT" >&2
printf 'round\trate\tsystem\tok\tfailed\tretrans\tunexp\tmsgs\tuser_s\tsys_s\tus/msg\tuser\tsys\tverdict\tuac\tuas\tload\n' >&2
read -r -a systems <<< "$SYSTEMS"
n=${#systems[@]}
for round in $(seq "$PAIRS"); do
	for rate in $RATES; do
		for i in $(seq 0 $((n - 1))); do
			one_run "$round" "$rate" "${systems[$(((i + round - 1) % n))]}"
		done
	done
done

summarize "$runs" | tee "$OUT/summary.md"
