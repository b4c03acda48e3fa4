#!/bin/bash
# qosd-vm: yes
# The batch-beside-latency controller against this kernel: off (no timer) without priority;
# a latency container's CPU pressure tightens a batch container's CPU quota and weight stepwise
# down to its class's floor, and the room comes back when the pressure falls; qosctl show says
# why; a crash or a refused policy never leaves the batch container outside its bounds. On v2
# (the VM) the memory.high livelock guard: an allocator far over memory.high finishes once qosd
# raises memory.high, while the same allocator without qosd stays stalled. I/O: a latency
# container's io pressure tightens a batch container's blkio throttle / io.max to floor.blkio (measured)
# and gives it back; a batch class without a weight gets cpu.idle = 1.
source "$(dirname "$0")/lib.sh"
qt_init pressure

# On a hybrid host PSI comes from the cgroup2 (unified) twin of a container's cgroup: runtimes
# (runc, crun) create it and put the container's processes there; the test does the same.
UNI=
[[ $QT_V == 1 && -f $QT_CGROOT/unified/cgroup.procs ]] && UNI=$QT_CGROOT/unified
mkdir_uni() { [[ -n $UNI ]] && mkdir -p "$UNI$QT_CGP" "$UNI$1"; }
# run CMD in cgroup P, in its unified twin too
run_in() {
	local p=$1
	shift
	qt_cg_run "$p" bash -c 'u=$1; shift; [[ -n $u ]] && echo $$ >"$u/cgroup.procs"; exec "$@"' \
		run-in "${UNI:+$UNI$p}" "$@"
}

quota_of() {
	if [[ $QT_V == 2 ]]; then qt_knob "$1" cpu cpu.max | cut -d' ' -f1; else qt_knob "$1" cpu cpu.cfs_quota_us; fi
}
weight_of() {
	if [[ $QT_V == 2 ]]; then qt_knob "$1" cpu cpu.weight; else qt_knob "$1" cpu cpu.shares; fi
}
is() { [[ "$($1 "$2")" == "$3" ]]; }
# one_class TENANT CLASS KEYS...: a policy file of one class that catches $QT_CGP/CLASS-*, then a
# reload
one_class() {
	local t=$1 c=$2
	shift 2
	printf '[class %s]\n' "$c" >"$QT_TMP/conf.d/$t.conf"
	printf '%s\n' "$@" >>"$QT_TMP/conf.d/$t.conf"
	printf '[match]\n%s/%s-* = %s\n' "$QT_CGP" "$c" "$c" >>"$QT_TMP/conf.d/$t.conf"
	kill -HUP "$QT_QOSD_PID"
}

# --- off unless a class sets priority: no controller, no timer
qt_policy qt <<EOF
[class plain]
cpu.quota = 80%
[match]
$QT_CGP/plain-* = plain
EOF
MPORT=$((30000 + $$ % 20000))
cat >"$QT_TMP/qosd.conf" <<EOF
drift_interval = 0s
metrics_listen = 127.0.0.1:$MPORT
pressure_interval = 200ms
pressure_high = 10%
pressure_low = 3%
pressure_steps = 4
livelock_time = 3s
livelock_pressure = 20%
EOF
qt_start_qosd --config "$QT_TMP/qosd.conf" || {
	fail start "qosd did not start"
	exit 0
}
qt_cg_mkdir "$QT_CGP/plain-1"
qt_wait 5 is quota_of "$QT_CGP/plain-1" 80000
check off-without-priority "the controller started though no class sets priority" \
	bash -c "! grep -q 'controller: started' '$QT_QOSD_LOG'"

# --- a latency class (pinned to one CPU, so its own burners make pressure on any machine) and
# a batch class with bounds
qt_policy qt <<EOF
[class lat]
priority = latency
cpuset.cpus = 0

[class batch]
priority = batch
cpu.quota = 80%
floor.cpu.quota = 20%
cpu.weight = 100
floor.cpu.weight = 10

[class plain]
cpu.quota = 80%

