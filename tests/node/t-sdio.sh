#!/bin/bash
# Block I/O limits of a unit's own cgroup through systemd (issue 14): an override
# blkio.write_bps = /dev/vda 1M on a Docker container (docker-ID.scope) becomes the scope's
# IOWriteBandwidthMax property, io.max has it, and it holds (sampled every millisecond) across
# daemon-reloads and a set-property on the scope.
. "$(dirname "$0")/lib.sh"
qt_init sdio
. "$(dirname "$0")/lib-sd.sh"
H=$PAY/helpers
IMG=qosd-test-io:$$
RELOADS=${QT_SD_IO_RELOADS:-3}

sd_image "$IMG"
CID=$(docker run -d --name "$QT_ID-io" "$IMG" sh -c 'while :; do sleep 1; done')
at_exit "docker rm -f $QT_ID-io"
SCOPE=docker-$CID.scope
CGP=/system.slice/$SCOPE
DEV=$(cat /sys/block/vda/dev)
WANT="$DEV rbps=max wbps=1048576 riops=max wiops=max"

qosctl set "$CID" "blkio.write_bps=/dev/vda 1M" >"$QT_TMP/set.out" 2>&1 ||
	fail set "qosctl set $CID blkio.write_bps: $(cat "$QT_TMP/set.out")"
if ! wait_for 30 knob_is "$CGP" io.max "$WANT"; then
	fail io-max "$CGP io.max is '$(knob "$CGP" io.max)', expected '$WANT'"
	qt_finish
	exit 1
fi
pass io-max
note "$CGP io.max: $(knob "$CGP" io.max)"
eq systemctl-show "systemctl show $SCOPE -p IOWriteBandwidthMax" \
	"$(systemctl show "$SCOPE" -p IOWriteBandwidthMax)" "IOWriteBandwidthMax=/dev/block/$DEV 1048576"
via=$(qosctl show "$CID" --json | tr -d ' \n' | sed 's/},{/}\n{/g' | grep -oE '"key":"blkio.write_bps".*"via":"[a-z]*"' | sed -E 's/.*"via":"([a-z]*)"/\1/')
eq qosctl-via "qosctl show: blkio.write_bps set via" "$via" systemd

"$H/qt-cgsample" "$CG$CGP" 1000 "io.max=$WANT" >"$QT_TMP/samples" &
sp=$!
for ((i = 1; i <= RELOADS; i++)); do
	systemctl daemon-reload
	systemctl set-property --runtime "$SCOPE" IOWeight=$((100 + i))
done
sleep 2
kill -TERM "$sp"
wait "$sp"
note "$RELOADS daemon-reloads and set-property calls: $(cat "$QT_TMP/samples")"
n=$(awk '$2 == "samples" { print $3 }' "$QT_TMP/samples")
if ((${n:-0} > 0)); then pass io-max-sampled; else
	fail io-max-sampled "the sampler took no samples: '$(cat "$QT_TMP/samples")'"; fi
eq io-max-holds "io.max samples differing from '$WANT'" "$(awk '{ print $5 }' "$QT_TMP/samples")" 0
qt_finish
