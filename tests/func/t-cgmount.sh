#!/bin/bash
# Hierarchies mounted somewhere other than /sys/fs/cgroup (an old layout such as /cgroup/cpu):
# qosd finds them in the mount table. qosd runs in a private mount namespace where
# /sys/fs/cgroup is an empty tmpfs and this host's v1 hierarchies are mounted a second time under
# the test's directory: the same hierarchies, so what qosd writes there the host sees at
# /sys/fs/cgroup. The namespace and its mounts end with qosd.
source "$(dirname "$0")/lib.sh"
qt_init cgmount

if [[ $QT_V == 2 ]]; then
	skip all "the old per-controller layout is cgroup v1's"
	exit 0
fi
if ! command -v unshare >/dev/null; then
	skip all "unshare (util-linux) is not installed"
	exit 0
fi
# the controller set of each hierarchy qosd uses, as mounted here ("cpu" or "cpu,cpuacct")
OLD=$QT_TMP/cgroup
mounts=()
for c in cpu cpuset memory pids blkio; do
	opts=$(awk -v c="$c" '$0 ~ / - cgroup / {
		n = split($NF, o, ","); s = ""; hit = 0
		for (i = 1; i <= n; i++) {
			if (o[i] == "rw" || o[i] == "ro") continue
			if (o[i] == c) hit = 1
			s = s (s == "" ? "" : ",") o[i]
		}
		if (hit) { print s; exit }
	}' /proc/self/mountinfo)
	[[ -n $opts ]] && mounts+=("$opts")
done
printf -v mount_cmds 'mkdir -p "%s/%s" && mount -t cgroup -o "%s" qosd-test "%s/%s"\n' \
	$(for o in "${mounts[@]}"; do echo "$OLD" "$o" "$o" "$OLD" "$o"; done)
cat >"$QT_TMP/ns.sh" <<EOF
set -e
mount -t tmpfs qosd-test-empty /sys/fs/cgroup
$mount_cmds
exec "$QOSD" --config-dir "$QT_TMP/conf.d" --state-dir "$QT_TMP/state" --socket "$QT_TMP/qosd.sock" \\
	--cgroupfs /sys/fs/cgroup --log-level debug
EOF
qt_policy qt <<EOF
[class plain]
cpu.shares = 512
memory.limit = 64M

[match]
$QT_CGP/m-* = plain
EOF
QT_SOCK=$QT_TMP/qosd.sock
QT_QOSD_LOG=$QT_TMP/qosd.log
unshare -m --propagation private bash "$QT_TMP/ns.sh" >>"$QT_QOSD_LOG" 2>&1 &
QT_QOSD_PID=$!
if ! qt_wait 10 test -S "$QT_SOCK" || ! qt_wait 10 "$QOSCTL" -s "$QT_SOCK" list >/dev/null; then
	fail start "qosd did not start in a namespace without /sys/fs/cgroup/cpu: $(tail -3 "$QT_QOSD_LOG")"
	qt_finish
	exit 0
fi
pass start
# the setup means something: qosd's own view has nothing at /sys/fs/cgroup/cpu
check ns-hides-standard "qosd still sees /sys/fs/cgroup/cpu" test ! -e "/proc/$QT_QOSD_PID/root/sys/fs/cgroup/cpu"
check ns-old-layout "no cpu hierarchy at $OLD in qosd's namespace" \
	grep -q " $OLD/cpu[, ].* - cgroup " "/proc/$QT_QOSD_PID/mountinfo"
check log-says-where "the log does not name the hierarchy it found" \
	grep -q "cpu hierarchy at $OLD/cpu.* (mount table)" "$QT_QOSD_LOG"

qt_cg_mkdir "$QT_CGP/m-1"
is() { [[ $(qt_knob "$1" "$2" "$3") == "$4" ]]; }
check applied-cpu "cpu.shares=$(qt_knob $QT_CGP/m-1 cpu cpu.shares), want 512 (seen from the host)" \
	qt_wait 5 is "$QT_CGP/m-1" cpu cpu.shares 512
check applied-memory "memory.limit_in_bytes=$(qt_knob $QT_CGP/m-1 memory memory.limit_in_bytes)" \
	qt_wait 5 is "$QT_CGP/m-1" memory memory.limit_in_bytes $((64 << 20))
out=$(qosctl show m-1)
check show-readback "show m-1: $(grep cpu.shares <<<"$out")" grep -qE "^cpu.shares +cpu.shares +512 +512" <<<"$out"
qt_finish
