#!/bin/bash
# One cgroup, one entry (issue 19): a cgroup a [match] rule manages that the hook then registers
# under its runtime id is not listed twice with two classes; the registration takes the matched
# entry over (operator > hook > match) whichever way the cgroup was found first: [match] first
# (watch), hook first (a reload adds the rule), and a hook record made while qosd was down
# adopted over an entry from the state file. qosctl list shows one line with ORIGIN hook, and
# qosctl show says the entry was taken over.
source "$(dirname "$0")/lib.sh"
qt_init one-entry

if [[ $QT_V == 2 ]]; then MEM=(memory memory.max); else MEM=(memory memory.limit_in_bytes); fi
M64=$((64 << 20))
M32=$((32 << 20))
policy() { # policy [MATCH-LINES]
	qt_policy qt <<EOF
[class gold]
memory.limit = 64M
[class bronze]
memory.limit = 32M
[claim]
cgroup = $QT_CGP/*
[match]
$1
EOF
}
policy "$QT_CGP/m-* = bronze"
printf 'drift_interval = 1s\n' >"$QT_TMP/qosd.conf"
mem() { qt_knob "$QT_CGP/$1" "${MEM[@]}"; }
container() { # container NAME: a cgroup with a process; pid in QT_LASTPID
	qt_cg_mkdir "$QT_CGP/$1"
	qt_cg_run "$QT_CGP/$1" sleep 600
	qt_wait 5 grep -qx "$QT_LASTPID" "$(qt_cgdir "${QT_CTRLS[0]}" "$QT_CGP/$1")/cgroup.procs"
}
hook() { # hook ID PID: register as qos-hook's plain form does, class gold
	OUT=$("$QOSHOOK" --socket "$QT_SOCK" --config-dir "$QT_TMP/conf.d" --state-dir "$QT_TMP/state" \
		--config "$QT_TMP/qosd.conf" --id "$1" --pid "$2" --tenant qt --class gold 2>&1)
	RC=$?
}
entries() { qosctl list 2>/dev/null | awk -v cg="$QT_CGP/$1" '$NF == cg' ; }
n_entries() { entries "$1" | wc -l; }
one_hook_entry() { # one_hook_entry CGROUP ID: exactly one line, that id, gold, from the hook
	local e
	e=$(entries "$1")
	[[ $(wc -l <<<"$e") -eq 1 ]] && grep -qE "^$2 +qt +gold +hook +ok" <<<"$e"
}
# outcome NAME CGROUP ID FORMER-ID
outcome() {
	check "$1-one-entry" "qosctl list for $QT_CGP/$2: $(entries "$2" | tr '\n' '|')" qt_wait 5 one_hook_entry "$2" "$3"
	check "$1-class-applied" "$2 memory $(mem "$2"), want gold's $M64" qt_wait 5 test "$(mem "$2")" = $M64
	if [[ -n $4 ]]; then
		check "$1-show-says" "qosctl show $3: $(qosctl show "$3" 2>&1 | head -6 | tr '\n' '|')" \
			bash -c "'$QOSCTL' -s '$QT_SOCK' show '$3' | grep -q 'took over $4, the entry a \[match\] rule made'"
	else
		check "$1-show-says" "qosctl show $3: $(qosctl show "$3" 2>&1 | head -6 | tr '\n' '|')" \
			bash -c "'$QOSCTL' -s '$QT_SOCK' show '$3' | grep -q 'a \[match\] rule matches this cgroup too; hook takes precedence'"
	fi
	check "$1-former-id-gone" "qosctl show $4 still answers" bash -c "[[ -z '$4' ]] || ! '$QOSCTL' -s '$QT_SOCK' show '$4' >/dev/null 2>&1"
}

qt_start_qosd --config "$QT_TMP/qosd.conf" || {
	fail start "qosd did not start"
	qt_finish
	exit 0
}

# --- [match] first: the watch makes entry m-1, then the hook registers runtime id rt-1
container m-1
P1=$QT_LASTPID
check match-first-matched "m-1 not matched: $(qosctl list | tr '\n' '|')" \
	qt_wait 5 bash -c "'$QOSCTL' -s '$QT_SOCK' list | grep -qE '^m-1 +qt +bronze +match'"
check match-first-bronze "m-1 memory $(mem m-1)" qt_wait 5 test "$(mem m-1)" = $M32
hook rt-1 "$P1"
check match-first-registered "exit $RC: $OUT" test $RC -eq 0
outcome match-first m-1 rt-1 m-1
# the state has one record too
m1_records() { qt_state | jq -c '[.containers[] | select(.cgroup | endswith("/m-1")) | .id]' 2>&1; }
m1_is_rt1() { [[ $(m1_records) == '["rt-1"]' ]]; }
check match-first-state "records of m-1's cgroup: $(m1_records)" qt_wait 3 m1_is_rt1

# --- hook first: registered, then a reload adds the [match] rule that covers its cgroup
container h-1
P2=$QT_LASTPID
hook rt-2 "$P2"
check hook-first-registered "exit $RC: $OUT" test $RC -eq 0
policy "$QT_CGP/m-* = bronze
$QT_CGP/h-* = bronze"
out=$(qosctl reload 2>&1)
check hook-first-reload "qosctl reload: $out" test $? -eq 0
sleep 1.5 # a drift pass and the rescan the reload started
check hook-first-no-h1 "an entry h-1 appeared: $(qosctl list | tr '\n' '|')" bash -c "! '$QOSCTL' -s '$QT_SOCK' list | grep -q '^h-1 '"
outcome hook-first h-1 rt-2 ""

# --- hook while qosd is down, over a [match] entry in the state file
container m-3
P3=$QT_LASTPID
check down-matched "m-3 not matched: $(qosctl list | tr '\n' '|')" \
	qt_wait 5 bash -c "'$QOSCTL' -s '$QT_SOCK' list | grep -qE '^m-3 +qt +bronze +match'"
qt_stop_qosd
hook rt-3 "$P3"
check down-hook "exit $RC: $OUT" test $RC -eq 0 -a -e "$QT_TMP/state/pending/rt-3.json"
qt_start_qosd --config "$QT_TMP/qosd.conf" || fail restart "qosd did not restart"
outcome down m-3 rt-3 m-3
# poststop by the runtime id forgets the one entry
"$QOSHOOK" --socket "$QT_SOCK" --state-dir "$QT_TMP/state" --id rt-1 --release >/dev/null 2>&1
check release-by-runtime-id "m-1 still listed: $(entries m-1)" test "$(n_entries m-1)" -eq 0
qt_stop_qosd
rc=$?
check clean-exit "qosd exited $rc" test $rc -eq 0
qt_finish
