#!/bin/bash
# qosd-vm: yes
# Metrics: qosd's endpoint read by the real clients (promtool; a Prometheus server that scrapes
# qosd and answers a query; node_exporter serving the textfile), and the numbers checked against
# the kernel: throttled time rises under a 30 % quota, an OOM kill shows in the next scrape.
source "$(dirname "$0")/lib.sh"
qt_init metrics

# a loopback TCP port nobody listens on (the test's pid picks where to start looking)
free_port() {
	local p=$((20000 + ($$ * 7 + ${1:-0} * 101) % 30000))
	while ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; do p=$((p + 1)); done
	echo "$p"
}
# fetch URL [curl args]: the body, or nothing (curl is not in the VM: busybox wget there)
fetch() {
	if command -v curl >/dev/null; then curl -sf --max-time 10 "$@"; else wget -qO- "$1"; fi
}
# metric NAME ID: the value of NAME{id="ID",...} in $QT_TMP/scrape
metric() { sed -n "s/^$1{id=\"$2\",[^}]*} //p" "$QT_TMP/scrape"; }
scrape() { fetch "http://127.0.0.1:$PORT/metrics" >"$QT_TMP/scrape"; }
# floating point a > b (awk: bash has integers only)
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 > b + 0) }'; }

qt_policy qt <<EOF
[tenant]
cpu.shares = 1024

[class c30]
cpu.quota = 30%

[class m32]
memory.limit = 32M
memory.swap = 0

[class plain]
blkio.write_bps = ${QT_XFS_MNT:-$QT_TMP} 1G

[match]
$QT_CGP/burn-* = c30
$QT_CGP/oom-* = m32
$QT_CGP/io-* = plain
EOF

# --- a refused metrics_listen names the file and line, and qosd does not start
printf 'drift_interval = 0s\nmetrics_listen = localhost\n' >"$QT_TMP/bad.conf"
"$QOSD" --config "$QT_TMP/bad.conf" --config-dir "$QT_TMP/conf.d" --state-dir "$QT_TMP/state" \
	--socket "$QT_TMP/bad.sock" --cgroupfs "$QT_CGROOT" >"$QT_TMP/bad.out" 2>&1
rc=$?
check bad-listen-refused "qosd exited $rc on metrics_listen = localhost: $(cat "$QT_TMP/bad.out")" \
	grep -q "bad.conf:2: metrics_listen: \"localhost\"" "$QT_TMP/bad.out"

PORT=$(free_port 0)
printf 'drift_interval = 1s\nmetrics_listen = 127.0.0.1:%s\ntenant_parent = %s\n' "$PORT" "$QT_CGP" >"$QT_TMP/qosd.conf"
qt_start_qosd --config "$QT_TMP/qosd.conf" || {
	fail start "qosd did not start"
	exit 0
}
qt_cg_mkdir "$QT_CGP/burn-1"
qt_cg_mkdir "$QT_CGP/oom-1"
[[ $QT_V == 1 && -d $QT_CGROOT/unified ]] && mkdir -p "$QT_CGROOT/unified$QT_CGP/burn-1"
applied() { [[ $(qosctl list | awk '$5 == "ok"' | wc -l) -eq 2 ]]; }
check applied "the two containers were not applied within 10 s: $(qosctl list)" qt_wait 10 applied

# --- the exposition format, by Prometheus' own checker
scrape
if command -v promtool >/dev/null; then
	promtool check metrics <"$QT_TMP/scrape" >"$QT_TMP/promtool.out" 2>&1
	check promtool "promtool check metrics: $(head -5 "$QT_TMP/promtool.out")" test $? -eq 0 -a ! -s "$QT_TMP/promtool.out"
else
	skip promtool "promtool is not installed (Debian package prometheus)"
fi
check own-metrics "no qosd_containers_managed 2 / build_info in the scrape" \
	grep -qx 'qosd_containers_managed 2' "$QT_TMP/scrape"
check labels "burn-1 has no tenant/class labels" \
	grep -q '^qosd_cpu_periods_total{id="burn-1",tenant="qt",class="c30"} ' "$QT_TMP/scrape"
check tenant-families "no qosd_tenant_ families for the tenant cgroup $QT_CGP/qosd-qt" \
	grep -q '^qosd_tenant_cpu_periods_total{tenant="qt"} ' "$QT_TMP/scrape"