[match]
$QT_CGP/lat-* = lat
$QT_CGP/batch-* = batch
$QT_CGP/plain-* = plain
EOF
mkdir_uni "$QT_CGP/lat-1"
qt_cg_mkdir "$QT_CGP/lat-1"
qt_cg_mkdir "$QT_CGP/batch-1"
kill -HUP "$QT_QOSD_PID"
qt_wait 5 grep -q 'controller: started' "$QT_QOSD_LOG"
check on-with-priority "no 'controller: started' after a reload that adds priority" \
	grep -q 'controller: started' "$QT_QOSD_LOG"
qt_wait 5 is quota_of "$QT_CGP/batch-1" 80000
check batch-starts-at-ceiling "batch quota $(quota_of "$QT_CGP/batch-1"), want the class's 80000" \
	is quota_of "$QT_CGP/batch-1" 80000

# --- pressure: four burners on the latency container's one CPU (runnable, waiting: cpu some)
burners=()
for i in 1 2 3 4; do
	run_in "$QT_CGP/lat-1" "$QOSD_HELPER_DIR/qt-burn" 60 >/dev/null
	burners+=("$QT_LASTPID")
done
seen=()
# watch_val READER CGROUP WANT: READER's value of CGROUP is WANT; every value read is kept in seen
watch_val() {
	local v
	v=$($1 "$2")
	[[ " ${seen[*]} " == *" $v "* ]] || seen+=("$v")
	[[ $v == "$3" ]]
}
watch_quota() { watch_val quota_of "$QT_CGP/batch-1" "$1"; }
qt_wait 30 watch_quota 20000
check tightened-to-floor "batch quota $(quota_of "$QT_CGP/batch-1") after 30 s of latency pressure, want the floor 20000 (seen: ${seen[*]})" \
	is quota_of "$QT_CGP/batch-1" 20000
# stepwise: 80000 -> 65000 -> 50000 -> 35000 -> 20000 (4 steps); polling may miss a step on a busy
# machine, so the quotas qosd logged as applied to batch-1 count too; at least one value strictly
# between ceiling and floor must have been applied
while read -r q; do
	[[ " ${seen[*]} " == *" $q "* ]] || seen+=("$q")
done < <(grep -F '[batch-1 ' "$QT_QOSD_LOG" |
	sed -nE 's/.*applied cpu\.(max|cfs_quota_us): .* -> ([0-9]+).*/\2/p')
between=0
for q in "${seen[@]}"; do ((q > 20000 && q < 80000)) && between=1; done
check stepwise "no intermediate quota seen between 80000 and 20000 (seen: ${seen[*]})" test $between = 1
w=$(weight_of "$QT_CGP/batch-1")
check weight-floor "batch weight $w, want the floor (v2 weight 10, v1 shares 102)" \
	test "$w" = "$([[ $QT_V == 2 ]] && echo 10 || echo 102)"
check plain-untouched "a class without priority was adjusted: quota $(quota_of "$QT_CGP/plain-1")" \
	is quota_of "$QT_CGP/plain-1" 80000
out=$(qosctl show batch-1)
check show-says-why "qosctl show batch-1 does not say the controller adjusted cpu.quota: $(grep '^cpu.quota' <<<"$out")" \
	grep -q 'adjusted by the controller.*because latency pressure' <<<"$out"
if grep -q 'in container lat-1' <<<"$out"; then pass show-names-source; else
	fail show-names-source "the reason does not name the latency container: $(grep -o 'because.*' <<<"$out" | head -1)"
fi

# --- a refused policy keeps the old one: batch stays within its bounds
cp "$QT_TMP/conf.d/qt.conf" "$QT_TMP/qt.conf.good"
printf '[class broken]\nfloor.cpu.quota = 5%%\n' >>"$QT_TMP/conf.d/qt.conf"
kill -HUP "$QT_QOSD_PID"
qt_wait 5 grep -q 'reload refused' "$QT_QOSD_LOG"
q=$(quota_of "$QT_CGP/batch-1")
check refused-policy-in-bounds "after a refused reload the batch quota is $q, outside 20000..80000" \
	test "$q" -ge 20000 -a "$q" -le 80000
cp "$QT_TMP/qt.conf.good" "$QT_TMP/conf.d/qt.conf"

