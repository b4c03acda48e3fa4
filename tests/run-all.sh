#!/bin/bash
# Runs the test layers and prints one closing line "N passed, N failed, N skipped" counting every
# layer. Each layer prints lines "PASS: name", "FAIL: name: why" or "SKIP: name: why"; this script
# counts them. Exit status: 0 only if nothing failed.
#   B=build/san       where the binaries are
#   LAYERS="style unit func vm node"
set -uo pipefail
cd "$(dirname "$0")/.."
B=${B:-build/san}
LAYERS=${LAYERS:-style unit func fuzz vm vm-reliability node}
export B QOSD_BIN_DIR=$PWD/$B QOSD_HELPER_DIR=$PWD/$B/helpers QOSD_SRC=$PWD
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

out=$(mktemp -d /tmp/qosd-test-results.XXXXXX)
trap 'rm -rf "$out"' EXIT

run_layer() {
	local layer=$1 script=tests/layer-$1.sh start=$SECONDS
	echo "== layer $layer"
	if [[ ! -x $script ]]; then
		echo "FAIL: layer-$layer: $script missing" | tee -a "$out/all"
		return
	fi
	# a layer that dies without printing its results counts as a failure
	"$script" 2>&1 | tee "$out/$layer"
	local rc=${PIPESTATUS[0]}
	cat "$out/$layer" >> "$out/all"
	if [[ $rc -ne 0 ]] && ! grep -q '^FAIL: ' "$out/$layer"; then
		echo "FAIL: layer-$layer: exited $rc without reporting a failure" | tee -a "$out/all"
	fi
	echo "== layer $layer took $((SECONDS - start)) s"
}

for l in $LAYERS; do
	run_layer "$l"
done

p=$(grep -c '^PASS: ' "$out/all" || true)
f=$(grep -c '^FAIL: ' "$out/all" || true)
s=$(grep -c '^SKIP: ' "$out/all" || true)
if [[ $f -gt 0 ]]; then
	echo "failures:"
	grep '^FAIL: ' "$out/all" | sed 's/^/  /'
fi
echo "$p passed, $f failed, $s skipped"
[[ $f -eq 0 && $p -gt 0 ]]