# --- a burner at 30 %: throttled time rises, usage stays near 30 % of the wall time
# the test's parent gets the largest CPU weight, so that the burners reach their quota even when
# the machine is busy with other work (only a cgroup that reaches its quota is throttled)
if [[ $QT_V == 2 ]]; then echo 10000 >"$QT_CGROOT$QT_CGP/cpu.weight"; else
	echo 262144 >"$QT_CGROOT/cpu$QT_CGP/cpu.shares"; fi
# four burners: on a busy 2-CPU machine (other work runnable) one alone may not reach 30 % of a
# CPU within a period, and only a cgroup that reaches its quota is throttled
BURN=()
for i in 1 2 3 4; do
	qt_cg_run "$QT_CGP/burn-1" "$QOSD_HELPER_DIR/qt-burn" 4 >/dev/null
	[[ $QT_V == 1 && -d $QT_CGROOT/unified$QT_CGP/burn-1 ]] &&
		echo "$QT_LASTPID" >"$QT_CGROOT/unified$QT_CGP/burn-1/cgroup.procs"
	BURN+=("$QT_LASTPID")
done
sleep 1
scrape
t1=$(metric qosd_cpu_throttled_seconds_total burn-1)
u1=$(metric qosd_cpu_usage_seconds_total burn-1)
s1=$(date +%s%N)
sleep 2
scrape
t2=$(metric qosd_cpu_throttled_seconds_total burn-1)
u2=$(metric qosd_cpu_usage_seconds_total burn-1)
s2=$(date +%s%N)
note "throttled seconds $t1 -> $t2, cpu seconds $u1 -> $u2 over $(((s2 - s1) / 1000000)) ms"
check throttled-rises "throttled seconds did not rise: '$t1' -> '$t2'" gt "$t2" "$t1"
pct=$(awk -v a="$u1" -v b="$u2" -v w=$((s2 - s1)) 'BEGIN { printf "%d", (b - a) * 1e11 / w }')
# at most the quota (with a margin); less is fine on a busy 2-CPU machine
check usage-under-quota "cpu usage ${pct}% of the wall time under a 30% quota, want 1-40" \
	test "${pct:-0}" -ge 1 -a "${pct:-0}" -le 40
# the same number as the kernel's own file (v1 throttled_time ns, v2 throttled_usec), burner stopped
wait "${BURN[@]}"
scrape
q=$(metric qosd_cpu_throttled_seconds_total burn-1)
k2=$(if [[ $QT_V == 2 ]]; then sed -n 's/^throttled_usec //p' "$(qt_cgdir cpu "$QT_CGP/burn-1")/cpu.stat" |
	awk '{ printf "%.6f", $1 / 1e6 }'; else sed -n 's/^throttled_time //p' \
	"$(qt_cgdir cpu "$QT_CGP/burn-1")/cpu.stat" | awk '{ printf "%.9f", $1 / 1e9 }'; fi)
check throttled-equals-kernel "qosd says $q, cpu.stat says $k2 (burner stopped)" \
	awk -v a="$q" -v b="$k2" 'BEGIN { exit !(a == b) }'

# --- an OOM kill is in the very next scrape
scrape
o1=$(metric qosd_memory_oom_kills_total oom-1)
qt_cg_run "$QT_CGP/oom-1" "$QOSD_HELPER_DIR/qt-alloc" 200 >/dev/null 2>&1
wait "$QT_LASTPID"
rc=$?
scrape
o2=$(metric qosd_memory_oom_kills_total oom-1)
note "qt-alloc 200 under 32M exited $rc; oom kills $o1 -> $o2"
check oom-before "no oom kill counter for oom-1 before ('$o1')" test "$o1" = 0
check oom-counted "allocator exited $rc, oom kills '$o1' -> '$o2', want 137 and +1 or more" \
	test "$rc" -eq 137 -a "${o2:-0}" -ge 1
# limit hits: the kernel's own count (v1 memory.failcnt, which 6.x kernels may leave at 0; v2
# memory.events max)
if [[ $QT_V == 2 ]]; then
	k=$(sed -n 's/^max //p' "$(qt_cgdir memory "$QT_CGP/oom-1")/memory.events")
else
	k=$(cat "$(qt_cgdir memory "$QT_CGP/oom-1")/memory.failcnt")
fi
m=$(metric qosd_memory_max_events_total oom-1)
check max-events-equals-kernel "qosd says '$m' limit hits, the kernel '$k'" test "$m" = "$k"

