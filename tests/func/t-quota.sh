#!/bin/bash
# qosd-vm: yes
# disk.quota / disk.inodes: project quotas on the containers' directories, enforced by the kernel.
# Needs a filesystem mounted with project quota: the VM layer's XFS (QT_LAYER=vm, QT_XFS_MNT). On a
# host without quota support the kernel parts SKIP with the reason; the refusals of hostile
# directories (symlink, "..", outside the roots) run everywhere, as they never reach the kernel.
source "$(dirname "$0")/lib.sh"
qt_init quota

MNT=${QT_XFS_MNT:-}
QUOTA_WHY=$(qt_prjquota_why "$MNT")
if [[ -z $QUOTA_WHY ]]; then
	ROOT=$MNT/$QT_ID
	OUTSIDE=$MNT/$QT_ID-outside
else
	ROOT=$QT_TMP/dirs
	OUTSIDE=$QT_TMP/outside
fi
PROJECTS_BACKUP=
restore_projects() {
	[[ -n $PROJECTS_BACKUP ]] || return 0
	if [[ $PROJECTS_BACKUP == none ]]; then rm -f /etc/projects; else mv -f "$PROJECTS_BACKUP" /etc/projects; fi
}
QT_EXTRA_CLEANUP='rm -rf "$ROOT" "$OUTSIDE"; restore_projects'
mkdir -p "$ROOT" "$OUTSIDE"

printf 'quota_roots = %s\n' "$ROOT" >"$QT_TMP/qosd.conf"
qt_policy qt <<EOF
[class q10]
disk.quota = 10M
[class big]
disk.quota = 100M
[class i100]
disk.inodes = 100
EOF

cid() { echo "$QT_ID-$1"; }
# reg NAME CLASS DIR: a container with its own cgroup and directory
reg() {
	qt_cg_mkdir "$QT_CGP/$1"
	qosctl set "$(cid "$1")" cgroup="$QT_CGP/$1" tenant=qt class="$2" disk.dir="$3" >/dev/null
}
show_json() { qosctl show "$(cid "$1")" --json 2>/dev/null; }
projid() { show_json "$1" | jq -r '.projid // 0'; }
# knob NAME KEY FIELD: one field of one knob of qosctl show
knob() { show_json "$1" | jq -r --arg k "$2" --arg f "$3" '[.knobs[] | select(.key == $k)][0][$f] // empty'; }
has_projid() { [[ $(projid "$1") -gt 0 ]]; }
applied_is() { [[ $(knob "$1" "$2" applied) == "$3"* ]]; }
# the project id the kernel has on a file (xfs_io lsproj), or "?" without xfs_io
lsproj() {
	command -v xfs_io >/dev/null || { echo "?"; return; }
	xfs_io -r -c lsproj "$1" 2>/dev/null | awk '{ print $NF }'
}
# proj_is FILE ID: FILE has project ID (or there is no xfs_io to tell)
proj_is() {
	local p
	p=$(lsproj "$1")
	[[ $p == "?" || $p == "$2" ]]
}
# xq ID b|i FIELD: the kernel's project quota for ID (xfs_quota report): used or hard, in KiB or inodes
xq() {
	xfs_quota -x -c "report -p -n -N -$2" "$MNT" 2>/dev/null |
		awk -v id="#$1" -v f="$3" '$1 == id { print (f == "used" ? $2 : $4); found = 1 } END { if (!found) print 0 }'
}
show_has() { qosctl show "$(cid "$1")" 2>&1 | grep -qF -- "$2"; }
# refused NAME DIR WORDS: registering (or the reconcile that follows) fails with a message holding WORDS
refused() {
	local out
	out=$(reg "$1" q10 "$2" 2>&1)
	[[ $out == *"$3"* ]] && return 0
	qt_wait 5 show_has "$1" "$3"
}

qt_start_qosd --config "$QT_TMP/qosd.conf" || { fail start "qosd did not start"; qt_finish; exit 0; }

