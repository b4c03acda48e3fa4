#!/bin/bash
# table.sh RESULTS NOTES V: the one table make bench prints. A key measured more than once in the
# run (the floor and qosd are measured twice, interleaved) shows its run with the lower median.
RES=$1 NOTES=$2 V=$3
K=${N_SCALE:-10000}
((K % 1000 == 0)) && K=$((K / 1000))k

# pick KEY: "median p99" of the run with the lowest median, or "- -". KEY1+KEY2: the sum of
# their medians (a floor made of two steps, e.g. a static exec plus the raw writes), p99 "-".
pick1() { awk -v k="$1" '$2 == k && $3 != "-" && (m == "" || $3 + 0 < m + 0) { m = $3; p = $4 } END { if (m == "") print "- -"; else print m, p }' "$RES"; }
pick() {
	[[ $1 != *+* ]] && { pick1 "$1"; return; }
	local a b
	a=$(pick1 "${1%%+*}") b=$(pick1 "${1#*+}")
	[[ ${a%% *} == - || ${b%% *} == - ]] && { echo "- -"; return; }
	awk -v a="${a%% *}" -v b="${b%% *}" 'BEGIN { printf "%.1f -\n", a + b }'
}
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
# met RATIO GOAL: "yes" when RATIO ("2.10x") is at most GOAL ("1.5x"), "NO" above it
met() {
	[[ $1 == - || $2 != *x ]] && { echo "-"; return; }
	awk -v r="${1%x}" -v g="${2%x}" 'BEGIN { print (r + 0 <= g + 0) ? "yes" : "NO" }'
}
note_of() { [[ -s $NOTES ]] && awk -F': ' -v k="$1" '$1 == k { print $2 }' "$NOTES" | tail -1; }
ms() { awk -v v="$1" 'BEGIN { printf "%.1f ms", v / 1000 }'; }

ROWS=()
row() { ROWS+=("$1|$2|$3|$4|$5|$6|$7"); } # FIGURE QOSD FLOOR RATIO GOAL MET OTHER
us_row() { # us_row FIGURE QOSD-KEY FLOOR-KEY GOAL OTHER
	local q f r qs
	q=$(pick "$2")
	f=$(pick "$3")
	qs=$(fmt "$q" us)
	[[ $qs == - ]] && qs=$(note_of "$2")
	[[ -z $qs ]] && qs=-
	r=$(ratio "$q" "$f")
	row "$1" "$qs" "$(fmt "$f" us)" "$r" "${4:--}" "$(met "$r" "$4")" "$5"
}
other() { # other LABEL KEY
	local v
	v=$(pick "$2")
	[[ ${v%% *} == - ]] && return
	echo "$1 $(fmt "$v" us)"
}
join() { # the non-empty arguments, "; " between
	local out="" x
	for x; do [[ -n $x ]] && out+="${out:+; }$x"; done
	echo "$out"
}
ms_val() { [[ ${1%% *} != - ]] && echo "${1%% *} ms" || echo -; }

