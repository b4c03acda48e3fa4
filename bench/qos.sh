#!/bin/bash
# make bench-qos: batch beside latency, measured. A latency-sensitive UDP server on loopback
# (requests of a fixed CPU cost at a fixed rate; the client measures each response from its
# scheduled send time) in one cgroup, batch cgroups running CPU, memory and I/O hogs in others.
# One run, side by side:
#   alone      the server and its client, nothing else
#   hogs       the hogs beside it, no policy
#   shares     static: latency cpu.shares 10240, batch cpu.shares 2
#   quota      static: batch cpu.quota 50% each
#   idle       static: latency cpu.shares 10240, batch cpu.idle = 1 (what priority = batch implies)
#   qosd       qosd's classes: priority = latency / batch (which implies cpu.idle = 1), batch
#              bounded by floor.* keys
# Goal (issue 17): server p99 with the hogs within 1.2x of alone, while the batch cgroups get at
# least 80 % of the CPU the server leaves unused. bench/README.md says how to read the table.
# Knobs: DUR (s per scenario, default 30), RATE (requests/s, 200), WORK_US (CPU per request,
# 1000), HOG_MB (memory hog, 256), HOGS (which hogs run: a comma list of cpu, mem, io; default
# all, one kind at a time attributes what each costs the server), IO_DIR (where the io hog writes,
# default the run's tmp dir; its disk gets the batch class's blkio.write_bps = IO_CEIL, default
# 200M, with floor.blkio = 10%), SCEN (the scenarios to run, default all: "alone hogs shares
# quota idle qosd"; the table's ratio needs alone), REPS (rounds of all scenarios, interleaved,
# default 1; the table shows medians and how many rounds met the goal), LATBENCH (a prebuilt
# latbench: the VM has no compiler), FLOOR_QUOTA (the batch class's floor.cpu.quota, default half
# the CPUs), PARENT_WEIGHT (v1 cpu.shares, v2 cpu.weight of the bench's parent cgroup against the
# rest of the machine: default the kernel's; on a machine others use, a high one, e.g. 262144 / 10000,
# keeps their work off the figures, which are then not comparable with a default run), QB_KEEP=1.
# Needs root. Everything is named qosd-bench-<pid>-...
# and removed on every exit; only processes started here are stopped.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$SRC" || exit 1
B=${B:-build/rel}
DUR=${DUR:-30}
RATE=${RATE:-200}
WORK_US=${WORK_US:-1000}
HOG_MB=${HOG_MB:-256}
HOGS=${HOGS:-cpu,mem,io}
SCEN=${SCEN:-alone hogs shares quota idle qosd}
REPS=${REPS:-1}
IO_CEIL=${IO_CEIL:-200M}
NCPU=$(nproc)

[[ $(id -u) == 0 ]] || { echo "make bench-qos: needs root (cgroups)" >&2; exit 1; }
for p in qosd qosctl; do
	[[ -x $B/$p ]] || { echo "make bench-qos: $B/$p is missing (make all)" >&2; exit 1; }
done

TAG=qosd-bench-$$
CGP=/$TAG
TMP=$(mktemp -d "/tmp/$TAG.XXXXXX")
PORT=$((20000 + $$ % 20000))
CGROOT=/sys/fs/cgroup
PIDS=()
QOSD_PID=
UNI=
if [[ $(stat -f -c %T $CGROOT) == cgroup2fs ]]; then
	V=2 HIERS=(.)
else
	V=1 HIERS=(cpu cpuacct memory blkio)
	# PSI of a hybrid host: the cgroup2 twin of the server's cgroup, as runc makes it
	[[ -f $CGROOT/unified/cgroup.procs ]] && UNI=$CGROOT/unified
fi
GROUPS_=(lat-srv lat-cli batch-cpu batch-mem batch-io)

say() { echo "bench-qos: $*" >&2; }
dir() { if [[ $V == 2 ]]; then echo "$CGROOT$2"; else echo "$CGROOT/$1$2"; fi; }