# --- hostile directories: refused with a message saying why, nothing retagged
mkdir -p "$ROOT/victim" && echo data >"$ROOT/victim/file"
ln -s /etc "$ROOT/etc-link"
ln -s "$ROOT/victim" "$ROOT/victim-link"
check refuse-symlink-etc "a symlink to /etc was not refused with 'symbolic link'" \
	refused h1 "$ROOT/etc-link" "symbolic link"
check refuse-symlink-dir "a symlink to a directory was not refused" \
	refused h2 "$ROOT/victim-link" "symbolic link"
check refuse-dotdot "a path with '..' was not refused" refused h3 "$ROOT/../$QT_ID/victim" '".."'
check refuse-outside-roots "a directory outside quota_roots was not refused" \
	refused h4 "$OUTSIDE" "outside the configured quota roots"
echo x >"$ROOT/plainfile"
check refuse-not-dir "a regular file was not refused" refused h5 "$ROOT/plainfile" "not a directory"
if [[ -z $QUOTA_WHY ]]; then
	retagged() { proj_is "$ROOT/victim" 0 && proj_is "$ROOT/victim/file" 0 && proj_is "$OUTSIDE" 0; }
	check refuse-nothing-retagged "a refused directory got a project id: victim $(lsproj "$ROOT/victim"), outside $(lsproj "$OUTSIDE")" \
		retagged
fi
for h in h1 h2 h3 h4 h5; do qt_cg_rmtree "$QT_CGP/$h"; done

# --- the attacker's side (issue 12): a container owner names, through the qosd.io/disk-dir
# annotation, a directory that is not its own. Refused by qosd, and by qos-hook itself when qosd is
# down (the same rule, qosd/diskdir.c), with nothing registered or tagged. Its own writable layer is
# its bundle's rootfs (a plain directory: runc); quota_roots is $ROOT. "qosd down" is a socket
# nobody listens on: the hook's fallback path, with the real qosd left running.
HOOK=("$QOSHOOK" --config-dir "$QT_TMP/conf.d" --config "$QT_TMP/qosd.conf"
	--state-dir "$QT_TMP/state" --cgroupfs "$QT_CGROOT")
BUNDLES=$OUTSIDE/bundles
KUBELET=$OUTSIDE/var/lib/kubelet/pods
mkdir -p "$BUNDLES/victim/rootfs/data" "$BUNDLES/att/rootfs/own" "$KUBELET/pod-1/volumes"
echo secret >"$BUNDLES/victim/rootfs/data/file"
echo secret >"$KUBELET/pod-1/volumes/file"
ln -s "$BUNDLES/victim/rootfs" "$BUNDLES/att/rootfs/escape"
qt_cg_mkdir "$QT_CGP/att"
qt_cg_run "$QT_CGP/att" sleep 100000
ATT_PID=$QT_LASTPID
att_state() { # ID DISK-DIR
	printf '{"ociVersion":"1.0.2","id":"%s","status":"created","pid":%s,"bundle":"%s","annotations":{"qosd.io/tenant":"qt","qosd.io/class":"q10","qosd.io/disk-dir":"%s"}}' \
		"$1" "$ATT_PID" "$BUNDLES/att" "$2"
}
# att_refused NAME DIR WORDS: the hook exits non-zero saying WORDS, and qosd does not know the id
att_refused() {
	local out rc
	out=$(att_state "$QT_ID-$1" "$2" | "${HOOK[@]}" --socket "$ATT_SOCK" createRuntime 2>&1)
	rc=$?
	ATT_OUT=$out
	if [[ $rc -eq 0 || $out != *"$3"* ]]; then
		note "$1: hook rc $rc: $out"
		return 1
	fi
	! qosctl list 2>/dev/null | grep -qF "$QT_ID-$1" || { note "$1: qosd registered it"; return 1; }
}
# project ids on every inode below DIR (FS_IOC_FSGETXATTR through one xfs_io; ext4 and XFS)
ids_under() {
	local a=() f
	while IFS= read -r f; do a+=(-c "open -r $f" -c lsproj); done < <(find "$1" -xdev \( -type f -o -type d \))
	xfs_io "${a[@]}" 2>/dev/null | awk '/projid/ { print $NF }' | sort -u | tr '\n' ' '
}
VICTIM_IDS0=$(ids_under "$BUNDLES/victim") KUBELET_IDS0=$(ids_under "$OUTSIDE/var")
for mode in up down; do
	ATT_SOCK=$QT_SOCK
	[[ $mode == down ]] && ATT_SOCK=$QT_TMP/nobody.sock
	check "attack-$mode-etc" "disk-dir=/etc was not refused (qosd $mode)" \
		att_refused "a1-$mode" /etc "outside the container's writable layer"
	check "attack-$mode-kubelet" "disk-dir=$KUBELET was not refused (qosd $mode)" \
		att_refused "a2-$mode" "$KUBELET" "outside the container's writable layer"
	check "attack-$mode-other-container" "another container's rootfs was not refused (qosd $mode)" \
		att_refused "a3-$mode" "$BUNDLES/victim/rootfs" "outside the container's writable layer"
	check "attack-$mode-symlink-out-of-own-layer" "a symlink in its own layer to another's was not refused (qosd $mode)" \
		att_refused "a4-$mode" "$BUNDLES/att/rootfs/escape/data" "really $BUNDLES/victim/rootfs/data"
