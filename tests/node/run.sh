#!/bin/bash
# Runs inside the node VM (qosd-node-run.service, baked into the image by build-image.sh), which
# starts it with its output on the second serial port; it moves its output to the virtio-serial
# port "qosd.results" (see below) when there is one. Installs what "make install DESTDIR=" put on the payload disk,
# enables qosd.service, runs tests/node/t-*.sh, prints "QOSD-NODE-DONE rc=N" and powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C LC_ALL=C
PAY=/run/qosd-payload
TEST_TIMEOUT=${QT_NODE_TEST_TIMEOUT:-240}
up() { cut -d' ' -f1 /proc/uptime; }
# vport NAME: the device of the virtio-serial port NAME (the layer's qemu gives two)
vport() {
	local p
	for p in /sys/class/virtio-ports/*; do
		[[ $(cat "$p/name" 2>/dev/null) == "$1" ]] && echo "/dev/${p##*/}" && return
	done
	return 1
}
# The results go to a virtio-serial port rather than the 16550 UART the runner unit starts us on:
# a UART transmits from its interrupt handler and a writer blocks once its buffer is full, so a
# lost transmit interrupt under TCG would stop the results and block every later echo (the test,
# its timeout's FAIL line, the final QOSD-NODE-DONE) while the guest runs on. A virtqueue to a
# file on the host does not depend on that.
if RESP=$(vport qosd.results); then
	echo "results on the virtio-serial port $RESP"
	exec >"$RESP" 2>&1
fi
note() { echo "  # node: $*"; }
finish() {
	echo "QOSD-NODE-DONE rc=$1"
	sync
	sleep 0.5
	systemctl poweroff --force --force
}

# Heartbeat: every 30 s a line on the results port (the host's stall watchdog counts it as progress)
# and one on a virtio-serial port of its own (which tells the host, when the results stop, whether
# the guest still runs)
CUR=/run/qosd-node-current
echo boot >"$CUR"
heartbeat() {
	local hb
	hb=$(vport qosd.heartbeat) || hb=/dev/null
	while sleep 30; do
		echo "  # node: alive at uptime $(up) s, in $(cat "$CUR")"
		echo "$(up) $(cat "$CUR")" >"$hb"
	done
}
heartbeat &
note "reached multi-user at uptime $(up) s: $(systemd-analyze time 2>/dev/null | head -1)"
note "$(systemctl --version | head -1); kernel $(uname -r); /sys/fs/cgroup is $(stat -f -c %T /sys/fs/cgroup)"
note "system state: $(systemctl is-system-running)$(systemctl --failed --no-legend --plain | awk '{ printf " %s", $1 }')"

# --- install: the tree "make install DESTDIR=" made on the host, copied into this overlay
t=$(up)
cp -a "$PAY/root/." / || { echo "FAIL: install/copy: cp of the make install tree failed"; finish 1; }
mkdir -p /etc/qosd/conf.d
cp "$PAY"/tests/node/policy/*.conf /etc/qosd/conf.d/
systemctl daemon-reload
if systemctl enable --now qosd.service >/tmp/enable.log 2>&1; then
	echo "PASS: install/enable-now"
	note "qosd.service: $(systemctl show -p FragmentPath --value qosd), $(systemctl is-active qosd), main pid $(systemctl show -p MainPID --value qosd)"
else
	echo "FAIL: install/enable-now: systemctl enable --now qosd failed: $(tail -3 /tmp/enable.log | tr '\n' ' ')"
	systemctl status qosd --no-pager -n 15 2>&1 | sed 's/^/  #   /'
	finish 1
fi
note "install and start: $(awk -v a="$t" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }') s"

# stuck_report: the processes in state D and their kernel stacks, the kernel's last warnings
stuck_report() {
	local p
	for p in $(ps -eo pid=,stat= | awk '$2 ~ /^D/ { print $1 }'); do
		echo "  # stuck: pid $p ($(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-80)) in $(cat "/proc/$p/wchan" 2>/dev/null):"
		sed 's/^/  #   /' "/proc/$p/stack" 2>/dev/null
	done
	dmesg --level=emerg,alert,crit,err,warn 2>/dev/null | tail -20 | sed 's/^/  # kernel: /'
}

only=$(cat "$PAY/only" 2>/dev/null)
rc=0
for t in "$PAY"/tests/node/t-*.sh; do
	n=$(basename "$t" .sh)
	[[ -z $only || ,$only, == *",$n,"* ]] || continue
	s=$(date +%s)
	echo "$n" >"$CUR"
	# a test that needs longer says so in a line "# node-timeout: SECONDS"
	tt=$(sed -n 's/^# node-timeout: *\([0-9][0-9]*\).*/\1/p' "$t" | head -1)
	tt=${tt:-$TEST_TIMEOUT}
	# timeout(1) ends even when the test is stuck in the kernel (state D): its SIGKILL goes to its
	# whole process group, itself included (measured: a write to a frozen ext4)
	timeout -k 5 "$tt" bash "$t" </dev/null
	r=$?
	if [[ $r -eq 124 || $r -eq 137 ]]; then
		echo "FAIL: $n/timeout: killed after $tt s"
		stuck_report
	fi
	[[ $r -ne 0 ]] && rc=1
	note "$n took $(($(date +%s) - s)) s"
done
note "kernel: clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource), $(dmesg --level=emerg,alert,crit,err,warn | wc -l) warnings or worse"
# the most frequent of them (numbers masked), and any stall, hang or lockup
dmesg --level=emerg,alert,crit,err,warn | sed -e 's/^\[[ 0-9.]*\] //' -e 's/[0-9]\+/N/g' | sort | uniq -c | sort -rn | head -3 | sed 's/^/  # kernel: /'
dmesg --level=emerg,alert,crit,err,warn | grep -iE 'stall|hung|lockup|unstable|blocked for' | tail -5 | sed 's/^/  # kernel: /'
finish $rc