stop_all() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	PIDS=()
}
stop_qosd() {
	[[ -n $QOSD_PID ]] || return 0
	kill -TERM "$QOSD_PID" 2>/dev/null
	wait "$QOSD_PID" 2>/dev/null
	QOSD_PID=
}
rmtree() {
	local h d
	for h in "${HIERS[@]}" ${UNI:+unified}; do
		d=$( [[ $h == unified ]] && echo "$UNI$CGP" || dir "$h" "$CGP")
		[[ -d $d ]] || continue
		find "$d" -depth -type d | while read -r x; do rmdir "$x" 2>/dev/null || { sleep 0.2; rmdir "$x"; }; done
	done
}
cleanup() {
	stop_all
	stop_qosd
	rmtree
	[[ ${QB_KEEP:-0} == 1 ]] && say "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkgroups() {
	local g h
	if [[ $V == 2 ]]; then
		for c in cpu memory io; do echo "+$c" >"$CGROOT/cgroup.subtree_control" 2>/dev/null; done
		mkdir -p "$CGROOT$CGP"
		for c in cpu memory io; do echo "+$c" >"$CGROOT$CGP/cgroup.subtree_control" 2>/dev/null; done
	fi
	mkdir -p "$(dir cpu "$CGP")"
	if [[ -n ${PARENT_WEIGHT:-} ]]; then
		echo "$PARENT_WEIGHT" >"$(dir cpu "$CGP")/$([[ $V == 2 ]] && echo cpu.weight || echo cpu.shares)" ||
			{ say "PARENT_WEIGHT=$PARENT_WEIGHT: not accepted"; exit 1; }
		say "the bench's parent cgroup has weight $PARENT_WEIGHT against the rest of the machine"
	fi
	for g in "${GROUPS_[@]}"; do
		for h in "${HIERS[@]}"; do mkdir -p "$(dir "$h" "$CGP/$g")"; done
		[[ -n $UNI ]] && mkdir -p "$UNI$CGP/$g"
	done
}

# the cgroup.procs files of GROUP: every hierarchy, and the unified twin
files_of() {
	local h
	for h in "${HIERS[@]}"; do echo "$(dir "$h" "$CGP/$1")/cgroup.procs"; done
	[[ -n $UNI ]] && echo "$UNI$CGP/$1/cgroup.procs"
	return 0
}
# a shell that joins the cgroup.procs files given and execs the command: "$ENTER" N FILES... CMD...
ENTER='for f in "${@:2:$1}"; do echo $$ >"$f" || exit 97; done; shift $(($1 + 1)); exec "$@"'
# run_in GROUP CMD...: run CMD in GROUP, in the foreground
run_in() {
	local files
	mapfile -t files < <(files_of "$1")
	shift
	bash -c "$ENTER" run "${#files[@]}" "${files[@]}" "$@"
}
# run GROUP CMD...: the same in the background; its pid (the command's own) in LAST
run() {
	local files
	mapfile -t files < <(files_of "$1")
	shift
	bash -c "$ENTER" run "${#files[@]}" "${files[@]}" "$@" &
	LAST=$!
	PIDS+=("$LAST")
}

# CPU time of GROUP so far, in microseconds, into CPU_US. Builtins only (no fork): with a high
# PARENT_WEIGHT the hogs starve this shell, and a forked reader could then wait seconds between a
# CPU sample and its clock reading (batch at 107 % "of unused" came from that).
cpu_of() {
	local k v
	CPU_US=0
	if [[ $V == 2 ]]; then
		while read -r k v; do [[ $k == usage_usec ]] && CPU_US=$v; done <"$CGROOT$CGP/$1/cpu.stat"
	else
		read -r v <"$CGROOT/cpuacct$CGP/$1/cpuacct.usage"
		CPU_US=$((v / 1000))
	fi
}
# sample: the server side's CPU (server and client, S_SRV), the batch side's (S_BAT), and the clock
# in the middle of those reads (S_T), all in microseconds
sample() {
	local t=${EPOCHREALTIME/./} g
	S_SRV=0 S_BAT=0
	for g in lat-srv lat-cli; do cpu_of "$g"; S_SRV=$((S_SRV + CPU_US)); done
	for g in batch-cpu batch-mem batch-io; do cpu_of "$g"; S_BAT=$((S_BAT + CPU_US)); done
	S_T=$(((t + ${EPOCHREALTIME/./}) / 2))
}

