# A network world of the test's own for the tests that need container veths (sourced after lib.sh,
# after qt_init): a netns standing for the host, where qosd runs, and one netns per container with
# a veth pair into the host netns. Nothing touches the real host network. Enters namespaces with
# nsenter --net (ip netns exec would remount /sys and hide the cgroup mounts from qosd).
#
#   net_init                   1 (and says why in NET_WHY) when the tools or netns are missing;
#                              else makes the host netns $NET_H and points $QOSD at a wrapper that
#                              runs qosd inside it (the pid stays qosd's: nsenter execs)
#   net_container NAME CGPATH  a netns for NAME, a veth pair (host side in $NET_VETH), and a sleep
#                              in that netns started in cgroup CGPATH (pid in $QT_LASTPID)
#   net_drop NAME              kill NAME's sleep and remove its netns (the veth pair goes with it)
# Everything is removed by qt_cleanup (QT_EXTRA_CLEANUP gets net_cleanup appended).

NET_H=
NET_NS=()
declare -A NET_PID=()

net_cleanup() {
	local ns
	for ns in "${NET_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	[[ -n $NET_H ]] && ip netns del "$NET_H" 2>/dev/null
	return 0
}

net_init() {
	local tool
	NET_WHY=
	for tool in ip tc nsenter; do
		command -v $tool >/dev/null || {
			NET_WHY="$tool is not installed"
			return 1
		}
	done
	NET_H=$QT_ID-h
	if ! ip netns add "$NET_H" 2>/dev/null; then
		NET_WHY="cannot create a network namespace"
		NET_H=
		return 1
	fi
	QT_EXTRA_CLEANUP="${QT_EXTRA_CLEANUP:+$QT_EXTRA_CLEANUP; }net_cleanup"
	ip -n "$NET_H" link set lo up
	cat >"$QT_TMP/qosd-in-host" <<EOF
#!/bin/bash
exec nsenter --net=/run/netns/$NET_H "$QOSD" "\$@"
EOF
	chmod +x "$QT_TMP/qosd-in-host"
	QOSD=$QT_TMP/qosd-in-host
	NET_N=0
	return 0
}

# host-side veth names stay under 15 bytes: "q" + pid + "v" + a counter
net_container() {
	local name=$1 cg=$2 ns=$QT_ID-$1 n
	NET_N=$((NET_N + 1))
	n=$NET_N
	NET_VETH=q$$v$n
	ip netns add "$ns" || return 1
	NET_NS+=("$ns")
	ip -n "$NET_H" link add "$NET_VETH" type veth peer name eth0 netns "$ns" || return 1
	ip -n "$NET_H" link set "$NET_VETH" up
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
	qt_cg_run --netns "$ns" "$cg" sleep 100000
	NET_PID[$name]=$QT_LASTPID
}

net_drop() {
	local p=${NET_PID[$1]:-}
	[[ -n $p ]] && kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
	ip netns del "$QT_ID-$1" 2>/dev/null
	unset "NET_PID[$1]"
}

# tbf rate on a link of the host netns ("" if none)
net_tbf_rate() {
	tc -n "$NET_H" qdisc show dev "$1" root 2>/dev/null | sed -n 's/^qdisc tbf .* rate \([^ ]*\) .*/\1/p'
}

# every qosd ifb in the host netns: "NAME ID" lines (from the alias qosd gives them)
net_ifbs() {
	ip -n "$NET_H" -d link show type ifb 2>/dev/null | awk '
	/^[0-9]+: / { n = $2; sub(/:$/, "", n); sub(/@.*/, "", n) }
	$1 == "alias" && $2 == "qosd" && $4 ~ /^id=/ { id = $4; sub(/^id=/, "", id); print n, id }'
}
