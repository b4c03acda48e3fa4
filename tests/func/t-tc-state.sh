#!/bin/bash
# What one bad record or one shared ifb name may cost, from the side of whoever registers a
# container (issue 12): containers registered through qos-hook (no [match] rule re-finds them)
# with a veth each, in a netns world of the test's own (lib-net.sh).
#  - a registration whose stored field the state loader would refuse is refused at the door;
#  - one corrupt state record costs that container alone: after a restart every other container
#    keeps its tc shaping (ingress tbf, egress ifb + redirect), and the lost one's ifb is kept too;
#  - two ids whose ifb names collide (constructed: test-tc.c checks they still do) never take over
#    or delete each other's ifb or redirect;
#  - net.* at the edges of what tbf can do: accepted and applied, one step beyond refused up front;
#  - with every netlink call slow, qosd answers qosctl between two containers of a pass.
# QT_COLLIDE="ID1 ID2" overrides the colliding pair (to run this against another name scheme).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-net.sh"
qt_init tcstate

for tool in ip tc jq nsenter; do
	command -v $tool >/dev/null || {
		skip all "$tool is not installed"
		exit 0
	}
done
net_init || {
	skip all "$NET_WHY"
	exit 0
}
read -r CA CB <<<"${QT_COLLIDE:-qc-964001deb298d50f qc-ca3cf2543fa8f9a4}"
STATE=$QT_TMP/state

qt_policy qt <<EOF
[class net]
net.ingress = 20mbit
net.egress = 10mbit
EOF
echo "drift_interval = 0s" >"$QT_TMP/qosd.conf"

hook() {
	"$QOSHOOK" --socket "$QT_SOCK" --config-dir "$QT_TMP/conf.d" --config "$QT_TMP/qosd.conf" \
		--state-dir "$STATE" --cgroupfs "$QT_CGROOT" "$@"
}
declare -A VETH=()
container() { # NAME: cgroup, netns + veth, a sleep in both; registered through the hook
	qt_cg_mkdir "$QT_CGP/$1"
	net_container "$1" "$QT_CGP/$1" || return 1
	VETH[$1]=$NET_VETH
	qt_wait 5 grep -qx "${NET_PID[$1]}" "$(qt_cgdir "${QT_CTRLS[0]}" "$QT_CGP/$1")/cgroup.procs"
	# nsenter joins the netns before it execs: register only once the process is in it
	qt_wait 5 in_own_netns "$1"
}
in_own_netns() { [[ $(stat -L -c %i "/proc/${NET_PID[$1]}/ns/net") == "$(stat -L -c %i "/run/netns/$QT_ID-$1")" ]]; }
ifb_of() { net_ifbs | awk -v id="$1" '$2 == id { print $1 }' | head -1; }
redirect_to() { tc -n "$NET_H" filter show dev "$1" ingress 2>/dev/null | sed -n 's/.*Egress Redirect to device \([^)]*\)).*/\1/p' | head -1; }
shaped() { # NAME: 20Mbit tbf on its veth, and its veth redirects into an ifb with a 10Mbit tbf
	local v=${VETH[$1]} i
	i=$(redirect_to "$v")
	[[ $(net_tbf_rate "$v") == 20Mbit && -n $i && $(net_tbf_rate "$i") == 10Mbit ]]
}
why_not() { echo "veth ${VETH[$1]}: tbf '$(net_tbf_rate "${VETH[$1]}")', redirect to '$(redirect_to "${VETH[$1]}")'"; }

qt_start_qosd --config "$QT_TMP/qosd.conf" || {
	fail start "qosd did not start"
	exit 0
}
for n in n-x n-a n-b; do # n-x first: the old loader kept the entries before a bad one
	container $n || fail "world-$n" "cannot make $n"
	out=$(hook --id $n --pid "${NET_PID[$n]}" --tenant qt --class net 2>&1) || note "hook $n: $out"
	check "shaped-$n" "$n not shaped: $(why_not $n)" qt_wait 5 shaped $n
done

# --- the door: a field the loader would refuse is refused when it is registered (a raw request:
# qos-hook checks its own --dir, the socket must not rely on that)
container n-evil
req='{"cmd":"register","id":"n-evil","pid":'${NET_PID[n-evil]}',"tenant":"qt","class":"net","dir":"relative/dir"}'
out=$("$QOSD_HELPER_DIR/qt-send" "$QT_SOCK" "$req" 2>&1)
check register-bad-dir-refused "a registration with dir \"relative/dir\" was accepted: $out" \
	jq -e '.ok != true' >/dev/null <<<"$out"
check register-bad-dir-named "the refusal does not name the field: $out" grep -q 'dir \\"relative/dir\\" is invalid' <<<"$out"
check register-bad-dir-not-stored "n-evil is known to qosd after a refused registration" \
	bash -c "! '$QOSCTL' -s '$QT_SOCK' list | grep -q '^n-evil '"

# --- one corrupt record (a disk error, an older qosd): that container alone is lost
qt_kill9_qosd
# its latest record, appended again to the journal with a field the loader refuses
if rec=$(qt_record n-x "$STATE"); then
	jq -c '.cgroup = "/../escape"' <<<"$rec" >>"$(qt_journal "$STATE")"
