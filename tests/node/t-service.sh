#!/bin/bash
# qosd as its systemd unit: reload through systemctl (a broken file keeps the old policy and
# "systemctl status" says why), journal fields, the watchdog restarting a SIGSTOPped qosd without
# losing a limit, and the unit's hardening leaving qosd what it needs (priority = batch making a
# container's threads SCHED_IDLE and back: the way back needs CAP_SYS_NICE).
. "$(dirname "$0")/lib.sh"
qt_init service
SCOPE=$QT_ID-svc
ID=$SCOPE
CGP=/system.slice/$SCOPE.scope
POL=/etc/qosd/conf.d/svc.conf
at_exit "rm -f $POL; systemctl reload qosd"

write_policy() {
	cat >"$POL" <<-EOF2
		[class a]
		pids.limit = $1
		$2
		[match]
		/system.slice/qosd-test-*-svc.scope = a
	EOF2
}

# the hardening as systemd sees it (every PASS in this layer runs under it)
note "unit: $(systemctl show qosd -p Type -p WatchdogUSec -p ProtectSystem -p NoNewPrivileges -p RestrictNamespaces | tr '\n' ' ')"
note "unit: $(systemctl show qosd -p ReadWritePaths -p CapabilityBoundingSet | tr '\n' ' ' | cut -c1-300)"

# a systemd scope standing for a container (what docker's systemd driver makes)
systemd-run --quiet --unit="$SCOPE" --scope sleep 600 &
at_exit "systemctl stop $SCOPE.scope"
wait_for 20 test -d "$CG$CGP" || fail scope "systemd-run --scope made no $CGP"

# reload: a new file is picked up
write_policy 61
t=$(now_ms)
systemctl reload qosd
if wait_for 20 knob_is "$CGP" pids.max 61; then
	pass reload-applies
	note "systemctl reload qosd: $CGP pids.max 61 after $(($(now_ms) - t)) ms"
else
	fail reload-applies "pids.max is $(knob "$CGP" pids.max) 20 s after systemctl reload (want 61)"
fi
write_policy 62
systemctl reload qosd
check reload-changes "pids.max $(knob "$CGP" pids.max) after changing the class to 62" \
	wait_for 20 knob_is "$CGP" pids.max 62

# reload: a broken file keeps the old policy, and systemctl status says why
write_policy 63 "no.such.key = 1"
systemctl reload qosd
if wait_for 20 sh -c "systemctl status qosd --no-pager -n 0 | grep -q 'svc.conf'"; then
	pass reload-broken-status
	note "systemctl status: $(systemctl status qosd --no-pager -n 0 | grep -m1 'svc.conf' | sed 's/^ *//')"
else
	fail reload-broken-status "systemctl status qosd does not name svc.conf: $(systemctl status qosd --no-pager -n 3 | tr '\n' ' ')"
fi
sleep 1
eq reload-broken-keeps "$CGP pids.max after the broken reload" "$(knob "$CGP" pids.max)" 62
check reload-broken-active "qosd is $(systemctl is-active qosd) after a broken reload" \
	test "$(systemctl is-active qosd)" = active
write_policy 62
systemctl reload qosd

# journal: entries about this container carry QOS_CONTAINER, QOS_TENANT, QOS_CLASS
sleep 1
j=$(journalctl QOS_CONTAINER="$ID" -o export --no-pager 2>/dev/null | tr -d "\000")
n=$(grep -c '^MESSAGE=' <<<"$j")
if ((n > 0)) && grep -q '^QOS_TENANT=svc$' <<<"$j" && grep -q '^QOS_CLASS=a$' <<<"$j"; then
	pass journal-fields
	note "journalctl QOS_CONTAINER=$ID: $n entries, e.g. \"$(grep -m1 '^MESSAGE=' <<<"$j" | cut -c9-120)\" with QOS_TENANT=svc QOS_CLASS=a"
else
	fail journal-fields "journalctl QOS_CONTAINER=$ID found $n entries ($(grep -E '^QOS_(TENANT|CLASS)=' <<<"$j" | sort -u | tr '\n' ' '))"
fi

# watchdog: a stopped qosd is killed and restarted by systemd; no limit is lost meanwhile
pid0=$(systemctl show -p MainPID --value qosd)
nr0=$(systemctl show -p NRestarts --value qosd)
wd=$(systemctl show -p WatchdogUSec --value qosd)
t=$(now_ms)
kill -STOP "$pid0"
lost=0
restarted=0
while (($(now_ms) - t < 90000)); do
	[[ $(knob "$CGP" pids.max) == 62 ]] || lost=$((lost + 1))
	pid=$(systemctl show -p MainPID --value qosd)
	if [[ $pid != "$pid0" && $pid != 0 && $(systemctl is-active qosd) == active ]]; then
		restarted=1
		break
	fi
	sleep 0.5
done
if ((restarted)); then
	pass watchdog-restart
	note "SIGSTOP qosd (pid $pid0): restarted as pid $pid after $(($(now_ms) - t)) ms (WatchdogSec=$wd), NRestarts $nr0 -> $(systemctl show -p NRestarts --value qosd)"
	note "$(journalctl -u qosd --no-pager -o cat | grep -m1 -i watchdog)"
else
	fail watchdog-restart "qosd (pid $pid0, SIGSTOPped) not restarted within 90 s (WatchdogSec=$wd; now $(systemctl is-active qosd), pid $(systemctl show -p MainPID --value qosd))"
	kill -CONT "$pid0" 2>/dev/null
fi
eq watchdog-no-limit-lost "samples where $CGP pids.max was not 62 during the stop and restart" "$lost" 0
check watchdog-readopted "qosctl list after the restart: $(qosctl list 2>&1 | grep "$ID")" \
	wait_for 20 sh -c "qosctl list | grep -q '$ID'"

# priority = batch: the scope's process becomes SCHED_IDLE; a reload that leaves no class with
# priority puts it back to SCHED_OTHER, which under the unit's bounding set needs CAP_SYS_NICE
policy_of() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	set -- ${s##*) }
	echo "${39}"
}
policy_is() { [[ $(policy_of "$1") == "$2" ]]; }
spid=$(head -1 "$CG$CGP/cgroup.procs")
# with the reset-on-fork flag, which the unit's RestrictRealtime= seccomp filter would refuse to
# see passed back (qosd drops it)
chrt --reset-on-fork --other -p 0 "$spid" || note "chrt --reset-on-fork failed: the flag is not set"
write_policy 62 "priority = batch"
systemctl reload qosd
wait_for 20 policy_is "$spid" 5
check batch-threads-idle "the policy of $CGP's process $spid is $(policy_of "$spid") 20 s after priority = batch, want 5 (SCHED_IDLE)" \
	policy_is "$spid" 5
write_policy 62
systemctl reload qosd
wait_for 20 policy_is "$spid" 0
check batch-threads-undone "the policy of $CGP's process $spid is $(policy_of "$spid") 20 s after no class sets priority, want 0 (SCHED_OTHER); qosd: $(journalctl -u qosd --no-pager -o cat | grep 'thread' | tail -2 | cut -c1-160 | tr '\n' ' ')" \
	policy_is "$spid" 0
qt_finish
