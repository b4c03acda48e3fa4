# Shared by the node tests (tests/node/t-*.sh), which run inside the node VM as root with systemd
# as PID 1, qosd installed by make install and running as qosd.service. Each test prints
# PASS:/FAIL:/SKIP: lines and "  # ..." notes with what it measured; cleanup runs on every exit.
# Names the tests create start with qosd-test-<pid>.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C LC_ALL=C
PAY=${PAY:-/run/qosd-payload}
CG=/sys/fs/cgroup
QT_FAILS=0
QT_ID=qosd-test-$$
QT_CLEANUP=()

pass() { echo "PASS: $QT_NAME/$1"; }
fail() {
	echo "FAIL: $QT_NAME/$1: ${*:2}"
	QT_FAILS=$((QT_FAILS + 1))
}
skip() { echo "SKIP: $QT_NAME/$1: ${*:2}"; }
note() { echo "  # $*"; }
# check NAME WHY-IF-FAILED CMD...
check() {
	local n=$1 why=$2
	shift 2
	if "$@"; then pass "$n"; else fail "$n" "$why"; fi
}
# eq NAME WHAT GOT WANT: pass when equal, and say what was read either way
eq() {
	if [[ $3 == "$4" ]]; then
		pass "$1"
		note "$2: $3"
	else
		fail "$1" "$2 is '$3', expected '$4'"
	fi
}

qt_init() {
	QT_NAME=$1
	QT_TMP=$(mktemp -d "/tmp/$QT_ID-$QT_NAME.XXXXXX")
	trap qt_cleanup EXIT
	trap 'exit 130' INT TERM
}
# at_exit CMD: run CMD (a string) at cleanup, last registered first
at_exit() { QT_CLEANUP=("$1" "${QT_CLEANUP[@]}"); }
qt_cleanup() {
	local c
	for c in "${QT_CLEANUP[@]}"; do eval "$c" >/dev/null 2>&1; done
	rm -rf "$QT_TMP"
}

# wait_for TIMEOUT_S CMD...: poll CMD every 100 ms; 1 on timeout
wait_for() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@" 2>/dev/null; do
		(($(date +%s) > end)) && return 1
		sleep 0.1
	done
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# cg_of_pid PID: the pid's cgroup v2 path (relative to /sys/fs/cgroup, leading /)
cg_of_pid() { sed -n 's/^0:://p' "/proc/$1/cgroup"; }
knob() { cat "$CG$1/$2" 2>/dev/null; }
# knob_is CGPATH FILE VALUE (for wait_for: evaluated on every poll)
knob_is() { [[ $(knob "$1" "$2") == "$3" ]]; }
stat_field() { awk -v k="$3" '$1 == k { print $2 }' "$CG$1/$2"; }

# The class values the tests' policy gives (tests/node/policy/*.conf)
# expect_class CGPATH PREFIX CPU_MAX MEMORY_MAX SWAP_MAX PIDS_MAX: one PASS per knob
expect_class() {
	eq "$2-cpu.max" "$1 cpu.max" "$(knob "$1" cpu.max)" "$3"
	eq "$2-memory.max" "$1 memory.max" "$(knob "$1" memory.max)" "$4"
	eq "$2-memory.swap.max" "$1 memory.swap.max" "$(knob "$1" memory.swap.max)" "$5"
	eq "$2-pids.max" "$1 pids.max" "$(knob "$1" pids.max)" "$6"
}

# class_now CGPATH CPU_MAX MEM_MAX PIDS_MAX: the knobs hold the class now (builtin reads, no fork)
class_now() {
	local a b c d
	{ read -r a <"$CG$1/cpu.max" && read -r b <"$CG$1/memory.max" &&
		read -r c <"$CG$1/memory.swap.max" && read -r d <"$CG$1/pids.max"; } 2>/dev/null || return 1
	[[ $a == "$2" && $b == "$3" && $c == 0 && $d == "$4" ]]
}

