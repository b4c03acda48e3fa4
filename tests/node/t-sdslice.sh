#!/bin/bash
# Tenant budgets as systemd slices (issue 14): qosd starts qosd-sdacme.slice (StartTransientUnit)
# and sets the tenant's budget on it; two Docker containers placed in it with
# "docker run --cgroup-parent=qosd-sdacme.slice", each class allowing 75% of a CPU. With a budget
# of 100% they get one CPU together; with 190% (the control) they get more.
. "$(dirname "$0")/lib.sh"
qt_init sdslice
. "$(dirname "$0")/lib-sd.sh"
IMG=qosd-test-sl:$$
POL=/etc/qosd/conf.d/sdacme.conf
SL=/qosd.slice/qosd-sdacme.slice

write_policy() { # BUDGET_PERCENT
	cat >"$POL" <<-EOF
		[tenant]
		cpu.quota = $1%

		[class hog]
		cpu.quota = 75%

		[match]
		$SL/docker-*.scope = hog
	EOF
}
at_exit "rm -f $POL; systemctl reload qosd; systemctl stop qosd-sdacme.slice"

sd_image "$IMG"

write_policy 100
t=$(now_ms)
systemctl reload qosd
if ! wait_for 30 knob_is "$SL" cpu.max "100000 100000"; then
	fail slice "$SL: cpu.max '$(knob "$SL" cpu.max)' 30 s after the reload (unit $(systemctl is-active qosd-sdacme.slice))"
	qt_finish
	exit 1
fi
note "slice with the budget $(($(now_ms) - t)) ms after systemctl reload qosd"
eq slice-unit "systemctl show qosd-sdacme.slice" \
	"$(systemctl show qosd-sdacme.slice -p ActiveState -p Transient -p CPUQuotaPerSecUSec | sort | tr '\n' ' ')" \
	"ActiveState=active CPUQuotaPerSecUSec=1s Transient=yes "

for i in 1 2; do
	docker run -d --name "$QT_ID-hog$i" --cgroup-parent=qosd-sdacme.slice "$IMG" sh -c 'while :; do :; done' >/dev/null
	at_exit "docker rm -f $QT_ID-hog$i"
done
HOGS=()
for i in 1 2; do
	h=$(cg_of_pid "$(docker inspect -f '{{.State.Pid}}' "$QT_ID-hog$i")")
	HOGS+=("$h")
	check "hog$i-class" "$h cpu.max is '$(knob "$h" cpu.max)', not the class's 75000 100000" \
		wait_for 30 knob_is "$h" cpu.max "75000 100000"
done
note "containers: ${HOGS[*]}"

usage() { stat_field "$1" cpu.stat usage_usec; }
measure() { # sets PCT_SL PCT_H0 PCT_H1: percent of one CPU over 5 s
	sleep 1
	local s0 a0 b0 t0 s1 a1 b1 t1 w
	s0=$(usage "$SL") a0=$(usage "${HOGS[0]}") b0=$(usage "${HOGS[1]}") t0=$(date +%s%N)
	sleep 5
	s1=$(usage "$SL") a1=$(usage "${HOGS[0]}") b1=$(usage "${HOGS[1]}") t1=$(date +%s%N)
	w=$(((t1 - t0) / 1000))
	PCT_SL=$(((s1 - s0) * 100 / w)) PCT_H0=$(((a1 - a0) * 100 / w)) PCT_H1=$(((b1 - b0) * 100 / w))
}
measure
note "budget 100%: slice $PCT_SL% of a CPU, containers $PCT_H0% + $PCT_H1% (each class allows 75%)"
if ((PCT_SL >= 90 && PCT_SL <= 110 && PCT_H0 <= 85 && PCT_H1 <= 85)); then
	pass slice-budget-binds
else
	fail slice-budget-binds "slice used $PCT_SL% of a CPU (budget 100% +-10%), containers $PCT_H0% and $PCT_H1%"
fi

# the control: a budget above what the two classes allow; together they take more than one CPU
write_policy 190
systemctl reload qosd
wait_for 30 knob_is "$SL" cpu.max "190000 100000"
measure
note "budget 190%: slice $PCT_SL% of a CPU, containers $PCT_H0% + $PCT_H1%"
if ((PCT_SL > 115)); then
	pass slice-budget-control
else
	fail slice-budget-control "with a 190% budget the two 75% containers took $PCT_SL% of a CPU: the VM could not show the budget binding"
fi
qt_finish
