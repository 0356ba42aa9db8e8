/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/remote_free/remote_free_malloc.c - the allocators in the remote-free scenario: A
 * mallocs, B frees (a foreign-thread free). glibc's malloc is the one the binary links;
 * mimalloc and jemalloc are dlopen()ed RTLD_LOCAL and called through mi_malloc/mi_free and
 * mallocx/dallocx, because linking either would replace glibc's malloc in the whole binary.
 */
#include "remote_free.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

/* ---- glibc ----------------------------------------------------------------------------- */

static int glibc_init(struct rf_run *run, const char **why)
{
	Dl_info info;

	(void)run;
	/* The point of dlopen()ing the other allocators: malloc must still be glibc's here. */
	if (dladdr((void *)(uintptr_t)malloc, &info) == 0 || info.dli_fname == NULL ||
	    strstr(info.dli_fname, "libc.so") == NULL) {
		*why = "malloc() does not resolve to glibc's libc.so (an allocator was linked in?)";
		return -ENOTSUP;
	}
	return 0;
}

BENCH_INLINE struct rf_hdr *glibc_alloc(struct rf_run *run)
{
	(void)run;
	return malloc(RF_BUF_SIZE);
}

BENCH_INLINE void glibc_free(struct rf_run *run, struct rf_hdr *b)
{
	(void)run;
	free(b);
}

RF_INSTANTIATE(glibc, glibc_alloc, rf_nothing, glibc_free, rf_nothing)

const struct rf_ops rf_glibc = {
	.name = "glibc",
	.init = glibc_init,
	.fini = NULL,
	.a_iteration = glibc_a_iteration,
	.b_main = glibc_b_main,
};

/* ---- mimalloc, jemalloc (dlopen()ed) --------------------------------------------------- */

#if defined(TSQ_BENCH_MIMALLOC_PATH) || defined(TSQ_BENCH_JEMALLOC_PATH)
/* One dlopen()ed allocator: where it is, its two entry points, and what dlsym() found. */
struct rf_ext {
	const char *path;
	const char *syms[2]; /* allocate, free */
	void *fns[2];
	void *handle;
};

/*
 * Load an allocator without letting it interpose malloc: RTLD_LOCAL keeps its symbols out of
 * the global scope, RTLD_DEEPBIND makes its own internal calls bind to itself. Loaded once,
 * never unloaded (neither library supports dlclose()). Returns 0, or -ENOTSUP with *why set.
 */
static int rf_ext_load(struct rf_ext *e, const char **why)
{
	static char msg[512];
	void *h;

	if (e->handle != NULL)
		return 0;
	h = dlopen(e->path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
	if (h == NULL) {
		const char *err = dlerror();

		snprintf(
			msg, sizeof(msg), "dlopen(%s) failed: %s%s", e->path,
			err != NULL ? err : "?",
			err != NULL && strstr(err, "static TLS") != NULL ?
				" - rerun with GLIBC_TUNABLES=glibc.rtld.optional_static_tls=16384 "
				"(bench/demo.sh sets it)" :
				"");
		*why = msg;
		return -ENOTSUP;
	}
	for (int i = 0; i < 2; i++) {
		e->fns[i] = dlsym(h, e->syms[i]);
		if (e->fns[i] == NULL) {
			snprintf(msg, sizeof(msg), "%s: no symbol %s", e->path, e->syms[i]);
			*why = msg;
			return -ENOTSUP;
		}
	}
	e->handle = h;
	return 0;
}
#endif

#ifdef TSQ_BENCH_MIMALLOC_PATH
static struct rf_ext rf_mi = { .path = TSQ_BENCH_MIMALLOC_PATH,
			       .syms = { "mi_malloc", "mi_free" } };
static void *(*mi_malloc_fn)(size_t);
static void (*mi_free_fn)(void *);

static int mimalloc_init(struct rf_run *run, const char **why)
{
	int err = rf_ext_load(&rf_mi, why);

	(void)run;
	/* POSIX guarantees that dlsym()'s void * converts to a function pointer. */
	memcpy(&mi_malloc_fn, &rf_mi.fns[0], sizeof(mi_malloc_fn));
	memcpy(&mi_free_fn, &rf_mi.fns[1], sizeof(mi_free_fn));
	return err;
}

BENCH_INLINE struct rf_hdr *mimalloc_alloc(struct rf_run *run)
{
	(void)run;
	return mi_malloc_fn(RF_BUF_SIZE);
}

BENCH_INLINE void mimalloc_free(struct rf_run *run, struct rf_hdr *b)
{
	(void)run;
	mi_free_fn(b);
}

RF_INSTANTIATE(mimalloc, mimalloc_alloc, rf_nothing, mimalloc_free, rf_nothing)

const struct rf_ops rf_mimalloc = {
	.name = "mimalloc",
	.init = mimalloc_init,
	.a_iteration = mimalloc_a_iteration,
	.b_main = mimalloc_b_main,
};
#endif

#ifdef TSQ_BENCH_JEMALLOC_PATH
static struct rf_ext rf_je = { .path = TSQ_BENCH_JEMALLOC_PATH, .syms = { "mallocx", "dallocx" } };
static void *(*je_mallocx_fn)(size_t, int);
static void (*je_dallocx_fn)(void *, int);

static int jemalloc_init(struct rf_run *run, const char **why)
{
	int err = rf_ext_load(&rf_je, why);

	(void)run;
	memcpy(&je_mallocx_fn, &rf_je.fns[0], sizeof(je_mallocx_fn));
	memcpy(&je_dallocx_fn, &rf_je.fns[1], sizeof(je_dallocx_fn));
	return err;
}

BENCH_INLINE struct rf_hdr *jemalloc_alloc(struct rf_run *run)
{
	(void)run;
	return je_mallocx_fn(RF_BUF_SIZE, 0);
}

BENCH_INLINE void jemalloc_free(struct rf_run *run, struct rf_hdr *b)
{
	(void)run;
	je_dallocx_fn(b, 0);
}

RF_INSTANTIATE(jemalloc, jemalloc_alloc, rf_nothing, jemalloc_free, rf_nothing)

const struct rf_ops rf_jemalloc = {
	.name = "jemalloc",
	.init = jemalloc_init,
	.a_iteration = jemalloc_a_iteration,
	.b_main = jemalloc_b_main,
};
#endif