done
note "the refusal reads: ${ATT_OUT##*qos-hook: }"
if command -v xfs_io >/dev/null; then
	check attack-nothing-tagged "project ids changed: victim '$VICTIM_IDS0' -> '$(ids_under "$BUNDLES/victim")', kubelet '$KUBELET_IDS0' -> '$(ids_under "$OUTSIDE/var")'" \
		test "$(ids_under "$BUNDLES/victim") $(ids_under "$OUTSIDE/var")" == "$VICTIM_IDS0 $KUBELET_IDS0"
else
	skip attack-nothing-tagged "no xfs_io to read project ids"
fi
check attack-nothing-pending "the refused hooks left records: $(ls "$QT_TMP/state/pending" 2>/dev/null | tr '\n' ' ')" \
	test -z "$(ls "$QT_TMP/state/pending" 2>/dev/null | grep -F "$QT_ID-a")"

if [[ -n $QUOTA_WHY ]]; then
	mkdir -p "$ROOT/c1"
	reg c1 q10 "$ROOT/c1" >/dev/null 2>&1
	if qt_wait 5 show_has c1 quota; then
		note "c1: $(knob c1 disk.quota error)"
	fi
	for t in enforce-bytes other-dir-writes enforce-inodes raise restart-same-ids lost-state-same-ids exit-frees-id range-overlaps-projects; do
		skip "$t" "$QUOTA_WHY"
	done
	qt_finish
	exit 0
fi

# --- enforcement
mkdir -p "$ROOT/c1" "$ROOT/c2" "$ROOT/c3"
echo before >"$ROOT/c1/existing"
reg c1 q10 "$ROOT/c1"
reg c2 big "$ROOT/c2"
reg c3 i100 "$ROOT/c3"
for c in c1 c2 c3; do
	qt_wait 10 has_projid $c || fail "$c-projid" "no project id: $(knob $c disk.quota error)"
done
ID1=$(projid c1) ID2=$(projid c2) ID3=$(projid c3)
note "ids: c1 $ID1, c2 $ID2, c3 $ID3; c1: $(knob c1 disk.quota object): $(knob c1 disk.quota applied)"
check ids-distinct "ids not distinct: $ID1 $ID2 $ID3" test "$ID1" != "$ID2" -a "$ID2" != "$ID3" -a "$ID1" != "$ID3"
in_range() { local i; for i; do ((i >= 100000 && i <= 199999)) || return 1; done; }
check ids-default-range "ids outside 100000-199999 (projid32bit fs): $ID1 $ID2 $ID3" \
	in_range "$ID1" "$ID2" "$ID3"
check existing-file-retagged "a file already in c1 has project $(lsproj "$ROOT/c1/existing"), not $ID1" \
	proj_is "$ROOT/c1/existing" "$ID1"
check applied-limit "c1 disk.quota applied: $(knob c1 disk.quota applied)" applied_is c1 disk.quota "limit 10M"

