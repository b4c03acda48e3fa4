#!/bin/bash
# Fuzz corpora as ordinary tests: every seed input in tests/fuzz/corpus/<target>/ and every crash
# ever found in tests/fuzz/crashes/<target>/ is run through the target once, in a replay build
# (the target's source + tests/fuzz/replay-main.c, gcc, ASan+UBSan: no libFuzzer needed).
# One PASS line per target; a failure names every input that fails on its own.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
B=${B:-build/san}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# targets whose sources (and the library files they test) exist
targets=$(make --no-print-directory -s SAN=1 B="$B" fuzz-list)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! make --no-print-directory -s SAN=1 B="$B" fuzz-replay >"$log" 2>&1; then
	echo "FAIL: fuzz/build: the replay binaries did not build"
	sed 's/^/  /' "$log" | tail -30
	exit 1
fi
for t in fuzz-policy fuzz-proto fuzz-ocistate fuzz-state fuzz-pressure fuzz-tasklist; do
	if [[ " $targets " != *" $t "* ]]; then
		echo "SKIP: fuzz/$t: its source or the code it tests is not there yet"
		continue
	fi
	bin=$B/fuzz-replay/$t
	inputs=()
	for d in tests/fuzz/corpus/$t tests/fuzz/crashes/$t; do
		[[ -d $d ]] || continue
		while IFS= read -r -d '' f; do
			inputs+=("$f")
		done < <(find "$d" -type f ! -name 'README*' ! -name '.*' -print0 | sort -z)
	done
	if [[ ${#inputs[@]} -eq 0 ]]; then
		echo "FAIL: fuzz/$t: no inputs in tests/fuzz/corpus/$t"
		continue
	fi
	ncrash=$(find "tests/fuzz/crashes/$t" -type f ! -name 'README*' ! -name '.*' 2>/dev/null | wc -l)
	# all at once (fast); on failure one process per input to name each one that fails
	if timeout 600 "$bin" "${inputs[@]}" >"$log" 2>&1; then
		echo "PASS: fuzz/$t: ${#inputs[@]} inputs replayed ($ncrash past crashes)"
		continue
	fi
	nfail=0
	for f in "${inputs[@]}"; do
		if ! timeout 60 "$bin" "$f" >"$log" 2>&1; then
			nfail=$((nfail + 1))
			kind=${f#tests/fuzz/}
			kind=${kind%%/*}
			echo "FAIL: fuzz/$t/$kind/${f##*/}: crashed (replay: $bin $f)"
			grep -E 'ERROR: |runtime error|SUMMARY|^    #[0-9]' "$log" | head -12 | sed 's/^/  /'
		fi
	done
	if [[ $nfail -eq 0 ]]; then
		echo "FAIL: fuzz/$t: the inputs fail together but none alone (state leaks between inputs)"
		tail -20 "$log" | sed 's/^/  /'
	fi
done
exit 0
