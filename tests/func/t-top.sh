#!/bin/bash
# qosctl top in a terminal (tmux: start, sort, quit), in batch mode (-b -n N) and as JSON: a
# burner under a 10 % quota shows at most 10 % CPU and throttling, a 40 MB allocator its memory
# against its limit.
source "$(dirname "$0")/lib.sh"
qt_init top

if [[ ${QT_LAYER:-} == vm ]] || ! command -v tmux >/dev/null; then
	skip all "tmux is not here (the VM has none)"
	qt_finish
	exit 0
fi
qt_policy qt <<EOF
[class c10]
cpu.quota = 10%

[class m64]
memory.limit = 64M

[match]
$QT_CGP/burn-* = c10
$QT_CGP/mem-* = m64
EOF
echo "drift_interval = 0s" >"$QT_TMP/qosd.conf"
qt_start_qosd --config "$QT_TMP/qosd.conf" || {
	fail start "qosd did not start"
	exit 0
}
qt_cg_mkdir "$QT_CGP/burn-1"
qt_cg_mkdir "$QT_CGP/mem-1"
ok() { [[ $(qosctl list | awk '$5 == "ok"' | wc -l) -eq 2 ]]; }
qt_wait 10 ok
check applied "not applied within 10 s: $(qosctl list)" ok
qt_cg_run "$QT_CGP/burn-1" "$QOSD_HELPER_DIR/qt-burn" 60 >/dev/null
qt_cg_run "$QT_CGP/mem-1" "$QOSD_HELPER_DIR/qt-alloc" 40 --hold 60 >/dev/null
sleep 1

# --- batch: two tables
qosctl top -b -n 2 -d 0.5 >"$QT_TMP/batch.out"
check batch-two-tables "top -b -n 2 printed $(grep -c '^ID ' "$QT_TMP/batch.out") headers" \
	test "$(grep -c '^ID ' "$QT_TMP/batch.out")" -eq 2
sed -n '1,3p' "$QT_TMP/batch.out" | sed 's/^/  # /'

# --- JSON: the burner near its quota and throttled, the allocator's memory against its limit
qosctl top --json -n 1 -d 2 >"$QT_TMP/top.json"
cpu=$(jq -r '.[] | select(.id == "burn-1") | .cpu_percent' "$QT_TMP/top.json")
thr=$(jq -r '.[] | select(.id == "burn-1") | .throttled_percent' "$QT_TMP/top.json")
mem=$(jq -r '.[] | select(.id == "mem-1") | .memory_bytes' "$QT_TMP/top.json")
lim=$(jq -r '.[] | select(.id == "mem-1") | .memory_limit_bytes' "$QT_TMP/top.json")
note "burn-1: cpu ${cpu}% throttled ${thr}%; mem-1: ${mem} of ${lim} bytes"
check json-cpu "burn-1 cpu ${cpu}%, want 1-15 under a 10% quota" \
	awk -v v="$cpu" 'BEGIN { exit !(v >= 1 && v <= 15) }'
check json-throttled "burn-1 throttled ${thr}% of periods, want > 10" awk -v v="$thr" 'BEGIN { exit !(v > 10) }'
check json-memory "mem-1 uses $mem of $lim, want 40-64 MiB of 64 MiB" \
	awk -v m="$mem" -v l="$lim" 'BEGIN { exit !(m >= 40 * 1048576 && m <= 64 * 1048576 && l == 64 * 1048576) }'

# --- interactive, in a terminal: starts sorted by CPU, 'm' sorts by memory, 'q' quits
S=$QT_ID-top
QT_EXTRA_CLEANUP="${QT_EXTRA_CLEANUP:+$QT_EXTRA_CLEANUP; }tmux kill-session -t $S 2>/dev/null"
tmux new-session -d -s "$S" -x 160 -y 30 \
	"'$QOSCTL' -s '$QT_SOCK' top -d 0.5; echo \"top exited \$?\"; sleep 60"
screen() { tmux capture-pane -p -t "$S" >"$QT_TMP/screen"; }
first() { screen && awk '$1 == "ID" { getline; print $1; exit }' "$QT_TMP/screen"; }
is_first() { [[ $(first) == "$1" ]]; }
qt_wait 10 is_first burn-1
check tty-starts "the screen did not show burn-1 first: $(head -3 "$QT_TMP/screen" | tr '\n' '|')" is_first burn-1
check tty-help-line "no key help at the bottom" grep -q "sort: c cpu" "$QT_TMP/screen"
tmux send-keys -t "$S" m
qt_wait 5 is_first mem-1
check tty-sort-memory "after 'm' the first row is $(first), want mem-1" is_first mem-1
tmux send-keys -t "$S" c
qt_wait 5 is_first burn-1
check tty-sort-cpu "after 'c' the first row is $(first), want burn-1" is_first burn-1
tmux send-keys -t "$S" q
quit() { screen && grep -q "top exited 0" "$QT_TMP/screen"; }
qt_wait 5 quit
check tty-quit "'q' did not end top with status 0: $(tail -3 "$QT_TMP/screen" | tr '\n' '|')" quit
tmux kill-session -t "$S" 2>/dev/null
qt_finish
