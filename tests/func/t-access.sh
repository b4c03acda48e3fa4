#!/bin/bash
# Who may talk to qosd, and what qosd trusts on disk: the control socket from an unprivileged user,
# from another network namespace, mount namespace and user namespace (the peer-credential check
# still applies everywhere); a socket path, socket directory, state directory or pending directory
# that is a symlink or writable by others refuses the start with a clear message; qosd's own files
# (state dir, its records' journal and snapshot, pending dir and records, socket, qosd.cgroup) get safe
# modes under umask 000.
source "$(dirname "$0")/lib.sh"
qt_init access

RUNAS=$QOSD_HELPER_DIR/qt-runas
NOBODY=65534
qt_policy qt <<EOF
[class silver]
pids.limit = 100

[match]
$QT_CGP/c-* = silver
EOF
printf 'drift_interval = 0s\n' >"$QT_TMP/qosd.conf"
qt_cg_mkdir "$QT_CGP/c-1"
PIDS_FILE=$(qt_cgdir pids "$QT_CGP/c-1")/pids.max
mode() { stat -c %a "$1" 2>/dev/null; }

# --- qosd under umask 000: a fresh state directory, socket directory and files of its own
STATE=$QT_TMP/fresh/state
SOCKDIR=$QT_TMP/fresh/run
mkdir -p "$QT_TMP/fresh"
start_umask_qosd() {
	(
		umask 000
		exec "$QOSD" --config-dir "$QT_TMP/conf.d" --config "$QT_TMP/qosd.conf" --state-dir "$STATE" \
			--socket "$SOCKDIR/qosd.sock" --cgroupfs "$QT_CGROOT" >>"$QT_TMP/qosd.log" 2>&1
	) &
	QT_QOSD_PID=$!
	QT_QOSD_LOG=$QT_TMP/qosd.log
	QT_SOCK=$SOCKDIR/qosd.sock
	qt_wait 10 "$QOSCTL" -s "$QT_SOCK" list >/dev/null
}
if ! start_umask_qosd; then
	fail umask-start "qosd did not start under umask 000"
	qt_finish
	exit 0
fi
REC=$(qt_journal "$STATE")
qt_wait 5 qt_record c-1 "$STATE" >/dev/null || qosctl set c-1 pids.limit=99 >/dev/null
qt_wait 5 qt_record c-1 "$STATE" >/dev/null
check umask-state-dir "state dir mode $(mode "$STATE"), want 700" test "$(mode "$STATE")" = 700
check umask-records-dir "records dir mode $(mode "$STATE/containers"), want 700" test "$(mode "$STATE/containers")" = 700
check umask-state-journal "journal mode $(mode "$REC"), want 600" test "$(mode "$REC")" = 600
# a restart folds the journal into the snapshot (written tmp + rename): 0600 as well
qt_stop_qosd
start_umask_qosd
SNAP=$(qt_snapshot "$STATE")
check umask-state-snapshot "snapshot mode $(mode "$SNAP"), want 600" test "$(mode "$SNAP")" = 600
check umask-state-record-kept "c-1's record after the restart: $(qt_record c-1 "$STATE")" qt_record c-1 "$STATE"
check umask-pending-dir "pending dir mode $(mode "$STATE/pending"), want 700" test "$(mode "$STATE/pending")" = 700
check umask-socket "socket mode $(mode "$QT_SOCK"), want 600" test "$(mode "$QT_SOCK")" = 600
check umask-socket-dir "socket dir mode $(mode "$SOCKDIR"), want 755" test "$(mode "$SOCKDIR")" = 755
c=$STATE/qosd.cgroup
[[ -e $c ]] && check umask-self-cgroup "qosd.cgroup mode $(mode "$c"), want 644 or tighter" \
	bash -c "(( (8#$(mode "$c") & 8#022) == 0 ))"
others=$(find "$QT_TMP/fresh" -perm -o+w ! -type l 2>/dev/null | head -5)
check umask-nothing-world-writable "world-writable: $others" test -z "$others"

# the hook, under umask 000 and with qosd down, leaves a pending record: private too
qt_stop_qosd
qt_cg_mkdir "$QT_CGP/h-1"
qt_cg_run "$QT_CGP/h-1" sleep 100000
HP=$QT_LASTPID
qt_wait 5 grep -qx "$HP" "$(qt_cgdir "${QT_CTRLS[0]}" "$QT_CGP/h-1")/cgroup.procs"
out=$(
	umask 000
	"$QOSHOOK" --socket "$QT_SOCK" --config-dir "$QT_TMP/conf.d" --config "$QT_TMP/qosd.conf" \
		--state-dir "$STATE" --cgroupfs "$QT_CGROOT" --id h-1 --pid "$HP" --tenant qt --class silver 2>&1
)
rec=$STATE/pending/h-1.json
check umask-pending-record "no pending record after the hook ran with qosd down: $out" test -f "$rec"
check umask-pending-record-mode "pending record mode $(mode "$rec"), want 600" test "$(mode "$rec")" = 600
rm -f "$rec"

