#!/bin/bash
# ext4 project quotas on the node's second disk (mkfs.ext4 -O quota,project, mounted prjquota):
# a podman container of class disk (10M, 100 inodes) with its disk.dir bind-mounted; dd and file
# creation in the container (no CAP_SYS_RESOURCE, so ext4 binds it) stop at the limits; the
# project id and the limit survive a restart of qosd. Then a podman container whose storage is on
# that disk and which names no directory: qosd derives its writable layer (the overlay's upperdir,
# from the runtime's mount table at createRuntime: the hook's, as qosd's unit gives it a mount
# namespace without podman's private overlay mounts) and dd into its own / stops at the limit.
# Then the same for Docker, its data-root on that disk, its container found by [match] (no hook, no
# bundle: the overlay at the device of /proc/PID/root, from qosd's own mount table).
. "$(dirname "$0")/lib.sh"
qt_init quota
DEV=/dev/disk/by-id/virtio-qosd-quota
# below /var/lib/containers: one of the unit's ReadWritePaths (FS_IOC_FSSETXATTR needs a writable mount)
MNT=/var/lib/containers/$QT_ID-quota
IMG=localhost/qosd-test-bb-q:$$
mkfs.ext4 -q -F -O quota,project -E quotatype=usrquota:grpquota:prjquota "$DEV" || { fail mkfs "mkfs.ext4 $DEV failed"; exit 1; }
mkdir -p "$MNT"
mount -o prjquota "$DEV" "$MNT" || { fail mount "mount -o prjquota $DEV failed"; exit 1; }
at_exit "umount $MNT; rmdir $MNT"
mkdir "$MNT/c1"
# disk.dir from an annotation must lie below a quota_roots directory (qosd.conf), read by qosd
# and by qos-hook
[[ -e /etc/qosd/qosd.conf ]] && cp /etc/qosd/qosd.conf "$QT_TMP/qosd.conf.saved"
echo "quota_roots = $MNT" >>/etc/qosd/qosd.conf
at_exit "if [[ -e $QT_TMP/qosd.conf.saved ]]; then cp $QT_TMP/qosd.conf.saved /etc/qosd/qosd.conf; else rm -f /etc/qosd/qosd.conf; fi; systemctl restart qosd"
systemctl restart qosd
note "$DEV on $MNT: $(findmnt -n -o FSTYPE,OPTIONS "$MNT")"
make_rootfs "$QT_TMP/rootfs"
tar -C "$QT_TMP/rootfs" -c . | podman import -q - "$IMG" >/dev/null || fail import "podman import failed"
at_exit "podman rmi -f $IMG"
CID=$(podman run -d --network none --name "$QT_ID-q" --annotation qosd.io/tenant=acme \
	--annotation qosd.io/class=disk --annotation qosd.io/disk-dir="$MNT/c1" -v "$MNT/c1:/data" \
	"$IMG" sleep 600) || { fail start "podman run failed"; exit 1; }
at_exit "podman rm -f -t 0 $QT_ID-q"
projid=$(lsattr -pd "$MNT/c1" | awk '{ print $1 }')
lim() { repquota -P -n "$MNT" 2>/dev/null | awk -v id="#$projid" '$1 == id { print $5 " " $8 }'; }
note "project id of $MNT/c1: $projid; repquota (block hard KiB, inode hard): $(lim)"
podman exec "$QT_ID-q" sh -c 'dd if=/dev/zero of=/data/big bs=1M count=20 2>&1; echo dd-exit=$?' >"$QT_TMP/dd.out" 2>&1
size=$(stat -c %s "$MNT/c1/big" 2>/dev/null || echo 0)
if grep -q 'dd-exit=[1-9]' "$QT_TMP/dd.out" && ((size <= 10 << 20 && size >= 9 << 20)); then
	pass dd-stops
	note "dd of 20M in the container stopped at $size bytes: $(grep -i 'quota\|space\|error' "$QT_TMP/dd.out" | head -1)"
else
	fail dd-stops "dd wrote $size bytes (limit 10M): $(tr '\n' ' ' <"$QT_TMP/dd.out")"
fi
rm -f "$MNT/c1/big"
podman exec "$QT_ID-q" sh -c 'n=0; for i in $(seq 1 150); do touch /data/f$i 2>/dev/null || break; n=$i; done; echo made=$n' >"$QT_TMP/ino.out" 2>&1
made=$(sed -n 's/.*made=//p' "$QT_TMP/ino.out")
if [[ $made == 100 ]]; then
	pass inodes-stop
	note "touch of 150 files stopped after $made (disk.inodes = 100 files in the directory)"
else
	fail inodes-stop "touch made '$made' files with disk.inodes = 100: $(cat "$QT_TMP/ino.out")"
fi
before="$projid $(lim)"
systemctl restart qosd
sleep 1
after="$(lsattr -pd "$MNT/c1" | awk '{ print $1 }') $(lim)"
eq ids-survive-restart "project id and limits (id, block hard, inode hard) after systemctl restart qosd" "$after" "$before"

