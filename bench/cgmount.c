/* SPDX-License-Identifier: MIT */
/* Finding the cgroup hierarchies: qosd's mount-table reader against libcgroup's, and what each
 * reports for the cpu controller (run it in a namespace where a mount hides another to see the
 * difference). Not built by make bench; build and run by hand:
 *   make && cc -std=gnu11 -D_GNU_SOURCE -O2 -I. -o build/cgmount bench/cgmount.c \
 *      build/rel/libqos.a $(pkg-config --libs libsystemd inih jansson libnl-route-3.0 libudev) -lcgroup
 *   build/cgmount [N]
 */
#include <libcgroup.h>

#include "bench.h"
#include "qosd/cgroup.h"

static const char *const ctrls[] = { "cpu", "cpuset", "memory", "pids", "blkio" };

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
	double *ours = calloc(n, sizeof(double)), *lib = calloc(n, sizeof(double));
	double *std = calloc(n, sizeof(double)), *pid_ours = calloc(n, sizeof(double));
	double *pid_lib = calloc(n, sizeof(double));
	size_t n_lib = 0;
	char *mp = NULL;
	struct cg_root *root;
	bool lib_ok = true;
	int r;

	if (!ours || !lib || !std || !pid_ours || !pid_lib)
		die("calloc");
	for (size_t i = 0; i < n; i++) {
		uint64_t t = now_ns();

		if (cg_root_open_mounts("/proc/self/mountinfo", &root) < 0)
			die("cg_root_open_mounts");
		ours[i] = (double) (now_ns() - t) / 1000;
		if (i == 0)
			printf("qosd: cpu at %s\n", cg_primary_path(root));
		cg_root_free(root);
		t = now_ns();
		if (cg_root_open(CGROOT, &root) < 0)
			die("cg_root_open");
		std[i] = (double) (now_ns() - t) / 1000;
		t = now_ns();
		if (cg_pid_path(root, NULL, getpid(), &mp) < 0)
			die("cg_pid_path");
		pid_ours[i] = (double) (now_ns() - t) / 1000;
		free(mp);
		mp = NULL;
		cg_root_free(root);
		if (!lib_ok)
			continue;
		t = now_ns();
		if ((r = cgroup_init()) != 0) {
			printf("libcgroup: cgroup_init: error %d (%s), errno %d\n", r,
			       cgroup_strerror(r), cgroup_get_last_errno());
			lib_ok = false;
			continue;
		}
		for (size_t c = 0; c < ELEMENTSOF(ctrls); c++) {
			if (cgroup_get_subsys_mount_point(ctrls[c], &mp) == 0 && i == 0 && c == 0)
				printf("libcgroup: cpu at %s\n", mp);
			free(mp);
			mp = NULL;
		}
		lib[i] = (double) (now_ns() - t) / 1000;
		t = now_ns();
		if (cgroup_get_current_controller_path(getpid(), "cpu", &mp) != 0)
			die("cgroup_get_current_controller_path");
		pid_lib[n_lib++] = (double) (now_ns() - t) / 1000;
		free(mp);
		mp = NULL;
	}
	report("cgmount.qosd-mountinfo", ours, n);
	report("cgmount.qosd-standard-root", std, n);
	report("cgmount.libcgroup-init", lib, n_lib);
	report("cgmount.qosd-pid-path", pid_ours, n);
	report("cgmount.libcgroup-pid-path", pid_lib, n_lib);
	return 0;
}
