#!/bin/bash
# runc (systemd cgroup driver) with qos-hook from contrib/runc-config-snippet.json merged into the
# bundle's config.json (tenant acme, class gold: 50% CPU, 48M, no swap, 100 pids).
. "$(dirname "$0")/lib.sh"
qt_init runc
note "$(runc --version | head -1)"
BUNDLE=$QT_TMP/bundle
make_rootfs "$BUNDLE/rootfs"
(cd "$BUNDLE" && runc spec)
# the snippet as shipped, with the hook path make install used
jq --slurpfile s "$PAY/contrib/runc-config-snippet.json" --arg w "$WORKLOAD" \
	'.process.terminal = false | .process.args = ["sh", "-c", $w] | .root.readonly = false
	 | .annotations = $s[0].annotations | .hooks = $s[0].hooks' \
	"$BUNDLE/config.json" >"$BUNDLE/c.json" && mv "$BUNDLE/c.json" "$BUNDLE/config.json"
note "config.json hooks: $(jq -c '[.hooks[][] | .path + " " + (.args | join(" "))]' "$BUNDLE/config.json")"

start_runc() {
	jq --arg p "system.slice:qosd-test:$1" '.linux.cgroupsPath = $p' "$BUNDLE/config.json" >"$BUNDLE/c.json" &&
		mv "$BUNDLE/c.json" "$BUNDLE/config.json"
	runc --systemd-cgroup run -d --bundle "$BUNDLE" --pid-file "$QT_TMP/$1.pid" "$1" \
		</dev/null >"$QT_TMP/$1.out" 2>&1 || { sed 's/^/  # runc: /' "$QT_TMP/$1.out"; return 1; }
	at_exit "runc delete -f $1"
	CID=$1 LAST=$1
	CPID=$(cat "$QT_TMP/$1.pid")
}
remove_runc() { runc delete -f "$LAST"; }

runtime_suite runc "50000 100000" $((48 << 20)) 100 50 hook
qt_finish
