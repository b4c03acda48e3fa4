#!/bin/bash
# bench/detect-profile.sh strace|perf|callgrind|time [N]: what qosd spends per round of the detect row
# (bench/detect.c: mkdir under a [match] root in every hierarchy -> the class's limits read back,
# then rmdir), counts that do not move with the machine's load. qosd runs plain (started and
# settled before anything is counted); during N rounds (default 1000) it is watched by
#   strace: strace -f -c -p (syscalls per round, by name),
#   perf:   perf stat -p: task-clock, context switches (and instructions where the CPU counts them),
#   callgrind: qosd under valgrind --tool=callgrind, counters zeroed after 5 warm-up rounds and
#           dumped after the N (user-space instructions per round: where perf has no counters;
#           valgrind has no openat2, so qosd takes its openat + fstatfs fallback there),
#   time:   nothing (the row's medians, then the floor's: bench/floor.c inotify).
# QB_LOG_LEVEL=debug counts the passes that found a hierarchy's directory not made yet (retries).
# Needs root; everything is named qosd-bench-<pid>-... and removed on exit.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build/rel}
[[ $B == /* ]] || B=$SRC/$B # a build elsewhere (a before/after pair): B=/tmp/base/build/rel
MODE=${1:-strace}
N=${2:-1000}
case $MODE in strace | perf | callgrind | time) ;; *) echo "usage: $0 strace|perf|callgrind|time [N]" >&2; exit 2 ;; esac
. "$SRC/bench/profile-lib.sh"
cc "${CF[@]}" -o "$T/detect" "$SRC/bench/detect.c" || exit 1
cc "${CF[@]}" -o "$T/floor" "$SRC/bench/floor.c" -lpthread || exit 1
profile_cgroups /detect /floor || exit 1
WRAP=()
[[ $MODE == callgrind ]] && WRAP=(valgrind --tool=callgrind --callgrind-out-file="$T/cg.out")
"${WRAP[@]}" "$B/qosd" --config-dir "$T/conf.d" --config "$T/qosd.conf" --state-dir "$T/state" \
	--socket "$T/s" --cgroupfs "$CGR" --log-level "${QB_LOG_LEVEL:-info}" >"$T/qosd.log" 2>&1 &
QP=$!
for _ in $(seq 300); do
	"$B/qosctl" -s "$T/s" list >/dev/null 2>&1 && break
	sleep 0.05
done
sleep 0.3 # the start-up's compaction and save are behind it
case $MODE in
strace) strace -f ${QB_STRACE_OPTS:--c} -o "$T/out" -p "$QP" 2>/dev/null & SP=$! ;;
perf) perf stat -x, -e task-clock,context-switches,instructions:u,instructions:k -o "$T/out" \
	-p "$QP" & SP=$! ;;
callgrind) # warm valgrind up first (its first translation of the pass takes seconds)
	"$T/detect" "$CGP/detect" 5 >/dev/null 2>&1
	for h in "${HI[@]}"; do rmdir "$CGR/$h$CGP"/detect/d-* 2>/dev/null; done
	sleep 1
	callgrind_control -z "$QP" >/dev/null ;;
esac
[[ -n $SP ]] && sleep 1 # attached
"$T/detect" "$CGP/detect" "$N" || { tail "$T/qosd.log" >&2; exit 1; }
[[ -n $SP ]] && { sleep 0.3; kill -INT "$SP"; wait "$SP"; SP=; }
if [[ $MODE == callgrind ]]; then
	callgrind_control -d "$QP" >/dev/null
	kill -TERM "$QP"
	wait "$QP"
	QP=
fi
case $MODE in
strace) [[ -n ${QB_STRACE_OPTS:-} ]] && { cp "$T/out" "${QB_OUT:-/tmp}/detect-$N.strace"; echo "kept ${QB_OUT:-/tmp}/detect-$N.strace"; exit 0; }
	echo "syscalls of qosd over $N rounds (mkdir + rmdir), per round:"
	awk -v n="$N" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
		e = NF == 6 ? sprintf(" (%.2f failed)", $5 / n) : ""
		printf "%8.2f %s%s\n", $4 / n, $NF, e; t += $4 } END { printf "%8.2f in all\n", t / n }' \
		"$T/out" | sort -rn ;;
perf) echo "qosd over $N rounds, per round:"
	awk -F, -v n="$N" '$1 ~ /^[0-9.]+$/ { printf "%12.1f %s %s\n", $1 / n, $2, $3 }' "$T/out" ;;
callgrind) echo "qosd's user-space instructions over $N rounds:"
	callgrind_annotate "$T/cg.out".*1 2>/dev/null | sed -n '/^Ir/,$p' | head -${QB_LINES:-40}
	awk -v n="$N" ' /^summary:/ { printf "%.0f instructions per round\n", $2 / n }' "$T/cg.out".*1
	cp "$T/cg.out".*1 "${QB_OUT:-/tmp}/detect-$N.callgrind" && echo "kept ${QB_OUT:-/tmp}/detect-$N.callgrind" ;;
time) "$T/floor" inotify "$CGP/floor" "$N" ;;
esac
# QB_LOG_LEVEL=debug: how often a pass found a hierarchy's directory not made yet (a retry)
[[ ${QB_LOG_LEVEL:-} == debug ]] && { echo "retries: $(grep -c ": retry in " "$T/qosd.log") in $N rounds, by reason:"; sed -n "s/.*: retry in [0-9]* ms: //p" "$T/qosd.log" | sed "s/d-[0-9]*/d-N/g" | sort | uniq -c; }
uptime
