#!/bin/bash
# qosd-vm: yes
# Block I/O throttling through qosd on loop devices, enforced and measured with dd: write and read
# bytes/s, write IO/s, a partition as target (throttles its disk), a path on a filesystem, a
# symlink to the node, a loop device attached after qosd started (udev/uevent monitor, no
# reload), and bad targets. Runs on the host (cgroup v1 blkio) and in the VM (cgroup v2 io).
#
# Direct I/O only for the figures: a buffered dd finishes at page-cache speed and the throttle only
# shows when the dirty pages are written (see the buffered notes below: on v1 the flusher's writes
# escape it, on v2 writeback is charged to the container's cgroup).
source "$(dirname "$0")/lib.sh"
qt_init blkio

MiB=$((1 << 20))
LOOPS=()
MNT=$QT_TMP/mnt

blk_cleanup() {
	local l
	grep -q " $MNT " /proc/mounts 2>/dev/null && umount "$MNT"
	for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
	# the hotplug device was created by this test: remove it (LOOP_CTL_REMOVE) where perl is
	# there to make the ioctl (EBUSY for a moment after the detach); the VM is thrown away anyway
	[[ -n ${HP_MADE:-} ]] && command -v perl >/dev/null &&
		perl -e 'open(my $f, "<", "/dev/loop-control") or exit 1;
			for (1 .. 20) { exit 0 if defined ioctl($f, 0x4C81, $ARGV[0] + 0); select(undef, undef, undef, 0.1) }
			exit 1' "$HP_N" 2>/dev/null
}
QT_EXTRA_CLEANUP=blk_cleanup

if ! command -v losetup >/dev/null || ! [[ -e /dev/loop-control || -e /dev/loop0 ]]; then
	skip all "no loop device support (losetup, /dev/loop-control)"
	exit 0
fi
if [[ $QT_V == 1 && ! -d $QT_CGROOT/blkio ]]; then
	skip all "no v1 blkio hierarchy"
	exit 0
fi
if [[ $QT_V == 2 ]] && ! grep -qw io "$QT_CGROOT/cgroup.controllers"; then
	skip all "cgroup v2 without the io controller"
	exit 0
fi

# new_loop NAME SIZE_MB: a loop device over a sparse file in the test's tmp dir, in NEW_LOOP (not
# printed: LOOPS must be updated in this shell for the cleanup to see it).
new_loop() {
	local img=$QT_TMP/$1.img dev
	NEW_LOOP=
	dd if=/dev/zero of="$img" bs=1M count=0 seek="$2" 2>/dev/null || return 1
	# busybox losetup has no --show: ask for the free one, then attach
	if ! dev=$(losetup -f --show "$img" 2>/dev/null); then
		dev=$(losetup -f 2>/dev/null) && losetup "$dev" "$img" 2>/dev/null || return 1
	fi
	LOOPS+=("$dev")
	[[ -b $dev ]] || return 1
	NEW_LOOP=$dev
}
majmin() { printf '%d:%d' "0x$(stat -L -c %t "$1")" "0x$(stat -L -c %T "$1")"; }

new_loop a 64 || {
	fail setup "could not attach a loop device"
	exit 0
}
LA=$NEW_LOOP
LA_DEV=$(majmin "$LA")
ln -s "$LA" "$QT_TMP/link-a"

