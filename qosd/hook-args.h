/* SPDX-License-Identifier: MIT */
/* qos-hook's command line and OCI state, shared by its two programs: qos-hook (the fast path:
 * one request to qosd; links jansson and libc alone) and qos-hook-apply (the fallback it execs
 * when qosd does not answer: the policy, the enforcers). The fallback gets the same command line
 * plus --fallback-why/--fallback-deadline, and the state text it read on stdin (a memfd). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ocistate.h"
#include "util.h"

#define HOOK_TIMEOUT_USEC (2 * 1000000ULL)
#define HOOK_APPLY_NAME "qos-hook-apply"

enum hook_action { ACT_REGISTER, ACT_RELEASE };

struct hook_args {
	/* NULL: the default (config.h) */
	const char *socket, *config_dir, *conf_file, *state_dir, *cgroupfs;
	bool conf_given;
	uint64_t timeout_usec;
	uint64_t deadline; /* CLOCK_MONOTONIC usec (now_usec()) */
	enum hook_action act;
	const char *stage; /* NULL in the plain form */
	/* the plain form's options */
	bool plain;
	const char *id, *tenant, *cls, *dir;
	long long pid;
	/* only qos-hook-apply: why qosd did not answer (what qos-hook said) */
	const char *why;

	struct oci_state st;
	char *raw; /* the state text read on stdin (not the plain form) */
	size_t raw_len;
};

/* 1: go on; 0: --help was printed; -EINVAL: usage error (said). fallback: accept the two
 * options qos-hook passes to qos-hook-apply (and require them). Sets deadline. */
int hook_parse_argv(int argc, char **argv, struct hook_args *a, bool fallback);
/* The state from stdin, or built from the plain form's options; a refusal is said. */
int hook_load_state(struct hook_args *a);
void hook_args_done(struct hook_args *a);

/* "qos-hook: container ID: ..." on stderr: what the runtime shows its user. */
void hook_say(const struct hook_args *a, const char *fmt, ...) _printf_(2, 3);
/* A refusal: the runtime shows this line to its user and does not start the container. */
#define hook_refuse(a, ...) (hook_say((a), __VA_ARGS__), -EINVAL)