# --- pressure falls: the room comes back, stepwise
for p in "${burners[@]}"; do kill "$p" 2>/dev/null; done
for p in "${burners[@]}"; do wait "$p" 2>/dev/null; done
seen=()
qt_wait 40 watch_quota 80000
check given-back "batch quota $(quota_of "$QT_CGP/batch-1") 40 s after the pressure ended, want 80000 (seen: ${seen[*]})" \
	is quota_of "$QT_CGP/batch-1" 80000
grep -q 'giving room back' "$QT_QOSD_LOG"
check give-back-logged "the log does not say why room was given back" grep -q 'giving room back' "$QT_QOSD_LOG"

# --- a crash at the floor, then a restart: the class's values (within bounds), level 0
for i in 1 2 3 4; do
	run_in "$QT_CGP/lat-1" "$QOSD_HELPER_DIR/qt-burn" 60 >/dev/null
	burners+=("$QT_LASTPID")
done
qt_wait 30 is quota_of "$QT_CGP/batch-1" 20000
for p in "${burners[@]}"; do kill "$p" 2>/dev/null; done
for p in "${burners[@]}"; do wait "$p" 2>/dev/null; done
qt_kill9_qosd
q=$(quota_of "$QT_CGP/batch-1")
check crash-in-bounds "after kill -9 the batch quota is $q, outside 20000..80000" \
	test "$q" -ge 20000 -a "$q" -le 80000
qt_start_qosd --config "$QT_TMP/qosd.conf" || fail restart "qosd did not restart"
qt_wait 10 is quota_of "$QT_CGP/batch-1" 80000
check restart-resets "after a restart the batch quota is $(quota_of "$QT_CGP/batch-1"), want the class's 80000" \
	is quota_of "$QT_CGP/batch-1" 80000

# --- cpu.burst and cpu.idle reach the kernel (v1 cpu.cfs_burst_us, v2 cpu.max.burst; cpu.idle)
one_class qt3 bi "cpu.quota = 50%" "cpu.burst = 10ms" "cpu.idle = 1"
sleep 0.5
qt_cg_mkdir "$QT_CGP/bi-1"
bf=cpu.cfs_burst_us
[[ $QT_V == 2 ]] && bf=cpu.max.burst
knob_is() { [[ "$(qt_knob "$QT_CGP/bi-1" cpu "$1")" == "$2" ]]; }
if [[ -f $(qt_cgdir cpu "$QT_CGP/bi-1")/$bf ]]; then
	qt_wait 5 knob_is $bf 10000
	check burst-applied "$bf is $(qt_knob "$QT_CGP/bi-1" cpu $bf), want 10000" knob_is $bf 10000
else
	skip burst-applied "this kernel has no $bf (5.14 or later)"
fi
if [[ -f $(qt_cgdir cpu "$QT_CGP/bi-1")/cpu.idle ]]; then
	qt_wait 5 knob_is cpu.idle 1
	check idle-applied "cpu.idle is $(qt_knob "$QT_CGP/bi-1" cpu cpu.idle), want 1" knob_is cpu.idle 1
else
	skip idle-applied "this kernel has no cpu.idle (5.15 or later)"
fi
rm -f "$QT_TMP/conf.d/qt3.conf"

# --- memory.high on v1: reported, never silently dropped
if [[ $QT_V == 1 ]]; then
	one_class qt2 mh "memory.high = 64M"
	sleep 0.5
	qt_cg_mkdir "$QT_CGP/mh-1"
	qt_wait 5 bash -c "'$QOSCTL' -s '$QT_SOCK' show mh-1 | grep -q 'no memory.high'"
	out=$(qosctl show mh-1)
	check v1-memory-high-reported "qosctl show does not say memory.high is not applied on v1: $(grep '^memory.high' <<<"$out")" \
		grep -q 'cgroup v1 has no memory.high' <<<"$out"
	rm -f "$QT_TMP/conf.d/qt2.conf"
fi

