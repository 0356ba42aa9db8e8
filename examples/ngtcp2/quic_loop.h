/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * quic_loop.h - the threads of the QUIC example and one experiment row built from them:
 * bulk flows (each a QUIC connection whose server sends one stream) and a UDP echo for the
 * probe's ping-pong from the sender's namespace.
 */
#ifndef TSQ_EXAMPLE_QUIC_LOOP_H
#define TSQ_EXAMPLE_QUIC_LOOP_H

#include <pthread.h>

#include "quic.h"

#define QUIC_MAX_CONNS 64
#define QUIC_PORT_BASE 5100 /* server i listens on QUIC_PORT_BASE + i */

/* The connections one thread runs. */
struct quic_side {
	struct quic_conn *conns;
	unsigned n;
	struct tsq_defer_set *set; /* the sender's: its thread is shard 0's worker */
	uint64_t deadline;         /* quic_now() after which the thread gives up */
	int err;
};

/* Where the row's sockets come from: a UDP socket in the sender's or the receiver's namespace. */
typedef int quic_socket_fn(void *ctx, bool receiver);

struct quic_row_cfg {
	unsigned flows;
	bool tsq;
	uint64_t bulk_bytes; /* 0: until quic_row_stop(); else exactly this per flow */
	struct sockaddr_in6 sender, receiver; /* addresses (ports ignored) */
	uint16_t echo_port;
	struct tsq_budget_opts budget; /* the senders' flows (size 0: tsq's defaults) */
	quic_socket_fn *socket;
	void *socket_ctx;
};

struct quic_row_result {
	uint64_t bytes; /* checked by the receivers, all flows */
	uint64_t bad_bytes, out_of_order;
	unsigned fins, pinned,
		clean_closes;   /* streams ended, certificates matched, NO_ERROR closes */
	uint64_t inflight_left; /* budget bytes still charged after the last notice */
	uint64_t flushed;       /* datagrams that never got a notice */
	uint64_t txq_overflows; /* datagrams completed early: no slot to wait in */
	uint64_t send_errors;   /* datagrams the socket refused for good (QUIC resends) */
	uint64_t bytes_in_device_max;
	uint64_t throttles, restarts, deferred, queued, unmatched;
	int err;
};

struct quic_row {
	struct quic_row_cfg cfg;
	struct quic_tls *tls;
	struct quic_conn *srv, *cli;
	struct quic_side sender, receiver;
	struct tsq_defer_shard *shards;
	struct tsq_defer_set set;
	struct quic_tally tally;
	bool stop, echo_stop;
	int probe_fd, echo_fd;
	pthread_t ts, tr, te;
};

void *quic_sender_thread(void *arg);
void *quic_receiver_thread(void *arg);
void *quic_echo_thread(void *arg);

/* Set up and start a row; return 0 or -errno (everything undone). */
int quic_row_start(struct quic_row *r, struct quic_tls *tls, const struct quic_row_cfg *cfg);
/* One probe round trip of len bytes (buf comes back unchanged). Return 0 or -1. */
int quic_row_probe(struct quic_row *r, unsigned char *buf, size_t len);
/* Bytes the receivers checked so far (any thread). */
uint64_t quic_row_bytes(struct quic_row *r);
/* Stop (or wait for the last byte), close, check, free. Return 0 if every check passed. */
int quic_row_stop(struct quic_row *r, struct quic_row_result *out);

#endif /* TSQ_EXAMPLE_QUIC_LOOP_H */
