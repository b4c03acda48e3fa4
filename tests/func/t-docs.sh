#!/bin/bash
# Documentation: the man pages render without groff warnings, every policy key qosd accepts and
# every qosd.conf setting is documented in qosd.conf(5), every option qosd, qosctl and qos-hook
# print in --help is in their man page, and "make install" puts binaries, man pages, example
# policies and the systemd unit in place.
source "$(dirname "$0")/lib.sh"
qt_init docs

DOCS=$QOSD_SRC/docs
PAGES=(qosd.8 qosctl.8 qos-hook.8 qosd.conf.5)

if [[ ${QT_LAYER:-} == vm ]]; then
	skip all "the docs are checked on the host (the VM has neither groff nor the sources)"
	qt_finish
	exit 0
fi

# Man source with the escapes an option or key is written with removed: \- -> -, \fB -> "", \& -> "".
man_text() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/\\&//g' "$1"; }

# documented KEY FILE: KEY is the subject of a .TP entry (the line after .TP, a .B/.BR/.BI line).
documented() {
	man_text "$2" | awk -v key="$1" '
		prev == ".TP" && /^\.B[IR]? / {
			n = split($0, w, /[ ",=]+/)
			for (i = 2; i <= n; i++) if (w[i] == key) found = 1
		}
		{ prev = $0 }
		END { exit !found }'
}

# quiet CMD...: run CMD with its output discarded
quiet() { "$@" >/dev/null 2>&1; }

# has_option OPT FILE: OPT appears as a whole word in the man source.
has_option() { man_text "$2" | grep -qE -- "(^|[^A-Za-z0-9-])$1([^A-Za-z0-9-]|\$)"; }

# Options a --help text names: -x and --long-name tokens at the start of a word.
help_options() {
	grep -oE -- '(^|[][ |,(])--?[A-Za-z][A-Za-z-]*' | sed -E 's/^[][ |,(]//' | sort -u
}

# ---- the pages exist and render without warnings ----
for p in "${PAGES[@]}"; do
	check "exists-$p" "$DOCS/$p is missing" test -s "$DOCS/$p"
done
if ! command -v groff >/dev/null; then
	skip render "groff is not installed (tests/deps.sh installs groff-base)"
else
	for p in "${PAGES[@]}"; do
		[[ -s $DOCS/$p ]] || continue
		out=$(groff -man -ww -z "$DOCS/$p" 2>&1)
		if [[ -z $out ]]; then pass "groff-$p"; else fail "groff-$p" "$out"; fi
	done
fi
if ! command -v man >/dev/null; then
	skip man-warnings "man is not installed (tests/deps.sh installs man-db)"
else
	for p in "${PAGES[@]}"; do
		[[ -s $DOCS/$p ]] || continue
		out=
		for w in 60 80 120; do
			o=$(MANWIDTH=$w man --warnings -l "$DOCS/$p" 2>&1 >/dev/null)
			[[ -n $o ]] && out+="(width $w) $o "
		done
		if [[ -z $out ]]; then pass "man-$p"; else fail "man-$p" "$out"; fi
	done
fi

# ---- every policy key and qosd.conf setting is documented in qosd.conf(5) ----
CONF5=$DOCS/qosd.conf.5
mapfile -t KEYS < <(grep -oE '^[[:space:]]*\[QK_[A-Z_]+\] = \{ "[a-z._]+"' "$QOSD_SRC/qosd/keys.c" |
	sed -E 's/.*"([^"]+)"$/\1/')
if [[ ${#KEYS[@]} -lt 10 ]]; then
	fail policy-keys "found only ${#KEYS[@]} keys in qosd/keys.c's key_table (did it change shape?)"
else
	# the extracted table is what qosd accepts: one file naming every key once must be valid
	{
		echo "[class all]"
		for k in "${KEYS[@]}"; do
			case $k in
			cpu.shares) ;; # not together with cpu.weight
			cpu.quota) echo "$k = 50%" ;;
			cpu.period) echo "$k = 100ms" ;;
			cpuset.*) echo "$k = 0" ;;
			memory.*) echo "$k = 64M" ;;
			blkio.*) echo "$k = 8:0 1000" ;;
			net.burst) echo "$k = 64K" ;;
			net.*) echo "$k = 1mbit" ;;
			disk.quota) echo "$k = 1G" ;;
			cpu.burst) echo "$k = 10ms" ;;
			cpu.idle) echo "$k = 0" ;; # 1 is refused with a weight
			priority) echo "$k = batch" ;;
			floor.cpu.quota) echo "$k = 10%" ;;
			floor.cpu.weight) echo "$k = 5" ;;
			floor.memory.high) echo "$k = 32M" ;;
			floor.blkio) echo "$k = 25%" ;;
			*) echo "$k = 10" ;;
			esac
		done
	} >"$QT_TMP/conf.d/keys.conf"
	check policy-keys-accepted "a policy naming every key of keys.c was refused: $("$QOSCTL" check "$QT_TMP/conf.d" 2>&1)" \
		quiet "$QOSCTL" check "$QT_TMP/conf.d"
	missing=()
	for k in "${KEYS[@]}"; do documented "$k" "$CONF5" || missing+=("$k"); done
	check policy-keys-documented "not documented as an entry in qosd.conf.5: ${missing[*]}" \
		test ${#missing[@]} -eq 0
	# and the reverse: qosctl check refuses a key that is not in the table
	printf '[class x]\nno.such_key = 1\n' >"$QT_TMP/conf.d/keys.conf"
	check policy-unknown-key "qosctl check accepted an unknown key" \
		bash -c '! "$1" check "$2" >/dev/null 2>&1' _ "$QOSCTL" "$QT_TMP/conf.d"
	rm -f "$QT_TMP/conf.d/keys.conf"
fi

mapfile -t SETTINGS < <(sed -n '/^static int apply_key/,/^}/p' "$QOSD_SRC/qosd/config.c" |
	grep -oE 'streq\(k, "[a-z_]+"\)' | sed -E 's/.*"([^"]+)".*/\1/')
if [[ ${#SETTINGS[@]} -eq 0 ]]; then
	fail conf-settings "found no settings in qosd/config.c's apply_key()"
else
	missing=()
	for k in "${SETTINGS[@]}"; do documented "$k" "$CONF5" || missing+=("$k"); done
	check conf-settings-documented "qosd.conf settings not documented in qosd.conf.5: ${missing[*]}" \
		test ${#missing[@]} -eq 0
fi

# ---- every --help option is in the program's man page ----
for prog in qosd qosctl qos-hook; do
	bin=$QOSD_BIN_DIR/$prog
	if [[ ! -x $bin ]]; then
		fail "options-$prog" "$bin is not built"
		continue
	fi
	help=$("$bin" --help 2>&1)
	if [[ $prog == qos-hook ]] && grep -q "NOT YET FUNCTIONAL" <<<"$help"; then
		skip "options-$prog" "qos-hook is still the placeholder (its --help lists no options)"
		continue
	fi
	mapfile -t OPTS < <(help_options <<<"$help")
	missing=()
	for o in "${OPTS[@]}"; do has_option "$o" "$DOCS/$prog.8" || missing+=("$o"); done
	if [[ ${#OPTS[@]} -eq 0 ]]; then
		fail "options-$prog" "no options found in $prog --help"
	else
		check "options-$prog" "in $prog --help but not in $prog.8: ${missing[*]}" \
			test ${#missing[@]} -eq 0
	fi
done

# ---- make install ----
if [[ ! -f $QOSD_SRC/contrib/qosd.service.in ]]; then
	skip install "contrib/qosd.service.in does not exist yet (the install target needs it)"
elif ! command -v make >/dev/null; then
	skip install "make is not installed"
else
	D=$QT_TMP/root
	# a plain user's "make install": none of the test run's make or build variables
	if env -u B -u SAN -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make -s --no-print-directory -C "$QOSD_SRC" install DESTDIR="$D" PREFIX=/usr \
		>"$QT_TMP/install.log" 2>&1; then
		pass install-runs
		for f in usr/sbin/qosd usr/sbin/qos-hook usr/bin/qosctl usr/libexec/qosd/qos-hook-apply; do
			check "install-$(basename $f)" "$f not installed executable" test -x "$D/$f"
		done
		for p in qosd.8 qosctl.8 qos-hook.8; do
			check "install-$p" "man8/$p not installed" cmp -s "$DOCS/$p" "$D/usr/share/man/man8/$p"
		done
		check install-qosd.conf.5 "man5/qosd.conf.5 not installed" \
			cmp -s "$CONF5" "$D/usr/share/man/man5/qosd.conf.5"
		missing=()
		for c in "$QOSD_SRC"/conf.d/*.conf; do
			[[ -f $D/etc/qosd/examples/$(basename "$c") ]] || missing+=("$(basename "$c")")
		done
		check install-examples "example policies not in /etc/qosd/examples: ${missing[*]}" \
			test ${#missing[@]} -eq 0
		check install-examples-valid "installed examples do not pass qosctl check" \
			quiet "$D/usr/bin/qosctl" check "$D/etc/qosd/examples"
		check install-confdir "/etc/qosd/conf.d not created" test -d "$D/etc/qosd/conf.d"
		unit=$D/usr/lib/systemd/system/qosd.service
		check install-unit "qosd.service not installed" test -s "$unit"
		check install-unit-subst "qosd.service still has @...@ placeholders or no /usr/sbin/qosd" \
			bash -c '! grep -q "@[A-Z]*@" "$1" && grep -q "/usr/sbin/qosd" "$1"' _ "$unit"
		check install-runs-help "the installed qosd does not run" \
			quiet "$D/usr/sbin/qosd" --help
	else
		fail install-runs "make install failed: $(tail -5 "$QT_TMP/install.log")"
	fi
fi

# ---- make uninstall: removes every file install put there (the operator's conf.d stays) ----
if [[ -d ${D:-}/usr/sbin ]]; then
	env -u B -u SAN -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make -s --no-print-directory -C "$QOSD_SRC" uninstall DESTDIR="$D" PREFIX=/usr \
		>"$QT_TMP/uninstall.log" 2>&1
	check uninstall-runs "make uninstall failed: $(tail -5 "$QT_TMP/uninstall.log")" test $? -eq 0
	left=$(find "$D" ! -type d | sed "s|^$D||" | head -5)
	check uninstall-removes-all "left after make uninstall: $left" test -z "$left"
	check uninstall-keeps-confdir "/etc/qosd/conf.d removed" test -d "$D/etc/qosd/conf.d"
fi

qt_finish
