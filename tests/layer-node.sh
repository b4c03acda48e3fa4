#!/bin/bash
# Node layer: a real node. Debian bookworm built from Debian's packages (tests/node/build-image.sh,
# cached under build/node), booted under qemu with systemd as PID 1 on cgroup v2, Docker, podman +
# crun and runc in it; qosd installed with "make install DESTDIR=..." and run as its systemd unit
# (contrib/qosd.service.in), driven by the real clients. The tests (tests/node/t-*.sh) run in the
# guest from tests/node/run.sh; their PASS:/FAIL:/SKIP: lines come back on the guest's second serial
# port (build/node/results.log) and are re-emitted here as "PASS: node/<name>" etc. The guest's
# console is in build/node/console.log. Each run boots a qcow2 overlay: the cached image stays clean.
#
#   QT_NODE_TIMEOUT=1800       bound on the guest's whole run (boot, tests, power-off), in seconds
#   QT_NODE_ACCEL=auto|kvm|tcg auto: KVM when /dev/kvm works and the CPU has vmx/svm
#   QT_NODE_MEM=2048 QT_NODE_SMP=2
#   QT_NODE_DIR=build/node     the image cache and the run's logs
#   QT_NODE_ONLY=t-service,t-docker   run only these node tests (debugging)
#   QT_NODE_STALL=300         a guest that sends no result line and no heartbeat for this long is
#                              stuck: the layer dumps its state (build/node/stall.log) and fails
#   QT_NODE_APPEND=...         more kernel parameters (debugging)
#   QT_NODE_UNIT=FILE          install this unit file instead of contrib/qosd.service.in (to show
#                              that a broken unit fails the layer)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
B=${QT_NODE_B:-build/rel}
N=${QT_NODE_DIR:-build/node}
BOUND=${QT_NODE_TIMEOUT:-1800}
ACCEL=${QT_NODE_ACCEL:-auto}
MEM=${QT_NODE_MEM:-2048}
SMP=${QT_NODE_SMP:-2}
QEMU=${QT_NODE_QEMU:-qemu-system-x86_64}
STALL=${QT_NODE_STALL:-300}
KAPPEND=${QT_NODE_APPEND:-}
T0=$SECONDS

note() { echo "  # node: $*"; }
die_fail() {
	echo "FAIL: node/$1: $2"
	[[ -n ${3:-} && -f $3 ]] && tail -15 "$3" | sed 's/^/  # /'
	note "layer took $((SECONDS - T0)) s"
	exit 1
}

mkdir -p "$N"
exec 8>"$N/.layer.lock"
flock -w 900 8 || die_fail lock "$N/.layer.lock held by another run for 900 s"
QPID="" TPID="" WPID="" WORK=""
cleanup() {
	[[ -n $WPID ]] && kill "$WPID" 2>/dev/null && wait "$WPID" 2>/dev/null
	# QPID is timeout(1), which passes SIGTERM on to qemu
	[[ -n $QPID ]] && kill "$QPID" 2>/dev/null && wait "$QPID" 2>/dev/null
	[[ -n $TPID ]] && kill "$TPID" 2>/dev/null && wait "$TPID" 2>/dev/null
	[[ -n $WORK ]] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
command -v socat >/dev/null || die_fail socat "socat not found (make deps installs it: the stall watchdog talks to qemu's monitor)"
command -v "$QEMU" >/dev/null || die_fail qemu "$QEMU not found (make deps installs qemu-system-x86)"

# --- the image (cached: rebuilt only when tests/node/build-image.sh changes)
t=$SECONDS
tests/node/build-image.sh "$N" 2>"$N/build.err" || die_fail image "$(grep '^node-build:' "$N/build.err" | tail -1)" "$N/build.err"
note "image: $((SECONDS - t)) s ($(tr '\n' ' ' <"$N/versions" | sed 's/ $//'))"

# --- the payload disk: make install DESTDIR=, the node tests, the helpers
t=$SECONDS
WORK=$(mktemp -d "$N/run.XXXXXX")
P=$WORK/payload
mkdir -p "$P/root" "$P/tests" "$P/helpers"
if ! make --no-print-directory install B="$B" DESTDIR="$PWD/$P/root" >"$WORK/install.log" 2>&1; then
	die_fail install "make install DESTDIR=... failed" "$WORK/install.log"
fi
grep '^installed:' "$WORK/install.log" | sed 's/^/  # node: make install: /'
if [[ -n ${QT_NODE_UNIT:-} ]]; then
	u=$(find "$P/root" -name qosd.service)
	sed "s|@SBINDIR@|/usr/local/sbin|g" "$QT_NODE_UNIT" >"$u"
	note "unit replaced by $QT_NODE_UNIT (QT_NODE_UNIT)"
fi
# the test helpers (qt-cgsample, ...) the node tests run, built for $B like the binaries
helpers=$(for h in tests/helpers/*.c; do h=${h##*/}; echo "$B/helpers/${h%.c}"; done)
# shellcheck disable=SC2086
make --no-print-directory B="$B" $helpers >"$WORK/helpers.log" 2>&1 ||
	die_fail helpers "building the test helpers failed" "$WORK/helpers.log"
