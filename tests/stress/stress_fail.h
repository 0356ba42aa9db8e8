/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/stress/stress_fail.h - how a stress test fails: one line on stderr, "<name>: FAIL: ...",
 * printed whole even when several threads fail at once, then exit(1). Define STRESS_NAME
 * before including it. CHECK(cond, fmt, ...) fails with the message when cond is false.
 */
#ifndef TSQ_TESTS_STRESS_FAIL_H
#define TSQ_TESTS_STRESS_FAIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef STRESS_NAME
#error "define STRESS_NAME (the test's name in its FAIL lines) before including stress_fail.h"
#endif

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
	va_list ap;

	flockfile(stderr);
	fprintf(stderr, "%s: FAIL: ", STRESS_NAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
	exit(1);
}

#define CHECK(cond, ...)                   \
	do {                               \
		if (!(cond))               \
			fail(__VA_ARGS__); \
	} while (0)

#endif /* TSQ_TESTS_STRESS_FAIL_H */
