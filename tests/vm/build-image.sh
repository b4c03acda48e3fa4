#!/bin/bash
# Builds what the VM layer boots: Debian's own kernel (fetched with apt-get download, cached) and an
# initramfs holding busybox, bash, the test tools with their libraries, the kernel modules the tests
# need (with their dependency chains), the project's binaries from $B and the source tree's tests.
#
#   tests/vm/build-image.sh OUTDIR        (run from anywhere; B=build/san by default)
#
# Writes OUTDIR/vmlinuz, OUTDIR/initrd.img, OUTDIR/kernel-version, OUTDIR/kernel-package. The kernel
# download and its unpacked tree are kept in OUTDIR/kernel/ (fetched again only when Debian's
# linux-image-amd64 points at a new version). The initramfs is two concatenated cpio archives (the
# kernel unpacks them in turn): base.cpio.* (tools, libraries, modules; rebuilt when this script, the
# kernel or the installed Debian packages change) and a project archive rebuilt on every run from
# $B and the source tree, because the binaries change.
# Prints "# vm: ..." notes; exits non-zero with "vm-build: ..." on stderr when something required is
# missing (the caller turns that into a FAIL line).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:?usage: build-image.sh OUTDIR}
B=${B:-build/san}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
KC=$OUT/kernel
R=

die() {
	echo "vm-build: $*" >&2
	exit 1
}
note() { echo "  # vm: $*"; }

# Modules the tests need. Each is loaded in the guest with modprobe (dependency chains come from
# modules.dep); ones the Debian kernel has built in are reported and skipped.
MODULES=(
	virtio_pci virtio_blk                       # the XFS and scratch disks
	xfs loop ext4                               # XFS project quota, loop devices, ext4 quota
	veth ifb                                    # container-like netns links, egress shaping
	sch_tbf sch_htb sch_ingress sch_fq_codel sch_prio sch_netem
	cls_u32 cls_matchall cls_basic cls_fw
	act_mirred act_gact act_police
	crc32c_generic crc32c-intel                 # xfs's checksums (intel one may not load under TCG)
	overlay                                     # runc bundles, if a test wants one
)

# Host programs copied in (with the libraries ldd names). Missing required ones stop the build;
# missing optional ones are reported.
REQUIRED_TOOLS=(bash busybox mkfs.xfs xfs_quota modprobe)
OPTIONAL_TOOLS=(
	xfs_io xfs_db mkfs.ext4 mke2fs tune2fs
	ip tc ss bridge iperf3 jq runc
	losetup mount umount nsenter unshare setsid flock blockdev lsblk findmnt mountpoint partx blkid sfdisk
	ps pgrep pkill pidof free
	find xargs grep egrep fgrep sed awk mawk diff cmp
	insmod rmmod lsmod depmod kmod
)
# Not copied: strace (ptrace fault injection is far too slow under emulation; t-faults skips without it)

# ---------------------------------------------------------------- the kernel package (cached)
resolve_kernel_pkg() {
	local pkg
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	if [[ -z $pkg && $(id -u) -eq 0 ]]; then
		apt-get update -qq >/dev/null 2>&1 || true
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	fi
	echo "$pkg"
}

fetch_kernel() {
	local pkg deb kver
	pkg=$(resolve_kernel_pkg)
	if [[ -z $pkg ]]; then
		# offline or no package lists: a kernel cached by an earlier run still does
		deb=$(ls -t "$KC"/linux-image-*.deb 2>/dev/null | head -1 || true)
		[[ -n $deb ]] || die "cannot resolve the package linux-image-amd64 depends on (apt-cache depends linux-image-amd64 gave nothing; apt-get update?)"
		pkg=$(dpkg-deb -f "$deb" Package)
		note "apt-cache could not resolve linux-image-amd64; using the cached $pkg"
	fi
	mkdir -p "$KC"
	deb=$(ls "$KC/${pkg}"_*.deb 2>/dev/null | head -1 || true)
	if [[ -z $deb ]]; then
		note "downloading $pkg (apt-get download)"
		rm -rf "$KC"/linux-image-*.deb "$KC"/root "$KC"/unpacked.stamp
		(cd "$KC" && apt-get download "$pkg" >"$KC/download.log" 2>&1) || {
			tail -5 "$KC/download.log" >&2
			die "apt-get download $pkg failed (log: $KC/download.log)"
		}
		deb=$(ls "$KC/${pkg}"_*.deb 2>/dev/null | head -1 || true)
		[[ -n $deb ]] || die "apt-get download $pkg produced no .deb"
	fi
	if [[ ! -f $KC/unpacked.stamp || $(cat "$KC/unpacked.stamp") != "$(basename "$deb")" ]]; then
		rm -rf "$KC/root"
		dpkg-deb -x "$deb" "$KC/root" || die "dpkg-deb -x $deb failed"
		kver=$(ls "$KC/root/lib/modules" | head -1)
		depmod -b "$KC/root" "$kver" || die "depmod -b $KC/root $kver failed"
		basename "$deb" >"$KC/unpacked.stamp"
	fi
	KVER=$(ls "$KC/root/lib/modules" | head -1)
	[[ -n $KVER && -f $KC/root/boot/vmlinuz-$KVER ]] || die "no vmlinuz in $deb"
	cp "$KC/root/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
	echo "$KVER" >"$OUT/kernel-version"
	echo "$pkg $(dpkg-deb -f "$deb" Version)" >"$OUT/kernel-package"
}

