/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * testbed.h - two network namespaces joined by a veth pair, a tbf on the sender's end (the
 * slow "device" every stack shares), the kernel's TCP peers on the far side, and the
 * measurements every stack row reports. Shared by tsq-lwip and tsq-quic; see
 * examples/stacks/README.md.
 *
 *   namespace A ("sender")                     namespace B ("receiver")
 *     dev_a, tbf root qdisc  ---- veth ----      dev_b, checksums offload off
 *     TB_ADDR_KERNEL: the kernel's own TCP       TB_ADDR_PEER: sink (TB_PORT_SINK),
 *     TB_ADDR_STACK: the userspace stack           echo (TB_PORT_ECHO), UDP use free
 *       (its frames through an AF_PACKET socket)
 *
 * The namespaces are named only while they are set up: after tb_setup() they live on the
 * descriptors this process holds, so they vanish with it on every exit path, SIGKILL too.
 * IPv6 ULA only; static neighbour entries (no ND needed from the stack).
 */
#ifndef TSQ_STACKS_TESTBED_H
#define TSQ_STACKS_TESTBED_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TB_ADDR_KERNEL "fd00:7e5a::1"
#define TB_ADDR_STACK "fd00:7e5a::2"
#define TB_ADDR_PEER "fd00:7e5a::b"
#define TB_PORT_SINK 5001
#define TB_PORT_ECHO 5002
#define TB_PORT_UDP 5003
#define TB_PROBE_BYTES 64 /* one probe request and its echo */

enum tb_side { TB_A = 0, TB_B = 1 };

struct tb {
	char ns[2][32];  /* names during setup only */
	char dev[2][16]; /* dev[TB_A] carries the tbf */
	int nsfd[2];     /* keeps each namespace alive */
	int orig;        /* this thread's namespace at setup */
	unsigned char mac[2][6];
	int ifindex[2];
	unsigned link_mbit;
	bool verbose;
};

/* Set everything up (root). Return 0, or -1 with a message on stderr (nothing left behind). */
int tb_setup(struct tb *tb, unsigned link_mbit, bool verbose);
/* Change the tbf's rate (and burst) in place. Return 0 or -1. */
int tb_set_rate(struct tb *tb, unsigned link_mbit);
/* Close the namespaces' descriptors: the kernel removes them and the veth. */
void tb_teardown(struct tb *tb);
/* A socket created in namespace `side` (the calling thread's namespace is restored). */
int tb_socket(struct tb *tb, enum tb_side side, int domain, int type, int proto);
/* Run a command line in namespace `side` (nsenter); return its exit status or -1. */
int tb_run(struct tb *tb, enum tb_side side, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Why the testbed cannot run here (not root, a tool missing), or NULL when it can. */
const char *tb_unavailable(void);
/* An IPv6 socket address for `addr` (one of TB_ADDR_*) and `port`. */
struct sockaddr_in6 tb_sockaddr(const char *addr, uint16_t port);

/* The byte pattern every bulk sender writes: byte `off` of a stream is tb_pattern(off). */
static inline unsigned char tb_pattern(uint64_t off)
{
	return (unsigned char)(off ^ (off >> 8) ^ (off >> 16) ^ (off >> 24) ^ 0x5a);
}
void tb_fill_pattern(unsigned char *buf, size_t len, uint64_t off);

/*
 * The qdisc sampler: reads the backlog (bytes) of dev_a's root qdisc through rtnetlink
 * every `period_us` and keeps the maximum since the last tb_qdisc_take_max().
 */
struct tb_qdisc_sampler;
struct tb_qdisc_sampler *tb_qdisc_start(struct tb *tb, unsigned period_us);
uint64_t tb_qdisc_take_max(struct tb_qdisc_sampler *s);
void tb_qdisc_stop(struct tb_qdisc_sampler *s);
/* One read of the backlog (bytes), or -1. */
int64_t tb_qdisc_backlog(struct tb *tb);

#endif /* TSQ_STACKS_TESTBED_H */
