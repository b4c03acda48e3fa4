#!/bin/bash
# tc figure: both directions of one container's shaping through qosd's tc module (tc_apply)
# beside the same qdiscs made with the ip/tc CLI. Builds its own world: a netns standing for the
# host (the program runs in it), a container netns with a sleeping process, a veth pair between.
# Nothing touches the real host network. Usage: bench/tc-bench.sh [N]   (B=build/rel by default)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-build/rel}
N=${1:-50}
ID=qosd-test-$$
H=$ID-bh
C=$ID-bc
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	ip netns del "$H" 2>/dev/null || true
	ip netns del "$C" 2>/dev/null || true
}
trap cleanup EXIT
[[ $(id -u) -eq 0 ]] || { echo "SKIP: tc bench needs root (netns)"; exit 0; }
[[ -e $B/libqos.a ]] || make --no-print-directory B="$B" "$B/libqos.a" >/dev/null
BIN=$B/bench/tc-bench
mkdir -p "$B/bench"
if [[ ! -x $BIN || bench/tc-bench.c -nt $BIN || $B/libqos.a -nt $BIN ]]; then
	cc -std=gnu11 -D_GNU_SOURCE -O2 -I. $(pkg-config --cflags libnl-3.0 libnl-route-3.0) \
		-o "$BIN" bench/tc-bench.c "$B/libqos.a" \
		$(pkg-config --libs libsystemd inih jansson libnl-3.0 libnl-route-3.0 libudev)
fi
ip netns add "$H"
ip netns add "$C"
ip -n "$H" link add qt-bv0 type veth peer name eth0 netns "$C"
ip -n "$H" link set qt-bv0 up
ip -n "$C" link set eth0 up
ip netns exec "$C" sleep 100000 &
PIDS+=($!)
sleep 0.1
ip netns exec "$H" "$BIN" "${PIDS[0]}" qt-bv0 "$N"
