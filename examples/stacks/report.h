/* SPDX-License-Identifier: BSD-2-Clause */
/* report.h - one row per (stack, tsq, round): the table and the JSON (schema 1). */
#ifndef TSQ_STACKS_REPORT_H
#define TSQ_STACKS_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct stacks_row {
	const char *stack; /* "lwip", "quic", "kernel" */
	bool tsq;          /* the kernel's rows: true (its own TSQ cannot be switched off) */
	unsigned bulk_flows, link_mbit, round;
	double goodput_mbit;           /* sink bytes over the probe's window */
	double p50_us, p99_us, max_us; /* probe round trips, nearest rank */
	uint64_t samples, probe_errors;
	int64_t bytes_in_device_max; /* the stack's charged-not-completed max, else the qdisc's */
	const char *device_source;   /* "budget" or "qdisc": where bytes_in_device_max comes from */
	uint64_t qdisc_backlog_max;  /* sampled tbf backlog (rtnetlink, every ms), every stack */
	uint64_t throttles, restarts, deferred;
	uint64_t sink_bytes, bad_bytes;
	bool failed;
};

void report_table(FILE *out, const struct stacks_row *rows, unsigned n);
/* Write {"schema":1,"runs":[...]} to path ("-": stdout). Return 0 or -1. */
int report_json(const char *path, const struct stacks_row *rows, unsigned n);
/* Per (flows, link): median [min..max] of same-round ratios of the stack's rows. */
void report_ratios(FILE *out, const struct stacks_row *rows, unsigned n);

#endif /* TSQ_STACKS_REPORT_H */