# CPU time of the kernel's threads (children of kthreadd: workqueues, the journal, the flushers,
# kswapd, softirq threads) between two calls, in microseconds: "kthread_mark FILE" keeps each
# thread's time, "kthread_since FILE" sums what each thread still there used since (a thread made
# meanwhile counts whole; one that exited meanwhile is lost: workqueue threads come and go). They
# run outside every container, at the top of the cgroup tree, where the bench's parent competes
# with them at its own weight.
TICK_US=$((1000000 / $(getconf CLK_TCK 2>/dev/null || echo 100)))
kthread_ticks() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk '{ pid = $1; sub(/^.*\) /, ""); if ($2 == 2) print pid, $12 + $13 }'
}
kthread_mark() { kthread_ticks >"$1"; }
kthread_since() {
	kthread_ticks | awk -v t="$TICK_US" 'NR == FNR { was[$1] = $2; next }
		{ d = $2 - was[$1]; if (d > 0) s += d } END { printf "%d\n", s * t }' "$1" -
}

start_hogs() {
	local i
	[[ ,$HOGS, == *,cpu,* ]] &&
		for ((i = 0; i < NCPU; i++)); do run batch-cpu "$TMP/latbench" hog cpu $((5 * (DUR + 6))); done
	[[ ,$HOGS, == *,mem,* ]] && run batch-mem "$TMP/latbench" hog mem $((5 * (DUR + 6))) "$HOG_MB"
	[[ ,$HOGS, == *,io,* ]] && run batch-io "$TMP/latbench" hog io $((5 * (DUR + 6))) "$IO_DIR"
	return 0
}

# measure NAME: one scenario with whatever is running; appends a result line
measure() {
	local name=$1 out kt1 srv t0 srv0 bat0
	run lat-srv "$TMP/latbench" server "$PORT" "$WORK_US"
	srv=$LAST
	sleep 1
	kthread_mark "$TMP/kthreads"
	sample
	t0=$S_T srv0=$S_SRV bat0=$S_BAT
	out=$(run_in lat-cli "$TMP/latbench" client "$PORT" "$RATE" "$DUR")
	sample
	kt1=$(kthread_since "$TMP/kthreads")
	kill -9 "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	echo "$name round=$ROUND $out wall_us=$((S_T - t0)) srv_cpu_us=$((S_SRV - srv0)) batch_cpu_us=$((S_BAT - bat0)) kthread_cpu_us=$kt1" |
		tee -a "$TMP/results" >&2
}

start_qosd() { # start_qosd LATENCY-CLASS-KEYS BATCH-CLASS-KEYS
	mkdir -p "$TMP/conf.d" "$TMP/state"
	rm -f "$TMP/conf.d/"*
	printf '[class lat]\n%s\n[class batch]\n%s\n[match]\n%s/lat-* = lat\n%s/batch-* = batch\n' \
		"$1" "$2" "$CGP" "$CGP" >"$TMP/conf.d/bench.conf"
	printf 'drift_interval = 0s\npressure_interval = 500ms\n' >"$TMP/qosd.conf"
	"$B/qosd" --config-dir "$TMP/conf.d" --state-dir "$TMP/state" --socket "$TMP/qosd.sock" \
		--cgroupfs "$CGROOT" --config "$TMP/qosd.conf" >>"$TMP/qosd.log" 2>&1 &
	QOSD_PID=$!
	for _ in $(seq 100); do [[ -S $TMP/qosd.sock ]] && break; sleep 0.1; done
	sleep 1 # adoption of the existing cgroups
}

IO_DIR=${IO_DIR:-$TMP}
if [[ -n ${LATBENCH:-} ]]; then
	cp "$LATBENCH" "$TMP/latbench" || exit 1
else
	cc -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$TMP/latbench" bench/latbench.c \
		-lpthread || exit 1
fi
mkgroups
say "v$V, $NCPU CPUs, $DUR s per scenario, $RATE req/s of ${WORK_US} us CPU each"

