#!/bin/bash
# make bench: qosd's figures beside the floor (raw syscalls / raw netlink) measured in the same
# run, and beside the tools people use today (libcgroup's API, cgcreate + cgset, tc). Needs root.
# Everything it makes is named qosd-bench-<pid>-... and removed on every exit. bench/README.md
# says how each figure is taken. Knobs: N_APPLY, N_CLI, N_DETECT, N_TC, N_TC_CLI, N_SCALE,
# IDLE_S, QB_KEEP=1 (keep the temp dir), QB_SKIP="tc scale ..." (skip sections).
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$SRC" || exit 1
B=${B:-build/rel}
N_APPLY=${N_APPLY:-1000}
N_CLI=${N_CLI:-30}
N_DETECT=${N_DETECT:-1000}
N_TC=${N_TC:-50}
N_TC_CLI=${N_TC_CLI:-10}
N_SCALE=${N_SCALE:-10000}
IDLE_S=${IDLE_S:-10}
QB_SKIP=${QB_SKIP:-}

if [[ $(id -u) != 0 ]]; then
	echo "make bench: needs root (cgroups, netns, veth)" >&2
	exit 1
fi
for p in qosd qosctl qos-hook qos-hook-apply; do
	[[ -x $B/$p ]] || { echo "make bench: $B/$p is missing (make all)" >&2; exit 1; }
done

TAG=qosd-bench-$$
CGP=/$TAG
TMP=$(mktemp -d "/tmp/$TAG.XXXXXX")
chmod 700 "$TMP"
BIN=$TMP/bin
NS=$TAG
VH=qb$$h
VC=qb$$c
export QB_IFB=qb$$ifb
QOSD_PIDS=()
CGROOT=/sys/fs/cgroup
if [[ $(stat -f -c %T $CGROOT) == cgroup2fs ]]; then
	V=2 HIERS=(.)
else
	V=1 HIERS=(cpu cpuset memory pids)
	# the containers' blkio groups (qapply makes them as runc does; qosd refuses a task in the
	# blkio root)
	[[ -d $CGROOT/blkio ]] && HIERS+=(blkio)
fi

say() { echo "bench: $*" >&2; }

cleanup() {
	local p h
	for p in "${QOSD_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${QOSD_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	# ifb devices qosd made for our veth (alias "qosd veth=IFINDEX ...") and our own
	if [[ -e /sys/class/net/$VH ]]; then
		local ix
		ix=$(cat /sys/class/net/$VH/ifindex)
		for p in /sys/class/net/*; do
			[[ -e $p/ifalias ]] && grep -q "^qosd veth=$ix " "$p/ifalias" 2>/dev/null &&
				ip link del "${p##*/}" 2>/dev/null
		done
	fi
	ip link del "$QB_IFB" 2>/dev/null
	ip link del "$VH" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	for h in "${HIERS[@]}"; do
		[[ -d $CGROOT/$h$CGP ]] || continue
		# tasks left by a failed run: back to the root
		find "$CGROOT/$h$CGP" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r p; do
			echo "$p" >"$CGROOT/$h/cgroup.procs" 2>/dev/null
		done
		find "$CGROOT/$h$CGP" -depth -type d -exec rmdir {} + 2>/dev/null
		[[ -d $CGROOT/$h$CGP ]] && { sleep 0.5; find "$CGROOT/$h$CGP" -depth -type d -exec rmdir {} + 2>/dev/null; }
		[[ -d $CGROOT/$h$CGP ]] && say "cleanup: could not remove $CGROOT/$h$CGP"
	done
	if [[ ${QB_KEEP:-0} == 1 ]]; then say "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- build the bench programs ----
mkdir -p "$BIN"
CF=(-std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror)
build() { # build NAME LIBS...
	local n=$1
	shift
	cc "${CF[@]}" $(pkg-config --cflags "$@" 2>/dev/null) -o "$BIN/$n" "bench/$n.c" \
		$(pkg-config --libs "$@" 2>/dev/null) -lpthread
}
build floor || exit 1
build qapply || exit 1
build detect || exit 1
build scale || exit 1
build mscrape || exit 1
HAVE_LIBCG=0 HAVE_NL=0
build libcg libcgroup 2>/dev/null && HAVE_LIBCG=1
build tcbench libnl-route-3.0 && HAVE_NL=1

