#!/bin/bash
# qosd-vm: yes
# Smoke test of the kernel features the other func tests build on, without qosd: cgroup v2 with its
# controllers (the VM), a memory limit that OOM-kills, an io.max rule that throttles, and an XFS
# project quota that stops a writer at its limit. On this host (cgroup v1, no quota support) the
# v2-only and quota parts SKIP with the reason; the VM layer (QT_LAYER=vm) runs them for real.
source "$(dirname "$0")/lib.sh"
qt_init vm-smoke

IN_VM=0
[[ ${QT_LAYER:-} == vm ]] && IN_VM=1

# --- cgroup mode and controllers
if [[ $QT_V == 2 ]]; then
	have=$(cat "$QT_CGROOT/cgroup.controllers")
	note "cgroup v2 at $QT_CGROOT; controllers: $have"
	miss=
	for c in cpu cpuset io memory pids; do [[ " $have " == *" $c "* ]] || miss+=" $c"; done
	check cgroup2-controllers "missing at the root:$miss" test -z "$miss"
	have=$(cat "$QT_CGROOT$QT_CGP/cgroup.controllers" 2>/dev/null)
	miss=
	for c in cpu cpuset io memory pids; do [[ " $have " == *" $c "* ]] || miss+=" $c"; done
	check cgroup2-delegated "not enabled for $QT_CGP (subtree_control above it):$miss" test -z "$miss"
else
	if [[ $IN_VM == 1 ]]; then
		fail cgroup2-controllers "the VM's $QT_CGROOT is not cgroup2 ($(stat -f -c %T "$QT_CGROOT"))"
	else
		skip cgroup2-controllers "host is cgroup v1 ($(stat -f -c %T "$QT_CGROOT") at $QT_CGROOT); v2 is tested in the VM layer"
	fi
	miss=
	for c in cpu cpuset memory pids; do [[ -d $QT_CGROOT/$c ]] || miss+=" $c"; done
	check cgroup1-controllers "v1 hierarchies missing:$miss" test -z "$miss"
fi

# --- memory limit: an allocation beyond it is OOM-killed
# qt-alloc when the helpers are built; otherwise dd's 64 MiB buffer (it touches every page)
oom_events() {
	if [[ $QT_V == 2 ]]; then
		awk '$1 == "oom_kill" { print $2 }' "$(qt_cgdir memory "$1")/memory.events"
	else
		awk '$1 == "oom_kill" { print $2 }' "$(qt_cgdir memory "$1")/memory.oom_control"
	fi
}
CG=$QT_CGP/oom
qt_cg_mkdir "$CG"
mem_ok=1
if [[ $QT_V == 2 ]]; then
	echo 32M >"$(qt_cgdir memory "$CG")/memory.max" || mem_ok=0
	[[ -e $(qt_cgdir memory "$CG")/memory.swap.max ]] && echo 0 >"$(qt_cgdir memory "$CG")/memory.swap.max"
else
	# v1: memory first (memsw must stay >= memory)
	echo 32M >"$(qt_cgdir memory "$CG")/memory.limit_in_bytes" || mem_ok=0
	[[ -e $(qt_cgdir memory "$CG")/memory.memsw.limit_in_bytes ]] &&
		echo 32M >"$(qt_cgdir memory "$CG")/memory.memsw.limit_in_bytes"
fi
if [[ $mem_ok == 0 ]]; then
	fail memory-oom "could not set a 32 MiB memory limit on $CG"
else
	if [[ -x $QOSD_HELPER_DIR/qt-alloc ]]; then
		what="qt-alloc 96"
		qt_cg_run "$CG" "$QOSD_HELPER_DIR/qt-alloc" 96 >"$QT_TMP/alloc.out" 2>&1
	else
		what="dd bs=96M (qt-alloc not built)"
		qt_cg_run "$CG" dd if=/dev/zero of=/dev/null bs=96M count=1 >"$QT_TMP/alloc.out" 2>&1
	fi
	wait "$QT_LASTPID" 2>/dev/null
	rc=$?
	ev=$(oom_events "$CG")
	note "$what in a 32 MiB cgroup: exit $rc, oom_kill=${ev:-?}"
	if [[ $rc -eq 137 && ${ev:-0} -ge 1 ]]; then
		pass memory-oom
	else
		fail memory-oom "$what under a 32 MiB limit: exit $rc (want 137, SIGKILL), oom_kill=${ev:-?}; $(head -c 200 "$QT_TMP/alloc.out")"
	fi
