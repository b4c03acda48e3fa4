#!/bin/bash
# qosd-vm: yes
# qos-hook in a real runtime: runc runs a busybox container whose config.json has qos-hook as its
# createRuntime and poststop hooks and the qosd.io/tenant and qosd.io/class annotations. Inside the
# container's cgroup the class's values are in place and hold (a CPU burner is held to the class's
# 30% quota); after the container is deleted qosd has forgotten it. Then the same with qosd
# stopped: the hook applies the limits itself, and qosd adopts the container when it starts.
source "$(dirname "$0")/lib.sh"
qt_init hook-runc

for tool in runc jq; do
	if ! command -v $tool >/dev/null; then
		skip all "$tool is not installed"
		exit 0
	fi
done
BUSYBOX=$(command -v busybox)
if [[ -z $BUSYBOX ]] || { command -v ldd >/dev/null && ldd "$BUSYBOX" 2>&1 | grep -q '=>'; }; then
	skip all "no statically linked busybox (busybox-static)"
	exit 0
fi

RUNC_ROOT=$QT_TMP/runc
RUNC=(runc --root "$RUNC_ROOT")
# pivot_root cannot leave an initramfs (the VM): move the root and chroot instead
RUN_OPTS=()
if [[ ${QT_LAYER:-} == vm ]] || [[ $(stat -f -c %T /) == @(ramfs|rootfs|tmpfs) ]]; then
	RUN_OPTS+=(--no-pivot)
fi
HOOKBIN=$(readlink -f "$QOSHOOK")

# Containers first, then what lib.sh cleans (their cgroups cannot go while they run).
runc_cleanup() {
	local id
	for id in $("${RUNC[@]}" list -q 2>/dev/null); do
		"${RUNC[@]}" kill "$id" KILL >/dev/null 2>&1
		timeout 20 "${RUNC[@]}" delete -f "$id" >/dev/null 2>&1
	done
}
trap 'runc_cleanup; qt_cleanup' EXIT

if [[ $QT_V == 2 ]]; then
	MEM=(memory memory.max) PIDS=(pids pids.max) CPU=(cpu cpu.max) CPU_WANT='30000 100000'
else
	MEM=(memory memory.limit_in_bytes) PIDS=(pids pids.max) CPU=(cpu cpu.cfs_quota_us)
	CPU_WANT=30000
fi

qt_policy qt <<EOF
[class gold]
cpu.quota = 30%
memory.limit = 64M
pids.limit = 64
EOF

# ---- the bundle: a busybox rootfs, runc's default spec edited with jq
BUNDLE=$QT_TMP/bundle
mkdir -p "$BUNDLE/rootfs/bin" "$BUNDLE/rootfs/proc" "$BUNDLE/rootfs/dev" "$BUNDLE/rootfs/sys" \
	"$BUNDLE/rootfs/tmp"
cp "$BUSYBOX" "$BUNDLE/rootfs/bin/busybox"
for a in sh sleep cat true; do ln -s busybox "$BUNDLE/rootfs/bin/$a"; done
(cd "$BUNDLE" && runc spec) || {
	fail spec "runc spec failed"
	exit 0
}
cp "$BUNDLE/config.json" "$BUNDLE/config.orig.json"

# make_config CGROUP-PATH: a CPU burner with the hooks and annotations, in CGROUP-PATH
make_config_orig() {
	local hook_args
	hook_args=$(jq -cn --arg sock "$QT_TMP/qosd.sock" --arg conf "$QT_TMP/conf.d" \
		--arg state "$QT_TMP/state" \
		'["qos-hook", "--socket", $sock, "--config-dir", $conf, "--state-dir", $state,
		  "--config", "/dev/null", "--timeout", "5"]')
	jq --arg hook "$HOOKBIN" --argjson args "$hook_args" --arg cg "$1" '
		.process.terminal = false
		| .process.args = ["sh", "-c", "while :; do :; done"]
		| .linux.cgroupsPath = $cg
		| .annotations = {"qosd.io/tenant": "qt", "qosd.io/class": "gold"}
		| .hooks = {
			createRuntime: [{path: $hook, args: ($args + ["createRuntime"]), timeout: 10}],
			poststop: [{path: $hook, args: ($args + ["poststop"]), timeout: 10}]
		  }' "$BUNDLE/config.orig.json" >"$BUNDLE/config.json"
}

make_config() { make_config_orig "$@"; }

