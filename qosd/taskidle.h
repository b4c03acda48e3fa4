/* SPDX-License-Identifier: MIT */
/* The threads of a batch container as SCHED_IDLE tasks, on top of its SCHED_IDLE group
 * (cpu.idle = 1). A task-level SCHED_IDLE is what a waking latency task preempts in every
 * case; the group flag alone left a tick-long tail on this kernel (bench/README.md, issue 17
 * round seven). A scheduling policy is a thread's, not a cgroup's: it is set thread by thread,
 * new threads inherit it on fork, and a thread that joins the cgroup otherwise (an exec into the
 * container) is found at the next sweep.
 *
 * Only threads of the cgroup are touched, and never one that a reused thread id could stand
 * for: each thread is pinned by its /proc directory before its membership is read and checked
 * alive just before the change (taskidle.c says how). Each thread keeps its nice value and its
 * custom slice; a reset-on-fork flag is dropped (taskidle.c says why). */
#pragma once

#include <stdbool.h>

struct taskidle_count {
	unsigned threads; /* threads listed in the cgroup at the end of the sweep */
	unsigned idle; /* of those, SCHED_IDLE when read back */
	unsigned changed; /* threads this sweep set (to SCHED_IDLE, or back to SCHED_OTHER) */
	unsigned unsure; /* exited just after the change: the id may name another thread now */
	unsigned failed; /* threads whose policy could not be changed (err: the first error) */
	int err;
};

/* Sweep the cgroup at dirfd (v2: cgroup.threads; v1: tasks of the cpu hierarchy), only the
 * threads listed there (not those of cgroups below it). idle: make every SCHED_OTHER or
 * SCHED_BATCH thread SCHED_IDLE; !idle: make every SCHED_IDLE thread SCHED_OTHER (undo: a
 * thread that was SCHED_BATCH, or made itself SCHED_IDLE, comes back as SCHED_OTHER). Real-time
 * and deadline threads are left as they are. Needs CAP_SYS_NICE for the undo and for threads of
 * other users. proc: the procfs root ("/proc"). 0 (per-thread failures in ret->failed) or -errno
 * when the cgroup's list cannot be read or parsed (nothing changed then, or a part of the
 * threads). A thread that exits meanwhile is not an error. Does not log. */
int taskidle_sweep(int dirfd, bool v2, bool idle, const char *proc, struct taskidle_count *ret);

/* Parse a cgroup's thread list (one decimal id per line; 0, which the kernel prints for a thread
 * that just exited, is skipped) into a sorted array; strict: anything else is -EINVAL. */
int taskidle_parse(const char *text, int **ret, unsigned *ret_n);
