#!/bin/bash
# Docker (docker.io from Debian, systemd cgroup driver: docker-ID.scope) with an image made by
# "docker import" of a busybox root file system, classed by the [match] rule of
# tests/node/policy/docker.conf (class standard: 30% CPU, 40M, no swap, 77 pids).
. "$(dirname "$0")/lib.sh"
qt_init docker
IMG=qosd-test-bb:$$
if ! wait_for 90 docker info >/dev/null; then
	fail dockerd "docker info fails 90 s after boot: $(docker info 2>&1 | tail -1)"
	exit 1
fi
note "$(docker version --format 'docker {{.Server.Version}}, containerd {{range .Server.Components}}{{if eq .Name "containerd"}}{{.Version}}{{end}}{{end}}') cgroup driver $(docker info --format '{{.CgroupDriver}}'), cgroup v$(docker info --format '{{.CgroupVersion}}')"
make_rootfs "$QT_TMP/rootfs"
t=$(now_ms)
tar -C "$QT_TMP/rootfs" -c . | docker import - "$IMG" >"$QT_TMP/import.out" 2>&1 || fail import "docker import failed: $(tail -2 "$QT_TMP/import.out")"
at_exit "docker rmi -f $IMG"
note "docker import of a busybox rootfs: $(($(now_ms) - t)) ms"

start_docker() {
	CID=$(docker run -d --name "$1" "$IMG" sh -c "$WORKLOAD") || return 1
	at_exit "docker rm -f $1"
	LAST=$1
	CPID=$(docker inspect -f '{{.State.Pid}}' "$1")
	[[ $(cg_of_pid "$CPID") == /system.slice/docker-$CID.scope ]] ||
		note "unexpected cgroup $(cg_of_pid "$CPID") for $CID"
}
remove_docker() { docker rm -f "$LAST" >/dev/null; }

runtime_suite docker "30000 100000" $((40 << 20)) 77 30 match

# Issue 14's baseline: values written straight into a docker-ID.scope (as qosd writes them today),
# then systemctl daemon-reload, then another unit started and stopped: which values does systemd
# revert, and to what? qosd is stopped meanwhile so that nothing corrects them. This documents
# current behaviour (reverts are expected); it passes when it measured every knob.
systemctl stop qosd
CID=$(docker run -d --name "$QT_ID-revert" "$IMG" sleep 600)
at_exit "docker rm -f $QT_ID-revert"
RCG=$(cg_of_pid "$(docker inspect -f '{{.State.Pid}}' "$QT_ID-revert")")
declare -A WANT=([cpu.max]="30000 100000" [memory.max]=41943040 [memory.swap.max]=0 [pids.max]=77)
write_class() { local k; for k in "${!WANT[@]}"; do echo "${WANT[$k]}" >"$CG$RCG/$k"; done; }
# sample WHAT: one line per knob, and how many reverted
sample() {
	local k v n=0 out=
	for k in cpu.max memory.max memory.swap.max pids.max; do
		v=$(knob "$RCG" "$k")
		[[ -n $v ]] || { fail "revert-$1" "could not read $RCG/$k"; return; }
		if [[ $v == "${WANT[$k]}" ]]; then out+=" $k kept;"; else out+=" $k '${WANT[$k]}' -> '$v';" n=$((n + 1)); fi
	done
	pass "revert-$1"
	note "systemd, $1 on $RCG:$out ($n of 4 reverted)"
}
write_class
sample written
systemctl daemon-reload
sleep 1
sample daemon-reload
write_class
systemd-run --quiet --unit="$QT_ID-other" sleep 1
sleep 2
systemctl stop "$QT_ID-other" 2>/dev/null
sample other-unit-start-stop
write_class
systemctl set-property --runtime "docker-$CID.scope" CPUWeight=100
sleep 1
sample set-property-cpuweight
systemctl start qosd
qt_finish
