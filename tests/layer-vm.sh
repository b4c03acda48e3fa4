#!/bin/bash
# VM layer: the func tests on cgroup v2 and with XFS project quotas, under qemu with Debian's own
# kernel (this host is cgroup v1 and has no quota support). tests/vm/build-image.sh fetches the
# kernel (cached in build/vm) and builds a fresh initramfs from $B; the guest's /init (tests/vm/init)
# runs QT_LAYER=vm tests/layer-func.sh and prints its PASS:/FAIL:/SKIP: lines on the serial console,
# which this script streams to build/vm/console.log and re-emits as "PASS: vm/<name>" etc.
#
#   QT_VM_ACCEL=auto|kvm|tcg   auto: KVM when /dev/kvm works (a boot that does not reach /init
#                              within QT_VM_KVM_WAIT s falls back to TCG, remembered in build/vm)
#   QT_VM_TIMEOUT=560          bound on the guest's whole run, in seconds (a hang, not a timing check)
#   QT_VM_TEST_TIMEOUT=150     bound on each func test script inside the guest
#   QT_VM_MEM=2048 QT_VM_SMP=2 QT_VM_TCG_CPU=Nehalem
#   QT_VM_ONLY=t-vm-smoke,t-quota   run only these func tests in the guest (for debugging)
#   QT_VM_BENCH=qos            run bench/qos.sh in the guest instead of the tests (make bench-qos
#                              VM=1), with DUR, RATE, WORK_US, HOGS, REPS (defaults for TCG: 20, 50, 2000)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# The guest runs the release build: the host's func layer already runs every test under
# ASan/UBSan, and under emulation a sanitizer binary's start-up alone costs ~250 ms.
B=${QT_VM_B:-build/rel}
VM=build/vm
LOG=$VM/console.log
ACCEL=${QT_VM_ACCEL:-auto}
BOUND=${QT_VM_TIMEOUT:-560}
KVM_WAIT=${QT_VM_KVM_WAIT:-10}
TEST_TIMEOUT=${QT_VM_TEST_TIMEOUT:-150}
MEM=${QT_VM_MEM:-2048}
# TCG: a CPU without AVX (emulated AVX memcpy made dd 10x slower than with -cpu max) but with SSE4.2
TCG_CPU=${QT_VM_TCG_CPU:-Nehalem}
SMP=${QT_VM_SMP:-2}
T0=$(date +%s%N)
QEMU=${QT_VM_QEMU:-qemu-system-x86_64}
# no speculation mitigations (page-table isolation makes every syscall dear under emulation) and no
# crypto self-tests at boot: neither changes what the tests see
KARGS=${QT_VM_KARGS:-mitigations=off cryptomgr.notests}

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
secs() { printf '%d.%01d' $(($1 / 1000)) $((($1 % 1000) / 100)); }
note() { echo "  # vm: $*"; }
layer_time() { note "layer took $(secs "$(ms_since "$T0")") s"; }
die_fail() {
	echo "FAIL: vm/$1: $2"
	[[ -n ${3:-} && -f $3 ]] && tail -15 "$3" | sed 's/^/  # /'
	layer_time
	exit 1
}

mkdir -p "$VM"
# one VM run per work tree at a time (console.log, disk images, the initramfs)
exec 8>"$VM/.layer.lock"
if ! flock -n 8; then
	note "another VM layer run in this tree holds $VM/.layer.lock; waiting for it (up to 600 s)"
	flock -w 600 8 || die_fail lock "$VM/.layer.lock still held after 600 s"
fi
QPID="" TPID="" XFS_IMG="" SCRATCH_IMG=""
cleanup() {
	[[ -n $QPID ]] && kill -9 "$QPID" 2>/dev/null && wait "$QPID" 2>/dev/null
	[[ -n $TPID ]] && kill "$TPID" 2>/dev/null && wait "$TPID" 2>/dev/null
	rm -f "$XFS_IMG" "$SCRATCH_IMG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

case $(stat -f -c %T /sys/fs/cgroup 2>/dev/null) in
cgroup2fs) hostcg="unified (v2)" ;;
tmpfs) [[ $(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]] && hostcg="hybrid (v1)" || hostcg="legacy (v1)" ;;
*) hostcg=unknown ;;
esac
note "host: kernel $(uname -r), cgroup mode $hostcg; the guest below is cgroup v2 with XFS project quota"
command -v "$QEMU" >/dev/null ||
	die_fail qemu "$QEMU not found (make deps installs qemu-system-x86)"

# --- kernel (cached) and a fresh initramfs
t=$(date +%s%N)
if ! B=$B tests/vm/build-image.sh "$VM" 2>"$VM/build.err"; then
	die_fail image "$(grep '^vm-build:' "$VM/build.err" | tail -1 || tail -1 "$VM/build.err")" "$VM/build.err"
