#!/bin/bash
# Project quotas over time (issue 12), where the kernel enforces them (XFS with prjquota: the VM
# layers' $QT_XFS_MNT; run by tests/layer-vm-reliability.sh, outside the main VM layer's budget):
#  - lives: QT_QUOTA_LIVES (1,000) container lifetimes through qosd's socket, each registered with
#    a bundle only (the quota directory derived from its rootfs), then unregistered: the ids are
#    handed on from one to the next and no id keeps a limit afterwards;
#  - walk: qosd killed (-9) while it tags a large tree (QT_QUOTA_TREE files) in bounded steps, and
#    restarted: the tree's top was not tagged yet (so the walk is redone), show says "pending" until
#    the end and "ok" only once every inode of the tree counts against the id.
# Elsewhere (no quota support) it SKIPs with the reason.
source "$(dirname "$0")/lib.sh"
qt_init quota-life

MNT=${QT_XFS_MNT:-}
WHY=$(qt_prjquota_why "$MNT")
if [[ -n $WHY ]]; then
	:
elif [[ $(stat -f -c %T "$MNT") != xfs ]]; then
	WHY="$MNT is not XFS (the checks read the kernel's view with xfs_quota)"
elif ! command -v xfs_quota >/dev/null || ! command -v xfs_io >/dev/null; then
	WHY="no xfs_quota/xfs_io to read the kernel's view"
fi
if [[ -n $WHY ]]; then
	for t in lives-no-failure lives-derived-dir lives-ids-reused lives-no-limit-left lives-nothing-registered \
		walk-cut-short walk-redone walk-ok-only-when-done; do
		skip "$t" "$WHY"
	done
	qt_finish
	exit 0
fi

LIVES=${QT_QUOTA_LIVES:-1000}
TREE=${QT_QUOTA_TREE:-12000}
ROOT=$MNT/$QT_ID-life
QT_EXTRA_CLEANUP='rm -rf "$ROOT"'
mkdir -p "$ROOT/roots/bundles"
# the bundles sit under quota_roots too, only so that an older qosd (which applied quota_roots to
# derived directories) runs the same lifetimes: the writable layer alone would do
printf 'quota_roots = %s\n' "$ROOT/roots" >"$QT_TMP/qosd.conf"
qt_policy qt <<EOF
[class q]
disk.quota = 1M
EOF
qt_start_qosd --config "$QT_TMP/qosd.conf" || { fail start "qosd did not start"; qt_finish; exit 0; }

# ids in the default ranges that hold a hard limit (blocks or inodes)
limited_ids() {
	xfs_quota -x -c "report -p -n -N -b -i" "$MNT" 2>/dev/null |
		awk '$1 ~ /^#/ { id = substr($1, 2) + 0; if (id >= 50000 && ($4 > 0 || $9 > 0)) print id }' | tr '\n' ' '
}
# xq ID FIELD: used or hard inodes of project ID
xq_inodes() {
	xfs_quota -x -c "report -p -n -N -i" "$MNT" 2>/dev/null |
		awk -v id="#$1" -v f="$2" '$1 == id { print (f == "used" ? $2 : $4); found = 1 } END { if (!found) print 0 }'
}
LIMITED0=$(limited_ids)

# --- lives
qt_cg_mkdir "$QT_CGP/life"
qt_cg_run "$QT_CGP/life" sleep 100000
t0=$(date +%s%N)
out=$("$QOSD_HELPER_DIR/qt-quota-life" "$QT_SOCK" "$LIVES" "$ROOT/roots/bundles" "$QT_CGP/life" "$QT_LASTPID" qt q 2>&1)
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
note "$LIVES lifetimes in $ms ms: ${out//$'\n'/; }"
check lives-no-failure "qt-quota-life rc $rc: $out" test $rc -eq 0
dir0=$(sed -n 's/.* dir0=//p' <<<"$out" | head -1)
check lives-derived-dir "the first container's quota directory was '$dir0', not its bundle's rootfs" \
	test "$dir0" == "$ROOT/roots/bundles/b0/rootfs"
