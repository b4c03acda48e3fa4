#!/bin/bash
# Churn: containers made and removed through qos-hook (the --id/--pid form and the OCI form with
# createRuntime/poststop state on stdin), through the [match] watcher (mkdir/rmdir), some with a
# veth (tc) and in the VM some with a project quota, with reloads and qosctl set/unset in between,
# a sliding window of live containers. Afterwards: no leaked cgroup, ifb, project id, state entry,
# pending record or file descriptor, and qosd's RSS back within 10% of what it was after warm-up.
#   make check: 200 containers (VM: 12)     QT_SOAK=1 (make soak): 2,000     QT_CHURN_N overrides
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-net.sh"
qt_init churn

VM=
[[ ${QT_LAYER:-} == vm ]] && VM=1
if [[ -n ${QT_SOAK:-} ]]; then
	N=${QT_CHURN_N:-2000}
elif [[ -n $VM ]]; then
	N=${QT_CHURN_N:-12} # plain emulation: a hook run costs a good part of a second there
else
	N=${QT_CHURN_N:-200}
fi
LIVE=8 # containers alive at once
WARM=$((N / 5 > 20 ? N / 5 : 20))
((WARM > N / 2)) && WARM=$((N / 2))
# what RSS and fds are compared with has seen every kind of request: removals start after LIVE
# containers, the first set/unset at the 9th (the VM's 12 containers had neither by the 6th)
((WARM < LIVE + 2 && LIVE + 2 < N)) && WARM=$((LIVE + 2))

# qosd's RSS is what this test measures: under ASan, freed memory waits in a quarantine (256 MiB by
# default) and would look like growth; with it off, heap reuse is the plain allocator's
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:quarantine_size_mb=0:thread_local_quarantine_size_kb=0"

NET=1
net_init || {
	NET=
	skip tc "$NET_WHY"
}
MNT=${QT_XFS_MNT:-}
QROOT=
if [[ -n $MNT ]] && awk -v m="$MNT" '$2 == m && $4 ~ /(prjquota|pquota)/ { f = 1 } END { exit !f }' /proc/mounts &&
	command -v xfs_quota >/dev/null; then
	QROOT=$MNT/$QT_ID
	QT_EXTRA_CLEANUP="${QT_EXTRA_CLEANUP:+$QT_EXTRA_CLEANUP; }rm -rf \"$QROOT\""
	mkdir -p "$QROOT"
else
	skip quota "no XFS with prjquota here (the VM layer has one at \$QT_XFS_MNT)"
fi

write_policy() {
	qt_policy qt <<EOF
[class silver]
cpu.shares = $1
memory.limit = 128M
pids.limit = 100

[class net]
cpu.shares = $1
net.ingress = 20mbit
net.egress = 10mbit

[class disk]
pids.limit = 50
disk.quota = 10M

[match]
$QT_CGP/w-* = silver
EOF
}
write_policy 512
{
	echo "drift_interval = 1s"
	echo "tenant_parent = $QT_CGP"
	[[ -n $QROOT ]] && echo "quota_roots = $QROOT"
} >"$QT_TMP/qosd.conf"
qt_cg_mkdir "$QT_CGP/hk"
qt_start_qosd --config "$QT_TMP/qosd.conf" || {
	fail start "qosd did not start"
	qt_finish
	exit 0
}
QP=$QT_QOSD_PID
if [[ -n $NET ]]; then
	# qosd runs inside the netns world: its pid is the wrapper's (nsenter execs), check
	grep -q qosd "/proc/$QP/comm" || note "qosd's pid $QP is $(cat /proc/$QP/comm)"
fi
if [[ $QT_V == 2 ]]; then MEM_FILE=memory.max; else MEM_FILE=memory.limit_in_bytes; fi

# Rss of smaps_rollup walks the page tables; VmRSS (/proc/PID/status) is a per-CPU counter the
# kernel sums lazily: in the VM it stayed at its start value through the churn and caught up by
# 1.3 MiB only at the end, while smaps summed 6.9 MiB all along (rss-back failed in CI that way)
rss_kb() { awk '/^Rss:/ { print $2 }' "/proc/$QP/smaps_rollup"; }
fd_count() { ls "/proc/$QP/fd" | wc -l; }
FD0=$(fd_count)
RSS0=$(rss_kb)

HOOK=("$QOSHOOK" --socket "$QT_SOCK" --config-dir "$QT_TMP/conf.d" --config "$QT_TMP/qosd.conf"
	--state-dir "$QT_TMP/state" --cgroupfs "$QT_CGROOT")
ERRS=0
err() {
	ERRS=$((ERRS + 1))
	((ERRS <= 10)) && note "cycle $i: $*"
}

