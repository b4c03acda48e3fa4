#!/bin/bash
# qosd-vm: yes
# qosctl plan DIR lists exactly the knobs a reload of DIR then changes, and writes nothing (an
# strace of qosd during the plan shows no write to cgroupfs, no netlink change, nothing in the
# state directory); a refused policy names its file and line. qosctl explain names the file:line
# of each class key, the override and who set it, and the [match] rule.
source "$(dirname "$0")/lib.sh"
qt_init plan

qt_policy qt <<EOF
[tenant]
cpu.shares = 2048

[class gold]
cpu.quota = 30%
memory.limit = 64M
pids.limit = 100

[class silver]
cpu.quota = 50%

[match]
$QT_CGP/a-* = gold
$QT_CGP/b-* = silver
EOF
printf "drift_interval = 0s\ntenant_parent = %s\n" "$QT_CGP" >"$QT_TMP/qosd.conf"
qt_start_qosd --config "$QT_TMP/qosd.conf" || {
	fail start "qosd did not start"
	exit 0
}
for c in a-1 a-2 b-1; do qt_cg_mkdir "$QT_CGP/$c"; done
ok() { [[ $(qosctl list | awk '$5 == "ok"' | wc -l) -eq 3 ]]; }
qt_wait 10 ok
check applied "the three containers were not applied within 10 s: $(qosctl list)" ok
qosctl set a-2 memory.limit=100M >/dev/null

# --- explain
qosctl explain a-2 >"$QT_TMP/explain.out"
conf=$QT_TMP/conf.d/qt.conf
check explain-match "no [match] file:line: $(head -4 "$QT_TMP/explain.out")" \
	grep -q "assigned by $conf:13: \[match\] $QT_CGP/a-\* = gold" "$QT_TMP/explain.out"
check explain-class-key "no class key file:line" \
	grep -qE "^cpu.quota +30% +class +$conf:5: \[class gold\] cpu.quota = 30%" "$QT_TMP/explain.out"
check explain-override "no override with who set it: $(grep memory.limit "$QT_TMP/explain.out")" \
	grep -qE "^memory.limit +100M +override +.*by uid 0 \(root\), pid [0-9]+, at 20" "$QT_TMP/explain.out"
qosctl explain a-1 pids.limit >"$QT_TMP/explain1.out"
check explain-one-key "explain a-1 pids.limit: $(cat "$QT_TMP/explain1.out")" \
	test "$(grep -cE '^(cpu|memory|pids)\.' "$QT_TMP/explain1.out")" -eq 1
check explain-unknown-key "explain with an unknown key was not refused" \
	bash -c "! '$QOSCTL' -s '$QT_SOCK' explain a-1 cpu.nope 2>/dev/null"

# --- a changed policy in another directory: gold's quota and pids change, silver goes away
mkdir -p "$QT_TMP/new"
cat >"$QT_TMP/new/qt.conf" <<EOF
[tenant]
cpu.shares = 1024

[class gold]
cpu.quota = 40%
memory.limit = 64M

[match]
$QT_CGP/a-* = gold
EOF
if command -v strace >/dev/null; then
	strace -f -y -qq -p "$QT_QOSD_PID" -o "$QT_TMP/strace.out" \
		-e trace=open,openat,openat2,write,writev,pwrite64,sendto,sendmsg,rename,renameat,renameat2,mkdir,mkdirat,unlink,unlinkat,rmdir &
	SP=$!
	QT_PIDS+=("$SP")
	qt_wait 5 grep -q . /proc/$SP/status
	sleep 1
fi
qosctl plan "$QT_TMP/new" >"$QT_TMP/plan.out"
rc=$?
sed 's/^/  # plan: /' "$QT_TMP/plan.out"
check plan-ok "qosctl plan exited $rc" test $rc -eq 0
if [[ -n ${SP:-} ]]; then
	sleep 0.5
	kill "$SP"
	wait "$SP" 2>/dev/null
	check strace-saw-plan "strace did not see qosd read the new policy" grep -q "$QT_TMP/new" "$QT_TMP/strace.out"
	bad=$(grep -E 'O_WRONLY|O_RDWR|O_CREAT' "$QT_TMP/strace.out" | grep -v ' = -1 ')
	check no-open-for-write "qosd opened for writing during plan: ${bad:0:300}" test -z "$bad"
	bad=$(grep -E '^[0-9]+ +(write|writev|pwrite64)\([0-9]+<(/sys/fs/cgroup|'"$QT_TMP"'/state)' "$QT_TMP/strace.out")
	check no-cgroup-write "qosd wrote to cgroupfs or its state during plan: ${bad:0:300}" test -z "$bad"
	bad=$(grep -E 'RTM_(NEW|DEL|SET)' "$QT_TMP/strace.out")
	check no-netlink-change "qosd sent a netlink change during plan: ${bad:0:300}" test -z "$bad"
	bad=$(grep -E '^[0-9]+ +(rename|renameat2?|mkdir|mkdirat|unlink|unlinkat|rmdir)\(' "$QT_TMP/strace.out" | grep -v ' = -1 ')
	check no-fs-change "qosd changed the filesystem during plan: ${bad:0:300}" test -z "$bad"
else
	skip strace "strace is not installed"
