/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_input.h - what the fuzz targets share besides the replay driver: reading the input
 * as a stream of operations, and failing loudly on a divergence from the reference model.
 * Include after <stdio.h> and <stdlib.h>; the target defines FUZZ_NAME and an `op_no`.
 */
#ifndef TSQ_FUZZ_INPUT_H
#define TSQ_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

#define CHECK(cond, ...)                                                             \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, FUZZ_NAME ": divergence at op %u: ", op_no); \
			fprintf(stderr, __VA_ARGS__);                                \
			fputc('\n', stderr);                                         \
			abort();                                                     \
		}                                                                    \
	} while (0)

/* The input, consumed from the front; past its end every byte reads as 0. */
struct reader {
	const uint8_t *p;
	size_t n;
};

static uint8_t get8(struct reader *r)
{
	if (r->n == 0)
		return 0;
	r->n--;
	return *r->p++;
}

/* nbytes (at most 8) big-endian bytes. */
static uint64_t get_bytes(struct reader *r, int nbytes)
{
	uint64_t v = 0;

	for (int i = 0; i < nbytes; i++)
		v = v << 8 | get8(r);
	return v;
}

#endif
