/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * peers.c - the two receivers that do not use the engine, so that a sender can be checked
 * against something independent of it:
 *   rx-udp  a kernel UDP socket on --port: per-flow exactly-once accounting, and the kernel's
 *           own drop counters (Udp6InErrors, the per-CPU backlog) as the drops;
 *   sink    a counting XDP_DROP program: the cheapest peer, with its own frame count.
 */
#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* rx-udp                                                                                      */
/* ------------------------------------------------------------------------------------------ */

#define UDP_FLOWS 256
#define UDP_BATCH 64

struct udp_flow {
	uint8_t *seen; /* by sequence number */
	uint64_t cap, n, max;
};

static uint64_t snmp6(const char *key)
{
	char name[128];
	unsigned long long v;
	uint64_t out = 0;
	FILE *f = fopen("/proc/net/snmp6", "r");

	if (f == NULL)
		return 0;
	while (fscanf(f, "%127s %llu", name, &v) == 2)
		if (!strcmp(name, key))
			out = v;
	fclose(f);
	return out;
}

/* Frames the kernel dropped before any socket saw them: the per-CPU backlog (netif_rx). */
static uint64_t softnet_drops(void)
{
	char line[512];
	uint64_t sum = 0;
	FILE *f = fopen("/proc/net/softnet_stat", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long processed, dropped;

		if (sscanf(line, "%lx %lx", &processed, &dropped) == 2)
			sum += dropped;
	}
	fclose(f);
	return sum;
}

/* One datagram: mark its sequence number in its flow. Return: 1 counted, 0 not ours. */
static int udp_record(struct udp_flow *fl, const uint8_t *buf, size_t len, uint64_t *dups)
{
	struct xeng_payload pl;
	struct udp_flow *u;

	if (len < sizeof(pl))
		return 0;
	memcpy(&pl, buf, sizeof(pl));
	if (pl.magic != XENG_MAGIC || pl.flow >= UDP_FLOWS)
		return 0;
	u = &fl[pl.flow];
	if (pl.seq >= u->cap) {
		uint64_t cap = u->cap ? u->cap : 4096;
		uint8_t *nb;

		while (cap <= pl.seq)
			cap *= 2;
		nb = realloc(u->seen, cap);
		if (nb == NULL)
			return 0;
		memset(nb + u->cap, 0, cap - u->cap);
		u->seen = nb;
		u->cap = cap;
	}
	*dups += u->seen[pl.seq];
	u->seen[pl.seq] = 1;
	if (pl.seq > u->max || u->n == 0)
		u->max = pl.seq;
	u->n++;
	return 1;
}

static void udp_report(const struct cli_args *o, struct udp_flow *fl, uint64_t rx, uint64_t dups,
		       uint64_t drops)
{
	uint64_t missing = 0;
	struct jw j = { 0 };

	if (o->json) {
		jw_doc_begin(&j, stdout);
		jw_str(&j, "role", "rx-udp");
		jw_arr_begin(&j, "flows");
	} else {
		printf("%6s %12s %12s %10s\n", "flow", "received", "max_seq", "missing");
	}
	for (unsigned i = 0; i < UDP_FLOWS; i++) {
		uint64_t distinct = 0, miss;

		if (fl[i].n == 0)
			continue;
		for (uint64_t k = 0; k < fl[i].cap; k++)
			distinct += fl[i].seen[k];
		miss = fl[i].max + 1 - distinct;
		missing += miss;
		if (o->json) {
			jw_obj_begin(&j, NULL);
			jw_u64(&j, "id", i);
			jw_u64(&j, "received", fl[i].n);
			jw_u64(&j, "max_seq", fl[i].max);
			jw_u64(&j, "missing", miss);
			jw_obj_end(&j);
		} else {
			printf("%6u %12llu %12llu %10llu\n", i, (unsigned long long)fl[i].n,
			       (unsigned long long)fl[i].max, (unsigned long long)miss);
		}
	}
	if (o->json) {
		jw_arr_end(&j);
		jw_u64(&j, "received", rx);
		jw_u64(&j, "duplicates", dups);
		jw_u64(&j, "missing", missing);
		jw_u64(&j, "drops", drops);
		jw_doc_end(&j);
	} else {
		printf("received %llu, duplicates %llu, missing %llu, UDP receive errors %llu\n",
		       (unsigned long long)rx, (unsigned long long)dups,
		       (unsigned long long)missing, (unsigned long long)drops);
	}
}