# --- io: a latency container's I/O pressure tightens a batch container's throttle on the disk its
# class names (v1 blkio.throttle.write_bps_device, v2 io.max wbps) down to floor.blkio of the
# class's rate, measured with direct I/O; its CPU stays at the class's values (one level per
# resource); the rate comes back when the pressure ends. The latency container's pressure is its
# own: a direct reader throttled by its class waits on I/O most of the time (PSI io some).
IO_LOOP=
io_cleanup() { [[ -n $IO_LOOP ]] && losetup -d "$IO_LOOP" 2>/dev/null; }
QT_EXTRA_CLEANUP=io_cleanup
wbps_of() {
	if [[ $QT_V == 2 ]]; then
		qt_knob "$1" io io.max | awk -v d="$IO_DEV" '$1 == d { for (i = 2; i <= NF; i++) if ($i ~ /^wbps=/) print substr($i, 6) }'
	else
		qt_knob "$1" blkio blkio.throttle.write_bps_device | awk -v d="$IO_DEV" '$1 == d { print $2 }'
	fi
}
# seconds (x100) that a direct write of 16 MiB from cgroup P takes
write_cs() {
	local t0 t1
	t0=$(date +%s%N)
	run_in "$1" dd if=/dev/zero of="$IO_LOOP" bs=256k count=64 oflag=direct 2>/dev/null
	wait "$QT_LASTPID"
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 10000000))
}
io_test() {
	local ceil=$((40 << 20)) floor=$((4 << 20)) rd cs_floor cs_ceil q
	dd if=/dev/zero of="$QT_TMP/io.img" bs=1M count=0 seek=64 2>/dev/null
	IO_LOOP=$(losetup -f --show "$QT_TMP/io.img" 2>/dev/null) ||
		{ IO_LOOP=$(losetup -f) && losetup "$IO_LOOP" "$QT_TMP/io.img"; } ||
		{ IO_LOOP=; fail io-setup "could not attach a loop device"; return; }
	IO_DEV=$(printf '%d:%d' "0x$(stat -L -c %t "$IO_LOOP")" "0x$(stat -L -c %T "$IO_LOOP")")
	one_class qt4 iolat "priority = latency" "blkio.read_bps = $IO_LOOP 1M"
	one_class qt5 iobat "priority = batch" "cpu.quota = 80%" "floor.cpu.quota = 20%" \
		"blkio.write_bps = $IO_LOOP 40M" "floor.blkio = 10%"
	qt_wait 5 grep -q 'policy reloaded' "$QT_QOSD_LOG"
	mkdir_uni "$QT_CGP/iolat-1"
	qt_cg_mkdir "$QT_CGP/iolat-1"
	qt_cg_mkdir "$QT_CGP/iobat-1"
	qt_wait 10 is wbps_of "$QT_CGP/iobat-1" $ceil
	check io-starts-at-ceiling "batch wbps on $IO_DEV is '$(wbps_of "$QT_CGP/iobat-1")', want the class's $ceil" \
		is wbps_of "$QT_CGP/iobat-1" $ceil
	# priority = batch without a weight: cpu.idle = 1 (where the kernel has it), said in show
	if [[ -f $(qt_cgdir cpu "$QT_CGP/iobat-1")/cpu.idle ]]; then
		qt_wait 5 bash -c "[[ \$(cat '$(qt_cgdir cpu "$QT_CGP/iobat-1")/cpu.idle') == 1 ]]"
		check batch-implies-idle "cpu.idle of a batch class without a weight is $(qt_knob "$QT_CGP/iobat-1" cpu cpu.idle), want 1" \
			test "$(qt_knob "$QT_CGP/iobat-1" cpu cpu.idle)" = 1
		check batch-idle-shown "qosctl show does not say cpu.idle comes from priority = batch: $(qosctl show iobat-1 | grep '^cpu.idle')" \
			bash -c "'$QOSCTL' -s '$QT_SOCK' show iobat-1 | grep -q '^cpu.idle.*implied by priority = batch'"
	else
		skip batch-implies-idle "this kernel has no cpu.idle (5.15 or later)"
	fi
	log0=$(($(wc -l <"$QT_QOSD_LOG") + 1))
	# the latency container reads at its own 1 MiB/s: stalled on I/O nearly all the time
	run_in "$QT_CGP/iolat-1" dd if="$IO_LOOP" of=/dev/null bs=64k count=1024 iflag=direct
	rd=$QT_LASTPID
	seen=()
	qt_wait 30 watch_val wbps_of "$QT_CGP/iobat-1" $floor
	check io-tightened-to-floor "batch wbps $(wbps_of "$QT_CGP/iobat-1") after 30 s of latency io pressure, want floor.blkio 10% = $floor (seen: ${seen[*]})" \
		is wbps_of "$QT_CGP/iobat-1" $floor
	# the metrics: the io level at the floor, the cpu level untouched (curl; busybox wget in the VM)
	if command -v curl >/dev/null; then curl -sf --max-time 10 "http://127.0.0.1:$MPORT/metrics"
	else wget -qO- "http://127.0.0.1:$MPORT/metrics"; fi >"$QT_TMP/metrics" 2>/dev/null
	check io-metrics-level "the metrics do not give io level 4: $(grep -s '^qosd_controller_level{' "$QT_TMP/metrics" | tr '\n' ' ')" \
		grep -qx 'qosd_controller_level{resource="io"} 4' "$QT_TMP/metrics"
	check io-metrics-changes "the metrics count fewer than 4 io level changes: $(grep -s '^qosd_controller_level_changes_total{resource="io"}' "$QT_TMP/metrics")" \
		awk '/^qosd_controller_level_changes_total\{resource="io"\}/ && $2 >= 4 { ok = 1 } END { exit !ok }' "$QT_TMP/metrics"
	# the io level does not move the cpu quota: it stays at the class's value unless the log shows
	# the cpu level rose too (cpu pressure in a latency container: a busy machine)
	q=$(quota_of "$QT_CGP/iobat-1")
	if [[ $q == 80000 ]]; then
		pass io-leaves-cpu
	elif tail -n +"$log0" "$QT_QOSD_LOG" | grep -q 'controller: batch cpu level [0-9] -> [1-9]'; then
		pass io-leaves-cpu
		note "the cpu level rose too during the io test (cpu pressure from the machine's load): quota $q"
	else
		fail io-leaves-cpu "batch cpu quota $q with no cpu level change logged: the io level moved it"
	fi
	out=$(qosctl show iobat-1)
	check io-show-says-why "qosctl show iobat-1 does not say the controller adjusted blkio.write_bps for io pressure in iolat-1: $(grep '^blkio.write_bps' <<<"$out")" \
		grep -q 'blkio.write_bps.*adjusted by the controller.*latency pressure.*(io some.*in container iolat-1' <<<"$out"
	# enforced: 16 MiB at 4 MiB/s is about 4 s (the throttle lets a first slice through: >= 2.5 s)
	cs_floor=$(write_cs "$QT_CGP/iobat-1")
	note "batch wrote 16 MiB in $cs_floor/100 s at the floor ($floor B/s)"
	check io-floor-enforced "16 MiB took $cs_floor/100 s at $floor B/s, want >= 2.5 s" test "$cs_floor" -ge 250
	kill "$rd" 2>/dev/null
	wait "$rd" 2>/dev/null
	seen=()
	qt_wait 40 watch_val wbps_of "$QT_CGP/iobat-1" $ceil
	check io-given-back "batch wbps $(wbps_of "$QT_CGP/iobat-1") 40 s after the io pressure ended, want $ceil (seen: ${seen[*]})" \
		is wbps_of "$QT_CGP/iobat-1" $ceil
	between=0
	for v in "${seen[@]}"; do [[ $v =~ ^[0-9]+$ ]] && ((v > floor && v < ceil)) && between=1; done
	check io-given-back-stepwise "no rate between floor and ceiling while giving back (seen: ${seen[*]})" test $between = 1
	cs_ceil=$(write_cs "$QT_CGP/iobat-1")
	note "batch wrote 16 MiB in $cs_ceil/100 s at the ceiling ($ceil B/s)"
	# 10x the rate; under emulation on a busy host dd itself may take 2 s: at least 1.5x faster
	check io-ceiling-faster "16 MiB took $cs_ceil/100 s at the ceiling, $cs_floor/100 s at the floor: want 1.5x faster" \
		test $((3 * cs_ceil)) -lt $((2 * cs_floor))
	rm -f "$QT_TMP/conf.d/qt4.conf" "$QT_TMP/conf.d/qt5.conf"
	kill -HUP "$QT_QOSD_PID"
}
if ! command -v losetup >/dev/null || ! [[ -e /dev/loop-control || -e /dev/loop0 ]]; then
	skip io "no loop device support (losetup, /dev/loop-control)"
