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
qt_finish
