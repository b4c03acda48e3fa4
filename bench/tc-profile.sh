#!/bin/bash
# bench/tc-profile.sh count|trace|ptrace|perf|time [N]: where qosd spends the tc row's register (class
# net: net.ingress and net.egress 10mbit on a container in a netns of its own), in figures that do
# not move with the machine's load. The world is run.sh's: a netns with a veth pair to this host's
# netns, a task in it, a fresh cgroup per round (bench/tcbench.c qosd; N rounds, default 100).
#   count  strace -f -c attached to qosd for the N rounds, and to `tcbench nl` (the floor) for N
#          rounds: syscalls per round of each (qosd's rounds include the unregister)
#   trace  strace -f of qosd for one register and one unregister (sendmsg/recvmsg with their
#          netlink message types): what qosd sends that the floor does not
#   ptrace perf trace of qosd (timestamps, durations) over 3 rounds: where a register waits
#   perf   perf stat -e task-clock,context-switches of qosd over the N rounds, and of the floor (this
#          machine's VM has no hardware counters: instructions:u/k read 0), then a perf record
#          -g of qosd over N more rounds (kernel vs user, top symbols)
#   time   the row's medians, qosd and floor alternating twice
# Needs root; everything is named qosd-bench-<pid>-... and removed on exit.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build/rel}
[[ $B == /* ]] || B=$SRC/$B
MODE=${1:-count}
N=${2:-100}
. "$SRC/bench/profile-lib.sh"
NS=$TAG
VH=qb$$h
VC=qb$$c
export QB_IFB=qb$$ifb
net_cleanup() { # the netns world, qosd's ifbs for our veth (alias "qosd veth=IFINDEX ..."), then the rest
	[[ -n $QP ]] && kill "$QP" 2>/dev/null && wait "$QP" 2>/dev/null
	QP=
	if [[ -e /sys/class/net/$VH ]]; then
		local ix p
		ix=$(cat "/sys/class/net/$VH/ifindex")
		for p in /sys/class/net/*; do
			grep -qs "^qosd veth=$ix " "$p/ifalias" && ip link del "${p##*/}" 2>/dev/null
		done
	fi
	ip link del "$QB_IFB" 2>/dev/null
	ip link del "$VH" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	cleanup
}
trap net_cleanup EXIT

cc "${CF[@]}" $(pkg-config --cflags libnl-route-3.0) \
	-o "$T/tcbench" "$SRC/bench/tcbench.c" $(pkg-config --libs libnl-route-3.0) || exit 1
profile_cgroups /tc || exit 1
ip netns add "$NS" && ip link add "$VH" type veth peer name "$VC" netns "$NS" &&
	ip link set "$VH" up && ip -n "$NS" link set "$VC" up || exit 1

"$B/qosd" --config-dir "$T/conf.d" --config "$T/qosd.conf" --state-dir "$T/state" \
	--socket "$T/s" --cgroupfs "$CGR" >"$T/qosd.log" 2>&1 &
QP=$!
for _ in $(seq 100); do "$B/qosctl" -s "$T/s" list >/dev/null 2>&1 && break; sleep 0.05; done

qosd_rounds() { "$T/tcbench" qosd "$T/s" "$CGP/tc" "$NS" "$VH" "$1" || { tail "$T/qosd.log" >&2; exit 1; }; }
attach() { # attach OUT CMD...: strace/perf attached to qosd around N rounds
	local out=$1 ap
	shift
	"$@" -p "$QP" 2>"$out" &
	ap=$!
	sleep 1
	qosd_rounds "$N" >/dev/null
	kill -INT "$ap"
	wait "$ap"
}
case $MODE in
count)
	qosd_rounds 5 >/dev/null
	attach "$T/q.strace" strace -f -c -o "$T/q.out"
	strace -f -c -o "$T/f.out" "$T/tcbench" nl "$VH" "$N" >/dev/null
	echo "qosd, $N registers + unregisters (syscalls / $N):"
	awk -v n="$N" 'NR > 2 && $NF != "total" && $4 ~ /^[0-9]+$/ { printf "%8.1f %s\n", $4 / n, $NF }
		$NF == "total" { printf "%8.1f total\n", $4 / n }' "$T/q.out" | sort -rn | head -20
	echo "floor (tcbench nl), $N rounds incl. its check dump and teardown (syscalls / $N):"
	awk -v n="$N" 'NR > 2 && $NF != "total" && $4 ~ /^[0-9]+$/ { printf "%8.1f %s\n", $4 / n, $NF }
		$NF == "total" { printf "%8.1f total\n", $4 / n }' "$T/f.out" | sort -rn | head -12
	;;
trace)
	qosd_rounds 2 >/dev/null
	strace -f -e trace=network,setns,openat,read,write -e signal=none -xx -s 64 -o "$T/q.tr" -p "$QP" 2>/dev/null &
	SP=$!
	sleep 1
	qosd_rounds 1 >/dev/null
	kill -INT "$SP"
	wait "$SP"
	cat "$T/q.tr"
	;;
ptrace)
	qosd_rounds 2 >/dev/null
	perf trace -p "$QP" -o "$T/q.pt" 2>/dev/null &
	SP=$!
	sleep 1
	qosd_rounds 3 >/dev/null
	kill -INT "$SP"
	wait "$SP"
	cat "$T/q.pt"
	;;
perf)
	qosd_rounds 5 >/dev/null
	attach "$T/q.perf" perf stat -e task-clock,context-switches
	echo "qosd, $N registers + unregisters:"
	awk -v n="$N" '/task-clock|context-switches/ { gsub(",", "", $1); printf "%14.3f per round %s\n", $1 / n, $2 }' "$T/q.perf"
	perf stat -e task-clock,context-switches -o "$T/f.perf" "$T/tcbench" nl "$VH" "$N" >/dev/null
	echo "floor (tcbench nl, the whole process, its check dump and teardown included):"
	awk -v n="$N" '/task-clock|context-switches/ { gsub(",", "", $1); printf "%14.3f per round %s\n", $1 / n, $2 }' "$T/f.perf"
	attach "$T/rec.err" perf record -q -g -o "$T/perf.data"
	[[ -n ${QB_KEEP_PERF:-} ]] && cp "$T/perf.data" "$QB_KEEP_PERF"
	perf report -i "$T/perf.data" --no-children --sort dso 2>/dev/null | grep -v '^#' | grep . | head -8
	perf report -i "$T/perf.data" --no-children --sort sym -g none 2>/dev/null | grep -v '^#' | grep . | head -${QB_LINES:-40}
	;;
time)
	for _ in 1 2; do
		"$T/tcbench" nl "$VH" "$N"
		qosd_rounds "$N"
	done
	;;
*) echo "usage: $0 count|trace|ptrace|perf|time [N]" >&2; exit 2 ;;
esac
[[ -n ${QB_LOG:-} ]] && cp "$T/qosd.log" "$QB_LOG"
kill -TERM "$QP"
wait "$QP"
QP=
uptime