# expect_held CGPATH PREFIX CPU_MAX MEM_MAX PIDS_MAX SECONDS: from the moment the runtime's start
# command returned, every sample (each 50 ms) shows the class. On a systemd node the runtime's
# systemd driver re-applies the unit's own values (issue 14): a container can start limited and
# be reverted to unlimited; this catches it.
expect_held() {
	local end=$((${EPOCHREALTIME/./} + $6 * 1000000)) n=0 bad=0 first=
	while ((${EPOCHREALTIME/./} < end)); do
		n=$((n + 1))
		if ! class_now "$1" "$3" "$4" "$5"; then
			bad=$((bad + 1))
			[[ -n $first ]] || first="cpu.max '$(knob "$1" cpu.max)' memory.max '$(knob "$1" memory.max)' memory.swap.max '$(knob "$1" memory.swap.max)' pids.max '$(knob "$1" pids.max)'"
		fi
		sleep 0.05
	done
	if ((bad == 0)); then
		pass "$2-held-from-start"
		note "$1: class held in all $n samples over $6 s after the start command returned"
	else
		fail "$2-held-from-start" "$bad of $n samples over $6 s after start lack the class (first: $first)"
		journalctl -u qosd --no-pager -o cat | grep -F "${1##*/}" | tail -5 | sed 's/^/  #   qosd: /'
	fi
}

# The container workload: wait until its memory limit is set (the container reads its own
# cgroup), grow an awk string until the OOM killer stops it, then burn CPU forever.
WORKLOAD='while [ "$(cat /sys/fs/cgroup/memory.max)" = max ]; do sleep 0.2; done; awk "BEGIN { s = \"0123456789abcdef\"; while (1) s = s s }"; while :; do :; done'

oom_seen() { [[ $(stat_field "$1" memory.events oom_kill) -ge 1 ]]; }
# expect_oom CGPATH PREFIX LIMIT_BYTES: the awk in the workload was OOM-killed at the limit
expect_oom() {
	if wait_for 60 oom_seen "$1"; then
		local peak
		peak=$(knob "$1" memory.peak)
		if [[ -n $peak && $peak -le $3 ]]; then
			pass "$2-oom"
			note "$1: oom_kill $(stat_field "$1" memory.events oom_kill), memory.peak $peak <= memory.max $3"
		else
			fail "$2-oom" "memory.peak $peak above the limit $3"
		fi
	else
		fail "$2-oom" "no oom_kill in $1/memory.events within 60 s ($(tr '\n' ' ' <"$CG$1/memory.events"))"
	fi
}

# expect_cpu CGPATH PREFIX QUOTA_PERCENT: the burner's CPU over 4 s is held to the quota (with
# a margin for the clock of an emulated machine) and the kernel throttled it
expect_cpu() {
	local u0 u1 t0 t1 th0 th1 w pct
	sleep 1
	u0=$(stat_field "$1" cpu.stat usage_usec) th0=$(stat_field "$1" cpu.stat nr_throttled) t0=$(date +%s%N)
	sleep 4
	u1=$(stat_field "$1" cpu.stat usage_usec) th1=$(stat_field "$1" cpu.stat nr_throttled) t1=$(date +%s%N)
	w=$(((t1 - t0) / 1000))
	pct=$(((u1 - u0) * 100 / w))
	if ((pct <= $3 + $3 / 5 && th1 > th0)); then
		pass "$2-cpu-quota"
		note "$1: burner used $pct% of a CPU over $((w / 1000)) ms (quota $3%), throttled $((th1 - th0)) times"
	else
		fail "$2-cpu-quota" "burner used $pct% of a CPU (quota $3%), throttled $((th1 - th0)) times"
	fi
}

# forgotten ID PREFIX: qosd drops the container once it is gone
expect_forgotten() {
	if wait_for 30 sh -c "! qosctl list | grep -q '$1'"; then
		pass "$2-forgotten"
	else
		fail "$2-forgotten" "qosctl list still shows $1 30 s after removal: $(qosctl list | grep "$1")"
	fi
}

