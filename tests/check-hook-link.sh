#!/bin/bash
# How make links qos-hook (issue 16): static (a static PIE with libjansson.a) by default when
# libc.a and libjansson.a are there, dynamic with HOOK_STATIC=0 and with SAN=1. Reads make's
# own link lines (make -n into a directory of its own: nothing is built), so it fails if a
# Makefile change drops the default. With a built binary given, reads its ELF headers as well.
#   tests/check-hook-link.sh [BUILT_QOS_HOOK [static|dynamic]]
set -uo pipefail
cd "$(dirname "$0")/.."
# make's defaults, not those of a make or a shell this runs under (make check's SAN=1)
unset MAKEFLAGS MFLAGS MAKELEVEL SAN HOOK_STATIC
T=$(mktemp -d "/tmp/qosd-test-$$-hooklink.XXXXXX")
trap 'rm -rf "$T"' EXIT

# link_line ARGS...: the command make would run to link qos-hook
link_line() {
	make -s -n -B "$@" B="$T/b" "$T/b/qos-hook" 2>&1 | grep -E -- "-o $T/b/qos-hook( |$)"
}
verdict() { # verdict NAME OK DETAIL
	if [[ $2 == 1 ]]; then echo "PASS: style/hook-link/$1"; else echo "FAIL: style/hook-link/$1: $3"; fi
}
is_static() { [[ $1 == *-static-pie* && $1 == *-l:libjansson.a* ]]; }

have=1
for a in libc.a libjansson.a; do
	[[ -f $(${CC:-cc} -print-file-name=$a) ]] || have=0
done
line=$(link_line)
if ((have)); then
	is_static "$line" && ok=1 || ok=0
	verdict default-static $ok "archives found, but make links: ${line:-nothing}"
else
	echo "SKIP: style/hook-link/default-static: libc.a or libjansson.a missing (make deps)"
	! is_static "$line" && ok=1 || ok=0
	verdict default-dynamic-without-archives $ok "archives missing, yet: $line"
fi
line=$(link_line HOOK_STATIC=0)
[[ -n $line ]] && ! is_static "$line" && ok=1 || ok=0
verdict opt-out-dynamic $ok "HOOK_STATIC=0 links: ${line:-nothing}"
line=$(link_line SAN=1)
[[ $line == *-fsanitize=* ]] && ! is_static "$line" && ok=1 || ok=0
verdict sanitizer-dynamic $ok "SAN=1 links: ${line:-nothing}"

# a built binary: static means no program interpreter (no dynamic loader at all)
if [[ $# -ge 2 ]]; then
	if [[ ! -x $1 ]]; then
		verdict "built-$2" 0 "$1 is not built"
	else
		readelf -lW "$1" | grep -q INTERP && got=dynamic || got=static
		[[ $got == "$2" ]] && ok=1 || ok=0
		verdict "built-$2" $ok "$1 is $got"
	fi
fi
