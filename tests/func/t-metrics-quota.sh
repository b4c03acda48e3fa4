#!/bin/bash
# qosd-vm: yes
# Quota metrics: qosd_disk_used_bytes / _limit_bytes / _used_inodes of a container's project quota
# equal what xfs_quota reports. Needs XFS with prjquota: the VM layer (this host's kernel has no
# quota support).
source "$(dirname "$0")/lib.sh"
qt_init metrics-quota

MNT=${QT_XFS_MNT:-}
if [[ -z $MNT ]] || ! awk -v m="$MNT" '$2 == m && $4 ~ /(prjquota|pquota)/ { f = 1 } END { exit !f }' /proc/mounts; then
	skip all "no XFS with prjquota here (QT_XFS_MNT unset or not prjquota; this host's kernel has no quota support); the VM layer runs it"
	qt_finish
	exit 0
fi
for tool in xfs_quota jq; do
	command -v $tool >/dev/null || {
		skip all "$tool is not installed"
		qt_finish
		exit 0
	}
done
ROOT=$MNT/$QT_ID
QT_EXTRA_CLEANUP='rm -rf "$ROOT"'
mkdir -p "$ROOT/d1"
PORT=19101
printf 'quota_roots = %s\nmetrics_listen = 127.0.0.1:%s\n' "$ROOT" "$PORT" >"$QT_TMP/qosd.conf"
qt_policy qt <<EOF
[class q10]
disk.quota = 10M
disk.inodes = 100
EOF
qt_start_qosd --config "$QT_TMP/qosd.conf" || {
	fail start "qosd did not start"
	exit 0
}
ID=$QT_ID-q1
qt_cg_mkdir "$QT_CGP/q1"
qosctl set "$ID" cgroup="$QT_CGP/q1" tenant=qt class=q10 disk.dir="$ROOT/d1" >/dev/null
projid() { qosctl show "$ID" --json 2>/dev/null | jq -r '.projid // 0'; }
has_projid() { [[ $(projid) -gt 0 ]]; }
qt_wait 10 has_projid
check projid "no project id for $ID: $(qosctl show "$ID" 2>&1 | tail -3)" has_projid
P=$(projid)
dd if=/dev/zero of="$ROOT/d1/f" bs=1M count=3 2>/dev/null
for i in 1 2 3 4 5; do : >"$ROOT/d1/e$i"; done
sync

fetch() { if command -v curl >/dev/null; then curl -sf --max-time 10 "$1"; else wget -qO- "$1"; fi; }
fetch "http://127.0.0.1:$PORT/metrics" >"$QT_TMP/scrape"
metric() { sed -n "s/^$1{id=\"$ID\",[^}]*} //p" "$QT_TMP/scrape"; }
# xq b|i FIELD: xfs_quota's report for project P, used or hard (KiB or inodes)
xq() {
	xfs_quota -x -c "report -p -n -N -$1" "$MNT" 2>/dev/null |
		awk -v id="#$P" -v f="$2" '$1 == id { print (f == "used" ? $2 : $4) }'
}
ub=$(metric qosd_disk_used_bytes)
lb=$(metric qosd_disk_limit_bytes)
ui=$(metric qosd_disk_used_inodes)
li=$(metric qosd_disk_limit_inodes)
note "qosd: used $ub bytes of $lb, $ui inodes of $li; xfs_quota: used $(xq b used) KiB of $(xq b hard), $(xq i used) inodes of $(xq i hard)"
check used-bytes "qosd says $ub bytes, xfs_quota $(xq b used) KiB" test "${ub:-x}" = "$(($(xq b used) * 1024))"
check limit-bytes "qosd says $lb bytes, xfs_quota $(xq b hard) KiB" test "${lb:-x}" = "$(($(xq b hard) * 1024))"
check used-inodes "qosd says $ui inodes, xfs_quota $(xq i used)" test "${ui:-x}" = "$(xq i used)"
check limit-inodes "qosd says $li inodes, xfs_quota $(xq i hard)" test "${li:-x}" = "$(xq i hard)"
check used-is-the-data "used $ub bytes after writing 3 MiB" test "${ub:-0}" -ge $((3 << 20))
qosctl unset "$ID" --all >/dev/null 2>&1
qt_finish
