/* SPDX-License-Identifier: BSD-2-Clause */
/* xdp_prog.c - see xdp_prog.h. */
#include "xdp_prog.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

/* Instruction builders (the uapi has the encoding, not these helpers). */
#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define MOV64_IMM(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define MOV64_REG(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define ADD64_IMM(d, i) INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define LDX_W(d, s, o) INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define STX_W(d, s, o) INSN(BPF_STX | BPF_MEM | BPF_W, d, s, o, 0)
#define ATOMIC_ADD_DW(d, s, o) INSN(BPF_STX | BPF_ATOMIC | BPF_DW, d, s, o, BPF_ADD)
#define LD_MAP_FD(d, fd) \
	INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), INSN(0, 0, 0, 0, 0)
#define JEQ_IMM(d, i, o) INSN(BPF_JMP | BPF_JEQ | BPF_K, d, 0, o, i)
#define CALL(f) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

static int load(struct xdp_prog *p, const char *name, const struct bpf_insn *insns, size_t n)
{
	char log[4096];
	struct bpf_prog_load_opts opts;
	int fd;

	/* What LIBBPF_OPTS() does, written out: that macro is a GNU statement expression, which
	 * clang refuses under -Wpedantic -Werror. Zeroed first, so fields unknown to this
	 * libbpf's caller stay 0; .sz tells libbpf which version of the struct we have. */
	memset(&opts, 0, sizeof(opts));
	opts.sz = sizeof(opts);
	opts.log_buf = log;
	opts.log_size = sizeof(log);
	opts.log_level = 0;
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, name, "Dual BSD/GPL", insns, n, &opts);

	if (fd < 0)
		return fd;
	p->prog_fd = fd;
	return 0;
}

static void init_empty(struct xdp_prog *p)
{
	p->prog_fd = -1;
	p->map_fd = -1;
	p->ifindex = 0;
	p->flags = 0;
}

int xdp_prog_load_redirect(struct xdp_prog *p, unsigned nr_queues)
{
	int err;

	init_empty(p);
	p->map_fd = bpf_map_create(BPF_MAP_TYPE_XSKMAP, "tsq_xsks", 4, 4, nr_queues, NULL);
	if (p->map_fd < 0)
		return p->map_fd;
	{
		/* return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS); */
		const struct bpf_insn insns[] = {
			LDX_W(BPF_REG_2, BPF_REG_1, offsetof(struct xdp_md, rx_queue_index)),
			LD_MAP_FD(BPF_REG_1, p->map_fd),
			MOV64_IMM(BPF_REG_3, XDP_PASS),
			CALL(BPF_FUNC_redirect_map),
			EXIT(),
		};
		err = load(p, "tsq_xsk_redir", insns, sizeof(insns) / sizeof(insns[0]));
	}
	if (err < 0) {
		xdp_prog_destroy(p);
		return err;
	}
	return 0;
}

int xdp_prog_load_sink(struct xdp_prog *p)
{
	int err;

	init_empty(p);
	p->map_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tsq_sink", 4, 8, 1, NULL);
	if (p->map_fd < 0)
		return p->map_fd;
	{
		/* u32 k = 0; u64 *c = bpf_map_lookup_elem(&sink, &k); if (c) __sync_fetch_and_add(c, 1); return XDP_DROP; */
		const struct bpf_insn insns[] = {
			MOV64_IMM(BPF_REG_0, 0),
			STX_W(BPF_REG_10, BPF_REG_0, -4),
			MOV64_REG(BPF_REG_2, BPF_REG_10),
			ADD64_IMM(BPF_REG_2, -4),
			LD_MAP_FD(BPF_REG_1, p->map_fd),
			CALL(BPF_FUNC_map_lookup_elem),
			JEQ_IMM(BPF_REG_0, 0, 2),
			MOV64_IMM(BPF_REG_1, 1),
			ATOMIC_ADD_DW(BPF_REG_0, BPF_REG_1, 0),
			MOV64_IMM(BPF_REG_0, XDP_DROP),
			EXIT(),
		};
		err = load(p, "tsq_sink", insns, sizeof(insns) / sizeof(insns[0]));
	}
	if (err < 0) {
		xdp_prog_destroy(p);
		return err;
	}
	return 0;
}

int xdp_prog_attach(struct xdp_prog *p, int ifindex, enum xdp_attach_mode mode)
{
	int err = -EINVAL;

	if (p->prog_fd < 0 || ifindex <= 0)
		return -EINVAL;
	if (mode != XDP_ATTACH_GENERIC) {
		err = bpf_xdp_attach(ifindex, p->prog_fd, XDP_FLAGS_DRV_MODE, NULL);
		if (err == 0) {
			p->flags = XDP_FLAGS_DRV_MODE;
			p->ifindex = ifindex;
			return 0;
		}
		if (mode == XDP_ATTACH_NATIVE)
			return err;
	}
	err = bpf_xdp_attach(ifindex, p->prog_fd, XDP_FLAGS_SKB_MODE, NULL);
	if (err == 0) {
		p->flags = XDP_FLAGS_SKB_MODE;
		p->ifindex = ifindex;
	}
	return err;
}

int xdp_prog_set_xsk(struct xdp_prog *p, unsigned queue, int xsk_fd)
{
	uint32_t key = queue, val = (uint32_t)xsk_fd;

	return bpf_map_update_elem(p->map_fd, &key, &val, BPF_ANY) ? -errno : 0;
}

int xdp_prog_sink_count(const struct xdp_prog *p, uint64_t *frames)
{
	uint32_t key = 0;

	return bpf_map_lookup_elem(p->map_fd, &key, frames) ? -errno : 0;
}

void xdp_prog_destroy(struct xdp_prog *p)
{
	if (p->ifindex > 0)
		bpf_xdp_detach(p->ifindex, p->flags, NULL);
	if (p->prog_fd >= 0)
		close(p->prog_fd);
	if (p->map_fd >= 0)
		close(p->map_fd);
	init_empty(p);
}

const char *xdp_prog_mode_name(const struct xdp_prog *p)
{
	if (p->ifindex <= 0)
		return "none";
	return p->flags == XDP_FLAGS_DRV_MODE ? "native" : "generic";
}
