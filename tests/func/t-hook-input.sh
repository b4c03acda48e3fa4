#!/bin/bash
# qos-hook's input and refusals: the state JSON of each runtime-spec version (1.0.2 with bundle,
# the older bundlePath, 1.3 with status "creating"), the plain --id form, and hostile states (not
# JSON, 2 MiB, a pid in the root cgroup, ../../x, a class of another tenant, a pid that does not
# exist, a service unit, qosd's own cgroup, outside container_roots, a stdin that never ends).
# Each refusal exits 1 with a reason and writes nothing (cgroup knobs, pending records, qosd's
# registry) - with qosd down and with qosd up. Also the shipped integration files (hooks.d JSON,
# runc snippet, DaemonSet YAML, systemd unit, Docker [match] example) against what their
# consumers read.
source "$(dirname "$0")/lib.sh"
qt_init hook-input

if [[ $QT_V == 2 ]]; then
	MEM=(memory memory.max) PIDS=(pids pids.max) CPU=(cpu cpu.max)
else
	MEM=(memory memory.limit_in_bytes) PIDS=(pids pids.max) CPU=(cpu cpu.cfs_quota_us)
fi
M64=$((64 << 20))
STATE=$QT_TMP/state
PENDING=$STATE/pending
QT_SOCK=$QT_TMP/qosd.sock

qt_policy qt <<EOF
[class gold]
cpu.quota = 30%
memory.limit = 64M
pids.limit = 50
# two tenants: a container may claim qt only from these cgroups (t-claim.sh tests the binding)
[claim]
cgroup = $QT_CGP/c-*
EOF
qt_policy other <<EOF
[class bronze]
memory.limit = 32M
EOF

# c-ok gets limits; c-clean must never be touched (every refusal points at it when it can)
qt_cg_mkdir "$QT_CGP/c-ok"
qt_cg_mkdir "$QT_CGP/c-clean"
qt_cg_mkdir "$QT_CGP/svc.service"
qt_cg_mkdir "$QT_CGP/qosd-self"
qt_cg_run "$QT_CGP/c-ok" sleep 600
P_OK=$QT_LASTPID
qt_cg_run "$QT_CGP/c-clean" sleep 600
P_CLEAN=$QT_LASTPID
qt_cg_run "$QT_CGP/svc.service" sleep 600
P_SVC=$QT_LASTPID
qt_cg_run "$QT_CGP/qosd-self" sleep 600
P_SELF=$QT_LASTPID

knobs() {
	local cg=$1
	echo "$(qt_knob "$cg" "${MEM[@]}") $(qt_knob "$cg" "${PIDS[@]}") $(qt_knob "$cg" "${CPU[@]}")"
}
CLEAN_BEFORE=$(knobs "$QT_CGP/c-clean")
SVC_BEFORE=$(knobs "$QT_CGP/svc.service")