ids=$(sed -n 's/.* ids=\([^ ]*\) .*/\1/p' <<<"$out" | head -1)
# each lifetime hands its id on: a leak would make every one take a new id (a span of ~LIVES).
# XFS drops a removed inode's usage asynchronously (inodegc), so the next lifetime now and then
# finds the id still counting and takes the next free one: a span of a few ids, not LIVES.
span=$(tr ',' '\n' <<<"$ids" | sort -n | sed -n '1p;$p' | tr '\n' ' ' | awk '{ print $2 - $1 }')
ids_reused() { [[ -n $ids && $ids != *"?"* && $span -le 2 ]]; }
check lives-ids-reused "ids sampled over the lifetimes: $ids (span $span): ids are not handed on" ids_reused
limited=$(limited_ids)
check lives-no-limit-left "ids still limited after every container went: '$limited' (before: '$LIMITED0')" \
	test "$limited" == "$LIMITED0"
check lives-nothing-registered "qosd still lists: $(qosctl list 2>/dev/null | grep -o 'life-[0-9]*' | head -3 | tr '\n' ' ')" \
	test -z "$(qosctl list 2>/dev/null | grep -o 'life-[0-9]*')"

# --- walk cut short by kill -9
BIG=$ROOT/roots/big
mkdir -p "$BIG"
per=$(((TREE + 99) / 100))
t0=$(date +%s%N)
for d in $(seq 1 100); do
	mkdir "$BIG/d$d"
	(cd "$BIG/d$d" && touch $(seq -f 'f%g' 1 "$per"))
done
INODES=$(find "$BIG" -xdev | wc -l)
note "tree: $INODES inodes made in $((($(date +%s%N) - t0) / 1000000)) ms"
qt_cg_mkdir "$QT_CGP/big"
show_json() { qosctl show "$QT_ID-big" --json 2>/dev/null; }
status() { qosctl list --json 2>/dev/null | jq -r --arg id "$QT_ID-big" '.containers[] | select(.id == $id) | .status'; }
projid() { show_json | jq -r '.projid // 0'; }
qosctl set "$QT_ID-big" cgroup="$QT_CGP/big" tenant=qt class=q disk.dir="$BIG" >/dev/null 2>&1 &
SETPID=$!
# kill qosd once the walk has started tagging (the project counts inodes) and before it ends
ID=0
tagging() {
	ID=$(projid)
	[[ $ID -gt 0 ]] || return 1
	local used
	used=$(xq_inodes "$ID" used)
	((used > 0 && used < INODES / 2))
}
if qt_wait 30 tagging; then
	st=$(status)
	qt_kill9_qosd
	used=$(xq_inodes "$ID" used)
	top=$(xfs_io -r -c lsproj "$BIG" | awk '{ print $NF }')
	note "killed qosd with $used of $INODES inodes tagged with project $ID; status then: $st; top's id: $top"
	cut() { [[ $top == 0 && $used -lt $INODES && $st == pending* ]]; }
	check walk-cut-short "killed mid-walk, but top '$top', $used/$INODES inodes, status '$st'" cut
else
	fail walk-cut-short "never saw the walk under way (project '$ID', $(xq_inodes "$ID" used) inodes; status $(status))"
	qt_kill9_qosd
fi
wait $SETPID 2>/dev/null
t0=$(date +%s%N)
qt_start_qosd --config "$QT_TMP/qosd.conf" || fail restart "qosd did not come back"
SEEN_PENDING=
done_ok() {
	local st
	st=$(status)
	[[ $st == pending* ]] && SEEN_PENDING=1
	[[ $st == ok ]]
}
if qt_wait 60 done_ok; then
	used=$(xq_inodes "$ID" used)
	note "after the restart: status ok in $((($(date +%s%N) - t0) / 1000000)) ms, $used of $INODES inodes in project $ID (pending seen: ${SEEN_PENDING:-no})"
	check walk-redone "after the restart only $used of $INODES inodes carry project $ID" test "$used" -eq "$INODES"
	top=$(xfs_io -r -c lsproj "$BIG" | awk '{ print $NF }')
	check walk-ok-only-when-done "ok with the top at '$top' or pending never shown while tagging" \
		test "$top" == "$ID" -a -n "$SEEN_PENDING"
else
	fail walk-redone "not ok 60 s after the restart: $(status); $(xq_inodes "$ID" used)/$INODES inodes"
fi
qt_finish
