#!/bin/bash
# Crash anywhere: kill -9 qosd at random moments while it applies a policy to many containers (at
# start-up, and after a SIGHUP that changes every value), restart it each time, and check that the
# kernel converges to the policy within a second, with no duplicate qdisc, filter, ifb, project id
# or state entry. Containers: cgroups under a [match] root; some with a veth (tc, in a netns world
# of the test's own); in the VM some with a project quota on $QT_XFS_MNT (registered with qosctl).
#   make check: 8 kills, 40 containers (VM: 2, 6 + 2 with quota)   QT_SOAK=1 (make soak): 50 kills, 200
#   QT_CRASH_KILLS, QT_CRASH_N, QT_CRASH_SEED override; QT_CONVERGE_MS (default 1000; VM 5000)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-net.sh"
qt_init crash

VM=
[[ ${QT_LAYER:-} == vm ]] && VM=1
if [[ -n ${QT_SOAK:-} ]]; then
	KILLS=${QT_CRASH_KILLS:-50} N=${QT_CRASH_N:-200} NNET=20 NQ=20
elif [[ -n $VM ]]; then
	# plain emulation: every process costs tens of ms; the VM layer shares one time bound
	KILLS=${QT_CRASH_KILLS:-2} N=${QT_CRASH_N:-6} NNET=1 NQ=2
else
	KILLS=${QT_CRASH_KILLS:-8} N=${QT_CRASH_N:-40} NNET=8 NQ=0
fi
CONV_MS=${QT_CONVERGE_MS:-$([[ -n $VM ]] && echo 5000 || echo 1000)}
SEED=${QT_CRASH_SEED:-$$}
RANDOM=$SEED

# --- the world: tc for the first NNET containers, quota for NQ more (VM only)
NET=1
net_init || {
	NET=
	skip tc "$NET_WHY"
	NNET=0
}
MNT=${QT_XFS_MNT:-}
if [[ $NQ -gt 0 ]] && { [[ -z $MNT ]] ||
	! awk -v m="$MNT" '$2 == m && $4 ~ /(prjquota|pquota)/ { f = 1 } END { exit !f }' /proc/mounts ||
	! command -v xfs_quota >/dev/null; }; then
	NQ=0
fi
[[ $NQ -eq 0 ]] && skip quota "no XFS with prjquota here (the VM layer has one at \$QT_XFS_MNT)"
note "$KILLS kills, $N cgroup containers ($NNET with a veth), $NQ more with a project quota; seed $SEED"
QROOT=
if [[ $NQ -gt 0 ]]; then
	QROOT=$MNT/$QT_ID
	QT_EXTRA_CLEANUP="${QT_EXTRA_CLEANUP:+$QT_EXTRA_CLEANUP; }rm -rf \"$QROOT\""
	mkdir -p "$QROOT"
fi

if [[ $QT_V == 2 ]]; then CPU_FILE=cpu.weight MEM_FILE=memory.max; else CPU_FILE=cpu.shares MEM_FILE=memory.limit_in_bytes; fi

# version V (0 or 1) of the policy: every value differs between the two
SHARES=(512 256) MEM=(128M 96M) MEMB=($((128 << 20)) $((96 << 20))) PIDS=(100 200)
IN=(20mbit 30mbit) INR=(20Mbit 30Mbit) EG=(10mbit 15mbit) EGR=(10Mbit 15Mbit) DQ=(10M 20M) DQK=(10240 20480)
write_policy() {
	local v=$1
	qt_policy qt <<EOF
[class silver]
cpu.shares = ${SHARES[$v]}
memory.limit = ${MEM[$v]}
pids.limit = ${PIDS[$v]}

[class net]
cpu.shares = ${SHARES[$v]}
memory.limit = ${MEM[$v]}
pids.limit = ${PIDS[$v]}
net.ingress = ${IN[$v]}
net.egress = ${EG[$v]}

[class disk]
disk.quota = ${DQ[$v]}

[match]
$QT_CGP/c-* = silver
$QT_CGP/n-* = net
EOF
	VER=$v
}
cpu_want() {
	if [[ $QT_V == 2 ]]; then echo $(((${SHARES[$1]} * 100 + 512) / 1024)); else echo "${SHARES[$1]}"; fi
}
{
	echo "drift_interval = 0s"
	echo "tenant_parent = $QT_CGP"
	[[ -n $QROOT ]] && echo "quota_roots = $QROOT"
} >"$QT_TMP/qosd.conf"

