#!/bin/bash
# Func tests: the real daemon, qosctl and hook against this machine's kernel. Each tests/func/t-*.sh
# prints its own PASS:/FAIL:/SKIP: lines; a script killed by the time bound counts as a failure.
# Also run unchanged inside the VM (tests/vm), where QT_LAYER=vm.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${QT_TIMEOUT:=300}"
if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP: func: the func tests need root (cgroups, netns, loop devices)"
	exit 0
fi
for t in tests/func/t-*.sh; do
	[[ -e $t ]] || continue
	name=$(basename "$t" .sh)
	echo "-- $name"
	start=$SECONDS
	timeout -k 5 "$QT_TIMEOUT" bash "$t"
	rc=$?
	if [[ $rc -eq 124 || $rc -eq 137 ]]; then
		echo "FAIL: $name: killed after ${QT_TIMEOUT} s"
	elif [[ $rc -ne 0 ]]; then
		echo "FAIL: $name: exited $rc"
	fi
	echo "   ($name: $((SECONDS - start)) s)"
done
