#!/bin/bash
# Style and structure: clang-format (kernel style) and the include rule of DESIGN.md.
set -uo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null; find qosd blkio tc quota tests bench -name '*.[ch]' 2>/dev/null)
files=$(printf '%s\n' $files | sort -u)
bad=""
for f in $files; do
	clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [[ -z $bad ]]; then
	echo "PASS: style/clang-format"
else
	echo "FAIL: style/clang-format: not formatted:$bad (run make format)"
fi

# Include rule: enforcers never include policy.h, desired.h, manager.h or each other; no library
# header appears in a qosd header.
viol=""
for d in blkio tc quota; do
	for f in $d/*.[ch] ; do
		[[ -e $f ]] || continue
		grep -HnE '#include "(policy|desired|manager|registry|reconcile|control|watch)\.h"' "$f" && viol="$viol $f"
		for o in blkio tc quota; do
			[[ $o == "$d" ]] && continue
			grep -HnE "#include \"($o/|\.\./$o/)" "$f" && viol="$viol $f"
		done
	done
done
for f in qosd/cgroup.c qosd/cgroup.h qosd/cgfs.c qosd/cgfs.h; do
	[[ -e $f ]] && grep -HnE '#include "(policy|desired|manager|registry|reconcile|control|watch)\.h"' "$f" && viol="$viol $f"
done
for f in qosd/*.h blkio/*.h tc/*.h quota/*.h; do
	[[ -e $f ]] || continue
	grep -HnE '#include <(libcgroup|netlink/|ini\.h|libudev\.h|jansson\.h|systemd/)' "$f" && viol="$viol $f"
done
if [[ -z $viol ]]; then
	echo "PASS: style/include-rule"
else
	echo "FAIL: style/include-rule: $viol"
fi
