/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq/bits/defer_wake.h - PRIVATE to tsq/defer.h, never included directly: the owner's sleep
 * and the producers' kick (the Dekker pair on `idle`, the single-flight kick, the two fences).
 *
 * The pair: a producer publishes work (DEFER_S1 list CAS, DEFER_S2 ring tail store) and then
 * looks at `idle` (DEFER_S3, tsq__defer_idle()); the owner stores idle = 1 and then looks for
 * work (tsq__defer_idle_enter()). One of the two must see the other. Two ways, chosen once at
 * tsq_defer_set_init() (set->asym):
 *   asymmetric  producers: release store / release CAS, then a plain load of idle (a compiler
 *               barrier keeps program order). Owner: relaxed store of idle, then DEFER_S6,
 *               membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): every running thread of the
 *               process executes a full barrier before it returns, so each producer has either
 *               made its publication visible or not yet loaded idle (and will see 1). liburcu's
 *               urcu-memb; the cost - a syscall and IPIs - is paid on the owner's way to sleep.
 *   symmetric   SEQ_CST on all four accesses (no membarrier: old kernel, seccomp, not Linux,
 *               TSQ_CFG_NO_MEMBARRIER, or opts.fence = TSQ_DEFER_FENCE_SYMMETRIC).
 * tests/check/defer_model.c proves both on x86-TSO; twin (2) drops the SEQ_CST store and twin
 * (5) the membarrier, and both must fail.
 *
 * The single flight: DEFER_A4, a producer's 0 -> 1 CAS of kick_pending, pairs with DEFER_R4,
 * the owner's re-arm (release store of 0) at the start of a non-empty drain and in idle_enter
 * before its DEFER_S3 store. Re-arming in idle_enter, not in idle_exit, is what keeps a kick
 * that a preempted producer sends late (for work already drained) from silencing the kick of
 * the next push while the owner sleeps (defer_model.c twin (1)).
 */
#ifndef TSQ_BITS_DEFER_WAKE_H
#define TSQ_BITS_DEFER_WAKE_H
#ifndef TSQ__DEFER_INSIDE
#error "tsq/bits/defer_wake.h is private to tsq/defer.h: #include <tsq/defer.h> instead"
#endif

#include <time.h> /* struct timespec: tsq_defer_wait_ns() */

#if defined(__linux__) && !defined(TSQ_CFG_NO_EVENTFD)
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>
#define TSQ__DEFER_HAVE_EVENTFD 1
#if !defined(__USE_GNU) && !defined(__cplusplus)
/* glibc declares it only under _GNU_SOURCE; the symbol is always there. */
extern int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout,
		 const void *sigmask);
#endif
#endif

#if defined(__linux__) && !defined(TSQ_CFG_NO_MEMBARRIER)
#include <sys/syscall.h>
#ifdef SYS_membarrier
#define TSQ__DEFER_HAVE_MEMBARRIER 1
#if !defined(__USE_MISC) && !defined(__cplusplus)
/* glibc declares it only with _DEFAULT_SOURCE; the symbol is always there. */
extern long syscall(long number, ...);
#endif
#endif
#endif
#define TSQ__MEMBARRIER_QUERY 0
#define TSQ__MEMBARRIER_PRIVATE_EXPEDITED (1 << 3)
#define TSQ__MEMBARRIER_REGISTER_PRIVATE_EXPEDITED (1 << 4)