# A partitioned loop. The MBR is written by hand (two Linux partitions: 16 MiB at sector 2048, the
# rest after it) so no partitioning tool is needed in the VM; losetup -P scans it, and where the
# kernel has no partition-table parsers (this host's) partx -a adds what it reads itself.
mbr_entry() { # OFFSET START_LE SIZE_LE (4 bytes each, as \x escapes)
	printf "\\x00\\x00\\x00\\x00\\x83\\x00\\x00\\x00$2$3" |
		dd of="$QT_TMP/p.img" bs=1 seek="$1" conv=notrunc 2>/dev/null
}
LP=
dd if=/dev/zero of="$QT_TMP/p.img" bs=1M count=0 seek=64 2>/dev/null
mbr_entry 446 '\x00\x08\x00\x00' '\x00\x80\x00\x00' # 2048, 32768 sectors
mbr_entry 462 '\x00\x88\x00\x00' '\x00\x78\x01\x00' # 34816, 96256 sectors
printf '\x55\xaa' | dd of="$QT_TMP/p.img" bs=1 seek=510 conv=notrunc 2>/dev/null
if LP=$(losetup -f --show -P "$QT_TMP/p.img" 2>/dev/null) ||
	{ LP=$(losetup -f 2>/dev/null) && losetup -P "$LP" "$QT_TMP/p.img" 2>/dev/null; }; then
	LOOPS+=("$LP")
	for _ in 1 2 3 4 5 6 7 8 9 10; do [[ -b ${LP}p1 ]] && break; sleep 0.1; done
	[[ -b ${LP}p1 ]] || { command -v partx >/dev/null && partx -a "$LP" 2>/dev/null; }
	for _ in 1 2 3 4 5 6 7 8 9 10; do [[ -b ${LP}p1 ]] && break; sleep 0.1; done
else
	LP=
fi

# A filesystem on a loop: a path in it means its disk.
LF=
if command -v mkfs.ext4 >/dev/null && new_loop f 64; then
	LF=$NEW_LOOP
	mkdir -p "$MNT"
	if mkfs.ext4 -q -F "$LF" >/dev/null 2>&1 && mount "$LF" "$MNT"; then
		touch "$MNT/target"
	else
		LF=
	fi
fi

# A loop device that does not exist yet, named by its node: the first free index from 16 up.
HP_N=16
while [[ -e /sys/block/loop$HP_N || -e /dev/loop$HP_N ]]; do HP_N=$((HP_N + 1)); done
HP=/dev/loop$HP_N
dd if=/dev/zero of="$QT_TMP/hp.img" bs=1M count=0 seek=32 2>/dev/null

part_line=
[[ -n $LP && -b ${LP}p1 ]] && part_line="blkio.write_bps = ${LP}p1 2M"
path_line=
[[ -n $LF ]] && path_line="blkio.write_bps = $MNT/target 2M"

qt_policy qt <<EOF
[class wbps]
blkio.write_bps = $LA 2M

[class rbps]
blkio.read_bps = $LA 2M

[class wiops]
blkio.write_iops = $LA 50

[class link]
blkio.write_bps = $QT_TMP/link-a 3M

[class merge]
blkio.write_bps = $LA 5M, $QT_TMP/link-a 2M

[class part]
$part_line

[class path]
$path_line

[class hotplug]
blkio.write_bps = $HP 2M

[class bad]
blkio.write_bps = /nonexistent-qosd-test 1M, 999:999 1M, /dev/null 1M, $LA 4M

[match]
$QT_CGP/wbps-* = wbps
$QT_CGP/rbps-* = rbps
$QT_CGP/wiops-* = wiops
$QT_CGP/link-* = link
$QT_CGP/merge-* = merge
$QT_CGP/part-* = part
$QT_CGP/path-* = path
$QT_CGP/hotplug-* = hotplug
$QT_CGP/bad-* = bad
EOF
echo "drift_interval = 0s" >"$QT_TMP/qosd.conf"
qt_start_qosd --config "$QT_TMP/qosd.conf" || {
	fail start "qosd did not start"
	exit 0
}