fi
KVER=$(cat "$VM/kernel-version")
note "guest kernel package: $(cat "$VM/kernel-package"); image built in $(secs "$(ms_since "$t")") s"

# --- disks, made here and removed on exit: an XFS one (mkfs'd in the guest) and a raw scratch one
XFS_IMG=$(mktemp "$VM/xfs.XXXXXX.img")
SCRATCH_IMG=$(mktemp "$VM/scratch.XXXXXX.img")
truncate -s 512M "$XFS_IMG" && truncate -s 256M "$SCRATCH_IMG" ||
	die_fail disks "could not create the disk images in $VM"

# --- accelerator: KVM when it works, else TCG (plain emulation)
KVM_KEY="$(uname -r) $($QEMU --version | head -1) $KVER"
kvm_cpu() {
	[[ -r /dev/kvm && -w /dev/kvm ]] || { echo "no usable /dev/kvm" >&2; return 1; }
	# a host whose CPUs show neither vmx nor svm (itself a VM without nested virtualisation)
	# has a /dev/kvm that starts qemu but never boots a guest: do not spend the probe on it
	grep -qwE 'vmx|svm' /proc/cpuinfo ||
		{ echo "/dev/kvm exists but the CPUs show no vmx/svm flag" >&2; return 1; }
	if [[ -f $VM/kvm-broken && $(cat "$VM/kvm-broken") == "$KVM_KEY" ]]; then
		echo "KVM did not boot this kernel on this host before ($VM/kvm-broken)" >&2
		return 1
	fi
	local cpu
	# some nested setups refuse MSRs of -cpu host (arch-capabilities); -S stops before any guest code
	for cpu in host host,-arch-capabilities; do
		if echo quit | timeout 10 "$QEMU" -accel kvm -cpu "$cpu" -nodefaults -display none -S \
			-monitor stdio >/dev/null 2>&1; then
			echo "$cpu"
			return 0
		fi
	done
	echo "qemu -accel kvm fails to start" >&2
	return 1
}

# boot ACCEL CPU WAIT_FOR_INIT: runs the guest, streams its console; sets BOOT_MS, RUN_MS, OUTCOME
# (done | timeout | noinit | ended)
boot() {
	local accel=$1 cpu=$2 init_wait=$3 t0 begin_ms=
	: >"$LOG"
	t0=$(date +%s%N)
	[[ $accel == tcg ]] && accel=tcg,thread=multi
	"$QEMU" -accel "$accel" -cpu "$cpu" -kernel "$VM/vmlinuz" -initrd "$VM/initrd.img" \
		-append "console=ttyS0 panic=-1 quiet $KARGS QT_B=$B QT_TIMEOUT=$TEST_TIMEOUT${QT_VM_ONLY:+ QT_VM_ONLY=$QT_VM_ONLY}$BENCH_ARGS" \
		-nographic -m "$MEM" -smp "$SMP" -no-reboot -nic none \
		-drive "file=$XFS_IMG,format=raw,if=none,id=xfs,cache=unsafe" \
		-device virtio-blk-pci,drive=xfs,serial=qosd-xfs \
		-drive "file=$SCRATCH_IMG,format=raw,if=none,id=scratch,cache=none" \
		-device virtio-blk-pci,drive=scratch,serial=qosd-scratch \
		</dev/null >"$LOG" 2>&1 &
	QPID=$!
	tail -n +1 -s 0.2 -f --pid="$QPID" "$LOG" | relay &
	TPID=$!
	OUTCOME=ended
	while kill -0 "$QPID" 2>/dev/null; do
		sleep 0.2
		if [[ -z $begin_ms ]] && grep -q 'QOSD-VM-BEGIN' "$LOG"; then
			begin_ms=$(ms_since "$t0")
		fi
		if [[ -z $begin_ms && -n $init_wait ]] && (($(ms_since "$t0") > init_wait * 1000)); then
			OUTCOME=noinit
			kill -9 "$QPID" 2>/dev/null
			break
		fi
		if (($(ms_since "$t0") > BOUND * 1000)); then
			OUTCOME=timeout
			kill -9 "$QPID" 2>/dev/null
			break
		fi
	done
	wait "$QPID" 2>/dev/null
	QPID=
	wait "$TPID" 2>/dev/null
	TPID=
	[[ -z $begin_ms ]] && grep -q 'QOSD-VM-BEGIN' "$LOG" && begin_ms=$(ms_since "$t0")
	RUN_MS=$(ms_since "$t0")
	BOOT_MS=${begin_ms:-}
	[[ $OUTCOME == ended ]] && grep -q '^QOSD-VM-DONE' <(tr -d '\r' <"$LOG") && OUTCOME="done"
}