# cgroups in bulk (qt_cg_mkdir forks a few processes per cgroup; at 200 that adds up)
NAMES=()
for ((i = 1; i <= N; i++)); do
	if ((i <= NNET)); then NAMES+=("n-$i"); else NAMES+=("c-$i"); fi
done
for ((i = 1; i <= NQ; i++)); do NAMES+=("q-$i"); done
if [[ $QT_V == 2 ]]; then
	qt_cg_mkdir "$QT_CGP/${NAMES[0]}" # enables the controllers in $QT_CGP for all of them
	(cd "$QT_CGROOT$QT_CGP" && mkdir "${NAMES[@]:1}")
else
	for c in "${QT_CTRLS[@]}"; do (cd "$QT_CGROOT/$c$QT_CGP" && mkdir "${NAMES[@]}"); done
	if [[ -d $QT_CGROOT/cpuset ]]; then
		read -r cpus <"$QT_CGROOT/cpuset$QT_CGP/cpuset.cpus"
		read -r mems <"$QT_CGROOT/cpuset$QT_CGP/cpuset.mems"
		for n in "${NAMES[@]}"; do
			echo "$cpus" >"$QT_CGROOT/cpuset$QT_CGP/$n/cpuset.cpus"
			echo "$mems" >"$QT_CGROOT/cpuset$QT_CGP/$n/cpuset.mems"
		done
	fi
fi
VETHS=()
for ((i = 1; i <= NNET; i++)); do
	net_container "n-$i" "$QT_CGP/n-$i" || { fail world "cannot make the veth of n-$i"; break; }
	VETHS+=("$NET_VETH")
done
for ((i = 1; i <= NNET; i++)); do
	qt_wait 5 grep -q . "$(qt_cgdir "${QT_CTRLS[0]}" "$QT_CGP/n-$i")/cgroup.procs" || note "n-$i has no process yet"
done
# the knob files of every cgroup container, per knob
CPU_FILES=() MEM_FILES=() PIDS_FILES=()
for n in "${NAMES[@]}"; do
	[[ $n == q-* ]] && continue
	CPU_FILES+=("$(qt_cgdir cpu "$QT_CGP/$n")/$CPU_FILE")
	MEM_FILES+=("$(qt_cgdir memory "$QT_CGP/$n")/$MEM_FILE")
	PIDS_FILES+=("$(qt_cgdir pids "$QT_CGP/$n")/pids.max")
