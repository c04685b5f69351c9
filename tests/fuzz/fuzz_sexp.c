/* fuzz_sexp.c — libFuzzer target for the S-expression reader and the
 * evaluator (sexp_read, eval_body).
 *
 * For every input:
 *   1. sexp_read must return; a failure's message must start with
 *      "fuzz:LINE:COL: ".
 *   2. When it reads, every form is printed and read again: the result must
 *      be the same data (the printer writes what the reader reads).
 *   3. The forms are evaluated with a small step budget, depth and arena,
 *      with a record form (build-machine) and a record type that turns into
 *      a string (drv, through the form `drv`) registered; the evaluation
 *      must end, succeed with a value or fail with a positioned message, and
 *      its value must print.
 * A broken property abort()s, which libFuzzer and the replay driver
 * (standalone.c) both report.  Everything lives in arenas, freed at the
 * end: nothing may leak.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "eval.h"
#include "sexp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, size_t size)
{
	fprintf(stderr, "fuzz_sexp: %s (input of %zu bytes; last message: %s)\n", what, size,
		err_msg());
	abort();
}

/* "fuzz:LINE:COL: something" */
static int positioned(const char *msg)
{
	unsigned line, col;
	int n = 0;

	if (sscanf(msg, "fuzz:%u:%u: %n", &line, &col, &n) != 2 || n == 0)
		return 0;
	return line >= 1 && col >= 1 && msg[n] != '\0';
}

static int same(const struct sexp *a, const struct sexp *b)
{
	if (a->type != b->type || a->depth != b->depth)
		return 0;
	switch (a->type) {
	case SEXP_LIST:
		if (a->u.list.n != b->u.list.n)
			return 0;
		for (size_t i = 0; i < a->u.list.n; i++)
			if (!same(a->u.list.v[i], b->u.list.v[i]))
				return 0;
		return 1;
	case SEXP_SYMBOL:
	case SEXP_KEYWORD:
	case SEXP_STRING:
		return a->u.str.len == b->u.str.len &&
		       !memcmp(a->u.str.s, b->u.str.s, a->u.str.len);
	case SEXP_INT: return a->u.i == b->u.i;
	case SEXP_REAL: return a->u.d == b->u.d;
	case SEXP_BOOL: return a->u.b == b->u.b;
	default: return 0;
	}
}

static const struct eval_record_type machine_type = {"build-machine", NULL, NULL};

static int drv_to_string(struct eval *ev, const struct sexp *rec, const struct sexp *where,
			 struct sexp **strp)
{
	const struct eval_strctx *ctx = NULL;
	int r;

	if ((r = eval_strctx_add(ev, &ctx, rec, "out")) != 0)
		return r;
	return eval_mk_string(ev, where->pos, "/yonder/store/x-drv", 19, ctx, strp);
}

static const char *const drv_fields[] = {"name", "args", NULL};
static const struct eval_record_type drv_type = {"drv", drv_fields, drv_to_string};

/* (drv (name …) …) through a hand-written form, as the recipe module will. */
static int drv_form(struct eval *ev, void *ctx, const struct sexp *form, struct eval_env *env,
		    struct sexp **outp)
{
	return eval_record_fields(ev, &drv_type, form, env, outp);
}

static void check_roundtrip(struct sexp *const *forms, size_t n, size_t size)
{
	struct sexp_arena *a = sexp_arena_new(64u << 20);
	struct buf b = BUF_INIT(16u << 20);
	struct sexp **again;
	size_t m;

	if (!a)
		fail("no arena", size);
	for (size_t i = 0; i < n; i++) {
		buf_reset(&b);
		if (sexp_print(&b, forms[i], 0) != 0)
			fail("cannot print a form", size);
		if (sexp_read(a, "printed", b.data, b.len, &again, &m) != 0) {
			fprintf(stderr, "printed: %s\n", b.data);
			fail("cannot read a printed form", size);
		}
		if (m != 1 || !same(forms[i], again[0])) {
			fprintf(stderr, "printed: %s\n", b.data);
			fail("a printed form reads back different", size);
		}
	}
	buf_release(&b);
	sexp_arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eval_limits lim = {20000, 200};
	struct sexp_arena *a = sexp_arena_new(8u << 20);
	struct buf out = BUF_INIT(1u << 16);
	struct sexp **forms = NULL, *v = NULL;
	struct eval *ev = NULL;
	size_t n = 0;
	int r;

	if (!a)
		fail("no arena", size);
	r = sexp_read(a, "fuzz", (const char *)data, size, &forms, &n);
	if (r != 0) {
		if (r != ERR_FORMAT && r != ERR_TOOBIG)
			fail("unexpected error code from sexp_read", size);
		if (!positioned(err_msg()))
			fail("a read error without its position", size);
		goto out;
	}
	check_roundtrip(forms, n, size);

	if (!(ev = eval_new(a, &lim)) || eval_register_record(ev, &machine_type) != 0 ||
	    eval_register_form(ev, "drv", drv_form, NULL) != 0)
		fail("cannot set up the evaluator", size);
	r = eval_body(ev, forms, n, &v);
	if (eval_steps(ev) > lim.max_steps + 1)
		fail("the step budget was overrun", size);
	if (r != 0) {
		if (r != ERR_INVALID && r != ERR_TOOBIG)
			fail("unexpected error code from eval_body", size);
		if (!positioned(err_msg()))
			fail("an evaluation error without its position", size);
		goto out;
	}
	if (!v)
		fail("success without a value", size);
	if (sexp_print(&out, v, 4096) != 0)
		fail("cannot print the value", size);
out:
	buf_release(&out);
	eval_free(ev);
	sexp_arena_free(a);
	return 0;
}
