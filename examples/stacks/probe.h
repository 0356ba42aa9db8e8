/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * probe.h - the kernel's side of every experiment: a TCP sink that checks the pattern of
 * every byte, a TCP echo for the probe, the probe loop with its percentiles, and the kernel's
 * own TCP as a stack (the anchor row).
 */
#ifndef TSQ_STACKS_PROBE_H
#define TSQ_STACKS_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stacks.h"
#include "testbed.h"

/* Sink on [TB_ADDR_PEER]:TB_PORT_SINK (namespace B): a thread per connection. */
struct pk_sink;
struct pk_sink_result {
	uint64_t conns;      /* connections accepted */
	uint64_t bytes;      /* bytes received, all connections */
	uint64_t bad_bytes;  /* bytes that differ from tb_pattern() at their stream offset */
	uint64_t clean_eofs; /* connections that ended with a FIN (recv() == 0) */
	uint64_t errors;     /* connections that ended with an error (a reset, a time-out) */
};
struct pk_sink *pk_sink_start(struct tb *tb);
uint64_t pk_sink_bytes(struct pk_sink *s); /* bytes so far (any thread) */
/* Wait up to `wait_ms` for `conns` connections to end, then stop everything. */
void pk_sink_stop(struct pk_sink *s, unsigned conns, unsigned wait_ms, struct pk_sink_result *out);

/* Echo on [TB_ADDR_PEER]:TB_PORT_ECHO (namespace B): returns every TB_PROBE_BYTES request. */
struct pk_echo;
struct pk_echo *pk_echo_start(struct tb *tb);
void pk_echo_stop(struct pk_echo *e);

/* One round trip: send buf[0..len), receive len bytes back into buf. Return 0 or -1. */
typedef int pk_rt_fn(void *ctx, unsigned char *buf, size_t len);

struct pk_probe_result {
	uint64_t samples;
	uint64_t errors; /* failed round trips or echoes that differ from the request */
	double p50_us, p99_us, max_us;
};
/*
 * Round trips for `seconds`, one every period_us (start to start; a late one starts the next at
 * once): a fixed probe load whatever the queue, so a faster probe does not take link from the
 * bulk flows. Percentiles by nearest rank.
 */
#define PK_PROBE_PERIOD_US 10000
void pk_probe_run(pk_rt_fn *rt, void *ctx, double seconds, unsigned period_us,
		  struct pk_probe_result *out);

/* The kernel's own TCP from TB_ADDR_KERNEL: bulk senders and the probe (stack "kernel"). */
extern const struct stack_ops pk_kernel_stack;

#endif /* TSQ_STACKS_PROBE_H */
