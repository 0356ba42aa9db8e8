/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests for tsq/llist.h: every operation, single-threaded, against the contracts in the
 * header (return values, order of the chains, what the _safe walk allows).
 * The concurrent behaviour is covered by tests/stress/llist.c.
 */
#include <stddef.h>
#include <stdint.h>

#include <signal.h>

#include <criterion/criterion.h>

#include <tsq/llist.h>

struct item {
	int id;
	struct tsq_llist_node node;
};

#define NITEMS 8

static struct item items[NITEMS];

static void items_setup(void)
{
	for (int i = 0; i < NITEMS; i++) {
		items[i].id = i;
		/* A poison value, so a test notices a ->next the code under test forgot to write. */
		items[i].node.next = (struct tsq_llist_node *)(uintptr_t)0xdeadbeef;
	}
}

static int id_of(const struct tsq_llist_node *n)
{
	return tsq_container_of(n, struct item, node)->id;
}

/* Walks a chain and compares its ids with want[0..n); also checks the NULL terminator. */
static void assert_chain(struct tsq_llist_node *chain, const int *want, int n)
{
	struct tsq_llist_node *pos;
	int i = 0;

	tsq_llist_for_each(pos, chain) {
		cr_assert_lt(i, n, "chain longer than the %d expected nodes", n);
		cr_assert_eq(id_of(pos), want[i], "node %d: id %d, expected %d", i, id_of(pos),
			     want[i]);
		i++;
	}
	cr_assert_eq(i, n, "chain has %d nodes, expected %d", i, n);
}

TestSuite(llist, .init = items_setup);

Test(llist, static_initializer_is_empty)
{
	struct tsq_llist_head h = TSQ_LLIST_INIT;

	cr_assert(tsq_llist_empty(&h));
	cr_assert_null(tsq_llist_take_all(&h));
}

Test(llist, init_empties_a_dirty_head)
{
	struct tsq_llist_head h;

	h.first = &items[0].node;
	cr_assert_not(tsq_llist_empty(&h));
	tsq_llist_init(&h);
	cr_assert(tsq_llist_empty(&h));
	cr_assert_null(tsq_llist_take_all(&h));
}

Test(llist, push_reports_was_empty_only_for_the_first_node)
{
	struct tsq_llist_head h = TSQ_LLIST_INIT;

	cr_assert(tsq_llist_push(&h, &items[0].node), "first push: list was empty");
	cr_assert_not(tsq_llist_empty(&h));
	cr_assert_not(tsq_llist_push(&h, &items[1].node), "second push: list was not empty");
	cr_assert_not(tsq_llist_push(&h, &items[2].node));

	/* After take_all the list is empty again, so the next push is a "first" one again. */
	cr_assert_not_null(tsq_llist_take_all(&h));
	cr_assert(tsq_llist_push(&h, &items[3].node));
}

Test(llist, take_all_returns_newest_first_and_empties)
{
	struct tsq_llist_head h = TSQ_LLIST_INIT;
	static const int want[] = { 3, 2, 1, 0 };
	struct tsq_llist_node *chain;

	for (int i = 0; i < 4; i++)
		tsq_llist_push(&h, &items[i].node);
	chain = tsq_llist_take_all(&h);
	assert_chain(chain, want, 4);
	cr_assert(tsq_llist_empty(&h));
	cr_assert_null(tsq_llist_take_all(&h), "a second take_all finds nothing");
}

Test(llist, take_all_on_empty_returns_null)
{
	struct tsq_llist_head h = TSQ_LLIST_INIT;

	cr_assert_null(tsq_llist_take_all(&h));
	cr_assert(tsq_llist_empty(&h));
}