fi

# --- io.max on a whole disk: 2 MiB of O_DIRECT writes at 1 MiB/s take about 2 s
if [[ $QT_V != 2 ]]; then
	skip io-max "host is cgroup v1; io.max is tested in the VM layer"
elif [[ -z ${QT_SCRATCH_DEV:-} || ! -b ${QT_SCRATCH_DEV:-} ]]; then
	skip io-max "no scratch disk (QT_SCRATCH_DEV; the VM layer provides one)"
else
	CG=$QT_CGP/io
	qt_cg_mkdir "$CG"
	mm=$(printf '%d:%d' "0x$(stat -c %t "$QT_SCRATCH_DEV")" "0x$(stat -c %T "$QT_SCRATCH_DEV")")
	if ! echo "$mm wbps=1048576" >"$QT_CGROOT$CG/io.max"; then
		fail io-max "writing '$mm wbps=1048576' to $CG/io.max failed"
	else
		t0=$(date +%s%N)
		qt_cg_run "$CG" dd if=/dev/zero of="$QT_SCRATCH_DEV" bs=256K count=8 oflag=direct 2>"$QT_TMP/io.out"
		wait "$QT_LASTPID" 2>/dev/null
		rc=$?
		ms=$((($(date +%s%N) - t0) / 1000000))
		note "io.max: $(cat "$QT_CGROOT$CG/io.max"); 2 MiB written in $ms ms (dd exit $rc)"
		if [[ $rc -eq 0 && $ms -ge 1500 ]]; then
			pass io-max
		else
			fail io-max "2 MiB of direct writes at wbps=1 MiB/s took $ms ms (want >= 1500), dd exit $rc"
		fi
	fi
fi

# --- XFS project quota: a 10 MiB hard limit stops dd at 10 MiB. XFS reports a project quota hit as
# ENOSPC ("No space left on device"), not EDQUOT, so that df and writers see a full directory tree.
PRJ=42
MNT=${QT_XFS_MNT:-}
if [[ $IN_VM == 0 ]]; then
	skip xfs-prjquota "host kernel has no quota support; see the VM layer"
elif [[ -z $MNT ]]; then
	fail xfs-prjquota "QT_XFS_MNT unset: the VM has no XFS mounted with prjquota"
elif ! command -v xfs_quota >/dev/null; then
	fail xfs-prjquota "xfs_quota not in the VM"
else
	DIR=$MNT/$QT_ID-prj
	# shellcheck disable=SC2034 # run by qt_cleanup (lib.sh)
	QT_EXTRA_CLEANUP='xfs_quota -x -c "limit -p bhard=0 $PRJ" "$MNT" 2>/dev/null; rm -rf "$DIR"'
	mkdir -p "$DIR"
	if ! xfs_quota -x -c "project -s -p $DIR $PRJ" "$MNT" >"$QT_TMP/xq.out" 2>&1 ||
		! xfs_quota -x -c "limit -p bhard=10m $PRJ" "$MNT" >>"$QT_TMP/xq.out" 2>&1; then
		fail xfs-prjquota "xfs_quota project/limit failed: $(tr '\n' ' ' <"$QT_TMP/xq.out")"
	else
		dd if=/dev/zero of="$DIR/fill" bs=1M count=20 >"$QT_TMP/dd.out" 2>&1
		rc=$?
		size=$(stat -c %s "$DIR/fill" 2>/dev/null || echo 0)
		err=$(grep -oE 'No space left on device|Disk quota exceeded' "$QT_TMP/dd.out" | head -1)
		note "dd of 20 MiB under a 10 MiB project limit: exit $rc, file $size bytes, error '${err:-none}'"
		note "$(xfs_quota -x -c "report -p -b -N" "$MNT" 2>/dev/null | awk -v p="#$PRJ" '$1 == p' | head -1)"
		if [[ $rc -ne 0 && -n $err ]] &&
			((size <= 10 * 1048576 && size >= 9 * 1048576)); then
			pass xfs-prjquota
		else
			fail xfs-prjquota "dd exit $rc, wrote $size bytes (want ENOSPC or EDQUOT at 9-10 MiB): $(tail -2 "$QT_TMP/dd.out" | tr '\n' ' ')"
		fi
	fi
fi

qt_finish