want() { [[ " $SCEN " == *" $1 "* ]]; }
memkeys=
[[ $V == 2 ]] && memkeys="memory.high = $((HOG_MB * 2))M
floor.memory.high = $((HOG_MB / 4))M"
# one round: every scenario asked for, in order; the hogs start after alone and stop at the end
one_round() {
	want alone && measure alone
	start_hogs
	want hogs && measure hogs
	if want shares; then
		start_qosd "cpu.shares = 10240" "cpu.shares = 2"
		measure shares
		stop_qosd
	fi
	if want quota; then
		start_qosd "cpu.shares = 1024" "cpu.quota = 50%"
		measure quota
		stop_qosd
	fi
	if want idle; then
		start_qosd "cpu.shares = 10240" "cpu.idle = 1"
		measure idle
		stop_qosd
	fi
	# priority = batch without a weight implies cpu.idle = 1 (SCHED_IDLE group)
	if want qosd; then
		start_qosd "priority = latency
cpu.shares = 10240" "priority = batch
cpu.quota = $((NCPU * 100))%
floor.cpu.quota = ${FLOOR_QUOTA:-$((NCPU * 50))}%
blkio.write_bps = $IO_DIR $IO_CEIL
floor.blkio = 10%
$memkeys"
		measure qosd
		grep -E 'controller' "$TMP/qosd.log" | tail -8 | sed 's/^/  # /' >&2
		: >"$TMP/qosd.log"
	fi
	stop_qosd
	stop_all
}
for ((ROUND = 1; ROUND <= REPS; ROUND++)); do
	((REPS > 1)) && say "round $ROUND of $REPS"
	one_round
done

# ---- the table ----
# One row per scenario. With REPS > 1 each figure is the median over the rounds, p99/alone is the
# median of each round's p99 over the same round's alone p99 (the rounds interleave, so a slow
# minute of the machine weighs on both), and "met" counts the rounds whose own figures meet the
# goal. A row whose server + batch CPU exceeds CPUs x wall time by more than 2 % is flagged: the
# CPU accounting of that round cannot be trusted (it is printed, not hidden).
awk -v ncpu="$NCPU" -v reps="$REPS" '
function kv(k,   i, a) { for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == k) return a[2] } return "" }
function median(list,   a, n, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	if (n == 0) return 0
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	n = $1; r = kv("round"); if (r == "") r = 1
	if (!(n in seen)) { seen[n] = 1; order[++nn] = n }
	P50[n] = P50[n] " " kv("p50_us"); P99[n] = P99[n] " " kv("p99_us"); LOST[n] += kv("lost")
	w = kv("wall_us"); sv = kv("srv_cpu_us"); bt = kv("batch_cpu_us")
	SRV[n] = SRV[n] " " sv; BAT[n] = BAT[n] " " bt; KT[n] = KT[n] " " kv("kthread_cpu_us")
	unused = ncpu * w - sv
	SH[n] = SH[n] " " (unused > 0 ? 100 * bt / unused : 0)
	if (sv + bt > 1.02 * ncpu * w) BAD[n] = BAD[n] " " r
	if (n == "alone") base[r] = kv("p99_us")
	line[NR] = n; lr[NR] = r; lp99[NR] = kv("p99_us"); lsh[NR] = (unused > 0 ? 100 * bt / unused : 0)
}
END {
	for (i = 1; i <= NR; i++) {
		n = line[i]; r = lr[i]
		ratio = base[r] > 0 ? lp99[i] / base[r] : 0
		RAT[n] = RAT[n] " " ratio; RATS[n] = RATS[n] sprintf(" %.2f", ratio)
		if (ratio <= 1.2 && lsh[i] >= 80) MET[n]++
	}
	printf "%-8s %9s %9s %8s %6s %10s %10s %9s %10s  %-7s", "scenario", "p50 us", "p99 us",
		"p99/alone", "lost", "server cpu", "batch cpu", "of unused", "kernel thr", "goal"
	if (reps > 1) printf "  %-9s %s", "met in", "p99/alone by round"
	printf "\n"
	for (k = 1; k <= nn; k++) {
		n = order[k]
		ratio = median(RAT[n]); share = median(SH[n])
		goal = (n == "alone") ? "-" : (ratio <= 1.2 && share >= 80 ? "met" : "not met")
		printf "%-8s %9d %9d %8.2fx %6d %9.2fs %9.2fs %8.1f%% %9.2fs  %-7s", n, median(P50[n]),
			median(P99[n]), ratio, LOST[n], median(SRV[n]) / 1e6, median(BAT[n]) / 1e6, share,
			median(KT[n]) / 1e6, goal
		if (reps > 1) printf "  %-9s%s", (n == "alone" ? "-" : (MET[n] + 0) "/" reps), RATS[n]
		printf "\n"
	}
	for (k = 1; k <= nn; k++)
		if (BAD[order[k]] != "")
			printf "! %s, round(s)%s: server + batch CPU above CPUs x wall time: that accounting is wrong\n", order[k], BAD[order[k]]
}' "$TMP/results"
