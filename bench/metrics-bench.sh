#!/bin/bash
# make bench, metrics part (bench/run.sh calls it; it also runs alone, as root): with N_METRICS
# containers (default 1,000) that qosd manages,
#   - a scrape of /metrics (loopback HTTP, whole body) beside the floor: the same kernel files read
#     with raw syscalls, nothing parsed or printed: one pread each on fds opened beforehand (as
#     qosd keeps them), and (the cost qosd paid before it kept them) open + read + close each;
#   - the fds qosd keeps for that, the kernel memory they hold (a page each once read), and
#     qosd's RSS after the scrapes;
#   - qosd's CPU time per scrape, as a share of one CPU at a 15 s scrape interval;
#   - wake-ups of an idle qosd with the endpoint on and with metrics off (no drift timer).
#   - then (metrics-net-bench.sh) a scrape with N_METRICS_NET (100) shaped containers.
# Everything is named qosd-mbench-<pid>-... and removed on exit.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$SRC" || exit 1
B=${B:-build/rel}
N=${N_METRICS:-1000}
ROUNDS=${METRICS_ROUNDS:-20}
IDLE_S=${IDLE_S:-10}
TAG=qosd-mbench-$$
CGP=/$TAG
TMP=$(mktemp -d "/tmp/$TAG.XXXXXX")
QPID=
say() { echo "bench: $*" >&2; }
cleanup() {
	[[ -n $QPID ]] && kill -TERM "$QPID" 2>/dev/null && wait "$QPID" 2>/dev/null
	[[ -x $TMP/mscrape ]] && "$TMP/mscrape" rm "$CGP" "$N"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

cc -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$TMP/mscrape" bench/mscrape.c || exit 1
"$TMP/mscrape" mk "$CGP" "$N" || exit 1
mkdir -p "$TMP/conf.d" "$TMP/state"
chmod 700 "$TMP/state"
cat >"$TMP/conf.d/bench.conf" <<EOF
[class std]
cpu.quota = 50%
memory.limit = 256M

[match]
$CGP/s-* = std
EOF
PORT=$((20000 + $$ % 20000))
while ss -Hltn "sport = :$PORT" 2>/dev/null | grep -q .; do PORT=$((PORT + 1)); done

start() { # start CONF-LINES: qosd with these qosd.conf lines; waits for all N to be applied
	printf 'drift_interval = 0s\n%s' "$1" >"$TMP/qosd.conf"
	"$B/qosd" --config-dir "$TMP/conf.d" --config "$TMP/qosd.conf" --state-dir "$TMP/state" \
		--socket "$TMP/qosd.sock" >"$TMP/qosd.log" 2>&1 &
	QPID=$!
	for _ in $(seq 600); do
		[[ $("$B/qosctl" -s "$TMP/qosd.sock" list 2>/dev/null | grep -c ' ok ') -ge $N ]] && return 0
		sleep 0.1
	done
	say "qosd did not apply $N containers: $(tail -2 "$TMP/qosd.log")"
	return 1
}
stop() {
	kill -TERM "$QPID" 2>/dev/null
	wait "$QPID" 2>/dev/null
	QPID=
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
ctxsw() { awk '/ctxt_switches:/ { s += $2 } END { print s }' "/proc/$1/status"; }
wakeups() { # wakeups PID: context switches per second over IDLE_S s, once qosd has settled
	local a b
	for _ in $(seq 15); do # the state save and heap trim after adopting N end within seconds
		a=$(ctxsw "$1")
		sleep 2
		[[ $(ctxsw "$1") == "$a" ]] && break
	done
	a=$(ctxsw "$1")
	sleep "$IDLE_S"
	b=$(ctxsw "$1")
	awk -v a="$a" -v b="$b" -v s="$IDLE_S" 'BEGIN { printf "%.1f", (b - a) / s }'
}

say "metrics: $N containers, $ROUNDS scrapes"
start "metrics_listen = 127.0.0.1:$PORT
" || exit 1
w_on=$(wakeups "$QPID")
slab4k() { awk '$1 == "kmalloc-cg-4k" { print $2 }' /proc/slabinfo; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
fd0=$(fds "$QPID")
s0=$(slab4k)
"$TMP/mscrape" http "$PORT" 2 >/dev/null # warm: qosd opens and keeps the files
s1=$(slab4k)
fd1=$(fds "$QPID")
"$TMP/mscrape" kept "$CGP" "$N" "$ROUNDS" >"$TMP/kept1"
"$TMP/mscrape" floor "$CGP" "$N" "$ROUNDS" >"$TMP/floor1"
t0=$(cpu_ticks "$QPID")
"$TMP/mscrape" http "$PORT" "$ROUNDS" >"$TMP/scrape"
t1=$(cpu_ticks "$QPID")
rss=$(awk '/^Rss:/ { printf "%.1f", $2 / 1024 }' "/proc/$QPID/smaps_rollup")
"$TMP/mscrape" kept "$CGP" "$N" "$ROUNDS" >"$TMP/kept2"
"$TMP/mscrape" floor "$CGP" "$N" "$ROUNDS" >"$TMP/floor2"
stop
start "" || exit 1
w_off=$(wakeups "$QPID")
stop

med() { awk '/^RESULT/ { print $3 }' "$1"; }
p99() { awk '/^RESULT/ { print $4 }' "$1"; }
# of each floor, the run with the lower median (both sides of the ratio saw the same minute)
lower() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN { exit !(b < a) }' && echo "$2" || echo "$1"; }
f=$(lower "$TMP/floor1" "$TMP/floor2")
k=$(lower "$TMP/kept1" "$TMP/kept2")
hz=$(getconf CLK_TCK)
per=$(awk -v a="$t0" -v b="$t1" -v n="$ROUNDS" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) / n / hz * 1000 }')
pct=$(awk -v p="$per" 'BEGIN { printf "%.3f", p / 15000 * 100 }')
bytes=$(awk '/^BYTES/ { print $2 }' "$TMP/scrape")
ms() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
met() { awk -v v="$1" -v g="$2" 'BEGIN { print (v + 0 <= g + 0) ? "yes" : "NO" }'; }

echo
echo "metrics at $N containers | qosd median / p99 | floor median / p99 | ratio | goal | met"
echo "-------------------------|-------------------|--------------------|-------|------|----"
printf 'scrape of /metrics (%s KiB; floor: a pread of each of the %s files) | %s / %s ms | %s / %s ms | %s | < 50 ms | %s\n' \
	"$((bytes / 1024))" "$(awk '/^FILES/ { print $2 }' "$k")" \
	"$(ms "$(med "$TMP/scrape")")" "$(ms "$(p99 "$TMP/scrape")")" \
	"$(ms "$(med "$k")")" "$(ms "$(p99 "$k")")" "$(ratio "$(med "$TMP/scrape")" "$(med "$k")")" \
	"$(met "$(ms "$(med "$TMP/scrape")")" 50)"
printf 'the same files opened, read, closed each time (no fds kept) | - | %s / %s ms | %s | | \n' \
	"$(ms "$(med "$f")")" "$(ms "$(p99 "$f")")" "$(ratio "$(med "$TMP/scrape")" "$(med "$f")")"
kcpu=$(awk '/^CPU_MS/ { print $2 }' "$k")
printf 'CPU time per scrape (floor: the preads) | %s ms | %s ms | %s | | \n' "$per" "$kcpu" \
	"$(ratio "$per" "$kcpu")"
printf 'fds qosd keeps open for it; kernel memory they hold (kmalloc-cg-4k) | %s fds; %s MiB | - | - | | \n' \
	"$((fd1 - fd0))" "$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.1f", (b - a) * 4 / 1024 }')"
printf 'qosd RSS after the scrapes (the text and samples are kept for the next) | %s MiB | - | - | | \n' "$rss"
printf 'collection CPU at a 15 s interval | %s %% of one CPU | - | - | < 1 %% | %s\n' \
	"$pct" "$(met "$pct" 1)"
printf 'wake-ups/s idle, endpoint on, no scrapes | %s | - | - | 0 | %s\n' "$w_on" "$(met "$w_on" 0)"
printf 'wake-ups/s idle, metrics off | %s | - | - | 0 | %s\n' "$w_off" "$(met "$w_off" 0)"
# shaped containers: the network statistics (N_METRICS_NET=0 leaves it out)
[[ ${N_METRICS_NET:-100} -gt 0 ]] && B=$B METRICS_ROUNDS=$ROUNDS bench/metrics-net-bench.sh
exit 0