Test(llist, reverse_empty_one_many)
{
	static const int want1[] = { 5 };
	static const int want_fifo[] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	struct tsq_llist_head h = TSQ_LLIST_INIT;
	struct tsq_llist_node *chain;

	cr_assert_null(tsq_llist_reverse(NULL));

	items[5].node.next = NULL;
	chain = tsq_llist_reverse(&items[5].node);
	cr_assert_eq(chain, &items[5].node);
	assert_chain(chain, want1, 1);

	for (int i = 0; i < NITEMS; i++)
		tsq_llist_push(&h, &items[i].node);
	chain = tsq_llist_reverse(tsq_llist_take_all(&h));
	assert_chain(chain, want_fifo, NITEMS);

	/* Reversing twice gives back the original newest-first chain. */
	chain = tsq_llist_reverse(chain);
	cr_assert_eq(id_of(chain), NITEMS - 1);
	cr_assert_eq(items[0].node.next, NULL, "the old head becomes the tail");
}

Test(llist, link_local_builds_a_chain_and_sets_last_once)
{
	static const int want[] = { 2, 1, 0 };
	struct tsq_llist_node *first = NULL, *last = NULL;

	tsq_llist_link_local(&first, &last, &items[0].node);
	cr_assert_eq(first, &items[0].node);
	cr_assert_eq(last, &items[0].node, "*last is set by the first call");
	cr_assert_null(items[0].node.next, "the first node terminates the chain");
	tsq_llist_link_local(&first, &last, &items[1].node);
	tsq_llist_link_local(&first, &last, &items[2].node);
	cr_assert_eq(first, &items[2].node, "link_local prepends");
	cr_assert_eq(last, &items[0].node, "*last stays the oldest node");
	assert_chain(first, want, 3);
}

Test(llist, push_batch_splices_a_private_chain)
{
	static const int want_fifo[] = { 0, 1, 2, 3, 4, 5, 6 };
	struct tsq_llist_head h = TSQ_LLIST_INIT;
	struct tsq_llist_node *first = NULL, *last = NULL;

	for (int i = 0; i < 4; i++)
		tsq_llist_link_local(&first, &last, &items[i].node);
	cr_assert(tsq_llist_push_batch(&h, first, last), "batch onto an empty list: was empty");

	/* A second batch lands on a non-empty list; its last->next gets overwritten. */
	first = last = NULL;
	for (int i = 4; i < 7; i++)
		tsq_llist_link_local(&first, &last, &items[i].node);
	cr_assert_eq(last, &items[4].node);
	cr_assert_not(tsq_llist_push_batch(&h, first, last), "batch onto a non-empty list");
	cr_assert_eq(items[4].node.next, &items[3].node,
		     "the batch's last node links to the old head");

	/* Both batches, in arrival order once reversed. */
	assert_chain(tsq_llist_reverse(tsq_llist_take_all(&h)), want_fifo, 7);
	cr_assert(tsq_llist_empty(&h));
}

Test(llist, push_batch_of_one_node_is_a_push)
{
	static const int want[] = { 1, 0 };
	struct tsq_llist_head h = TSQ_LLIST_INIT;

	cr_assert(tsq_llist_push_batch(&h, &items[0].node, &items[0].node));
	cr_assert_not(tsq_llist_push_batch(&h, &items[1].node, &items[1].node));
	assert_chain(tsq_llist_take_all(&h), want, 2);
}

#ifdef TSQ_DEBUG
Test(llist, debug_push_of_the_newest_node_again_aborts, .signal = SIGABRT)
{
	struct tsq_llist_head h = TSQ_LLIST_INIT;

	tsq_llist_push(&h, &items[0].node);
	tsq_llist_push(&h, &items[0].node); /* would make a cycle */
}
#endif

Test(llist, push_batch_seqcst_behaves_the_same)
{
	static const int want[] = { 4, 3, 2, 1, 0 };
	struct tsq_llist_head h = TSQ_LLIST_INIT;
	struct tsq_llist_node *first = NULL, *last = NULL;

	for (int i = 0; i < 3; i++)
		tsq_llist_link_local(&first, &last, &items[i].node);
	cr_assert(tsq_llist_push_batch_seqcst(&h, first, last));
	cr_assert_not(tsq_llist_push_batch_seqcst(&h, &items[3].node, &items[3].node));
	cr_assert_not(tsq_llist_push(&h, &items[4].node), "sc and plain pushes mix");
	assert_chain(tsq_llist_take_all(&h), want, 5);
	cr_assert_null(tsq_llist_take_all(&h));
	cr_assert(tsq_llist_push_batch_seqcst(&h, &items[5].node, &items[5].node), "empty again");
}

