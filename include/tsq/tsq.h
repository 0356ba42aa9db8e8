/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq/tsq.h - umbrella header: the whole library and its version.
 *
 * tsq is a header-only C library of the Linux network stack's queueing primitives, rebuilt
 * for userspace stacks (AF_XDP, DPDK-style, QUIC), storage engines and drivers. Include this
 * header, or only the primitive you need:
 *   tsq/atomic.h  the __atomic layer every other header uses
 *   tsq/llist.h   lock-less MPSC intrusive list
 *   tsq/defer.h   per-shard deferred-work lists (hand work to the thread that owns it)
 *   tsq/flags.h   a flow's THROTTLED/QUEUED/DEFERRED flag word and its transitions
 *   tsq/budget.h  TCP Small Queues' byte budget (limit, throttle + fence + re-check)
 *   tsq/flow.h    TSQ assembled: budget + flags + restart via defer + owner deferral
 *   tsq/owner.h   owner lock with a bounded backlog (lock_sock / release_sock / flush)
 *   tsq/zc.h      zerocopy completion ranges: refcounted contexts, [lo, hi] notices, coalescing
 *   tsq/dql.h     dynamic queue limits (BQL) for a device TX ring: limit, stop/restart, stalls
 * Each header opens with its overview, a usage example and a synchronization table, and each
 * function carries its contract (Context, Blocks, Ordering, Pairs with, Return).
 */
#ifndef TSQ_TSQ_H
#define TSQ_TSQ_H

#define TSQ_VERSION_MAJOR 0
#define TSQ_VERSION_MINOR 1
#define TSQ_VERSION_PATCH 0
/* One comparable number: 0x00MMmmpp. */
#define TSQ_VERSION ((TSQ_VERSION_MAJOR << 16) | (TSQ_VERSION_MINOR << 8) | TSQ_VERSION_PATCH)
#define TSQ_VERSION_STRING "0.1.0"

#include "atomic.h"
#include "llist.h"
#include "defer.h"
#include "flags.h"
#include "budget.h"
#include "flow.h"
#include "owner.h"
#include "zc.h"
#include "dql.h"

#endif /* TSQ_TSQ_H */
