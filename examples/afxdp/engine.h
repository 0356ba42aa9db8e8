/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * engine.h - tsq's reference AF_XDP engine: how the primitives sit around the xsk rings.
 *
 * Threads and what each owns
 *   worker w (one per queue, pinned when the CPU exists) - defer shard w
 *       its xsk socket and all four rings, its UMEM's RX frames, its TX queues (frames handed
 *       down but not yet in the TX ring: the "qdisc", one queue per flow served round robin,
 *       or one FIFO), and the queue fields of the flows homed on it. Nobody else touches them.
 *   application thread of flow f - defer shard nr_workers + f's app slot
 *       f's TX frame pool and zerocopy arena; f's write queue while it owns f
 *       (xflow_acquire .. xflow_release: tsq_owner ownership, held for a whole long send).
 *   the flow's short lock (tsq_owner's internal mutex, held for a few instructions) -
 *       f's write queue while no application thread owns f, so the worker can restart
 *       the flow (TSQ) from its poll loop.
 *
 * Two words, as in tsq/owner.h: to *own* a flow is to hold it for an operation (others
 * park their work in its backlog meanwhile); the *short lock* is the mutex that decides
 * "owned or not" and guards the write queue when nobody owns the flow.
 *
 * xsk rings' thread-safety rules (libxdp/the kernel): each ring is single-producer /
 * single-consumer between this process and the kernel. TX and fill are produced, RX and
 * completion consumed, by exactly one thread: here the worker, always. Application threads
 * never touch a ring; they hand frames to the worker through its defer list (one CAS per
 * batch). A socket's rings must not be shared between sockets unless the UMEM is shared
 * with XDP_SHARED_UMEM (not used: one UMEM per worker).
 *
 * Frame ownership: every UMEM chunk has exactly one owner at a time. A thread that is done
 * with a frame it does not own returns it to the owner's defer list (never a shared locked
 * pool): TX frames go back to their flow's application thread after completion, RX frames
 * back to the worker after the application processed them.
 *
 * TX: the application builds frames into its flow's write queue and pushes while the flow's
 * tsq budget allows (tsq_flow_may_send with its re-check); the worker puts handed-down frames
 * into the TX ring, kicks (sendto: copy mode needs it every time and moves at most 32
 * descriptors per call; EAGAIN/EBUSY/ENOBUFS mean "kick again"), reads the completion ring in
 * batches, uncharges each frame's flow (tsq_flow_complete), drops its zerocopy reference, and
 * returns the frame to its flow. A flow restarted by a completion is queued to its home
 * worker's defer list; the worker's drain sends more - or, if the application owns the flow,
 * marks it DEFERRED and the owner's release sends (tsq_flow_release in release_cb).
 *
 * BQL (cfg.bql, the kernel's byte queue limits on a driver's TX queue): TSQ bounds what one
 * flow keeps below it, not what many flows keep together - eight bulk flows of 64 frames put
 * 512 descriptors in front of every probe. The worker accounts each descriptor it puts into
 * the TX ring (tsq_dql_tx_sent, wire bytes) and stops filling when the queue goes over its
 * learned limit; the completion poll accounts what came back (tsq_dql_tx_completed, once per
 * completion round) and restarts the filling. Frames wait in the worker's queues meanwhile
 * (the qdisc, where the kernel's frames wait too). The worker is both sides, so the restart
 * can never be lost; the Dekker pair in dql.h is what a split driver (completions on another
 * thread) would rely on.
 *
 * The worker's queues (cfg.qdisc; the kernel's fq under BQL): with BQL the queue moves from
 * the ring into the worker, so what a probe frame waits behind there is the qdisc's choice.
 * XENG_QDISC_FQ (default): one queue per flow; the queues with frames form a round, and the
 * worker takes one frame from the queue at the head of the round, which then goes to the back
 * (per-frame round robin; cfg.fq_quantum frames per turn if set); a queue that gets its
 * first frame joins at the back. A frame at the head of its flow's queue therefore leaves
 * after at most one frame (one quantum) of every other flow homed on the worker, however
 * many frames those flows have queued. Per frame, not deficit
 * round robin by bytes: every flow here sends frames of one size (--pkt-size), TSQ charges a
 * frame its frame size whatever its length, and a byte quantum of one frame size (fq's is two
 * MTUs) would let a flow of 80-byte frames put 25 of them in front of the probe per turn.
 * With frames of very different sizes per flow, DRR by bytes is the fair choice.
 * XENG_QDISC_FIFO: one queue in arrival order (pfifo), kept for comparison: a probe frame
 * waits behind every frame queued before it, up to BQL's limit in frames.
 * The worker counts, for each probe frame, the frames of other flows that went into the ring
 * between its arrival and its own: positions, not time (xworker.qwait_*).
 *
 * Who writes a TX frame (xflow_build or xflow_describe): by default the application, into
 * its UMEM frame, before the hand-off. In copy mode the kernel then copies a frame that was
 * written on another CPU and, with a deep pool, long before (the application builds as far
 * ahead as its pool allows): its lines are in the other CPU's cache. The worker therefore
 * asks for them when the frame joins its queues (qdisc.c), so that the misses overlap with
 * its other work before a kick copies them. xflow_describe hands over the description only; the worker writes the frame
 * in tx_fill, just before its descriptor goes into the ring, and the kernel's copy in the
 * kick that follows finds the lines in the worker's cache (tsq-xsk --build-on worker).
 *
 * Returning TX frames: the worker holds completed frames per application thread, linked
 * through their `next`, and hands them over XENG_RET_BATCH at a time (a quarter of the flow's
 * pool if that is less) as one defer item, the chain's first frame: one push and one wake-up
 * per hand-over, no per-frame work on the worker beyond the link - not one hand-over per
 * completion round, which in copy mode would wake a sleeping application for every 32 frames
 * (a kick moves at most 32). What is held goes home anyway when the oldest frame is
 * cfg.ret_hold_ns old (XENG_RET_HOLD_NS_DEFAULT), and whenever the worker has nothing else
 * to do. Flows are unaffected: TSQ uncharges at completion, not at return.
 *
 * RX: the worker reads the RX ring, finds the flow in an RCU hash table (liburcu cds_lfht;
 * lookups lock-free, flows freed by call_rcu) and delivers the frame through the flow's
 * tsq_owner: processed at once under the short lock while nobody owns the flow, or parked in
 * the backlog while an application thread owns it (its long operations flush every 16
 * steps), or dropped and counted when the backlog is full.
 *
 * Counters: each is written by one thread (tsq_counter_add_owner) and may be read by any
 * (tsq_load, relaxed): the main thread watches them while the workers run.
 */
