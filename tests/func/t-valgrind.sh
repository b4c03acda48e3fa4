#!/bin/bash
# The release build of qosd (build/rel/qosd, made by `make all`; the sanitizer build cannot run
# under valgrind) under valgrind --leak-check=full, driven through register (qos-hook), set, unset,
# reload, SIGHUP, show, list, [match] containers made and removed, a container with a veth (tc) and
# one whose hook never released it, then SIGTERM: no definite leak and no memory error.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-net.sh"
qt_init valgrind

REL=${QT_REL_QOSD:-$QOSD_SRC/build/rel/qosd}
if ! command -v valgrind >/dev/null; then
	skip all "valgrind is not installed here (the VM image does not copy it)"
	exit 0
fi
if [[ ! -x $REL ]]; then
	skip all "no release build at $REL (make all builds it)"
	exit 0
fi
VG_LOG=$QT_TMP/valgrind.log
cat >"$QT_TMP/qosd-vg" <<EOF
#!/bin/bash
exec valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=3 \
	--track-fds=no --num-callers=30 --log-file="$VG_LOG" "$REL" "\$@"
EOF
chmod +x "$QT_TMP/qosd-vg"
QOSD=$QT_TMP/qosd-vg
NET=1
net_init || {
	NET=
	note "no tc part: $NET_WHY"
}

qt_policy qt <<EOF
[tenant]
memory.limit = 1G

[class silver]
cpu.shares = 512
memory.limit = 128M
pids.limit = 100

[class net]
net.ingress = 20mbit
net.egress = 10mbit

[match]
$QT_CGP/c-* = silver
EOF
printf 'drift_interval = 1s\ntenant_parent = %s\n' "$QT_CGP" >"$QT_TMP/qosd.conf"
qt_cg_mkdir "$QT_CGP/c-early"
qt_start_qosd --config "$QT_TMP/qosd.conf" || {
	fail start "qosd did not start under valgrind"
	qt_show_log 20
	sed 's/^/  # vg: /' "$VG_LOG" | tail -20
	exit 0
}
note "qosd (release build) under valgrind: pid $QT_QOSD_PID"
HOOK=("$QOSHOOK" --socket "$QT_SOCK" --config-dir "$QT_TMP/conf.d" --config "$QT_TMP/qosd.conf"
	--state-dir "$QT_TMP/state" --cgroupfs "$QT_CGROOT" --timeout 10)
ok=0 bad=0
step() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok=$((ok + 1))
	else
		bad=$((bad + 1))
		note "$what failed: $out"
	fi
}
in_cg() { grep -qx "$2" "$(qt_cgdir "${QT_CTRLS[0]}" "$1")/cgroup.procs"; }

# [match] containers come and go
for i in 1 2 3; do qt_cg_mkdir "$QT_CGP/c-$i"; done
step "adopt" qt_wait 10 bash -c "[[ \$('$QOSCTL' -s '$QT_SOCK' list | grep -c '^c-[0-9] .* ok') == 3 ]]"
step list qosctl list
step show qosctl show c-1
step show-json qosctl show c-1 --json
step set qosctl set c-1 memory.limit=96M pids.limit=50
step set-refused bash -c "! '$QOSCTL' -s '$QT_SOCK' set c-1 frobnicate=1"
step unset qosctl unset c-1 memory.limit
step unset-all qosctl unset c-2 --all
step show-missing bash -c "! '$QOSCTL' -s '$QT_SOCK' show nosuch"
# hook registrations, one released, one left to be forgotten when its cgroup goes
for i in 1 2; do
	qt_cg_mkdir "$QT_CGP/h-$i"
	qt_cg_run "$QT_CGP/h-$i" sleep 100000
	qt_wait 5 in_cg "$QT_CGP/h-$i" "$QT_LASTPID"
	step "hook-$i" "${HOOK[@]}" --id "h-$i" --pid "$QT_LASTPID" --tenant qt --class silver
done
step hook-oci bash -c "printf '{\"ociVersion\":\"1.0.2\",\"id\":\"h-1\",\"status\":\"created\",\"pid\":%s,\"bundle\":\"/x\",\"annotations\":{\"qosd.io/class\":\"silver\"}}' ${QT_PIDS[-1]} | $(printf '%q ' "${HOOK[@]}") createRuntime"
if [[ -n $NET ]]; then
	qt_cg_mkdir "$QT_CGP/n-1"
	net_container n-1 "$QT_CGP/n-1"
	qt_wait 5 in_cg "$QT_CGP/n-1" "$QT_LASTPID"
	step hook-net "${HOOK[@]}" --id n-1 --pid "$QT_LASTPID" --tenant qt --class net
	step net-show qt_wait 10 bash -c "'$QOSCTL' -s '$QT_SOCK' show n-1 | grep -q 'net.ingress.*20mbit burst 32K *20mbit'"
	step net-set qosctl set n-1 net.ingress=30mbit
fi
# reloads: a good one, a refused one, a SIGHUP
step reload qosctl reload
printf '[class bad]\ncpu.shares = x\n' >"$QT_TMP/conf.d/zz.conf"
step reload-refused bash -c "! '$QOSCTL' -s '$QT_SOCK' reload"
rm -f "$QT_TMP/conf.d/zz.conf"
kill -HUP "$QT_QOSD_PID"
sleep 1.5 # a drift pass
# removals: a [match] cgroup, a released hook container, an unreleased one, the net container
qt_cg_rmtree "$QT_CGP/c-3"
{
	kill -9 "${QT_PIDS[@]}"
	wait "${QT_PIDS[@]}"
} 2>/dev/null
step release "${HOOK[@]}" --id h-1 --release
qt_cg_rmtree "$QT_CGP/h-1"
qt_cg_rmtree "$QT_CGP/h-2"
if [[ -n $NET ]]; then
	net_drop n-1
	qt_cg_rmtree "$QT_CGP/n-1"
	step release-net "${HOOK[@]}" --id n-1 --release
fi
step forgotten qt_wait 10 bash -c "! '$QOSCTL' -s '$QT_SOCK' list | grep -q '^h-2 '"
step list-end qosctl list
check driven "$bad of $((ok + bad)) steps failed (above)" test $bad -eq 0

qt_stop_qosd
rc=$?
sed -n '/HEAP SUMMARY/,$p' "$VG_LOG" | grep -E "in use at exit|definitely|indirectly|possibly|ERROR SUMMARY" |
	sed 's/^==[0-9]*== */  # valgrind: /'
check exit-status "qosd under valgrind exited $rc (3: valgrind found errors)" test $rc -eq 0
def=$(grep -E "definitely lost:" "$VG_LOG" | tail -1)
check no-definite-leak "valgrind: ${def:-no leak summary}" \
	bash -c "grep -q 'All heap blocks were freed' '$VG_LOG' || grep -qE 'definitely lost: 0 bytes' '$VG_LOG'"
check no-memory-errors "$(grep -E 'ERROR SUMMARY' "$VG_LOG" | tail -1)" grep -qE "ERROR SUMMARY: 0 errors" "$VG_LOG"
if [[ $QT_FAILS -gt 0 ]]; then
	grep -E "^==[0-9]+== (Invalid|Conditional|Syscall param|Use of|[0-9,]+ bytes in [0-9,]+ blocks are definitely)" -A12 "$VG_LOG" |
		head -60 | sed 's/^/  # vg: /'
fi

qt_finish
