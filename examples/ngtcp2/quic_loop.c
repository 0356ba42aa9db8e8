// SPDX-License-Identifier: BSD-2-Clause
/*
 * quic_loop.c - the threads of the QUIC example: the sender (every server connection, shard 0
 * of the defer set, and each connection's owner while it reads, runs timers and writes), the
 * receiver (every client connection), and the probe's UDP ping-pong.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "quic_loop.h"

#define QUIC_TICK_NS 50000000ull /* the longest sleep: the stop flag is looked at this often */

static bool quic_stopping(const bool *flag)
{
	return __atomic_load_n(flag, __ATOMIC_RELAXED);
}

/* How long until the earliest ngtcp2 timer (at most QUIC_TICK_NS). */
static struct timespec quic_timeout(struct quic_side *s, uint64_t now)
{
	uint64_t wait = QUIC_TICK_NS;

	for (unsigned i = 0; i < s->n; i++) {
		struct quic_conn *c = &s->conns[i];
		uint64_t exp;

		if (c->conn == NULL || quic_conn_done(c))
			continue;
		exp = ngtcp2_conn_get_expiry(c->conn);
		if (exp <= now || c->write_more)
			wait = 0;
		else if (exp - now < wait)
			wait = exp - now;
	}
	return (struct timespec){ (time_t)(wait / 1000000000u), (long)(wait % 1000000000u) };
}

/* The server side of a connection: the client's first datagram sets it up. */
static int quic_accept(struct quic_conn *c)
{
	uint8_t buf[65536];
	struct sockaddr_in6 from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(c->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (connect(c->fd, (struct sockaddr *)&from, fl) != 0)
		return -errno;
	return quic_conn_start(c, buf, (size_t)n);
}

/* One connection's turn as its owner: receive, timers, write (or accept). */
static int quic_turn(struct quic_conn *c)
{
	int err;

	if (c->conn == NULL)
		return quic_accept(c);
	err = quic_conn_read(c);
	if (err == 0)
		err = quic_conn_expiry(c);
	if (err == 0 && c->write_failed)
		err = -EPROTO;
	if (err == 0)
		err = quic_conn_write(c);
	return err;
}

/* Every connection ended (a server whose client never came ends when the row stops). */
static bool quic_all_done(const struct quic_side *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		const struct quic_conn *c = &s->conns[i];

		if (c->conn == NULL && c->stop != NULL && quic_stopping(c->stop))
			continue;
		if (!quic_conn_done(c) || c->pending_len != 0)
			return false;
	}
	return true;
}

/* Sleep in ppoll on every socket and (sender) the shard's eventfd, without losing a kick. */
static int quic_wait(struct quic_side *s, struct pollfd *pfd)
{
	struct timespec t = quic_timeout(s, quic_now());
	unsigned n = s->n;
	int r;

	for (unsigned i = 0; i < s->n; i++) {
		pfd[i] = (struct pollfd){ s->conns[i].fd, POLLIN, 0 };
		if (s->conns[i].pending_len != 0)
			pfd[i].events |= POLLOUT;
	}
	if (s->set == NULL)
		return ppoll(pfd, n, &t, NULL);
	pfd[n++] = (struct pollfd){ tsq_defer_fd(s->set, 0), POLLIN, 0 };
	if (!tsq_defer_idle_enter(s->set, 0))
		t = (struct timespec){ 0, 0 }; /* a restart is queued: look, do not sleep */
	r = ppoll(pfd, n, &t, NULL);
	tsq_defer_idle_exit(s->set, 0);
	if (r > 0 && (pfd[s->n].revents & POLLIN)) {
		uint64_t v;

		if (read(pfd[s->n].fd, &v, sizeof(v)) < 0)
			v = 0; /* the counter is only a wake-up */
	}
	return r;
}

/* Whether the connection has work for its owner: a datagram, room for one, a timer, more. */
static bool quic_due(struct quic_conn *c, short revents, uint64_t now)
{
	if (quic_conn_done(c) && c->pending_len == 0)
		return false;
	return (revents & (POLLIN | POLLOUT)) || c->write_more || c->write_failed ||
	       (c->conn != NULL && ngtcp2_conn_get_expiry(c->conn) <= now);
}

/*
 * The sender's thread. Completions first (they may queue restarts), then each connection with
 * something to do, as its owner (owner.h: a restart that finds it owned is left to the
 * release), then the restarts: defer.h's drain runs send_more under the short lock. A flow
 * the budget stopped is written again only through that restart.
 */
void *quic_sender_thread(void *arg)
{
	struct quic_side *s = arg;
	struct pollfd pfd[QUIC_MAX_CONNS + 1];

	while (!quic_all_done(s) && quic_now() < s->deadline) {
		uint64_t now;

		quic_wait(s, pfd);
		for (unsigned i = 0; i < s->n; i++)
			if (s->conns[i].conn != NULL && (pfd[i].revents & POLLERR))
				quic_tsq_completions(&s->conns[i]);
		now = quic_now();
		for (unsigned i = 0; i < s->n; i++) {
			struct quic_conn *c = &s->conns[i];

			if (!quic_due(c, pfd[i].revents, now))
				continue;
			tsq_owner_acquire(&c->own);
			if (quic_turn(c) != 0 && s->err == 0)
				s->err = -EPROTO;
			tsq_owner_release(&c->own);
		}
		tsq_defer_drain(s->set, 0);
	}
	/* Wait (bounded) for the last notices, so that the budget ends at zero. */
	for (uint64_t end = quic_now() + 500000000u; quic_now() < end;) {
		bool left = false;

		for (unsigned i = 0; i < s->n; i++) {
			quic_tsq_completions(&s->conns[i]);
			left |= s->conns[i].txq_head != s->conns[i].txq_tail;
		}
		tsq_defer_drain(s->set, 0);
		if (!left)
			break;
		usleep(1000);
	}
	return NULL;
}

/* The receiver's thread: the clients, each closing its connection when its stream ended. */
void *quic_receiver_thread(void *arg)
{
	struct quic_side *s = arg;
	struct pollfd pfd[QUIC_MAX_CONNS];

	for (unsigned i = 0; i < s->n; i++)
		if (quic_conn_start(&s->conns[i], NULL, 0) != 0)
			s->err = -EPROTO;
	while (s->err == 0 && !quic_all_done(s) && quic_now() < s->deadline) {
		quic_wait(s, pfd);
		for (unsigned i = 0; i < s->n; i++) {
			struct quic_conn *c = &s->conns[i];

			if (quic_turn(c) != 0)
				s->err = -EPROTO;
			__atomic_store_n(&c->delivered, c->offset, __ATOMIC_RELAXED);
			if (c->fin_seen && !c->closed) {
				c->pinned = quic_tls_peer_pinned(c);
				quic_conn_close(c);
			}
		}
	}
	return NULL;
}

/* The probe's echo in the receiver's namespace. */
void *quic_echo_thread(void *arg)
{
	struct quic_row *r = arg;
	uint8_t buf[256];

	while (!quic_stopping(&r->echo_stop)) {
		struct pollfd pfd = { r->echo_fd, POLLIN, 0 };
		struct sockaddr_in6 from;
		socklen_t fl = sizeof(from);
		ssize_t n;

		if (poll(&pfd, 1, 50) != 1)
			continue;
		n = recvfrom(r->echo_fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n > 0)
			sendto(r->echo_fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}
