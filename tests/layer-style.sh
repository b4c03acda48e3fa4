#!/bin/bash
# Style and structure: clang-format (kernel style) and the include rule of docs/design-notes.md.
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

# verdict NAME WHAT VIOLATION...: PASS without violations, else FAIL and one line each.
verdict() {
	local name=$1 what=$2
	shift 2
	if [[ $# -eq 0 ]]; then
		echo "PASS: style/$name"
	else
		echo "FAIL: style/$name: $what:"
		printf '  %s\n' "$@"
	fi
}

# Include rule (docs/design-notes.md, "Include rule"): the include graph of the production code,
# read from the sources, against the table below. A module is a file's stem (qosd/cgroup-apply.c
# and qosd/cgroup-internal.h belong to cgroup, qosd/registry-store.c to registry, qosd/commands.c
# to manager, blkio/* to blkio); each may include itself and the modules its row names, nothing
# else. A file in no module fails too: a new file takes its place in the table.
declare -A allow=(
	[util]="" [log]="util" [units]="util" [limits]="util"
	# the policy keys: one enum and one table of names, plain data beside limits (any module)
	[keys]="limits util"
	[report]="keys util"
	# allow checks a container's path in each v1 hierarchy (struct cg_paths, cg_ctrl_name)
	[allow]="cgroup util"
	# JSON text written without a json_t tree, as jansson writes it (issue 16: per-request texts)
	[jsonw]="util"
	[proto]="util" [ocistate]="util" [pressure]="util" [config]="units util" [cgfs]="log util"
	# a batch container's threads made SCHED_IDLE: their ids read from its cgroup through cgfs
	[taskidle]="cgfs util"
	# systemd's D-Bus API (sd-bus): the writer for unit cgroups, beside cgfs for cgroupfs
	[sdunit]="units log util"
	[policy]="keys limits units log util"
	[desired]="policy limits util"
	# registry keeps a container's v1 per-hierarchy paths (struct cg_paths)
	[registry]="policy cgroup jsonw log util"
	# the assignment rules qosd and qos-hook share: precedence and the [claim] binding
	[assign]="policy util"
	[watch]="log util"
	[control]="proto log util"
	[cgroup]="cgfs sdunit keys limits report units log util"
	[blkio]="cgfs sdunit keys limits report log util"
	[tc]="keys limits report units log util"
	[quota]="keys limits report units log util"
	# where a quota may tag: one rule for qosd and qos-hook (the quota module checks the path)
	[diskdir]="quota util"
	[reconcile]="desired cgroup blkio tc quota diskdir sdunit report limits log util"
	# the manager owns the event sources: link, block-device and cgroup events come from the
	# enforcers' monitors, so it includes their headers for those (never their knob writers);
	# the pressure controller parses PSI and cpu.stat with stats' pure parsers
	[manager]="keys policy desired registry reconcile watch control config allow assign units limits report
		cgroup blkio tc quota diskdir ocistate metrics plan log util pressure cgfs sdunit stats jsonw taskidle"
	[main]="manager config policy log util"
	[qosctl]="config policy proto units log util"
	# metrics: qosd's statistics (stats reads the kernel; metrics collects per container through
	# the manager and serves them; plan/explain evaluate a policy read only)
	[stats]="cgfs util"
	[metrics]="manager plan stats cgroup tc quota policy report control config log util"
	[plan]="manager metrics assign control desired cgroup proto policy report log util"
	# qos-hook's command line and state, shared by its two programs
	[hook-args]="ocistate config units util"
	# qos-hook: the fast path (one request to qosd) links these alone (issue 16)
	[qos-hook]="hook-args ocistate proto jsonw config util"
	# qos-hook-apply: the fallback qos-hook execs when qosd does not answer
	[qos-hook-apply]="hook-args manager policy desired registry reconcile cgroup blkio tc quota
		config allow assign units limits report sdunit log util"
)
for k in "${!allow[@]}"; do allow[$k]=$(echo ${allow[$k]}); done # one line, single spaces
module_of() {
	local f=$1 b
	case $f in
	blkio/* | tc/* | quota/*) echo "${f%%/*}" ;;
	qosd/commands.c | qosd/observe.c | qosd/controller.[ch]) echo manager ;;
	qosd/explain.c) echo plan ;;
	qosd/metrics-*) echo metrics ;;
	qosd/qosctl-*) echo qosctl ;;
	qosd/cgroup-*) echo cgroup ;;
	qosd/registry-*) echo registry ;;
	qosd/policy-*) echo policy ;;
	qosd/manager-*) echo manager ;;
	qosd/*)
		b=${f#qosd/}
		echo "${b%.[ch]}"
		;;
	esac
}
graph_viol=()
for f in $(printf '%s\n' $files | grep -E '^(qosd|blkio|tc|quota)/'); do
	m=$(module_of "$f")
	if [[ -z ${allow[$m]+set} ]]; then
		graph_viol+=("$f: module $m is not in the include table of tests/layer-style.sh")
		continue
	fi
	while IFS=: read -r line inc; do
		inc=${inc#*\"}
		inc=${inc%%\"*}
		# a quoted include resolves next to the file first, then from the top (-I.)
		if [[ -e $(dirname "$f")/$inc ]]; then t=$(realpath -m --relative-to=. "$(dirname "$f")/$inc")
		else t=$(realpath -m --relative-to=. "$inc"); fi
		tm=$(module_of "$t")
		[[ $tm == "$m" ]] && continue
		[[ " ${allow[$m]} " == *" $tm "* ]] ||
			graph_viol+=("$f:$line: $m includes $t (${tm:-outside the modules}); allowed: ${allow[$m]}")
	done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f")
done
# no library header in a header of ours: each library lives in the one module that wraps it
for f in $(printf '%s\n' $files | grep -E '^(qosd|blkio|tc|quota)/.*\.h$'); do
	while IFS= read -r hit; do
		graph_viol+=("$f:$hit: a library header in a header")
	done < <(grep -nE '#[[:space:]]*include[[:space:]]*<(libcgroup|netlink/|ini\.h|libudev\.h|jansson\.h|systemd/|microhttpd\.h|cmocka\.h)' "$f")
done
verdict include-rule "${#graph_viol[@]} includes outside the graph" "${graph_viol[@]}"

# Policy key names (issue 18): spelled once, in qosd/keys.c's table (names and aliases); every
# other production file names a key through enum qos_key. A kernel file with the same name as a key
# ("cpu.weight", "memory.high") is another thing and stays: the file column of the knob table
# (KV(QK_..., "file") in qosd/cgroup-apply.c), cgfs.c's allowed_knobs[] and copy_knob(). Comments
# and longer strings ("memory.high events") are not looked at.
key_names=$(sed -nE 's/^[[:space:]]*\[QK_[A-Z_]+\] = \{ "([^"]+)".*/\1/p
	s/^[[:space:]]*\{ "([^"]+)", QK_[A-Z_]+ \},.*/\1/p' qosd/keys.c)
key_viol=()
if [[ $(wc -w <<<"$key_names") -lt 20 ]]; then
	key_viol+=("qosd/keys.c: read only $(wc -w <<<"$key_names") key names from its table")
else
	key_re=$(printf '%s\n' $key_names | sed 's/\./\\./g' | paste -sd'|')
	for f in $(printf '%s\n' $files | grep -E '^(qosd|blkio|tc|quota)/' | grep -vx qosd/keys.c); do
		while IFS= read -r hit; do
			key_viol+=("$f:$hit")
		done < <(awk '/allowed_knobs\[\] = \{/ && FILENAME ~ /cgfs\.c$/ { skip = 1 }
			skip { if (/^};/) skip = 0; next }
			{ sub(/\/\*.*/, ""); if ($0 ~ /^[[:space:]]*\*/) next
			  gsub(/KV\(QK_[A-Z_]+, "[^"]*"/, ""); gsub(/copy_knob\([^"]*"[^"]*"/, "")
			  print FNR ": " $0 }' "$f" | grep -E "\"($key_re)\"")
	done
fi
verdict key-names "a policy key name spelled outside qosd/keys.c (use enum qos_key)" "${key_viol[@]}"

# Hardened build: PIE, full RELRO, stack protector, FORTIFY_SOURCE, read from the binaries.
tests/check-hardening.sh "${B:-build/san}"
# qos-hook static by default, dynamic with HOOK_STATIC=0 and SAN=1 (make's link lines)
tests/check-hook-link.sh
