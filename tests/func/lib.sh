# Shared by the func tests (bash; also runs inside the VM, where only busybox, bash and the tools
# the VM layer copies in are present). Each test prints PASS:/FAIL:/SKIP: lines; cleanup runs on
# every exit. Everything is named qosd-test-<pid>-...; only processes started here are stopped.
#
#   QOSD_BIN_DIR     qosd, qosctl, qos-hook      QOSD_HELPER_DIR  qt-burn, qt-alloc, ...
#   QOSD_SRC         the source tree             QT_CGROOT        cgroup root (/sys/fs/cgroup)

QOSD_SRC=${QOSD_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
QOSD_BIN_DIR=${QOSD_BIN_DIR:-$QOSD_SRC/build/san}
QOSD_HELPER_DIR=${QOSD_HELPER_DIR:-$QOSD_BIN_DIR/helpers}
QT_CGROOT=${QT_CGROOT:-/sys/fs/cgroup}
QOSD=$QOSD_BIN_DIR/qosd
QOSCTL=$QOSD_BIN_DIR/qosctl
QOSHOOK=$QOSD_BIN_DIR/qos-hook
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:exitcode=99}

QT_FAILS=0
pass() { echo "PASS: $QT_NAME/$1"; }
fail() {
	echo "FAIL: $QT_NAME/$1: ${*:2}"
	QT_FAILS=$((QT_FAILS + 1))
}
skip() { echo "SKIP: $QT_NAME/$1: ${*:2}"; }
# check NAME WHY-IF-FAILED CMD...: pass if CMD succeeds
check() {
	local n=$1 why=$2
	shift 2
	if "$@"; then pass "$n"; else fail "$n" "$why"; fi
}
note() { echo "  # $*"; }

# qt_init NAME: sets QT_NAME, QT_ID (qosd-test-PID), QT_TMP, QT_CGP (test cgroup parent path)
qt_init() {
	QT_NAME=$1
	QT_ID=qosd-test-$$
	QT_TMP=$(mktemp -d "/tmp/$QT_ID-$QT_NAME.XXXXXX")
	QT_CGP=/$QT_ID
	QT_PIDS=()
	QT_QOSD_PID=
	mkdir -p "$QT_TMP/conf.d" "$QT_TMP/state"
	trap qt_cleanup EXIT
	trap 'exit 130' INT TERM
	if [[ $(stat -f -c %T "$QT_CGROOT") == cgroup2fs ]]; then
		QT_V=2
		QT_CTRLS=(.)
	else
		QT_V=1
		QT_CTRLS=()
		for c in cpu cpuacct cpuset memory pids blkio; do
			[[ -d $QT_CGROOT/$c ]] && QT_CTRLS+=("$c")
		done
	fi
	qt_cg_mkdir "$QT_CGP"
}

qt_cleanup() {
	local p
	for p in "${QT_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	[[ -n $QT_QOSD_PID ]] && kill -9 "$QT_QOSD_PID" 2>/dev/null
	for p in "${QT_PIDS[@]}" $QT_QOSD_PID; do wait "$p" 2>/dev/null; done
	qt_cg_rmtree "$QT_CGP"
	[[ -n ${QT_EXTRA_CLEANUP:-} ]] && eval "$QT_EXTRA_CLEANUP"
	rm -rf "$QT_TMP"
}

# Directory of cgroup path P in controller C (v2: C ignored).
qt_cgdir() {
	if [[ $QT_V == 2 ]]; then echo "$QT_CGROOT$2"; else echo "$QT_CGROOT/$1$2"; fi
}

# Create cgroup P in every hierarchy (v1: cpuset made usable; v2: controllers enabled above it).
qt_cg_mkdir() {
	local p=$1 c d parent
	if [[ $QT_V == 2 ]]; then
		parent=$(dirname "$p")
		[[ $parent != / ]] && [[ ! -d $QT_CGROOT$parent ]] && qt_cg_mkdir "$parent"
		for c in cpu cpuset io memory pids; do
			grep -qw $c "$QT_CGROOT${parent%/}/cgroup.controllers" 2>/dev/null &&
				echo "+$c" >"$QT_CGROOT${parent%/}/cgroup.subtree_control" 2>/dev/null
		done
		mkdir -p "$QT_CGROOT$p"
		return
	fi
	# cpuset first, made usable (cpus, mems) before the cpu directory whose mkdir qosd reacts to:
	# filling it afterwards would overwrite what qosd wrote, as a runtime never does
	local order=()
	for c in "${QT_CTRLS[@]}"; do
		if [[ $c == cpuset ]]; then order=(cpuset "${order[@]}"); else order+=("$c"); fi
	done
	for c in "${order[@]}"; do
		d=$QT_CGROOT/$c$p
		mkdir -p "$d"
		if [[ $c == cpuset ]]; then
			local walk=$QT_CGROOT/cpuset rel
			IFS=/ read -ra rel <<<"${p#/}"
			for seg in "${rel[@]}"; do
				[[ -s $walk/$seg/cpuset.cpus ]] || cat "$walk/cpuset.cpus" >"$walk/$seg/cpuset.cpus"
				[[ -s $walk/$seg/cpuset.mems ]] || cat "$walk/cpuset.mems" >"$walk/$seg/cpuset.mems"
				walk=$walk/$seg
			done
		fi
	done
}