# a tree that holds another container's directory (inside the quota roots, so only the project ids
# can tell): refused, and not one inode retagged (the check used to look at the top only)
check refuse-tree-with-live-id "a tree holding c1's directory (project $ID1) was not refused" \
	refused h6 "$ROOT" "of someone else"
untouched() { proj_is "$ROOT" 0 && proj_is "$ROOT/victim/file" 0 && proj_is "$ROOT/c1/existing" "$ID1" && proj_is "$ROOT/c2" "$ID2"; }
check refuse-tree-nothing-tagged "after the refusal: $ROOT $(lsproj "$ROOT"), victim/file $(lsproj "$ROOT/victim/file"), c1/existing $(lsproj "$ROOT/c1/existing") (c1 is $ID1)" \
	untouched
qt_cg_rmtree "$QT_CGP/h6"

# XFS reports an exceeded project quota as ENOSPC ("No space left on device"), not EDQUOT: the
# directory tree looks full. The filesystem itself must still have room, or it proves nothing.
quota_err() { [[ $1 == *"quota exceeded"* || $1 == *"No space left on device"* ]]; }
free_mib() { echo $(($(stat -f -c '%a * %S' "$MNT") / 1048576)); }
err=$(dd if=/dev/zero of="$ROOT/c1/fill" bs=1M count=20 2>&1)
rc=$?
size=$(stat -c %s "$ROOT/c1/fill" 2>/dev/null || echo 0)
free=$(free_mib)
note "c1: dd of 20 MiB: rc $rc, $size bytes written, $free MiB still free on $MNT: $(echo "$err" | grep -i error | head -1)"
if [[ $rc -ne 0 ]] && quota_err "$err" && ((size <= 10 << 20 && size >= 9 << 20 && free > 100)); then
	pass enforce-bytes
else
	fail enforce-bytes "dd rc $rc, $size bytes, $free MiB free, '$err'"
fi
note "c1 kernel: used $(xq "$ID1" b used) KiB, hard $(xq "$ID1" b hard) KiB; show: $(knob c1 disk.quota applied)"
check other-dir-writes "c2 (same filesystem, 100M) could not write 20 MiB" \
	dd if=/dev/zero of="$ROOT/c2/fill" bs=1M count=20 status=none

qt_wait 10 applied_is c3 disk.inodes "limit 100" || fail c3-inodes "$(knob c3 disk.inodes applied)"
n=0
for i in $(seq 1 150); do
	if ! err=$( (: >"$ROOT/c3/f$i") 2>&1); then break; fi
	n=$i
done
note "c3: $n files created before '$err' (disk.inodes = 100; the kernel's limit is 101, the directory itself being one)"
if [[ $n -eq 100 ]] && quota_err "$err"; then
	pass enforce-inodes
else
	fail enforce-inodes "$n files, then '$err'"
fi

qosctl set "$(cid c1)" disk.quota=30M >/dev/null
qt_wait 10 applied_is c1 disk.quota "limit 30M" || fail raise-applied "$(knob c1 disk.quota applied)"
check raise "c1 could not write 10 MiB more after disk.quota=30M" \
	dd if=/dev/zero of="$ROOT/c1/more" bs=1M count=10 status=none

# --- kill -9 and restart: the same ids and limits, no second id
qt_kill9_qosd
qt_start_qosd --config "$QT_TMP/qosd.conf" || fail restart "qosd did not come back"
qt_wait 10 applied_is c1 disk.quota "limit 30M"
check restart-same-ids "ids after restart: $(projid c1) $(projid c2) $(projid c3), before $ID1 $ID2 $ID3" \
	test "$(projid c1) $(projid c2) $(projid c3)" == "$ID1 $ID2 $ID3"
limits_kept() { applied_is c1 disk.quota "limit 30M" && applied_is c3 disk.inodes "limit 100"; }
check restart-limits "limits after restart: c1 $(knob c1 disk.quota applied), c3 $(knob c3 disk.inodes applied)" \
	limits_kept

