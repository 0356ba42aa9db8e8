/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * xdp_prog.h - the two XDP programs tsq-xsk needs, built in-process from a handful of BPF
 * instructions (no clang -target bpf, no object files, no bpffs), and their attachment.
 *
 *   redirect: frames on queue q go to the AF_XDP socket in slot q of an XSKMAP; frames for a
 *             queue without a socket go on to the kernel stack (XDP_PASS as the map's default).
 *   sink:     count every frame in a one-slot array map and drop it (XDP_DROP): the cheapest
 *             peer a sender can measure itself against, with an independent frame count.
 *
 * Why not libxdp's loader: under `ip netns exec` bpffs is not mounted and libxdp's
 * multi-program dispatcher cannot load on this kernel (EPERM). One program per interface,
 * attached with bpf_xdp_attach() and its fds kept in this process, works everywhere; the
 * program is detached on exit (and dies with its namespace if the process is killed).
 *
 * Context: setup and teardown only, one thread. Return codes: 0 or -errno.
 */
#ifndef TSQ_XDP_PROG_H
#define TSQ_XDP_PROG_H

#include <stdbool.h>
#include <stdint.h>

struct xdp_prog {
	int prog_fd; /* -1 when none */
	int map_fd;  /* XSKMAP (redirect) or the counter array (sink) */
	int ifindex;
	uint32_t flags; /* XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE: how it was attached */
};

enum xdp_attach_mode { XDP_ATTACH_AUTO, XDP_ATTACH_NATIVE, XDP_ATTACH_GENERIC };

/* Load the redirect program with an XSKMAP of `nr_queues` slots. */
int xdp_prog_load_redirect(struct xdp_prog *p, unsigned nr_queues);
/* Load the counting drop program. */
int xdp_prog_load_sink(struct xdp_prog *p);
/* Attach to `ifindex`: native (driver) mode where possible under AUTO, else generic. */
int xdp_prog_attach(struct xdp_prog *p, int ifindex, enum xdp_attach_mode mode);
/* Put an AF_XDP socket into the redirect map's slot `queue`. */
int xdp_prog_set_xsk(struct xdp_prog *p, unsigned queue, int xsk_fd);
/* The sink's frame count. */
int xdp_prog_sink_count(const struct xdp_prog *p, uint64_t *frames);
/* Detach (if attached) and close the fds. Safe on a zeroed or half-set-up struct. */
void xdp_prog_destroy(struct xdp_prog *p);
/* "native" / "generic" / "none". */
const char *xdp_prog_mode_name(const struct xdp_prog *p);

#endif