# Remove cgroup P and everything below it in every hierarchy (v1: every mounted hierarchy, also
# those the tests do not use but a runtime such as runc fills: devices, freezer, systemd, unified).
qt_cg_rmtree() {
	local p=$1 c top all=("${QT_CTRLS[@]}")
	if [[ $QT_V == 1 ]]; then
		all=()
		for top in "$QT_CGROOT"/*/; do
			top=${top%/}
			all+=("${top##*/}")
		done
	fi
	for c in "${all[@]}"; do
		top=$(qt_cgdir "$c" "$p")
		[[ -d $top ]] || continue
		find "$top" -depth -type d 2>/dev/null | while read -r d; do
			rmdir "$d" 2>/dev/null || { sleep 0.2; rmdir "$d" 2>/dev/null; } ||
				echo "  # cleanup: could not remove $d" >&2
		done
	done
}

# Start CMD in cgroup P (all hierarchies) in the background; its pid is in QT_LASTPID.
qt_cg_run() {
	local wrap=()
	# --netns NS: enter NS first, so the process is in its network namespace before it is in
	# the cgroup (as a runtime's container is); qosd never sees it in the host's namespace
	if [[ $1 == --netns ]]; then
		wrap=(nsenter --net="/run/netns/$2")
		shift 2
	fi
	local p=$1
	shift
	local files=() c
	for c in "${QT_CTRLS[@]}"; do files+=("$(qt_cgdir "$c" "$p")/cgroup.procs"); done
	"${wrap[@]}" bash -c 'for f in "${@:2:$1}"; do echo $$ > "$f" || exit 97; done; shift $(($1 + 1)); exec "$@"' \
		qt-run "${#files[@]}" "${files[@]}" "$@" &
	QT_LASTPID=$!
	QT_PIDS+=("$QT_LASTPID")
	# return once the process is in its cgroup (its last cgroup.procs), so a test that hands
	# its pid on at once never races the attach; not for one that exits or fails first
	local i st
	for ((i = 0; i < 200; i++)); do
		grep -qx "$QT_LASTPID" "${files[-1]}" 2>/dev/null && break
		read -r _ _ st _ <"/proc/$QT_LASTPID/stat" 2>/dev/null || break
		[[ $st == Z ]] && break
		sleep 0.05
	done
}

# Read a knob of cgroup P: qt_knob P CTRL FILE
qt_knob() { cat "$(qt_cgdir "$2" "$1")/$3" 2>/dev/null; }

# qt_wait TIMEOUT_S CMD...: poll CMD every 50 ms until it succeeds; 1 on timeout
qt_wait() {
	local end=$(($(date +%s%N) / 1000000 + ${1%.*} * 1000))
	shift
	while ! "$@" 2>/dev/null; do
		(($(date +%s%N) / 1000000 > end)) && return 1
		sleep 0.05
	done
}

# Start qosd in the background on the test's config dir, state dir and socket, and wait for the
# socket. Extra args pass through. QT_QOSD_LOG gets its output.
qt_start_qosd() {
	QT_SOCK=$QT_TMP/qosd.sock
	QT_QOSD_LOG=$QT_TMP/qosd.log
	"$QOSD" --config-dir "$QT_TMP/conf.d" --state-dir "$QT_TMP/state" --socket "$QT_SOCK" \
		--cgroupfs "$QT_CGROOT" --log-level debug "$@" >>"$QT_QOSD_LOG" 2>&1 &
	QT_QOSD_PID=$!
	if ! qt_wait 10 test -S "$QT_SOCK" || ! qt_wait 10 "$QOSCTL" -s "$QT_SOCK" list >/dev/null; then
		echo "  # qosd did not come up; log:" >&2
		tail -20 "$QT_QOSD_LOG" | sed 's/^/  # /' >&2
		return 1
	fi
}

qt_stop_qosd() {
	[[ -n $QT_QOSD_PID ]] || return 0
	kill -TERM "$QT_QOSD_PID" 2>/dev/null
	wait "$QT_QOSD_PID" 2>/dev/null
	local rc=$?
	QT_QOSD_PID=
	return $rc
}