# a process in cgroup P, started outside it and moved in (no polling): pid in $CPID
run_in() {
	local p=$1 c
	shift
	"$@" &
	CPID=$!
	QT_PIDS+=("$CPID")
	for c in "${QT_CTRLS[@]}"; do echo "$CPID" >"$(qt_cgdir "$c" "$p")/cgroup.procs"; done
}
rm_cg() {
	local p=$1 c d
	for c in "${QT_CTRLS[@]}"; do
		d=$(qt_cgdir "$c" "$p")
		rmdir "$d" 2>/dev/null || { sleep 0.05; rmdir "$d" 2>/dev/null; } || err "cannot remove $d"
	done
}
oci_state() { # ID PID STATUS [CLASS]
	printf '{"ociVersion":"1.0.2","id":"%s","status":"%s","pid":%s,"bundle":"%s","annotations":{"qosd.io/tenant":"qt","qosd.io/class":"%s"}}' \
		"$1" "$3" "$2" "$QT_TMP" "${4:-silver}"
}

declare -A KIND PID_OF
# create container number i; kinds: w (watcher), h (hook --id/--pid), o (hook, OCI form),
# n (hook with a veth), q (hook with a project quota; VM only)
create() {
	local i=$1 k=w id out
	case $((i % 10)) in
	1 | 4 | 7) k=h ;;
	2 | 5 | 8) k=o ;;
	3) [[ -n $NET ]] && k=n ;;
	6) [[ -n $QROOT ]] && k=q ;;
	esac
	id=$k-$i
	KIND[$i]=$k
	case $k in
	w)
		qt_cg_mkdir "$QT_CGP/$id"
		return
		;;
	n)
		qt_cg_mkdir "$QT_CGP/hk/$id"
		net_container "$id" "$QT_CGP/hk/$id" || { err "no veth for $id"; return; }
		CPID=$QT_LASTPID
		# net_container starts the sleep in the cgroup itself; wait for it to be there
		local t
		for t in $(seq 100); do
			grep -qx "$CPID" "$(qt_cgdir "${QT_CTRLS[0]}" "$QT_CGP/hk/$id")/cgroup.procs" && break
			sleep 0.02
		done
		;;
	*)
		qt_cg_mkdir "$QT_CGP/hk/$id"
		run_in "$QT_CGP/hk/$id" sleep 100000
		;;
	esac
	PID_OF[$i]=$CPID
	case $k in
	h) out=$("${HOOK[@]}" --id "$id" --pid "$CPID" --tenant qt --class silver 2>&1) ;;
	o) out=$(oci_state "$id" "$CPID" created | "${HOOK[@]}" createRuntime 2>&1) ;;
	n) out=$("${HOOK[@]}" --id "$id" --pid "$CPID" --tenant qt --class net 2>&1) ;;
	q)
		mkdir -p "$QROOT/$id"
		out=$("${HOOK[@]}" --id "$id" --pid "$CPID" --tenant qt --class disk --dir "$QROOT/$id" 2>&1)
		;;
	esac
	[[ $? -eq 0 ]] || err "hook register $id: $out"
}
# remove container number i; every 7th hook container gets no release (a runtime that never ran
# poststop): qosd must forget it once its cgroup is gone
remove() {
	local i=$1 k=${KIND[$1]} id=${KIND[$1]}-$1 out
	if [[ $k == w ]]; then
		rm_cg "$QT_CGP/$id"
		return
	fi
	kill -9 "${PID_OF[$i]}" 2>/dev/null
	wait "${PID_OF[$i]}" 2>/dev/null
	[[ $k == n ]] && net_drop "$id"
	rm_cg "$QT_CGP/hk/$id"
	if ((i % 7 != 0)); then
		if [[ $k == o ]]; then
			out=$(oci_state "$id" 0 stopped | "${HOOK[@]}" poststop 2>&1)
		else
			out=$("${HOOK[@]}" --id "$id" --release 2>&1)
		fi
		[[ $? -eq 0 ]] || err "hook release $id: $out"
	fi
	[[ $k == q ]] && rm -rf "${QROOT:?}/$id"
	unset "PID_OF[$i]"
}
# spot checks: the limits are there
verify() {
	local i=$1 k=${KIND[$1]} id=${KIND[$1]}-$1 p
	case $k in
	w) p=$QT_CGP/$id ;;
	*) p=$QT_CGP/hk/$id ;;
	esac
	case $k in
	n) qosctl show "$id" 2>/dev/null | grep -q "net.ingress.*20mbit" || err "$id: no net.ingress in show" ;;
	q) [[ $(qosctl show "$id" --json 2>/dev/null | jq -r '.projid // 0') -gt 0 ]] || err "$id: no project id" ;;
	*) qt_wait 3 bash -c "[[ \$(cat '$(qt_cgdir memory "$p")/$MEM_FILE') == $((128 << 20)) ]]" ||
		err "$id: $MEM_FILE is $(qt_knob "$p" memory $MEM_FILE)" ;;
	esac
}

