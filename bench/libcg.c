/* SPDX-License-Identifier: MIT */
/* What the tools people use today cost for the same container (cgroup v1 only: libcgroup 2.0 has
 * no v2 API in its headers).
 *   libcg api-create PARENT N   cgroup_new_cgroup + add_* + create_cgroup + attach_task_pid
 *   libcg api-limits PARENT N   cgroup_modify_cgroup on an existing group
 *   libcg cli-create PARENT N   cgcreate + cgset (every -r) + cgclassify, each an exec
 *   libcg cli-limits PARENT N   cgset alone
 * Values are added memory before memsw: libcgroup writes in the order added. */
#include <libcgroup.h>
#include <signal.h>
#include <sys/wait.h>

#include "bench.h"

static struct hier H[4];
static size_t NH;

static const char *const ctrl_names[4] = { "cpu", "cpuset", "memory", "pids" };

static struct cgroup *build(const char *path)
{
	struct cgroup *cg = cgroup_new_cgroup(path);
	struct cgroup_controller *c[4];
	size_t nk;
	const struct knob *k = knobs(&nk);

	if (!cg)
		die("cgroup_new_cgroup");
	for (size_t h = 0; h < 4; h++)
		if (!(c[h] = cgroup_add_controller(cg, ctrl_names[h])))
			die("cgroup_add_controller %s", ctrl_names[h]);
	for (size_t i = 0; i < nk; i++)
		if (cgroup_add_value_string(c[k[i].h], k[i].file, k[i].val))
			die("cgroup_add_value_string %s", k[i].file);
	return cg;
}

static void raw_mkdir(const char *path)
{
	char p[4096], v[256];

	for (size_t h = 0; h < NH; h++) {
		snprintf(p, sizeof(p), "%s%s", H[h].dir, path);
		if (mkdir(p, 0755) < 0)
			die("mkdir %s", p);
	}
	/* v1 cpuset: usable only once cpus and mems are set */
	snprintf(p, sizeof(p), CGROOT "/cpuset%s", path);
	int fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (read_at(fd, "../cpuset.cpus", v, sizeof(v)) < 0 || write_at(fd, "cpuset.cpus", v) < 0 ||
	    read_at(fd, "../cpuset.mems", v, sizeof(v)) < 0 || write_at(fd, "cpuset.mems", v) < 0)
		die("cpuset %s", path);
	close(fd);
}

static void raw_remove(const char *parent, const char *path, pid_t pid)
{
	char p[4096], s[32];

	snprintf(s, sizeof(s), "%d", (int) pid);
	for (size_t h = 0; h < NH; h++) {
		if (pid) {
			snprintf(p, sizeof(p), "%s%s/cgroup.procs", H[h].dir, parent);
			int fd = open(p, O_WRONLY | O_CLOEXEC);

			if (fd >= 0) {
				(void) !write(fd, s, strlen(s));
				close(fd);
			}
		}
		snprintf(p, sizeof(p), "%s%s", H[h].dir, path);
		if (rmdir(p) < 0)
			die("rmdir %s", p);
	}
}

static int run(char *const argv[])
{
	pid_t p = fork();
	int st;

	if (p < 0)
		die("fork");
	if (p == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	waitpid(p, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int cli_cgset(const char *path)
{
	char *argv[2 + 2 * 8 + 2];
	char rs[8][128];
	size_t nk, a = 0;
	const struct knob *k = knobs(&nk);

	argv[a++] = "cgset";
	for (size_t i = 0; i < nk; i++) {
		snprintf(rs[i], sizeof(rs[i]), "%s=%s", k[i].file, k[i].val);
		argv[a++] = "-r";
		argv[a++] = rs[i];
	}
	argv[a++] = (char *) path;
	argv[a] = NULL;
	return run(argv);
}

int main(int argc, char **argv)
{
	const char *mode, *parent;
	pid_t child;
	double *v;
	int n, r;
	char pids[32], g[4200];

	if (argc != 4)
		die("usage: libcg api-create|api-limits|cli-create|cli-limits PARENT N");
	mode = argv[1];
	parent = argv[2];
	n = atoi(argv[3]);
	NH = hierarchies(H);
	if (NH != 4)
		die("libcgroup 2.0 has no cgroup v2 API: skipped");
	if ((r = cgroup_init()))
		die("cgroup_init: %s", cgroup_strerror(r));
	v = calloc(n, sizeof(double));
	child = sleeper();
	snprintf(pids, sizeof(pids), "%d", (int) child);
	for (int i = 0; i < n; i++) {
		char path[4096];
		uint64_t t0;

		snprintf(path, sizeof(path), "%s/l%d", parent, i);
		snprintf(g, sizeof(g), "cpu,cpuset,memory,pids:%s", path);
		if (!strcmp(mode, "api-create")) {
			struct cgroup *cg;

			t0 = now_ns();
			cg = build(path);
			if ((r = cgroup_create_cgroup(cg, 1)) ||
			    (r = cgroup_attach_task_pid(cg, child)))
				die("libcgroup create: %s", cgroup_strerror(r));
			v[i] = (double) (now_ns() - t0) / 1000.0;
			cgroup_free(&cg);
		} else if (!strcmp(mode, "api-limits")) {
			struct cgroup *cg;

			raw_mkdir(path);
			t0 = now_ns();
			cg = build(path);
			if ((r = cgroup_modify_cgroup(cg)))
				die("cgroup_modify_cgroup: %s", cgroup_strerror(r));
			v[i] = (double) (now_ns() - t0) / 1000.0;
			cgroup_free(&cg);
		} else if (!strcmp(mode, "cli-create")) {
			char *cc[] = { "cgcreate", "-g", g, NULL };
			char *cl[] = { "cgclassify", "-g", g, pids, NULL };

			t0 = now_ns();
			if (run(cc) || cli_cgset(path) || run(cl))
				die("cgcreate/cgset/cgclassify failed");
			v[i] = (double) (now_ns() - t0) / 1000.0;
		} else if (!strcmp(mode, "cli-limits")) {
			raw_mkdir(path);
			t0 = now_ns();
			if (cli_cgset(path))
				die("cgset failed");
			v[i] = (double) (now_ns() - t0) / 1000.0;
		} else {
			die("unknown mode %s", mode);
		}
		raw_remove(parent, path, strstr(mode, "create") ? child : 0);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	snprintf(g, sizeof(g), "libcg.%s", mode);
	report(g, v, n);
	return 0;
}
