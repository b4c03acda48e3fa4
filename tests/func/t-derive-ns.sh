#!/bin/bash
# qosd-vm: yes
# The writable layer qosd derives when qosd runs in a mount namespace of its own (its systemd unit's
# ProtectSystem= gives it one) and the runtime's overlay mount of the rootfs exists only in the
# runtime's namespace (containers/storage makes its overlay home a private mount): qosd reads the
# mount table of the hook that registers (the runtime's namespace), not its own, and gets the
# overlay's upperdir, never the empty mount point it sees at the rootfs path. A layer its own
# namespace does not have at the same path is refused, not replaced by another directory. With qosd
# down the hook reads its own table (it runs in the runtime's namespace).
# Here: qosd under `unshare -m`, the "runtime" a shell in another `unshare -m` that mounts the overlay
# and runs qos-hook; both namespaces end with their processes, taking their mounts along. With a
# project-quota filesystem (the VM layer's XFS) the class has disk.quota: the derived upperdir is
# limited (dd into it stops at 10M), and a container whose layer qosd cannot see gets no limit on
# the empty mount point either (later passes do not derive it again from qosd's own table).
source "$(dirname "$0")/lib.sh"
qt_init derive-ns

TESTS=(qosd-own-namespace layer-hidden-from-qosd derived-is-upperdir hidden-layer-refused
	down-derived-is-upperdir enforce-derived hidden-nothing-tagged)
need=""
for t in unshare mount jq; do command -v $t >/dev/null || need="$need $t"; done
probe=$QT_TMP/probe
mkdir -p "$probe"/{l,u,w,m}
if [[ -z $need ]] && ! unshare -m sh -c "mount -t overlay overlay -o lowerdir=$probe/l,upperdir=$probe/u,workdir=$probe/w $probe/m" 2>/dev/null; then
	need=" an overlay mount in $QT_TMP (the kernel refused it)"
fi
if [[ -n $need ]]; then
	for t in "${TESTS[@]}"; do skip "$t" "missing:$need"; done
	qt_finish
	exit 0
fi

MNT=${QT_XFS_MNT:-}
QUOTA_WHY=$(qt_prjquota_why "$MNT")
if [[ -z $QUOTA_WHY ]]; then
	STORE=$MNT/$QT_ID-store
	CLASS=q10
	QT_EXTRA_CLEANUP='rm -rf "$STORE"'
else
	STORE=$QT_TMP/store
	CLASS=plain
fi
qt_policy_q10

# qosd in its own mount namespace (a slave of ours, as systemd's sandboxing makes it); exec keeps
# the pid qt_start_qosd waits for and kills
REAL_QOSD=$QOSD
QOSD=$QT_TMP/qosd-ns
printf '#!/bin/sh\nexec unshare -m --propagation slave %q "$@"\n' "$REAL_QOSD" >"$QOSD"
chmod +x "$QOSD"
qt_start_qosd --config "$QT_TMP/qosd.conf" || { fail start "qosd did not start"; qt_finish; exit 0; }
QOSD=$REAL_QOSD
check qosd-own-namespace "qosd's mount namespace is ours: $(readlink /proc/$QT_QOSD_PID/ns/mnt)" \
	test "$(readlink /proc/$QT_QOSD_PID/ns/mnt)" != "$(readlink /proc/self/ns/mnt)"

HOOK=("$QOSHOOK" --config-dir "$QT_TMP/conf.d" --config "$QT_TMP/qosd.conf" --cgroupfs "$QT_CGROOT"
	--timeout 8)

# layout ID: podman's: STORE/overlay/ID/{diff,work,merged}, the bundle STORE/containers/ID/userdata
# whose config.json names merged as the root
layout() {
	mkdir -p "$STORE/overlay/$1"/{diff,work,merged,t/diff} "$STORE/lower" "$STORE/containers/$1/userdata"
	jq -n --arg r "$STORE/overlay/$1/merged" '{ociVersion: "1.0.2", root: {path: $r}}' \
		>"$STORE/containers/$1/userdata/config.json"
}
# state ID: a container of its own (a process in cgroup QT_CGP/ID)
state() {
	qt_cg_mkdir "$QT_CGP/$1"
	qt_cg_run "$QT_CGP/$1" sleep 100000
	jq -cn --arg id "$QT_ID-$1" --argjson pid "$QT_LASTPID" --arg b "$STORE/containers/$1/userdata" --arg c "$CLASS" \
		'{ociVersion: "1.0.2", id: $id, status: "created", pid: $pid, bundle: $b,
		  annotations: {"qosd.io/tenant": "qt", "qosd.io/class": $c}}'
}
# runtime ID SOCKET STATE-DIR [tmpfs]: in a mount namespace of its own, mount the overlay at merged
# (with "tmpfs": its upper and work on a tmpfs at t/ that only this namespace has; below it, t/diff
# is an empty directory of the same path) and run the hook there; the hook's output goes to
# QT_TMP/ID.hook, the namespace's view of merged to QT_TMP/ID.mnt
runtime() {
	local d=$STORE/overlay/$1
	state "$1" >"$QT_TMP/$1.state"
	unshare -m bash -c '
		d=$1 tmp=$2 id=$3 sock=$4 st=$5 mode=$6; shift 6
		up=$d
		if [[ $mode == tmpfs ]]; then
			mount -t tmpfs qosd-test "$d/t" || exit 90
			mkdir "$d/t/diff" "$d/t/work"
			up=$d/t
		fi
		mount -t overlay overlay -o "lowerdir='"$STORE"'/lower,upperdir=$up/diff,workdir=$up/work" "$d/merged" || exit 91
		awk -v m="$d/merged" '"'"'$5 == m { for (i = 7; $i != "-"; i++); t = $(i + 1) } END { print t }'"'"' /proc/self/mountinfo >"$tmp/$id.mnt"
		"$@" --socket "$sock" --state-dir "$st" createRuntime <"$tmp/$id.state" >"$tmp/$id.hook" 2>&1
	' runtime "$d" "$QT_TMP" "$1" "$2" "$3" "${4:-}" "${HOOK[@]}"
}
disk_dir() { qosctl show "$QT_ID-$1" --json 2>/dev/null | jq -r '.disk_dir // empty'; }

