#!/bin/bash
# A container cgroup whose parent does not enable the cpu, memory and pids controllers for its
# children (and cannot: the parent holds a process itself, so the no-internal-process rule refuses
# +cpu in its cgroup.subtree_control). qosd must say so once per controller, naming the parent and
# the controller, rather than an ENOENT for every knob file that is missing.
. "$(dirname "$0")/lib.sh"
qt_init v2parent
P=/$QT_ID-v2p C=/$QT_ID-v2p/c ID=$QT_ID-v2p
mkdir "$CG$P" "$CG$C"
sleep 600 &
S1=$!
echo $S1 >"$CG$P/cgroup.procs"
sleep 600 &
S2=$!
echo $S2 >"$CG$C/cgroup.procs"
at_exit "kill $S1 $S2; qosctl unset $ID --all; sleep 0.5; rmdir $CG$C $CG$P"
note "$P: cgroup.subtree_control '$(knob "$P" cgroup.subtree_control)', $C: cgroup.controllers '$(knob "$C" cgroup.controllers)'"
since=$(date +%s)
qosctl set "$ID" cgroup="$C" tenant=acme class=gold >"$QT_TMP/set.out" 2>&1
note "qosctl set $ID cgroup=$C tenant=acme class=gold: exit $?, $(tr '\n' ' ' <"$QT_TMP/set.out")"
sleep 2
qosctl show "$ID" >"$QT_TMP/show.out" 2>&1
journalctl -u qosd --since "@$since" --no-pager -o cat >"$QT_TMP/journal.out"
sed 's/^/  #   show: /' "$QT_TMP/show.out" | head -20
grep -i "$ID\|$C\|$P" "$QT_TMP/journal.out" | head -10 | sed 's/^/  #   journal: /'
enoent=$(cat "$QT_TMP/show.out" "$QT_TMP/journal.out" | grep -ci "no such file")
check no-enoent-per-knob "$enoent lines say 'No such file' for the missing knob files" test "$enoent" -eq 0
for ctl in cpu memory pids; do
	n=$(grep -c "$P.*\b$ctl\b\|\b$ctl\b.*$P" "$QT_TMP/journal.out")
	if ((n == 1)); then
		pass "names-parent-$ctl"
	else
		fail "names-parent-$ctl" "$n journal lines name the parent $P and the $ctl controller (want 1)"
	fi
done
qt_finish
