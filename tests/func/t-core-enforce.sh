#!/bin/bash
# qosd-vm: yes
# The core limits, enforced and measured through qosd on this kernel (v1 on the host, v2 in the
# VM): CPU quota, CPU shares, memory OOM, pids, cpuset. Containers are cgroups that the test's
# [match] rules catch.
source "$(dirname "$0")/lib.sh"
qt_init core-enforce

qt_policy qt <<EOF
[class half]
cpu.quota = 50%

[class s512]
cpu.shares = 512
cpuset.cpus = 0

[class s1024]
cpu.shares = 1024
cpuset.cpus = 0

[class mem64]
memory.limit = 64M
memory.swap = 0

[class pids20]
pids.limit = 20

[class cpu0]
cpuset.cpus = 0

[match]
$QT_CGP/half-* = half
$QT_CGP/s512-* = s512
$QT_CGP/s1024-* = s1024
$QT_CGP/mem64-* = mem64
$QT_CGP/pids20-* = pids20
$QT_CGP/cpu0-* = cpu0
EOF
echo "drift_interval = 0s" >"$QT_TMP/qosd.conf"
qt_start_qosd --config "$QT_TMP/qosd.conf" || {
	fail start "qosd did not start"
	exit 0
}

# wait until qosd has applied a knob: qt_applied CGPATH CTRL FILE VALUE
applied() { [[ "$(qt_knob "$1" "$2" "$3")" == "$4" ]]; }
qt_applied() { qt_wait 5 applied "$@"; }
kv() { sed -n "s/.*\b$1=\([0-9-]*\).*/\1/p"; }

# the test's parent gets the largest CPU weight, so the burners below reach what their classes
# allow even on a busy machine (what is measured is the limit, not the competition)
if [[ $QT_V == 2 ]]; then echo 10000 >"$QT_CGROOT$QT_CGP/cpu.weight"; else
	echo 262144 >"$QT_CGROOT/cpu$QT_CGP/cpu.shares"; fi

# --- cpu.quota = 50%: a busy loop gets 40-60 % of one CPU over 3 s
qt_cg_mkdir "$QT_CGP/half-1"
if [[ $QT_V == 2 ]]; then ok=$(qt_applied "$QT_CGP/half-1" cpu cpu.max "50000 100000" && echo y); else
	ok=$(qt_applied "$QT_CGP/half-1" cpu cpu.cfs_quota_us 50000 && echo y); fi
check quota-applied "cpu quota not written within 5 s" test "$ok" = y
qt_cg_run "$QT_CGP/half-1" "$QOSD_HELPER_DIR/qt-burn" 3 >"$QT_TMP/burn.out"
wait "$QT_LASTPID"
cpu=$(kv cpu_us <"$QT_TMP/burn.out")
wall=$(kv wall_us <"$QT_TMP/burn.out")
if [[ -n $cpu && -n $wall && $wall -gt 0 ]]; then
	pct=$((cpu * 100 / wall))
	note "cpu.quota=50%: busy loop got ${pct}% of one CPU (cpu ${cpu} us over ${wall} us)"
	check quota-enforced "got ${pct}% of one CPU, want 40-60%" test "$pct" -ge 40 -a "$pct" -le 60
else
	fail quota-enforced "qt-burn printed no figures: $(cat "$QT_TMP/burn.out")"
fi

# --- cpu.shares 512 vs 1024, both pinned to CPU 0: about 1:2
qt_cg_mkdir "$QT_CGP/s512-1"
qt_cg_mkdir "$QT_CGP/s1024-1"
if [[ $QT_V == 2 ]]; then
	qt_applied "$QT_CGP/s512-1" cpu cpu.weight 50 && qt_applied "$QT_CGP/s1024-1" cpu cpu.weight 100
else
	qt_applied "$QT_CGP/s512-1" cpu cpu.shares 512 && qt_applied "$QT_CGP/s1024-1" cpu cpu.shares 1024
