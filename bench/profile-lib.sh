# Sourced by bench/register-profile.sh and bench/detect-profile.sh (SRC set): a temp dir T, the
# bench's parent cgroup CGP in every hierarchy HI (made by profile_cgroups), the bench's policy
# and qosd.conf in T, and a cleanup on every exit that stops the qosd (QP) and the tracer (SP)
# the script started and removes everything it made.
TAG=qosd-bench-$$
T=$(mktemp -d "/tmp/$TAG.XXXXXX")
CGR=/sys/fs/cgroup
CGP=/$TAG
if [[ $(stat -f -c %T $CGR) == cgroup2fs ]]; then HI=(.); else HI=(); for h in cpu cpuset memory pids blkio; do [[ -d $CGR/$h ]] && HI+=("$h"); done; fi
QP= SP=
cleanup() {
	[[ -n $SP ]] && kill -INT "$SP" 2>/dev/null
	[[ -n $QP ]] && kill "$QP" 2>/dev/null
	wait 2>/dev/null
	for h in "${HI[@]}"; do
		[[ -d $CGR/$h$CGP ]] && find "$CGR/$h$CGP" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CF=(-std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror)
mkdir -p "$T/conf.d" "$T/state"
chmod 700 "$T/state"
. "$SRC/bench/policy.sh"
bench_policy "$T/conf.d/bench.conf" "$CGP" 256 256
echo "drift_interval = 3600s" >"$T/qosd.conf"

# profile_cgroups SUB...: CGP and CGP/SUB in every hierarchy, v1 cpuset copied from the root,
# v2 controllers enabled in the parents
profile_cgroups() {
	local d h c f
	for d in "" "$@"; do
		if [[ ${HI[0]} == . ]]; then
			for c in cpu cpuset memory pids; do
				echo "+$c" >"$CGR$(dirname "$CGP$d" | sed 's,^/$,,')/cgroup.subtree_control" 2>/dev/null
			done
		fi
		for h in "${HI[@]}"; do mkdir -p "$CGR/$h$CGP$d" || return 1; done
		if [[ -d $CGR/cpuset$CGP ]]; then
			for f in cpus mems; do cat "$CGR/cpuset/cpuset.$f" >"$CGR/cpuset$CGP$d/cpuset.$f"; done
		fi
	done
}