cp -r tests/node "$P/tests/"
cp -r conf.d contrib "$P/"
for h in "$B"/helpers/*; do [[ -x $h ]] && cp "$h" "$P/helpers/"; done
echo "${QT_NODE_ONLY:-}" >"$P/only"
mkfs.ext4 -q -F -L qosd-payload -d "$P" "$WORK/payload.img" 64M >"$WORK/mkfs.log" 2>&1 ||
	die_fail payload "mkfs.ext4 -d of the payload failed" "$WORK/mkfs.log"
qemu-img create -q -f qcow2 -b "$PWD/$N/root.img" -F raw "$WORK/overlay.qcow2" ||
	die_fail overlay "qemu-img create (overlay on $N/root.img) failed"
truncate -s 256M "$WORK/quota.img"
note "payload and overlay: $((SECONDS - t)) s"

# --- accelerator
accel=tcg,thread=multi cpu=Nehalem
if [[ $ACCEL != tcg && -r /dev/kvm && -w /dev/kvm ]] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
	accel=kvm cpu=host
elif [[ $ACCEL == kvm ]]; then
	die_fail kvm "QT_NODE_ACCEL=kvm but /dev/kvm is not usable or the CPUs have no vmx/svm"
fi
note "accelerator: $accel -cpu $cpu, $SMP CPUs, $MEM MiB"

# hmp CMD...: run commands on qemu's human monitor, print their output (prompts and echo removed)
hmp() {
	printf '%s\n' "$@" | socat -t 4 - "UNIX-CONNECT:$MON" 2>&1 |
		sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' -e 's/\r//g' | grep -v -e '^QEMU .* monitor' -e '^(qemu)'
}
# The stall watchdog: the guest writes a result line or a heartbeat (run.sh, every 30 s) at least
# every minute. When the results file has not grown for STALL s, record where the guest is: the
# last heartbeat (which shows whether the guest runs on while its serial results stopped), qemu's
# view of the vCPUs (twice, to see whether they move), then the guest kernel's own dumps through
# sysrq on the PS/2 keyboard (console loglevel 9, blocked tasks, all CPUs' backtraces, all tasks)
# into the console log; then stop qemu. The layer reports it as node/stalled.
watchdog() {
	local last=-1 since=$SECONDS size hb
	while sleep 5; do
		size=$(stat -c %s "$RES" 2>/dev/null) || return
		if [[ $size != "$last" ]]; then
			last=$size since=$SECONDS
			continue
		fi
		((SECONDS - since >= STALL)) || continue
		hb=$(tr -d '\r' <"$HB" | tail -1)
		{
			echo "no result line or heartbeat for $((SECONDS - since)) s (results: $size bytes)"
			echo "last heartbeat (guest uptime, test): ${hb:-none}"
			echo "--- qemu: info status, info cpus, info registers -a (twice, 2 s apart)"
			hmp "info status" "info cpus"
			hmp "info registers -a" | grep -E '^(CPU#|RIP|RSP)'
			sleep 2
			hmp "info registers -a" | grep -E '^(CPU#|RIP|RSP)'
			echo "--- heartbeats (last 5)"
			tr -d '\r' <"$HB" | tail -5
		} >"$STALLF.tmp" 2>&1
		local c0 k
		c0=$(stat -c %s "$LOG")
		for k in 9 w l t; do
			hmp "sendkey alt-sysrq-$k" >/dev/null
			sleep 4
		done
		sleep 10
		{
			echo "--- console after sysrq 9 w l t ($(($(stat -c %s "$LOG") - c0)) bytes)"
			tail -c +$((c0 + 1)) "$LOG" | tr -d '\r'
		} >>"$STALLF.tmp"
		mv "$STALLF.tmp" "$STALLF"
		kill "$QPID" 2>/dev/null
		return
	done
}

# --- boot; results stream from the virtio-serial port qosd.results (the runner unit baked into the
# image starts run.sh on the second UART, whose file only keeps what run.sh says before it moves)
RES=$N/results.log LOG=$N/console.log HB=$N/heartbeat.log S1=$N/serial1.log STALLF=$N/stall.log MON=$WORK/monitor.sock
: >"$RES"
: >"$LOG"
: >"$HB"
: >"$S1"
rm -f "$STALLF"
t=$SECONDS
# a hung guest is killed at the bound (timeout -s KILL: exit 137) and counted as a failure; the
# stall watchdog below usually catches it much earlier.
# sysrq_always_enabled: the watchdog's sysrq keys (Debian's kernel.sysrq=438 leaves out the dumps);
# the heartbeat port (virtio-serial) shows whether the guest still runs when the results stop.
timeout -s KILL "$BOUND" "$QEMU" -accel "$accel" -cpu "$cpu" -m "$MEM" -smp "$SMP" -no-reboot -nodefaults -display none \
	-kernel "$N/vmlinuz" -initrd "$N/initrd.img" \
	-append "console=ttyS0 root=/dev/vda rw systemd.unified_cgroup_hierarchy=1 mitigations=off loglevel=4 systemd.show_status=0 panic=-1 cryptomgr.notests sysrq_always_enabled=1 $KAPPEND" \
	-device virtio-blk-pci,drive=root,addr=0x4 -drive "file=$WORK/overlay.qcow2,format=qcow2,if=none,id=root,cache=unsafe" \
	-device virtio-blk-pci,drive=payload,addr=0x5,serial=qosd-payload -drive "file=$WORK/payload.img,format=raw,if=none,id=payload,readonly=on" \
	-device virtio-blk-pci,drive=quota,addr=0x6,serial=qosd-quota -drive "file=$WORK/quota.img,format=raw,if=none,id=quota,cache=unsafe" \
	-device virtio-serial-pci,addr=0x7 -chardev "file,id=res,path=$RES" -device virtserialport,chardev=res,name=qosd.results \
	-chardev "file,id=hb,path=$HB" -device virtserialport,chardev=hb,name=qosd.heartbeat \
	-monitor "unix:$MON,server=on,wait=off" \
	-serial "file:$LOG" -serial "file:$S1" </dev/null >"$WORK/qemu.err" 2>&1 &
QPID=$!
tail -n +1 -s 0.3 -f --pid="$QPID" "$RES" | sed -u -e 's/\r$//' | awk '
	/^QOSD-NODE-DONE/ || /^  # node: alive / { next }
	/^(PASS|FAIL|SKIP): / { i = index($0, ": "); print substr($0, 1, i + 1) "node/" substr($0, i + 2); fflush(); next }
	/^ / { print; fflush(); next }
	{ print "  " $0; fflush() }' &
TPID=$!
watchdog &
WPID=$!
wait "$QPID"
[[ $? -eq 137 ]] && outcome=timeout || outcome=ended
[[ -s $STALLF ]] && outcome=stalled
QPID=
kill "$WPID" 2>/dev/null
wait "$WPID" 2>/dev/null
WPID=
sleep 0.5
kill "$TPID" 2>/dev/null
wait "$TPID" 2>/dev/null
TPID=
run_s=$((SECONDS - t))

res() { tr -d '\r' <"$RES"; }
fails=0
if [[ $outcome == stalled ]]; then
	echo "FAIL: node/stalled: $(head -1 "$STALLF"); killed; the guest's state is in $STALLF"
	sed -n '2,/^--- heartbeats/p' "$STALLF" | head -20 | sed 's/^/  # stall: /'
	# the guest's blocked tasks (sysrq w) and its kernel's complaints, if it answered at all
	awk '/sysrq: Show Blocked State/ { on = 1 } /sysrq: Show backtrace/ { on = 0 } on' "$STALLF" | head -40 | sed 's/^/  # stall: /'
	grep -E 'blocked for more|rcu.*stall|soft lockup|unstable' "$STALLF" | head -5 | sed 's/^/  # stall: /'
	fails=1
elif [[ $outcome == timeout ]]; then
	echo "FAIL: node/boot: the guest did not finish within $BOUND s (killed; console: $LOG, results: $RES)"
	tail -15 "$LOG" | tr -d '\r' | sed 's/^/  # console: /'
	fails=1
elif ! res | grep -q '^QOSD-NODE-DONE'; then
	echo "FAIL: node/done: the guest ended without the QOSD-NODE-DONE line (console: $LOG)"
	tail -15 "$LOG" | tr -d '\r' | sed 's/^/  # console: /'
	tr -d '\r' <"$S1" | tail -5 | sed 's/^/  # ttyS1: /'
	cat "$WORK/qemu.err" | sed 's/^/  # qemu: /'
	fails=1
elif [[ $(res | grep -cE '^(PASS|FAIL|SKIP): ') -eq 0 ]]; then
	echo "FAIL: node/results: the guest ran no tests"
	fails=1
fi
note "guest run (boot, tests, power-off): $run_s s; $(res | grep -cE '^(PASS|FAIL|SKIP): ') results"
note "layer took $((SECONDS - T0)) s"
# (not "! res | grep -q": with pipefail, grep -q closing the pipe early makes that true)
[[ $fails -eq 0 && $(res | grep -c '^FAIL: ') -eq 0 ]]