#ifndef TSQ_XSK_ENGINE_H
#define TSQ_XSK_ENGINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <tsq/tsq.h>
#include <xdp/xsk.h>

#include <urcu.h>
#include <urcu/rculfhash.h>

#include "xdp_prog.h"

#define XENG_MAX_WORKERS 16
#define XENG_ZC_RESERVE 256 /* zerocopy contexts per flow (the optmem budget) */
#define XENG_UDP_PORT 7473
/* Completed TX frames go home to their application thread when this many are held (or a
 * quarter of the flow's pool, if less), or when the oldest is cfg.ret_hold_ns old. */
#define XENG_RET_BATCH 256u
#define XENG_RET_HOLD_NS_DEFAULT 1000000ull

enum xeng_bind { XENG_BIND_AUTO, XENG_BIND_COPY, XENG_BIND_ZEROCOPY };
enum xflow_kind { XFLOW_BULK = 0, XFLOW_PROBE = 1, XFLOW_RX = 2 };
enum xframe_kind { XFRAME_RX = 0, XFRAME_TX = 1, XFRAME_ARENA = 2 };
enum xeng_qdisc { XENG_QDISC_FQ = 0, XENG_QDISC_FIFO = 1 };
/* Probe queue waits are counted in a histogram of this many positions (the last: or more). */
#define XENG_QWAIT_BUCKETS 4096u

