#!/bin/bash
# make demo: qosd on the example policy (conf.d/), three workloads in cgroups its [match] rules
# catch, and what each one got beside what its class says. Removes everything it made.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${B:-build/rel}
if [[ $(id -u) -ne 0 ]]; then
	echo "make demo needs root: qosd writes cgroup limits." >&2
	exit 1
fi
export QOSD_BIN_DIR=$PWD/$B QOSD_HELPER_DIR=$PWD/$B/helpers QOSD_SRC=$PWD
source tests/func/lib.sh
# bash reports every background job it reaps after a kill ("... Killed"): the demo kills on purpose
exec 2> >(grep --line-buffered -v ' Killed  ' >&2)
qt_init demo
qt_cg_rmtree "$QT_CGP" # qt_init's own test cgroup: the demo uses the examples' names instead
QT_CGP=/qosd-demo      # the example policy's [match] rules name /qosd-demo/<class>-*
qt_cg_mkdir "$QT_CGP"
cp conf.d/*.conf "$QT_TMP/conf.d/"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say "qosd $(cg_mode() { [[ $QT_V == 2 ]] && echo "on cgroup v2" || echo "on cgroup v1 (hybrid/legacy)"; }; cg_mode), policy from conf.d/"
"$QOSCTL" check "$QT_TMP/conf.d" || exit 1
sed -n '/^\[class gold\]/,/^$/p;/^\[match\]/,/^$/p' conf.d/acme.conf | sed 's/^/    /'

say "starting qosd in the foreground (its log is prefixed 'qosd:')"
QT_SOCK=$QT_TMP/qosd.sock
echo "tenant_parent = $QT_CGP" >"$QT_TMP/qosd.conf" # tenant budgets: /qosd-demo/qosd-<tenant>
"$QOSD" --config-dir "$QT_TMP/conf.d" --state-dir "$QT_TMP/state" --socket "$QT_SOCK" \
	--cgroupfs "$QT_CGROOT" --config "$QT_TMP/qosd.conf" --log-level info 2>&1 | sed -u 's/^/    /' &
QT_PIDS+=($!)
qt_wait 10 "$QOSCTL" -s "$QT_SOCK" list >/dev/null || { echo "qosd did not start" >&2; exit 1; }
QT_QOSD_PID=$(pgrep -f -n -- "--socket $QT_SOCK")

# Three containers the [match] rules catch: gold, silver, bronze. Each burns CPU; silver holds
# 200 MiB (under its 256M limit); bronze tries to hold 100 MiB against its 64M limit.
declare -A ALLOC=([gold]=0 [silver]=200 [bronze]=100)
say "starting three workloads in /qosd-demo/{gold,silver,bronze}-1"
for cls in gold silver bronze; do
	qt_cg_mkdir "$QT_CGP/$cls-1"
done
sleep 0.5 # qosd applies on the inotify event; give it a moment before the workloads start
for cls in gold silver bronze; do
	qt_cg_run "$QT_CGP/$cls-1" "$QOSD_HELPER_DIR/qt-burn" 6
	if [[ ${ALLOC[$cls]} -gt 0 ]]; then
		qt_cg_run "$QT_CGP/$cls-1" "$QOSD_HELPER_DIR/qt-alloc" "${ALLOC[$cls]}" --hold 8
		eval "ALLOC_PID_$cls=$QT_LASTPID"
	fi
done

cpu_usec() { # CPU time used by cgroup $1, microseconds
	if [[ $QT_V == 2 ]]; then
		awk '/^usage_usec/ {print $2}' "$QT_CGROOT$1/cpu.stat"
	else
		echo $(($(cat "$QT_CGROOT/cpuacct$1/cpuacct.usage" 2>/dev/null || echo 0) / 1000))
	fi
}
mem_peak() {
	if [[ $QT_V == 2 ]]; then
		cat "$QT_CGROOT$1/memory.peak" 2>/dev/null || cat "$QT_CGROOT$1/memory.current"
	else
		cat "$QT_CGROOT/memory$1/memory.max_usage_in_bytes"
	fi
}
say "measuring CPU over 4 s"
declare -A U0
for cls in gold silver bronze; do U0[$cls]=$(cpu_usec "$QT_CGP/$cls-1"); done
t0=$(date +%s%N)
sleep 4
t1=$(date +%s%N)
declare -A U1
for cls in gold silver bronze; do U1[$cls]=$(cpu_usec "$QT_CGP/$cls-1"); done
wall_us=$(((t1 - t0) / 1000))

say "qosctl list"
"$QOSCTL" -s "$QT_SOCK" list

say "what each workload got (CPU is % of one CPU; this machine has $(nproc) CPUs)"
printf '%-10s %-14s %-12s %-14s %-16s %s\n' WORKLOAD "CLASS QUOTA" "MEASURED" "MEMORY LIMIT" "MEMORY PEAK" "OUTCOME"
for cls in gold silver bronze; do
	quota=$(sed -n "/^\[class $cls\]/,/^\[/p" conf.d/acme.conf | awk -F= '/^cpu.quota/ {gsub(/ /,"",$2); print $2}')
	mlimit=$(sed -n "/^\[class $cls\]/,/^\[/p" conf.d/acme.conf | awk -F= '/^memory.limit/ {gsub(/ /,"",$2); print $2}')
	used=$(((U1[$cls] - U0[$cls]) * 100 / wall_us))
	peak=$(awk -v b="$(mem_peak "$QT_CGP/$cls-1")" 'BEGIN { printf "%.1f", b / 1048576 }')
	outcome="burning CPU"
	if [[ ${ALLOC[$cls]} -gt 0 ]]; then
		pvar=ALLOC_PID_$cls
		if kill -0 "${!pvar}" 2>/dev/null; then
			outcome="holding ${ALLOC[$cls]} MiB"
		else
			outcome="OOM-killed trying to hold ${ALLOC[$cls]} MiB"
		fi
	fi
	printf '%-10s %-14s %-12s %-14s %-16s %s\n' "$cls-1" "${quota:-none}" "${used}%" "${mlimit:-none}" "${peak} MiB" "$outcome"
done

say "qosctl show gold-1 (desired, applied as read back from the kernel, source)"
"$QOSCTL" -s "$QT_SOCK" show gold-1

say "stopping: workloads, qosd (SIGTERM: limits stay), and every cgroup the demo made"
kill -TERM "$QT_QOSD_PID" 2>/dev/null
while kill -0 "$QT_QOSD_PID" 2>/dev/null; do sleep 0.1; done
QT_QOSD_PID=
for p in "${QT_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
for p in "${QT_PIDS[@]}"; do wait "$p" 2>/dev/null; done
QT_PIDS=()
qt_cg_rmtree "$QT_CGP"
left=$(find "$QT_CGROOT" -maxdepth 3 -type d \( -name 'qosd-demo' -o -name 'qosd-acme' -o -name 'qosd-globex' \) 2>/dev/null)
[[ -z $left ]] && echo "done: nothing left behind." || echo "left behind: $left"
