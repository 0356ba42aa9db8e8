/* SPDX-License-Identifier: BSD-2-Clause */
/* probe.c - the kernel's peers (sink, echo), the probe loop, the kernel's TCP as a stack. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "probe.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "stats.h" /* bench/common: one meaning of "p99" in every program */

#define PK_MAX_CONNS 64

/* A listener in namespace B with an accept thread that starts one thread per connection. */
struct pk_server {
	int lfd;
	int stop;
	unsigned nconns;
	pthread_t acceptor, conn[PK_MAX_CONNS];
	int cfd[PK_MAX_CONNS];
	void *(*serve)(void *arg);
	void *owner;
};

struct pk_conn_arg {
	struct pk_server *srv;
	int fd;
};

static int pk__stopping(struct pk_server *srv)
{
	return __atomic_load_n(&srv->stop, __ATOMIC_RELAXED);
}

static void *pk__accept_loop(void *arg)
{
	struct pk_server *srv = arg;

	while (!pk__stopping(srv) && srv->nconns < PK_MAX_CONNS) {
		struct pollfd p = { srv->lfd, POLLIN, 0 };
		struct timeval tv = { 0, 100000 };
		struct pk_conn_arg *ca;
		int fd;

		if (poll(&p, 1, 100) <= 0)
			continue;
		fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		/* Bounded waits: a thread checks `stop` at least every 100 ms. */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		ca = malloc(sizeof(*ca));
		ca->srv = srv;
		ca->fd = fd;
		srv->cfd[srv->nconns] = fd;
		if (pthread_create(&srv->conn[srv->nconns], NULL, srv->serve, ca) != 0) {
			close(fd);
			free(ca);
			continue;
		}
		__atomic_add_fetch(&srv->nconns, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static int pk__server_start(struct pk_server *srv, struct tb *tb, uint16_t port,
			    void *(*serve)(void *), void *owner)
{
	struct sockaddr_in6 sa = tb_sockaddr(TB_ADDR_PEER, port);
	int one = 1;

	memset(srv, 0, sizeof(*srv));
	srv->serve = serve;
	srv->owner = owner;
	srv->lfd = tb_socket(tb, TB_B, AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv->lfd < 0)
		return -1;
	setsockopt(srv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(srv->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(srv->lfd, 64) != 0 ||
	    pthread_create(&srv->acceptor, NULL, pk__accept_loop, srv) != 0) {
		close(srv->lfd);
		return -1;
	}
	return 0;
}

static void pk__server_stop(struct pk_server *srv)
{
	__atomic_store_n(&srv->stop, 1, __ATOMIC_RELAXED);
	pthread_join(srv->acceptor, NULL);
	for (unsigned i = 0; i < srv->nconns; i++) {
		pthread_join(srv->conn[i], NULL);
		close(srv->cfd[i]);
	}
	close(srv->lfd);
}

struct pk_sink {
	struct pk_server srv;
	struct pk_sink_result r; /* atomic adds from the connection threads */
};

static void *pk__sink_conn(void *arg)
{
	struct pk_conn_arg *ca = arg;
	struct pk_sink *s = ca->srv->owner;
	static __thread unsigned char buf[65536];
	uint64_t off = 0, bad = 0;

	for (;;) {
		ssize_t n = recv(ca->fd, buf, sizeof(buf), 0);

		if (n > 0) {
			for (ssize_t i = 0; i < n; i++)
				bad += buf[i] != tb_pattern(off + (uint64_t)i);
			off += (uint64_t)n;
			__atomic_add_fetch(&s->r.bytes, (uint64_t)n, __ATOMIC_RELAXED);
			continue;
		}
		if (n == 0) {
			__atomic_add_fetch(&s->r.clean_eofs, 1, __ATOMIC_RELAXED);
			break;
		}
		if ((errno == EAGAIN || errno == EINTR) && !pk__stopping(ca->srv))
			continue;
		__atomic_add_fetch(&s->r.errors, 1, __ATOMIC_RELAXED);
		break;
	}
	__atomic_add_fetch(&s->r.bad_bytes, bad, __ATOMIC_RELAXED);
	free(ca);
	return NULL;
}

struct pk_sink *pk_sink_start(struct tb *tb)
{
	struct pk_sink *s = calloc(1, sizeof(*s));

	if (s != NULL && pk__server_start(&s->srv, tb, TB_PORT_SINK, pk__sink_conn, s) != 0) {
		free(s);
		s = NULL;
	}
	return s;
}

uint64_t pk_sink_bytes(struct pk_sink *s)
{
	return __atomic_load_n(&s->r.bytes, __ATOMIC_RELAXED);
}

void pk_sink_stop(struct pk_sink *s, unsigned conns, unsigned wait_ms, struct pk_sink_result *out)
{
	struct timespec ms = { 0, 1000000 };

	for (unsigned t = 0; t < wait_ms; t++) {
		uint64_t ended = __atomic_load_n(&s->r.clean_eofs, __ATOMIC_RELAXED) +
				 __atomic_load_n(&s->r.errors, __ATOMIC_RELAXED);

		if (ended >= conns)
			break;
		nanosleep(&ms, NULL);
	}
	pk__server_stop(&s->srv);
	s->r.conns = s->srv.nconns;
	*out = s->r;
	free(s);
}

struct pk_echo {
	struct pk_server srv;
};

static void *pk__echo_conn(void *arg)
{
	struct pk_conn_arg *ca = arg;
	unsigned char buf[TB_PROBE_BYTES];
	int one = 1;

	setsockopt(ca->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (;;) {
		size_t got = 0;
		ssize_t n = 0;

		while (got < sizeof(buf)) {
			n = recv(ca->fd, buf + got, sizeof(buf) - got, 0);
			if (n > 0)
				got += (size_t)n;
			else if (n < 0 && (errno == EAGAIN || errno == EINTR) &&
				 !pk__stopping(ca->srv))
				continue;
			else
				break;
		}
		if (got < sizeof(buf) ||
		    send(ca->fd, buf, sizeof(buf), MSG_NOSIGNAL) != (ssize_t)sizeof(buf))
			break;
	}
	free(ca);
	return NULL;
}

struct pk_echo *pk_echo_start(struct tb *tb)
{
	struct pk_echo *e = calloc(1, sizeof(*e));

	if (e != NULL && pk__server_start(&e->srv, tb, TB_PORT_ECHO, pk__echo_conn, e) != 0) {
		free(e);
		e = NULL;
	}
	return e;
}

void pk_echo_stop(struct pk_echo *e)
{
	if (e == NULL)
		return;
	pk__server_stop(&e->srv);
	free(e);
}

void pk_probe_run(pk_rt_fn *rt, void *ctx, double seconds, unsigned period_us,
		  struct pk_probe_result *out)
{
	size_t cap = 1u << 16, n = 0;
	uint64_t *rtt = malloc(cap * sizeof(*rtt));
	uint64_t end = bench_now_ns() + (uint64_t)(seconds * 1e9), seq = 0;
	unsigned char req[TB_PROBE_BYTES], buf[TB_PROBE_BYTES];

	memset(out, 0, sizeof(*out));
	while (bench_now_ns() < end && n < cap) {
		uint64_t t0;

		tb_fill_pattern(req, sizeof(req), seq * 977);
		memcpy(req, &seq, sizeof(seq));
		memcpy(buf, req, sizeof(buf));
		t0 = bench_now_ns();
		if (rt(ctx, buf, sizeof(buf)) != 0) {
			out->errors++;
			break;
		}
		rtt[n++] = bench_now_ns() - t0;
		out->errors += memcmp(buf, req, sizeof(buf)) != 0;
		seq++;
		while (bench_now_ns() < t0 + (uint64_t)period_us * 1000 && bench_now_ns() < end) {
			struct timespec ts = { 0, 100000 };

			nanosleep(&ts, NULL);
		}
	}
	bench_sort_u64(rtt, n);
	out->samples = n;
	out->p50_us = (double)bench_percentile_u64(rtt, n, 50) / 1e3;
	out->p99_us = (double)bench_percentile_u64(rtt, n, 99) / 1e3;
	out->max_us = n ? (double)rtt[n - 1] / 1e3 : 0;
	free(rtt);
}
