#!/bin/bash
# Tenant binding (issue 12), from the attacker's side: a container owner (a pod author) names
# another tenant, or only another tenant's class, in its annotations. The tenant's [claim]
# section decides, in qos-hook with qosd down (its own path) and in qosd: the claim is refused
# with a message naming the tenant and the rule, and nothing is written. The legitimate claim
# works both ways, its evidence (the runtime's annotation) survives qosd's adoption of the hook's
# record and a restart, and a reload that narrows the binding refuses the claim on the next pass
# (limits kept, status says why).
source "$(dirname "$0")/lib.sh"
qt_init claim

NS=io.kubernetes.pod.namespace
if [[ $QT_V == 2 ]]; then MEM=(memory memory.max); else MEM=(memory memory.limit_in_bytes); fi
M64=$((64 << 20))
M32=$((32 << 20))
# team-a binds by namespace (any pod cgroup, as under /kubepods), team-b by cgroup parent
team_a() { # team_a NAMESPACE-GLOB
	qt_policy team-a <<EOF
[class gold]
memory.limit = 64M
[claim]
cgroup = $QT_CGP/*
annotation.$NS = $1
EOF
}
team_a team-a
qt_policy team-b <<EOF
[class bronze]
memory.limit = 32M
[claim]
cgroup = $QT_CGP/b-*
EOF
qt_policy open <<EOF
[class tin]
memory.limit = 16M
EOF
STATE=$QT_TMP/state
PENDING=$STATE/pending
for c in a-1 b-1; do qt_cg_mkdir "$QT_CGP/$c"; done
qt_cg_run "$QT_CGP/a-1" sleep 600
PA=$QT_LASTPID
qt_cg_run "$QT_CGP/b-1" sleep 600
PB=$QT_LASTPID
mem() { qt_knob "$QT_CGP/$1" "${MEM[@]}"; }
B_BEFORE=$(mem b-1)
A_BEFORE=$(mem a-1)

# state ID PID TENANT CLASS NAMESPACE: what a CRI runtime hands the hook ("" = not set)
state() {
	local f=$QT_TMP/s-$1.json
	jq -cn --arg id "$1" --argjson pid "$2" --arg t "$3" --arg c "$4" --arg ns "$5" --arg k "$NS" \
		'{ociVersion: "1.0.2", id: $id, status: "created", pid: $pid, bundle: "/b",
		  annotations: ({"io.kubernetes.pod.name": "p"}
			+ (if $t != "" then {"qosd.io/tenant": $t} else {} end)
			+ (if $c != "" then {"qosd.io/class": $c} else {} end)
			+ (if $ns != "" then {($k): $ns} else {} end))}' >"$f"
	echo "$f"
}
hook() {
	OUT=$("$QOSHOOK" --socket "$QT_SOCK" --config-dir "$QT_TMP/conf.d" --state-dir "$STATE" \
		--config /dev/null "${@:2}" createRuntime <"$1" 2>&1)
	RC=$?
}
# refused NAME REGEX ID PID TENANT CLASS NAMESPACE
refused() {
	local n=$1 re=$2
	hook "$(state "${@:3}")"
	check "$n-exit1" "exit $RC: $OUT" test $RC -eq 1
	check "$n-says" "no /$re/ in: $OUT" grep -qE -- "$re" <<<"$OUT"
}
untouched() {
	check "$1-b-untouched" "b-1 memory $(mem b-1), was $B_BEFORE" test "$(mem b-1)" = "$B_BEFORE"
	check "$1-no-pending" "pending: $(ls "$PENDING" 2>/dev/null | tr '\n' ' ')" \
		test -z "$(ls -A "$PENDING" 2>/dev/null)"
}
jqe() { jq -e "$@" >/dev/null; }
attacks() {
	local p=$1
	# a team-b pod names team-a
	refused "$p-other-tenant" \
		"tenant \"team-a\" may not be claimed by this container: its annotation $NS is \"team-b\", which no \[claim\] rule for it matches \(.*/team-a.conf:5: annotation.$NS = team-a\)" \
		x-1 "$PB" team-a gold team-b
	# ... or only team-a's class
	refused "$p-other-class" 'tenant "team-a" may not be claimed' x-2 "$PB" "" gold team-b
	# a team-a pod names team-b, which binds by cgroup
	refused "$p-other-cgroup" \
		"tenant \"team-b\" may not be claimed from cgroup $QT_CGP/a-1: no \[claim\] cgroup glob matches it \(.*/team-b.conf:4: cgroup = $QT_CGP/b-\*\)" \
		x-3 "$PA" team-b bronze team-a
	# no namespace at all (plain runc)
	refused "$p-no-namespace" "annotation $NS is not set" x-4 "$PA" team-a gold ""
	# a tenant without [claim] among several
	refused "$p-unbound-tenant" 'tenant "open" may not be claimed.*has no \[claim\] section and the policy has 3 tenants' \
		x-5 "$PB" open tin team-b
	untouched "$p"
	check "$p-a-untouched" "a-1 memory $(mem a-1), was $A_BEFORE" test "$(mem a-1)" = "$A_BEFORE"
}

