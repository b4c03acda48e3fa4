#!/bin/bash
# qosd-vm: yes
# make bench's floor and qapply programs (bench/floor.c, bench/qapply.c) run to the end on this
# kernel's cgroups: each makes its groups the way the bench does (runc's order, the task
# attached), reads the class's limits back and removes every group it made. On cgroup v2 the
# bench's parents have controllers enabled for their children, so they cannot hold the task a
# removed group gave back; this test is where that shows (the VM layer runs it on v2). Three
# rounds each, nothing timed: figures are make bench's business.
source "$(dirname "$0")/lib.sh"
qt_init bench-progs

FLOOR=$QOSD_HELPER_DIR/qb-floor
QAPPLY=$QOSD_HELPER_DIR/qb-qapply
if [[ ! -x $FLOOR || ! -x $QAPPLY ]]; then
	skip all "qb-floor / qb-qapply not built in $QOSD_HELPER_DIR (make tests)"
	exit 0
fi

# mkparents RUN: the bench's two parents for one run, $QT_CGP/RUN/floor and .../apply, made as
# bench/run.sh makes its parents (v2: controllers on for their children). Each run has its own,
# so that what one failed run leaves behind does not fail the next.
mkparents() {
	local d
	for d in floor apply; do
		qt_cg_mkdir "$QT_CGP/$1/$d"
		[[ $QT_V == 2 ]] && qt_cg_mkdir "$QT_CGP/$1/$d/x" && rmdir "$QT_CGROOT$QT_CGP/$1/$d/x"
	done
}

# left RUN: the groups the run left under its two parents, in every hierarchy
left() {
	local c d n=0
	for c in "${QT_CTRLS[@]}"; do
		for d in floor apply; do
			n=$((n + $(find "$(qt_cgdir "$c" "$QT_CGP/$1/$d")" -mindepth 1 -type d 2>/dev/null | wc -l)))
		done
	done
	echo "$n"
}

# run_prog RUN ENV... -- PROG ARGS...: exits 0, prints RESULT lines, leaves no group behind. PROG's
# arguments name the run's parents as $P (replaced here by $QT_CGP/RUN).
run_prog() {
	local name=$1 envs=() args=() a
	shift
	while [[ $1 != -- ]]; do envs+=("${1//\$P/$QT_CGP/$name}"); shift; done
	shift
	for a; do args+=("${a//\$P/$QT_CGP/$name}"); done
	mkparents "$name"
	env "${envs[@]}" "${args[@]}" >"$QT_TMP/$name.out" 2>"$QT_TMP/$name.err"
	local rc=$? n
	n=$(left "$name")
	if [[ $rc != 0 ]]; then
		fail "$name" "exit $rc: $(tail -c 300 "$QT_TMP/$name.err")"
	elif ! grep -q '^RESULT ' "$QT_TMP/$name.out"; then
		fail "$name" "no RESULT line: $(head -c 300 "$QT_TMP/$name.out")"
	elif [[ $n != 0 ]]; then
		fail "$name" "$n group(s) left under $QT_CGP/$name"
	else
		pass "$name"
	fi
}

run_prog floor-create -- "$FLOOR" create '$P/floor' 3
run_prog floor-direct -- "$FLOOR" direct '$P/floor' 3
run_prog floor-limits -- "$FLOOR" limits '$P/floor' 3

# qapply against a qosd with the bench's policy (class std) and its config (the drift timer out of
# the way), paired with the floor, and with the removals deferred (the 10,000-known row's way)
. "$QOSD_SRC/bench/policy.sh"
bench_policy "$QT_TMP/conf.d/bench.conf" "$QT_CGP" 256 256
echo "drift_interval = 3600s" >"$QT_TMP/qosd.conf"
if ! qt_start_qosd --config "$QT_TMP/qosd.conf"; then
	fail qosd-start "qosd did not start"
	qt_finish
	exit 0
fi
run_prog qapply-socket 'QB_PAIR_FLOOR=$P/floor' -- "$QAPPLY" socket "$QT_SOCK" '$P/apply' 3
check qapply-socket-paired "no qosd.pair.socket.floor line: $(head -c 300 "$QT_TMP/qapply-socket.out")" \
	grep -q '^RESULT qosd.pair.socket.floor ' "$QT_TMP/qapply-socket.out"
run_prog qapply-deferred QB_DEFER_RM=1 'QB_PAIR_FLOOR=$P/floor' -- "$QAPPLY" socket "$QT_SOCK" \
	'$P/apply' 3
check qosd-stop "qosd did not exit 0 on SIGTERM" qt_stop_qosd
qt_finish
