#!/bin/bash
# qosd-vm: yes
# Daemon behaviour: [match] adoption, drift correction, kill -9 and restart, containers made while
# qosd was down, SIGHUP with a broken file, overrides that survive reload and restart, tenant
# budgets, unprivileged callers, hostile ids.
source "$(dirname "$0")/lib.sh"
qt_init core-daemon

if [[ $QT_V == 2 ]]; then
	SH_CTRL=cpu SH_FILE=cpu.weight SH_512=50 SH_OTHER=77
	MEM_FILE=memory.max
else
	SH_CTRL=cpu SH_FILE=cpu.shares SH_512=512 SH_OTHER=2048
	MEM_FILE=memory.limit_in_bytes
fi
M128=$((128 << 20))
M96=$((96 << 20))

write_policy() {
	qt_policy qt <<EOF
# the test tenant
[tenant]
memory.limit = 512M

[class silver]
cpu.shares = 512
memory.limit = 128M
pids.limit = 100

[class gold]
cpu.shares = 1024

[match]
$QT_CGP/c-* = silver
EOF
}
write_policy
cat >"$QT_TMP/qosd.conf" <<EOF
drift_interval = 3s
tenant_parent = $QT_CGP
EOF
qt_cg_mkdir "$QT_CGP/c-early" # exists before qosd starts: adopted by the start-up scan
qt_start_qosd --config "$QT_TMP/qosd.conf" || {
	fail start "qosd did not start"
	exit 0
}

knob() { qt_knob "$1" "$2" "$3"; }
is() { [[ "$(knob "$1" "$2" "$3")" == "$4" ]]; }

# --- adoption at start and a cgroup created under the [match] root
check adopt-at-start "c-early: $SH_FILE=$(knob $QT_CGP/c-early $SH_CTRL $SH_FILE)" \
	qt_wait 5 is "$QT_CGP/c-early" $SH_CTRL $SH_FILE $SH_512
qt_cg_mkdir "$QT_CGP/c-1"
check match-applies "c-1 did not get silver's values" qt_wait 5 is "$QT_CGP/c-1" memory $MEM_FILE $M128
check match-pids "pids.max=$(knob $QT_CGP/c-1 pids pids.max)" qt_wait 5 is "$QT_CGP/c-1" pids pids.max 100
# v1: a runtime makes the hierarchies one by one, and qosd watches the cpu one. A container seen
# there first waits for the rest (its retries start after 100 us and back off to 0.4 s) and gets
# its limits once they exist
if [[ $QT_V == 1 ]]; then
	mkdir "$(qt_cgdir cpu "$QT_CGP/c-late")"
	sleep 1.5
	qt_cg_mkdir "$QT_CGP/c-late"
	check late-hierarchies-applied "c-late: pids.max=$(knob $QT_CGP/c-late pids pids.max)" \
		qt_wait 5 is "$QT_CGP/c-late" pids pids.max 100
	check late-hierarchies-retried "no 'retry in' line for c-late in the log" \
		grep -q "container c-late: retry in" "$QT_QOSD_LOG"
fi
out=$(qosctl list)
check list-shows "qosctl list: $out" grep -q "c-1 .*qt .*silver .*match .*ok" <<<"$out"
out=$(qosctl show c-1)
check show-applied "qosctl show c-1 did not print the read-back memory limit" \
	grep -qE "memory.limit +memory\.(limit_in_bytes|max) +(134217728|128M) +(134217728|128M)" <<<"$out"
check show-source "qosctl show c-1 names no source" grep -q "class qt/silver" <<<"$out"
out=$(qosctl show c-1 --json)
check show-json "qosctl show --json is not JSON with knobs" jq -e '.knobs | length > 2' <<<"$out" >/dev/null

# --- tenant budget on the tenant cgroup qosd made
check tenant-budget "qosd-qt: $MEM_FILE=$(knob $QT_CGP/qosd-qt memory $MEM_FILE)" \
	qt_wait 5 is "$QT_CGP/qosd-qt" memory $MEM_FILE $((512 << 20))

# --- drift: a value changed behind qosd's back is restored
echo $SH_OTHER >"$(qt_cgdir $SH_CTRL "$QT_CGP/c-1")/$SH_FILE"
check drift-restored "$SH_FILE stayed $(knob $QT_CGP/c-1 $SH_CTRL $SH_FILE)" \
	qt_wait 8 is "$QT_CGP/c-1" $SH_CTRL $SH_FILE $SH_512
check drift-logged "no 'corrected' line in the log" grep -q "corrected $SH_FILE" "$QT_QOSD_LOG"