# run_ctr ID CGROUP-PATH: start the container detached; RUNC_RC and RUNC_ERR say how it went.
# (A detached container keeps runc's stdio: never a pipe a $(...) would wait on.)
run_ctr() {
	make_config "$2"
	(cd "$BUNDLE" && exec "${RUNC[@]}" run -d "${RUN_OPTS[@]}" "$1" </dev/null >/dev/null \
		2>"$QT_TMP/runc-$1.err")
	RUNC_RC=$?
	RUNC_ERR=$(cat "$QT_TMP/runc-$1.err")
}

# CPU time used by cgroup P, in microseconds
cpu_usec() {
	if [[ $QT_V == 2 ]]; then
		awk '$1 == "usage_usec" { print $2 }' "$(qt_cgdir cpu "$1")/cpu.stat"
	else
		echo $(($(cat "$(qt_cgdir cpuacct "$1")/cpuacct.usage") / 1000))
	fi
}

# cpu_share P: percent of one CPU the cgroup used over 2 s
cpu_share() {
	local a b t0 t1
	a=$(cpu_usec "$1")
	t0=$(date +%s%N)
	sleep 2
	b=$(cpu_usec "$1")
	t1=$(date +%s%N)
	echo $(((b - a) * 100000 / ((t1 - t0) / 1000) / 1000))
}

# limits_hold NAME P: the class's values in the container's cgroup, and the CPU quota holds
limits_hold() {
	local n=$1 p=$2 share
	check "$n-cpu-quota" "${CPU[1]}=$(qt_knob "$p" "${CPU[@]}")" \
		grep -q "^$CPU_WANT" <<<"$(qt_knob "$p" "${CPU[@]}")"
	check "$n-memory" "${MEM[1]}=$(qt_knob "$p" "${MEM[@]}")" \
		test "$(qt_knob "$p" "${MEM[@]}")" = $((64 << 20))
	check "$n-pids" "pids.max=$(qt_knob "$p" "${PIDS[@]}")" test "$(qt_knob "$p" "${PIDS[@]}")" = 64
	share=$(cpu_share "$p")
	note "$n: the burner used $share% of a CPU over 2 s (quota 30%)"
	check "$n-cpu-held" "the burner used $share% of a CPU (quota 30%)" \
		test "$share" -le 36 -a "$share" -ge 5
}

listed() { "$QOSCTL" -s "$QT_SOCK" list 2>/dev/null | grep -q "^$1 .*qt .*gold .*hook"; }
not_listed() { ! "$QOSCTL" -s "$QT_SOCK" list 2>/dev/null | grep -q "^$1 "; }

# delete ID: stop the burner and delete the container (runc runs the poststop hooks)
delete_ctr() {
	"${RUNC[@]}" kill "$1" KILL >/dev/null 2>&1
	qt_wait 10 bash -c "'${RUNC[0]}' --root '$RUNC_ROOT' state '$1' | grep -q '\"status\": \"stopped\"'"
	DEL_ERR=$(timeout 30 "${RUNC[@]}" delete "$1" 2>&1)
}

# ===== 1. qosd running: the hook registers the container, poststop unregisters it
qt_start_qosd || {
	fail start "qosd did not start"
	exit 0
}
ID1=$QT_ID-r1
CG1=$QT_CGP/ctr1
run_ctr "$ID1" "$CG1"
check up-runc-run "runc run exited $RUNC_RC: $RUNC_ERR" test $RUNC_RC -eq 0 -a -d "$(qt_cgdir cpu "$CG1")"
check up-registered "qosctl list: $(qosctl list 2>&1)" listed "$ID1"
check up-cgroup "qosd has another cgroup: $(qosctl list | grep "^$ID1 ")" \
	bash -c "'$QOSCTL' -s '$QT_SOCK' list | grep '^$ID1 ' | grep -q ' $CG1$'"
limits_hold up "$CG1"
delete_ctr "$ID1"
check up-delete "runc delete: $DEL_ERR" test -z "$DEL_ERR"
check up-forgotten "still listed: $(qosctl list | grep "^$ID1 ")" qt_wait 5 not_listed "$ID1"
check up-cgroup-gone "$CG1 is still there" test ! -d "$(qt_cgdir cpu "$CG1")"

