// SPDX-License-Identifier: BSD-2-Clause
/*
 * quic_row.c - one experiment row: `flows` QUIC connections (servers in the sender's
 * namespace, clients in the receiver's), a UDP echo for the probe, the sender's defer set,
 * and the checks at the end: every byte in order and as sent, every stream ended, every
 * connection closed with NO_ERROR, the client's pin held, and the budget back at zero.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "quic_loop.h"

#define QUIC_ROW_SECONDS_MAX 600ull /* no row runs longer: a hang ends as a failed row */
#define QUIC_PROBE_TIMEOUT_MS 10000 /* a probe behind a full tbf (4 MiB) may wait seconds */

static int quic_bound(struct quic_row *r, bool receiver, struct sockaddr_in6 a, uint16_t port)
{
	int fd = r->cfg.socket(r->cfg.socket_ctx, receiver);

	a.sin6_port = htons(port);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int quic_connected(struct quic_row *r, bool receiver, struct sockaddr_in6 a,
			  struct sockaddr_in6 to, uint16_t port)
{
	int fd = quic_bound(r, receiver, a, 0);

	to.sin6_port = htons(port);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int quic_row_sockets(struct quic_row *r)
{
	const struct quic_row_cfg *c = &r->cfg;

	r->echo_fd = quic_bound(r, true, c->receiver, c->echo_port);
	r->probe_fd = quic_connected(r, false, c->sender, c->receiver, c->echo_port);
	if (r->echo_fd < 0 || r->probe_fd < 0)
		return -1;
	for (unsigned i = 0; i < c->flows; i++) {
		struct quic_conn *s = &r->srv[i], *k = &r->cli[i];

		s->fd = quic_bound(r, false, c->sender, (uint16_t)(QUIC_PORT_BASE + i));
		k->fd = quic_connected(r, true, c->receiver, c->sender,
				       (uint16_t)(QUIC_PORT_BASE + i));
		if (s->fd < 0 || k->fd < 0)
			return -1;
		s->server = true;
		s->index = k->index = i;
		s->tls = k->tls = r->tls;
		s->send_bytes = c->bulk_bytes ? c->bulk_bytes : UINT64_MAX;
		s->stop = &r->stop;
		s->tsq = c->tsq;
		s->tally = &r->tally;
		if (quic_tsq_init(s, &r->set, 0, c->budget.size != 0 ? &c->budget : NULL) != 0)
			return -1;
	}
	return 0;
}

static bool quic_row_streaming(struct quic_row *r)
{
	for (unsigned i = 0; i < r->cfg.flows; i++)
		if (__atomic_load_n(&r->cli[i].delivered, __ATOMIC_RELAXED) == 0)
			return false;
	return true;
}

static void quic_row_free(struct quic_row *r)
{
	for (unsigned i = 0; r->srv != NULL && i < r->cfg.flows; i++) {
		if (r->srv[i].txq != NULL)
			quic_tsq_destroy(&r->srv[i]);
		quic_conn_free(&r->srv[i]);
		quic_conn_free(&r->cli[i]);
		if (r->srv[i].fd >= 0)
			close(r->srv[i].fd);
		if (r->cli[i].fd >= 0)
			close(r->cli[i].fd);
	}
	if (r->echo_fd >= 0)
		close(r->echo_fd);
	if (r->probe_fd >= 0)
		close(r->probe_fd);
	if (r->shards != NULL)
		tsq_defer_set_destroy(&r->set);
	free(r->shards);
	free(r->srv);
	free(r->cli);
	r->srv = r->cli = NULL;
	r->shards = NULL;
}

/* A row that could not start: stop the threads that run, free everything. */
static int quic_row_fail(struct quic_row *r, bool sender, bool receiver)
{
	__atomic_store_n(&r->stop, true, __ATOMIC_RELAXED);
	if (receiver)
		pthread_join(r->tr, NULL);
	if (sender)
		pthread_join(r->ts, NULL);
	__atomic_store_n(&r->echo_stop, true, __ATOMIC_RELAXED);
	pthread_join(r->te, NULL);
	quic_row_free(r);
	return -ETIMEDOUT;
}

int quic_row_start(struct quic_row *r, struct quic_tls *tls, const struct quic_row_cfg *cfg)
{
	uint64_t until;

	if (cfg->flows == 0 || cfg->flows > QUIC_MAX_CONNS)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->cfg = *cfg;
	r->tls = tls;
	r->echo_fd = r->probe_fd = -1;
	r->srv = aligned_alloc(TSQ_CACHELINE_SIZE, cfg->flows * sizeof(*r->srv));
	r->cli = aligned_alloc(TSQ_CACHELINE_SIZE, cfg->flows * sizeof(*r->cli));
	r->shards = tsq_defer_shards_alloc(1);
	if (r->srv == NULL || r->cli == NULL || r->shards == NULL ||
	    tsq_defer_set_init(&r->set, r->shards, 1, NULL) != 0) {
		free(r->shards);
		r->shards = NULL;
		quic_row_free(r);
		return -ENOMEM;
	}
	memset(r->srv, 0, cfg->flows * sizeof(*r->srv));
	memset(r->cli, 0, cfg->flows * sizeof(*r->cli));
	for (unsigned i = 0; i < cfg->flows; i++)
		r->srv[i].fd = r->cli[i].fd = -1;
	if (quic_row_sockets(r) != 0) {
		quic_row_free(r);
		return -EIO;
	}
	until = quic_now() + QUIC_ROW_SECONDS_MAX * 1000000000u;
	r->sender = (struct quic_side){ r->srv, cfg->flows, &r->set, until, 0 };
	r->receiver = (struct quic_side){ r->cli, cfg->flows, NULL, until, 0 };
	if (pthread_create(&r->te, NULL, quic_echo_thread, r) != 0) {
		quic_row_free(r);
		return -EAGAIN;
	}
	if (pthread_create(&r->ts, NULL, quic_sender_thread, &r->sender) != 0) {
		r->sender.err = r->receiver.err = -EAGAIN;
		return quic_row_fail(r, false, false);
	}
	if (pthread_create(&r->tr, NULL, quic_receiver_thread, &r->receiver) != 0) {
		r->receiver.err = -EAGAIN;
		return quic_row_fail(r, true, false);
	}
	/* Every stream delivering before the clock starts (bounded: 5 s for the handshakes). */
	for (uint64_t end = quic_now() + 5000000000u; !quic_row_streaming(r) && quic_now() < end;)
		usleep(1000);
	if (!quic_row_streaming(r) && cfg->bulk_bytes == 0)
		return quic_row_fail(r, true, true);
	return 0;
}

int quic_row_probe(struct quic_row *r, unsigned char *buf, size_t len)
{
	unsigned char back[256];
	struct pollfd pfd = { r->probe_fd, POLLIN, 0 };

	if (len > sizeof(back) || send(r->probe_fd, buf, len, 0) != (ssize_t)len)
		return -1;
	while (poll(&pfd, 1, QUIC_PROBE_TIMEOUT_MS) == 1) {
		ssize_t n = recv(r->probe_fd, back, sizeof(back), 0);

		if (n == (ssize_t)len && memcmp(back, buf, len) == 0)
			return 0; /* an older echo (after a time-out) is skipped */
	}
	return -1;
}

uint64_t quic_row_bytes(struct quic_row *r)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < r->cfg.flows; i++)
		sum += __atomic_load_n(&r->cli[i].delivered, __ATOMIC_RELAXED);
	return sum;
}