struct xeng_cfg {
	const char *ifname;
	unsigned queue;     /* first queue; worker i binds queue + i */
	unsigned nr_queues; /* workers */
	enum xeng_bind bind;
	enum xdp_attach_mode attach;
	bool need_wakeup;
	bool rx; /* load the redirect program and receive */
	bool pin_cpus;
	uint32_t frame_size;    /* 2048 or 4096 */
	uint32_t ring_size;     /* entries of every ring (power of two) */
	uint32_t rx_frames;     /* per worker */
	bool tsq;               /* small-queue budget on/off */
	bool bql;               /* byte queue limits on the worker's TX ring on/off */
	enum xeng_qdisc qdisc;  /* the worker's queues: per flow round robin (fq) or one FIFO */
	uint32_t fq_quantum;    /* fq: frames a queue sends per turn (0: 1) */
	uint32_t bql_limit_max; /* BQL's largest limit in bytes; 0: TSQ_DQL_MAX_LIMIT */
	uint64_t ret_hold_ns; /* completed TX frames wait this long for a fuller batch home (0: never) */
	uint64_t tsq_limit;     /* bytes in flight per flow (frames count frame_size each) */
	uint64_t backlog_limit; /* owner backlog bytes per flow */
	unsigned nr_app_shards; /* application threads with a defer shard */
	/* Addresses put into TX frames (IPv6/UDP). */
	uint8_t src_mac[6], dst_mac[6];
	uint8_t src_ip[16], dst_ip[16];
	uint16_t port;
};

struct xflow_spec {
	enum xflow_kind kind;
	uint32_t pool_frames;  /* TX frames owned by the flow */
	uint32_t arena_frames; /* zerocopy arena (application buffers inside the UMEM) */
	unsigned app_slot;     /* which application shard serves it */
};

struct xengine;
struct xworker;
struct xflow;

/* A UMEM chunk's metadata (outside the UMEM, so the kernel never sees it). The first cache
 * line holds what the TX path reads per frame - the hand-down, the worker's queues, the ring,
 * the completion - so a frame written on the application's CPU costs the worker one line. */
struct xframe {
	struct tsq_defer_item item; /* hand-off between threads */
	struct xframe *next;        /* write queue / the worker's TX queue / held chain home */
	struct xflow *flow;
	struct xworker *w;
	uint64_t addr;      /* chunk base in the UMEM */
	uint16_t len, cost; /* bytes on the wire; what the frame pins (frame_size) */
	uint8_t kind, copied;
	uint8_t build; /* described, not built: the worker writes it just before the TX ring */
	/* Second line: zerocopy context, sequence number, probe timing and positions, RX backlog. */
	struct tsq_zc_ctx *zc;
	uint64_t seq;
	uint64_t t_send, t_ring;
	/* Probe frames, worker-written: other flows' frames sent when this one arrived in the
	 * worker's queue, and its own flow's frames queued ahead of it then. */
	uint64_t q_pos;
	uint32_t q_ahead;
	struct tsq_owner_work work; /* RX backlog */
} TSQ_CACHELINE_ALIGNED;

/* A queue of frames in the worker (worker-private): a flow's (fq) or the worker's FIFO. */
struct xqueue {
	struct xframe *head, *tail;
	struct xqueue *rr_next; /* the next queue in the round */
	bool active;            /* in the round: it has frames */
};

/* A flow's side of its home worker's queues: its queue (fq), its frames waiting in either
 * discipline, its frames taken into the TX ring. */
struct xflow_txq {
	struct xqueue q;
	uint32_t frames;
	uint64_t out;
	/* Frames (and bytes) completed: by the worker (tsq_counter_add_owner), read relaxed by
	 * anyone. Here rather than beside the pool, which the application writes per frame. */
	uint64_t completed, completed_bytes;
	/* The flow's frames in the completion round under way, uncharged together at its end
	 * (one tsq_flow_complete_n_at() per flow and round), and the next flow in that round. */
	struct xflow *round_next;
	uint32_t round_units;
	uint64_t round_cost;
} TSQ_CACHELINE_ALIGNED;

/* Written by the worker with tsq_counter_add_owner (defer_requeued: by any pusher, shared);
 * read by anyone with tsq_load(.., TSQ_RELAXED). */
struct xworker_stats {
	uint64_t tx_submitted, tx_completed, kicks, kick_again, kick_errors, ring_full;
	uint64_t kick_link_down; /* of kick_errors: ENETDOWN/ENXIO, the link is gone */
	uint64_t rx_frames, rx_invalid, rx_direct, rx_backlogged, rx_backlog_drops, fill_kicks;
	uint64_t defer_requeued; /* fallback runs re-linked to the owner (frames never change owner) */
	uint64_t restarts;       /* flows the worker restarted (send_more from the worker) */
	uint64_t bql_blocked;    /* fill rounds that found the queue stopped by BQL */
	uint64_t complete_rounds; /* completion rounds (peeks that found something) */
	uint64_t ret_flushes;     /* hand-overs of returned TX frames to application threads */
	uint64_t idle_sleeps;     /* poll() sleeps of the worker (nothing to do for a while) */
	uint64_t idle_yields;     /* sched_yield() rounds with nothing to do */
};