# ---- results: RESULT key median p99 n ----
RES=$TMP/results
: >"$RES"
run() { # run CMD...: keep its RESULT lines; a failing step is reported, not fatal
	local out
	out=$("$@" 2>"$TMP/last.err")
	local rc=$?
	grep '^RESULT ' <<<"$out" >>"$RES"
	if ((rc != 0)); then
		say "failed: ${*##*/}: $(tail -3 "$TMP/last.err")"
		return 1
	fi
}
get() { awk -v k="$1" -v f="${2:-2}" '$2 == k { v = $(f + 1) } END { print v }' "$RES"; }
skipping() { [[ " $QB_SKIP " == *" $1 "* ]]; }
note() { echo "$1: $2" >>"$TMP/notes"; }
# the hook's floor: a static no-op (libc.a is in libc6-dev); a dynamic one if static fails
cc -O2 -static -o "$BIN/noop" bench/noop.c 2>/dev/null || cc -O2 -o "$BIN/noop" bench/noop.c || exit 1
ldd "$BIN/noop" 2>&1 | grep -q 'not a dynamic' || note floor.exec_static "a dynamic no-op (no libc.a)"

# ---- cgroups ----
cg_mkdir() { # cg_mkdir PATH: in every hierarchy; v1 cpuset made usable; v2 controllers enabled
	local p=$1 h parent
	if [[ $V == 2 ]]; then
		parent=$(dirname "$p")
		for c in cpu cpuset memory pids; do
			echo "+$c" >"$CGROOT${parent%/}/cgroup.subtree_control" 2>/dev/null
		done
		mkdir -p "$CGROOT$p"
		return
	fi
	for h in "${HIERS[@]}"; do mkdir -p "$CGROOT/$h$p" || return 1; done
	local d=$CGROOT/cpuset$p
	[[ -s $d/cpuset.cpus ]] || cat "$(dirname "$d")/cpuset.cpus" >"$d/cpuset.cpus"
	[[ -s $d/cpuset.mems ]] || cat "$(dirname "$d")/cpuset.mems" >"$d/cpuset.mems"
}
cg_mkdir "$CGP" || exit 1
for d in floor apply detect tc scale lib; do cg_mkdir "$CGP/$d" || exit 1; done
# cgroup v2: the subtree of each parent needs its controllers too
[[ $V == 2 ]] && for d in floor apply detect tc scale lib; do cg_mkdir "$CGP/$d/x" && rmdir "$CGROOT$CGP/$d/x"; done

# ---- qosd ----
. bench/policy.sh
write_policy() { # write_policy PIDS_STD PIDS_SCALE
	mkdir -p "$TMP/conf.d"
	bench_policy "$TMP/conf.d/bench.conf" "$CGP" "$1" "$2"
}
write_policy 256 256
# the drift timer is pushed out of every measured window (idle wake-ups are counted outside it)
echo "drift_interval = 3600s" >"$TMP/qosd.conf"
QARGS=(--config-dir "$TMP/conf.d" --config "$TMP/qosd.conf" --cgroupfs "$CGROOT")

start_qosd() { # start_qosd NAME: state dir, socket and log in TMP/NAME; sets SOCK, QPID
	local d=$TMP/$1
	mkdir -p "$d/state"
	chmod 700 "$d/state"
	SOCK=$d/qosd.sock
	"$B/qosd" "${QARGS[@]}" --state-dir "$d/state" --socket "$SOCK" >"$d/qosd.log" 2>&1 &
	QPID=$!
	QOSD_PIDS+=("$QPID")
	for _ in $(seq 100); do
		"$B/qosctl" -s "$SOCK" list >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	say "qosd did not start:"
	tail -5 "$d/qosd.log" >&2
	return 1
}
stop_qosd() {
	kill -TERM "$QPID" 2>/dev/null
	wait "$QPID" 2>/dev/null
}

