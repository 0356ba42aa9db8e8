/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * llist_wakeup: producers hand jobs to a consumer through a tsq_llist and wake it only on the
 * empty -> non-empty transition (push's return value), the way the kernel uses llist_add().
 *
 * The consumer's sleep is a counting semaphore, which is "sticky": a post made before the
 * consumer waits is not lost. The consumer re-checks the list after every wake-up, so a post
 * that arrives for a list it already drained costs one spurious loop, never a lost job.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <tsq/llist.h>

enum { PRODUCERS = 2, JOBS_PER_PRODUCER = 100000 };

struct job {
	unsigned producer;
	unsigned seq;
	struct tsq_llist_node node;
};

static struct tsq_llist_head jobs = TSQ_LLIST_INIT;
static sem_t wakeup;
static unsigned long wakeups_sent;

static void *producer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;

	for (unsigned i = 0; i < JOBS_PER_PRODUCER; i++) {
		struct job *j = (struct job *)malloc(sizeof(*j));

		if (j == NULL)
			abort();
		j->producer = id;
		j->seq = i;
		/* Only the push that finds the list empty needs to wake the consumer. */
		if (tsq_llist_push(&jobs, &j->node)) {
			__atomic_fetch_add(&wakeups_sent, 1, __ATOMIC_RELAXED);
			sem_post(&wakeup);
		}
	}
	return NULL;
}

int main(void)
{
	pthread_t tid[PRODUCERS];
	unsigned next_seq[PRODUCERS] = { 0 };
	unsigned long received = 0, batches = 0;
	const unsigned long total = (unsigned long)PRODUCERS * JOBS_PER_PRODUCER;

	sem_init(&wakeup, 0, 0);
	for (unsigned p = 0; p < PRODUCERS; p++)
		pthread_create(&tid[p], NULL, producer, (void *)(uintptr_t)p);

	while (received < total) {
		struct tsq_llist_node *n, *next;

		sem_wait(&wakeup);
		/* Drain until empty: pushes that found the list non-empty sent no wake-up. */
		while ((n = tsq_llist_take_all(&jobs)) != NULL) {
			batches++;
			tsq_llist_for_each_safe(n, next, tsq_llist_reverse(n)) {
				struct job *j = tsq_container_of(n, struct job, node);

				if (j->seq != next_seq[j->producer]++) {
					fprintf(stderr, "job out of order\n");
					return 1;
				}
				received++;
				free(j);
			}
		}
	}
	for (unsigned p = 0; p < PRODUCERS; p++)
		pthread_join(tid[p], NULL);
	printf("llist_wakeup: %lu jobs in %lu batches, %lu wake-ups (one per empty list)\n",
	       received, batches, wakeups_sent);
	return 0;
}
