/* SPDX-License-Identifier: BSD-2-Clause */
/* Uses the installed headers: checks that the package is complete and self-consistent. */
#include <stdio.h>
#include <tsq/tsq.h>

struct work {
	int value;
	struct tsq_defer_item item;
};

static int sum;

static void run(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	(void)how;
	sum += tsq_container_of(it, struct work, item)->value;
}

int main(void)
{
	struct tsq_defer_shard *shards = tsq_defer_shards_alloc(2);
	struct tsq_defer_set set;
	struct work w[3] = { { 1, { { NULL }, NULL, NULL } },
			     { 2, { { NULL }, NULL, NULL } },
			     { 3, { { NULL }, NULL, NULL } } };

	if (shards == NULL || tsq_defer_set_init(&set, shards, 2, NULL) != 0)
		return 1;
	for (int i = 0; i < 3; i++) {
		tsq_defer_item_init(&w[i].item, run);
		if (tsq_defer_push(&set, 0, TSQ_DEFER_NO_SHARD, &w[i].item) != TSQ_DEFER_QUEUED)
			return 1;
	}
	if (tsq_defer_drain(&set, 0) != 3 || sum != 6)
		return 1;
	tsq_defer_set_destroy(&set);
	free(shards);
	printf("tsq %s consumer: ok\n", TSQ_VERSION_STRING);
	return 0;
}