# --- the derived directory: podman's storage on the prjquota disk, no qosd.io/disk-dir
PM=(podman --root "$MNT/storage" --runroot "/run/$QT_ID-runroot")
# containers/storage leaves its overlay directory bind-mounted (private) on itself
at_exit "umount -R $MNT/storage/overlay"
at_exit "rm -rf /run/$QT_ID-runroot"
tar -C "$QT_TMP/rootfs" -c . | "${PM[@]}" import -q - "$IMG" >/dev/null || fail import2 "podman import into $MNT/storage failed"
at_exit "${PM[*]} rmi -f $IMG"
CID2=$("${PM[@]}" run -d --network none --name "$QT_ID-q2" --annotation qosd.io/tenant=acme \
	--annotation qosd.io/class=disk "$IMG" sleep 600) || { fail start2 "podman run (storage on $MNT) failed"; qt_finish; exit 1; }
at_exit "${PM[*]} rm -f -t 0 $QT_ID-q2"
upper=$("${PM[@]}" inspect --format '{{.GraphDriver.Data.UpperDir}}' "$QT_ID-q2")
dir=$(qosctl show "$CID2" --json | tr -d '\n' | sed -n 's/.*"disk_dir": *"\([^"]*\)".*/\1/p')
eq derived-is-upperdir "the directory qosd limits for $QT_ID-q2 (no disk-dir annotation)" "$dir" "$upper"
"${PM[@]}" exec "$QT_ID-q2" sh -c 'dd if=/dev/zero of=/big bs=1M count=20 2>&1; echo dd-exit=$?' >"$QT_TMP/dd2.out" 2>&1
size=$(stat -c %s "$upper/big" 2>/dev/null || echo 0)
if grep -q 'dd-exit=[1-9]' "$QT_TMP/dd2.out" && ((size <= 10 << 20 && size >= 9 << 20)); then
	pass derived-dd-stops
	note "dd of 20M into the container's own / stopped at $size bytes in $upper (project $(lsattr -pd "$upper" | awk '{ print $1 }'))"
else
	fail derived-dd-stops "dd wrote $size bytes to $upper (limit 10M): $(tr '\n' ' ' <"$QT_TMP/dd2.out")"
fi

# --- Docker: data-root on the prjquota disk; the container is found by [match] (standard), the
# operator gives it the class disk; no directory named
DJ=/etc/docker/daemon.json
if ! docker info >/dev/null 2>&1; then
	skip docker-derived-is-upperdir "dockerd does not answer: $(docker info 2>&1 | tail -1)"
	skip docker-derived-dd-stops "dockerd does not answer"
	qt_finish
	exit 0
fi
[[ -e $DJ ]] && cp "$DJ" "$QT_TMP/daemon.json.saved"
at_exit "if [[ -e $QT_TMP/daemon.json.saved ]]; then cp $QT_TMP/daemon.json.saved $DJ; else rm -f $DJ; fi; systemctl restart docker"
mkdir -p /etc/docker
echo "{\"data-root\": \"$MNT/docker\"}" >"$DJ"
systemctl restart docker && wait_for 90 docker info >/dev/null || fail docker-restart "dockerd with data-root $MNT/docker did not come up: $(docker info 2>&1 | tail -1)"
tar -C "$QT_TMP/rootfs" -c . | docker import - "$IMG" >"$QT_TMP/dimport.out" 2>&1 || fail docker-import "docker import into $MNT/docker failed: $(tail -2 "$QT_TMP/dimport.out")"
at_exit "docker rmi -f $IMG"
CID3=$(docker run -d --name "$QT_ID-q3" "$IMG" sleep 600) || { fail docker-start "docker run (data-root $MNT/docker) failed"; qt_finish; exit 1; }
at_exit "docker rm -f $QT_ID-q3"
upper=$(docker inspect --format '{{.GraphDriver.Data.UpperDir}}' "$QT_ID-q3")
wait_for 20 sh -c "qosctl list | grep -q $CID3" || note "qosd did not list $CID3 within 20 s"
qosctl set "$CID3" tenant=acme class=disk >"$QT_TMP/dset.out" 2>&1 || note "qosctl set: $(cat "$QT_TMP/dset.out")"
dir=$(qosctl show "$CID3" --json | tr -d '\n' | sed -n 's/.*"disk_dir": *"\([^"]*\)".*/\1/p')
eq docker-derived-is-upperdir "the directory qosd limits for Docker container $QT_ID-q3 ([match], no bundle)" "$dir" "$upper"
docker exec "$QT_ID-q3" sh -c 'dd if=/dev/zero of=/big bs=1M count=20 2>&1; echo dd-exit=$?' >"$QT_TMP/dd3.out" 2>&1
size=$(stat -c %s "$upper/big" 2>/dev/null || echo 0)
if grep -q 'dd-exit=[1-9]' "$QT_TMP/dd3.out" && ((size <= 10 << 20 && size >= 9 << 20)); then
	pass docker-derived-dd-stops
	note "Docker: dd of 20M into the container's own / stopped at $size bytes in $upper (project $(lsattr -pd "$upper" | awk '{ print $1 }'))"
else
	fail docker-derived-dd-stops "dd wrote $size bytes to $upper (limit 10M): $(tr '\n' ' ' <"$QT_TMP/dd3.out")"
fi
qt_finish