# throttle_of CGPATH DEV KIND(rbps|wbps|riops|wiops): the value in force, "" if none.
throttle_of() {
	local f
	if [[ $QT_V == 2 ]]; then
		qt_knob "$1" io io.max | sed -n "s/^$2 .*$3=\([0-9a-z]*\).*/\1/p" | grep -v '^max$'
		return
	fi
	case $3 in
	rbps) f=blkio.throttle.read_bps_device ;; wbps) f=blkio.throttle.write_bps_device ;;
	riops) f=blkio.throttle.read_iops_device ;; wiops) f=blkio.throttle.write_iops_device ;;
	esac
	qt_knob "$1" blkio "$f" | sed -n "s/^$2 //p"
}
has_throttle() { [[ "$(throttle_of "$1" "$2" "$3")" == "$4" ]]; }
wait_throttle() { qt_wait 5 has_throttle "$@"; }

# timed_dd CGPATH|- DD-ARGS...: run dd inside the cgroup (or here with "-"); prints microseconds.
timed_dd() {
	local cg=$1 t0 t1
	shift
	t0=${EPOCHREALTIME/./}
	if [[ $cg == - ]]; then
		dd "$@" 2>"$QT_TMP/dd.err"
	else
		qt_cg_run "$cg" dd "$@" 2>"$QT_TMP/dd.err"
		wait "$QT_LASTPID"
	fi
	local rc=$?
	t1=${EPOCHREALTIME/./}
	[[ $rc -eq 0 ]] || { echo "dd failed: $(tail -1 "$QT_TMP/dd.err")" >&2; return 1; }
	echo $((t1 - t0))
}
# rate BYTES USEC -> "N.NN MiB/s"
rate() { awk -v b="$1" -v u="$2" 'BEGIN { printf "%.2f MiB/s", b / 1048576 / (u / 1e6) }'; }
# in_range USEC LO_MS HI_MS
in_range() { (($1 >= $2 * 1000 && $1 <= $3 * 1000)); }

# measure NAME CGPATH BYTES LO_MS HI_MS DD-ARGS...: timed inside vs outside, checked inside. The
# upper bound grows by the unthrottled time: under plain emulation (the VM) the device itself is
# slow, and that time adds to the throttle's.
measure() {
	local name=$1 cg=$2 bytes=$3 lo=$4 hi=$5 tin tout
	shift 5
	tout=$(timed_dd - "$@") || { fail "$name" "dd outside failed"; return; }
	tin=$(timed_dd "$cg" "$@") || { fail "$name" "dd inside failed"; return; }
	hi=$((hi + tout / 1000))
	note "$name: inside $((tin / 1000)) ms ($(rate "$bytes" "$tin")), outside" \
		"$((tout / 1000)) ms ($(rate "$bytes" "$tout"))"
	check "$name" "took $((tin / 1000)) ms inside, want $lo-$hi ms" in_range "$tin" "$lo" "$hi"
}

# --- write bytes/s: 8 MiB at 2 MiB/s is about 4 s (upper bounds: 1.5x, for a busy machine)
qt_cg_mkdir "$QT_CGP/wbps-1"
check wbps-applied "no $LA_DEV write_bps 2097152 within 5 s" wait_throttle "$QT_CGP/wbps-1" "$LA_DEV" wbps $((2 * MiB))
measure wbps-enforced "$QT_CGP/wbps-1" $((8 * MiB)) 3500 6000 \
	if=/dev/zero of="$LA" bs=1M count=8 oflag=direct

# --- read bytes/s
qt_cg_mkdir "$QT_CGP/rbps-1"
check rbps-applied "no $LA_DEV read_bps within 5 s" wait_throttle "$QT_CGP/rbps-1" "$LA_DEV" rbps $((2 * MiB))
measure rbps-enforced "$QT_CGP/rbps-1" $((8 * MiB)) 3500 6000 \
	if="$LA" of=/dev/null bs=1M count=8 iflag=direct

# --- write IO/s: 200 writes of 4 KiB at 50/s is about 4 s (upper bounds: 1.5x, for a busy machine)
qt_cg_mkdir "$QT_CGP/wiops-1"
check wiops-applied "no $LA_DEV write_iops within 5 s" wait_throttle "$QT_CGP/wiops-1" "$LA_DEV" wiops 50
measure wiops-enforced "$QT_CGP/wiops-1" $((200 * 4096)) 3500 6000 \
	if=/dev/zero of="$LA" bs=4k count=200 oflag=direct