libnote=$(note_of libcg)
o1=$(join "$(other "libcgroup API" libcg.api-create)" "$(other "cgcreate+cgset+cgclassify" libcg.cli-create)")
o2=$(join "$(other "libcgroup cgroup_modify_cgroup" libcg.api-limits)" "$(other "cgset" libcg.cli-limits)")
[[ -n $libnote ]] && o1=$libnote o2=$libnote
# the floor of round one, which made its groups without the runtime's steps (bench/floor.c)
o1=$(join "$(other "floor without the runtime's steps" floor.direct)" "$o1")
ex=$(join "$(other "fork+exec /bin/true" floor.exec)" "$(other "fork+exec static no-op" floor.exec_static)")
# pairpick CALL FLOOR: "median p99 floor run" of the run (qapply's PREFIX.pair.MODE and
# PREFIX.pair.MODE.floor, one run's two together; run: which of the runs, 1...) with the lower
# call median, or "- - - -"
pairpick() {
	awk -v c="$1" -v fk="$2" '$2 == c { h[++nh] = $3; hp[nh] = $4 } $2 == fk { f[++nf] = $3 }
	END { b = 0; for (i = 1; i <= nh; i++) if (i in f && (b == 0 || h[i] + 0 < h[b] + 0)) b = i
	      if (b) print h[b], hp[b], f[b], b; else print "- - - -" }' "$RES"
}
# nth LABEL KEY RUN: "LABEL median / p99 us" of KEY's RUN-th line (a breakdown from the same run
# as the row), or nothing
nth() {
	awk -v l="$1" -v k="$2" -v r="$3" \
		'$2 == k && ++n == r && $3 != "-" { printf "%s %s / %s us\n", l, $3, $4 }' "$RES"
}
# pair_row FIGURE CALL-KEY FLOOR-KEY GOAL OTHER: a row whose floor was timed in qosd's own rounds
pair_row() {
	local ph php pf r
	read -r ph php pf _ <<<"$(pairpick "$2" "$3")"
	r=$(ratio "$ph -" "$pf -")
	row "$1" "$(fmt "$ph $php" us)" "$pf us" "$r" "${4:--}" "$(met "$r" "$4")" "$5"
}
# pair_or_apart FIGURE GOAL CALL FLOOR OTHER APART-CALL APART-FLOOR APART-OTHER: the row with its
# floor timed in qosd's own rounds when the run has them, else with the floor measured apart
pair_or_apart() {
	if [[ $(pairpick "$3" "$4") != -* ]]; then
		pair_row "$1 (floor in the same rounds)" "$3" "$4" "$2" "$5"
	else
		us_row "$1" "$6" "$7" "$2" "$8"
	fi
}
pair_or_apart "apply: mkdir+limits+attach, qosd socket call" "1.5x" \
	qosd.pair.socket.create qosd.pair.socket.floor_create \
	"$(join "$(other "floor measured apart, as before" floor.create)" "$o1")" \
	qosd.socket.create floor.create "$o1"
pair_or_apart "apply: mkdir+limits+attach, qos-hook exec (floor: + static no-op exec)" "" \
	qosd.pair.hook.create qosd.pair.hook.floor_create \
	"$(join "$ex" "$(other "floor measured apart, as before" floor.create+floor.exec_static)")" \
	qosd.hook.create floor.create+floor.exec_static "$ex"
pair_or_apart "apply: limits alone, socket call" "" qosd.pair.socket qosd.pair.socket.floor \
	"$(join "$(other "floor measured apart, as before" floor.limits)" "$o2")" \
	qosd.socket floor.limits "$o2"
# the hook row's floor in two steps, shown from the run the row shows
read -r _ _ _ hrun <<<"$(pairpick qosd.pair.hook qosd.pair.hook.floor)"
pair_or_apart "apply: limits alone, qos-hook exec (floor: static no-op exec + raw writes)" "1.5x" \
	qosd.pair.hook qosd.pair.hook.floor \
	"$(join "$ex" \
		"floor in the hook's rounds: $(nth "static no-op" qosd.pair.hook.exec_static "$hrun")" \
		"$(nth "raw writes" qosd.pair.hook.limits "$hrun")" \
		"$(other "floor measured apart, as before" floor.exec_static+floor.limits)")" \
	qosd.hook floor.exec_static+floor.limits "$ex"
pair_or_apart "apply: limits alone, socket call, $K containers known" "1.5x" \
	scale.pair.socket scale.pair.socket.floor \
	"$(other "floor measured apart, as before" scalefloor.limits)" \
	scale.socket scalefloor.limits ""
us_row "detect: mkdir -> limits in place (floor: inotify + raw writes)" qosd.detect \
	floor.inotify_write "1.5x" "$(other "inotify alone" floor.inotify)"
us_row "tc: ingress+egress shaping set up" tc.qosd tc.nl "2x" "$(other "tc+ip CLI" tc.cli)"
a=$(pick scale.adopt) r=$(pick scale.reload) fl=$(pick scale.floor) f1=$(pick scale.floor_one)
ra=$(ratio "$a" "$fl") rr=$(ratio "$r" "$f1")
row "scale: adopt $K at start" "$(ms_val "$a")" "$(ms_val "$fl")" "$ra" "1.5x" "$(met "$ra" 1.5x)" ""
row "scale: reload touching $K" "$(ms_val "$r")" "$(ms_val "$f1")" "$rr" "1.5x" "$(met "$rr" 1.5x)" ""
rss=$(pick scale.rss)
rm=-
[[ ${rss%% *} != - ]] && rm=$(awk -v k="${rss%% *}" 'BEGIN { print (k / 1024 <= 16) ? "yes" : "NO" }')
row "scale: qosd RSS at $K" "$([[ ${rss%% *} != - ]] && awk -v k="${rss%% *}" 'BEGIN { printf "%.1f MiB", k / 1024 }' || echo -)" "-" "-" "16 MiB" "$rm" ""
w=$(pick scale.wakeups)
wm=-
[[ ${w%% *} != - ]] && wm=$(awk -v v="${w%% *}" 'BEGIN { print (v + 0 == 0) ? "yes" : "NO" }')
row "scale: wake-ups/s idle (no drift)" "${w%% *}" "-" "-" "0" "$wm" ""

printf '\n'
printf '%s\n' "${ROWS[@]}" | awk -F'|' '
BEGIN { N = 7; h[1] = "figure"; h[2] = "qosd median / p99"; h[3] = "floor median / p99"; h[4] = "ratio"; h[5] = "goal"; h[6] = "met"; h[7] = "other tools (median / p99)" }
{ n++; for (i = 1; i <= N; i++) { c[n, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
END {
	for (i = 1; i < N; i++) if (length(h[i]) > w[i]) w[i] = length(h[i])
	line = ""; for (i = 1; i <= N; i++) line = line sprintf("%-" w[i] "s%s", h[i], i < N ? " | " : ""); print line
	line = ""; for (i = 1; i <= N; i++) { s = ""; for (j = 0; j < (i < N ? w[i] : length(h[N])); j++) s = s "-"; line = line s (i < N ? "-|-" : "") } print line
	for (r = 1; r <= n; r++) { line = ""; for (i = 1; i <= N; i++) line = line sprintf("%-" w[i] "s%s", c[r, i], i < N ? " | " : ""); print line }
}'
echo "(cgroup v$V; $(nproc) CPUs; $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg))"
