#!/bin/bash
# make bench, metrics part, shaped containers (metrics-bench.sh calls it; it also runs alone, as
# root): N_METRICS_NET containers (default 100), each with a veth into a netns of its own and a
# process in its cgroup, shaped by qosd (net.ingress and net.egress, so a tbf on the host veth and
# one on an ifb each); qosd runs in a netns of the bench's own (the func tests' lib-net.sh world).
# Prints one table row: a scrape's wall time (median of METRICS_ROUNDS) and qosd's CPU time per
# scrape. Everything is named qosd-test-<pid>-... (the test library's names) and removed on exit.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$SRC" || exit 1
B=${B:-build/rel}
export QOSD_BIN_DIR=${QOSD_BIN_DIR:-$SRC/$B} QOSD_SRC=$SRC ASAN_OPTIONS=
N=${N_METRICS_NET:-100}
ROUNDS=${METRICS_ROUNDS:-20}
source tests/func/lib.sh
source tests/func/lib-net.sh
say() { echo "bench: $*" >&2; }
qt_init mnetbench >/dev/null
for tool in curl ip tc nsenter; do
	command -v $tool >/dev/null || {
		say "SKIP: metrics-net: $tool is not installed"
		exit 0
	}
done
net_init || {
	say "SKIP: metrics-net: $NET_WHY"
	exit 0
}
qt_policy bench <<EOF
[class shaped]
net.ingress = 100mbit
net.egress = 100mbit

[match]
$QT_CGP/n-* = shaped
EOF
PORT=$((20000 + ($$ * 3) % 20000))
printf 'drift_interval = 0s\nmetrics_listen = 127.0.0.1:%s\n' "$PORT" >"$QT_TMP/qosd.conf"
qt_start_qosd --config "$QT_TMP/qosd.conf" >/dev/null || {
	say "qosd did not start: $(tail -2 "$QT_QOSD_LOG")"
	exit 1
}
say "metrics: $N shaped containers"
for i in $(seq "$N"); do
	qt_cg_mkdir "$QT_CGP/n-$i"
	net_container "c$i" "$QT_CGP/n-$i" >/dev/null || {
		say "cannot make container $i's veth"
		exit 1
	}
done
shaped() { [[ $(net_ifbs | wc -l) -ge $N ]]; }
qt_wait $((N + 60)) shaped || {
	say "qosd shaped $(net_ifbs | wc -l) of $N containers"
	exit 1
}
scrape() {
	nsenter --net="/run/netns/$NET_H" curl -sf -o "$QT_TMP/scrape" -w '%{time_total}\n' \
		"http://127.0.0.1:$PORT/metrics"
}
scrape >/dev/null # warm: the files kept, the netns numbered
rows=$(grep -c '^qosd_network_bytes_total{' "$QT_TMP/scrape")
[[ $rows -eq $((2 * N)) ]] || say "the scrape has $rows network rows, want $((2 * N))"
t0=$(awk '{ print $14 + $15 }' "/proc/$QT_QOSD_PID/stat")
for _ in $(seq "$ROUNDS"); do scrape; done >"$QT_TMP/times"
t1=$(awk '{ print $14 + $15 }' "/proc/$QT_QOSD_PID/stat")
hz=$(getconf CLK_TCK)
med=$(sort -n "$QT_TMP/times" | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] * 1000 }')
cpu=$(awk -v a="$t0" -v b="$t1" -v n="$ROUNDS" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) / n / hz * 1000 }')
printf 'scrape with %s shaped containers (wall median; qosd CPU per scrape) | %s ms; %s ms CPU | - | - | | \n' \
	"$N" "$med" "$cpu"