else
	fail corrupt-setup "no state record of n-x to corrupt: $(ls -A "$STATE" "$STATE/containers")"
fi
X_IFB=$(ifb_of n-x)
qt_start_qosd --config "$QT_TMP/qosd.conf" || fail restart "qosd did not restart"
sleep 1 # the first pass and the tc garbage collection run before READY; margin for a busy host
known() { "$QOSCTL" -s "$QT_SOCK" list | grep -q "^$1 "; }
note "known after the restart: $("$QOSCTL" -s "$QT_SOCK" list | awk 'NR > 1 { printf "%s ", $1 }')"
for n in n-a n-b; do
	check "restart-known-$n" "$n was forgotten with n-x's bad record" known $n
	check "restart-shaped-$n" "$n lost its shaping with n-x's bad record: $(why_not $n)" shaped $n
done
check restart-bad-skipped "n-x (a bad record) is known after the restart" bash -c "! '$QOSCTL' -s '$QT_SOCK' list | grep -q '^n-x '"
check restart-bad-logged "no warning naming n-x's record and its field: $(grep -i 'n-x' "$QT_QOSD_LOG" | tail -3)" \
	grep -Eq 'journal.jsonl line [0-9]+ \(container n-x\): field "cgroup" is invalid' "$QT_QOSD_LOG"
check restart-bad-line-kept "the bad line is not kept for the operator: $(ls -A "$STATE/containers")" \
	bash -c 'grep -qs "/../escape" "$1"/journal.jsonl.corrupt-*' _ "$STATE/containers"
check restart-lost-keeps-ifb "n-x's ifb $X_IFB was removed although its veth still uses it: $(why_not n-x)" \
	test -n "$X_IFB" -a "$(redirect_to "${VETH[n-x]}")" = "$X_IFB"

# --- two ids with the same ifb names
note "colliding ids: $CA $CB"
container c-a && container c-b
out=$(hook --id "$CA" --pid "${NET_PID[c-a]}" --tenant qt --class net 2>&1) || note "hook $CA: $out"
check collide-first-shaped "$CA not shaped: $(why_not c-a)" qt_wait 5 shaped c-a
A_IFB=$(ifb_of "$CA")
out=$(hook --id "$CB" --pid "${NET_PID[c-b]}" --tenant qt --class net 2>&1)
note "registering $CB: $(head -c 300 <<<"$out")"
check collide-names-equal "the pair does not collide here: $CA has '$A_IFB', $CB would have the same name" \
	test -n "$A_IFB"
check collide-not-taken "$CB took over $CA's ifb $A_IFB: owner now '$(net_ifbs | awk -v n="$A_IFB" '$1 == n { print $2 }')'" \
	test "$(ifb_of "$CA")" = "$A_IFB"
check collide-first-kept "$CA lost its shaping when $CB registered: $(why_not c-a)" shaped c-a
check collide-second-told "qosctl show $CB does not say its ifb name is held: $(qosctl show "$CB" 2>&1 | grep net.egress)" \
	grep -q "held by another container" <<<"$(qosctl show "$CB" 2>&1)"
out=$(hook --id "$CB" --release 2>&1) || note "release $CB: $out"
net_drop c-b
check collide-release-keeps "$CB's release or exit removed $CA's shaping: $(why_not c-a)" shaped c-a
check collide-release-keeps-ifb "$CA's ifb $A_IFB is gone after $CB left" test "$(ifb_of "$CA")" = "$A_IFB"

# --- a first setup whose ifb is already there, down and unnamed (a qosd killed between creating
# and naming it): a first setup creates its ifb without looking first, so this is the path where
# the create finds the name taken; the ifb is taken over (named, up, shaped) all the same
container n-u
out=$(hook --id n-u --pid "${NET_PID[n-u]}" --tenant qt --class net 2>&1) || note "hook n-u: $out"
U_IFB=$(ifb_of n-u)
out=$(hook --id n-u --release 2>&1) || note "release n-u: $out"
ip -n "$NET_H" link add "${U_IFB:-qifb-none}" type ifb 2>/dev/null
check half-made-ifb-there "no unnamed ifb '$U_IFB' left for the test: $(ip -n "$NET_H" -d link show "${U_IFB:-qifb-none}" 2>&1 | head -3)" \
	bash -c "[[ -n '$U_IFB' ]] && ip -n '$NET_H' -d link show '$U_IFB' | grep -q 'state DOWN' && [[ -z \$(ip -n '$NET_H' -d link show '$U_IFB' | grep alias) ]]"
out=$(hook --id n-u --pid "${NET_PID[n-u]}" --tenant qt --class net 2>&1) || note "hook n-u again: $out"
check half-made-ifb-taken "n-u not shaped through its half-made ifb $U_IFB: $(why_not n-u); $(qosctl show n-u 2>&1 | grep net.egress)" \
	qt_wait 5 shaped n-u