# --- block I/O: 8 MiB written with O_DIRECT are in qosd_io_written_bytes_total, as in the kernel's
# file (a generous write limit on the disk: v1 counts I/O per cgroup only where a throttle is set)
IODIR=${QT_XFS_MNT:-$QT_TMP}
qt_cg_mkdir "$QT_CGP/io-1"
qt_cg_run "$QT_CGP/io-1" dd if=/dev/zero of="$IODIR/$QT_ID-io.dat" bs=1M count=8 oflag=direct
wait "$QT_LASTPID"
rm -f "$IODIR/$QT_ID-io.dat"
scrape
qw=$(sed -n 's/^qosd_io_written_bytes_total{id="io-1",[^}]*} //p' "$QT_TMP/scrape" | awk '{ s += $1 } END { print s + 0 }')
if [[ $QT_V == 2 ]]; then
	kw=$(tr ' ' '\n' <"$(qt_cgdir io "$QT_CGP/io-1")/io.stat" | sed -n 's/^wbytes=//p' | awk '{ s += $1 } END { print s + 0 }')
else
	kw=$(awk '$2 == "Write" { s += $3 } END { print s + 0 }' "$(qt_cgdir blkio "$QT_CGP/io-1")/blkio.throttle.io_service_bytes")
fi
note "io-1 wrote 8 MiB with O_DIRECT to $IODIR: qosd says $qw bytes, the kernel $kw"
check io-equals-kernel "qosd says $qw bytes written, the kernel $kw" test "$qw" = "$kw"
if [[ $kw -gt 0 ]]; then
	check io-counted "only $qw bytes written counted, want at least 8 MiB" test "$qw" -ge $((8 << 20))
else
	skip io-counted "the kernel counted no write for io-1 on $IODIR (no block device under it?)"
fi

# --- the statistics files qosd keeps open between scrapes for io-1 are closed once its cgroup
# is gone (a cgroup made again under the same name: tests/unit/test-stats.c, on a real cgroup)
kept_fds() { find "/proc/$QT_QOSD_PID/fd" -mindepth 1 -maxdepth 1 -lname "*$QT_CGP/io-1/*" 2>/dev/null | wc -l; }
k1=$(kept_fds)
check files-kept "qosd keeps no file of io-1 open after a scrape" test "$k1" -gt 0
qt_cg_rmtree "$QT_CGP/io-1"
gone() { ! qosctl list | grep -qw io-1; }
qt_wait 10 gone
scrape
k2=$(kept_fds)
note "files of io-1 qosd keeps open: $k1 after a scrape, $k2 after its cgroup was removed and one more scrape"
check files-closed-when-gone "qosd still holds $k2 files of io-1 after its cgroup went and a scrape" \
	test "$k2" -eq 0

# --- a knob changed behind qosd's back is corrected and counted, under its policy key
drift() { sed -n 's/^qosd_drift_corrections_total{key="cpu.quota"} //p' "$QT_TMP/scrape"; }
d1=$(drift)
if [[ $QT_V == 2 ]]; then f=cpu.max v="90000 100000" want="30000 100000"; else f=cpu.cfs_quota_us v=90000 want=30000; fi
echo "$v" >"$(qt_cgdir cpu "$QT_CGP/burn-1")/$f"
back() { [[ "$(qt_knob "$QT_CGP/burn-1" cpu $f)" == "$want" ]]; }
qt_wait 10 back
check drift-corrected "$f is $(qt_knob "$QT_CGP/burn-1" cpu $f) 10 s after the change, want $want" back
scrape
check drift-counted "qosd_drift_corrections_total{key=\"cpu.quota\"} $d1 -> $(drift), want one more" \
	test "$(drift)" = $((d1 + 1))

# --- a real Prometheus server scrapes qosd; its HTTP API returns burn-1's throttled seconds
if command -v prometheus >/dev/null && command -v curl >/dev/null; then
	PPORT=$(free_port 1)
	mkdir -p "$QT_TMP/prom"
	cat >"$QT_TMP/prom.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: qosd
    static_configs:
      - targets: ['127.0.0.1:$PORT']
EOF
	prometheus --config.file="$QT_TMP/prom.yml" --storage.tsdb.path="$QT_TMP/prom" \
		--web.listen-address="127.0.0.1:$PPORT" >"$QT_TMP/prom.log" 2>&1 &
	QT_PIDS+=($!)
	PROM=$!
	query() {
		curl -sf --max-time 5 "http://127.0.0.1:$PPORT/api/v1/query" \
			--data-urlencode "query=qosd_cpu_throttled_seconds_total{id=\"burn-1\"}" |
			jq -r '.data.result[0].value[1] // empty' >"$QT_TMP/q.out" 2>/dev/null &&
			[[ -s $QT_TMP/q.out ]]
	}
	if qt_wait 90 query; then
		v=$(cat "$QT_TMP/q.out")
		note "Prometheus: qosd_cpu_throttled_seconds_total{id=\"burn-1\"} = $v (qosd: $q)"
		check prometheus-query "Prometheus returned $v, qosd serves $q" \
			awk -v a="$v" -v b="$q" 'BEGIN { exit !(a == b && a > 0) }'
	else
		fail prometheus-query "no answer from Prometheus in 90 s: $(tail -3 "$QT_TMP/prom.log")"
	fi
	kill "$PROM"
	wait "$PROM" 2>/dev/null
