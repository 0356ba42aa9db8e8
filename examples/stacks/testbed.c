/* SPDX-License-Identifier: BSD-2-Clause */
/* testbed.c - namespaces, veth, tbf and the qdisc sampler (see testbed.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testbed.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/gen_stats.h>
#include <linux/if_ether.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

const char *tb_unavailable(void)
{
	static const char *const tools[] = { "/usr/sbin/ip", "/usr/sbin/tc", "/usr/sbin/ethtool",
					     "/usr/bin/nsenter" };

	if (geteuid() != 0)
		return "needs root (network namespaces, tbf)";
	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
		if (access(tools[i], X_OK) != 0)
			return strrchr(tools[i], '/') + 1;
	return NULL;
}

int tb_run(struct tb *tb, enum tb_side side, const char *fmt, ...)
{
	char cmd[768];
	int n, st;
	va_list ap;

	n = snprintf(cmd, sizeof(cmd), "/usr/bin/nsenter --net=/proc/%d/fd/%d ", (int)getpid(),
		     tb->nsfd[side]);
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	if (!tb->verbose)
		strncat(cmd, " >/dev/null 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	else
		fprintf(stderr, "+ %s\n", cmd);
	st = system(cmd);
	return st == -1 ? -1 : WEXITSTATUS(st);
}

int tb_socket(struct tb *tb, enum tb_side side, int domain, int type, int proto)
{
	int fd, err;

	if (setns(tb->nsfd[side], CLONE_NEWNET) != 0)
		return -1;
	fd = socket(domain, type, proto);
	err = errno;
	if (setns(tb->orig, CLONE_NEWNET) != 0)
		abort(); /* the thread would stay in the wrong namespace */
	errno = err;
	return fd;
}

/* A fresh, unnamed namespace held by a descriptor; the thread comes back to tb->orig. */
static int tb__new_ns(struct tb *tb)
{
	int fd;

	if (unshare(CLONE_NEWNET) != 0)
		return -1;
	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (setns(tb->orig, CLONE_NEWNET) != 0)
		abort();
	return fd;
}

static int tb__link_info(struct tb *tb, enum tb_side side)
{
	struct ifreq ifr;
	int fd = tb_socket(tb, side, AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tb->dev[side]);
	ok = ioctl(fd, SIOCGIFHWADDR, &ifr) == 0;
	if (ok)
		memcpy(tb->mac[side], ifr.ifr_hwaddr.sa_data, 6);
	ok = ok && ioctl(fd, SIOCGIFINDEX, &ifr) == 0;
	if (ok)
		tb->ifindex[side] = ifr.ifr_ifindex;
	close(fd);
	return ok ? 0 : -1;
}

static const char *tb__mac(const unsigned char *m, char *buf)
{
	sprintf(buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	return buf;
}

static int tb__tbf(struct tb *tb, const char *verb, unsigned mbit)
{
	/* burst: ~1 ms of the rate, at least two frames; limit: far above any window used. */
	unsigned burst = mbit * 125 > 2 * 1514 ? mbit * 125 : 2 * 1514;

	return tb_run(tb, TB_A,
		      "/usr/sbin/tc qdisc %s dev %s root tbf rate %umbit burst %u limit %u", verb,
		      tb->dev[TB_A], mbit, burst, 4u << 20);
}

static int tb__configure(struct tb *tb)
{
	char ma[18], mb[18];
	const char *a = tb->dev[TB_A], *b = tb->dev[TB_B];

	if (tb_run(tb, TB_A, "/usr/sbin/ip link add %s type veth peer name %s netns /proc/%d/fd/%d",
		   a, b, (int)getpid(), tb->nsfd[TB_B]) != 0)
		return -1;
	if (tb__link_info(tb, TB_A) || tb__link_info(tb, TB_B))
		return -1;
	tb__mac(tb->mac[TB_A], ma);
	tb__mac(tb->mac[TB_B], mb);
	for (int s = TB_A; s <= TB_B; s++)
		if (tb_run(tb, (enum tb_side)s, "/usr/sbin/ip link set lo up") ||
		    tb_run(tb, (enum tb_side)s, "/usr/sbin/ip link set %s addrgenmode none up",
			   tb->dev[s]))
			return -1;
	if (tb_run(tb, TB_A, "/usr/sbin/ip -6 addr add %s/64 dev %s nodad", TB_ADDR_KERNEL, a) ||
	    tb_run(tb, TB_B, "/usr/sbin/ip -6 addr add %s/64 dev %s nodad", TB_ADDR_PEER, b) ||
	    tb_run(tb, TB_A, "/usr/sbin/ip -6 neigh replace %s lladdr %s dev %s nud permanent",
		   TB_ADDR_PEER, mb, a) ||
	    tb_run(tb, TB_B, "/usr/sbin/ip -6 neigh replace %s lladdr %s dev %s nud permanent",
		   TB_ADDR_KERNEL, ma, b) ||
	    tb_run(tb, TB_B, "/usr/sbin/ip -6 neigh replace %s lladdr %s dev %s nud permanent",
		   TB_ADDR_STACK, ma, b))
		return -1;
	/* veth hands partial checksums across; a userspace stack drops them (SYN-RECV). */
	if (tb_run(tb, TB_B, "/usr/sbin/ethtool -K %s tx off", b))
		return -1;
	return tb__tbf(tb, "add", tb->link_mbit);
}

int tb_setup(struct tb *tb, unsigned link_mbit, bool verbose)
{
	int pid = (int)getpid();

	memset(tb, 0, sizeof(*tb));
	tb->nsfd[0] = tb->nsfd[1] = -1;
	tb->link_mbit = link_mbit;
	tb->verbose = verbose;
	snprintf(tb->dev[TB_A], sizeof(tb->dev[TB_A]), "tsqs%da", pid % 10000000);
	snprintf(tb->dev[TB_B], sizeof(tb->dev[TB_B]), "tsqs%db", pid % 10000000);
	tb->orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (tb->orig < 0 || (tb->nsfd[TB_A] = tb__new_ns(tb)) < 0 ||
	    (tb->nsfd[TB_B] = tb__new_ns(tb)) < 0 || tb__configure(tb) != 0) {
		fprintf(stderr, "testbed: setup failed (%s); rerun with --verbose\n",
			errno ? strerror(errno) : "a command failed");
		tb_teardown(tb);
		return -1;
	}
	return 0;
}

int tb_set_rate(struct tb *tb, unsigned link_mbit)
{
	if (tb__tbf(tb, "change", link_mbit) != 0)
		return -1;
	tb->link_mbit = link_mbit;
	return 0;
}

void tb_teardown(struct tb *tb)
{
	for (int s = 0; s < 2; s++)
		if (tb->nsfd[s] >= 0) {
			close(tb->nsfd[s]);
			tb->nsfd[s] = -1;
		}
	if (tb->orig >= 0)
		close(tb->orig);
	tb->orig = -1;
}

struct sockaddr_in6 tb_sockaddr(const char *addr, uint16_t port)
{
	struct sockaddr_in6 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	sa.sin6_port = htons(port);
	inet_pton(AF_INET6, addr, &sa.sin6_addr);
	return sa;
}

void tb_fill_pattern(unsigned char *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = tb_pattern(off + i);
}

/* The backlog in one RTM_NEWQDISC message of dev_a's root qdisc, or -1 if not that one. */
static int64_t tb__parse_qdisc(struct tb *tb, struct nlmsghdr *nh)
{
	struct tcmsg *tc = NLMSG_DATA(nh);
	struct rtattr *a = (struct rtattr *)((char *)tc + NLMSG_ALIGN(sizeof(*tc)));
	int len = (int)nh->nlmsg_len - NLMSG_LENGTH(sizeof(*tc));

	if (nh->nlmsg_type != RTM_NEWQDISC || tc->tcm_ifindex != tb->ifindex[TB_A] ||
	    tc->tcm_parent != TC_H_ROOT)
		return -1;
	for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		struct rtattr *n = RTA_DATA(a);
		int nl = (int)RTA_PAYLOAD(a);

		if (a->rta_type != TCA_STATS2)
			continue;
		for (; RTA_OK(n, nl); n = RTA_NEXT(n, nl))
			if (n->rta_type == TCA_STATS_QUEUE &&
			    RTA_PAYLOAD(n) >= sizeof(struct gnet_stats_queue))
				return ((struct gnet_stats_queue *)RTA_DATA(n))->backlog;
	}
	return -1;
}

