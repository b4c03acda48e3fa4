#!/bin/bash
# Fault injection into a running qosd with strace (-p attach, -e inject; detaching ends the fault):
# cgroup knob writes failing with EBUSY, ENOENT, EINVAL and ENOSPC; netlink sendmsg/recvmsg failing
# under tc shaping; the state file's write and rename failing; the state directory's filesystem full
# (a tiny tmpfs). For each: qosd keeps running, does not report a success it did not have (qosctl
# list/show and the log name container, knob and value), the other knobs still apply, and once the
# fault is gone the next drift pass (1 s) converges. The VM has no strace: there only the disk-full
# part runs (it needs none).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-net.sh"
qt_init faults

HAVE_STRACE=1
command -v strace >/dev/null || HAVE_STRACE=
STRACE_WHY="strace is not installed here (the VM image does not copy it)"
if [[ -n $HAVE_STRACE ]] && ! strace -qq -o /dev/null -e inject=getpid:error=EPERM true 2>/dev/null; then
	HAVE_STRACE=
	STRACE_WHY="strace cannot trace or inject here"
fi

if [[ $QT_V == 2 ]]; then
	CPU_FILE=cpu.weight CPU_WANT=50 CPU_BAD=200 MEM_FILE=memory.max
else
	CPU_FILE=cpu.shares CPU_WANT=512 CPU_BAD=2048 MEM_FILE=memory.limit_in_bytes
fi
M128=$((128 << 20))
NCPU=$(nproc)

write_policy() {
	qt_policy qt <<EOF
[class silver]
cpu.shares = 512
memory.limit = 128M
pids.limit = 100
cpuset.cpus = 0

[class net]
net.ingress = 20mbit
net.egress = 10mbit

[match]
$QT_CGP/c-* = silver
$QT_CGP/n-* = net
EOF
}
write_policy
printf 'drift_interval = 1s\ntenant_parent = %s\n' "$QT_CGP" >"$QT_TMP/qosd.conf"

NET=
NET_WHY_SAVED=$STRACE_WHY
if [[ -n $HAVE_STRACE ]]; then
	NET=1
	net_init || {
		NET=
		NET_WHY_SAVED=$NET_WHY
	}
fi
for c in c-busy c-noent c-inval c-nospc; do qt_cg_mkdir "$QT_CGP/$c"; done
if [[ -n $NET ]]; then
	qt_cg_mkdir "$QT_CGP/n-1"
	net_container n-1 "$QT_CGP/n-1" || { NET='' NET_WHY_SAVED="cannot make the veth world"; }
	VETH=$NET_VETH
fi
qt_start_qosd --config "$QT_TMP/qosd.conf" || {
	fail start "qosd did not start"
	qt_finish
	exit 0
}

knob() { qt_knob "$QT_CGP/$1" "$2" "$3"; }
is() { [[ "$(knob "$1" "$2" "$3")" == "$4" ]]; }
alive() { kill -0 "$QT_QOSD_PID" 2>/dev/null; }
status_of() { qosctl list 2>/dev/null | awk -v id="$1" '$1 == id { s = ""; for (i = 5; i < NF; i++) s = s $i " "; print s }'; }
status_has() { [[ "$(status_of "$1")" == *"$2"* ]]; }
# show_knob ID OBJECT FIELD: one field of the knob of qosctl show --json whose kernel object is OBJECT
show_knob() {
	qosctl show "$1" --json 2>/dev/null |
		jq -r --arg o "$2" --arg f "$3" '[.knobs[] | select(.object == $o)][0][$f] // empty'
}
ms_now() { echo $(($(date +%s%N) / 1000000)); }

inject_on() { qt_inject_on "$@"; }
inject_off() { qt_inject_off; }
injected() { qt_injected; }

check adopted "c-busy: $MEM_FILE=$(knob c-busy memory $MEM_FILE)" qt_wait 5 is c-busy memory $MEM_FILE $M128

