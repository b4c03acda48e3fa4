#!/bin/bash
# Unit and fake-tree tests: every cmocka binary, its TAP output turned into PASS/FAIL/SKIP lines.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${B:-build/san}
rc=0
for t in $(find "$B/tests" -type f -perm -u+x 2>/dev/null | sort); do
	name=${t#"$B"/tests/}
	log=$(mktemp)
	CMOCKA_MESSAGE_OUTPUT=TAP QOSD_SRC=$PWD "$t" >"$log" 2>&1
	trc=$?
	awk -v n="$name" '
		/^ok [0-9]+ - .*# SKIP/ { sub(/^ok [0-9]+ - /, ""); print "SKIP: " n "/" $0; next }
		/^ok [0-9]+ - / { sub(/^ok [0-9]+ - /, ""); print "PASS: " n "/" $0; next }
		/^not ok [0-9]+ - / { sub(/^not ok [0-9]+ - /, ""); print "FAIL: " n "/" $0; next }
		/^#/ { print "  " $0 }
	' "$log"
	if [[ $trc -ne 0 ]] && ! grep -q '^not ok' "$log"; then
		echo "FAIL: $name: exited $trc"
		sed 's/^/  /' "$log" | tail -30
	fi
	grep -q '^not ok' "$log" && sed 's/^/  | /' "$log" | grep -v '^  | ok' | tail -40
	rm -f "$log"
done
exit $rc