# --- the normal qosd of this test (socket in QT_TMP, 0700)
qt_start_qosd --config "$QT_TMP/qosd.conf" || {
	fail start "qosd did not start"
	qt_finish
	exit 0
}
qt_wait 5 bash -c "[[ \$(cat '$PIDS_FILE') == 100 ]]"

# --- an unprivileged user: cannot reach the socket at all (0600 in a 0700 directory) ...
out=$("$RUNAS" $NOBODY $NOBODY "$QOSCTL" -s "$QT_SOCK" list 2>&1)
rc=$?
check unpriv-no-access "unprivileged list on the 0600 socket: rc=$rc: $out" \
	test $rc -ne 0 -a -n "$(grep -i 'permission denied' <<<"$out")"
# ... and with the socket opened to everyone, may read but not change
chmod 0755 "$QT_TMP"
chmod 0666 "$QT_SOCK"
out=$("$RUNAS" $NOBODY $NOBODY "$QOSCTL" -s "$QT_SOCK" list 2>&1)
check unpriv-read "an unprivileged list failed: $out" grep -q "^c-1 " <<<"$out"
for req in "set c-1 pids.limit=1000" "unset c-1 pids.limit" "reload"; do
	# shellcheck disable=SC2086
	out=$("$RUNAS" $NOBODY $NOBODY "$QOSCTL" -s "$QT_SOCK" $req 2>&1)
	rc=$?
	check "unpriv-refused-${req%% *}" "unprivileged $req: rc=$rc: $out" \
		test $rc -eq 1 -a -n "$(grep -i "permission denied" <<<"$out")"
done
# the hook as an unprivileged user: qosd refuses to register, nothing is applied or recorded
qt_cg_mkdir "$QT_CGP/u-1"
qt_cg_run "$QT_CGP/u-1" sleep 100000
UP=$QT_LASTPID
qt_wait 5 grep -qx "$UP" "$(qt_cgdir "${QT_CTRLS[0]}" "$QT_CGP/u-1")/cgroup.procs"
out=$("$RUNAS" $NOBODY $NOBODY "$QOSHOOK" --socket "$QT_SOCK" --config-dir "$QT_TMP/conf.d" \
	--config "$QT_TMP/qosd.conf" --state-dir "$QT_TMP/state" --cgroupfs "$QT_CGROOT" \
	--id u-1 --pid "$UP" --tenant qt --class silver 2>&1)
rc=$?
check unpriv-hook-refused "unprivileged qos-hook: rc=$rc: $out" test $rc -ne 0
check unpriv-hook-nothing "u-1 is known to qosd after an unprivileged hook" \
	bash -c "! '$QOSCTL' -s '$QT_SOCK' list | grep -q '^u-1 '"
check unpriv-hook-no-record "a pending record appeared: $(ls "$QT_TMP/state/pending")" \
	test ! -e "$QT_TMP/state/pending/u-1.json"
check unpriv-nothing-changed "pids.max is $(cat "$PIDS_FILE")" test "$(cat "$PIDS_FILE")" = 100

# --- another network namespace: a path socket is reached; root may change, others may not
if command -v unshare >/dev/null && unshare -n true 2>/dev/null; then
	out=$(unshare -n "$QOSCTL" -s "$QT_SOCK" list 2>&1)
	check netns-reaches "list from another netns: $out" grep -q "^c-1 " <<<"$out"
	out=$(unshare -n "$QOSCTL" -s "$QT_SOCK" set c-1 pids.limit=101 2>&1)
	check netns-root-may "root's set from another netns: $out" test "$(cat "$PIDS_FILE")" = 101
	qosctl unset c-1 pids.limit >/dev/null
	out=$(unshare -n "$RUNAS" $NOBODY $NOBODY "$QOSCTL" -s "$QT_SOCK" set c-1 pids.limit=1000 2>&1)
	rc=$?
	check netns-peercred "unprivileged set from another netns: rc=$rc: $out" \
		test $rc -eq 1 -a -n "$(grep -i "permission denied" <<<"$out")"
	# a mount namespace sees the socket as long as it sees the directory; over a tmpfs it does not
	out=$(unshare -m "$QOSCTL" -s "$QT_SOCK" list 2>&1)
	check mntns-reaches "list from another mount namespace: $out" grep -q "^c-1 " <<<"$out"
	out=$(unshare -m bash -c "mount --make-rprivate / 2>/dev/null; mount -t tmpfs none '$QT_TMP' && '$QOSCTL' -s '$QT_SOCK' list" 2>&1)
	rc=$?
	check mntns-hidden "list with the socket dir covered: rc=$rc: $out" \
		test $rc -ne 0 -a -n "$(grep -iE 'no socket|not running|no such file' <<<"$out")"
	out=$(unshare -m "$RUNAS" $NOBODY $NOBODY "$QOSCTL" -s "$QT_SOCK" reload 2>&1)
	rc=$?
	check mntns-peercred "unprivileged reload from another mount namespace: rc=$rc: $out" \
		test $rc -eq 1 -a -n "$(grep -i "permission denied" <<<"$out")"
	# a user namespace where nobody is "root": the kernel reports the real uid to qosd
	if "$RUNAS" $NOBODY $NOBODY unshare -U -r true 2>/dev/null; then
		out=$("$RUNAS" $NOBODY $NOBODY unshare -U -r "$QOSCTL" -s "$QT_SOCK" set c-1 pids.limit=1000 2>&1)
		rc=$?
		check userns-root-refused "\"root\" of a user namespace: rc=$rc: $out" \
			test $rc -eq 1 -a -n "$(grep -i "permission denied" <<<"$out")"
		grep -q "refused \"set\" from uid $NOBODY" "$QT_QOSD_LOG" ||
			note "the log does not name uid $NOBODY for the user-namespace refusal"
	else
		skip userns-root-refused "unprivileged user namespaces are not available here"
	fi