check half-made-ifb-named "n-u's ifb $U_IFB is not named for n-u and up: $(ip -n "$NET_H" -d link show "$U_IFB" 2>&1 | head -4)" \
	bash -c "[[ \$(ip -n '$NET_H' -d link show '$U_IFB' | grep -c 'alias qosd veth=.* id=n-u\$\|,UP') == 2 ]]"
check half-made-ifb-applied "qosctl show n-u does not report the egress tbf read back: $(qosctl show n-u 2>&1 | grep net.egress)" \
	grep -q "net.egress .*tbf on $U_IFB .* 10mbit burst 32K 10mbit burst 32K" <<<"$(qosctl show n-u 2>&1)"
# what the register itself reports as applied is the kernel's answer to the replace (its echo,
# which on a veth also carries the noqueue it replaced): the veth's tbf, not the old qdisc
U_LOG=$(grep "\[n-u " "$QT_QOSD_LOG" | grep "applied tbf on ${VETH[n-u]}:" | tail -1)
check register-reports-kernel-state "the register of n-u did not report the veth's tbf as applied: '$U_LOG'" \
	grep -q "applied tbf on ${VETH[n-u]}: unlimited -> 20mbit burst 32K" <<<"$U_LOG"

# --- the edges of net.*: what the policy accepts, the kernel takes (no TCA_TBF_RATE64 here)
out=$(qosctl set n-b net.ingress=34gbit net.egress=8mbit net.burst=249999999 2>&1)
check edge-top-applied "34gbit ingress / 8mbit egress with a 249999999-byte bucket refused: $out" \
	test "$(net_tbf_rate "${VETH[n-b]}")" = 34Gbit
check edge-bucket-applied "egress ifb of n-b: '$(net_tbf_rate "$(redirect_to "${VETH[n-b]}")")', want 8Mbit" \
	test "$(net_tbf_rate "$(redirect_to "${VETH[n-b]}")")" = 8Mbit
out=$(qosctl set n-b net.ingress=34gbit net.egress=34gbit net.burst=1023M 2>&1)
check edge-burst-applied "the largest burst was refused: $out" grep -q "tbf on ${VETH[n-b]}.*34gbit burst 1023M" <<<"$(qosctl show n-b)"
out=$(qosctl set n-b net.ingress=34000000001bit 2>&1)
check edge-rate-refused "a rate above 34gbit was not refused up front: $out" grep -q "out of range 1kbit..34gbit" <<<"$out"
out=$(qosctl set n-b net.egress=8mbit net.burst=250000000 2>&1)
check edge-bucket-refused "a 250 s bucket was not refused up front: $out" grep -q "tc's bucket holds less than 250 s" <<<"$out"
check edge-refusals-change-nothing "n-b's ingress changed after refused sets: $(net_tbf_rate "${VETH[n-b]}")" \
	test "$(net_tbf_rate "${VETH[n-b]}")" = 34Gbit

# --- a slow netlink peer (strace delays every sendmsg, which only netlink uses here): while a pass
# crawls over the containers, qosd still answers the socket between two containers
ms_now() { echo $(($(date +%s%N) / 1000000)); }
if ! command -v strace >/dev/null; then
	skip slow-netlink "strace is not installed"
else
	DELAY_US=${QT_NL_DELAY_US:-200000}
	strace -f -qq -o "$QT_TMP/strace.out" -e trace=sendmsg -e inject=sendmsg:delay_enter=$DELAY_US \
		-p "$QT_QOSD_PID" 2>/dev/null &
	SP=$!
	QT_PIDS+=("$SP")
	qt_wait 5 grep -Eq 'TracerPid:[[:space:]]*[1-9]' "/proc/$QT_QOSD_PID/status" || note "strace did not attach"
	t0=$(ms_now)
	qosctl reload >/dev/null # every container dirty: each one's tc pass now crawls
	sleep 0.3
	t1=$(ms_now)
	qosctl list >/dev/null
	t2=$(ms_now)
	n0=$(grep -c sendmsg "$QT_TMP/strace.out")
	nl_busy() { [[ $(grep -c sendmsg "$QT_TMP/strace.out") -gt $n0 ]]; }
	qt_wait 3 nl_busy && busy=1 || busy=0
	n_ok() { [[ $(grep -c sendmsg "$QT_TMP/strace.out") == "$(sleep 0.7; grep -c sendmsg "$QT_TMP/strace.out")" ]]; }
	qt_wait 30 n_ok
	t3=$(ms_now)
	kill -TERM "$SP" 2>/dev/null
	wait "$SP" 2>/dev/null
	qt_wait 5 grep -Eq 'TracerPid:[[:space:]]*0$' "/proc/$QT_QOSD_PID/status"
	note "every netlink call $((DELAY_US / 1000)) ms late: the pass took ~$((t3 - t0 - 700)) ms, qosctl list answered in $((t2 - t1)) ms"
	check slow-netlink-pass-still-running "the pass was over before list answered: nothing to show" test $busy = 1
	check slow-netlink-list-answers "qosctl list waited $((t2 - t1)) ms, want under half the pass (~$(((t3 - t0 - 700) / 2)) ms)" \
		test $((2 * (t2 - t1))) -lt $((t3 - t0 - 700))
fi
qt_stop_qosd
qt_finish