int cmd_rx_udp(const struct cli_args *o)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(o->port) };
	int fd = socket(AF_INET6, SOCK_DGRAM, 0), big = 8 << 20;
	uint64_t t0, last_change, rx = 0, dups = 0, e0, e1;
	struct udp_flow *fl = calloc(UDP_FLOWS, sizeof(*fl));
	struct timeval tv = { 0, 100000 };
	static uint8_t buf[UDP_BATCH][2048];
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];

	if (fl == NULL || fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "tsq-xsk: UDP socket on port %u: %s\n", o->port, strerror(errno));
		free(fl);
		if (fd >= 0)
			close(fd);
		return 1;
	}
	/* Past rmem_max with CAP_NET_ADMIN; without it, as far as rmem_max allows. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	e0 = snmp6("Udp6InErrors") + softnet_drops();
	touch(o->ready_file);
	t0 = last_change = xeng_now_ns();
	while (!cli_interrupted) {
		uint64_t now;
		int n;

		for (int i = 0; i < UDP_BATCH; i++) {
			iov[i] = (struct iovec){ buf[i], sizeof(buf[i]) };
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(fd, msgs, UDP_BATCH, 0, NULL);
		now = xeng_now_ns();
		for (int i = 0; i < n; i++)
			rx += (uint64_t)udp_record(fl, buf[i], msgs[i].msg_len, &dups);
		if (n > 0)
			last_change = now;
		if (now - t0 >= (uint64_t)(o->duration * 1e9))
			break;
		if (rx && now - last_change >= (uint64_t)o->idle_exit_ms * 1000000ull)
			break;
	}
	e1 = snmp6("Udp6InErrors") + softnet_drops();
	close(fd);
	udp_report(o, fl, rx, dups, e1 - e0);
	for (unsigned i = 0; i < UDP_FLOWS; i++)
		free(fl[i].seen);
	free(fl);
	return dups ? 1 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* sink                                                                                        */
/* ------------------------------------------------------------------------------------------ */

int cmd_sink(const struct cli_args *o)
{
	struct xdp_prog p;
	int ifindex = (int)if_nametoindex(o->ifname), err;
	uint64_t frames = 0, t0;

	if (ifindex == 0) {
		fprintf(stderr, "tsq-xsk: no interface '%s'\n", o->ifname);
		return 1;
	}
	err = xdp_prog_load_sink(&p);
	if (err == 0)
		err = xdp_prog_attach(&p, ifindex, o->attach);
	if (err) {
		fprintf(stderr, "tsq-xsk: XDP sink on %s: %s\n", o->ifname, strerror(-err));
		xdp_prog_destroy(&p);
		return err == -EPERM ? EXIT_SKIP : 1;
	}
	touch(o->ready_file);
	t0 = xeng_now_ns();
	while (!cli_interrupted && xeng_now_ns() - t0 < (uint64_t)(o->duration * 1e9))
		usleep(10000);
	xdp_prog_sink_count(&p, &frames);
	if (o->json) {
		struct jw j;

		jw_doc_begin(&j, stdout);
		jw_str(&j, "role", "sink");
		jw_str(&j, "attach", xdp_prog_mode_name(&p));
		jw_u64(&j, "frames", frames);
		jw_doc_end(&j);
	} else {
		printf("sink (%s XDP): %llu frames\n", xdp_prog_mode_name(&p),
		       (unsigned long long)frames);
	}
	xdp_prog_destroy(&p);
	return 0;
}