# A process in the root cgroup of the primary hierarchy (kernel threads always are).
root_pid() {
	local f pat
	if [[ $QT_V == 2 ]]; then pat='^0::/$'; else pat='^[0-9]+:([^:]*,)?cpu(,[^:]*)?:/$'; fi
	for f in /proc/[0-9]*/cgroup; do
		grep -qE "$pat" "$f" 2>/dev/null && { f=${f#/proc/}; echo "${f%/cgroup}"; return; }
	done
}
P_ROOT=$(root_pid)
P_GONE=$( (exit 0) & echo $!)
while kill -0 "$P_GONE" 2>/dev/null; do P_GONE=$((P_GONE + 7919)); done

# jqe ARGS...: jq -e, quietly
jqe() { jq -e "$@" >/dev/null; }
quiet() { "$@" >/dev/null 2>&1; }

HOOK=("$QOSHOOK" --socket "$QT_SOCK" --config-dir "$QT_TMP/conf.d" --state-dir "$STATE"
	--config /dev/null)

# st FILE JQ-ARGS... FILTER: write a state made by jq
st() {
	local f=$QT_TMP/$1
	shift
	jq -cn "$@" >"$f"
	echo "$f"
}
# state ID PID TENANT CLASS [EXTRA-FILTER]: a runtime-spec 1.0.2 state with bundle
state() {
	st "s-${1//\//_}.json" --arg id "$1" --argjson pid "$2" --arg t "$3" --arg c "$4" \
		'{ociVersion: "1.0.2", id: $id, status: "creating", pid: $pid, bundle: "/b",
		  annotations: ({} + (if $t != "" then {"qosd.io/tenant": $t} else {} end)
				  + (if $c != "" then {"qosd.io/class": $c} else {} end))}'"${5:-}"
}

# hook STDIN-FILE ARGS...: sets OUT (stdout+stderr) and RC
hook() {
	OUT=$("${HOOK[@]}" "${@:2}" <"$1" 2>&1)
	RC=$?
}
# refusal NAME REGEX STDIN-FILE [ARGS...]: exit 1, and REGEX in what it says
refusal() {
	local n=$1 re=$2
	shift 2
	[[ $# -ge 2 ]] || set -- "$1" createRuntime
	hook "$@"
	check "$n-exit1" "exit $RC: $OUT" test "$RC" -eq 1
	check "$n-says" "no /$re/ in: $OUT" grep -qE -- "$re" <<<"$OUT"
}

# nothing_written PHASE: c-clean and svc.service untouched, no pending record
nothing_written() {
	check "$1-clean-untouched" "c-clean: $(knobs "$QT_CGP/c-clean") (was $CLEAN_BEFORE)" \
		test "$(knobs "$QT_CGP/c-clean")" = "$CLEAN_BEFORE"
	check "$1-service-untouched" "svc.service: $(knobs "$QT_CGP/svc.service")" \
		test "$(knobs "$QT_CGP/svc.service")" = "$SVC_BEFORE"
	check "$1-no-pending" "pending: $(ls "$PENDING" 2>/dev/null | tr '\n' ' ')" \
		test -z "$(ls -A "$PENDING" 2>/dev/null)"
}

# all_refusals PHASE: every hostile input, refused
all_refusals() {
	local p=$1 big=$QT_TMP/big.json fifo=$QT_TMP/fifo t0 ms
	printf 'this is not json' >"$QT_TMP/notjson"
	refusal "$p-not-json" "malformed state: state is not JSON" "$QT_TMP/notjson"
	{
		printf '{"ociVersion":"1.0.2","id":"big","pid":%d,"annotations":{"pad":"' "$P_CLEAN"
		head -c $((2 << 20)) /dev/zero | tr '\0' x
		printf '","qosd.io/tenant":"qt","qosd.io/class":"gold"}}'
	} >"$big"
	refusal "$p-2mib" "larger than 1048576 bytes" "$big"
	OUT=$(cat "$big" | "${HOOK[@]}" createRuntime 2>&1)
	RC=$?
	check "$p-2mib-pipe" "exit $RC through a pipe: $OUT" test $RC -eq 1
	refusal "$p-root-cgroup" "root cgroup is never a container" \
		"$(state root-1 "${P_ROOT:-1}" qt gold)"
	refusal "$p-dotdot-id" "invalid container id \"\.\./\.\./x\"" "$(state ../../x "$P_CLEAN" qt gold)"
	refusal "$p-other-tenants-class" 'tenant "qt" has no class "bronze"' \
		"$(state cls-1 "$P_CLEAN" qt bronze)"
	refusal "$p-unknown-tenant" 'unknown tenant "nosuch"' "$(state ten-1 "$P_CLEAN" nosuch gold)"
	refusal "$p-unknown-class" 'class "platinum" is not defined by exactly one tenant' \
		"$(state cls-2 "$P_CLEAN" "" platinum)"
	refusal "$p-bad-class-name" 'not a valid class name' "$(state cls-3 "$P_CLEAN" qt 'go/ld')"
	refusal "$p-no-such-pid" "pid $P_GONE does not exist" "$(state gone-1 "$P_GONE" qt gold)"
	refusal "$p-service-unit" "system service unit, not a container" \
		"$(state svc-1 "$P_SVC" qt gold)"
	refusal "$p-no-pid" "has no pid" "$(state nopid-1 0 qt gold)"
	refusal "$p-pid-string" '"pid" is not a process id' "$(state pidstr-1 1 qt gold '|.pid="1"')"
	refusal "$p-version-2" 'ociVersion "2.0.0" is not supported' \
		"$(state v2-1 "$P_CLEAN" qt gold '|.ociVersion="2.0.0"')"
	refusal "$p-rel-disk-dir" 'disk-dir.*absolute path' \
		"$(state dd-1 "$P_CLEAN" qt gold '|.annotations["qosd.io/disk-dir"]="../etc"')"
	refusal "$p-plain-dotdot" "invalid container id" /dev/null --id ../../x --pid "$P_CLEAN" \
		--tenant qt --class gold
	# a writer that never finishes: refused at the deadline, not hung
	rm -f "$fifo"
	mkfifo "$fifo"
	exec 7<>"$fifo"
	printf '{"ociVersion":' >&7
	t0=$(date +%s%N)
	refusal "$p-slow-stdin" "no complete state on stdin within 300 ms" "$fifo" --timeout 300ms \
		createRuntime
	ms=$((($(date +%s%N) - t0) / 1000000))
	exec 7>&-
	check "$p-slow-stdin-bounded" "took $ms ms" test $ms -lt 1500
}

# ===== qosd down =====
check down-no-qosd "a socket is there" test ! -e "$QT_SOCK"
all_refusals down
# qosd's own cgroup (as qosd records it at start) and container_roots, without qosd
echo "$QT_CGP/qosd-self" >"$STATE/qosd.cgroup"
refusal down-qosd-own-cgroup "holds qosd itself" "$(state self-1 "$P_SELF" qt gold)"
rm -f "$STATE/qosd.cgroup"
echo "container_roots = $QT_CGP/allowed" >"$QT_TMP/roots.conf"
refusal down-outside-roots "outside the configured container_roots" \
	"$(state roots-1 "$P_CLEAN" qt gold)" --config "$QT_TMP/roots.conf" createRuntime
check down-nothing-made-state-dir "$PENDING exists" test ! -e "$PENDING"
nothing_written down

# usage errors are 2
hook /dev/null startContainer
check usage-stage "exit $RC: $OUT" test $RC -eq 2 -a -n "$(grep 'unknown stage' <<<"$OUT")"
hook /dev/null --timeout 0 createRuntime
check usage-timeout "exit $RC: $OUT" test $RC -eq 2
hook /dev/null --id x
check usage-plain-no-pid "exit $RC: $OUT" test $RC -eq 2
OUT=$("$QOSHOOK" --help)
check help-runtimes "--help names no hooks.d / config.json / Docker" \
	bash -c 'grep -q hooks.d <<<"$1" && grep -q createRuntime <<<"$1" && grep -q "docker-\*.scope" <<<"$1"' _ "$OUT"

# accepted forms, applied by the hook itself: each writes a pending record qosd adopts
accepted() {
	local n=$1 f=$2 id=$3
	hook "$f" createRuntime
	check "down-$n-exit0" "exit $RC: $OUT" test $RC -eq 0
	check "down-$n-says" "no 'does not answer' note: $OUT" grep -q "qosd does not answer" <<<"$OUT"
	check "down-$n-pending" "no pending/$id.json" \
		jqe --arg cg "$QT_CGP/c-ok" '.cgroup == $cg and .hook_class == "gold"' "$PENDING/$id.json"
}
accepted v1.0.2 "$(state form-102 "$P_OK" qt gold)" form-102
check down-applied-memory "c-ok: $(knobs "$QT_CGP/c-ok")" test "$(qt_knob "$QT_CGP/c-ok" "${MEM[@]}")" = $M64
check down-applied-pids "c-ok: $(knobs "$QT_CGP/c-ok")" test "$(qt_knob "$QT_CGP/c-ok" "${PIDS[@]}")" = 50
check down-applied-cpu "c-ok: $(knobs "$QT_CGP/c-ok")" grep -q '^30000' <<<"$(qt_knob "$QT_CGP/c-ok" "${CPU[@]}")"
accepted bundlePath "$(st s-old.json --argjson pid "$P_OK" '{ociVersion: "1.0.0-rc5", id: "form-old",
	pid: $pid, bundlePath: "/b/old", annotations: {"qosd.io/tenant": "qt", "qosd.io/class": "gold"}}')" form-old
check down-bundlePath-kept "bundle not recorded" jqe '.bundle == "/b/old"' "$PENDING/form-old.json"
accepted v1.3 "$(state form-13 "$P_OK" "" gold '|.ociVersion="1.3.0" | .extra={future: [1]}')" form-13
check pending-mode "mode $(stat -c %a "$PENDING/form-13.json") / dir $(stat -c %a "$PENDING")" \
	test "$(stat -c %a "$PENDING/form-13.json")" = 600 -a "$(stat -c %a "$PENDING")" = 700
hook "$(st s-stop.json '{ociVersion: "1.0.2", id: "form-13", status: "stopped", bundle: "/b"}')" poststop
check down-poststop "exit $RC: $OUT" test $RC -eq 0 -a ! -e "$PENDING/form-13.json"
hook "$(st s-stop2.json '{ociVersion: "1.0.2", id: "never-seen", status: "stopped"}')" poststop
check down-poststop-unknown "exit $RC: $OUT" test $RC -eq 0
hook /dev/null --id form-old --release
check down-plain-release "exit $RC: $OUT" test $RC -eq 0 -a ! -e "$PENDING/form-old.json"

# ===== qosd up: it adopts what the hook recorded, and refuses the same inputs =====
qt_start_qosd || {
	fail start "qosd did not start"
	exit 0
}
check up-adopted "qosctl list: $(qosctl list 2>&1)" \
	qt_wait 5 bash -c "'$QOSCTL' -s '$QT_SOCK' list | grep -q '^form-102 .*qt .*gold .*hook'"
check up-pending-consumed "pending: $(ls "$PENDING")" test ! -e "$PENDING/form-102.json"
check up-self-cgroup-file "qosd.cgroup: $(cat "$STATE/qosd.cgroup" 2>&1)" test -s "$STATE/qosd.cgroup"
hook "$(st s-stop3.json '{ociVersion: "1.0.2", id: "form-102", status: "stopped"}')" poststop
check up-poststop-forgets "exit $RC: $OUT; list: $(qosctl list)" \
	bash -c "[[ $RC == 0 ]] && ! '$QOSCTL' -s '$QT_SOCK' list | grep -q '^form-102 '"
CLEAN_BEFORE=$(knobs "$QT_CGP/c-clean")
all_refusals up
refusal up-via-qosd-words "qosd refused to register it: tenant \"qt\" has no class" \
	"$(state cls-9 "$P_CLEAN" qt bronze)"
out=$(qosctl list)
check up-nothing-registered "qosctl list: $out" bash -c '! grep -qE "^(root-1|cls-|ten-|svc-|big|gone-)" <<<"$1"' _ "$out"
nothing_written up

# registering through qosd: silent, immediate; the plain form too
hook "$(state live-1 "$P_OK" qt gold)" createRuntime
check up-register "exit $RC: $OUT" test $RC -eq 0 -a -z "$OUT"
check up-registered "qosctl list: $(qosctl list)" bash -c "'$QOSCTL' -s '$QT_SOCK' list | grep -q '^live-1 .*qt .*gold .*hook'"
hook /dev/null --id live-2 --pid "$P_OK" --tenant qt --class gold
check up-plain-register "exit $RC: $OUT" test $RC -eq 0
hook /dev/null --id live-2 --release
check up-plain-release "exit $RC: $OUT; list: $(qosctl list)" \
	bash -c "[[ $RC == 0 ]] && ! '$QOSCTL' -s '$QT_SOCK' list | grep -q '^live-2 '"
hook "$(st s-stop4.json '{ociVersion: "1.0.2", id: "live-1", status: "stopped"}')" poststop
check up-poststop "exit $RC: $OUT" test $RC -eq 0
hook "$(st s-stop5.json '{ociVersion: "1.0.2", id: "never-seen", status: "stopped"}')" poststop
check up-poststop-unknown "exit $RC: $OUT" test $RC -eq 0
qt_stop_qosd

# ===== the integration files, against what their consumers read =====
C=$QOSD_SRC/contrib
STAGES='["prestart","createRuntime","createContainer","startContainer","poststart","poststop"]'
HOOKSD=("$C"/hooks.d/*.json)
[[ -e ${HOOKSD[0]} ]] || HOOKSD=()
[[ ${#HOOKSD[@]} -gt 0 ]] || skip hooksd "no $C/hooks.d/*.json in this tree (the VM image leaves out *.d)"
for f in "${HOOKSD[@]}"; do
	n=hooksd-$(basename "$f" .json)
	# containers/common pkg/hooks 1.0.0: version, hook.path (absolute), hook.args, when (at least
	# one condition; annotation keys and values are regexps), stages (known names, non-empty)
	check "$n-schema" "$(jq -c . "$f" 2>&1 | head -c 300)" jqe --argjson st "$STAGES" '
		.version == "1.0.0"
		and (.hook.path | type == "string" and startswith("/"))
		and (.hook.args | type == "array" and all(type == "string"))
		and ((.hook.timeout // 1) | type == "number" and . > 0)
		and (.when | type == "object" and (has("always") or has("annotations")
			or has("commands") or has("hasBindMounts")))
		and (.when.annotations // {} | to_entries | all(.key as $k | "qosd.io/class" | test($k)))
		and (.stages | type == "array" and length > 0 and all(. as $s | $st | index($s)))
		and (.stages[0] as $s | .hook.args | index($s) != null)
		and (keys - ["version", "hook", "when", "stages"] | length == 0)' "$f"
done
[[ ${#HOOKSD[@]} -eq 0 ]] ||
	check hooksd-both-stages "stages: $(jq -c .stages "${HOOKSD[@]}" | tr '\n' ' ')" \
		bash -c 'jq -r ".stages[]" "$@" | sort | tr "\n" " " | grep -q "createRuntime poststop"' _ "${HOOKSD[@]}"
check runc-snippet "contrib/runc-config-snippet.json" jqe '
	(.hooks.createRuntime[0].path | startswith("/")) and .hooks.createRuntime[0].args[1] == "createRuntime"
	and .hooks.poststop[0].args[1] == "poststop" and (.annotations | has("qosd.io/class"))' \
	"$C/runc-config-snippet.json"
check docker-match-valid "qosd --check: $("$QOSD" --check --config-dir "$C" 2>&1)" \
	quiet "$QOSD" --check --config-dir "$C"
check docker-match-rules "no docker-*.scope and /docker/* rules" \
	bash -c 'grep -q "^/system.slice/docker-\*.scope = " "$1" && grep -q "^/docker/\* = " "$1"' _ "$C/docker-match.conf"
unit=$C/qosd.service.in
for k in 'Type=notify' 'WatchdogSec=' 'Restart=on-failure' 'ExecStart=@SBINDIR@/qosd$' \
	'ExecReload=/bin/kill -HUP \$MAINPID' 'ProtectSystem=strict' \
	'ReadWritePaths=/sys/fs/cgroup /var/lib/qosd /run/qosd' 'NoNewPrivileges=yes' \
	'RestrictAddressFamilies=AF_UNIX AF_NETLINK' 'CapabilityBoundingSet=.*CAP_SYS_ADMIN' \
	'RuntimeDirectory=qosd' 'StateDirectory=qosd'; do
	check "unit-${k%%=*}" "no /$k/ in qosd.service.in" grep -qE "^$k" "$unit"
done
if command -v systemd-analyze >/dev/null && [[ ${QT_LAYER:-} != vm ]]; then
	sed "s|@SBINDIR@|$QOSD_BIN_DIR|g" "$unit" >"$QT_TMP/qosd.service"
	out=$(timeout 30 systemd-analyze verify --man=no "$QT_TMP/qosd.service" 2>&1)
	check unit-verify "systemd-analyze verify: $out" test -z "$out"
else
	skip unit-verify "no systemd-analyze here"
fi
yaml=$C/kubernetes/qosd-daemonset.yaml
if command -v python3 >/dev/null && python3 -c 'import yaml' 2>/dev/null; then
	check daemonset-parses "$(python3 -c 'import sys,yaml; list(yaml.safe_load_all(open(sys.argv[1])))' "$yaml" 2>&1 | tail -1)" \
		python3 - "$yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
ds = [d for d in docs if d["kind"] == "DaemonSet"][0]
spec = ds["spec"]["template"]["spec"]
assert spec["hostPID"] is True
c = spec["containers"][0]
assert c["securityContext"]["privileged"] is True
mounts = {m["mountPath"] for m in c["volumeMounts"]}
assert {"/sys/fs/cgroup", "/run/qosd", "/var/lib/qosd", "/etc/qosd/conf.d"} <= mounts, mounts
vols = {v["name"]: v for v in spec["volumes"]}
pol = [m for m in c["volumeMounts"] if m["mountPath"] == "/etc/qosd/conf.d"][0]
assert "configMap" in vols[pol["name"]], "policy is not a ConfigMap"
cm = [d for d in docs if d["kind"] == "ConfigMap"][0]
assert all(k.endswith(".conf") for k in cm["data"])
EOF
else
	# no YAML parser (the VM): tabs are never valid indentation, and the skeleton is there
	check daemonset-structure "no tabs / missing kind: DaemonSet, hostPID, the mounts" \
		bash -c '! grep -q "^$(printf "\t")" "$1" && grep -q "^kind: DaemonSet" "$1" && grep -q "hostPID: true" "$1" &&
			grep -q "mountPath: /sys/fs/cgroup" "$1" && grep -q "mountPath: /etc/qosd/conf.d" "$1"' _ "$yaml"
fi
[[ -n $P_ROOT ]] || note "no process found in the root cgroup; pid 1 was used"
qt_finish