# ---- 1. apply ----
if ! skipping apply; then
	say "apply: floor, qosd socket and hook, libcgroup API and CLI"
	start_qosd apply || exit 1
	HOOK=("$SRC/$B/qos-hook" --socket "$SOCK" --config-dir "$TMP/conf.d" --config "$TMP/qosd.conf"
		--state-dir "$TMP/apply/state" --cgroupfs "$CGROOT")
	run "$BIN/floor" create "$CGP/floor" "$N_APPLY"
	run "$BIN/floor" direct "$CGP/floor" "$N_APPLY"
	run "$BIN/floor" limits "$CGP/floor" "$N_APPLY"
	run "$BIN/floor" exec $((N_APPLY / 5))
	run "$BIN/floor" exec $((N_APPLY / 5)) "$BIN/noop" floor.exec_static
	# qosd's rounds take their floor in the same rounds too (qosd.pair.*, qapply.c); the floor
	# programs above, measured apart, are shown beside
	QB_PAIR_FLOOR=$CGP/floor run "$BIN/qapply" socket "$SOCK" "$CGP/apply" "$N_APPLY"
	QB_PAIR_NOOP=$BIN/noop QB_PAIR_FLOOR=$CGP/floor \
		run "$BIN/qapply" hook "$SOCK" "$CGP/apply" $((N_APPLY / 5)) "${HOOK[@]}"
	# again, so that both sides of a ratio measured apart saw the same minute of this machine
	run "$BIN/floor" create "$CGP/floor" "$N_APPLY"
	QB_PAIR_FLOOR=$CGP/floor run "$BIN/qapply" socket "$SOCK" "$CGP/apply" "$N_APPLY"
	run "$BIN/floor" limits "$CGP/floor" "$N_APPLY"
	run "$BIN/floor" exec $((N_APPLY / 5)) "$BIN/noop" floor.exec_static
	QB_PAIR_NOOP=$BIN/noop QB_PAIR_FLOOR=$CGP/floor \
		run "$BIN/qapply" hook "$SOCK" "$CGP/apply" $((N_APPLY / 5)) "${HOOK[@]}"
	stop_qosd
	if ((HAVE_LIBCG)) && [[ $V == 1 ]]; then
		run "$BIN/libcg" api-create "$CGP/lib" "$N_APPLY"
		run "$BIN/libcg" api-limits "$CGP/lib" "$N_APPLY"
		run "$BIN/libcg" cli-create "$CGP/lib" "$N_CLI"
		run "$BIN/libcg" cli-limits "$CGP/lib" "$N_CLI"
	else
		note libcg "libcgroup 2.0 has no cgroup v2 API (or libcgroup-dev is missing)"
	fi
fi

# ---- 2. detect ----
if ! skipping detect; then
	say "detect: $N_DETECT cgroups under a [match] root"
	start_qosd detect || exit 1
	run "$BIN/detect" "$CGP/detect" "$N_DETECT"
	stop_qosd
	run "$BIN/floor" inotify "$CGP/floor" "$N_DETECT"
	# again, the other way round, so that both sides of the ratio saw the same minutes
	run "$BIN/floor" inotify "$CGP/floor" "$N_DETECT"
	start_qosd detect2 || exit 1
	run "$BIN/detect" "$CGP/detect" "$N_DETECT"
	stop_qosd
fi

# ---- 3. tc ----
if ! skipping tc && ((HAVE_NL)); then
	say "tc: netns $NS, veth $VH/$VC"
	if ip netns add "$NS" && ip link add "$VH" type veth peer name "$VC" netns "$NS" &&
		ip addr add 198.18.0.1/30 dev "$VH" && ip link set "$VH" up &&
		ip -n "$NS" addr add 198.18.0.2/30 dev "$VC" && ip -n "$NS" link set "$VC" up &&
		ip -n "$NS" link set lo up; then
		run "$BIN/tcbench" nl "$VH" "$N_TC"
		run "$BIN/tcbench" cli "$VH" "$N_TC_CLI"
		start_qosd tc || exit 1
		run "$BIN/tcbench" qosd "$SOCK" "$CGP/tc" "$NS" "$VH" "$N_TC" ||
			note tc.qosd "n/a ($(tail -1 "$TMP/last.err"))"
		stop_qosd
		run "$BIN/tcbench" nl "$VH" "$N_TC"
	else
		note tc "n/a (cannot build the netns world)"
	fi
fi