# ===== 2. qosd stopped: the hook applies the limits itself and leaves a record qosd adopts
qt_stop_qosd
ID2=$QT_ID-r2
CG2=$QT_CGP/ctr2
run_ctr "$ID2" "$CG2"
check down-runc-run "runc run exited $RUNC_RC: $RUNC_ERR" test $RUNC_RC -eq 0 -a -d "$(qt_cgdir cpu "$CG2")"
check down-pending "no pending record" test -s "$QT_TMP/state/pending/$ID2.json"
limits_hold down "$CG2"
qt_start_qosd || fail restart "qosd did not restart"
check down-adopted "qosctl list: $(qosctl list 2>&1)" qt_wait 10 listed "$ID2"
check down-adopted-ok "status: $(qosctl list | grep "^$ID2 ")" \
	bash -c "'$QOSCTL' -s '$QT_SOCK' list | grep '^$ID2 ' | grep -q ' ok'"
check down-pending-consumed "the pending record is still there" test ! -e "$QT_TMP/state/pending/$ID2.json"
check down-adopt-logged "no adoption in qosd's log" grep -q "adopted $ID2" "$QT_QOSD_LOG"
delete_ctr "$ID2"
check down-delete "runc delete: $DEL_ERR" test -z "$DEL_ERR"
check down-forgotten "still listed: $(qosctl list | grep "^$ID2 ")" qt_wait 5 not_listed "$ID2"

# ===== 3. qosd down from start to end: poststop drops the record the hook left
qt_stop_qosd
ID3=$QT_ID-r3
run_ctr "$ID3" "$QT_CGP/ctr3"
check gone-runc-run "runc run exited $RUNC_RC: $RUNC_ERR" test $RUNC_RC -eq 0 -a -s "$QT_TMP/state/pending/$ID3.json"
delete_ctr "$ID3"
check gone-delete "runc delete: $DEL_ERR" test -z "$DEL_ERR"
check gone-pending-dropped "pending/$ID3.json is still there" test ! -e "$QT_TMP/state/pending/$ID3.json"

# ===== 4. a refusal stops the container: an unknown class
make_config() {
	make_config_orig "$@"
	jq '.annotations["qosd.io/class"] = "platinum"' "$BUNDLE/config.json" >"$BUNDLE/c4.json"
	mv "$BUNDLE/c4.json" "$BUNDLE/config.json"
}
run_ctr "$QT_ID-r4" "$QT_CGP/ctr4"
check refused-not-started "runc run exited $RUNC_RC: $RUNC_ERR" test $RUNC_RC -ne 0
check refused-says "runc did not show the hook's reason: $RUNC_ERR" grep -q 'platinum' <<<"$RUNC_ERR"
check refused-gone "runc list: $("${RUNC[@]}" list -q)" bash -c "! '${RUNC[0]}' --root '$RUNC_ROOT' list -q | grep -q r4"
check refused-no-pending "pending/$QT_ID-r4.json exists" test ! -e "$QT_TMP/state/pending/$QT_ID-r4.json"

# ===== 5. cgroup v1: runc without cgroupsPath, from a shell whose memory cgroup is another one
# runc puts the container under its caller's cgroup in each hierarchy: here $QT_CGP/sh/ID in every
# hierarchy but memory, and $QT_CGP/msh/ID in memory. Registration reads each hierarchy's path
# from /proc/PID/cgroup; the class's values are read back in each (qosd up, then qosd down and
# adopted, then across a restart).
if [[ $QT_V == 2 ]]; then
	skip v1-paths "cgroup v2 has one hierarchy: paths cannot differ"