fi
check plan-loses-class "b-1 losing its class is not in the plan" grep -q "^container b-1: would lose its class qt/silver" "$QT_TMP/plan.out"
# the tenant's cpu.shares 2048 -> 1024 (v2: cpu.weight 200 -> 100, the kernel's mapping)
if [[ $QT_V == 2 ]]; then tk=cpu.weight tnow=200 twant=100; else tk=cpu.shares tnow=2048 twant=1024; fi
check plan-tenant "the tenant's $tk $tnow -> $twant is not in the plan" \
	grep -qE "^  cpu\.(shares|weight) +$tk +$tnow -> $twant" "$QT_TMP/plan.out"
# the knobs the plan lists, as "ID OBJECT WOULD" (containers only: the tenant is checked above)
qosctl plan "$QT_TMP/new" --json |
	jq -r '.containers[] | .id as $i | (.knobs // [])[] | "\($i) \(.object) \(.would)"' |
	sort >"$QT_TMP/planned"
before=$(wc -l <"$QT_QOSD_LOG")

# --- the reload changes exactly those
cp "$QT_TMP/new/qt.conf" "$QT_TMP/conf.d/qt.conf"
qosctl reload >/dev/null
sleep 1
# one line per container and pass: "[ID TENANT/CLASS] applied OBJECT: A -> B; applied ..."
tail -n +"$((before + 1))" "$QT_QOSD_LOG" | awk '
	match($0, /\[[^ ]* [^]]*\] /) {
		id = substr($0, RSTART + 1); sub(/ .*/, "", id)
		n = split(substr($0, RSTART + RLENGTH), item, "; ")
		for (i = 1; i <= n; i++) {
			if (item[i] !~ /^applied [^:]*: .* -> /) continue
			obj = item[i]; sub(/^applied /, "", obj); sub(/:.*/, "", obj)
			val = item[i]; sub(/.* -> /, "", val)
			print id, obj, val
		}
	}' | sort >"$QT_TMP/changed"
note "planned: $(tr '\n' ';' <"$QT_TMP/planned")"
note "changed: $(tr '\n' ';' <"$QT_TMP/changed")"
check plan-nonempty "the plan lists no container knob" test -s "$QT_TMP/planned"
check plan-equals-reload "the plan and the reload differ: $(diff "$QT_TMP/planned" "$QT_TMP/changed" | tr '\n' ' ')" \
	cmp -s "$QT_TMP/planned" "$QT_TMP/changed"
check tenant-changed "the tenant's $tk is $(qt_knob $QT_CGP/qosd-qt cpu $tk), the plan said $twant" \
	test "$(qt_knob $QT_CGP/qosd-qt cpu $tk)" = $twant
# a second plan of the same directory: nothing left to change
qosctl plan "$QT_TMP/new" >"$QT_TMP/plan2.out"
check plan-after-reload "a plan after the reload still lists changes: $(cat "$QT_TMP/plan2.out")" \
	grep -q "^0 of 3 container(s) would change" "$QT_TMP/plan2.out"

# --- a refused policy: file and line named, exit 1
mkdir -p "$QT_TMP/bad"
printf '[class x]\ncpu.quota = lots\n' >"$QT_TMP/bad/qt.conf"
qosctl plan "$QT_TMP/bad" >"$QT_TMP/plan3.out" 2>&1
rc=$?
check plan-refused "a bad policy: exit $rc, $(cat "$QT_TMP/plan3.out")" \
	test $rc -eq 1 -a "$(grep -c "$QT_TMP/bad/qt.conf:2:" "$QT_TMP/plan3.out")" -ge 1

# --- explain names the hook's annotations for a container the OCI hook registered
qt_cg_mkdir "$QT_CGP/h-1"
qt_cg_run "$QT_CGP/h-1" sleep 600
# the helper joins every hierarchy, then execs sleep: register only after that
joined() { [[ $(cat "/proc/$QT_LASTPID/comm" 2>/dev/null) == sleep ]]; }
qt_wait 5 joined
mkdir -p "$QT_TMP/bundle"
printf '{"ociVersion":"1.0.2","id":"h-1","status":"created","pid":%d,"bundle":"%s","annotations":{"qosd.io/tenant":"qt","qosd.io/class":"gold"}}' \
	"$QT_LASTPID" "$QT_TMP/bundle" |
	"$QOSHOOK" --socket "$QT_SOCK" --config-dir "$QT_TMP/conf.d" --config "$QT_TMP/qosd.conf" \
		--state-dir "$QT_TMP/state" --cgroupfs "$QT_CGROOT" createRuntime >"$QT_TMP/hook.out" 2>&1
rc=$?
check hook-registered "qos-hook exited $rc: $(cat "$QT_TMP/hook.out")" test $rc -eq 0
qosctl explain h-1 >"$QT_TMP/explain-hook.out" 2>&1
check explain-annotation "no annotation in: $(head -3 "$QT_TMP/explain-hook.out" | tr '\n' '|')" \
	grep -q "assigned by annotation qosd.io/class=gold, qosd.io/tenant=qt of the OCI bundle $QT_TMP/bundle (qos-hook)" \
	"$QT_TMP/explain-hook.out"
qt_finish
