#!/bin/bash
# qosd-vm: yes
# Network metrics: the bytes, packets, drops and overlimits qosd reports for a container's shapers
# equal what `tc -s qdisc` says over the same interval, in both directions (into the container:
# the host veth's tbf; out of it: the ifb's tbf), with UDP floods at 20 times the rate in a world
# of the test's own (lib-net.sh).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-net.sh"
qt_init metrics-net

for tool in iperf3; do
	if ! command -v $tool >/dev/null; then
		skip all "$tool is not installed"
		qt_finish
		exit 0
	fi
done
if ! net_init; then
	skip all "$NET_WHY"
	qt_finish
	exit 0
fi
nsx() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

qt_policy qt <<EOF
[class slow]
net.ingress = 1mbit
net.egress = 1mbit

[match]
$QT_CGP/net-* = slow
EOF
PORT=19100
printf 'drift_interval = 0s\nmetrics_listen = 127.0.0.1:%s\n' "$PORT" >"$QT_TMP/qosd.conf"
qt_start_qosd --config "$QT_TMP/qosd.conf" || {
	fail start "qosd did not start"
	exit 0
}
qt_cg_mkdir "$QT_CGP/net-1"
net_container c1 "$QT_CGP/net-1" || {
	fail world "cannot make the container's veth"
	exit 0
}
CNS=$QT_ID-c1
VETH=$NET_VETH
ip -n "$NET_H" addr add 198.18.7.1/24 dev "$VETH"
ip -n "$CNS" addr add 198.18.7.2/24 dev eth0
shaped() { [[ -n $(tc -n "$NET_H" qdisc show dev "$VETH" root | grep tbf) && -n $(net_ifbs | grep -w net-1) ]]; }
qt_wait 15 shaped
check shaped "qosd did not shape net-1 within 15 s: $(qosctl list | grep net-1)" shaped
IFB=$(net_ifbs | awk '$2 == "net-1" { print $1; exit }')

# qdisc DEV: "bytes packets drops overlimits" of DEV's root qdisc, from tc -s
qdisc() {
	tc -s -n "$NET_H" qdisc show dev "$1" root | awk '
		/Sent/ { b = $2; p = $4; d = $7; o = $9; sub(/,$/, "", d); sub(/\)$/, "", o) }
		END { print b, p, d, o }'
}
# qosd DIRECTION: the same four from qosd's endpoint (qosd runs in the test's host netns)
qosd_net() {
	local url=http://127.0.0.1:$PORT/metrics
	if command -v curl >/dev/null; then nsx "$NET_H" curl -sf --max-time 10 "$url"; else
		nsx "$NET_H" wget -qO- "$url"; fi >"$QT_TMP/scrape" || return 1
	local f v out=
	for f in bytes packets drops overlimits; do
		v=$(sed -n "s/^qosd_network_${f}_total{id=\"net-1\",tenant=\"qt\",class=\"slow\",direction=\"$1\"} //p" "$QT_TMP/scrape")
		out="$out${out:+ }${v:-?}"
	done
	echo "$out"
}
# flood FROM_NS TO_ADDR: 2 s of UDP at 20 Mbit/s (the shaper allows 1)
flood() {
	local sns=$2 addr=$3 sp
	nsx "$sns" iperf3 -s -1 -B "$addr" -p 5201 >/dev/null 2>&1 &
	sp=$!
	QT_PIDS+=("$sp")
	sleep 0.5
	nsx "$1" iperf3 -u -b 20M -c "$addr" -p 5201 -t 2 >/dev/null 2>&1
	wait "$sp" 2>/dev/null
}
delta() { awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x); split(b, y); for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? " " : ""), y[i] - x[i]; print "" }'; }

# reading DEV DIRECTION -> "TC|QOSD": tc -s, qosd, tc -s again, until the two tc readings agree
# (a stray packet, such as neighbour discovery, between the reads would otherwise count on one side)
reading() {
	local i a q b
	for ((i = 0; i < 20; i++)); do
		a=$(qdisc "$1")
		q=$(qosd_net "$2")
		b=$(qdisc "$1")
		[[ $a == "$b" ]] && break
		sleep 0.2
	done
	echo "$a|$q"
}

for dir in in out; do
	if [[ $dir == in ]]; then dev=$VETH from=$NET_H to=$CNS addr=198.18.7.2; else
		dev=$IFB from=$CNS to=$NET_H addr=198.18.7.1; fi
	r=$(reading "$dev" $dir)
	t0=${r%%|*} q0=${r#*|}
	flood "$from" "$to" "$addr"
	sleep 1 # the queue drains
	r=$(reading "$dev" $dir)
	t1=${r%%|*} q1=${r#*|}
	dt=$(delta "$t0" "$t1")
	dq=$(delta "$q0" "$q1")
	note "$dir ($dev): tc -s says bytes packets drops overlimits +$dt; qosd +$dq"
	check "$dir-drops" "no drops at 20x the rate: tc +$dt" test "$(cut -d' ' -f3 <<<"$dt")" -gt 0
	check "$dir-equal-tc" "qosd +$dq, tc -s +$dt over the same interval" test "$dq" = "$dt"
done
qt_finish
