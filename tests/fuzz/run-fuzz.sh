#!/bin/bash
# make fuzz: run each libFuzzer target for FUZZ_SECONDS, one process at a time (one CPU), on a
# work corpus in build/fuzz/corpus/<target>/ merged from the seeds (tests/fuzz/corpus/<target>/)
# and every past crash (tests/fuzz/crashes/<target>/). Prints per target: executions, exec/s,
# coverage (libFuzzer's cov: edges and ft: features) and crashes; exit 1 if anything crashed.
# A crash input lands in build/fuzz/artifacts/<target>/: minimise it
#   build/fuzz/bin/<target> -minimize_crash=1 -runs=100000 <crash-file>
# and add it to tests/fuzz/crashes/<target>/ so make check replays it forever.
#   usage: tests/fuzz/run-fuzz.sh [target...]      (default: every binary in build/fuzz/bin)
#   FUZZ_SECONDS=200  FUZZ_B=build/fuzz  FUZZ_ARGS="extra libFuzzer flags"
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
FUZZ_SECONDS=${FUZZ_SECONDS:-200}
FUZZ_B=${FUZZ_B:-build/fuzz}
FUZZ_ARGS=${FUZZ_ARGS:-}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Largest input per target: a policy file or state file of a few hundred lines, a request or a
# hook state well past what the fields allow (the code's own caps are tested by the seeds).
max_len() {
	case $1 in
	fuzz-policy) echo 16384 ;;
	fuzz-proto) echo 8192 ;;
	fuzz-ocistate) echo 16384 ;;
	fuzz-state) echo 16384 ;;
	*) echo 4096 ;;
	esac
}

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
	for b in "$FUZZ_B"/bin/fuzz-*; do
		[[ -x $b ]] && targets+=("$(basename "$b")")
	done
fi
if [[ ${#targets[@]} -eq 0 ]]; then
	echo "run-fuzz: no fuzz targets built (make fuzz builds them)" >&2
	exit 1
fi

summary=()
total_crashes=0
for t in "${targets[@]}"; do
	bin=$FUZZ_B/bin/$t
	work=$FUZZ_B/corpus/$t
	art=$FUZZ_B/artifacts/$t
	logd=$FUZZ_B/logs
	seeds=tests/fuzz/corpus/$t
	crashes=tests/fuzz/crashes/$t
	dict=tests/fuzz/dict/${t#fuzz-}.dict
	mkdir -p "$work" "$art" "$logd"
	dargs=()
	[[ -f $dict ]] && dargs=(-dict="$dict")

	# merge the seeds and past crashes into the work corpus (keeps only inputs adding coverage)
	merge_dirs=()
	for d in "$seeds" "$crashes"; do
		[[ -d $d ]] && merge_dirs+=("$d")
	done
	before=$(find "$work" -type f | wc -l)
	if [[ ${#merge_dirs[@]} -gt 0 ]]; then
		"$bin" -merge=1 -max_len="$(max_len "$t")" "${dargs[@]}" "$work" "${merge_dirs[@]}" \
			>"$logd/$t.merge.log" 2>&1 ||
			echo "run-fuzz: $t: merging the seeds failed (see $logd/$t.merge.log)" >&2
	fi
	after=$(find "$work" -type f | wc -l)
	old=$(find "$art" -type f | wc -l)

	echo "== $t: ${FUZZ_SECONDS} s, -max_len=$(max_len "$t"), corpus $after (${before} before merge)"
	start=$SECONDS
	# shellcheck disable=SC2086
	"$bin" "$work" -max_total_time="$FUZZ_SECONDS" -max_len="$(max_len "$t")" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" "${dargs[@]}" \
		$FUZZ_ARGS >"$logd/$t.log" 2>&1
	rc=$?
	took=$((SECONDS - start))

	stats=$(grep -E '^#[0-9]+' "$logd/$t.log" | grep -E 'cov: ' | tail -1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logd/$t.log" | tail -1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logd/$t.log" | tail -1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$stats")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$stats")
	corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$stats")
	new=$(($(find "$art" -type f | wc -l) - old))
	total_crashes=$((total_crashes + new))
	line="$t: ${took} s, ${execs:-?} executions, ${eps:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, crashes $new"
	[[ $rc -ne 0 && $new -eq 0 ]] && line="$line (libFuzzer exited $rc, see $logd/$t.log)"
	echo "$line"
	if [[ $new -gt 0 ]]; then
		find "$art" -type f -newer "$logd/$t.merge.log" | sed 's/^/  crash input: /'
		grep -E 'ERROR: |runtime error|SUMMARY' "$logd/$t.log" | head -5 | sed 's/^/  /'
	fi
	summary+=("$line")
done

echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
echo "$total_crashes crashes"
[[ $total_crashes -eq 0 ]]