# --- lost state file: rebuilt from the directories' own project ids
qt_kill9_qosd
rm -rf "$QT_TMP/state" && mkdir -p "$QT_TMP/state"
qt_start_qosd --config "$QT_TMP/qosd.conf" || fail restart2 "qosd did not come back"
reg c3 i100 "$ROOT/c3"
reg c2 big "$ROOT/c2"
reg c1 q10 "$ROOT/c1"
for c in c1 c2 c3; do qt_wait 10 has_projid $c; done
check lost-state-same-ids "ids after a lost state file: $(projid c1) $(projid c2) $(projid c3), before $ID1 $ID2 $ID3" \
	test "$(projid c1) $(projid c2) $(projid c3)" == "$ID1 $ID2 $ID3"
c1_files() { proj_is "$ROOT/c1/fill" "$ID1" && proj_is "$ROOT/c1/more" "$ID1"; }
check lost-state-no-second-id "c1's files: $(lsproj "$ROOT/c1/fill") $(lsproj "$ROOT/c1/more"), expected $ID1" \
	c1_files
check lost-state-limit "c1 after a lost state file: $(knob c1 disk.quota applied)" \
	applied_is c1 disk.quota "limit 10M"

# --- a container's exit clears its limits and frees its id for the next one
qt_cg_rmtree "$QT_CGP/c3"
gone() { ! qosctl list 2>/dev/null | grep -qF "$(cid c3)"; }
t0=$SECONDS
# the cgroup's removal is an event; the drift timer (30 s) is the backstop
if qt_wait 40 gone; then
	note "c3 forgotten $((SECONDS - t0)) s after its cgroup went"
else
	fail exit-forgotten "c3 still listed 40 s after its cgroup went"
fi
cleared() { [[ $(xq "$ID3" i hard) == 0 ]]; }
check exit-limits-cleared "c3's inode limit after exit: $(xq "$ID3" i hard)" qt_wait 5 cleared
rm -rf "$ROOT/c3"
sync
stat -f "$MNT" >/dev/null
unused() { stat -f "$MNT" >/dev/null; [[ $(xq "$ID3" i used) == 0 ]]; }
qt_wait 10 unused || note "id $ID3 still shows $(xq "$ID3" i used) inodes in use after rm -rf"
mkdir -p "$ROOT/c4"
reg c4 q10 "$ROOT/c4"
qt_wait 10 has_projid c4
check exit-frees-id "c4 got $(projid c4), c3 had $ID3" test "$(projid c4)" == "$ID3"

# --- an id range that overlaps /etc/projects skips those ids; one entirely inside them is refused
if [[ ${QT_LAYER:-} == vm ]]; then
	qt_kill9_qosd
	if [[ -e /etc/projects ]]; then
		PROJECTS_BACKUP=$QT_TMP/projects.orig
		cp -a /etc/projects "$PROJECTS_BACKUP"
	else
		PROJECTS_BACKUP=none
	fi
	printf '150000:/srv/a\n150001:/srv/b\n' >/etc/projects
	printf 'quota_roots = %s\nquota_range = 150000-150002\n' "$ROOT" >"$QT_TMP/qosd.conf"
	qt_start_qosd --config "$QT_TMP/qosd.conf"
	mkdir -p "$ROOT/c5" "$ROOT/c6"
	reg c5 q10 "$ROOT/c5"
	qt_wait 10 has_projid c5
	check range-overlaps-projects "c5 got '$(projid c5)', expected 150002 (150000-150001 in /etc/projects)" \
		test "$(projid c5)" == 150002
	qt_kill9_qosd
	printf 'quota_roots = %s\nquota_range = 150000-150001\n' "$ROOT" >"$QT_TMP/qosd.conf"
	qt_start_qosd --config "$QT_TMP/qosd.conf"
	check range-inside-projects "a range entirely inside /etc/projects was not refused clearly" \
		refused c6 "$ROOT/c6" "entirely inside ids reserved"
	check range-inside-nothing-retagged "c6 got project $(lsproj "$ROOT/c6")" \
		proj_is "$ROOT/c6" 0
else
	skip range-overlaps-projects "rewrites /etc/projects: only in the VM"
fi

qt_finish