# --- qosd up: the runtime's overlay, which qosd's namespace does not have
layout a
runtime a "$QT_SOCK" "$QT_TMP/state"
rc=$?
note "hook (qosd up) rc $rc: $(cat "$QT_TMP/a.hook" 2>/dev/null); the runtime saw $STORE/overlay/a/merged as $(cat "$QT_TMP/a.mnt" 2>/dev/null)"
check layer-hidden-from-qosd "qosd's namespace has the runtime's overlay (the test shows nothing)" \
	test "$(cat "$QT_TMP/a.mnt" 2>/dev/null)" == overlay -a -z "$(awk -v m="$STORE/overlay/a/merged" '$5 == m' /proc/$QT_QOSD_PID/mountinfo)"
dir=$(disk_dir a)
if [[ $rc -eq 0 && $dir == "$STORE/overlay/a/diff" ]]; then
	pass derived-is-upperdir
	note "qosd (own namespace) derived $dir for bundle $STORE/containers/a/userdata"
else
	fail derived-is-upperdir "the directory qosd derived is '$dir', not the upperdir $STORE/overlay/a/diff (hook rc $rc)"
fi
# lsproj FILE: its project id (FS_IOC_FSGETXATTR through xfs_io), "?" without xfs_io
lsproj() {
	command -v xfs_io >/dev/null || { echo "?"; return; }
	xfs_io -r -c lsproj "$1" 2>/dev/null | awk '{ print $NF }'
}
if [[ -n $QUOTA_WHY ]]; then
	skip enforce-derived "$QUOTA_WHY"
else
	# XFS binds root too: writing into the upperdir is writing into the container's /
	dd if=/dev/zero of="$STORE/overlay/a/diff/big" bs=1M count=20 >"$QT_TMP/dd.out" 2>&1
	size=$(stat -c %s "$STORE/overlay/a/diff/big" 2>/dev/null || echo 0)
	if ((size <= 10 << 20 && size >= 9 << 20)); then
		pass enforce-derived
		note "dd of 20M into the derived upperdir (project $(lsproj "$STORE/overlay/a/diff")) stopped at $size bytes"
	else
		fail enforce-derived "dd wrote $size bytes into the derived upperdir (disk.quota 10M): $(tr '\n' ' ' <"$QT_TMP/dd.out")"
	fi
fi

# --- the runtime's upperdir on a mount qosd's namespace lacks: at that path qosd has another
# directory (the empty mount point): no directory at all rather than that one
layout b
runtime b "$QT_SOCK" "$QT_TMP/state" tmpfs
rc=$?
dir=$(disk_dir b)
# without quota the class has no disk key and the hook succeeds; with disk.quota the container
# cannot have its limit, and the hook says so (the runtime does not start it unlimited)
want_rc=0
[[ -z $QUOTA_WHY ]] && want_rc=1
if [[ $rc -eq $want_rc && -z $dir ]] && grep -q "is not the directory qosd finds at that path" "$QT_QOSD_LOG"; then
	pass hidden-layer-refused
	note "$(grep -o "the writable layer $STORE/overlay/b/t/diff .*" "$QT_QOSD_LOG" | head -1)"
	note "the hook (rc $rc): $(cat "$QT_TMP/b.hook" 2>/dev/null)"
else
	fail hidden-layer-refused "qosd recorded '$dir' for a layer it cannot see (hook rc $rc, expected $want_rc: $(cat "$QT_TMP/b.hook" 2>/dev/null))"
fi
if [[ -n $QUOTA_WHY ]]; then
	skip hidden-nothing-tagged "$QUOTA_WHY"
else
	# the next passes (drift, a reload) must not derive it from qosd's own table either
	qosctl reload >/dev/null 2>&1
	sleep 1
	ids="$(lsproj "$STORE/overlay/b/merged") $(lsproj "$STORE/overlay/b/t/diff")"
	check hidden-nothing-tagged "the empty mount point or the hidden path got a project id (merged, t/diff: $ids); disk_dir '$(disk_dir b)'" \
		test "$ids" == "0 0" -a -z "$(disk_dir b)"
fi

# --- qosd down (a socket nobody listens on; a state directory of its own, which the running qosd
# does not read): the hook's fallback reads its own (the runtime's) table
layout c
mkdir -m 0700 "$QT_TMP/state-down"
runtime c "$QT_TMP/nobody.sock" "$QT_TMP/state-down"
rc=$?
dir=$(jq -r '.dir // empty' "$QT_TMP/state-down/pending/$QT_ID-c.json" 2>/dev/null)
check down-derived-is-upperdir "the fallback recorded '$dir', not $STORE/overlay/c/diff (hook rc $rc: $(cat "$QT_TMP/c.hook" 2>/dev/null))" \
	test "$rc" -eq 0 -a "$dir" == "$STORE/overlay/c/diff"
qt_finish
