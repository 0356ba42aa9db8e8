// SPDX-License-Identifier: BSD-2-Clause
/*
 * tsq-quic - QUIC bulk flows (ngtcp2 0.12 + GnuTLS, Debian's packages) through a tbf in two
 * network namespaces, with tsq off and on, and a probe: a UDP ping-pong from the sender's
 * namespace to an echo in the receiver's (its datagrams wait in the same tbf as the bulk
 * data). The options, the testbed, the rounds and the report are examples/stacks/'s; this file
 * is the QUIC stack's side of it. Every run checks every byte the receivers got, in order.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "quic_loop.h"
#include "stacks.h"
#include "testbed.h"

struct quic_stack {
	struct tb *tb;
	struct tsq_budget_opts budget;
	struct quic_tls tls;
	struct quic_row row;
	bool running;
};

static int quic_stack_socket(void *ctx, bool receiver)
{
	struct quic_stack *q = ctx;

	return tb_socket(q->tb, receiver ? TB_B : TB_A, AF_INET6, SOCK_DGRAM, 0);
}

static int quic_stack_init(void *ctx, struct tb *tb)
{
	struct quic_stack *q = ctx;

	q->tb = tb;
	if (quic_tls_init(&q->tls) != 0) {
		fprintf(stderr, "tsq-quic: cannot make the certificate (GnuTLS)\n");
		return -1;
	}
	return 0;
}

static int quic_stack_row_start(void *ctx, const struct stack_cfg *cfg)
{
	struct quic_stack *q = ctx;
	struct quic_row_cfg rc = {
		.flows = cfg->bulk_flows,
		.tsq = cfg->tsq,
		.bulk_bytes = cfg->bulk_bytes,
		.sender = tb_sockaddr(TB_ADDR_KERNEL, 0),
		.receiver = tb_sockaddr(TB_ADDR_PEER, 0),
		.echo_port = TB_PORT_UDP,
		.socket = quic_stack_socket,
		.socket_ctx = q,
		.budget = q->budget,
	};
	int err = quic_row_start(&q->row, &q->tls, &rc);

	q->running = err == 0;
	if (err != 0)
		fprintf(stderr, "tsq-quic: row start: %s\n", strerror(-err));
	return err == 0 ? 0 : -1;
}

static int quic_stack_probe(void *ctx, unsigned char *buf, size_t len)
{
	return quic_row_probe(&((struct quic_stack *)ctx)->row, buf, len);
}

static uint64_t quic_stack_rx_bytes(void *ctx)
{
	return quic_row_bytes(&((struct quic_stack *)ctx)->row);
}

static int quic_stack_row_stop(void *ctx, struct stack_row_extra *out)
{
	struct quic_stack *q = ctx;
	struct quic_row_result r;
	int bad;

	if (!q->running)
		return -1;
	q->running = false;
	bad = quic_row_stop(&q->row, &r);
	out->bytes_in_device_max = (int64_t)r.bytes_in_device_max;
	out->throttles = r.throttles;
	out->restarts = r.restarts;
	out->deferred = r.deferred;
	out->failed = bad != 0;
	if (r.flushed != 0 || r.txq_overflows != 0 || r.send_errors != 0)
		fprintf(stderr,
			"tsq-quic: tsq %s: %llu datagrams never stamped (settled at the end), %llu "
			"completed early (no slot), %llu refused by the socket\n",
			q->row.cfg.tsq ? "on" : "off", (unsigned long long)r.flushed,
			(unsigned long long)r.txq_overflows, (unsigned long long)r.send_errors);
	if (bad != 0)
		fprintf(stderr,
			"tsq-quic: row failed: error %d, %llu bytes (%llu bad, %llu out of order), "
			"%u/%u streams ended, %u pinned, %u clean closes, %llu bytes left charged, "
			"%llu unmatched completions\n",
			r.err, (unsigned long long)r.bytes, (unsigned long long)r.bad_bytes,
			(unsigned long long)r.out_of_order, r.fins, q->row.cfg.flows, r.pinned,
			r.clean_closes, (unsigned long long)r.inflight_left,
			(unsigned long long)r.unmatched);
	return bad;
}

static void quic_stack_fini(void *ctx)
{
	struct quic_stack *q = ctx;
	struct stack_row_extra ex;

	if (q->running)
		quic_stack_row_stop(q, &ex);
	if (q->tb != NULL)
		quic_tls_destroy(&q->tls);
}

/* The budget's knobs (budget.h): --pacing-shift as tsq-lwip's, --cap in bytes. */
static int quic_stack_parse(void *ctx, int argc, char **argv, int *i)
{
	struct quic_stack *q = ctx;
	const char *opt = argv[*i], *val = *i + 1 < argc ? argv[*i + 1] : NULL;

	if (strcmp(opt, "--pacing-shift") == 0)
		q->budget.pacing_shift = (unsigned)stacks_opt_num("tsq-quic", opt, val, 1, 20);
	else if (strcmp(opt, "--cap") == 0)
		q->budget.cap = (uint64_t)stacks_opt_num("tsq-quic", opt, val, 1500, 1 << 30);
	else
		return 0;
	q->budget.size = sizeof(q->budget);
	(*i)++;
	return 1;
}

int main(int argc, char **argv)
{
	static struct quic_stack q;
	const struct stack_ops ops = {
		.name = "quic",
		.usage =
			"  --pacing-shift N  the budget's limit is the learned rate >> N (1..20, default 10: ~1 ms)\n"
			"  --cap BYTES       the budget's cap (1500..2^30, default 4 MiB)\n",
		.parse = quic_stack_parse,
		.init = quic_stack_init,
		.row_start = quic_stack_row_start,
		.probe_rt = quic_stack_probe,
		.delivered = quic_stack_rx_bytes,
		.row_stop = quic_stack_row_stop,
		.fini = quic_stack_fini,
		.ctx = &q,
	};

	return stacks_main(argc, argv, "tsq-quic", &ops);
}
