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
 *
 * Vocabulary: one word per idea, in every header
 *   owner        the one thread that runs an object's private work at a given time: a
 *                shard's worker (defer.h), the application thread that acquired an object
 *                (owner.h). "Owner only" in a contract means that thread and no other.
 *   own / short lock
 *                owning (acquire .. release, may sleep) vs the short lock (a mutex held for
 *                a few instructions: lock_check .. unlock, deliver, lock_fast's fast path).
 *   shard        one owner's slice of a defer set, named by its index (`self`, `target`).
 *   push         hand work to a shard: it may run at once instead (inline, fallback).
 *   queue        link work to a shard's list, always: it never runs in the caller.
 *   deliver      hand work to an owned object: run at once if not owned, else park it in
 *                the object's backlog (owner.h).
 *   drain        the owner takes what was pushed, queued or parked and runs it.
 *   how          how a callback came to run, one enum per header with the same words:
 *                INLINE = 0 (at once, by the thread that handed it over), DRAINED = 1 (by
 *                the owner, taken from a list, ring or backlog), FALLBACK = 2 (by the thread
 *                that handed it over, because the path was full), DEFERRED = 3 (by the owner
 *                at its release, because the object was owned when the work came): enum
 *                tsq_defer_how, enum tsq_owner_how, enum tsq_flow_how. A word has the same
 *                value in every enum that has it; the callback's parameter is named `how`.
 *   charge / complete
 *                account a unit handed to the layer below / account it coming back
 *                (budget.h, flow.h, dql.h; zc.h's account charges and uncharges pinned bytes).
 *                dql.h's tx_sent / tx_completed are the netdev-named wrappers that add the
 *                stop/restart protocol.
 *   may_send     the sender's test before a unit: true means go (never "check" meaning stop).
 *   throttle / restart
 *                the sender stops over its budget (THROTTLED) / a completion brings it back.
 *   notice       zc.h: a [lo, hi] range of send ids whose buffers the application may reuse.
 *   kick         wake an owner that may be asleep (defer.h).
 *   init         tsq_<x>_init(obj, what it lives on, ops, opts): positional arguments are
 *                only what has no default - caller memory (a reserve, shards), the objects it
 *                is tied to (a defer set and home shard, an account) and the clock; callbacks
 *                are a separate `const struct tsq_<x>_ops *` table; every setting with a
 *                default is a field of the opts struct (dql.h's init takes the clock last).
 *   opts         an option struct: `size` first (sizeof as the caller built it), NULL for
 *                the defaults, a field's 0 for its default; an older, smaller struct is read
 *                with zeroes for what it lacks, a larger one only if its unknown tail is zero
 *                (libbpf's rule). An object made of parts takes its part's opts (flow.h:
 *                struct tsq_budget_opts).
 *   destroy      tsq_<x>_destroy(obj) returns int: 0 when it released what init took;
 *                -EINVAL for NULL or an object that is not live (never initialised, or
 *                destroyed already: a second destroy changes nothing); -EBUSY when the
 *                object still held work. An object that holds no resource refuses then
 *                (owner: nothing released, call again later); a defer set, which holds
 *                eventfds and rings, is destroyed all the same and its queued items are
 *                dropped, so that a caller who ignores the result leaks nothing.
 *   results      a call's non-negative results are an enum (enum tsq_<x>_result or
 *                tsq_<x>_<call>_result), 0 the plain outcome; errors are negative errno.
 *   stats        a struct of counters read field by field (relaxed): never a snapshot.
 *
 * Build options: every one is listed in atomic.h's "Options" block (TSQ_CFG_* and TSQ_DEBUG).
 */
#ifndef TSQ_TSQ_H
#define TSQ_TSQ_H

#define TSQ_VERSION_MAJOR 0
#define TSQ_VERSION_MINOR 2
#define TSQ_VERSION_PATCH 0
/* One comparable number: 0x00MMmmpp. */
#define TSQ_VERSION ((TSQ_VERSION_MAJOR << 16) | (TSQ_VERSION_MINOR << 8) | TSQ_VERSION_PATCH)
#define TSQ_VERSION_STRING "0.2.0"

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
