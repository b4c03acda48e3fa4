#!/bin/bash
# Runs inside the node VM (qosd-node-run.service, baked into the image by build-image.sh) with its
# output on the second serial port: installs what "make install DESTDIR=" put on the payload disk,
# enables qosd.service, runs tests/node/t-*.sh, prints "QOSD-NODE-DONE rc=N" and powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C LC_ALL=C
PAY=/run/qosd-payload
TEST_TIMEOUT=${QT_NODE_TEST_TIMEOUT:-240}
up() { cut -d' ' -f1 /proc/uptime; }
note() { echo "  # node: $*"; }
finish() {
	echo "QOSD-NODE-DONE rc=$1"
	sync
	sleep 0.5
	systemctl poweroff --force --force
}

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

only=$(cat "$PAY/only" 2>/dev/null)
rc=0
for t in "$PAY"/tests/node/t-*.sh; do
	n=$(basename "$t" .sh)
	[[ -z $only || ,$only, == *",$n,"* ]] || continue
	s=$(date +%s)
	timeout -k 5 "$TEST_TIMEOUT" bash "$t"
	r=$?
	[[ $r -eq 124 || $r -eq 137 ]] && echo "FAIL: $n/timeout: killed after $TEST_TIMEOUT s"
	[[ $r -ne 0 ]] && rc=1
	note "$n took $(($(date +%s) - s)) s"
done
finish $rc