#ifdef __cplusplus
extern "C" {
#endif

/* Whether the asymmetric fence is usable here: the kernel has it and lets us register. */
static inline bool tsq__defer_membarrier_register(void)
{
#ifdef TSQ__DEFER_HAVE_MEMBARRIER
	long mask = syscall(SYS_membarrier, TSQ__MEMBARRIER_QUERY, 0, 0);

	if (mask < 0 || !(mask & TSQ__MEMBARRIER_PRIVATE_EXPEDITED))
		return false;
	return syscall(SYS_membarrier, TSQ__MEMBARRIER_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#else
	return false;
#endif
}

/* DEFER_S6: a full barrier on every thread of the process; 0, or -1 if it failed. */
static inline int tsq__defer_membarrier(void)
{
#ifdef TSQ__DEFER_HAVE_MEMBARRIER
	return syscall(SYS_membarrier, TSQ__MEMBARRIER_PRIVATE_EXPEDITED, 0, 0) == 0 ? 0 : -1;
#else
	return -1;
#endif
}

#ifdef TSQ__DEFER_HAVE_EVENTFD
/* The default kick: one eventfd write (its counter keeps the kick until the owner reads it). */
static inline void tsq__defer_eventfd_kick(void *kick_ctx, unsigned shard)
{
	struct tsq_defer_set *set = (struct tsq_defer_set *)kick_ctx;
	uint64_t one = 1;

	/* Only EAGAIN (counter at its maximum, i.e. already signalled) can fail here: fine. */
	if (write(set->shards[shard].owner.efd, &one, sizeof(one)) < 0)
		return;
}
#endif

static inline void tsq__defer_close_eventfds(struct tsq_defer_set *set, unsigned n)
{
#ifdef TSQ__DEFER_HAVE_EVENTFD
	for (unsigned i = 0; i < n; i++) {
		if (set->shards[i].owner.efd >= 0)
			close(set->shards[i].owner.efd);
		set->shards[i].owner.efd = -1;
	}
#else
	(void)set;
	(void)n;
#endif
}

/* One eventfd per shard, the default kick; on error none is left open. Returns 0 or -errno. */
static inline int tsq__defer_open_eventfds(struct tsq_defer_set *set)
{
#ifdef TSQ__DEFER_HAVE_EVENTFD
	for (unsigned i = 0; i < set->nr_shards; i++) {
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		if (fd < 0) {
			int err = errno;

			tsq__defer_close_eventfds(set, i);
			return -err;
		}
		set->shards[i].owner.efd = fd;
	}
	set->kick = tsq__defer_eventfd_kick;
	set->kick_ctx = set;
	return 0;
#else
	(void)set;
	return -ENOTSUP;
#endif
}

static inline void tsq__defer_kick(struct tsq_defer_set *set, struct tsq_defer_shard *s,
				   unsigned target)
{
	uint32_t armed = 0;

	TSQ__DEFER_HOOK("kick", set, target);
	/* DEFER_A4's relaxed pre-check: no CAS (a contended RMW) while a kick is in flight. */
	if (tsq_load(&s->wake.kick_pending, TSQ_RELAXED))
		return;
	/*
	 * DEFER_A4: single flight; pairs with DEFER_R4 (tsq__defer_drain(),
	 * tsq__defer_idle_enter()).
	 */
	if (!tsq_cmpxchg(&s->wake.kick_pending, &armed, 1u, TSQ_ACQUIRE, TSQ_RELAXED))
		return;
	tsq_counter_add_shared(&s->wake.kicks, 1);
	set->kick(set->kick_ctx, target);
}

/*
 * DEFER_S3, the producer's side: after publishing (DEFER_S1/S2), is the owner about to
 * sleep? Symmetric mode: a SEQ_CST load (pairs with idle_enter's SEQ_CST store). Asymmetric
 * mode: a plain load in program order after the publication (compiler barrier only); the
 * owner's membarrier (DEFER_S6) stands for the full fence between them.
 */
static inline bool tsq__defer_idle(const struct tsq_defer_set *set, const struct tsq_defer_shard *s)
{
	if (set->asym) {
		tsq_compiler_barrier();
		return tsq_load(&s->wake.idle, TSQ_RELAXED) != 0;
	}
	return tsq_load(&s->wake.idle, TSQ_SEQ_CST) != 0;
}

/* Whether shard `self` has work (list, then each ring); defined in defer_ring.h. */
static inline bool tsq__defer_has_work(const struct tsq_defer_set *set, unsigned self, int order);

/* tsq_defer_idle_enter() on a checked set and shard. */
static inline bool tsq__defer_idle_enter(struct tsq_defer_set *set, unsigned self)
{
	struct tsq_defer_shard *s = &set->shards[self];

	/*
	 * DEFER_R4: re-arm first. A kick still "pending" here was sent for work this owner has
	 * already taken (a producer preempted between its link and its kick): left armed-off,
	 * it would silence the kick of the next push while the owner sleeps. The relaxed
	 * pre-check is DEFER_R4's too: it only skips a store that would change nothing.
	 */
	if (tsq_load(&s->wake.kick_pending, TSQ_RELAXED))
		tsq_store(&s->wake.kick_pending, 0u, TSQ_RELEASE);
	if (set->asym) {
		/*
		 * DEFER_S3 (relaxed) then DEFER_S6: after the membarrier every producer has either
		 * made its DEFER_S1/S2 visible (seen below) or not yet loaded idle (sees 1, kicks).
		 */
		tsq_store(&s->wake.idle, 1u, TSQ_RELAXED);
		if (tsq_unlikely(tsq__defer_membarrier() != 0)) {
			/* Cannot prove the sleep safe: do not sleep (a busy loop, never a hang). */
			tsq_store(&s->wake.idle, 0u, TSQ_RELAXED);
			tsq_counter_add_owner(&s->owner.fence_errors, 1);
			return false;
		}
		if (!tsq__defer_has_work(set, self, TSQ_ACQUIRE))
			return true;
	} else {
		/* DEFER_S3: SEQ_CST store, then SEQ_CST looks (other end: tsq__defer_idle()). */
		tsq_store(&s->wake.idle, 1u, TSQ_SEQ_CST);
		if (!tsq__defer_has_work(set, self, TSQ_SEQ_CST))
			return true;
	}
	tsq_store(&s->wake.idle, 0u, TSQ_RELAXED);
	return false;
}

/*
 * tsq_defer_wait()'s sleep on a checked set and shard with an eventfd: poll() for at most
 * `timeout` (NULL: none), EINTR retried with the time that is left.
 */
static inline int tsq__defer_wait(struct tsq_defer_set *set, unsigned self,
				  const struct timespec *timeout)
{
#ifdef TSQ__DEFER_HAVE_EVENTFD
	struct pollfd pfd;
	uint64_t val;
	int r;

	if (!tsq__defer_idle_enter(set, self))
		return 0;
	pfd.fd = set->shards[self].owner.efd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	/* The eventfd's counter keeps a kick written before the sleep starts: nothing is lost. */
	do
		r = ppoll(&pfd, 1, timeout, NULL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		r = -errno;
	else if (r > 0 && read(pfd.fd, &val, sizeof(val)) < 0)
		r = 1; /* EAGAIN: another reader took the count, harmless */
	tsq_store(&set->shards[self].wake.idle, 0u, TSQ_RELAXED); /* as tsq_defer_idle_exit() */
	return r > 0 ? 1 : r;
#else
	(void)set;
	(void)self;
	(void)timeout;
	return -ENOTSUP;
#endif
}

#ifdef __cplusplus
}
#endif

#endif /* TSQ_BITS_DEFER_WAKE_H */
