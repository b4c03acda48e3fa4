# Sourced by bench/run.sh and bench/register-profile.sh: the bench's policy.
# bench_policy FILE CGP PIDS_STD PIDS_SCALE writes classes std (every apply figure), net (tc) and
# scale (the 10,000), and [match] rules for CGP/detect/d-* and CGP/scale/s-*.
bench_policy() {
	cat >"$1" <<EOT
# make bench: one tenant, the class every figure applies
[class std]
cpu.shares = 512
cpu.quota = 50%
cpuset.cpus = 0
cpuset.mems = 0
memory.limit = 256M
memory.swap = 0
pids.limit = $3

[class net]
net.ingress = 10mbit
net.egress = 10mbit

# the 10,000: no cpu.quota and no cpuset (the kernel's cost of writing those grows with the
# number of cgroups; README)
[class scale]
cpu.shares = 512
memory.limit = 256M
memory.swap = 0
pids.limit = $4

[match]
$2/detect/d-* = std
$2/scale/s-* = scale
EOT
}