# --- overrides: set, survive reload and restart
qosctl set c-1 memory.limit=96M >/dev/null
check set-override "memory after set: $(knob $QT_CGP/c-1 memory $MEM_FILE)" is "$QT_CGP/c-1" memory $MEM_FILE $M96
qosctl reload >/dev/null
sleep 0.3
check override-survives-reload "after reload: $(knob $QT_CGP/c-1 memory $MEM_FILE)" \
	qt_wait 3 is "$QT_CGP/c-1" memory $MEM_FILE $M96
out=$(qosctl show c-1)
check show-override-source "show does not say override" grep -qE "memory.limit .* override" <<<"$out"

# --- kill -9, containers made while qosd is down, restart
qt_kill9_qosd
qt_cg_mkdir "$QT_CGP/c-down"
echo 1 >"$(qt_cgdir memory "$QT_CGP/c-1")/memory.soft_limit_in_bytes" 2>/dev/null # unrelated knob
qt_start_qosd --config "$QT_TMP/qosd.conf" || fail restart "qosd did not restart"
check restart-override-kept "after restart: $(knob $QT_CGP/c-1 memory $MEM_FILE)" \
	qt_wait 5 is "$QT_CGP/c-1" memory $MEM_FILE $M96
check down-container-adopted "c-down: $(knob $QT_CGP/c-down memory $MEM_FILE)" \
	qt_wait 5 is "$QT_CGP/c-down" memory $MEM_FILE $M128
n=$(qt_state | jq '[.containers[].id] | length')
u=$(qt_state | jq '[.containers[].id] | unique | length')
want=3 # c-early, c-1, c-down; and c-late on v1
[[ $QT_V == 1 ]] && want=4
check state-no-duplicates "state has $n entries, $u unique (want $want)" test "$n" = "$u" -a "$n" -eq $want
out=$(qosctl list)
check list-no-duplicates "list shows c-1 $(grep -c '^c-1 ' <<<"$out") times" test "$(grep -c '^c-1 ' <<<"$out")" -eq 1

# --- SIGHUP with a broken file: the old policy stays whole, and the log says why
printf '[class bad]\ncpu.shares = 1\n' >"$QT_TMP/conf.d/zz-broken.conf"
sed -i 's/^memory.limit = 128M/memory.limit = 200M/' "$QT_TMP/conf.d/qt.conf"
kill -HUP "$QT_QOSD_PID"
check sighup-refused-logged "no refusal with file:line in the log" \
	qt_wait 3 grep -q "zz-broken.conf:2: " "$QT_QOSD_LOG"
sleep 3.5 # a drift pass too
check sighup-old-policy-kept "c-down: $(knob $QT_CGP/c-down memory $MEM_FILE)" is "$QT_CGP/c-down" memory $MEM_FILE $M128
out=$(qosctl reload 2>&1)
rc=$?
check reload-refused-exit1 "qosctl reload exited $rc: $out" test $rc -eq 1
check reload-refused-says "qosctl reload did not name file:line: $out" grep -q "zz-broken.conf:2:" <<<"$out"
rm -f "$QT_TMP/conf.d/zz-broken.conf"
qosctl reload >/dev/null
check reload-applies "c-down after a good reload: $(knob $QT_CGP/c-down memory $MEM_FILE)" \
	qt_wait 3 is "$QT_CGP/c-down" memory $MEM_FILE $((200 << 20))
write_policy
qosctl reload >/dev/null

# --- unprivileged callers are refused, in words, and nothing changes
out=$("$QOSD_HELPER_DIR/qt-runas" 65534 65534 "$QOSCTL" -s "$QT_SOCK" set c-1 memory.limit=1G 2>&1)
rc=$?
check unpriv-refused "exit $rc: $out" test $rc -eq 1
check unpriv-says "no 'permission denied': $out" grep -qi "permission denied" <<<"$out"
# even with the socket opened up to everyone, the server's peer-credential check refuses
chmod 0755 "$QT_TMP"
chmod 0666 "$QT_SOCK"
out=$("$QOSD_HELPER_DIR/qt-runas" 65534 65534 "$QOSCTL" -s "$QT_SOCK" set c-1 memory.limit=1G 2>&1)
rc=$?
check unpriv-peercred "exit $rc: $out" test $rc -eq 1 -a -n "$(grep -i "changing qosd's state takes root" <<<"$out")"
out=$("$QOSD_HELPER_DIR/qt-runas" 65534 65534 "$QOSCTL" -s "$QT_SOCK" list 2>&1)
check unpriv-may-read "an unprivileged list failed: $out" grep -q "c-1" <<<"$out"
chmod 0600 "$QT_SOCK"
chmod 0700 "$QT_TMP"
check unpriv-nothing-changed "memory is $(knob $QT_CGP/c-1 memory $MEM_FILE)" is "$QT_CGP/c-1" memory $MEM_FILE $M96

