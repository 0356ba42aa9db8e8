/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * stacks.h - the experiment every stack runs, and the one main() the commands share
 * (tsq-lwip, tsq-quic). A stack fills struct stack_ops; stacks_main() parses the common
 * options, sets up the testbed, runs the rows round by round (the kernel's anchor row, then
 * the stack with tsq off and on, interleaved), and prints the table and the JSON.
 */
#ifndef TSQ_STACKS_STACKS_H
#define TSQ_STACKS_STACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tb;

/* What one row runs with. */
struct stack_cfg {
	unsigned bulk_flows;
	unsigned link_mbit;
	bool tsq;
	uint64_t bulk_bytes; /* 0: send until row_stop; else each bulk flow sends exactly this */
};

/* What a stack reports about one row beyond what the harness measures. */
struct stack_row_extra {
	/* max bytes charged and not yet completed (the stack's view of its device queue); -1:
	 * the stack cannot tell (the harness then reports the sampled qdisc backlog) */
	int64_t bytes_in_device_max;
	uint64_t throttles; /* times the budget stopped a flow (0 without tsq) */
	uint64_t restarts;  /* restarts run after a completion */
	uint64_t deferred;  /* restarts handed to the owner's release */
	int failed;         /* the stack saw a fault (a bad byte, a lost connection) */
};

struct stack_ops {
	const char *name;  /* the JSON "stack" */
	const char *usage; /* extra option lines for --help, or NULL */
	/* Parse one extra option argv[*i], moving *i past any value it takes (argv[*i + 1]).
	 * Return 1: taken; 0: not one of the stack's; -1: a bad value (exit 2). */
	int (*parse)(void *ctx, int argc, char **argv, int *i);
	int (*init)(void *ctx, struct tb *tb); /* once, after the testbed is up; 0 or -1 */
	/* Connect the probe and cfg->bulk_flows bulk flows to the sink, start sending. 0 or -1. */
	int (*row_start)(void *ctx, const struct stack_cfg *cfg);
	int (*probe_rt)(void *ctx, unsigned char *buf, size_t len); /* one probe round trip */
	/* Stop the bulk flows (cfg->bulk_bytes == 0) or wait for their last byte, close all. */
	int (*row_stop)(void *ctx, struct stack_row_extra *out);
	void (*fini)(void *ctx);
	/*
	 * Bytes delivered to the receiver so far, for a stack whose bulk flows do not go to the
	 * TCP sink (its own receiver checks the bytes and reports faults in row_stop's
	 * extra->failed). NULL: the TCP sink counts and checks.
	 */
	uint64_t (*delivered)(void *ctx);
	/* Optional: the probe's window starts now (reset the maxima the row reports). */
	void (*window)(void *ctx);
	void *ctx;
};

/* For a stack's parse(): the number in `val`, or exit 2 naming `opt`. */
double stacks_opt_num(const char *prog, const char *opt, const char *val, double lo, double hi);

/* Parse, run, report. Exit status: 0, 1 (a run failed), 2 (bad usage), 77 (cannot run here). */
int stacks_main(int argc, char **argv, const char *prog, const struct stack_ops *stack);

#endif /* TSQ_STACKS_STACKS_H */