qt_kill9_qosd() {
	[[ -n $QT_QOSD_PID ]] || return 0
	kill -9 "$QT_QOSD_PID" 2>/dev/null
	wait "$QT_QOSD_PID" 2>/dev/null
	QT_QOSD_PID=
	return 0
}

qosctl() { "$QOSCTL" -s "$QT_SOCK" "$@"; }

# Fault injection into the running qosd (strace -p; detaching ends the fault).
# qt_inject_on STRACE-ARGS...: attach with these filters and injections; output in
# $QT_TMP/strace.out. qt_inject_off: detach. qt_injected: how many calls were failed.
QT_STRACE_PID=
qt_inject_on() {
	strace -f -qq -o "$QT_TMP/strace.out" "$@" -p "$QT_QOSD_PID" 2>>"$QT_TMP/strace.err" &
	QT_STRACE_PID=$!
	QT_PIDS+=("$QT_STRACE_PID")
	qt_wait 5 grep -Eq 'TracerPid:[[:space:]]*[1-9]' "/proc/$QT_QOSD_PID/status" ||
		note "strace did not attach within 5 s"
}
qt_inject_off() {
	[[ -n $QT_STRACE_PID ]] || return 0
	kill -TERM "$QT_STRACE_PID" 2>/dev/null
	wait "$QT_STRACE_PID" 2>/dev/null
	QT_STRACE_PID=
	qt_wait 5 grep -Eq 'TracerPid:[[:space:]]*0$' "/proc/$QT_QOSD_PID/status"
}
qt_injected() { grep -c INJECTED "$QT_TMP/strace.out" 2>/dev/null; }

# The records qosd keeps in STATEDIR/containers, replayed as qosd loads them: per-file ID.json of
# older versions, then snapshot.jsonl, then journal.jsonl (a record line puts its container,
# {"removed":ID} removes it; a line that is not JSON, like a torn last one, is passed over), as one
# JSON document {"containers": [...]} for jq: qt_state [STATEDIR]
qt_state() {
	local d=${1:-$QT_TMP/state}/containers
	{
		find "$d" -maxdepth 1 -name '*.json' ! -name '.*' -exec sed -s -e '$a\' {} + 2>/dev/null
		cat "$d/snapshot.jsonl" "$d/journal.jsonl" 2>/dev/null
	} | jq -Rc 'fromjson? | select(type == "object")' |
		jq -s 'reduce .[] as $l ({}; if $l.removed then del(.[$l.removed]) else .[$l.id] = $l end)
			| {containers: [.[]]}'
}
# The latest record of container ID (nothing and status 1 when it has none): qt_record ID [STATEDIR]
qt_record() {
	local r
	r=$(qt_state "${2:-}" | jq -c --arg id "$1" '.containers[] | select(.id == $id)')
	[[ -n $r ]] && printf '%s\n' "$r"
}
# The files of the records (for modes and corruption tests): qt_journal / qt_snapshot [STATEDIR]
qt_journal() { echo "${1:-$QT_TMP/state}/containers/journal.jsonl"; }
qt_snapshot() { echo "${1:-$QT_TMP/state}/containers/snapshot.jsonl"; }

# Write a tenant policy file: qt_policy TENANT <<EOF ... EOF
qt_policy() { cat >"$QT_TMP/conf.d/$1.conf"; }

# Print the qosd log tail into the test output (after a failure).
qt_show_log() { [[ -f ${QT_QOSD_LOG:-} ]] && tail -${1:-30} "$QT_QOSD_LOG" | sed 's/^/  # qosd: /'; }

qt_finish() {
	[[ $QT_FAILS -gt 0 ]] && qt_show_log 40
	return 0
}

# qt_prjquota_why MNT: nothing when MNT is mounted with project quota enforced, else why not
qt_prjquota_why() {
	if [[ -z $1 ]]; then
		echo "no filesystem with project quota here (this host's kernel has no quota support); the VM layers run it"
	elif ! awk -v m="$1" '$2 == m && $4 ~ /(prjquota|pquota)/ { f = 1 } END { exit !f }' /proc/mounts; then
		echo "$1 is not mounted with prjquota"
	fi
}

# Tenant qt with class plain (pids only) and q10 (disk.quota = 10M), and an empty qosd.conf: the
# policy of the tests that derive a container's quota directory
qt_policy_q10() {
	qt_policy qt <<EOP
[class plain]
pids.limit = 500
[class q10]
pids.limit = 500
disk.quota = 10M
EOP
	: >"$QT_TMP/qosd.conf"
}
