/* SPDX-License-Identifier: BSD-2-Clause */
/* json.c - the JSON writer of tsq-xsk's runs (cli.h: struct jw). */
#include "cli.h"

#include <math.h>
#include <stdio.h>

static void jw_key(struct jw *j, const char *key)
{
	if (j->more[j->depth])
		fputc(',', j->f);
	j->more[j->depth] = true;
	if (key != NULL)
		fprintf(j->f, "\"%s\":", key);
}

static void jw_open(struct jw *j, const char *key, char c)
{
	jw_key(j, key);
	fputc(c, j->f);
	if (j->depth + 1 < sizeof(j->more) / sizeof(j->more[0]))
		j->depth++;
	j->more[j->depth] = false;
}

static void jw_close(struct jw *j, char c)
{
	fputc(c, j->f);
	if (j->depth > 0)
		j->depth--;
}

void jw_doc_begin(struct jw *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->more[0] = false;
	jw_open(j, NULL, '{');
	jw_u64(j, "schema", CLI_JSON_SCHEMA);
}

void jw_doc_end(struct jw *j)
{
	jw_close(j, '}');
	fputc('\n', j->f);
	fflush(j->f);
}

void jw_obj_begin(struct jw *j, const char *key)
{
	jw_open(j, key, '{');
}

void jw_obj_end(struct jw *j)
{
	jw_close(j, '}');
}

void jw_arr_begin(struct jw *j, const char *key)
{
	jw_open(j, key, '[');
}

void jw_arr_end(struct jw *j)
{
	jw_close(j, ']');
}

void jw_u64(struct jw *j, const char *key, uint64_t v)
{
	jw_key(j, key);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void jw_num(struct jw *j, const char *key, double v, int decimals)
{
	jw_key(j, key);
	if (isnan(v) || isinf(v))
		fputs("null", j->f);
	else
		fprintf(j->f, "%.*f", decimals, v);
}

void jw_str(struct jw *j, const char *key, const char *s)
{
	jw_key(j, key);
	fputc('"', j->f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(j->f, "\\%c", c);
		else if (c < 0x20)
			fprintf(j->f, "\\u%04x", c);
		else
			fputc(c, j->f);
	}
	fputc('"', j->f);
}

void jw_bool(struct jw *j, const char *key, bool v)
{
	jw_key(j, key);
	fputs(v ? "true" : "false", j->f);
}