# --- a symlink to the node is the node
qt_cg_mkdir "$QT_CGP/link-1"
check symlink-target "symlink $QT_TMP/link-a -> $LA did not throttle $LA_DEV" \
	wait_throttle "$QT_CGP/link-1" "$LA_DEV" wbps $((3 * MiB))

# --- reload: the class now names read_bps instead; the write_bps line qosd wrote is removed
sed -i "s|^blkio.write_bps = $QT_TMP/link-a 3M\$|blkio.read_bps = $QT_TMP/link-a 1M|" \
	"$QT_TMP/conf.d/qt.conf"
if qosctl reload >"$QT_TMP/reload.out" 2>&1; then
	qt_wait 5 has_throttle "$QT_CGP/link-1" "$LA_DEV" rbps $MiB
	check reload-new-kind "read_bps $MiB not on $LA_DEV after reload" \
		has_throttle "$QT_CGP/link-1" "$LA_DEV" rbps $MiB
	check reload-clears-old "write_bps on $LA_DEV still '$(throttle_of "$QT_CGP/link-1" "$LA_DEV" wbps)'" \
		has_throttle "$QT_CGP/link-1" "$LA_DEV" wbps ""
else
	fail reload-new-kind "qosctl reload failed: $(cat "$QT_TMP/reload.out")"
fi

# --- two targets on one disk: the smaller wins, and show says so
qt_cg_mkdir "$QT_CGP/merge-1"
check merge-smaller "two targets on $LA_DEV did not merge to 2M" \
	wait_throttle "$QT_CGP/merge-1" "$LA_DEV" wbps $((2 * MiB))
qosctl show merge-1 >"$QT_TMP/show-merge" 2>&1
check merge-note "qosctl show merge-1 does not name both targets: $(cat "$QT_TMP/show-merge")" \
	grep -q "both resolve to disk $LA_DEV" "$QT_TMP/show-merge"

# --- a partition throttles its whole disk
if [[ -n $part_line ]]; then
	LP_DEV=$(majmin "$LP")
	qt_cg_mkdir "$QT_CGP/part-1"
	check partition-to-disk "${LP}p1 did not throttle its disk $LP_DEV" \
		wait_throttle "$QT_CGP/part-1" "$LP_DEV" wbps $((2 * MiB))
	qosctl show part-1 >"$QT_TMP/show-part" 2>&1
	note "show part-1: $(grep -m1 'is a partition' "$QT_TMP/show-part" | sed 's/^ *//')"
	check partition-note "qosctl show part-1 has no partition note: $(cat "$QT_TMP/show-part")" \
		grep -q "is a partition: throttling its disk $(basename "$LP") $LP_DEV" "$QT_TMP/show-part"
	# I/O to the other partition goes to the same disk, so it is throttled too
	measure partition-enforced "$QT_CGP/part-1" $((8 * MiB)) 3500 6000 \
		if=/dev/zero of="${LP}p2" bs=1M count=8 oflag=direct
else
	skip partition-to-disk "no partitions on ${LP:-a loop device} (losetup -P found none, no partx)"
fi

