#!/bin/bash
# bench/register-profile.sh strace|wall|callgrind|time|reload [N]: where qosd spends a `register` (class std of
# the bench, the figure "apply: limits alone, socket call"). qosd runs under strace -f -c or
# valgrind --tool=callgrind (neither moves with the machine's load) while bench/qapply makes N
# containers (default 200) and registers each over the socket; `time` runs it plain and prints
# qapply's medians. Prints the per-register syscall counts (strace) or instructions (callgrind,
# the start-up's instructions taken out by a run with N=0 first). Needs root; everything is named
# qosd-bench-<pid>-... and removed on exit. QB_N_KNOWN=K: K more containers known (matched) first.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build/rel}
MODE=${1:-strace}
N=${2:-200}
KNOWN=${QB_N_KNOWN:-0}
. "$SRC/bench/profile-lib.sh"
cc "${CF[@]}" -o "$T/qapply" "$SRC/bench/qapply.c" || exit 1
cc "${CF[@]}" -o "$T/scale" "$SRC/bench/scale.c" -lpthread || exit 1
cc "${CF[@]}" -o "$T/floor" "$SRC/bench/floor.c" -lpthread || exit 1
[[ -n ${QB_METRICS_PORT:-} ]] && echo "metrics_listen = 127.0.0.1:$QB_METRICS_PORT" >>"$T/qosd.conf"
profile_cgroups /apply /scale || exit 1
((KNOWN > 0)) && { "$T/scale" mk "$CGP/scale" "$KNOWN" || exit 1; }

case $MODE in
strace) WRAP=(strace -f -c -o "$T/strace.out") ;;
# wall time spent in each syscall (strace -c counts system time, which misses waits: fsync)
wall) WRAP=(strace -f -T -o "$T/strace.out") ;;
callgrind) WRAP=(valgrind --tool=callgrind --callgrind-out-file="$T/cg.out") ;;
time) WRAP=() ;;
# reload: qosd plain; strace -c attached for one reload that changes pids.limit of the
# QB_N_KNOWN matched containers (N registers are made first as usual)
reload) WRAP=() ;;
# rss: qosd plain; its memory after adopting the QB_N_KNOWN (and QB_SCRAPES scrapes of its metrics
# endpoint on 127.0.0.1:QB_METRICS_PORT, when set)
rss) read -r -a WRAP <<<"${QB_WRAP:-}" ;;
*) echo "usage: $0 strace|wall|callgrind|time|reload [N]" >&2; exit 2 ;;
esac
"${WRAP[@]}" "$SRC/$B/qosd" --config-dir "$T/conf.d" --config "$T/qosd.conf" --state-dir "$T/state" \
	--socket "$T/s" --cgroupfs "$CGR" >"$T/qosd.log" 2>&1 &
QP=$!
for _ in $(seq 600); do
	if "$SRC/$B/qosctl" -s "$T/s" list >"$T/list" 2>/dev/null; then
		(($(grep -c ' ok' "$T/list") >= KNOWN)) && break
	fi
	sleep 0.1
done
"$T/qapply" socket "$T/s" "$CGP/apply" "$N" || { tail "$T/qosd.log" >&2; exit 1; }
# time: the floor beside it (the knobs of class std written and read back on raw dirfds)
[[ $MODE == time ]] && "$T/floor" limits "$CGP/apply" "$N"
if [[ $MODE == rss ]]; then
	for _ in $(seq "${QB_SCRAPES:-0}"); do
		curl -s "http://127.0.0.1:$QB_METRICS_PORT/metrics" | wc -c
	done
	sleep 2
	[[ -d /proc/$QP ]] || { echo "qosd is gone:" >&2; tail -20 "$T/qosd.log" >&2; exit 1; }
	grep -E "VmRSS|VmHWM|RssAnon|RssFile" "/proc/$QP/status"
	awk '/^[0-9a-f]+-/ { name = $6 } /^Rss:/ && $2 > 1000 { print $2 " kB " name }' "/proc/$QP/smaps"
	if command -v gdb >/dev/null; then
		# in use vs kept by malloc: its own statistics (on qosd's stderr), then a trim
		gdb -p "$QP" -batch -ex 'call (void) malloc_stats()' -ex 'call (int) malloc_trim(0)' >/dev/null 2>&1
		tail -8 "$T/qosd.log"
		echo "after malloc_trim(0): $(grep VmRSS "/proc/$QP/status")"
	fi
fi
if [[ $MODE == reload ]]; then
	QD=$QP
	strace -f ${QB_STRACE_OPTS:--c} -o "$T/reload.strace" -p "$QD" 2>/dev/null &
	SP=$!
	sleep 1
	bench_policy "$T/conf.d/bench.conf" "$CGP" 300 300
	"$T/scale" reload "$T/s" "$CGP/scale" "$KNOWN" 300
	sleep 0.5
	kill -INT "$SP"
	wait "$SP"
	echo "syscalls of qosd during one reload touching $KNOWN containers:"
	head -${QB_LINES:-25} "$T/reload.strace"
fi
# qosd itself (under strace or valgrind, QP is the wrapper): its exit ends the wrapper
QD=$(pgrep -P "$QP" -x qosd || echo "$QP")
[[ $MODE == callgrind ]] && QD=$QP
kill -TERM "$QD"
wait "$QP"
QP=
case $MODE in
strace) echo "syscalls of qosd over $N registers (+ unregisters), start-up included:"
	cat "$T/strace.out" ;;
wall) cp "$T/strace.out" "${QB_OUT:-/tmp}/register-$N.strace"
	echo "wall time of qosd's syscalls over $N registers (+ unregisters), start-up included:"
	sed -n 's/^[0-9]* *\([a-z0-9_]*\)(.*<\([0-9.]*\)>$/\1 \2/p' "$T/strace.out" |
		awk '{ n[$1]++; t[$1] += $2 } END { for (k in t) printf "%10.1f ms %7d %s\n", t[k] * 1000, n[k], k }' |
		sort -rn | head -25 ;;
callgrind) callgrind_annotate "$T/cg.out" 2>/dev/null | head -40
	cp "$T/cg.out" "${QB_OUT:-/tmp}/register-$N.callgrind" && echo "kept ${QB_OUT:-/tmp}/register-$N.callgrind" ;;
esac
uptime
