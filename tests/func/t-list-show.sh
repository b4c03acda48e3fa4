#!/bin/bash
# qosctl list and show as a reader sees them: the list is a table (one short status word, CGROUP
# in its column; the reason is in show), a container is pending only on a hierarchy its class
# uses, and the kernel's "no limit" reads max in show.
source "$(dirname "$0")/lib.sh"
qt_init list-show

if [[ $QT_V == 2 ]]; then
	skip all "the per-hierarchy cases are cgroup v1's (this host has one unified hierarchy)"
	exit 0
fi
qt_policy qt <<EOF
[class plain]
cpu.shares = 512
memory.limit = 64M

[class pinned]
cpu.shares = 256
cpuset.cpus = 0

[match]
$QT_CGP/l-* = plain
$QT_CGP/p-* = pinned
EOF
# a cgroup in every hierarchy but cpuset (runtimes that do not use cpuset make none)
mk_no_cpuset() {
	local c
	for c in "${QT_CTRLS[@]}"; do
		[[ $c == cpuset ]] || mkdir -p "$QT_CGROOT/$c$1"
	done
}
qt_start_qosd || {
	fail start "qosd did not start"
	exit 0
}
mk_no_cpuset "$QT_CGP/l-1"
mk_no_cpuset "$QT_CGP/p-1"
check no-cpuset-applied "l-1 cpu.shares=$(qt_knob $QT_CGP/l-1 cpu cpu.shares)" \
	qt_wait 5 bash -c "[[ \$(cat $QT_CGROOT/cpu$QT_CGP/l-1/cpu.shares) == 512 ]]"
row() { qosctl list | grep "^$1 "; }
ok_row() { [[ $(row l-1 | awk '{ print $5 }') == ok ]]; }
check unused-hierarchy-not-pending "l-1 (class sets no cpuset key, no cpuset cgroup): $(row l-1)" \
	qt_wait 5 ok_row
pending_row() { [[ $(row p-1 | awk '{ print $5 }') == pending ]]; }
check used-hierarchy-pending "p-1 (class sets cpuset.cpus, no cpuset cgroup): $(row p-1)" \
	qt_wait 5 pending_row

# the table: every row's CGROUP starts where the header's does, and the status is one word
out=$(qosctl list)
col=$(head -1 <<<"$out" | awk '{ print index($0, "CGROUP") }')
misaligned=$(awk -v col="$col" -v p="$QT_CGP/" 'NR > 1 && /^[lp]-1 / && index($0, p) != col' <<<"$out")
check list-aligned "CGROUP not at column $col in: $misaligned" test -z "$misaligned"
check list-no-reason "the list repeats the reason: $(row p-1)" bash -c "! grep -q 'not present' <<<'$(row p-1)'"
out=$(qosctl show p-1)
check show-has-reason "show p-1 does not say why it is pending: $out" \
	grep -q "status *pending: cgroup $QT_CGP/p-1 not present in the cpuset hierarchy" <<<"$out"
json_reason() {
	qosctl list --json | jq -e '.containers[] | select(.id == "p-1") | .status |
		test("cpuset hierarchy")' >/dev/null
}
check list-json-full "list --json lost the reason" json_reason

# show: memory.soft_limit_in_bytes unset reads PAGE_COUNTER_MAX bytes in v1; shown as max
out=$(qosctl show l-1)
check show-reservation-max "memory.reservation: $(grep '^memory.reservation' <<<"$out")" \
	grep -qE '^memory.reservation +memory.soft_limit_in_bytes +- +max ' <<<"$out"
check show-limit-number "memory.limit: $(grep '^memory.limit ' <<<"$out")" \
	grep -qE '^memory.limit +memory.limit_in_bytes +67108864 +67108864 ' <<<"$out"
qt_finish