else
	make_config() {
		make_config_orig "$@"
		jq 'del(.linux.cgroupsPath)' "$BUNDLE/config.json" >"$BUNDLE/c5.json"
		mv "$BUNDLE/c5.json" "$BUNDLE/config.json"
	}
	SH=$QT_CGP/sh MSH=$QT_CGP/msh
	qt_cg_mkdir "$SH"
	qt_cg_mkdir "$MSH"
	# every other mounted v1 hierarchy too (devices, freezer, name=systemd, unified), so that
	# all runc makes stays below $QT_CGP
	JOIN=()
	for h in "$QT_CGROOT"/*/; do
		h=${h%/}
		[[ -e $h/cgroup.procs ]] || continue
		if [[ ${h##*/} == memory ]]; then
			JOIN+=("$h$MSH/cgroup.procs")
		else
			mkdir -p "$h$SH"
			JOIN+=("$h$SH/cgroup.procs")
		fi
	done
	# run_v1 ID: runc run from a shell in those cgroups
	run_v1() {
		make_config ""
		(
			for f in "${JOIN[@]}"; do echo $BASHPID >"$f" || exit 97; done
			cd "$BUNDLE" && exec "${RUNC[@]}" run -d "${RUN_OPTS[@]}" "$1" </dev/null \
				>/dev/null 2>"$QT_TMP/runc-$1.err"
		)
		RUNC_RC=$?
		RUNC_ERR=$(cat "$QT_TMP/runc-$1.err" 2>/dev/null)
	}
	# v1_limits NAME ID: the class in each hierarchy's own directory, read back
	v1_limits() {
		local n=$1 id=$2
		check "$n-memory-own-path" "memory $MSH/$id: ${MEM[1]}=$(qt_knob "$MSH/$id" "${MEM[@]}")" \
			qt_wait 5 test "$(qt_knob "$MSH/$id" "${MEM[@]}")" = $((64 << 20))
		check "$n-cpu-own-path" "cpu $SH/$id: ${CPU[1]}=$(qt_knob "$SH/$id" "${CPU[@]}")" \
			grep -q "^$CPU_WANT" <<<"$(qt_knob "$SH/$id" "${CPU[@]}")"
		check "$n-pids-own-path" "pids $SH/$id: pids.max=$(qt_knob "$SH/$id" "${PIDS[@]}")" \
			test "$(qt_knob "$SH/$id" "${PIDS[@]}")" = 64
		check "$n-no-stray-memory-dir" "qosd made $SH/$id in the memory hierarchy" \
			test ! -d "$(qt_cgdir memory "$SH/$id")"
	}
	qt_start_qosd || fail v1-start "qosd did not start"
	ID5=$QT_ID-r5
	run_v1 "$ID5"
	check v1-up-runc-run "runc run exited $RUNC_RC: $RUNC_ERR" test $RUNC_RC -eq 0
	check v1-up-paths-differ "runc did not make $MSH/$ID5 (memory) and $SH/$ID5 (cpu)" \
		test -d "$(qt_cgdir memory "$MSH/$ID5")" -a -d "$(qt_cgdir cpu "$SH/$ID5")"
	check v1-up-registered "qosctl list: $(qosctl list 2>&1)" listed "$ID5"
	check v1-up-ok "status: $(qosctl list | grep "^$ID5 ")" \
		qt_wait 5 bash -c "'$QOSCTL' -s '$QT_SOCK' list | grep '^$ID5 ' | grep -q ' ok '"
	v1_limits v1-up "$ID5"
	rec_has_mem() { qt_record "$ID5" | jq -e --arg p "$MSH/$ID5" '.hierarchies.memory == $p' >/dev/null; }
	check v1-up-state "$ID5's state record lacks the memory path: $(qt_record "$ID5")" qt_wait 3 rec_has_mem
	delete_ctr "$ID5"
	check v1-up-forgotten "still listed" qt_wait 5 not_listed "$ID5"

	qt_stop_qosd
	ID6=$QT_ID-r6
	run_v1 "$ID6"
	check v1-down-runc-run "runc run exited $RUNC_RC: $RUNC_ERR" test $RUNC_RC -eq 0
	v1_limits v1-down "$ID6"
	check v1-down-pending-path "pending record lacks the memory path" \
		jq -e --arg p "$MSH/$ID6" '.hierarchies.memory == $p' "$QT_TMP/state/pending/$ID6.json" \
		>/dev/null
	qt_start_qosd || fail v1-restart "qosd did not restart"
	check v1-adopted-ok "status: $(qosctl list | grep "^$ID6 ")" \
		qt_wait 10 bash -c "'$QOSCTL' -s '$QT_SOCK' list | grep '^$ID6 ' | grep -q ' ok '"
	# drift: qosd corrects the memory hierarchy's own directory after a restart
	echo $((128 << 20)) >"$(qt_cgdir memory "$MSH/$ID6")/memory.limit_in_bytes"
	qt_stop_qosd
	qt_start_qosd || fail v1-restart2 "qosd did not restart"
	check v1-restart-corrected "memory $MSH/$ID6 after a restart: $(qt_knob "$MSH/$ID6" "${MEM[@]}")" \
		qt_wait 5 test "$(qt_knob "$MSH/$ID6" "${MEM[@]}")" = $((64 << 20))
	delete_ctr "$ID6"
	check v1-down-delete "runc delete: $DEL_ERR" test -z "$DEL_ERR"
	qt_stop_qosd
fi
qt_finish