# ---------------------------------------------------------------- initramfs helpers
declare -A COPIED=()

# The initramfs has merged /usr (bin, sbin, lib, lib64 are symlinks into usr/): every file goes to its
# canonical path, so no archive ever holds a real directory where the base has a symlink.
canon() {
	case $1 in
	/bin/* | /sbin/* | /usr/sbin/*) echo "/usr/bin/${1##*/}" ;;
	/lib/* | /lib64/*) echo "/usr$1" ;;
	*) echo "$1" ;;
	esac
}

# copy_file PATH: copy PATH (symlinks followed) to its canonical path inside the tree $R
copy_file() {
	local dest
	dest=$(canon "$1")
	[[ -n ${COPIED[$dest]:-} ]] && return 0
	COPIED[$dest]=1
	mkdir -p "$R$(dirname "$dest")"
	cp -L "$1" "$R$dest"
}

# copy_elf PATH [DEST]: copy a program and every shared library ldd names
copy_elf() {
	local f=$1 dest=${2:-$(canon "$1")} lib libs
	if [[ -z ${COPIED[$dest]:-} ]]; then
		COPIED[$dest]=1
		mkdir -p "$R$(dirname "$dest")"
		cp -L "$f" "$R$dest"
	fi
	libs=$(ldd "$f" 2>/dev/null) || return 0 # static
	while read -r lib; do
		[[ -n $lib && -e $lib ]] && copy_file "$lib"
	done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$libs")
}

copy_tool() {
	local name=$1 path
	path=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$name" 2>/dev/null) || return 1
	[[ $path == /* ]] || return 1
	copy_elf "$path" "/usr/bin/$name"
}

# pack DIR ARCHIVE: cpio newc, compressed with $COMPRESS
pack() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) |
		$COMPRESS >"$2.tmp"
	mv "$2.tmp" "$2"
}

# zstd unpacks fastest under emulation; gzip when zstd or the kernel's support for it is missing
choose_compressor() {
	if command -v zstd >/dev/null && grep -q '^CONFIG_RD_ZSTD=y' "$KC/root/boot/config-$KVER"; then
		COMPRESS="zstd -q -3 -T0" EXT=zst
	else
		COMPRESS="gzip -1" EXT=gz
	fi
}

# ---------------------------------------------------------------- the base archive (cached)
base_tree() {
	mkdir -p "$R"/{usr/bin,usr/lib,usr/lib64,dev,proc,sys,tmp,run,root,mnt/xfs,etc/modprobe.d,var}
	ln -s usr/bin "$R/bin"
	ln -s usr/bin "$R/sbin"
	ln -s bin "$R/usr/sbin"
	ln -s usr/lib "$R/lib"
	ln -s usr/lib64 "$R/lib64"
	ln -s ../run "$R/var/run"
	ln -s ../tmp "$R/var/tmp"
	chmod 1777 "$R/tmp"
	# the kernel opens /dev/console before /init runs; /init mounts devtmpfs over /dev
	mknod -m 600 "$R/dev/console" c 5 1 2>/dev/null || true
	mknod -m 666 "$R/dev/null" c 1 3 2>/dev/null || true

	local t missing=()
	for t in "${REQUIRED_TOOLS[@]}"; do
		copy_tool "$t" || die "required host program '$t' not found (make deps installs it)"
	done
	for t in "${OPTIONAL_TOOLS[@]}"; do
		copy_tool "$t" || missing+=("$t")
	done
	# coreutils as on the host (stat -f, date +%N, timeout -k, mktemp ... behave the same)
	local f
	while read -r f; do
		[[ -f $f && -x $f ]] && copy_elf "$f" "/usr/bin/$(basename "$f")"
	done < <(dpkg -L coreutils 2>/dev/null | grep -E '^(/usr)?/s?bin/[^/]+$')
	[[ ${#missing[@]} -eq 0 ]] || note "host programs not found, not in the guest: ${missing[*]}"
	# busybox fills in every other applet (poweroff, dmesg, ...)
	for t in $(busybox --list); do
		[[ -e $R/usr/bin/$t || -L $R/usr/bin/$t ]] || ln -s busybox "$R/usr/bin/$t"
	done

	cat >"$R/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/bash
		nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
	EOF
	cat >"$R/etc/group" <<-'EOF'
		root:x:0:
		nogroup:x:65534:
	EOF
	printf '127.0.0.1 localhost\n::1 localhost\n' >"$R/etc/hosts"
	printf 'passwd: files\ngroup: files\nhosts: files\n' >"$R/etc/nsswitch.conf"
	echo "options ifb numifbs=0" >"$R/etc/modprobe.d/qosd-vm.conf"
	: >"$R/etc/mtab"
}

base_modules() {
	local m line path builtin=() loaded=() bad=()
	for m in "${MODULES[@]}"; do
		if ! line=$(modprobe -d "$KC/root" -S "$KVER" --show-depends "$m" 2>&1); then
			bad+=("$m")
			continue
		fi
		if [[ $line == builtin* ]]; then
			builtin+=("$m")
			continue
		fi
		loaded+=("$m")
		while read -r path; do
			[[ -n $path ]] || continue
			mkdir -p "$R/usr$(dirname "${path#"$KC/root"}")"
			cp "$path" "$R/usr${path#"$KC/root"}"
		done < <(awk '$1 == "insmod" { print $2 }' <<<"$line")
	done
	[[ ${#bad[@]} -eq 0 ]] || note "modules not in $KVER: ${bad[*]}"
	cp "$KC/root/lib/modules/$KVER"/modules.{order,builtin,builtin.modinfo} "$R/usr/lib/modules/$KVER/"
	depmod -b "$R" "$KVER"
	printf '%s\n' "${loaded[@]}" >"$R/etc/qosd-vm-modules"
	printf '%s\n' "${builtin[@]}" >"$R/etc/qosd-vm-builtin"
	note "kernel $KVER; modules: ${loaded[*]}; built in: ${builtin[*]:-none}"
}

build_base() {
	local key
	key=$( (cat "$0" && echo "$KVER $COMPRESS" && md5sum /var/lib/dpkg/status) | md5sum | cut -d' ' -f1)
	if [[ -f $OUT/base.cpio.$EXT && -f $OUT/base.manifest && $(cat "$OUT/base.key" 2>/dev/null) == "$key" ]]; then
		while read -r f; do COPIED[$f]=1; done <"$OUT/base.manifest"
		return 0
	fi
	rm -f "$OUT"/base.*
	R=$(mktemp -d "$OUT/base-tree.XXXXXX")
	base_tree
	base_modules
	(cd "$R" && find . -type f | sed 's/^\.//') >"$OUT/base.manifest.tmp"
	pack "$R" "$OUT/base.cpio.$EXT"
	rm -rf "$R"
	R=
	mv "$OUT/base.manifest.tmp" "$OUT/base.manifest"
	echo "$key" >"$OUT/base.key"
	note "base archive rebuilt: $(du -h "$OUT/base.cpio.$EXT" | cut -f1)"
}

# ---------------------------------------------------------------- the project archive (every run)
# The project's binaries from $B (whatever exists: the daemon may not be written yet), the libraries
# they need beyond the base's (libasan, libubsan, libnl, ...), the source tree's tests and configs
# laid out as in the work tree under /qosd, and /init.
build_project() {
	local f missing=()
	R=$(mktemp -d "$OUT/project-tree.XXXXXX")
	mkdir -p "$R/qosd/$B"
	for f in qosd qosctl qos-hook qos-hook-apply; do
		if [[ -x $SRC/$B/$f ]]; then
			copy_elf "$SRC/$B/$f" "/qosd/$B/$f"
		else
			missing+=("$B/$f")
		fi
	done
	if compgen -G "$SRC/$B/helpers/*" >/dev/null; then
		for f in "$SRC/$B"/helpers/*; do
			[[ -f $f && -x $f ]] && copy_elf "$f" "/qosd/$B/helpers/$(basename "$f")"
		done
	else
		missing+=("$B/helpers/*")
	fi
	[[ ${#missing[@]} -eq 0 ]] ||
		note "not built (yet), not in the guest: ${missing[*]}; tests needing them skip or fail"
	# the whole source tree (small; tests read conf.d, contrib, docs ...), without build output
	tar -C "$SRC" --exclude=./build --exclude=./.git -cf - . |
		tar -C "$R/qosd" -xf -
	install -m 0755 "$SRC/tests/vm/init" "$R/init"
	pack "$R" "$OUT/project.cpio.$EXT"
	rm -rf "$R"
	R=
}

cleanup() { [[ -z $R ]] || rm -rf "$R"; }
trap cleanup EXIT

exec 9>"$OUT/.build.lock"
flock 9
fetch_kernel
choose_compressor
build_base
build_project
cat "$OUT/base.cpio.$EXT" "$OUT/project.cpio.$EXT" >"$OUT/initrd.img.tmp"
mv "$OUT/initrd.img.tmp" "$OUT/initrd.img"
rm -f "$OUT/initrd.gz" "$OUT/project.cpio.$EXT"
note "initramfs $(du -h "$OUT/initrd.img" | cut -f1) ($EXT; base $(du -h "$OUT/base.cpio.$EXT" | cut -f1), cached)"