static void quic_row_collect(struct quic_row *r, struct quic_row_result *o)
{
	memset(o, 0, sizeof(*o));
	o->err = r->sender.err ? r->sender.err : r->receiver.err;
	o->bytes_in_device_max = r->tally.max;
	for (unsigned i = 0; i < r->cfg.flows; i++) {
		struct quic_conn *s = &r->srv[i], *k = &r->cli[i];
		struct tsq_flow_stats st;

		quic_tsq_flush(s);
		tsq_flow_stats(&s->flow, &st);
		o->bytes += k->offset;
		o->bad_bytes += k->bad_bytes;
		o->out_of_order += k->out_of_order;
		o->fins += k->fin_seen && k->offset == s->offset;
		o->pinned += k->pinned;
		o->clean_closes += s->peer_closed && s->peer_close_code == NGTCP2_NO_ERROR;
		o->flushed += s->flushed;
		o->txq_overflows += s->txq_overflows;
		o->send_errors += s->send_errors + k->send_errors;
		o->inflight_left += st.budget.inflight_bytes;
		o->throttles += st.budget.throttles;
		o->unmatched += st.budget.unmatched_completions;
		o->queued += st.queued;
		o->deferred += st.deferred;
		o->restarts += s->restarts;
	}
}

int quic_row_stop(struct quic_row *r, struct quic_row_result *out)
{
	unsigned n = r->cfg.flows;

	__atomic_store_n(&r->stop, true, __ATOMIC_RELAXED);
	pthread_join(r->tr, NULL);
	pthread_join(r->ts, NULL);
	__atomic_store_n(&r->echo_stop, true, __ATOMIC_RELAXED);
	pthread_join(r->te, NULL);
	quic_row_collect(r, out);
	quic_row_free(r);
	return out->err == 0 && out->bad_bytes == 0 && out->out_of_order == 0 && out->fins == n &&
			       out->pinned == n && out->clean_closes == n &&
			       out->inflight_left == 0 && out->unmatched == 0 ?
		       0 :
		       -1;
}