fi
check shares-applied "shares/weight not written within 5 s" test $? -eq 0
qt_cg_run "$QT_CGP/s512-1" "$QOSD_HELPER_DIR/qt-burn" 3 --pin 0 >"$QT_TMP/s512.out"
p1=$QT_LASTPID
qt_cg_run "$QT_CGP/s1024-1" "$QOSD_HELPER_DIR/qt-burn" 3 --pin 0 >"$QT_TMP/s1024.out"
p2=$QT_LASTPID
# the CPU each got while both ran (schedstat: ns on a CPU), not over their lives: the first one
# runs alone until the second has started, which under emulation pulled the ratio under the band
oncpu_us() { awk '{ printf "%d\n", $1 / 1000 }' "/proc/$1/schedstat" 2>/dev/null; }
sleep 0.5
a0=$(oncpu_us "$p1") b0=$(oncpu_us "$p2")
sleep 1.5
a1=$(oncpu_us "$p1") b1=$(oncpu_us "$p2")
wait "$p1" "$p2"
if [[ -n $a0 && -n $a1 && -n $b0 && -n $b1 ]]; then
	a=$((a1 - a0)) b=$((b1 - b0))
else # no schedstat: over their lives
	a=$(kv cpu_us <"$QT_TMP/s512.out")
	b=$(kv cpu_us <"$QT_TMP/s1024.out")
fi
if [[ -n $a && -n $b && $a -gt 0 ]]; then
	ratio=$((b * 100 / a))
	note "cpu.shares 1024:512 on one CPU: ${b} us vs ${a} us, ratio $((ratio / 100)).$((ratio % 100))"
	check shares-enforced "ratio $((ratio / 100)).$((ratio % 100)), want 1.4-2.6" \
		test "$ratio" -ge 140 -a "$ratio" -le 260
else
	fail shares-enforced "qt-burn printed no figures"
fi

# --- memory.limit = 64M, swap 0: 200 MB is OOM-killed, 30 MB lives
qt_cg_mkdir "$QT_CGP/mem64-1"
if [[ $QT_V == 2 ]]; then qt_applied "$QT_CGP/mem64-1" memory memory.max $((64 << 20)); else
	qt_applied "$QT_CGP/mem64-1" memory memory.limit_in_bytes $((64 << 20)); fi
check memory-applied "memory limit not written within 5 s" test $? -eq 0
qt_cg_run "$QT_CGP/mem64-1" "$QOSD_HELPER_DIR/qt-alloc" 200 >"$QT_TMP/a200.out" 2>&1
wait "$QT_LASTPID"
rc=$?
note "qt-alloc 200 under memory.limit=64M exited $rc ($(tr '\n' ' ' <"$QT_TMP/a200.out"))"
check memory-oom-200M "200 MB allocator exited $rc, want 137 (SIGKILL by the OOM killer)" test "$rc" -eq 137
qt_cg_run "$QT_CGP/mem64-1" "$QOSD_HELPER_DIR/qt-alloc" 30 >"$QT_TMP/a30.out" 2>&1
wait "$QT_LASTPID"
rc=$?
check memory-30M-lives "30 MB allocator exited $rc, want 0" test "$rc" -eq 0

# --- pids.limit = 20: the 30th fork fails
qt_cg_mkdir "$QT_CGP/pids20-1"
qt_applied "$QT_CGP/pids20-1" pids pids.max 20
check pids-applied "pids.max not written within 5 s" test $? -eq 0
qt_cg_run "$QT_CGP/pids20-1" "$QOSD_HELPER_DIR/qt-fork" 30 >"$QT_TMP/fork.out" 2>&1
wait "$QT_LASTPID"
forked=$(kv forked <"$QT_TMP/fork.out")
note "pids.limit=20: $(cat "$QT_TMP/fork.out")"
check pids-enforced "forked ${forked:-?} of 30, want fewer than 20" test "${forked:-99}" -lt 20

# --- cpuset.cpus = 0: the process stays on CPU 0
if [[ $(nproc) -lt 2 ]]; then
	skip cpuset-enforced "one CPU only: nothing to keep a process away from"
else
	qt_cg_mkdir "$QT_CGP/cpu0-1"
	qt_applied "$QT_CGP/cpu0-1" cpuset cpuset.cpus 0
	check cpuset-applied "cpuset.cpus not written within 5 s" test $? -eq 0
	qt_cg_run "$QT_CGP/cpu0-1" "$QOSD_HELPER_DIR/qt-spin-cpus" 1 >"$QT_TMP/spin.out"
	wait "$QT_LASTPID"
	cpus=$(sed -n 's/.*cpus=\([0-9,]*\).*/\1/p' "$QT_TMP/spin.out")
	note "cpuset.cpus=0: ran on CPUs ${cpus:-?}"
	check cpuset-enforced "ran on CPUs '${cpus}', want 0" test "$cpus" = 0
fi

qt_finish
