#!/bin/bash
# Network shaping on a Docker container's real veth (Docker's default bridge), measured with
# iperf3 between the node and the container: class net of tenant acme (into the container
# 20mbit, out of it 10mbit), given with qosctl set.
. "$(dirname "$0")/lib.sh"
qt_init net
IMG=qosd-test-bb-net:$$
wait_for 60 docker info >/dev/null || { fail dockerd "docker info fails"; exit 1; }
make_rootfs "$QT_TMP/rootfs"
tar -C "$QT_TMP/rootfs" -c . | docker import - "$IMG" >/dev/null 2>&1 || fail import "docker import failed"
at_exit "docker rmi -f $IMG"
CID=$(docker run -d --name "$QT_ID-net" "$IMG" sleep 600) || { fail start "docker run failed"; exit 1; }
at_exit "docker rm -f $QT_ID-net"
CPID=$(docker inspect -f '{{.State.Pid}}' "$QT_ID-net")
IP=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' "$QT_ID-net")
# eth0@ifN inside the container: N is the host-side veth's ifindex
peer=$(nsenter -t "$CPID" -n ip -o link show eth0 | sed -n 's/^[0-9]*: eth0@if\([0-9]*\):.*/\1/p')
VETH=$(ip -o link | awk -F': ' -v i="$peer" '$1 == i { sub(/@.*/, "", $2); print $2 }')
note "container $CID at $IP, host-side veth $VETH"

# rate DIR: Mbit/s received over 3 s; DIR "" = node -> container, "-R" = container -> node
rate() {
	timeout 20 nsenter -t "$CPID" -n iperf3 -s -1 -B "$IP" >/dev/null 2>&1 &
	local sp=$!
	sleep 1
	timeout 15 iperf3 -c "$IP" -t 3 -J $1 >"$QT_TMP/iperf.json" 2>/dev/null
	wait "$sp" 2>/dev/null
	jq -r '.end.sum_received.bits_per_second / 1e6 | floor' "$QT_TMP/iperf.json" 2>/dev/null
}
in0=$(rate "") out0=$(rate -R)
note "unshaped: into the container $in0 Mbit/s, out of it $out0 Mbit/s"
qosctl set "$CID" tenant=acme class=net >"$QT_TMP/set.out" 2>&1 || fail set "qosctl set $CID class=net: $(cat "$QT_TMP/set.out")"
sleep 2
note "tc on $VETH: $(tc qdisc show dev "$VETH" | tr '\n' ';')"
in1=$(rate "") out1=$(rate -R)
# shaped: at most the class's rate plus 10 %; and the class binds (the unshaped rate was above it)
if [[ -n $in1 && $in1 -le 22 && $in1 -gt 0 ]]; then
	pass ingress-shaped
	note "into the container: $in1 Mbit/s with net.ingress = 20mbit (unshaped $in0)"
else
	fail ingress-shaped "into the container: '$in1' Mbit/s with net.ingress = 20mbit (unshaped $in0)"
fi
if [[ -n $out1 && $out1 -le 11 && $out1 -gt 0 ]]; then
	pass egress-shaped
	note "out of the container: $out1 Mbit/s with net.egress = 10mbit (unshaped $out0)"
else
	fail egress-shaped "out of the container: '$out1' Mbit/s with net.egress = 10mbit (unshaped $out0)"
fi
check limit-binds "unshaped rates ($in0, $out0 Mbit/s) not above the limits: the test cannot tell" \
	test "${in0:-0}" -gt 22 -a "${out0:-0}" -gt 11
qt_finish