# --- cgroup knob writes: fault_case NAME ERRNO ID CTRL FILE WANT BAD WANT-RE KEY NEWVAL
# WANT-RE: how the value may be spelled in messages (128M or 134217728). The faulted file gets BAD
# behind qosd's back (so a drift pass must write it) and so does pids.max (or cpu), which must heal.
fault_case() {
	local n=$1 err=$2 id=$3 ctrl=$4 file=$5 want=$6 bad=$7 want_re=$8 key=$9 newval=${10}
	local path o_ctrl o_file o_want o_bad out rc t0 ms
	path=$(qt_cgdir "$ctrl" "$QT_CGP/$id")/$file
	if [[ $file == pids.max ]]; then
		o_ctrl=cpu o_file=$CPU_FILE o_want=$CPU_WANT o_bad=$CPU_BAD
	else
		o_ctrl=pids o_file=pids.max o_want=100 o_bad=max
	fi
	: >"$QT_TMP/strace.out"
	# a knob is written with pwrite on the fd it was read from (blkio's with write)
	inject_on -P "$path" -e trace=write,pwrite64 -e inject=write,pwrite64:error=$err
	echo "$bad" >"$path"
	echo "$o_bad" >"$(qt_cgdir $o_ctrl "$QT_CGP/$id")/$o_file"
	check "$n-other-knob-heals" "$o_file of $id stayed $(knob "$id" $o_ctrl $o_file) while $file failed" \
		qt_wait 4 is "$id" $o_ctrl $o_file "$o_want"
	check "$n-list-error" "qosctl list says '$(status_of "$id")' for $id" qt_wait 4 status_has "$id" error
	check "$n-injected" "strace injected nothing into writes of $path" test "$(injected)" -gt 0
	check "$n-no-false-success" "$file of $id is $(knob "$id" "$ctrl" "$file"), want still $bad" \
		is "$id" "$ctrl" "$file" "$bad"
	out=$(qosctl show "$id" 2>&1)
	local e a
	e=$(show_knob "$id" "$file" error)
	a=$(show_knob "$id" "$file" applied)
	check "$n-show-names" "show's error for $file: '$e'" \
		grep -Eq "$file.*($want_re).*$err" <<<"$e"
	check "$n-show-applied-is-kernel" "show's applied for $file is '$a', the kernel has $bad" \
		test "$a" = "$bad"
	grep -qF "$file" <<<"$out" || fail "$n-show-text" "qosctl show (text) does not name $file"
	check "$n-log-names" "no warning naming [$id ...], $file, the value and $err in the log" \
		grep -Eq "warning: \[$id .*$file.*($want_re).*$err" "$QT_QOSD_LOG"
	# a change of the faulted key is refused, and says so; one of another key goes through
	out=$(qosctl set "$id" "$key=$newval" 2>&1)
	rc=$?
	check "$n-set-refused" "qosctl set $key=$newval under $err: rc=$rc: $out" \
		test $rc -eq 1 -a -n "$(grep -E "nothing changed.*$file.*$err" <<<"$out")"
	check "$n-set-changed-nothing" "$file is $(knob "$id" "$ctrl" "$file") after a refused set" \
		is "$id" "$ctrl" "$file" "$bad"
	if [[ $file == pids.max ]]; then
		out=$(qosctl set "$id" cpu.shares=256 2>&1)
		rc=$?
		check "$n-set-other-ok" "set cpu.shares=256 under a pids fault: rc=$rc: $out" test $rc -eq 0
		check "$n-set-other-warns" "the reply does not warn about $file: $out" grep -q "warning.*$file" <<<"$out"
		qosctl unset "$id" cpu.shares >/dev/null
	else
		out=$(qosctl set "$id" pids.limit=90 2>&1)
		rc=$?
		check "$n-set-other-ok" "set pids.limit=90 under a $file fault: rc=$rc: $out" \
			test $rc -eq 0 -a "$(knob "$id" pids pids.max)" = 90
		check "$n-set-other-warns" "the reply does not warn about $file: $out" grep -q "warning.*$file" <<<"$out"
		qosctl unset "$id" pids.limit >/dev/null
	fi
	check "$n-alive" "qosd died under $err" alive
	inject_off
	t0=$(ms_now)
	if qt_wait 5 is "$id" "$ctrl" "$file" "$want"; then
		ms=$(($(ms_now) - t0))
		note "$err on $file: converged ${ms} ms after the fault went away"
		check "$n-converges" "took ${ms} ms, want <= 2500 (drift 1 s)" test $ms -le 2500
	else
		fail "$n-converges" "$file of $id is $(knob "$id" "$ctrl" "$file") 5 s after the fault went, want $want"
	fi
	check "$n-status-ok" "status after recovery: '$(status_of "$id")'" qt_wait 3 status_has "$id" ok
}