# A busybox root file system (busybox-static and its applets as links) for containers
make_rootfs() {
	local r=$1 a
	mkdir -p "$r"/{bin,dev,proc,sys,tmp,etc,root}
	cp /bin/busybox "$r/bin/busybox"
	for a in sh awk cat sleep ls ps dd head rm mkdir touch echo true seq; do ln -sf busybox "$r/bin/$a"; done
	echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
}

qt_finish() {
	if [[ $QT_FAILS -gt 0 ]]; then
		note "qosd's journal (last 20 lines):"
		journalctl -u qosd -n 20 --no-pager 2>/dev/null | sed 's/^/  #   /'
	fi
	return 0
}

# origin ID: the ORIGIN column of qosctl list for ID (hook, match, operator)
origin_of() { qosctl list --json 2>/dev/null | jq -r --arg id "$1" '.. | objects | select(.id? == $id) | .origin' | head -1; }

# runtime_suite R CPU_MAX MEM_MAX PIDS_MAX QUOTA_PCT ORIGIN: the same checks for every runtime.
# The test file defines start_R NAME (sets CID, the id qosd knows, and CPID, the container's pid;
# the container runs $WORKLOAD) and remove_R (removes the last container started).
runtime_suite() {
	local r=$1 cpu=$2 mem=$3 pids=$4 pct=$5 org=$6 cgp t o
	# --- with qosd running
	t=$(now_ms)
	if ! "start_$r" "$QT_ID-$r-1"; then
		fail "$r-start" "could not start a container"
		return
	fi
	cgp=$(cg_of_pid "$CPID")
	note "$r: container $CID, pid $CPID, cgroup $cgp, started in $(($(now_ms) - t)) ms"
	expect_held "$cgp" "$r" "$cpu" "$mem" "$pids" 3
	if ! class_now "$cgp" "$cpu" "$mem" "$pids"; then
		t=$(now_ms)
		wait_for 40 class_now "$cgp" "$cpu" "$mem" "$pids"
		note "$r: class in place $(($(now_ms) - t)) ms later (qosd's drift pass, drift_interval 30 s)"
	fi
	expect_class "$cgp" "$r" "$cpu" "$mem" 0 "$pids"
	o=$(origin_of "$CID")
	eq "$r-origin" "qosctl list: $CID origin" "$o" "$org"
	expect_oom "$cgp" "$r" "$mem"
	expect_cpu "$cgp" "$r" "$pct"
	"remove_$r"
	expect_forgotten "$CID" "$r"

	# --- with qosd stopped: the hook applies the class itself (docker: nothing does until qosd
	# starts); qosd adopts the container at start, before it says READY=1
	systemctl stop qosd
	if ! "start_$r" "$QT_ID-$r-2"; then
		fail "$r-down-start" "could not start a container with qosd stopped"
		systemctl start qosd
		return
	fi
	cgp=$(cg_of_pid "$CPID")
	note "$r, qosd stopped: container $CID in $cgp: memory.max $(knob "$cgp" memory.max), cpu.max $(knob "$cgp" cpu.max)"
	[[ $org == hook ]] && expect_class "$cgp" "$r-down-hook" "$cpu" "$mem" 0 "$pids"
	t=$(now_ms)
	systemctl start qosd
	# Type=notify: systemctl start returns once qosd said READY=1, which it says after adopting
	# every known container: the limits must be in place now, without waiting
	note "$r: systemctl start qosd returned after $(($(now_ms) - t)) ms"
	expect_class "$cgp" "$r-ready" "$cpu" "$mem" 0 "$pids"
	check "$r-adopted" "qosctl list does not show $CID after qosd started" \
		wait_for 10 sh -c "qosctl list | grep -q '$CID'"
	expect_oom "$cgp" "$r-down" "$mem"
	expect_cpu "$cgp" "$r-down" "$pct"
	"remove_$r"
	expect_forgotten "$CID" "$r-down"
}