# ---- 4. scale ----
# smaps_rollup's Rss walks the page tables; VmRSS is a per-CPU counter summed lazily (seen lagging
# by 1.3 MiB in the VM)
rss_kib() { awk '/^Rss:/ { print $2 }' "/proc/$1/smaps_rollup"; }
ctxsw() { awk '/ctxt_switches:/ { s += $2 } END { print s }' "/proc/$1/status"; }
if ! skipping scale; then
	say "scale: $N_SCALE containers"
	# the floor on fresh groups: every knob of class scale, then the one knob a reload changes
	"$BIN/scale" mk "$CGP/scale" "$N_SCALE" || exit 1
	run "$BIN/scale" floor "$CGP/scale" "$N_SCALE"
	run "$BIN/scale" floor "$CGP/scale" "$N_SCALE" pids.max 300
	"$BIN/scale" rm "$CGP/scale" "$N_SCALE"
	"$BIN/scale" mk "$CGP/scale" "$N_SCALE" || exit 1
	mkdir -p "$TMP/scale/state"
	chmod 700 "$TMP/scale/state"
	SOCK=$TMP/scale/qosd.sock
	# with the metrics endpoint on (issue 16: the RSS and 10,000 figures hold with it), scraped
	# after the reloads, before the RSS is read; it sets no timer (the wake-ups stay idle)
	MPORT=$((20000 + $$ % 20000))
	while ss -Hltn "sport = :$MPORT" 2>/dev/null | grep -q .; do MPORT=$((MPORT + 1)); done
	printf 'drift_interval = 3600s\nmetrics_listen = 127.0.0.1:%s\n' "$MPORT" >"$TMP/scale/qosd.conf"
	out=$("$BIN/scale" start "$CGP/scale" "$N_SCALE" 256 "$TMP/scale/qosd.log" "$SRC/$B/qosd" \
		"${QARGS[@]}" --config "$TMP/scale/qosd.conf" --state-dir "$TMP/scale/state" \
		--socket "$SOCK")
	QPID=$(awk '/^QOSD_PID/ { print $2 }' <<<"$out")
	[[ -n $QPID ]] && QOSD_PIDS+=("$QPID")
	grep '^RESULT' <<<"$out" >>"$RES"
	for _ in $(seq 100); do "$B/qosctl" -s "$SOCK" list >/dev/null 2>&1 && break; sleep 0.05; done
	write_policy 256 300
	run "$BIN/scale" reload "$SOCK" "$CGP/scale" "$N_SCALE" 300
	write_policy 256 256
	run "$BIN/scale" reload "$SOCK" "$CGP/scale" "$N_SCALE" 256
	"$BIN/mscrape" http "$MPORT" 2 >/dev/null || note scale.rss "the metrics scrape failed"
	sleep 2 # the batched state save
	echo "RESULT scale.rss $(rss_kib "$QPID") - 1" >>"$RES"
	a=$(ctxsw "$QPID")
	sleep "$IDLE_S"
	b=$(ctxsw "$QPID")
	echo "RESULT scale.wakeups $(awk -v a="$a" -v b="$b" -v s="$IDLE_S" 'BEGIN { printf "%.1f", (b - a) / s }') - 1" >>"$RES"
	# one container's apply while the 10,000 exist (and are in qosd's state), beside the floor
	# timed in the same rounds (QB_PAIR_FLOOR, qapply.c): the writes' kernel work walks every
	# cgroup, and what each walk costs moves with what ran just before it (bench/README.md, "The
	# 10,000-known row, third part"). Each side's groups are removed after its last round
	# (QB_DEFER_RM, bench.h): a removal's kernel work at 10,000 groups outlasts the next round's
	# timed writes and lands in them on either side at random
	QB_DEFER_RM=1 QB_PREFIX=scale QB_PAIR_FLOOR=$CGP/floor \
		run "$BIN/qapply" socket "$SOCK" "$CGP/apply" $((N_APPLY / 5))
	# the floor measured apart, as before (shown beside the row)
	QB_DEFER_RM=1 QB_PREFIX=scalefloor run "$BIN/floor" limits "$CGP/floor" $((N_APPLY / 5))
	QB_DEFER_RM=1 QB_PREFIX=scale QB_PAIR_FLOOR=$CGP/floor \
		run "$BIN/qapply" socket "$SOCK" "$CGP/apply" $((N_APPLY / 5))
	kill -TERM "$QPID"
	for _ in $(seq 100); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.1; done
	"$BIN/scale" rm "$CGP/scale" "$N_SCALE"
fi

# ---- the table ----
N_SCALE=$N_SCALE bench/table.sh "$RES" "$TMP/notes" "$V"

# ---- metrics (a table of its own: bench/metrics-bench.sh) ----
skipping metrics || B=$B IDLE_S=$IDLE_S bench/metrics-bench.sh
