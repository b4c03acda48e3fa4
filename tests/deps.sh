#!/bin/bash
# Install every Debian package the build, the tests, the demo and the VM layer need.
# Idempotent and quiet when everything is there.
set -euo pipefail

# libc6-dev and libjansson-dev also hold libc.a and libjansson.a: make links qos-hook static with them
PKGS=(
	build-essential libc6-dev pkg-config clang clang-format
	libsystemd-dev libinih-dev libjansson-dev libnl-3-dev libnl-route-3-dev libudev-dev
	libcmocka-dev libcgroup-dev cgroup-tools
	iproute2 iperf3 runc busybox-static jq cpio kmod util-linux procps e2fsprogs xfsprogs
	qemu-system-x86 strace valgrind
	libclang-rt-14-dev
	groff-base man-db
	zstd
	podman conmon
	libmicrohttpd-dev prometheus prometheus-node-exporter tmux
	mmdebstrap qemu-utils socat
)

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $st == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "deps: missing packages: ${missing[*]}; run 'make deps' as root" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/qosd-deps.log 2>&1; then
	apt-get update -qq >>/tmp/qosd-deps.log 2>&1
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/qosd-deps.log 2>&1 || {
		tail -20 /tmp/qosd-deps.log >&2
		echo "deps: apt-get install failed (log: /tmp/qosd-deps.log)" >&2
		exit 1
	}
fi
