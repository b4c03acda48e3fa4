#!/bin/bash
# Hardened build (issue 12): every installed program is a PIE, linked with full RELRO
# (GNU_RELRO + BIND_NOW), calls the stack protector and fortified libc functions. Reads the ELF
# files, so it fails if a Makefile change drops a flag.
#   tests/check-hardening.sh DIR   (DIR holds qosd, qosctl, qos-hook, qos-hook-apply)
set -uo pipefail
dir=${1:-${B:-build/san}}
for p in qosd qosctl qos-hook qos-hook-apply; do
	f=$dir/$p
	if [[ ! -x $f ]]; then
		echo "FAIL: style/hardening/$p: $f is not built"
		continue
	fi
	miss=""
	readelf -hW "$f" | grep -q 'Type:.*DYN' || miss="$miss PIE"
	readelf -lW "$f" | grep -q GNU_RELRO || miss="$miss RELRO"
	readelf -dW "$f" | grep -qE 'BIND_NOW|FLAGS_1.*NOW' || miss="$miss BIND_NOW"
	syms=$(nm -D "$f" 2>/dev/null)
	# a static PIE (qos-hook by default) has no dynamic symbols: its own table says the same
	readelf -lW "$f" | grep -q INTERP || syms=$(nm "$f" 2>/dev/null | sed 's/$/@/')
	grep -q '__stack_chk_fail' <<<"$syms" || miss="$miss stack-protector"
	grep -qE '__[a-z]+_chk@' <<<"$syms" || miss="$miss FORTIFY_SOURCE"
	if [[ -z $miss ]]; then
		echo "PASS: style/hardening/$p"
	else
		echo "FAIL: style/hardening/$p: missing:$miss"
	fi
done
