/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * frame.c - the frame format (engine.h): IPv6/UDP headers, the tsq-xsk payload (magic, flow,
 * kind, sequence number), padding and the UDP checksum; built by the engine's applications,
 * by its workers (xflow_describe), and by the bare sender; parsed by the receivers.
 */
#include "engine_priv.h"

#include <errno.h>
#include <string.h>

void *xframe_data(const struct xframe *fr)
{
	return (uint8_t *)fr->w->area + fr->addr;
}

static uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t n)
{
	for (; n > 1; p += 2, n -= 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (n)
		sum += (uint32_t)(p[0] << 8);
	return sum;
}

void xeng_frame_build(const struct xeng_cfg *c, uint8_t *p, uint32_t len, uint16_t flow,
		      uint8_t kind, uint64_t seq)
{
	uint8_t *ip6 = p + 14, *udp = ip6 + 40;
	uint32_t ulen = len - 14 - 40;
	struct xeng_payload pl = { XENG_MAGIC, flow, kind, 0, seq };
	uint64_t sum;
	uint16_t ck;

	memcpy(p, c->dst_mac, 6);
	memcpy(p + 6, c->src_mac, 6);
	p[12] = 0x86;
	p[13] = 0xdd;
	ip6[0] = 0x60;
	ip6[1] = ip6[2] = ip6[3] = 0;
	ip6[4] = (uint8_t)(ulen >> 8);
	ip6[5] = (uint8_t)ulen;
	ip6[6] = 17; /* UDP */
	ip6[7] = 64;
	memcpy(ip6 + 8, c->src_ip, 16);
	memcpy(ip6 + 24, c->dst_ip, 16);
	udp[0] = (uint8_t)(c->port >> 8);
	udp[1] = (uint8_t)c->port;
	udp[2] = (uint8_t)(c->port >> 8);
	udp[3] = (uint8_t)c->port;
	udp[4] = (uint8_t)(ulen >> 8);
	udp[5] = (uint8_t)ulen;
	udp[6] = udp[7] = 0;
	memcpy(udp + 8, &pl, sizeof(pl));
	memset(udp + 8 + sizeof(pl), 0xa5, ulen - 8 - sizeof(pl));
	/* UDP over IPv6 must carry a checksum: pseudo header (addresses, length, next header). */
	sum = csum_add(0, ip6 + 8, 32);
	sum += ulen + 17;
	sum = csum_add(sum, udp, ulen);
	ck = csum_fold(sum);
	if (ck == 0)
		ck = 0xffff;
	udp[6] = (uint8_t)(ck >> 8);
	udp[7] = (uint8_t)ck;
}

uint32_t xflow_build(struct xflow *f, struct xframe *fr, uint32_t len)
{
	const struct xeng_cfg *c = &f->e->cfg;

	xeng_frame_build(c, xframe_data(fr), len, f->id, (uint8_t)f->kind, f->next_seq);
	fr->len = (uint16_t)len;
	fr->seq = f->next_seq++;
	fr->flow = f;
	fr->cost = (uint16_t)c->frame_size; /* what the frame pins, like an skb's truesize */
	fr->build = 0;
	return len;
}

uint32_t xflow_describe(struct xflow *f, struct xframe *fr, uint32_t len)
{
	fr->len = (uint16_t)len;
	fr->seq = f->next_seq++;
	fr->flow = f;
	fr->cost = (uint16_t)f->e->cfg.frame_size;
	fr->build = 1;
	return len;
}

void xframe_build_late(const struct xengine *e, struct xframe *fr)
{
	const struct xflow *f = fr->flow;

	xeng_frame_build(&e->cfg, xframe_data(fr), fr->len, f->id, (uint8_t)f->kind, fr->seq);
	fr->build = 0;
}

int xeng_parse(const uint8_t *p, uint32_t len, uint16_t port, struct xeng_payload *out)
{
	const uint8_t *udp = p + 14 + 40;

	if (len < XENG_MIN_LEN || p[12] != 0x86 || p[13] != 0xdd || p[14 + 6] != 17)
		return -EINVAL;
	if ((uint16_t)(udp[2] << 8 | udp[3]) != port)
		return -EINVAL;
	memcpy(out, udp + 8, sizeof(*out));
	return out->magic == XENG_MAGIC ? 0 : -EINVAL;
}