T0=$SECONDS
RSS_WARM=
for ((i = 1; i <= N; i++)); do
	create $i
	((i % 5 == 0)) && verify $i
	((i > LIVE)) && remove $((i - LIVE))
	# changes in between: a reload with another cpu.shares, a SIGHUP, an override set and unset
	if ((i % 50 == 25)); then
		write_policy $((i % 100 == 25 ? 256 : 512))
		qosctl reload >/dev/null || err "reload failed"
	elif ((i % 50 == 0)); then
		kill -HUP "$QP"
	fi
	if ((i % 10 == 9)) && [[ -n ${KIND[$((i - 1))]:-} ]]; then
		j=$((i - 1))
		out=$(qosctl set "${KIND[$j]}-$j" pids.limit=77 2>&1) || err "set on ${KIND[$j]}-$j: $out"
		out=$(qosctl unset "${KIND[$j]}-$j" pids.limit 2>&1) || err "unset on ${KIND[$j]}-$j: $out"
	fi
	if ((i == WARM)); then
		qosctl list >/dev/null # (the end's checks list too)
		sleep 1.2 # a drift pass
		RSS_WARM=$(rss_kb)
		FD_WARM=$(fd_count)
	fi
done
for ((j = N - LIVE + 1; j <= N; j++)); do ((j >= 1)) && remove $j; done
T_CHURN=$((SECONDS - T0))
check no-errors "$ERRS hook/qosctl/kernel errors during the churn (the first are above)" test $ERRS -eq 0

# --- leaks: everything made went away
state_empty() { [[ $(qt_state | jq '.containers | length' 2>/dev/null) == 0 ]]; }
list_empty() { [[ $(qosctl list 2>/dev/null | awk 'NR > 1' | grep -c .) == 0 ]]; }
check no-state-entries "the state holds $(qt_state | jq '.containers | length' 2>/dev/null) containers" \
	qt_wait 5 state_empty
check list-empty "qosctl list still shows: $(qosctl list 2>/dev/null | awk 'NR > 1 { print $1 }' | head -5 | tr '\n' ' ')" \
	qt_wait 3 list_empty
check no-pending "pending records left: $(ls "$QT_TMP/state/pending" 2>/dev/null | head -5)" \
	test -z "$(ls "$QT_TMP/state/pending" 2>/dev/null)"
left=$(for c in "${QT_CTRLS[@]}"; do find "$(qt_cgdir "$c" "$QT_CGP")" -mindepth 1 -type d; done 2>/dev/null |
	grep -v "/hk$" | head -5)
check no-cgroups "cgroups left under $QT_CGP: $left" test -z "$left"
if [[ -n $NET ]]; then
	no_ifbs() { [[ -z $(net_ifbs) ]]; }
	check no-ifbs "ifbs left: $(net_ifbs | tr '\n' ' ')" qt_wait 3 no_ifbs
fi
if [[ -n $QROOT ]]; then
	# no hard limit left on any id in qosd's ranges
	lim=$(xfs_quota -x -c "report -p -n -N -b" "$MNT" 2>/dev/null |
		awk '$1 ~ /^#/ { id = substr($1, 2) + 0; if (id >= 50000 && $4 > 0) print id }' | tr '\n' ' ')
	check no-project-limits "project ids still limited: $lim" test -z "$lim"
fi
sleep 1.2 # a drift pass after the last removal
FD1=$(fd_count)
RSS1=$(rss_kb)
note "$N containers in ${T_CHURN} s; fds: $FD0 at start, ${FD_WARM:-?} after warm-up ($WARM containers), $FD1 at the end"
note "RSS: $RSS0 KiB at start, ${RSS_WARM:-?} KiB after warm-up, $RSS1 KiB at the end"
check no-fd-leak "qosd had $FD0 fds at start, $FD1 at the end: $(ls -l "/proc/$QP/fd" 2>/dev/null | tail -5 | awk '{ print $NF }' | tr '\n' ' ')" \
	test "$FD1" -le "$FD0"
check rss-back "RSS ${RSS1} KiB at the end, ${RSS_WARM:-?} after warm-up: more than 10% above" \
	test -n "$RSS_WARM" -a "$RSS1" -le $((RSS_WARM + RSS_WARM / 10))
qt_stop_qosd
rc=$?
check clean-exit "qosd exited $rc on SIGTERM (99: LeakSanitizer found a leak)" test $rc -eq 0

qt_finish