else
	skip prometheus-query "prometheus or curl is not installed"
fi

# --- a Unix socket endpoint
qt_stop_qosd
printf 'drift_interval = 0s\nmetrics_listen = %s/m.sock\ntenant_parent = %s\n' "$QT_TMP" "$QT_CGP" >"$QT_TMP/qosd.conf"
qt_start_qosd --config "$QT_TMP/qosd.conf"
if command -v curl >/dev/null; then
	curl -sf --unix-socket "$QT_TMP/m.sock" http://qosd/metrics >"$QT_TMP/scrape"
	check unix-socket "no metrics over $QT_TMP/m.sock" grep -q '^qosd_cpu_usage_seconds_total{id="burn-1"' "$QT_TMP/scrape"
	code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$QT_TMP/m.sock" http://qosd/other)
	check not-found "GET /other answered $code, want 404" test "$code" = 404
else
	skip unix-socket "curl is not installed (busybox wget has no Unix sockets)"
fi
qt_stop_qosd
check unix-socket-removed "qosd left $QT_TMP/m.sock behind" test ! -e "$QT_TMP/m.sock"

# --- textfile mode: node_exporter's textfile collector serves what qosd writes
mkdir -p "$QT_TMP/textfile"
printf 'drift_interval = 0s\nmetrics_textfile = %s/textfile/qosd.prom\nmetrics_interval = 1s\ntenant_parent = %s\n' \
	"$QT_TMP" "$QT_CGP" >"$QT_TMP/qosd.conf"
qt_start_qosd --config "$QT_TMP/qosd.conf"
qt_wait 10 test -s "$QT_TMP/textfile/qosd.prom"
check textfile-written "no $QT_TMP/textfile/qosd.prom" grep -q '^qosd_cpu_usage_seconds_total{id="burn-1"' "$QT_TMP/textfile/qosd.prom"
if command -v promtool >/dev/null; then
	check textfile-promtool "promtool refused the textfile" promtool check metrics <"$QT_TMP/textfile/qosd.prom"
fi
m1=$(stat -c %Y.%i "$QT_TMP/textfile/qosd.prom")
changed() { [[ $(stat -c %Y.%i "$QT_TMP/textfile/qosd.prom") != "$m1" ]]; }
qt_wait 5 changed
check textfile-renewed "the textfile was not replaced within 5 s (interval 1 s)" changed
check textfile-no-tmp "temporary files left: $(ls "$QT_TMP/textfile")" test "$(ls "$QT_TMP/textfile")" = qosd.prom
NE=$(command -v prometheus-node-exporter || command -v node_exporter)
if [[ -n $NE ]] && command -v curl >/dev/null; then
	NPORT=$(free_port 2)
	"$NE" --collector.disable-defaults --collector.textfile \
		--collector.textfile.directory="$QT_TMP/textfile" \
		--web.listen-address="127.0.0.1:$NPORT" >"$QT_TMP/ne.log" 2>&1 &
	QT_PIDS+=($!)
	NEP=$!
	ne() { curl -sf --max-time 5 "http://127.0.0.1:$NPORT/metrics" >"$QT_TMP/ne.out"; }
	qt_wait 20 ne
	check node-exporter-serves "node_exporter does not serve burn-1's throttled seconds: $(tail -2 "$QT_TMP/ne.log")" \
		grep -qE '^qosd_cpu_throttled_seconds_total\{class="c30",id="burn-1",tenant="qt"\} [0-9.e+]+$' "$QT_TMP/ne.out"
	check node-exporter-no-error "node_exporter reports a textfile error" \
		grep -qx 'node_textfile_scrape_error 0' "$QT_TMP/ne.out"
	kill "$NEP"
	wait "$NEP" 2>/dev/null
else
	skip node-exporter "prometheus-node-exporter or curl is not installed"
fi
qt_stop_qosd
check textfile-kept "the textfile is gone after qosd stopped" test -s "$QT_TMP/textfile/qosd.prom"
qt_finish
