#!/bin/bash
# podman with crun, qos-hook run from the hooks.d files "make install" put where podman reads them
# (no --hooks-dir), classed by annotations (tenant acme, class gold: 50% CPU, 48M, no swap, 100 pids).
. "$(dirname "$0")/lib.sh"
qt_init podman
IMG=localhost/qosd-test-bb:$$
note "podman $(podman version --format '{{.Client.Version}}'), runtime $(podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Version}}' | head -1), cgroup manager $(podman info --format '{{.Host.CgroupManager}}')"
note "hooks.d files: $(ls /usr/share/containers/oci/hooks.d /etc/containers/oci/hooks.d 2>/dev/null | tr '\n' ' ')"
make_rootfs "$QT_TMP/rootfs"
t=$(now_ms)
tar -C "$QT_TMP/rootfs" -c . | podman import -q - "$IMG" >/dev/null || fail import "podman import failed"
at_exit "podman rmi -f $IMG"
note "podman import of a busybox rootfs: $(($(now_ms) - t)) ms"

start_podman() {
	CID=$(podman run -d --network none --name "$1" --annotation qosd.io/tenant=acme \
		--annotation qosd.io/class=gold "$IMG" sh -c "$WORKLOAD") || return 1
	at_exit "podman rm -f -t 0 $1"
	LAST=$1
	CPID=$(podman inspect -f '{{.State.Pid}}' "$1")
}
remove_podman() { podman rm -f -t 0 "$LAST" >/dev/null; }

runtime_suite podman "50000 100000" $((48 << 20)) 100 50 hook
qt_finish
