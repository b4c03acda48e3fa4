#!/bin/bash
# qos-hook's own cost, from exec to exit: N runs (default 200) of "qos-hook createRuntime" each
# registering a fresh container id through a running qosd (a class with four cgroup knobs, reset
# between runs so that every registration writes them), then the same with qosd stopped (the hook
# loads the policy and applies the limits itself). Beside them, the floor measured the same way in
# the same run: fork + exec + exit of /bin/true, and of "qos-hook --help" (the hook's start-up with
# nothing to do). Prints median and p99 of each, in microseconds.
#   usage: bench/hook-bench.sh [N]        B=build/rel (the binaries), as root
# Timing is bash's $EPOCHREALTIME around each run, so every figure includes the fork and exec of
# the measured program; the floor line shows that part.
set -uo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
B=${B:-build/rel}
if [[ $(id -u) -ne 0 ]]; then
	echo "hook-bench: needs root (cgroups, qosd)" >&2
	exit 1
fi
for p in qosd qosctl qos-hook; do
	[[ -x $B/$p ]] || {
		echo "hook-bench: $B/$p is missing (make B=$B)" >&2
		exit 1
	}
done
export QOSD_BIN_DIR=$PWD/$B
source tests/func/lib.sh
export ASAN_OPTIONS=detect_leaks=0
qt_init hook-bench

qt_policy bench <<EOF
[class gold]
cpu.shares = 512
cpu.quota = 50%
memory.limit = 256M
pids.limit = 128
EOF
CG=$QT_CGP/c
qt_cg_mkdir "$CG"
qt_cg_run "$CG" sleep 3600
PID=$QT_LASTPID
qt_start_qosd --log-level warning || exit 1
HOOK=("$QOSHOOK" --socket "$QT_SOCK" --config-dir "$QT_TMP/conf.d" --state-dir "$QT_TMP/state"
	--config /dev/null)

if [[ $QT_V == 2 ]]; then
	RESET=("cpu cpu.weight 100" "cpu cpu.max max 100000" "memory memory.max max" "pids pids.max max")
else
	RESET=("cpu cpu.shares 1024" "cpu cpu.cfs_quota_us -1" "memory memory.limit_in_bytes -1"
		"pids pids.max max")
fi
reset_knobs() {
	local r c f v
	for r in "${RESET[@]}"; do
		read -r c f v <<<"$r"
		echo "$v" >"$(qt_cgdir "$c" "$CG")/$f" 2>/dev/null
	done
}

state() {
	printf '{"ociVersion":"1.0.2","id":"%s","status":"creating","pid":%d,"bundle":"/b",' "$1" "$PID"
	printf '"annotations":{"qosd.io/tenant":"bench","qosd.io/class":"gold"}}'
}

# stats NAME FILE: median and p99 of the microsecond figures in FILE
stats() {
	sort -n "$2" | awk -v name="$1" '{ v[NR] = $1 } END {
		p99 = int(NR * 0.99 + 0.999); if (p99 < 1) p99 = 1
		printf "%-34s n=%d  median %6d us  p99 %6d us\n", name, NR, v[int((NR + 1) / 2)], v[p99]
	}'
}

usec() { # usec T0 T1: $EPOCHREALTIME difference in microseconds
	local a=${1/./} b=${2/./}
	echo $((10#$b - 10#$a))
}

# run_hook FILE ID STAGE: time one hook run, append to FILE; fail loudly
run_hook() {
	local t0 t1 rc
	state "$2" >"$QT_TMP/state.json"
	t0=$EPOCHREALTIME
	"${HOOK[@]}" "$3" <"$QT_TMP/state.json" 2>>"$QT_TMP/hook.err"
	rc=$?
	t1=$EPOCHREALTIME
	[[ $rc -eq 0 ]] || {
		echo "hook-bench: qos-hook exited $rc:" >&2
		tail -3 "$QT_TMP/hook.err" >&2
		exit 1
	}
	usec "$t0" "$t1" >>"$1"
}

for ((i = 0; i < N; i++)); do
	t0=$EPOCHREALTIME
	/bin/true
	t1=$EPOCHREALTIME
	usec "$t0" "$t1" >>"$QT_TMP/floor"
done

# the hook's own start-up (dynamic linking of its libraries), with nothing to do
for ((i = 0; i < N; i++)); do
	t0=$EPOCHREALTIME
	"$QOSHOOK" --help >/dev/null
	t1=$EPOCHREALTIME
	usec "$t0" "$t1" >>"$QT_TMP/startup"
done

for ((i = 0; i < N; i++)); do
	reset_knobs
	run_hook "$QT_TMP/up" "bench-$i" createRuntime
	printf '{"ociVersion":"1.0.2","id":"bench-%d","status":"stopped"}' $i |
		"${HOOK[@]}" poststop || exit 1
done

qt_stop_qosd
for ((i = 0; i < N; i++)); do
	reset_knobs
	run_hook "$QT_TMP/down" "bench-d$i" createRuntime
	rm -f "$QT_TMP/state/pending/bench-d$i.json"
done

echo "qos-hook exec -> exit, $N runs each ($B, cgroup v$QT_V):"
stats "floor: fork+exec+exit of /bin/true" "$QT_TMP/floor"
stats "qos-hook --help (start-up only)" "$QT_TMP/startup"
stats "register through qosd" "$QT_TMP/up"
stats "qosd down: apply + pending record" "$QT_TMP/down"