elif [[ $QT_V == 1 && -z $UNI ]]; then
	skip io "a v1 host without a unified hierarchy has no io pressure (PSI)"
elif [[ $QT_V == 1 && ! -d $QT_CGROOT/blkio ]]; then
	skip io "no v1 blkio hierarchy"
elif [[ $QT_V == 2 ]] && ! grep -qw io "$QT_CGROOT/cgroup.controllers"; then
	skip io "cgroup v2 without the io controller"
else
	io_test
fi

# --- the livelock guard (v2: memory.high exists, memory.events counts high)
livelock_test() {
	local t0 t1 rc
	one_class qt guard "priority = batch" "memory.high = 16M" "memory.limit = 256M" "memory.swap = 0"
	qt_wait 5 grep -q 'policy reloaded' "$QT_QOSD_LOG"
	# without qosd: a cgroup qosd does not manage, memory.high set by hand
	qt_cg_mkdir "$QT_CGP/alone"
	echo 16M >"$QT_CGROOT$QT_CGP/alone/memory.high"
	echo 0 >"$QT_CGROOT$QT_CGP/alone/memory.swap.max" 2>/dev/null
	qt_cg_run "$QT_CGP/alone" "$QOSD_HELPER_DIR/qt-alloc" 96 >"$QT_TMP/alone.out"
	local alone=$QT_LASTPID
	qt_cg_mkdir "$QT_CGP/guard-1"
	qt_wait 5 bash -c "[[ \$(cat $QT_CGROOT$QT_CGP/guard-1/memory.high) == 16777216 ]]"
	check livelock-high-applied "memory.high of guard-1 is $(cat $QT_CGROOT$QT_CGP/guard-1/memory.high), want the class's 16777216" \
		test "$(cat $QT_CGROOT$QT_CGP/guard-1/memory.high)" = 16777216
	t0=$(date +%s)
	qt_cg_run "$QT_CGP/guard-1" "$QOSD_HELPER_DIR/qt-alloc" 96 >"$QT_TMP/guard.out"
	local guarded=$QT_LASTPID
	# livelock_time 3 s: resolved well within 30 s, or the guard failed
	qt_wait 30 grep -q 'allocated=96' "$QT_TMP/guard.out"
	t1=$(date +%s)
	check livelock-resolved "the allocator over memory.high did not finish within 30 s with qosd (memory.high $(cat $QT_CGROOT$QT_CGP/guard-1/memory.high))" \
		grep -q 'allocated=96' "$QT_TMP/guard.out"
	note "with qosd: finished in $((t1 - t0)) s; memory.high now $(cat $QT_CGROOT$QT_CGP/guard-1/memory.high)"
	check livelock-logged "no livelock line in the log" grep -q 'memory.high livelock' "$QT_QOSD_LOG"
	out=$(qosctl show guard-1)
	check livelock-show "qosctl show does not say the guard raised memory.high: $(grep '^memory.high' <<<"$out")" \
		grep -q 'livelock guard' <<<"$out"
	# the same allocator without qosd is still stalled (it had longer than the guarded one)
	if kill -0 "$alone" 2>/dev/null && ! grep -q 'allocated=96' "$QT_TMP/alone.out"; then
		pass livelock-stalls-without-qosd
	else
		fail livelock-stalls-without-qosd "without qosd the allocator finished too: the test proves nothing"
	fi
	kill -9 "$alone" "$guarded" 2>/dev/null
	wait "$alone" "$guarded" 2>/dev/null
}
if [[ $QT_V == 2 && -f $QT_CGROOT/memory.pressure ]]; then
	livelock_test
elif [[ $QT_V == 2 ]]; then
	skip livelock "this kernel has no PSI (boot with psi=1)"
else
	skip livelock "cgroup v1 has no memory.high (the guard watches v2 memory.events); run in the VM"
fi

qt_finish
