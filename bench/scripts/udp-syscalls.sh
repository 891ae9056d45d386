#!/usr/bin/env bash
# udp-syscalls.sh -- syscalls per forwarded message of the UDP receive path:
# sipp uac -> proxy -> sipp uas (as stateless-sipp.sh), with `perf stat`
# attached to the proxy counting its syscalls by kind during the load.
# Unlike CPU time, the counts barely depend on the machine's load, so they
# show what shards::udp_batch changes (fewer io_uring round trips and
# receive calls per datagram when the socket holds several) even on a busy box.
#
# Usage (from the workspace root, after cargo build --release -p sipshard -p sipshard-bench):
#   RATES="2000 8000" DURATION=5 bench/scripts/udp-syscalls.sh
# Environment: RATES, DURATION (s), SYSTEMS (subset of "sipshard sipshard-32
# floor floor-32 sipshard-old floor-old kamailio"; -N = SIPSHARD_UDP_BATCH=N,
# batched receive; -old = with OLD_ENV, default "SIPSHARD_UDP_IO=glommio
# SIPSHARD_TM_TICK_MS=1", the paths before shards::udp_io; plain = the
# default), PORT_BASE (default 25700), BIN, OUT, KAMAILIO. For Kamailio the
# counts cover all its processes (main, timers, the one UDP worker).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RATES=${RATES:-"2000 8000"}
DURATION=${DURATION:-5}
SYSTEMS=${SYSTEMS:-"sipshard sipshard-32 floor floor-32"}
PORT_BASE=${PORT_BASE:-25700}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
OUT=${OUT:-results/udp-syscalls}
P=$PORT_BASE U=$((PORT_BASE + 10)) C=$((PORT_BASE + 20))
KAMAILIO=${KAMAILIO:-kamailio}
OLD_ENV=${OLD_ENV:-"SIPSHARD_UDP_IO=glommio SIPSHARD_TM_TICK_MS=1"}
EV=raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_recvmsg,syscalls:sys_enter_recvmmsg,syscalls:sys_enter_sendmsg,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_membarrier
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
port_busy() { ss -Hlun "sport = :$1" 2> /dev/null | grep -q .; }
printf 'rate\tsystem\tmsgs\tsyscalls/msg\tio_uring_enter/msg\trecvmsg/msg\trecvmmsg/msg\tsendmsg/msg\trecvfrom/msg\tsendto/msg\tmembarrier/msg\n'
for rate in $RATES; do
	for sys in $SYSTEMS; do
		d=$OUT/$rate-$sys
		rm -rf "$d"
		mkdir -p "$d"
		case $sys in *-[0-9]*) b=${sys##*-} ;; *) b=${SIPSHARD_UDP_BATCH:-1} ;; esac
		case $sys in *-old) xenv=$OLD_ENV ;; *) xenv= ;; esac
		for port in $P $U $C; do
			for _ in $(seq 100); do port_busy "$port" || break; sleep 0.1; done
		done
		case $sys in
		sipshard*)
			sed -e "s/@PROXY_PORT@/$P/g" -e "s/@UAS_PORT@/$U/g" "$here/../configs/sipshard-stateless.cfg" > "$d/proxy.cfg"
			env $xenv SIPSHARD_UDP_BATCH=$b taskset -c 0 "$BIN/sipshard" run -f "$d/proxy.cfg" > "$d/proxy.log" 2>&1 &
			;;
		floor*)
			env $xenv SIPSHARD_UDP_BATCH=$b taskset -c 0 "$BIN/sipshard-bench" floor --listen "127.0.0.1:$P" \
				--upstream "127.0.0.1:$U" > "$d/proxy.log" 2>&1 &
			;;
		kamailio)
			sed -e "s/@PROXY_PORT@/$P/g" -e "s/@UAS_PORT@/$U/g" "$here/../configs/kamailio-stateless.cfg" > "$d/proxy.cfg"
			taskset -c 0 "$KAMAILIO" -f "$d/proxy.cfg" -DD -E -n 1 -m 4096 -M 16 -x tlsf -b 4194304 > "$d/proxy.log" 2>&1 &
			;;
		esac
		pid=$!
		for _ in $(seq 100); do port_busy "$P" && break; sleep 0.05; done
		(cd "$d" && exec taskset -c 1 sipp -sn uas -i 127.0.0.1 -p "$U" -cp $((U + 1)) -mp $((U + 4)) -nostdin \
			-buff_size 4194304 -trace_counts -fd 1 > uas.out 2>&1) &
		uas=$!
		for _ in $(seq 100); do port_busy "$U" && break; sleep 0.05; done
		sleep 0.3
		# Kamailio: every process it forked (they all run the same config)
		case $sys in kamailio) target=$(pgrep -d, -f "$d/proxy.cfg") ;; *) target=$pid ;; esac
		perf stat -x, -o "$d/perf.csv" -e "$EV" -p "$target" &
		perf=$!
		sleep 0.2
		(cd "$d" && taskset -c 1 sipp -sn uac "127.0.0.1:$P" -i 127.0.0.1 -p "$C" -cp $((C + 1)) -mp $((C + 4)) \
			-nostdin -buff_size 4194304 -trace_counts -fd 1 -r "$rate" -m $((rate * DURATION)) -l 100000 \
			-timeout $((DURATION + 30)) > uac.out 2>&1) || true
		sleep 0.5
		kill -INT "$perf"
		wait "$perf" 2> /dev/null || true
		sleep 1
		kill -TERM "$uas" "$pid" 2> /dev/null || true
		wait "$uas" "$pid" 2> /dev/null || true
		# messages through the proxy: what the uac sent (retransmissions
		# included) and what it received, from its own counts file (written
		# when it exits; the uas is stopped by a signal and may not flush)
		sent=0
		for f in "$d"/uac_*_counts.csv; do
			s=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /_(Sent|Retrans|Recv)$/) c[i] = 1; next }
				{ t = 0; for (i in c) t += $i } END { print t + 0 }' "$f")
			sent=$((sent + s))
		done
		awk -F, -v m="$sent" -v rate="$rate" -v sys="$sys" '
			$3 ~ /raw_syscalls/ { all = $1 } $3 ~ /io_uring_enter/ { iu = $1 } $3 ~ /sys_enter_recvmsg$/ { rm = $1 }
			$3 ~ /recvmmsg/ { rmm = $1 } $3 ~ /sendmsg/ { sm = $1 } $3 ~ /recvfrom/ { rf = $1 } $3 ~ /sendto/ { st = $1 }
			$3 ~ /membarrier/ { mb = $1 }
			END { m = m > 0 ? m : 1; printf "%s\t%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\n", rate, sys, m, all / m, iu / m, rm / m, rmm / m, sm / m, rf / m, st / m, mb / m }' "$d/perf.csv"
	done
done | tee "$OUT/syscalls.tsv"
