/* SPDX-License-Identifier: MIT */
/* qosd: argv, start-up, the event loop. */
#include <getopt.h>

#include "config.h"
#include "log.h"
#include "manager.h"
#include "policy.h"

static void help(void)
{
	printf("Usage: qosd [OPTIONS]\n"
	       "Give every container the CPU, memory, block I/O, network and disk share its\n"
	       "tenant's policy says, and keep it that way.\n\n"
	       "  --config-dir DIR   tenant policies (default " QOSD_CONFIG_DIR ")\n"
	       "  --config FILE      qosd's own settings (default " QOSD_CONF_FILE ")\n"
	       "  --state-dir DIR    assignments, overrides, project ids (default " QOSD_STATE_DIR
	       ")\n"
	       "  --socket PATH      control socket (default " QOSD_SOCKET ")\n"
	       "  --cgroupfs DIR     cgroup root (default " QOSD_CGROUPFS ")\n"
	       "  --check            validate the policy and exit (0 valid, 1 invalid)\n"
	       "  --log-level LEVEL  debug, info, notice, warning, err (default info)\n"
	       "  -h, --help         this text\n\n"
	       "Signals: SIGHUP reloads the policy (all or nothing); SIGTERM stops qosd and "
	       "leaves\n"
	       "every limit in place. See qosd(8), qosd.conf(5), qosctl(8).\n");
}

enum {
	ARG_CONFIG_DIR = 256,
	ARG_CONFIG,
	ARG_STATE_DIR,
	ARG_SOCKET,
	ARG_CGROUPFS,
	ARG_CHECK,
	ARG_LOG_LEVEL
};

static int parse_argv(int argc, char **argv, struct qosd_config *cfg, bool *check)
{
	static const struct option opts[] = {
		{ "config-dir", required_argument, NULL, ARG_CONFIG_DIR },
		{ "config", required_argument, NULL, ARG_CONFIG },
		{ "state-dir", required_argument, NULL, ARG_STATE_DIR },
		{ "socket", required_argument, NULL, ARG_SOCKET },
		{ "cgroupfs", required_argument, NULL, ARG_CGROUPFS },
		{ "check", no_argument, NULL, ARG_CHECK },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c, r = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			exit(0);
		case ARG_CONFIG_DIR:
			r = free_and_strdup(&cfg->config_dir, optarg);
			break;
		case ARG_CONFIG:
			r = free_and_strdup(&cfg->conf_file, optarg);
			break;
		case ARG_STATE_DIR:
			r = free_and_strdup(&cfg->state_dir, optarg);
			break;
		case ARG_SOCKET:
			r = free_and_strdup(&cfg->socket, optarg);
			break;
		case ARG_CGROUPFS:
			r = free_and_strdup(&cfg->cgroupfs, optarg);
			break;
		case ARG_CHECK:
			*check = true;
			break;
		case ARG_LOG_LEVEL:
			cfg->log_level = log_level_from_string(optarg);
			if (cfg->log_level < 0) {
				fprintf(stderr, "qosd: --log-level: unknown level \"%s\"\n",
					optarg);
				return -EINVAL;
			}
			break;
		default:
			return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	if (optind < argc) {
		fprintf(stderr, "qosd: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static int check_policy(const char *dir)
{
	struct qos_policy *p = NULL;
	_cleanup_free_ char *errors = NULL;
	int r = policy_load_dir(dir, &p, &errors);

	if (r < 0) {
		fprintf(stderr, "%s", errors ? errors : strerror(-r));
		if (errors && !endswith(errors, "\n"))
			fputc('\n', stderr);
		return 1;
	}
	printf("%s: %zu tenant(s), valid\n", dir, p->n_tenants);
	policy_free(p);
	return 0;
}

int main(int argc, char **argv)
{
	struct qosd_config cfg;
	struct manager *m = NULL;
	_cleanup_free_ char *msg = NULL;
	bool check = false;
	int r;

	log_set_ident("qosd");
	log_open();
	if (config_init(&cfg) < 0)
		return 1;
	if (parse_argv(argc, argv, &cfg, &check) < 0) {
		config_done(&cfg);
		return 2;
	}
	log_set_max_level(cfg.log_level);
	if (check) {
		r = check_policy(cfg.config_dir);
		config_done(&cfg);
		return r;
	}
	r = config_load_file(&cfg, cfg.conf_file, !streq(cfg.conf_file, QOSD_CONF_FILE), &msg);
	if (r < 0) {
		log_error("%s", msg ? msg : strerror(-r));
		config_done(&cfg);
		return 1;
	}
	r = manager_new(&cfg, &m);
	if (r >= 0)
		r = manager_run(m);
	manager_free(m);
	config_done(&cfg);
	return r < 0 ? 1 : 0;
}
