#!/bin/bash
# qos-hook's fast path (issue 16): the program a runtime execs on every container start loads
# jansson and libc alone, registers through qosd without the fallback, and execs qos-hook-apply
# (beside it, else LIBEXECDIR) only when qosd does not answer. When the applier cannot be run, or
# is writable by others, the hook refuses: no container starts unlimited. The applier is not a
# program of its own: run directly it refuses, and qos-hook refuses its internal options.
source "$(dirname "$0")/lib.sh"
qt_init hook-fast

APPLY=$QOSD_BIN_DIR/qos-hook-apply
PIDS=(pids pids.max)
qt_policy fast <<EOT
[class gold]
pids.limit = 77
EOT
STATE=$QT_TMP/state
chmod 700 "$STATE"
QT_SOCK=$QT_TMP/qosd.sock
hook() { # hook BIN ID PID: the plain form, class gold
	OUT=$("$1" --socket "$QT_SOCK" --config-dir "$QT_TMP/conf.d" --config /dev/null \
		--state-dir "$STATE" --cgroupfs "$QT_CGROOT" --id "$2" --pid "$3" --tenant fast \
		--class gold 2>&1)
	RC=$?
}
pidsmax() { qt_knob "$QT_CGP/$1" "${PIDS[@]}"; }

# ---- what each program loads (the dynamic loader's own list: no ldd needed) ----
heavy='libsystemd|libnl-|libinih|libudev|libgcrypt|liblzma|libzstd|libcap'
libs=$(LD_TRACE_LOADED_OBJECTS=1 "$QOSHOOK" 2>&1)
if ! grep -q '=>' <<<"$libs" && grep -q 'qos-hook: usage error' <<<"$libs"; then
	# the default static link: no loader to list anything, so the program itself ran
	pass fast-links-static
else
	check fast-links-jansson "qos-hook does not load libjansson: $libs" grep -q libjansson <<<"$libs"
	check fast-links-nothing-else "qos-hook loads $(grep -oE "($heavy)[^ ]*" <<<"$libs" | tr '\n' ' ')" \
		bash -c '! grep -qE "$1" <<<"$2"' _ "$heavy" "$libs"
fi
# the same test on the applier finds them: the check can fail
alibs=$(LD_TRACE_LOADED_OBJECTS=1 "$APPLY" 2>&1)
check fast-check-can-fail "qos-hook-apply loads none of $heavy: $alibs" grep -qE "$heavy" <<<"$alibs"

# ---- internal options stay internal ----
OUT=$("$APPLY" --id x --pid $$ 2>&1)
RC=$?
check apply-direct-refused "exit $RC: $OUT" \
	bash -c '[[ $1 == 2 ]] && grep -q "internal to qos-hook" <<<"$2"' _ "$RC" "$OUT"
OUT=$("$QOSHOOK" --fallback-why x --fallback-deadline 1 --id x --pid $$ 2>&1)
RC=$?
check hook-internal-opts-refused "exit $RC: $OUT" test "$RC" = 2

# ---- qos-hook alone in a directory: the fast path needs nothing else ----
BIN1=$QT_TMP/bin1
mkdir -p "$BIN1"
cp "$QOSHOOK" "$BIN1/qos-hook"
for c in up-1 down-1 down-2; do qt_cg_mkdir "$QT_CGP/$c"; done
qt_cg_run "$QT_CGP/up-1" sleep 600
P_UP=$QT_LASTPID
qt_cg_run "$QT_CGP/down-1" sleep 600
P_D1=$QT_LASTPID
qt_cg_run "$QT_CGP/down-2" sleep 600
P_D2=$QT_LASTPID
qt_start_qosd --config /dev/null || exit 1
hook "$BIN1/qos-hook" up-1 "$P_UP"
check fast-up-registers "exit $RC: $OUT" test "$RC" = 0
check fast-up-applied "pids.max of up-1: $(pidsmax up-1)" test "$(pidsmax up-1)" = 77
qt_stop_qosd

# qosd down, no applier beside it and none in LIBEXECDIR: refused, nothing written
LIBEXEC_APPLY=$(grep -aoE '/[[:alnum:]/._-]*/qos-hook-apply' "$QOSHOOK" | head -1)
BEFORE=$(pidsmax down-1)
if [[ -z $LIBEXEC_APPLY ]]; then
	fail fast-no-applier "no LIBEXECDIR path in $QOSHOOK"
elif [[ -e $LIBEXEC_APPLY ]]; then
	skip fast-no-applier "an applier is installed at $LIBEXEC_APPLY"
else
	hook "$BIN1/qos-hook" down-1 "$P_D1"
	check fast-no-applier-refused "exit $RC: $OUT" \
		bash -c '[[ $1 == 1 ]] && grep -q "not starting the container unlimited" <<<"$2"' _ "$RC" "$OUT"
	check fast-no-applier-names-it "no $LIBEXEC_APPLY in: $OUT" grep -qF "$LIBEXEC_APPLY" <<<"$OUT"
	check fast-no-applier-no-record "pending record written" test ! -e "$STATE/pending/down-1.json"
	check fast-no-applier-no-write "pids.max changed to $(pidsmax down-1)" \
		test "$(pidsmax down-1)" = "$BEFORE"
fi

# an applier others may write is not run
BIN2=$QT_TMP/bin2
mkdir -p "$BIN2"
cp "$QOSHOOK" "$BIN2/qos-hook"
cp "$APPLY" "$BIN2/qos-hook-apply"
chmod 0757 "$BIN2/qos-hook-apply"
hook "$BIN2/qos-hook" down-1 "$P_D1"
check fast-writable-applier-refused "exit $RC: $OUT" \
	bash -c '[[ $1 == 1 ]] && grep -q "Operation not permitted" <<<"$2"' _ "$RC" "$OUT"
check fast-writable-applier-no-write "pids.max changed to $(pidsmax down-1)" \
	test "$(pidsmax down-1)" = "$BEFORE"

# the applier beside it: the fallback applies the limits and leaves the record
chmod 0755 "$BIN2/qos-hook-apply"
hook "$BIN2/qos-hook" down-2 "$P_D2"
check fast-fallback-applies "exit $RC: $OUT" \
	bash -c '[[ $1 == 0 ]] && grep -q "applied fast/gold to cgroup" <<<"$2"' _ "$RC" "$OUT"
check fast-fallback-knob "pids.max of down-2: $(pidsmax down-2)" test "$(pidsmax down-2)" = 77
check fast-fallback-record "no pending/down-2.json" test -s "$STATE/pending/down-2.json"
# poststop with qosd down goes through the applier too: the record is dropped
OUT=$("$BIN2/qos-hook" --socket "$QT_SOCK" --state-dir "$STATE" --id down-2 --release 2>&1)
RC=$?
check fast-fallback-release "exit $RC: $OUT" test "$RC" = 0 -a ! -e "$STATE/pending/down-2.json"

qt_finish
