/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kernel.c - the anchor: the kernel's own TCP (cubic, its own TSQ, autosized TSO) from
 * TB_ADDR_KERNEL through the same tbf, to the same sink and echo. Its device queue is not
 * visible to the program: the harness samples the qdisc backlog instead.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe.h"

#define KS_MAX_FLOWS 64

struct ks_flow {
	int fd;
	uint64_t limit; /* bytes to send; 0: until stopped */
	pthread_t thr;
	int *stop;
};

static struct ks {
	struct tb *tb;
	int probe_fd;
	unsigned nflows;
	int stop;
	struct ks_flow flow[KS_MAX_FLOWS];
} ks;

static int ks__connect(uint16_t port)
{
	struct sockaddr_in6 me = tb_sockaddr(TB_ADDR_KERNEL, 0),
			    peer = tb_sockaddr(TB_ADDR_PEER, port);
	int fd = tb_socket(ks.tb, TB_A, AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { 0, 100000 };

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&me, sizeof(me)) != 0 ||
	    connect(fd, (struct sockaddr *)&peer, sizeof(peer)) != 0) {
		close(fd);
		return -1;
	}
	/* A bounded send: the thread sees `stop` within 100 ms. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void *ks__bulk(void *arg)
{
	struct ks_flow *f = arg;
	unsigned char *buf = malloc(1 << 16);
	uint64_t off = 0;

	while (!__atomic_load_n(f->stop, __ATOMIC_RELAXED) && (f->limit == 0 || off < f->limit)) {
		size_t len = 1 << 16;
		ssize_t n;

		if (f->limit != 0 && f->limit - off < len)
			len = (size_t)(f->limit - off);
		tb_fill_pattern(buf, len, off);
		n = send(f->fd, buf, len, MSG_NOSIGNAL);
		if (n > 0)
			off += (uint64_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			break;
	}
	free(buf);
	return NULL;
}

static int ks_init(void *ctx, struct tb *tb)
{
	(void)ctx;
	ks.tb = tb;
	ks.probe_fd = -1;
	return 0;
}

static int ks_row_start(void *ctx, const struct stack_cfg *cfg)
{
	int one = 1;

	(void)ctx;
	ks.stop = 0;
	ks.nflows = 0;
	ks.probe_fd = ks__connect(TB_PORT_ECHO);
	if (ks.probe_fd < 0)
		return -1;
	setsockopt(ks.probe_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (unsigned i = 0; i < cfg->bulk_flows && i < KS_MAX_FLOWS; i++) {
		struct ks_flow *f = &ks.flow[i];

		f->fd = ks__connect(TB_PORT_SINK);
		f->limit = cfg->bulk_bytes;
		f->stop = &ks.stop;
		if (f->fd < 0 || pthread_create(&f->thr, NULL, ks__bulk, f) != 0) {
			if (f->fd >= 0)
				close(f->fd);
			return -1;
		}
		ks.nflows++;
	}
	return 0;
}

static int ks_probe_rt(void *ctx, unsigned char *buf, size_t len)
{
	size_t got = 0;
	unsigned waits = 0;

	(void)ctx;
	if (send(ks.probe_fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		return -1;
	while (got < len) {
		ssize_t n = recv(ks.probe_fd, buf + got, len - got, 0);

		if (n > 0)
			got += (size_t)n;
		else if (n < 0 && (errno == EAGAIN || errno == EINTR) && ++waits < 100)
			continue; /* the echo is late (a deep queue): wait up to 10 s */
		else
			return -1;
	}
	return 0;
}

static int ks_row_stop(void *ctx, struct stack_row_extra *out)
{
	(void)ctx;
	memset(out, 0, sizeof(*out));
	out->bytes_in_device_max = -1;
	if (ks.flow[0].limit == 0)
		__atomic_store_n(&ks.stop, 1, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < ks.nflows; i++) {
		pthread_join(ks.flow[i].thr, NULL);
		if (ks.flow[i].limit == 0) {
			/* A timed row: reset instead of draining megabytes of send buffer. */
			struct linger lg = { 1, 0 };

			setsockopt(ks.flow[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(ks.flow[i].fd);
	}
	close(ks.probe_fd);
	ks.probe_fd = -1;
	return 0;
}

const struct stack_ops pk_kernel_stack = {
	.name = "kernel",
	.init = ks_init,
	.row_start = ks_row_start,
	.probe_rt = ks_probe_rt,
	.row_stop = ks_row_stop,
};