# The guest's console: hide the boot noise before QOSD-VM-BEGIN, re-emit results under vm/, indent
# the rest. Escape sequences (SeaBIOS clears the screen) and CRs are stripped.
relay() {
	sed -u -e 's/\r$//' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' | awk '
		/QOSD-VM-BEGIN/ { on = 1; next }
		!on { next }
		/^QOSD-VM-DONE/ { on = 0; next }
		/^(PASS|FAIL|SKIP): / { i = index($0, ": "); print substr($0, 1, i + 1) "vm/" substr($0, i + 2); fflush(); next }
		/^ / { print; fflush(); next }
		{ print "  " $0; fflush() }'
}

BENCH_ARGS=
[[ -n ${QT_VM_BENCH:-} ]] &&
	BENCH_ARGS=" QT_VM_BENCH=$QT_VM_BENCH DUR=${DUR:-20} RATE=${RATE:-50} WORK_US=${WORK_US:-2000} HOGS=${HOGS:-cpu,mem,io} REPS=${REPS:-1}"
# make bench-qos VM=1: up to six scenarios of DUR seconds per round, each with a few seconds of
# start and stop under TCG; the tests' bound cut REPS=3 off in its third round (561 s)
if [[ -n ${QT_VM_BENCH:-} && -z ${QT_VM_TIMEOUT:-} ]]; then
	bench_bound=$((${REPS:-1} * 6 * (${DUR:-20} + 15) + 180))
	((bench_bound > BOUND)) && BOUND=$bench_bound
fi
OUTCOME="" BOOT_MS="" RUN_MS=0
mode=
case $ACCEL in
kvm)
	cpu=$(kvm_cpu 2>"$VM/kvm.err") || die_fail kvm "QT_VM_ACCEL=kvm but $(cat "$VM/kvm.err")"
	mode="kvm -cpu $cpu"
	note "accelerator: $mode"
	boot kvm "$cpu" ""
	;;
tcg | auto)
	if [[ $ACCEL == auto ]] && cpu=$(kvm_cpu 2>"$VM/kvm.err"); then
		mode="kvm -cpu $cpu"
		note "accelerator: $mode"
		boot kvm "$cpu" "$KVM_WAIT"
		if [[ $OUTCOME == noinit ]]; then
			note "KVM: the guest did not reach /init within $KVM_WAIT s (nested virtualization?);" \
				"falling back to TCG, and to TCG directly while $VM/kvm-broken says so"
			echo "$KVM_KEY" >"$VM/kvm-broken"
			mode=
		else
			rm -f "$VM/kvm-broken"
		fi
	elif [[ $ACCEL == auto ]]; then
		note "KVM not used: $(cat "$VM/kvm.err")"
	fi
	if [[ -z $mode ]]; then
		mode="tcg -cpu $TCG_CPU"
		note "accelerator: $mode (plain emulation)"
		boot tcg "$TCG_CPU" ""
	fi
	;;
*) die_fail accel "QT_VM_ACCEL must be auto, kvm or tcg (got '$ACCEL')" ;;
esac

# --- outcome
clean_log() { tr -d '\r' <"$LOG" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g'; }
guest_fails=$(clean_log | grep -c '^FAIL: ' || true)
guest_results=$(clean_log | grep -cE '^(PASS|FAIL|SKIP): ' || true)
rc_line=$(clean_log | grep -o '^QOSD-VM-DONE rc=[0-9]*' | tail -1)
grc=${rc_line##*rc=}
fails=$guest_fails
case $OUTCOME in
timeout)
	echo "FAIL: vm/boot: guest did not finish within $BOUND s (killed; console: $LOG)"
	clean_log | tail -15 | sed 's/^/  # console: /'
	fails=$((fails + 1))
	;;
ended)
	if [[ -z $BOOT_MS ]]; then
		echo "FAIL: vm/boot: the guest never reached /init (qemu exited; console: $LOG)"
	else
		echo "FAIL: vm/done: the guest ended without the QOSD-VM-DONE line (crash or panic? console: $LOG)"
	fi
	clean_log | tail -15 | sed 's/^/  # console: /'
	fails=$((fails + 1))
	;;
noinit) ;; # not reached: a KVM boot that hangs falls back to TCG
done)
	if [[ $grc != 0 && $guest_fails -eq 0 ]]; then
		echo "FAIL: vm/func: tests/layer-func.sh exited $grc in the guest without a FAIL line"
		fails=$((fails + 1))
	fi
	if [[ $guest_results -eq 0 && -z ${QT_VM_BENCH:-} ]]; then
		echo "FAIL: vm/results: the guest ran no tests (no PASS/FAIL/SKIP lines; console: $LOG)"
		fails=$((fails + 1))
	fi
	;;
esac
note "accelerator $mode; boot to /init $( [[ -n $BOOT_MS ]] && secs "$BOOT_MS" || echo '-') s;" \
	"guest run $(secs "$RUN_MS") s; $guest_results results from the guest"
layer_time
[[ $fails -eq 0 ]]
