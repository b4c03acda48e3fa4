#!/bin/bash
# Podman (with runc) and qos-hook from a hooks.d directory: the directory qosd limits for a
# container is the container's own overlay upperdir, found at createRuntime (before pivot_root)
# from the runtime's mount of the rootfs in the host's mount table; never BUNDLE/rootfs (podman's
# bundle is userdata/) nor anything the container's own mount table says.
# Where podman's storage sits on a filesystem that enforces project quotas (QT_QUOTA_MNT, or the VM
# layers' QT_XFS_MNT; the systemd node VM with ext4 prjquota), dd inside the container stops at
# disk.quota and the limit goes when the container does; elsewhere those parts SKIP with the reason.
# Needs: podman, runc, conmon, a static busybox (the image is `podman import` of a busybox rootfs).
# Everything (storage, run root, image, containers) lives under the test's own directories.
source "$(dirname "$0")/lib.sh"
qt_init quota-podman

need=""
for t in podman runc conmon busybox; do command -v $t >/dev/null || need="$need $t"; done
if [[ -n $need ]]; then
	for t in upperdir-derived dir-not-bundle enforce-bytes exit-clears-limit; do
		skip "$t" "missing:$need (tests/deps.sh installs podman)"
	done
	qt_finish
	exit 0
fi

QMNT=${QT_QUOTA_MNT:-${QT_XFS_MNT:-}}
QUOTA_WHY=$(qt_prjquota_why "$QMNT")
[[ -z $QMNT ]] && QUOTA_WHY="QT_QUOTA_MNT unset (the node VM sets it to its ext4 prjquota disk under podman's storage; this host's kernel has no quota support)"
if [[ -z $QUOTA_WHY ]]; then
	STORE=$QMNT/$QT_ID-podman
	CLASS=q10
else
	STORE=$QT_TMP/podman
	CLASS=plain
fi
IMAGE=localhost/$QT_ID-busybox:latest
# podman refuses a run root longer than 50 bytes
RUNROOT=$(mktemp -d "/tmp/$QT_ID-r.XXXXXX")
PODMAN=(podman --root "$STORE/root" --runroot "$RUNROOT" --storage-driver overlay
	--runtime runc --events-backend file --hooks-dir "$QT_TMP/hooks.d")
[[ $(cat /proc/1/comm 2>/dev/null) == systemd ]] || PODMAN+=(--cgroup-manager cgroupfs)
podman_cleanup() {
	"${PODMAN[@]}" rm -f -a -t 0 >/dev/null 2>&1
	"${PODMAN[@]}" rmi -f -a >/dev/null 2>&1
	# containers/storage leaves its own mounts below the store (the overlay directory itself)
	awk -v s="$STORE" -v r="$RUNROOT" 'index($2, s) == 1 || index($2, r) == 1 { print $2 }' /proc/mounts |
		sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
	rm -rf "$STORE" "$RUNROOT"
}
QT_EXTRA_CLEANUP=podman_cleanup
mkdir -p "$STORE" "$QT_TMP/hooks.d" "$QT_TMP/rootfs/bin"

qt_policy_q10
qt_start_qosd --config "$QT_TMP/qosd.conf" || { fail start "qosd did not start"; qt_finish; exit 0; }

# hooks.d as contrib/hooks.d has it, pointing at this build and this test's qosd (a longer
# timeout than the default 2 s: under load an ASan hook must still reach qosd, not fall back)
for stage in createRuntime poststop; do
	jq -n --arg p "$QOSHOOK" --arg s "$QT_SOCK" --arg c "$QT_TMP/conf.d" --arg q "$QT_TMP/qosd.conf" \
		--arg st "$QT_TMP/state" --arg g "$QT_CGROOT" --arg stage "$stage" \
		'{version: "1.0.0", hook: {path: $p, args: ["qos-hook", "--socket", $s, "--config-dir", $c,
		 "--config", $q, "--state-dir", $st, "--cgroupfs", $g, "--timeout", "8", $stage],
		 timeout: 10},
		 when: {annotations: {"^qosd\\.io/class$": ".*"}}, stages: [$stage]}' \
		>"$QT_TMP/hooks.d/qosd-$stage.json"