else
	skip namespaces "unshare is missing or cannot make a network namespace"
fi
check ns-nothing-changed "pids.max is $(cat "$PIDS_FILE")" test "$(cat "$PIDS_FILE")" = 100
chmod 0600 "$QT_SOCK"
chmod 0700 "$QT_TMP"
qt_stop_qosd

# --- what qosd refuses to start on: refused NAME WORDS STATE-DIR SOCKET
refused() {
	local n=$1 words=$2 state=$3 sock=$4 out rc
	out=$(timeout 5 "$QOSD" --config-dir "$QT_TMP/conf.d" --config "$QT_TMP/qosd.conf" \
		--state-dir "$state" --socket "$sock" --cgroupfs "$QT_CGROOT" 2>&1)
	rc=$?
	check "refuse-$n" "qosd started or said something else (rc=$rc): $out" \
		test $rc -eq 1 -a -n "$(grep -iF -- "$words" <<<"$out")"
}
T=$QT_TMP/t
mkdir -p "$T/elsewhere" "$T/sockdir" "$T/state"
chmod 0700 "$T/state"
echo "precious" >"$T/elsewhere/file"
# the socket path is a symlink to a file elsewhere: not replaced, not followed
ln -s "$T/elsewhere/file" "$T/sockdir/qosd.sock"
refused socket-symlink "is not a socket (a symlink?)" "$T/state" "$T/sockdir/qosd.sock"
check socket-symlink-target-intact "the symlink's target changed" test "$(cat "$T/elsewhere/file")" = precious
check socket-symlink-kept "the symlink was replaced" test -L "$T/sockdir/qosd.sock"
rm -f "$T/sockdir/qosd.sock"
# the socket's directory is a symlink
ln -s "$T/elsewhere" "$T/sockdir-link"
refused socket-dir-symlink "not a directory (a symlink?)" "$T/state" "$T/sockdir-link/qosd.sock"
check socket-dir-symlink-nothing "a socket appeared through the symlink" test ! -e "$T/elsewhere/qosd.sock"
# the socket's directory is writable by everyone (no sticky bit)
chmod 0777 "$T/sockdir"
refused socket-dir-writable "writable by others" "$T/state" "$T/sockdir/qosd.sock"
chmod 0755 "$T/sockdir"
# the state directory is a symlink, or writable by others
ln -s "$T/elsewhere" "$T/state-link"
refused state-dir-symlink "not a directory (a symlink?)" "$T/state-link" "$T/sockdir/qosd.sock"
check state-dir-symlink-nothing "files appeared through the symlink: $(ls "$T/elsewhere")" \
	test "$(ls "$T/elsewhere")" = file
chmod 0777 "$T/state"
refused state-dir-writable "writable by others" "$T/state" "$T/sockdir/qosd.sock"
chmod 0700 "$T/state"
# the pending directory (qosd reads and deletes the records in it) is a symlink
mkdir -p "$T/elsewhere/records"
echo '{}' >"$T/elsewhere/records/keep.json"
rm -rf "$T/state/pending"
ln -s "$T/elsewhere/records" "$T/state/pending"
refused pending-symlink "symlink" "$T/state" "$T/sockdir/qosd.sock"
check pending-symlink-nothing-deleted "a .json file through the symlink was deleted" \
	test -f "$T/elsewhere/records/keep.json"
rm -f "$T/state/pending"
# and with everything in order it starts (the checks above are not refusing everything)
out=$(timeout 10 "$QOSD" --check --config-dir "$QT_TMP/conf.d" 2>&1) || note "qosd --check: $out"
"$QOSD" --config-dir "$QT_TMP/conf.d" --config "$QT_TMP/qosd.conf" --state-dir "$T/state" \
	--socket "$T/sockdir/qosd.sock" --cgroupfs "$QT_CGROOT" >>"$QT_TMP/good.log" 2>&1 &
QT_QOSD_PID=$!
good_list() { "$QOSCTL" -s "$T/sockdir/qosd.sock" list >/dev/null 2>&1; }
check good-start "qosd did not start on a clean state dir and socket dir: $(tail -3 "$QT_TMP/good.log")" \
	qt_wait 10 good_list
qt_stop_qosd

qt_finish