struct xworker {
	struct xengine *e;
	unsigned idx, shard, queue;
	void *area;
	size_t area_size;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill, tx; /* the fill ring (RX frames for the kernel), the TX ring */
	struct xsk_ring_cons comp, rx; /* the completion ring, the RX ring */
	struct xframe *frames;
	uint32_t nr_frames;
	uint32_t *rx_free; /* RX chunk indices, worker-private */
	uint32_t rx_nfree;
	/* Handed down, not yet in the TX ring: the queues with frames, in serving order (fq: the
	 * flows' queues; fifo: only `fifo`), and how many frames they hold. */
	struct xqueue *rr_head, *rr_tail;
	struct xqueue fifo;
	uint32_t queued, queued_max, nr_active;
	uint32_t turn;        /* frames the queue at the head of the round sent in this turn */
	uint32_t nr_tx_flows; /* flows homed here (the fairness bound: one frame of each other) */
	uint64_t dequeued;    /* frames taken from the queues into the TX ring */
	/* Probe frames' waits, in frames of other flows sent between arrival and departure. */
	uint64_t *qwait_hist;                 /* XENG_QWAIT_BUCKETS */
	uint32_t qwait_max, qwait_others_max; /* others_max: other flows queued at an arrival */
	uint64_t qwait_over;  /* waits above (ahead + 1) x (nr_tx_flows - 1): fq never */
	uint32_t outstanding; /* in the TX ring or not yet completed; worker-written, read relaxed */
	bool tx_dirty;        /* descriptors the kernel has not consumed yet */
	/* Kicks failing with ENETDOWN/ENXIO: since when (ns, 0: the last kick worked) and the
	 * errno, worker-written and read relaxed (xeng_link_error); the worker's back-off. */
	uint64_t link_down_since;
	int link_errno;
	unsigned link_backoff_us;
	struct xhome { /* per application shard: completed TX frames held back */
		struct xframe *head, *tail;
		uint32_t n, max; /* held; hand over at max (a quarter of the flows' pools) */
	} * home;
	uint64_t ret_since;        /* xeng_now_ns() of the oldest frame held, 0: none */
	struct xflow *round_flows; /* flows with frames in the completion round under way */
	/* BQL (cfg.bql): the TX ring's byte queue limit. The worker is both its sender
	 * (tx_fill) and its completion context (tx_complete); aligned_alloc'ed (two lines). */
	struct tsq_dql *dql;
	pthread_t thread;
	bool started;
	struct xworker_stats st;
	uint64_t *occ_hist; /* outstanding after each TX submit, 0..2*ring_size */
	uint32_t occ_max;
	uint64_t *lat_ring, *lat_send; /* probe samples, ns */
	size_t nlat, lat_cap;
};

struct xflow {
	struct tsq_flow tsq;
	struct tsq_owner own;
	struct tsq_zc_flow zc;
	struct tsq_zc_ctx zc_reserve[XENG_ZC_RESERVE];
	/* Set up once, then only read (per frame, by the worker and the application). */
	struct xengine *e;
	struct xworker *w;
	uint16_t id;
	enum xflow_kind kind;
	unsigned shard; /* the application thread's defer shard */
	struct xframe **pool;
	uint32_t pool_frames, arena_first, arena_frames;
	/* Written per frame by the application, on a line of its own: the write queue (the owning
	 * thread's, or under the short lock while nobody owns the flow) and the free TX frames
	 * (pool[0 .. pool_free - 1], the application's only). The write queue is a ring of the
	 * frames queued and not yet handed down, wq[wq_head & wq_mask] .. wq[(wq_tail - 1) &
	 * wq_mask], with room for every frame of the flow: an array rather than a list, so that a
	 * push from the worker can fetch the frames it hands down all at once. */
	struct xframe **wq TSQ_CACHELINE_ALIGNED;
	uint32_t wq_head, wq_tail, wq_mask, pool_free;
	uint64_t next_seq;
	/* Worker-private (its home worker's queueing discipline) and the completion counters,
	 * on a line of their own. */
	struct xflow_txq txq;
	/* Now and then by either side: notices ready (one wake-up item for the application
	 * thread, at most one in flight), and frames handed down, by whoever pushes (the owner,
	 * or the worker under the short lock: one at a time, a plain sum), read relaxed by
	 * anyone. */
	struct tsq_defer_item zc_kick TSQ_CACHELINE_ALIGNED;
	uint32_t zc_kick_pending;
	uint64_t handed;
	/* RX accounting: by whoever processes the flow's frames (its owner, or the worker under
	 * the short lock). */
	uint8_t *seen;
	uint64_t seen_cap, rx_frames, rx_dups, rx_max_seq;
	struct cds_lfht_node hnode;
	struct rcu_head rcu;
};