static int64_t tb__qdisc_read(struct tb *tb, int fd)
{
	struct {
		struct nlmsghdr nh;
		struct tcmsg tc;
	} req = { .nh = { .nlmsg_len = sizeof(req),
			  .nlmsg_type = RTM_GETQDISC,
			  .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		  .tc = { .tcm_family = AF_UNSPEC, .tcm_ifindex = tb->ifindex[TB_A] } };
	static __thread char buf[16384];
	int64_t found = -1;

	if (send(fd, &req, sizeof(req), 0) < 0)
		return -1;
	for (int rounds = 0; rounds < 64; rounds++) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		unsigned int len = (unsigned int)n; /* NLMSG_OK compares it with nlmsg_len (u32) */

		if (n <= 0)
			return -1;
		for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len);
		     nh = NLMSG_NEXT(nh, len)) {
			int64_t v;

			if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR)
				return found;
			v = tb__parse_qdisc(tb, nh);
			if (v >= 0)
				found = v;
		}
	}
	return found;
}

int64_t tb_qdisc_backlog(struct tb *tb)
{
	int fd = tb_socket(tb, TB_A, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	int64_t v;

	if (fd < 0)
		return -1;
	v = tb__qdisc_read(tb, fd);
	close(fd);
	return v;
}

struct tb_qdisc_sampler {
	struct tb *tb;
	int fd;
	unsigned period_us;
	int stop;
	uint64_t max;
	pthread_t thr;
};

static void *tb__sampler(void *arg)
{
	struct tb_qdisc_sampler *s = arg;
	struct timespec ts = { 0, (long)s->period_us * 1000 };

	while (!__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
		int64_t v = tb__qdisc_read(s->tb, s->fd);

		if (v > 0 && (uint64_t)v > __atomic_load_n(&s->max, __ATOMIC_RELAXED))
			__atomic_store_n(&s->max, (uint64_t)v, __ATOMIC_RELAXED);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

struct tb_qdisc_sampler *tb_qdisc_start(struct tb *tb, unsigned period_us)
{
	struct tb_qdisc_sampler *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->tb = tb;
	s->period_us = period_us;
	s->fd = tb_socket(tb, TB_A, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s->fd < 0 || pthread_create(&s->thr, NULL, tb__sampler, s) != 0) {
		if (s->fd >= 0)
			close(s->fd);
		free(s);
		return NULL;
	}
	return s;
}

uint64_t tb_qdisc_take_max(struct tb_qdisc_sampler *s)
{
	return s == NULL ? 0 : __atomic_exchange_n(&s->max, 0, __ATOMIC_RELAXED);
}

void tb_qdisc_stop(struct tb_qdisc_sampler *s)
{
	if (s == NULL)
		return;
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
	pthread_join(s->thr, NULL);
	close(s->fd);
	free(s);
}
