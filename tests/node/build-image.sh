#!/bin/bash
# Builds (once, cached) the node image the node layer boots: Debian bookworm from Debian's packages
# with mmdebstrap, systemd as PID 1, Docker, podman + crun, runc, the kernel and its initramfs.
#
#   tests/node/build-image.sh OUTDIR
#
# Writes OUTDIR/root.img (raw ext4, the root file system; each run boots a qcow2 overlay on it),
# OUTDIR/vmlinuz, OUTDIR/initrd.img, OUTDIR/versions (the packages the tests talk about) and
# OUTDIR/image.key. The key is a hash of this script (package list and recipe): a changed recipe
# rebuilds, an unchanged one is reused. QT_NODE_MIRROR overrides the Debian mirror.
# Prints "# node: ..." notes; exits non-zero with "node-build: ..." on stderr on failure.
set -euo pipefail

OUT=${1:?usage: build-image.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
MIRROR=${QT_NODE_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
SIZE=4G

# what the node runs; the qosd binaries' own libraries are here too (make install copies binaries)
PKGS=(
	linux-image-amd64 initramfs-tools systemd-sysv dbus udev kmod
	docker.io apparmor iptables containerd
	podman crun runc conmon catatonit
	iperf3 iproute2 xfsprogs e2fsprogs quota busybox-static jq libcap2-bin util-linux procps
	libinih1 libjansson4 libnl-3-200 libnl-route-3-200 libudev1 libsystemd0 libmicrohttpd12
)

die() {
	echo "node-build: $*" >&2
	exit 1
}
note() { echo "  # node: $*"; }

KEY=$(cat "$0" | md5sum | cut -d' ' -f1)
exec 9>"$OUT/.build.lock"
flock 9
if [[ -f $OUT/root.img && -f $OUT/vmlinuz && -f $OUT/initrd.img && $(cat "$OUT/image.key" 2>/dev/null) == "$KEY" ]]; then
	note "image cached ($OUT/root.img, key $KEY)"
	exit 0
fi
command -v mmdebstrap >/dev/null || die "mmdebstrap not found (make deps installs it)"
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 not found (make deps installs e2fsprogs)"
rm -f "$OUT/root.img" "$OUT/image.key" "$OUT/vmlinuz" "$OUT/initrd.img"
ROOT=$(mktemp -d "$OUT/rootfs.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT

t0=$SECONDS
note "building the node image: mmdebstrap $SUITE (${#PKGS[@]} packages named) from $MIRROR"
# docs, man pages and locales are not needed to run tests: leave them out (smaller, faster)
if ! mmdebstrap --variant=important --mode=root \
	--include="$(
		IFS=,
		echo "${PKGS[*]}"
	)" \
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
	"$SUITE" "$ROOT" "$MIRROR" >"$OUT/mmdebstrap.log" 2>&1; then
	tail -20 "$OUT/mmdebstrap.log" >&2
	die "mmdebstrap failed (log: $OUT/mmdebstrap.log)"
fi
note "mmdebstrap took $((SECONDS - t0)) s"

# ---- the node's configuration
echo qosd-node >"$ROOT/etc/hostname"
printf '127.0.0.1 localhost qosd-node\n::1 localhost\n' >"$ROOT/etc/hosts"
echo '/dev/vda / ext4 rw,relatime 0 1' >"$ROOT/etc/fstab"
# root without a password on the console (for debugging a run by hand with QT_NODE_INTERACTIVE)
sed -i 's/^root:[^:]*:/root::/' "$ROOT/etc/shadow"
# timers and services that only cost time in a test boot
for u in apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer \
	logrotate.timer dpkg-db-backup.timer podman-auto-update.timer podman-restart.service \
	e2scrub_reap.service systemd-timesyncd.service serial-getty@ttyS0.service getty@tty1.service \
	remote-fs.target; do
	ln -sf /dev/null "$ROOT/etc/systemd/system/$u"
done
# the journal stays in memory (the overlay is thrown away anyway)
mkdir -p "$ROOT/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$ROOT/etc/systemd/journald.conf.d/qosd-node.conf"
# podman: the default runtime is crun (Debian's containers.conf already prefers it; say so)
mkdir -p "$ROOT/etc/containers/containers.conf.d"
printf '[engine]\nruntime = "crun"\n' >"$ROOT/etc/containers/containers.conf.d/qosd-node.conf"

# The runner: mounts the payload disk (made per run by tests/layer-node.sh: the make install tree
# and tests/node) and runs its run.sh with output on the second serial port; run.sh powers off.
cat >"$ROOT/etc/systemd/system/qosd-node-run.service" <<-'UNIT'
	[Unit]
	Description=qosd node layer: run the tests from the payload disk
	After=multi-user.target
	ConditionPathExists=/dev/disk/by-id/virtio-qosd-payload

	[Service]
	Type=simple
	ExecStart=/bin/sh -c 'mkdir -p /run/qosd-payload && mount -o ro /dev/disk/by-id/virtio-qosd-payload /run/qosd-payload && stty -F /dev/ttyS1 raw -echo 115200 && exec /bin/bash /run/qosd-payload/tests/node/run.sh >/dev/ttyS1 2>&1 </dev/null'
	StandardOutput=journal+console

	[Install]
	WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/qosd-node-run.service "$ROOT/etc/systemd/system/multi-user.target.wants/qosd-node-run.service"

# ---- kernel, initramfs and the versions the tests report
kver=$(ls "$ROOT/lib/modules" | head -1)
[[ -n $kver && -f $ROOT/boot/vmlinuz-$kver && -f $ROOT/boot/initrd.img-$kver ]] ||
	die "no kernel/initramfs in the image (lib/modules: $(ls "$ROOT/lib/modules" 2>/dev/null))"
cp "$ROOT/boot/vmlinuz-$kver" "$OUT/vmlinuz.tmp"
cp "$ROOT/boot/initrd.img-$kver" "$OUT/initrd.img.tmp"
chroot "$ROOT" dpkg-query -W -f='${Package} ${Version}\n' linux-image-amd64 "linux-image-$kver" systemd \
	docker.io containerd podman crun runc conmon iperf3 e2fsprogs xfsprogs quota >"$OUT/versions.tmp"
rm -rf "$ROOT/var/cache/apt/archives"/*.deb "$ROOT/var/lib/apt/lists"/*_Packages

t1=$SECONDS
truncate -s 0 "$OUT/root.img.tmp"
mkfs.ext4 -q -F -L qosd-node -d "$ROOT" "$OUT/root.img.tmp" "$SIZE" >"$OUT/mkfs.log" 2>&1 ||
	die "mkfs.ext4 -d failed: $(tail -3 "$OUT/mkfs.log")"
note "mkfs.ext4 -d took $((SECONDS - t1)) s"
mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
mv "$OUT/initrd.img.tmp" "$OUT/initrd.img"
mv "$OUT/versions.tmp" "$OUT/versions"
mv "$OUT/root.img.tmp" "$OUT/root.img"
echo "$KEY" >"$OUT/image.key"
note "image built in $((SECONDS - t0)) s: $(du -h "$OUT/root.img" | cut -f1) used of $SIZE, kernel $kver"