struct xengine {
	struct xeng_cfg cfg;
	int ifindex;
	struct xdp_prog prog;
	bool zerocopy; /* bound with XDP_ZEROCOPY */
	struct tsq_defer_shard *shards;
	struct tsq_defer_set set;
	unsigned nr_shards;
	struct xworker workers[XENG_MAX_WORKERS];
	unsigned nr_workers;
	struct xflow **flows; /* TX flows, by id */
	unsigned nr_flows;
	struct cds_lfht *table;
	int stop;        /* workers leave their loop */
	int app_stopped; /* application threads have stopped producing */
	char err[256];
};

/* Setup and teardown (one thread). Return 0 or -errno, with e->err saying what failed. */
int xeng_create(struct xengine *e, const struct xeng_cfg *cfg, const struct xflow_spec *flows,
		unsigned nr_flows);
int xeng_start(struct xengine *e);
/* Wait until every handed-down frame completed and write queues are empty (bounded). */
int xeng_quiesce(struct xengine *e, int timeout_ms);
void xeng_stop(struct xengine *e);
void xeng_destroy(struct xengine *e);
const char *xeng_bind_name(const struct xengine *e);
/* Any thread: the errno (ENETDOWN, ENXIO) of the oldest run of failing kicks that is still
 * going on, with its start in *since_ns (xeng_now_ns() clock); 0 when every worker's last
 * kick worked. The application decides how long "down" may last. */
int xeng_link_error(const struct xengine *e, uint64_t *since_ns);

/* Application threads. */
void xeng_app_enter(struct xengine *e, unsigned app_slot);
void xeng_app_leave(void);
long xeng_app_reclaim(struct xengine *e);             /* frames come home */
int xeng_app_wait(struct xengine *e, int timeout_ms); /* sleep until something comes home */

/* A flow's sender side. Context: the application thread that serves the flow. */
struct xframe *xflow_frame_get(struct xflow *f); /* NULL when the pool is empty */
void *xframe_data(const struct xframe *fr);
uint32_t xflow_build(struct xflow *f, struct xframe *fr, uint32_t len); /* headers + seq */
/* The frame's description only (length, flow, seq): its home worker writes it (as
 * xflow_build would) just before it goes into the TX ring, so its lines are in the
 * worker's cache when the kernel copies them (copy mode). Nothing is written to the UMEM. */
uint32_t xflow_describe(struct xflow *f, struct xframe *fr, uint32_t len);
/* The same frame format anywhere (the bare sender): IPv6/UDP headers, payload, checksum. */
void xeng_frame_build(const struct xeng_cfg *c, uint8_t *p, uint32_t len, uint16_t flow,
		      uint8_t kind, uint64_t seq);
void xflow_acquire(struct xflow *f);                  /* own the flow (tsq_owner_acquire) */
void xflow_release(struct xflow *f);                  /* give it up: backlog, deferred sends */
void xflow_queue(struct xflow *f, struct xframe *fr); /* owner: append to the write queue */
void xflow_push(struct xflow *f);                     /* owner: hand down what the budget allows */
uint32_t xflow_queued(const struct xflow *f);         /* owner: frames in the write queue */
uint64_t xflow_completed(const struct xflow *f);      /* any thread: frames completed so far */

/* RX flows (receiver): iterate under rcu_read_lock(). */
struct xflow *xeng_rx_flow_find(struct xengine *e, uint16_t id);

/* Frame format helpers (IPv6/UDP, payload: magic, flow, kind, seq). */
#define XENG_MAGIC 0x54535131u /* "TSQ1" */
#define XENG_HDR_LEN (14 + 40 + 8)
#define XENG_MIN_LEN (XENG_HDR_LEN + 16)
struct xeng_payload {
	uint32_t magic;
	uint16_t flow;
	uint8_t kind, pad;
	uint64_t seq;
};
int xeng_parse(const uint8_t *data, uint32_t len, uint16_t port, struct xeng_payload *out);
uint64_t xeng_now_ns(void);

#endif
