# Shared by the systemd tests of issue 14 (t-sdunit.sh, t-sdslice.sh, t-sdio.sh), after lib.sh
# and qt_init: not a test itself (the runner runs t-*.sh only).

# sd_image IMG: wait for dockerd, and import a busybox root file system as IMG (removed at exit);
# exits the test when either fails
sd_image() {
	if ! wait_for 90 docker info >/dev/null; then
		fail dockerd "docker info fails 90 s after boot: $(docker info 2>&1 | tail -1)"
		exit 1
	fi
	make_rootfs "$QT_TMP/rootfs"
	tar -C "$QT_TMP/rootfs" -c . | docker import - "$1" >/dev/null || {
		fail import "docker import failed"
		exit 1
	}
	at_exit "docker rmi -f $1"
}
