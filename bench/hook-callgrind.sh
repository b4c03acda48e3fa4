#!/bin/bash
# bench/hook-callgrind.sh HOOK...: instructions (valgrind --tool=callgrind, loader included) of one
# qos-hook registration through a running qosd, for each HOOK binary given (e.g. an old and a new
# build), and of a static no-op for scale. Instruction counts do not move with the machine's load,
# unlike the wall clock. Needs root and cgroup v1 or v2; everything is named qosd-bench-<pid>-...
# and removed on exit. Output: "NAME instructions" lines; profiles in $QB_OUT (default a temp dir,
# kept) for callgrind_annotate. QB_PERF=N (200 when set empty; 0: off) adds, for each binary,
# `perf stat -r N` of page faults and task-clock (this host's PMU gives no instruction counts):
# "NAME faults F task-clock-ms T". Page faults do not move with the load either.
# "NAME-oci instructions": the same registration in the OCI form (createRuntime, a podman-like
# state of about 600 bytes on stdin), as runtimes run the hook.
# Beside the hooks, "bare-client" (bench/hookone.c, linked as qos-hook is): a program that sends
# the same register request and does nothing else, the floor of any hook's own work.
# QB_WALL=N adds wall-clock medians (fork + exec to exit, N runs) of the no-op, the bare client
# and each hook, interleaved, QB_WALL_ROUNDS times (3): "wall NAME median p99" in microseconds.
# Each re-registers one container, so qosd's share is the same for all (and smaller than a first
# registration's); the differences are the programs'. Wall medians move with the load.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build/rel}
[[ $# -ge 1 ]] || set -- "$SRC/$B/qos-hook"
command -v valgrind >/dev/null || { echo "hook-callgrind: valgrind is not installed" >&2; exit 1; }
TAG=qosd-bench-$$
T=$(mktemp -d "/tmp/$TAG.XXXXXX")
OUT=${QB_OUT:-$(mktemp -d "/tmp/$TAG-out.XXXXXX")}
CGR=/sys/fs/cgroup
CGP=/$TAG
if [[ $(stat -f -c %T $CGR) == cgroup2fs ]]; then HI=(.); else HI=(); for h in cpu cpuset memory pids blkio; do [[ -d $CGR/$h ]] && HI+=("$h"); done; fi
SP= QP=
cleanup() {
	[[ -n $QP ]] && kill "$QP" 2>/dev/null
	[[ -n $SP ]] && kill "$SP" 2>/dev/null
	wait 2>/dev/null
	for h in "${HI[@]}"; do rmdir "$CGR/$h$CGP/c" "$CGR/$h$CGP" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$T/conf.d" "$T/state"
chmod 700 "$T/state"
printf '[class std]\ncpu.shares = 512\nmemory.limit = 256M\npids.limit = 256\n' >"$T/conf.d/bench.conf"
for h in "${HI[@]}"; do mkdir -p "$CGR/$h$CGP/c" || exit 1; done
if [[ -d $CGR/cpuset$CGP ]]; then
	for f in cpus mems; do
		cat "$CGR/cpuset/cpuset.$f" >"$CGR/cpuset$CGP/cpuset.$f"
		cat "$CGR/cpuset/cpuset.$f" >"$CGR/cpuset$CGP/c/cpuset.$f"
	done
fi
sleep 600 &
SP=$!
for h in "${HI[@]}"; do echo "$SP" >"$CGR/$h$CGP/c/cgroup.procs" || exit 1; done
"$SRC/$B/qosd" --config-dir "$T/conf.d" --config /dev/null --state-dir "$T/state" --socket "$T/s" \
	--cgroupfs "$CGR" >"$T/qosd.log" 2>&1 &
QP=$!
for _ in $(seq 100); do "$SRC/$B/qosctl" -s "$T/s" list >/dev/null 2>&1 && break; sleep 0.1; done

cc -O2 -static -o "$T/noop" "$SRC/bench/noop.c" || exit 1
valgrind --tool=callgrind --callgrind-out-file="$OUT/noop.out" "$T/noop" 2>"$OUT/noop.err"
echo "static-no-op $(awk '/Collected/ { print $4 }' "$OUT/noop.err")"
PERF_N=${QB_PERF-0}
PERF_N=${PERF_N:-200}
((PERF_N > 0)) && ! command -v perf >/dev/null && { echo "hook-callgrind: QB_PERF: perf is not installed (linux-perf)" >&2; exit 1; }
# perfstat NAME CMD...: page faults and task-clock of CMD, PERF_N runs
perfstat() {
	local name=$1
	shift
	((PERF_N > 0)) || return 0
	perf stat -x, -e page-faults,task-clock -r "$PERF_N" -o "$OUT/$name.perf" "$@" >/dev/null 2>&1 ||
		{ echo "hook-callgrind: perf stat of $name failed" >&2; return 1; }
	awk -F, -v n="$name" '$3 == "page-faults" { f = $1 } $3 == "task-clock" { t = $1 }
		END { printf "%s faults %s task-clock-ms %.3f\n", n, f, t }' "$OUT/$name.perf"
}
perfstat static-no-op "$T/noop"
cc -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -static-pie -fPIE -o "$T/hookone" "$SRC/bench/hookone.c" || exit 1
REQ0=$(printf '{"cmd":"register","id":"c0","pid":%d,"tenant":"bench","class":"std"}' "$SP")
if ! valgrind --tool=callgrind --callgrind-out-file="$OUT/bare-client.out" "$T/hookone" call \
	"$T/s" "$REQ0" 2>"$OUT/bare-client.err"; then
	echo "hook-callgrind: the bare client's register failed" >&2
	exit 1
fi
echo "bare-client $(awk '/Collected/ { print $4 }' "$OUT/bare-client.err")"
perfstat bare-client "$T/hookone" call "$T/s" "$REQ0" || exit 1
# oci_state ID: what podman 4 hands a createRuntime hook (its usual annotations, a bundle path)
oci_state() {
	printf '{"ociVersion":"1.0.2-dev","id":"%s","status":"created","pid":%d,' "$1" "$SP"
	printf '"bundle":"/var/lib/containers/storage/overlay-containers/%064d/userdata",' 0
	printf '"annotations":{"io.container.manager":"libpod","io.kubernetes.cri-o.Created":'
	printf '"2026-11-30T00:00:00.000000000Z","io.kubernetes.cri-o.TTY":"false",'
	printf '"io.podman.annotations.autoremove":"FALSE","io.podman.annotations.init":"FALSE",'
	printf '"io.podman.annotations.privileged":"FALSE","io.podman.annotations.publish-all":"FALSE",'
	printf '"org.opencontainers.image.stopSignal":"15","qosd.io/tenant":"bench","qosd.io/class":"std"}}'
}
i=0
for hook in "$@"; do
	i=$((i + 1))
	name=$i-$(basename "$hook")
	args=(--socket "$T/s" --config-dir "$T/conf.d" --config /dev/null --state-dir "$T/state"
		--cgroupfs "$CGR" --timeout 60)
	if ! valgrind --tool=callgrind --callgrind-out-file="$OUT/$name.out" "$hook" "${args[@]}" \
		--id "c$i" --pid "$SP" --tenant bench --class std 2>"$OUT/$name.err"; then
		echo "hook-callgrind: $hook failed:" >&2
		grep -v '^==' "$OUT/$name.err" >&2
		exit 1
	fi
	echo "$name $(awk '/Collected/ { print $4 }' "$OUT/$name.err")"
	perfstat "$name" "$hook" "${args[@]}" --id "c$i" --pid "$SP" --tenant bench --class std || exit 1
	"$hook" "${args[@]}" --id "c$i" --release || exit 1
	# the OCI form, as runc, crun, podman and CRI-O run it: a podman-like state on stdin
	oci_state "o$i" >"$T/state.json"
	if ! valgrind --tool=callgrind --callgrind-out-file="$OUT/$name-oci.out" "$hook" "${args[@]}" \
		createRuntime <"$T/state.json" 2>"$OUT/$name-oci.err"; then
		echo "hook-callgrind: $hook createRuntime failed:" >&2
		grep -v '^==' "$OUT/$name-oci.err" >&2
		exit 1
	fi
	echo "$name-oci $(awk '/Collected/ { print $4 }' "$OUT/$name-oci.err") ($(wc -c <"$T/state.json")-byte state)"
	"$hook" "${args[@]}" --id "o$i" --release || exit 1
done
WALL_N=${QB_WALL:-0}
for ((round = 1; WALL_N > 0 && round <= ${QB_WALL_ROUNDS:-3}; round++)); do
	wall() { # wall NAME CMD...
		local name=$1
		shift
		"$T/hookone" time "$WALL_N" "$@" | awk -v n="$name" '{ print "wall " n " " $3 " " $4 }'
	}
	wall static-no-op "$T/noop" || exit 1
	wall bare-client "$T/hookone" call "$T/s" "$REQ0" || exit 1
	i=0
	for hook in "$@"; do
		i=$((i + 1))
		wall "$i-$(basename "$hook")" "$hook" "${args[@]}" --id "w$i" --pid "$SP" --tenant bench \
			--class std || exit 1
	done
done
echo "profiles: $OUT (callgrind_annotate FILE)"
