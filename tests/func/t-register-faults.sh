#!/bin/bash
# Registration under faults (issue 12, issue 18), from the unlucky host's side:
#  - start-up: a failing step inside qosd's start (inotify_init1 -> EMFILE) is logged, never a
#    silent exit 1;
#  - a cgroup that vanishes between the registration's check and its apply (every openat2 of
#    the request after the first fails with ENOENT): qosd answers with an error naming it,
#    forgets it and keeps running (it used to read the freed container: ASan stops it);
#  - EMFILE while a drift pass checks whether a container's cgroup exists: the container is kept
#    with its limits (it used to be forgotten: its tc and quota limits released);
#  - quota_roots with 33 directories: the 33rd counts (a fixed 32-entry array dropped it).
source "$(dirname "$0")/lib.sh"
qt_init register-faults

if ! command -v strace >/dev/null || ! strace -qq -o /dev/null -e inject=getpid:error=EPERM true 2>/dev/null; then
	skip all "strace is not installed or cannot inject here"
	qt_finish
	exit 0
fi
if [[ $QT_V == 2 ]]; then MEM_FILE=memory.max; else MEM_FILE=memory.limit_in_bytes; fi
M64=$((64 << 20))
qt_policy qt <<EOF
[class silver]
memory.limit = 64M
pids.limit = 100
EOF
alive() { kill -0 "$QT_QOSD_PID" 2>/dev/null; }
listed() { qosctl list 2>/dev/null | grep -q "^$1 .*silver"; }
hook() {
	"$QOSHOOK" --socket "$QT_SOCK" --config-dir "$QT_TMP/conf.d" --config "$QT_TMP/qosd.conf" \
		--state-dir "$QT_TMP/state" --cgroupfs "$QT_CGROOT" "$@"
}
container() { # container NAME: a cgroup with a sleeping process; its pid in QT_LASTPID
	qt_cg_mkdir "$QT_CGP/$1"
	qt_cg_run "$QT_CGP/$1" sleep 100000
	qt_wait 5 grep -qx "$QT_LASTPID" "$(qt_cgdir "${QT_CTRLS[0]}" "$QT_CGP/$1")/cgroup.procs"
}

# --- a start-up step fails: qosd says which
printf 'drift_interval = 0s\n' >"$QT_TMP/qosd.conf"
log=$QT_TMP/start.log
# (LeakSanitizer cannot run under ptrace)
ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -f -qq -o /dev/null -e trace=inotify_init1 -e inject=inotify_init1:error=EMFILE \
	"$QOSD" --config-dir "$QT_TMP/conf.d" --state-dir "$QT_TMP/state" --socket "$QT_TMP/s0.sock" \
	--cgroupfs "$QT_CGROOT" --config "$QT_TMP/qosd.conf" >"$log" 2>&1
rc=$?
check start-fails "qosd exited $rc with inotify_init1 failing, want 1" test $rc -eq 1
check start-says-why "no line names the failed step: $(tail -3 "$log" | tr '\n' '|')" \
	grep -Eq "cannot start: cgroup watch.*(Too many open files|EMFILE)" "$log"

# --- the cgroup vanishes between the check and the reconcile of a registration
qt_start_qosd --config "$QT_TMP/qosd.conf" || {
	fail start "qosd did not start"
	qt_finish
	exit 0
}
container r-1
P1=$QT_LASTPID
: >"$QT_TMP/strace.out"
# (qosd opens each directory once per request: the check's open succeeds, every open after it
# fails as on a cgroup removed right after it)
qt_inject_on -e trace=openat2 -e inject=openat2:error=ENOENT:when=2+
out=$(hook --id r-1 --pid "$P1" --tenant qt --class silver 2>&1)
rc=$?
qt_inject_off
check vanish-injected "strace failed no openat2 (strace.out: $(tail -2 "$QT_TMP/strace.out" | tr '\n' '|'))" \
	test "$(qt_injected)" -ge 1
check vanish-alive "qosd died (ASan: $(grep -m1 -o 'AddressSanitizer: [a-z-]*' "$QT_QOSD_LOG"))" alive
check vanish-refused "hook rc=$rc, want a refusal naming the vanished cgroup: $out" \
	bash -c "[[ $rc -ne 0 ]] && grep -q vanished <<<'$out'"
check vanish-not-listed "r-1 is listed although its registration failed" \
	bash -c "! '$QOSCTL' -s '$QT_SOCK' list | grep -q '^r-1 '"
qt_stop_qosd
rc=$?
check vanish-clean-exit "qosd exited $rc on SIGTERM (ASan reports exit 99)" test $rc -eq 0

# --- EMFILE while a drift pass checks the container's cgroup
roots=
for i in $(seq 1 33); do
	mkdir -p "$QT_TMP/qr$i/d"
	roots=${roots:+$roots:}$QT_TMP/qr$i
done
printf 'drift_interval = 200ms\nquota_roots = %s\n' "$roots" >"$QT_TMP/qosd.conf"
qt_start_qosd --config "$QT_TMP/qosd.conf" || fail restart "qosd did not start"
container r-2
P2=$QT_LASTPID
out=$(hook --id r-2 --pid "$P2" --tenant qt --class silver 2>&1)
check emfile-registered "r-2 not registered: $out" qt_wait 5 listed r-2
check emfile-applied "r-2 $MEM_FILE=$(qt_knob "$QT_CGP/r-2" memory $MEM_FILE)" \
	test "$(qt_knob "$QT_CGP/r-2" memory $MEM_FILE)" = $M64

# --- the 33rd of 33 quota_roots is a root like the first (this kernel may have no quota support:
# the refusal, if any, must be about the filesystem, never "outside the configured quota roots")
for i in 1 33; do
	out=$(qosctl set r-2 disk.dir="$QT_TMP/qr$i/d" 2>&1)
	check "quota-root-$i-counts" "disk.dir under root $i of 33: $out" \
		bash -c "! grep -q 'outside the configured quota roots' <<<'$out'"
done
out=$(qosctl set r-2 disk.dir="$QT_TMP" 2>&1)
check quota-root-outside-refused "disk.dir outside all 33 roots: $out" \
	grep -q 'outside the configured quota roots' <<<"$out"

: >"$QT_TMP/strace.out"
qt_inject_on -e trace=openat2 -e inject=openat2:error=EMFILE
sleep 1.5
qt_inject_off
check emfile-injected "strace failed no openat2" test "$(qt_injected)" -ge 1
check emfile-kept "r-2 was forgotten after EMFILE: list: $(qosctl list 2>&1 | tr '\n' '|')" listed r-2
check emfile-logged "no warning names the unreadable cgroup" \
	grep -q "r-2: cannot open cgroup.*Too many open files" "$QT_QOSD_LOG"
check emfile-limit-held "r-2 $MEM_FILE=$(qt_knob "$QT_CGP/r-2" memory $MEM_FILE) after the fault" \
	test "$(qt_knob "$QT_CGP/r-2" memory $MEM_FILE)" = $M64
check emfile-recovers "r-2 status is not ok 3 s after the fault: $(qosctl list | grep '^r-2 ')" \
	qt_wait 3 bash -c "'$QOSCTL' -s '$QT_SOCK' list | grep -q '^r-2 .* ok'"
check emfile-alive "qosd died" alive

qt_stop_qosd
rc=$?
check emfile-clean-exit "qosd exited $rc on SIGTERM" test $rc -eq 0
qt_finish
