#!/bin/bash
# table.sh RESULTS NOTES V: the one table make bench prints. A key measured more than once in the
# run (the floor and qosd are measured twice, interleaved) shows its run with the lower median.
RES=$1 NOTES=$2 V=$3
K=${N_SCALE:-10000}
((K % 1000 == 0)) && K=$((K / 1000))k

# pick KEY: "median p99" of the run with the lowest median, or "- -"
pick() { awk -v k="$1" '$2 == k && $3 != "-" && (m == "" || $3 + 0 < m + 0) { m = $3; p = $4 } END { if (m == "") print "- -"; else print m, p }' "$RES"; }
fmt() { # fmt "median p99" UNIT: "412 / 1830 us"
	local m p
	read -r m p <<<"$1"
	[[ $m == - ]] && { echo "-"; return; }
	if [[ $p == - ]]; then echo "$m $2"; else echo "$m / $p $2"; fi
}
ratio() { # ratio "m p" "m p"
	local a b
	a=${1%% *} b=${2%% *}
	[[ $a == - || $b == - ]] && { echo "-"; return; }
	awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'
}
note_of() { [[ -s $NOTES ]] && awk -F': ' -v k="$1" '$1 == k { print $2 }' "$NOTES" | tail -1; }
ms() { awk -v v="$1" 'BEGIN { printf "%.1f ms", v / 1000 }'; }

ROWS=()
row() { ROWS+=("$1|$2|$3|$4|$5|$6"); }
us_row() { # us_row FIGURE QOSD-KEY FLOOR-KEY TARGET OTHER
	local q f
	q=$(pick "$2")
	f=$(pick "$3")
	local qs
	qs=$(fmt "$q" us)
	[[ $qs == - ]] && qs=$(note_of "$2")
	[[ -z $qs ]] && qs=-
	row "$1" "$qs" "$(fmt "$f" us)" "$(ratio "$q" "$f")" "$4" "$5"
}
other() { # other LABEL KEY
	local v
	v=$(pick "$2")
	[[ ${v%% *} == - ]] && return
	echo "$1 $(fmt "$v" us)"
}
join() { local IFS=';'; echo "$*" | sed 's/;/; /g'; }

libnote=$(note_of libcg)
o1=$(join "$(other "libcgroup API" libcg.api-create)" "$(other "cgcreate+cgset+cgclassify" libcg.cli-create)")
o2=$(join "$(other "libcgroup cgroup_modify_cgroup" libcg.api-limits)" "$(other "cgset" libcg.cli-limits)")
[[ -n $libnote ]] && o1=$libnote o2=$libnote
us_row "apply: mkdir+limits+attach, qosd socket call" qosd.socket.create floor.create "1.5x" "$o1"
us_row "apply: mkdir+limits+attach, qos-hook exec" qosd.hook.create floor.create "" \
	"$(other "fork+exec /bin/true" floor.exec)"
us_row "apply: limits alone, socket call" qosd.socket floor.limits "" "$o2"
us_row "apply: limits alone, qos-hook exec" qosd.hook floor.limits "" \
	"$(other "fork+exec /bin/true" floor.exec)"
us_row "apply: limits alone, socket call, $K containers known" scale.socket scalefloor.limits "" ""
us_row "detect: mkdir -> limits in place" qosd.detect floor.inotify "p99 2 ms" \
	"$(other "inotify + raw writes" floor.inotify_write)"
tcq=tc.qosd
us_row "tc: ingress+egress shaping set up" $tcq tc.nl "2x" "$(other "tc+ip CLI" tc.cli)"
a=$(pick scale.adopt) r=$(pick scale.reload) fl=$(pick scale.floor) f1=$(pick scale.floor_one)
row "scale: adopt $K at start" "$([[ ${a%% *} != - ]] && echo "${a%% *} ms" || echo -)" \
	"$([[ ${fl%% *} != - ]] && echo "${fl%% *} ms" || echo -)" "$(ratio "$a" "$fl")" "2 s" ""
row "scale: reload touching $K" "$([[ ${r%% *} != - ]] && echo "${r%% *} ms" || echo -)" \
	"$([[ ${f1%% *} != - ]] && echo "${f1%% *} ms" || echo -)" "$(ratio "$r" "$f1")" "2 s" ""
rss=$(pick scale.rss)
row "scale: qosd RSS at $K" "$([[ ${rss%% *} != - ]] && awk -v k="${rss%% *}" 'BEGIN { printf "%.1f MiB", k / 1024 }' || echo -)" "-" "-" "16 MiB" ""
w=$(pick scale.wakeups)
row "scale: wake-ups/s idle (no drift)" "${w%% *}" "-" "-" "0" ""

printf '\n'
printf '%s\n' "${ROWS[@]}" | awk -F'|' '
BEGIN { h[1] = "figure"; h[2] = "qosd median / p99"; h[3] = "floor median / p99"; h[4] = "ratio"; h[5] = "target"; h[6] = "other tools (median / p99)" }
{ n++; for (i = 1; i <= 6; i++) { c[n, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
END {
	for (i = 1; i <= 5; i++) if (length(h[i]) > w[i]) w[i] = length(h[i])
	line = ""; for (i = 1; i <= 6; i++) line = line sprintf("%-" w[i] "s%s", h[i], i < 6 ? " | " : ""); print line
	line = ""; for (i = 1; i <= 6; i++) { s = ""; for (j = 0; j < (i < 6 ? w[i] : length(h[6])); j++) s = s "-"; line = line s (i < 6 ? "-|-" : "") } print line
	for (r = 1; r <= n; r++) { line = ""; for (i = 1; i <= 6; i++) line = line sprintf("%-" w[i] "s%s", c[r, i], i < 6 ? " | " : ""); print line }
}'
echo "(cgroup v$V; $(nproc) CPUs; $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg))"