# --- hostile ids and cgroups: refused with a message, nothing written
long=$(printf 'x%.0s' $(seq 300))
for id in .. ../x release_agent tasks cgroup.procs notify_on_release "$long" "a/b" "-x"; do
	out=$(qosctl set -- "$id" cgroup="$QT_CGP/c-1" memory.limit=1G 2>&1)
	rc=$?
	check "hostile-id-${id:0:16}" "exit $rc: $out" test $rc -eq 1 -a -n "$(grep -i 'invalid container id' <<<"$out")"
done
for cg in / "/../etc" "$QT_CGP/../x" "/system.slice/foo.service"; do
	out=$(qosctl set hostile-1 cgroup="$cg" memory.limit=1G 2>&1)
	rc=$?
	check "hostile-cgroup-$cg" "exit $rc: $out" test $rc -eq 1
done
check hostile-nothing-written "memory is $(knob $QT_CGP/c-1 memory $MEM_FILE)" is "$QT_CGP/c-1" memory $MEM_FILE $M96
out=$(qosctl set c-1 memory.limit=99999999999999999999 2>&1)
check hostile-overflow "exit $?: $out" grep -qi "range\|overflow\|too large" <<<"$out"
out=$(qosctl set c-1 memory.limit=64Q 2>&1)
check set-bad-unit "$out" test -n "$(grep -i 'memory.limit' <<<"$out")"
out=$(qosctl set c-1 frobnicate=1 2>&1)
check set-unknown-key "$out" grep -q 'unknown key "frobnicate"' <<<"$out"
qosctl set c-1 >/dev/null 2>&1
rc=$?
check usage-exit2 "qosctl set with no key exited $rc" test $rc -eq 2

# --- unset brings the class value back
qosctl unset c-1 memory.limit >/dev/null
check unset-restores "after unset: $(knob $QT_CGP/c-1 memory $MEM_FILE)" \
	qt_wait 3 is "$QT_CGP/c-1" memory $MEM_FILE $M128

# --- a container whose cgroup goes away is forgotten without noise
rmdir "$(qt_cgdir cpu "$QT_CGP/c-down")" 2>/dev/null
for c in "${QT_CTRLS[@]}"; do rmdir "$(qt_cgdir "$c" "$QT_CGP/c-down")" 2>/dev/null; done
check gone-forgotten "c-down still listed" qt_wait 3 bash -c "! '$QOSCTL' -s '$QT_SOCK' list | grep -q '^c-down '"
check gone-no-noise "warnings about c-down in the log" bash -c "! grep -E 'warning|error' '$QT_QOSD_LOG' | grep -q c-down"

# --- a container registered by hand (no [match] rule names it) is forgotten when its cgroup goes
qt_cg_mkdir "$QT_CGP/byhand-1"
out=$(qosctl set r-1 cgroup="$QT_CGP/byhand-1" class=gold 2>&1)
check register-by-hand "qosctl set r-1 cgroup=...: $out" qt_wait 3 is "$QT_CGP/byhand-1" $SH_CTRL $SH_FILE $([[ $QT_V == 2 ]] && echo 100 || echo 1024)
for c in "${QT_CTRLS[@]}"; do rmdir "$(qt_cgdir "$c" "$QT_CGP/byhand-1")" 2>/dev/null; done
check registered-exit-seen "r-1 still listed 1 s after its cgroup went (the drift pass is 3 s here: the watch must see it)" \
	qt_wait 1 bash -c "! '$QOSCTL' -s '$QT_SOCK' list | grep -q '^r-1 '"

# --- SIGTERM leaves every limit in place
qt_stop_qosd
check stop-keeps-limits "after SIGTERM: $(knob $QT_CGP/c-1 memory $MEM_FILE)" is "$QT_CGP/c-1" memory $MEM_FILE $M128

# --- qosd refuses to start on an invalid policy; --check validates
printf '[class x]\nmemory.limit = 18446744073709551616\n' >"$QT_TMP/conf.d/zz-bad.conf"
out=$("$QOSD" --check --config-dir "$QT_TMP/conf.d" 2>&1)
check check-refuses "qosd --check exited $?: $out" grep -q "zz-bad.conf:2:" <<<"$out"
"$QOSD" --config-dir "$QT_TMP/conf.d" --state-dir "$QT_TMP/state" --socket "$QT_TMP/x.sock" \
	--config /dev/null >"$QT_TMP/bad.log" 2>&1
check start-refused "qosd started on an invalid policy (exit $?)" test $? -eq 1
rm -f "$QT_TMP/conf.d/zz-bad.conf"

qt_finish
