#!/bin/bash
# The writable layer qosd derives when qosd runs in a mount namespace of its own (its systemd unit's
# ProtectSystem= gives it one) and the runtime's overlay mount of the rootfs exists only in the
# runtime's namespace (containers/storage makes its overlay home a private mount): qosd reads the
# mount table of the hook that registers (the runtime's namespace), not its own, and gets the
# overlay's upperdir, never the empty mount point it sees at the rootfs path. A layer its own
# namespace does not have at the same path is refused, not replaced by another directory. With qosd
# down the hook reads its own table (it runs in the runtime's namespace).
# Here: qosd under `unshare -m`, the "runtime" a shell in another `unshare -m` that mounts the overlay
# and runs qos-hook; both namespaces end with their processes, taking their mounts along.
source "$(dirname "$0")/lib.sh"
qt_init derive-ns

TESTS=(qosd-own-namespace layer-hidden-from-qosd derived-is-upperdir hidden-layer-refused
	down-derived-is-upperdir)
need=""
for t in unshare mount jq; do command -v $t >/dev/null || need="$need $t"; done
probe=$QT_TMP/probe
mkdir -p "$probe"/{l,u,w,m}
if [[ -z $need ]] && ! unshare -m sh -c "mount -t overlay overlay -o lowerdir=$probe/l,upperdir=$probe/u,workdir=$probe/w $probe/m" 2>/dev/null; then
	need=" an overlay mount on $(findmnt -n -o FSTYPE -T "$QT_TMP" 2>/dev/null) (the kernel refused it)"
fi
if [[ -n $need ]]; then
	for t in "${TESTS[@]}"; do skip "$t" "missing:$need"; done
	qt_finish
	exit 0
fi

qt_policy qt <<EOF
[class plain]
pids.limit = 500
EOF
: >"$QT_TMP/qosd.conf"

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
STORE=$QT_TMP/store

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
	jq -cn --arg id "$QT_ID-$1" --argjson pid "$QT_LASTPID" --arg b "$STORE/containers/$1/userdata" \
		'{ociVersion: "1.0.2", id: $id, status: "created", pid: $pid, bundle: $b,
		  annotations: {"qosd.io/tenant": "qt", "qosd.io/class": "plain"}}'
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
		findmnt -n -o FSTYPE "$d/merged" >"$tmp/$id.mnt"
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

# --- the runtime's upperdir on a mount qosd's namespace lacks: at that path qosd has another
# directory (the empty mount point): no directory at all rather than that one
layout b
runtime b "$QT_SOCK" "$QT_TMP/state" tmpfs
rc=$?
dir=$(disk_dir b)
if [[ $rc -eq 0 && -z $dir ]] && grep -q "is not the directory qosd finds at that path" "$QT_QOSD_LOG"; then
	pass hidden-layer-refused
	note "$(grep -o "the writable layer $STORE/overlay/b/t/diff .*" "$QT_QOSD_LOG" | head -1)"
else
	fail hidden-layer-refused "qosd recorded '$dir' for a layer it cannot see (hook rc $rc: $(cat "$QT_TMP/b.hook" 2>/dev/null))"
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