# ===== qosd down: qos-hook's own path =====
attacks down
hook "$(state a-legit "$PA" team-a gold team-a)"
check down-legit "exit $RC: $OUT" test $RC -eq 0
check down-legit-applied "a-1 memory $(mem a-1)" test "$(mem a-1)" = $M64
check down-legit-evidence "pending record lacks the namespace: $(cat "$PENDING/a-legit.json" 2>&1)" \
	jqe --arg k "$NS" '.annotations[$k] == "team-a" and (.annotations | has("io.kubernetes.pod.name") | not)' \
	"$PENDING/a-legit.json"

# ===== qosd up: it adopts the record (the evidence with it) and refuses the same claims =====
qt_start_qosd || {
	fail start "qosd did not start"
	qt_finish
	exit 0
}
listed_ok() { qosctl list 2>/dev/null | grep -qE "^$1 +team-a +gold +hook +ok"; }
check up-adopted "qosctl list: $(qosctl list 2>&1)" qt_wait 5 listed_ok a-legit
A_BEFORE=$(mem a-1)
attacks up
refused up-via-qosd "qosd refused to register it: tenant \"team-a\" may not be claimed" x-6 "$PB" team-a gold team-b
out=$(qosctl list)
check up-nothing-registered "qosctl list: $out" bash -c '! grep -q "^x-" <<<"$1"' _ "$out"
hook "$(state b-legit "$PB" team-b bronze team-b)"
check up-legit "exit $RC: $OUT" test $RC -eq 0
check up-legit-applied "b-1 memory $(mem b-1)" test "$(mem b-1)" = $M32
a_rec_has_ns() { qt_record a-legit "$STATE" | jqe --arg k "$NS" '.annotations[$k] == "team-a"'; }
check up-state-evidence "a-legit's state record lacks its namespace: $(qt_record a-legit "$STATE")" \
	qt_wait 3 a_rec_has_ns

# ===== restart: the claim still holds (evidence from the state record) =====
qt_stop_qosd
qt_start_qosd || fail restart "qosd did not restart"
check restart-kept "qosctl list: $(qosctl list 2>&1)" qt_wait 5 listed_ok a-legit

# ===== the operator narrows team-a's binding: the claim is refused on the next pass =====
team_a team-z
out=$(qosctl reload 2>&1)
check reload-ok "qosctl reload: $out" test $? -eq 0
refused_status() { qosctl show a-legit 2>/dev/null | grep -q "refused: tenant \"team-a\" may not be claimed"; }
check reload-refused "qosctl show a-legit: $(qosctl show a-legit 2>&1 | head -5)" qt_wait 5 refused_status
check reload-limits-kept "a-1 memory $(mem a-1) after the binding narrowed" test "$(mem a-1)" = $M64
# the operator's word needs no binding
out=$(qosctl set a-legit tenant=team-a class=gold 2>&1)
check operator-overrides "qosctl set: $out" test $? -eq 0
check operator-origin "qosctl list: $(qosctl list)" \
	qt_wait 5 bash -c "'$QOSCTL' -s '$QT_SOCK' list | grep -qE '^a-legit +team-a +gold +operator +ok'"
qt_stop_qosd
qt_finish