# --- a path means the disk under its filesystem
if [[ -n $path_line ]]; then
	LF_DEV=$(majmin "$LF")
	qt_cg_mkdir "$QT_CGP/path-1"
	check path-to-disk "$MNT/target did not throttle $LF_DEV" \
		wait_throttle "$QT_CGP/path-1" "$LF_DEV" wbps $((2 * MiB))
	measure path-enforced "$QT_CGP/path-1" $((8 * MiB)) 3500 6000 \
		if=/dev/zero of="$MNT/dd.out" bs=1M count=8 oflag=direct conv=fsync
	# Buffered writes, for the record (not checked): dd returns at page-cache speed (a raw
	# block device is different: its last close syncs from the writer's context). What the
	# flusher writes later escapes a v1 throttle (its bios are not the container's); an fsync
	# by the container's own process submits them from its cgroup, so that is throttled on v1
	# too. v2 charges writeback to the cgroup that dirtied the pages (memory and io enabled).
	tb=$(timed_dd "$QT_CGP/path-1" if=/dev/zero of="$MNT/buf.out" bs=1M count=8) &&
		note "buffered dd of 8 MiB to a file inside path-1 (cgroup v$QT_V):" \
			"$((tb / 1000)) ms ($(rate $((8 * MiB)) "$tb"))"
	sync
	tb=$(timed_dd "$QT_CGP/path-1" if=/dev/zero of="$MNT/buf2.out" bs=1M count=8 conv=fsync) &&
		note "the same with fsync: $((tb / 1000)) ms ($(rate $((8 * MiB)) "$tb"))"
else
	skip path-to-disk "no ext4 on a loop device (mkfs.ext4 or mount missing)"
fi

# --- bad targets: each named in a warning, the good one still applied
qt_cg_mkdir "$QT_CGP/bad-1"
check bad-rest-applies "$LA_DEV write_bps 4M not applied next to bad targets" \
	wait_throttle "$QT_CGP/bad-1" "$LA_DEV" wbps $((4 * MiB))
qosctl show bad-1 >"$QT_TMP/show-bad" 2>&1
for t in /nonexistent-qosd-test 999:999 /dev/null; do
	check "bad-named-${t//[\/:]/_}" "qosctl show bad-1 does not name $t: $(grep -c . "$QT_TMP/show-bad") lines" \
		grep -q -- "$t" "$QT_TMP/show-bad"
done
grep -E 'nonexistent|999:999|/dev/null' "$QT_TMP/show-bad" | sed 's/^ */show bad-1: /' |
	while read -r l; do note "$l"; done
check bad-chardev-why "no 'character device' for /dev/null" grep -q "character device" "$QT_TMP/show-bad"

# --- a device that appears later gets its throttle without a reload
qt_cg_mkdir "$QT_CGP/hotplug-1"
sleep 0.5
check hotplug-absent "show does not report $HP as missing" \
	sh -c "\"$QOSCTL\" -s \"$QT_SOCK\" show hotplug-1 2>&1 | grep -q -- \"$HP\""
if losetup "$HP" "$QT_TMP/hp.img" 2>/dev/null ||
	{ mknod "$HP" b 7 "$HP_N" 2>/dev/null && losetup "$HP" "$QT_TMP/hp.img" 2>/dev/null; }; then
	LOOPS+=("$HP")
	HP_MADE=1
	check hotplug-applied "$HP attached after qosd started: no 7:$HP_N throttle within 5 s" \
		wait_throttle "$QT_CGP/hotplug-1" "7:$HP_N" wbps $((2 * MiB))
else
	skip hotplug-applied "could not create $HP"
fi

# --- policy errors: file, line and what is wrong
mkdir -p "$QT_TMP/bad.d"
i=0
for v in "8: 1M" "$LA -1" "$LA 10Q" "$LA"; do
	i=$((i + 1))
	printf '[class c]\nblkio.write_bps = %s\n' "$v" >"$QT_TMP/bad.d/b$i.conf"
	out=$("$QOSD" --check --config-dir "$QT_TMP/bad.d" 2>&1)
	rc=$?
	note "blkio.write_bps = $v: $(echo "$out" | head -1)"
	check "policy-error-$i" "'$v' accepted (rc $rc) or no file:line: $out" \
		sh -c "[ $rc -ne 0 ] && echo \"\$1\" | grep -q 'b$i.conf:2'" _ "$out"
	rm -f "$QT_TMP/bad.d/b$i.conf"
done

qt_finish