done

cp "$(command -v busybox)" "$QT_TMP/rootfs/bin/busybox"
for a in sh sleep dd cat ls stat; do ln -s busybox "$QT_TMP/rootfs/bin/$a"; done
if ! out=$(tar -C "$QT_TMP/rootfs" -c . | "${PODMAN[@]}" import - "$IMAGE" 2>&1); then
	fail import "podman import failed: $out"
	qt_finish
	exit 0
fi

NAME=$QT_ID-c1
t0=$(date +%s%N)
if ! out=$("${PODMAN[@]}" run -d --name "$NAME" --network none \
	--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
	--annotation qosd.io/tenant=qt --annotation "qosd.io/class=$CLASS" "$IMAGE" sleep 100000 2>&1); then
	fail run "podman run failed: $out"
	qt_finish
	exit 0
fi
note "podman run -d took $((($(date +%s%N) - t0) / 1000000)) ms (createRuntime hook included)"
CID=$("${PODMAN[@]}" inspect -f '{{.Id}}' "$NAME")
UPPER=$("${PODMAN[@]}" inspect -f '{{.GraphDriver.Data.UpperDir}}' "$NAME")
BUNDLE_DIR=$STORE/root/overlay-containers/$CID/userdata
show_json() { qosctl show "$CID" --json 2>/dev/null; }
DIR=$(show_json | jq -r '.disk_dir // empty')
note "podman's upperdir: $UPPER; qosd's disk_dir: ${DIR:-none}; bundle: $BUNDLE_DIR"
check upperdir-derived "qosd's directory '${DIR:-none}' is not podman's upperdir $(readlink -f "$UPPER")" \
	test -n "$DIR" -a "$DIR" == "$(readlink -f "$UPPER")"
check dir-not-bundle "qosd's directory is under the bundle: $DIR" test "${DIR#"$BUNDLE_DIR"}" == "$DIR"

if [[ -n $QUOTA_WHY ]]; then
	skip enforce-bytes "$QUOTA_WHY"
	skip exit-clears-limit "$QUOTA_WHY"
else
	knob() { show_json | jq -r --arg k "$1" '[.knobs[] | select(.key == $k)][0].applied // empty'; }
	applied() { [[ $(knob disk.quota) == "limit 10M"* ]]; }
	qt_wait 10 applied || note "disk.quota applied: $(knob disk.quota)"
	ID=$(show_json | jq -r '.projid // 0')
	err=$("${PODMAN[@]}" exec "$NAME" dd if=/dev/zero of=/fill bs=1M count=20 2>&1)
	rc=$?
	size=$("${PODMAN[@]}" exec "$NAME" stat -c %s /fill 2>/dev/null || echo 0)
	note "dd of 20 MiB in the container: rc $rc, $size bytes written (project $ID): $(echo "$err" | tail -1)"
	if [[ $rc -ne 0 ]] && ((size <= 10 << 20 && size >= 9 << 20)); then
		pass enforce-bytes
	else
		fail enforce-bytes "dd rc $rc, $size bytes: $err"
	fi
	"${PODMAN[@]}" rm -f -t 0 "$NAME" >/dev/null 2>&1
	gone() { ! qosctl list 2>/dev/null | grep -qF "$CID"; }
	qt_wait 20 gone || note "$CID still listed after podman rm"
	limit_left() {
		if command -v xfs_quota >/dev/null && [[ $(stat -f -c %T "$QMNT") == xfs ]]; then
			xfs_quota -x -c "report -p -n -N -b" "$QMNT" 2>/dev/null | awk -v id="#$ID" '$1 == id { print $4 }'
		else
			repquota -P -n "$QMNT" 2>/dev/null | awk -v id="#$ID" '$1 == id { print $5 }'
		fi
	}
	no_limit() { [[ -z $(limit_left) || $(limit_left) == 0 ]]; }
	check exit-clears-limit "project $ID keeps a limit ($(limit_left)) after podman rm" qt_wait 10 no_limit
fi
qt_finish