if [[ -z $HAVE_STRACE ]]; then
	skip cgroup-faults "$STRACE_WHY"
else
	fault_case ebusy EBUSY c-busy memory $MEM_FILE $M128 $((256 << 20)) "128M|$M128" memory.limit 100M
	fault_case enoent ENOENT c-noent cpu $CPU_FILE $CPU_WANT $CPU_BAD "$CPU_WANT" cpu.shares 256
	fault_case einval EINVAL c-inval pids pids.max 100 max "100" pids.limit 50
	if [[ $NCPU -ge 2 ]]; then
		fault_case enospc ENOSPC c-nospc cpuset cpuset.cpus 0 0-$((NCPU - 1)) '"0"' cpuset.cpus 1
	else
		skip enospc "one CPU: no other cpuset.cpus value to drift to"
	fi
fi

# --- netlink: every sendmsg (requests and dumps), then every recvmsg (replies, acks) fails
if [[ -z $HAVE_STRACE ]]; then
	skip netlink-faults "$STRACE_WHY"
elif [[ -z $NET ]]; then
	skip netlink-faults "${NET_WHY_SAVED:-no network world}"
else
	has_rate() { [[ "$(net_tbf_rate "$VETH")" == "$1" ]]; }
	check net-applied "no 20Mbit tbf on $VETH: '$(net_tbf_rate "$VETH")'" qt_wait 5 has_rate 20Mbit
	for sc in sendmsg:ENOBUFS recvmsg:EIO; do
		sys=${sc%%:*} err=${sc#*:}
		n=nl-$sys
		: >"$QT_TMP/strace.out"
		inject_on -e trace=$sys -e inject=$sys:error=$err
		# the CPU qosd burns while every netlink call fails (a busy loop would show here)
		c0=$(awk '{ print $14 + $15 }' "/proc/$QT_QOSD_PID/stat")
		out=$(qosctl set n-1 net.ingress=30mbit 2>&1)
		rc=$?
		check "$n-set-refused" "set net.ingress=30mbit with $sys failing: rc=$rc: $out" \
			test $rc -eq 1 -a -n "$(grep -E "nothing changed.*30mbit" <<<"$out")"
		tc -n "$NET_H" qdisc replace dev "$VETH" root handle 1: tbf rate 5mbit burst 32k latency 50ms
		check "$n-list-error" "list says '$(status_of n-1)' with $sys failing" qt_wait 4 status_has n-1 error
		e=$(qosctl show n-1 --json 2>/dev/null |
			jq -r '[.knobs[] | select(.key == "net.ingress")][0] | "\(.desired) | \(.error)"')
		check "$n-show-names" "show's net.ingress does not name 20mbit and an error: '$e'" \
			grep -Eq "^20mbit.* \| .*(veth|$VETH).*[a-z]" <<<"$e"
		check "$n-log-names" "no warning naming [n-1 ...], net.ingress and its rate in the log" \
			grep -Eq "warning: \[n-1 .*net.ingress = [0-9]+mbit" "$QT_QOSD_LOG"
		check "$n-no-false-success" "rate is '$(net_tbf_rate "$VETH")' under the fault, want 5Mbit left" has_rate 5Mbit
		sleep 1
		c1=$(awk '{ print $14 + $15 }' "/proc/$QT_QOSD_PID/stat")
		note "$sys $err: $(injected) calls failed; qosd used $((c1 - c0)) ticks of CPU in ~2.5 s"
		check "$n-no-spin" "qosd used $((c1 - c0)) ticks in ~2.5 s while $sys failed (a busy loop?)" \
			test $((c1 - c0)) -lt 150
		check "$n-alive" "qosd died under $sys $err" alive
		inject_off
		t0=$(ms_now)
		if qt_wait 5 has_rate 20Mbit; then
			note "$sys $err: rate back to 20Mbit $(($(ms_now) - t0)) ms after the fault went"
			pass "$n-converges"
		else
			fail "$n-converges" "rate is '$(net_tbf_rate "$VETH")' 5 s after the fault went"
		fi
		check "$n-status-ok" "status: '$(status_of n-1)'" qt_wait 3 status_has n-1 ok
	done
	n_tbf=$(tc -n "$NET_H" qdisc show dev "$VETH" | grep -c '^qdisc tbf')
	n_flt=$(tc -n "$NET_H" filter show dev "$VETH" ingress | grep -c 'Egress Redirect')
	n_ifb=$(net_ifbs | awk '$2 == "n-1"' | wc -l)
	check nl-no-duplicates "after the netlink faults: tbf=$n_tbf filters=$n_flt ifbs=$n_ifb, want 1 each" \
		test "$n_tbf$n_flt$n_ifb" = 111
fi

# --- the state journal: its append, then its fdatasync, fails
STATE=$QT_TMP/state
state_override() { qt_record "$1" "$STATE" | jq -r --arg k "$2" '.overrides[$k] // empty' 2>/dev/null; }
state_has() { [[ "$(state_override "$1" "$2")" == "$3" ]]; }
# the journal ends on a whole line and every line of it is JSON (nothing half-written)
journal_whole() {
	local j
	j=$(qt_journal "$STATE")
	[[ ! -s $j ]] && return 0
	[[ $(tail -c1 "$j" | od -An -tx1 | tr -d ' ') == 0a ]] && jq -c . "$j" >/dev/null
}
if [[ -z $HAVE_STRACE ]]; then
	skip state-faults "$STRACE_WHY"
else
	i=0
	for sc in "write:ENOSPC:-P $(qt_journal "$STATE") -e trace=write -e inject=write:error=ENOSPC" \
		"fdatasync:EIO:-e trace=fdatasync -e inject=fdatasync:error=EIO"; do
		IFS=: read -r what err args <<<"$sc"
		n=state-$what
		i=$((i + 1))
		val=$((80 + i))
		: >"$QT_TMP/strace.out"
		# shellcheck disable=SC2086
		inject_on $args
		before=$(qt_record c-busy "$STATE")
		out=$(qosctl set c-busy pids.limit=$val 2>&1)
		rc=$?
		check "$n-applied" "set pids.limit=$val: rc=$rc, pids.max=$(knob c-busy pids pids.max): $out" \
			test $rc -eq 0 -a "$(knob c-busy pids pids.max)" = $val
		check "$n-reply-warns" "the reply does not say the state was not saved: $out" \
			grep -qi "warning.*state" <<<"$out"
		check "$n-injected" "strace injected nothing" test "$(injected)" -gt 0
		check "$n-logged" "no error about the state file in the log" \
			grep -q "cannot write the state records.*$(printf '%s' "$err" | sed 's/ENOSPC/No space left/;s/EIO/Input\/output error/')" "$QT_QOSD_LOG"
		# a failed append leaves nothing; a failed fdatasync leaves the line (not yet durable)
		[[ $what == write ]] && check "$n-old-state-intact" "c-busy's record changed while appends failed: $(qt_record c-busy "$STATE")" \
			test "$(qt_record c-busy "$STATE")" = "$before"
		check "$n-journal-whole" "the journal ends on a partial or bad line: $(tail -c 200 "$(qt_journal "$STATE")")" journal_whole
		check "$n-alive" "qosd died" alive
		inject_off
		t0=$(ms_now)
		if qt_wait 5 state_has c-busy pids.limit "$val"; then
			note "state $what $err: saved $(($(ms_now) - t0)) ms after the fault went"
			pass "$n-saved-after"
		else
			fail "$n-saved-after" "c-busy's record has pids.limit='$(state_override c-busy pids.limit)' 5 s later"
		fi
		qosctl unset c-busy pids.limit >/dev/null
	done
fi

# --- the state directory's filesystem fills up (a 256 KiB tmpfs)
FULL=$QT_TMP/full
FULL_MOUNTED=
QT_EXTRA_CLEANUP="${QT_EXTRA_CLEANUP:+$QT_EXTRA_CLEANUP; }[[ -n \$FULL_MOUNTED ]] && umount -l \"$FULL\""
qt_stop_qosd
mkdir -p "$FULL"
if ! mount -t tmpfs -o size=256k,mode=0700 qosd-test-full "$FULL" 2>/dev/null; then
	skip disk-full "cannot mount a tmpfs"
else
	FULL_MOUNTED=1
	cp -a "$STATE/." "$FULL/"
	STATE=$FULL
	qt_start_qosd --config "$QT_TMP/qosd.conf" --state-dir "$FULL" || fail full-start "qosd did not start on the tmpfs"
	# c-busy's next record is to cross into a page the full tmpfs cannot give: the kernel cuts that
	# append short, qosd must cut it off again. Its length Lf (a two-digit pids.limit, as 77), then
	# the journal padded with empty lines (the loader passes over them) to Lf/2 before a page's end.
	J=$(qt_journal "$FULL")
	qosctl set c-busy pids.limit=76 >/dev/null
	qt_wait 3 state_has c-busy pids.limit 76
	sleep 0.3 # the pass's own appends
	Lf=$(qt_record c-busy "$FULL" | wc -c)
	pad=$(((4096 - Lf / 2 - $(stat -c %s "$J") % 4096 + 4096) % 4096))
	head -c "$pad" /dev/zero | tr '\0' '\n' >>"$J"
	JSIZE=$(stat -c %s "$J")
	note "journal $JSIZE bytes, $((4096 - JSIZE % 4096)) left in its last page; c-busy's record $Lf"
	dd if=/dev/zero of="$FULL/filler" bs=4k 2>/dev/null
	note "state fs: $(df -k "$FULL" | awk 'NR == 2 { print $3 " KiB used, " $4 " KiB free" }')"
	out=$(qosctl set c-busy pids.limit=77 2>&1)
	rc=$?
	check full-set-applied "set under a full disk: rc=$rc pids.max=$(knob c-busy pids pids.max): $out" \
		test $rc -eq 0 -a "$(knob c-busy pids pids.max)" = 77
	check full-set-warns "the reply does not say the state was not saved: $out" grep -qi "warning.*state" <<<"$out"
	# a container registered through the hook while the disk is full
	qt_cg_mkdir "$QT_CGP/h-1"
	qt_cg_run "$QT_CGP/h-1" sleep 100000
	HP=$QT_LASTPID
	qt_wait 5 grep -qx "$HP" "$(qt_cgdir "${QT_CTRLS[0]}" "$QT_CGP/h-1")/cgroup.procs"
	out=$("$QOSHOOK" --socket "$QT_SOCK" --config-dir "$QT_TMP/conf.d" --config "$QT_TMP/qosd.conf" \
		--state-dir "$FULL" --cgroupfs "$QT_CGROOT" --id h-1 --pid "$HP" --tenant qt --class silver 2>&1)
	rc=$?
	check full-hook-applied "hook under a full disk: rc=$rc, h-1 $MEM_FILE=$(knob h-1 memory $MEM_FILE): $out" \
		qt_wait 3 is h-1 memory $MEM_FILE $M128
	check full-logged "no 'No space left' about the state file in the log" \
		grep -q "cannot write the state records.*No space left" "$QT_QOSD_LOG"
	check full-alive "qosd died on a full disk" alive
	check full-journal-whole "the journal ends on a partial or bad line on a full disk: $(tail -c 200 "$J")" journal_whole
	check full-journal-cut-back "the journal is $(stat -c %s "$J") bytes on a full disk, was $JSIZE" \
		test "$(stat -c %s "$J")" = "$JSIZE"
	rm -f "$FULL/filler"
	t0=$(ms_now)
	state_known() { qt_record "$1" "$FULL" >/dev/null; }
	if qt_wait 5 state_has c-busy pids.limit 77 && qt_wait 2 state_known h-1; then
		note "disk full: state saved $(($(ms_now) - t0)) ms after space came back"
		pass full-saved-after
	else
		fail full-saved-after "the records lack the override or h-1 5 s after space came back"
	fi
	# what was saved late survives a kill -9
	qt_kill9_qosd
	echo max >"$(qt_cgdir pids "$QT_CGP/c-busy")/pids.max"
	qt_start_qosd --config "$QT_TMP/qosd.conf" --state-dir "$FULL" || fail full-restart "qosd did not restart"
	check full-restart-override "after kill -9 + restart pids.max=$(knob c-busy pids pids.max), want 77" \
		qt_wait 5 is c-busy pids pids.max 77
	check full-restart-hook "h-1 unknown after restart" qt_wait 3 bash -c "'$QOSCTL' -s '$QT_SOCK' list | grep -q '^h-1 .*silver'"
	qt_stop_qosd
	rc=$?
	check full-clean-exit "qosd exited $rc on SIGTERM" test $rc -eq 0
	umount "$FULL" && FULL_MOUNTED=
fi

qt_finish