Test(llist, for_each_visits_every_node_in_chain_order)
{
	struct tsq_llist_head h = TSQ_LLIST_INIT;
	struct tsq_llist_node *pos, *chain;
	int seen = 0, expect = NITEMS - 1;

	for (int i = 0; i < NITEMS; i++)
		tsq_llist_push(&h, &items[i].node);
	chain = tsq_llist_take_all(&h);
	tsq_llist_for_each(pos, chain) {
		cr_assert_eq(id_of(pos), expect--);
		seen++;
	}
	cr_assert_eq(seen, NITEMS);
	cr_assert_null(pos, "the loop ends on NULL");

	seen = 0;
	tsq_llist_for_each(pos, (struct tsq_llist_node *)NULL)
		seen++;
	cr_assert_eq(seen, 0, "an empty chain runs no body");
}

Test(llist, for_each_safe_lets_the_body_repush)
{
	struct tsq_llist_head h = TSQ_LLIST_INIT, other = TSQ_LLIST_INIT;
	static const int want_other[] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	struct tsq_llist_node *pos, *tmp, *chain;
	int seen = 0;

	for (int i = 0; i < NITEMS; i++)
		tsq_llist_push(&h, &items[i].node);
	chain = tsq_llist_take_all(&h);
	/* Re-pushing rewrites pos->next; the walk must not follow the new link. */
	tsq_llist_for_each_safe(pos, tmp, chain) {
		tsq_llist_push(&other, pos);
		seen++;
	}
	cr_assert_eq(seen, NITEMS);
	assert_chain(tsq_llist_take_all(&other), want_other, NITEMS);
}

Test(llist, for_each_safe_lets_the_body_repush_to_the_same_list)
{
	struct tsq_llist_head h = TSQ_LLIST_INIT;
	struct tsq_llist_node *pos, *tmp, *chain;
	int seen = 0;

	for (int i = 0; i < 4; i++)
		tsq_llist_push(&h, &items[i].node);
	chain = tsq_llist_reverse(tsq_llist_take_all(&h));
	tsq_llist_for_each_safe(pos, tmp, chain) {
		/* The first re-push finds the list empty again, the later ones do not. */
		cr_assert_eq(tsq_llist_push(&h, pos), seen == 0);
		seen++;
	}
	cr_assert_eq(seen, 4);
	chain = tsq_llist_reverse(tsq_llist_take_all(&h));
	for (int i = 0; i < 4; i++, chain = chain->next)
		cr_assert_eq(id_of(chain), i);
	cr_assert_null(chain);
}

Test(llist, for_each_safe_lets_the_body_clear_the_node)
{
	struct tsq_llist_head h = TSQ_LLIST_INIT;
	struct tsq_llist_node *pos, *tmp, *chain;
	int seen = 0;

	for (int i = 0; i < NITEMS; i++)
		tsq_llist_push(&h, &items[i].node);
	chain = tsq_llist_take_all(&h);
	tsq_llist_for_each_safe(pos, tmp, chain) {
		/* Stands in for free(): the node's memory is no longer a valid link. */
		pos->next = (struct tsq_llist_node *)(uintptr_t)0xbadc0de;
		seen++;
	}
	cr_assert_eq(seen, NITEMS);
	cr_assert_null(pos);
}

Test(llist, container_of_recovers_the_outer_struct)
{
	struct wrapper {
		char pad[3];
		double d;
		struct tsq_llist_node node;
		int tail;
	} w;
	struct tsq_llist_node *n = &w.node;

	cr_assert_eq(tsq_container_of(n, struct wrapper, node), &w);
	cr_assert_eq(tsq_container_of(&items[3].node, struct item, node), &items[3]);
	cr_assert_eq(tsq_container_of(&items[3].node, struct item, node)->id, 3);
}