done
NTOTAL=${#NAMES[@]}

# --- what the kernel has, compared with policy version VER (each a handful of processes)
all_are() {
	local want=$1
	shift
	awk -v w="$want" 'FNR == 1 { n++; if ($0 != w) bad++ } END { exit !(n == ARGC - 1 && !bad) }' "$@" 2>/dev/null
}
cg_ok() {
	all_are "$(cpu_want $VER)" "${CPU_FILES[@]}" && all_are "${MEMB[$VER]}" "${MEM_FILES[@]}" &&
		all_are "${PIDS[$VER]}" "${PIDS_FILES[@]}"
}
tc_ok() {
	[[ $NNET -eq 0 ]] && return 0
	tc -n "$NET_H" qdisc show 2>/dev/null | awk -v r1="${INR[$VER]}" -v r2="${EGR[$VER]}" -v n=$NNET '
		$1 == "qdisc" && $2 == "tbf" { dev = $5; rate = $0; sub(/.* rate /, "", rate); sub(/ .*/, "", rate)
			if (dev ~ /^qifb/) { if (rate == r2) e++; else bad++ } else if (rate == r1) i++; else bad++ }
		END { exit !(i == n && e == n && !bad) }'
}
# project ids with a hard block limit on the XFS: "ID KiB" lines
xq_limits() {
	xfs_quota -x -c "report -p -n -N -b" "$MNT" 2>/dev/null | awk '$1 ~ /^#/ && $4 > 0 { id = $1; sub(/^#/, "", id); print id, $4 }'
}
state_projids() { qt_state | jq -r '.containers[] | select(.id | startswith("q-")) | .projid' 2>/dev/null; }
Q_REG= # the quota containers are registered after the first start
q_ok() {
	[[ $NQ -eq 0 || -z $Q_REG ]] && return 0
	local ids
	ids=$(state_projids | sort -u | grep -v '^0$' | tr '\n' ' ')
	[[ $(wc -w <<<"$ids") -eq $NQ ]] || return 1
	xq_limits | awk -v ids=" $ids" -v k="${DQK[$VER]}" -v n=$NQ '
		index(ids, " " $1 " ") { if ($2 == k) ok++; else bad++ } END { exit !(ok == n && !bad) }'
}
converged() { cg_ok && tc_ok && q_ok; }

ms_now() { echo $(($(date +%s%N) / 1000000)); }
# start qosd and measure how long until the kernel has policy version VER everywhere
CONV_TIMES=()
start_and_converge() {
	local tag=$1 t0 ms
	t0=$(ms_now)
	qt_start_qosd --config "$QT_TMP/qosd.conf" || {
		fail "$tag-start" "qosd did not start"
		return 1
	}
	if qt_wait 10 converged; then
		ms=$(($(ms_now) - t0))
		CONV_TIMES+=("$ms")
		((ms <= CONV_MS)) || fail "$tag-converge-time" "converged ${ms} ms after the restart, want <= $CONV_MS"
		return 0
	fi
	fail "$tag-converges" "not converged to policy v$VER 10 s after the restart: cgroups $(cg_ok && echo ok || echo NO), tc $(tc_ok && echo ok || echo NO), quota $(q_ok && echo ok || echo NO)"
	qt_show_log 15
	return 1
}

# --- no duplicates: one filter per veth, one ifb per container with a veth and no other, one
# state entry per container, distinct project ids, no limit on an id nobody holds
state_count_is() { [[ $(qt_state | jq '.containers | length' 2>/dev/null) == "$1" ]]; }
no_dups() {
	local tag=$1 v n u out bad=
	for v in "${VETHS[@]}"; do
		n=$(tc -n "$NET_H" filter show dev "$v" ingress 2>/dev/null | grep -c 'Egress Redirect')
		[[ $n == 1 ]] || bad="$bad $v:filters=$n"
		n=$(tc -n "$NET_H" qdisc show dev "$v" 2>/dev/null | grep -c '^qdisc ingress')
		[[ $n == 1 ]] || bad="$bad $v:ingress=$n"
	done
	if [[ $NNET -gt 0 ]]; then
		out=$(net_ifbs)
		n=$(grep -c . <<<"$out")
		u=$(awk '$2 ~ /^n-/ { print $2 }' <<<"$out" | sort -u | wc -l)
		[[ $n == "$NNET" && $u == "$NNET" ]] || bad="$bad ifbs=$n(for $u containers, want $NNET)"
	fi
	qt_wait 3 state_count_is "$NTOTAL" || bad="$bad state-entries=$(qt_state | jq '.containers | length' 2>/dev/null)"
	n=$(qt_state | jq '[.containers[].id] | length' 2>/dev/null)
	u=$(qt_state | jq '[.containers[].id] | unique | length' 2>/dev/null)
	[[ $n == "$u" ]] || bad="$bad state-ids=$n(unique $u)"
	out=$(qosctl list 2>/dev/null | awk 'NR > 1 { print $1 }')
	[[ $(grep -c . <<<"$out") == "$NTOTAL" && $(sort -u <<<"$out" | grep -c .) == "$NTOTAL" ]] ||
		bad="$bad list=$(grep -c . <<<"$out")"
	if [[ $NQ -gt 0 ]]; then
		local ids extra
		ids=$(state_projids | grep -v '^0$')
		[[ $(sort -u <<<"$ids" | grep -c .) == "$NQ" ]] || bad="$bad projids=$(tr '\n' ' ' <<<"$ids")"
		extra=$(xq_limits | awk -v ids=" $(tr '\n' ' ' <<<"$ids")" '!index(ids, " " $1 " ") { print $1 }')
		[[ -z $extra ]] || bad="$bad limits-on-unheld-ids:$extra"
		if command -v xfs_io >/dev/null; then
			for ((i = 1; i <= NQ; i++)); do
				n=$(xfs_io -r -c lsproj "$QROOT/q-$i" 2>/dev/null | awk '{ print $NF }')
				v=$(qt_state | jq -r '.containers[] | select(.id == "q-'$i'") | .projid')
				[[ $n == "$v" ]] || bad="$bad q-$i:dir=$n,state=$v"
			done
		fi
	fi
	if [[ -n $bad ]]; then
		fail "$tag-no-duplicates" "$bad"
		return 1
	fi
	return 0
}

# --- first start: register the quota containers, converge, measure the apply time
write_policy 0
start_and_converge first || {
	qt_finish
	exit 0
}
for ((i = 1; i <= NQ; i++)); do
	mkdir -p "$QROOT/q-$i"
	out=$(qosctl set "q-$i" cgroup="$QT_CGP/q-$i" tenant=qt class=disk disk.dir="$QROOT/q-$i" 2>&1) ||
		fail register-q "qosctl set q-$i: $out"
done
Q_REG=1
if ! qt_wait 5 converged; then
	fail first-converges "not converged after registering the quota containers: cgroups $(cg_ok && echo ok || echo NO), tc $(tc_ok && echo ok || echo NO), quota $(q_ok && echo ok || echo NO)"
	note "state projids: $(state_projids | tr '\n' ' '); limits: $(xq_limits | tr '\n' ' ')"
	[[ $NQ -gt 0 ]] && qosctl show q-1 | sed 's/^/  # show: /'
	qt_show_log 10
fi
qt_kill9_qosd
note "first start: converged ${CONV_TIMES[0]} ms after the exec"
start_and_converge first-restart || true
no_dups first || qt_show_log 10

# The kill window: the apply itself ("ready: ... applied in X ms" of the first start, which wrote
# every knob, as each start and reload below does). Waits are busy loops on $EPOCHREALTIME: a sleep
# process costs more than the window at 40 containers.
X=$(sed -n 's/.*ready: .* applied in \([0-9]*\) ms.*/\1/p' "$QT_QOSD_LOG" | head -1)
W_US=$((${X:-5} * 1000 + 2000))
note "the first start applied every knob in ${X:-?} ms; kills land at random in the first $((W_US / 1000)) ms of an apply"
us_now() { echo "${EPOCHREALTIME/./}"; }
spin_until() { while (($(us_now) < $1)); do :; done; }
MID=0
for ((k = 1; k <= KILLS; k++)); do
	write_policy $((k % 2))
	delay=$(((RANDOM * 32768 + RANDOM) % W_US))
	applied0=$(grep -c ' applied \| corrected ' "$QT_QOSD_LOG")
	ready0=$(grep -c 'ready: ' "$QT_QOSD_LOG")
	if ((k % 2)); then
		# at start-up: adoption of every container and the apply of a changed policy, which
		# begins right after the socket is bound
		qt_kill9_qosd
		rm -f "$QT_TMP/qosd.sock"
		"$QOSD" --config-dir "$QT_TMP/conf.d" --state-dir "$QT_TMP/state" --socket "$QT_TMP/qosd.sock" \
			--cgroupfs "$QT_CGROOT" --config "$QT_TMP/qosd.conf" >>"$QT_QOSD_LOG" 2>&1 &
		QT_QOSD_PID=$!
		end=$(($(us_now) + 10000000))
		while [[ ! -S $QT_TMP/qosd.sock ]] && (($(us_now) < end)); do :; done
		how="start-up"
	else
		kill -HUP "$QT_QOSD_PID"
		how="SIGHUP"
	fi
	spin_until $(($(us_now) + delay))
	qt_kill9_qosd
	applied=$(($(grep -c ' applied \| corrected ' "$QT_QOSD_LOG") - applied0))
	if (($(grep -c 'ready: ' "$QT_QOSD_LOG") == ready0 || k % 2 == 0)) && ((applied > 0)); then
		MID=$((MID + 1))
	fi
	start_and_converge "kill$k" || break
	no_dups "kill$k" || break
	note "kill $k ($how +$((delay / 1000)).$(printf %03d $((delay % 1000))) ms, $applied knob writes logged before it): converged ${CONV_TIMES[-1]} ms after the restart"
done
note "$MID of $KILLS kills landed after some knobs of the new policy were written"
if [[ $QT_FAILS -eq $FAILS_BEFORE ]]; then
	pass "kills-converge"
	pass "kills-no-duplicates"
fi
max=0 sum=0
for t in "${CONV_TIMES[@]}"; do
	((t > max)) && max=$t
	sum=$((sum + t))
done
note "convergence after a restart: mean $((sum / ${#CONV_TIMES[@]})) ms, max $max ms over ${#CONV_TIMES[@]} starts (bound $CONV_MS ms)"
out=$(qosctl list 2>/dev/null | awk 'NR > 1 && $0 !~ / ok / { print $1 ": " $0 }' | head -5)
check all-ok "containers not ok after the kills: $out" test -z "$out"

# --- no state record was ever left broken by a kill: nothing set aside as corrupt (a kill during
# an append leaves at most a torn last line, an append never acknowledged, dropped and cut at the
# next start; a kill during a compaction its snapshot tmp file, removed at the next start)
note "torn journal lines dropped at the restarts: $(grep -c 'has no end' "$QT_QOSD_LOG")"
check no-corrupt-state "a state record was set aside as corrupt: $(ls -A "$QT_TMP/state" "$QT_TMP/state/containers" | grep corrupt)" \
	bash -c "! ls -A '$QT_TMP/state' '$QT_TMP/state/containers' | grep -q corrupt"
check no-tmp-left-over "$(ls -A "$QT_TMP/state/containers" | grep tmp)" \
	bash -c "[[ \$(ls -A '$QT_TMP/state' '$QT_TMP/state/containers' | grep -c '\.tmp') -le 1 ]]"
qt_stop_qosd
rc=$?
check clean-exit "qosd exited $rc on SIGTERM" test $rc -eq 0
# the quota containers go (their cgroups removed): qosd clears their limits
if [[ $NQ -gt 0 ]]; then
	HELD=" $(state_projids | tr '\n' ' ')"
	no_held_limits() { [[ -z $(xq_limits | awk -v ids="$HELD" 'index(ids, " " $1 " ")') ]]; }
	qt_start_qosd --config "$QT_TMP/qosd.conf" || fail quota-release "qosd did not start"
	for ((i = 1; i <= NQ; i++)); do qt_cg_rmtree "$QT_CGP/q-$i"; done
	check quota-released "limits still set on the ids of removed containers: $(xq_limits | awk -v ids="$HELD" 'index(ids, " " $1 " ")' | tr '\n' ' ')" \
		qt_wait 5 no_held_limits
	if [[ $QT_FAILS -gt 0 ]]; then
		qosctl list | grep '^q-' | sed 's/^/  # list: /'
		ls "$QT_CGROOT$QT_CGP" | tr '\n' ' ' | sed 's/^/  # cgroups: /'
		echo
		grep -E "forget|gone|quota|watch" "$QT_QOSD_LOG" | tail -10 | sed 's/^/  # log: /'
	fi
	qt_stop_qosd
fi

qt_finish
