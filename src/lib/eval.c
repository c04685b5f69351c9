#include "eval.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

enum gkind { G_NONE, G_VALUE, G_CORE, G_FORM, G_RECORD };
enum core { C_QUOTE, C_DEFINE, C_LAMBDA, C_LET, C_IF };

/* A global binding; the table is keyed by interned name. */
struct gbind {
	const char *name;
	enum gkind kind;
	struct sexp *val;  /* G_VALUE */
	enum core core;    /* G_CORE */
	eval_form_fn form; /* G_FORM */
	void *ctx;
	const struct eval_record_type *type; /* G_RECORD */
};

struct def {
	const char *name;
	struct sexp *val;
	struct def *next;
};

struct eval_env {
	struct eval_env *parent; /* NULL: the global table is next */
	const char **names;
	struct sexp **vals;
	size_t n;
	struct def *defs; /* internal defines */
};

struct eval {
	struct sexp_arena *a;
	uint64_t steps, max_steps;
	unsigned depth, max_depth;
	struct gbind *tab; /* malloc'd, open addressing, power of 2 */
	size_t ntab, nused;
	const char *s_inherit;
};

/* ---- errors ---- */

int eval_error(int code, struct sexp_pos pos, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(code, "%s:%" PRIu32 ":%" PRIu32 ": %s", pos.file ? pos.file : "?", pos.line,
		       pos.col, msg);
}

/* An arena allocation failed: its message, at POS. */
static int nomem(struct eval *ev, struct sexp_pos pos)
{
	return err_prefix(sexp_arena_error(ev->a), "%s:%" PRIu32 ":%" PRIu32,
			  pos.file ? pos.file : "?", pos.line, pos.col);
}

struct sexp_pos eval_arg_pos(const struct eval_args *a, size_t i)
{
	if (a->exprs && i < a->n)
		return a->exprs[i]->pos;
	return a->call->pos;
}

const char *eval_show(struct buf *b, const struct sexp *v)
{
	buf_reset(b);
	if (sexp_print(b, v, 60) != 0 || !b->data)
		return "?";
	return b->data;
}

/* "'f' expects 2 arguments, got 3" and its variants. */
static int arity_error(const struct eval_proc *p, size_t got, struct sexp_pos pos)
{
	char who[300], want[64];

	if (p->name)
		snprintf(who, sizeof(who), "'%.256s'", p->name);
	else
		snprintf(who, sizeof(who), "procedure");
	if (p->max_args < 0)
		snprintf(want, sizeof(want), "at least %d argument%s", p->min_args,
			 p->min_args == 1 ? "" : "s");
	else if (p->max_args == p->min_args)
		snprintf(want, sizeof(want), "%d argument%s", p->min_args,
			 p->min_args == 1 ? "" : "s");
	else if (p->max_args == p->min_args + 1)
		snprintf(want, sizeof(want), "%d or %d arguments", p->min_args, p->max_args);
	else
		snprintf(want, sizeof(want), "%d to %d arguments", p->min_args, p->max_args);
	return eval_error(ERR_INVALID, pos, "%s expects %s, got %zu", who, want, got);
}

/* "a string", "an integer" */
static const char *a_type(enum sexp_type t)
{
	switch (t) {
	case SEXP_INT: return "an integer";
	case SEXP_UNSPEC: return "an unspecified value";
	case SEXP_LIST: return "a list";
	case SEXP_SYMBOL: return "a symbol";
	case SEXP_KEYWORD: return "a keyword";
	case SEXP_STRING: return "a string";
	case SEXP_REAL: return "a real";
	case SEXP_BOOL: return "a boolean";
	case SEXP_PROC: return "a procedure";
	case SEXP_RECORD: return "a record";
	}
	return "a value";
}

/* ---- values ---- */

static struct sexp *mk(struct eval *ev, enum sexp_type t, struct sexp_pos pos)
{
	struct sexp *v = sexp_alloc(ev->a, sizeof(*v));

	if (v) {
		v->type = t;
		v->pos = pos;
	}
	return v;
}

int eval_mk_int(struct eval *ev, struct sexp_pos pos, int64_t i, struct sexp **outp)
{
	struct sexp *v = mk(ev, SEXP_INT, pos);

	if (!v)
		return nomem(ev, pos);
	v->u.i = i;
	*outp = v;
	return 0;
}

int eval_mk_real(struct eval *ev, struct sexp_pos pos, double d, struct sexp **outp)
{
	struct sexp *v = mk(ev, SEXP_REAL, pos);

	if (!v)
		return nomem(ev, pos);
	v->u.d = d;
	*outp = v;
	return 0;
}

int eval_mk_bool(struct eval *ev, struct sexp_pos pos, bool b, struct sexp **outp)
{
	struct sexp *v = mk(ev, SEXP_BOOL, pos);

	if (!v)
		return nomem(ev, pos);
	v->u.b = b;
	*outp = v;
	return 0;
}

int eval_mk_unspec(struct eval *ev, struct sexp_pos pos, struct sexp **outp)
{
	struct sexp *v = mk(ev, SEXP_UNSPEC, pos);

	if (!v)
		return nomem(ev, pos);
	*outp = v;
	return 0;
}

int eval_mk_string(struct eval *ev, struct sexp_pos pos, const char *s, size_t len,
		   const struct eval_strctx *ctx, struct sexp **outp)
{
	struct sexp *v;

	if (len > EVAL_MAX_STRING)
		return eval_error(ERR_TOOBIG, pos, "string longer than %u bytes", EVAL_MAX_STRING);
	if (memchr(s, '\0', len))
		return eval_error(ERR_INVALID, pos, "NUL character in string");
	if (!(v = mk(ev, SEXP_STRING, pos)) || !(v->u.str.s = sexp_strndup(ev->a, s, len)))
		return nomem(ev, pos);
	v->u.str.len = len;
	v->u.str.ctx = ctx && ctx->n ? ctx : NULL;
	*outp = v;
	return 0;
}

/* A list that takes the array V (already in the arena) as it is. */
static int mk_list_own(struct eval *ev, struct sexp_pos pos, struct sexp **v, size_t n,
		       struct sexp **outp)
{
	struct sexp *l;
	uint32_t depth = 1;

	for (size_t i = 0; i < n; i++)
		if (v[i]->depth + 1 > depth)
			depth = v[i]->depth + 1;
	if (depth > SEXP_MAX_DEPTH)
		return eval_error(ERR_TOOBIG, pos, "data nested deeper than %d", SEXP_MAX_DEPTH);
	if (!(l = mk(ev, SEXP_LIST, pos)))
		return nomem(ev, pos);
	l->depth = depth;
	l->u.list.v = n ? v : NULL;
	l->u.list.n = n;
	*outp = l;
	return 0;
}

static struct sexp **copy_vals(struct eval *ev, struct sexp *const *v, size_t n)
{
	struct sexp **c;

	if (n > SIZE_MAX / sizeof(*c))
		return NULL;
	if (!(c = sexp_alloc(ev->a, (n ? n : 1) * sizeof(*c))))
		return NULL;
	if (n)
		memcpy(c, v, n * sizeof(*c));
	return c;
}

int eval_mk_list(struct eval *ev, struct sexp_pos pos, struct sexp *const *v, size_t n,
		 struct sexp **outp)
{
	struct sexp **c = copy_vals(ev, v, n);

	if (!c)
		return nomem(ev, pos);
	return mk_list_own(ev, pos, c, n, outp);
}

int eval_mk_record(struct eval *ev, const struct eval_record_type *type, struct sexp_pos pos,
		   const struct eval_field *fields, size_t nfields, void *data, struct sexp **outp)
{
	struct eval_record *rec;
	struct sexp *v;
	uint32_t depth = 1;

	for (size_t i = 0; i < nfields; i++)
		for (size_t j = 0; j < fields[i].n; j++)
			if (fields[i].v[j]->depth + 1 > depth)
				depth = fields[i].v[j]->depth + 1;
	if (depth > SEXP_MAX_DEPTH)
		return eval_error(ERR_TOOBIG, pos, "data nested deeper than %d", SEXP_MAX_DEPTH);
	if (!(rec = sexp_alloc(ev->a, sizeof(*rec))) || !(v = mk(ev, SEXP_RECORD, pos)))
		return nomem(ev, pos);
	if (nfields) {
		if (nfields > SIZE_MAX / sizeof(*fields) ||
		    !(rec->fields = sexp_alloc(ev->a, nfields * sizeof(*fields))))
			return nomem(ev, pos);
		memcpy(rec->fields, fields, nfields * sizeof(*fields));
	}
	rec->type = type;
	rec->nfields = nfields;
	rec->data = data;
	v->depth = depth;
	v->u.rec = rec;
	*outp = v;
	return 0;
}

static int charge_steps(struct eval *ev, uint64_t k, struct sexp_pos pos);

static int ent_cmp(const void *x, const void *y)
{
	const struct eval_strctx_ent *a = x, *b = y;
	uintptr_t ar = (uintptr_t)a->rec, br = (uintptr_t)b->rec;
	uintptr_t as = (uintptr_t)a->sub, bs = (uintptr_t)b->sub;

	if (ar != br)
		return ar < br ? -1 : 1;
	if (as != bs)
		return as < bs ? -1 : 1;
	return 0;
}

/* The union of the N contexts CTX[] (NULLs allowed) into *OUTP.  The work
 * is charged to the step budget and the arena, so that a program cannot
 * make it unbounded. */
static int ctx_union(struct eval *ev, struct sexp_pos pos, const struct eval_strctx *const *ctx,
		     size_t n, const struct eval_strctx **outp)
{
	const struct eval_strctx *only = NULL, *prev = NULL;
	struct eval_strctx *u;
	size_t total = 0, k = 0, m = 0;
	bool several = false;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (!ctx[i] || !ctx[i]->n || ctx[i] == prev)
			continue;
		if (only && ctx[i] != only)
			several = true;
		only = prev = ctx[i];
		if (ctx[i]->n > SIZE_MAX / 4 - total)
			return eval_error(ERR_TOOBIG, pos, "string refers to too many records");
		total += ctx[i]->n;
	}
	if (!several) {
		*outp = only;
		return 0;
	}
	if ((rc = charge_steps(ev, 1 + total / 64, pos)) != 0)
		return rc;
	if (total > (SIZE_MAX - sizeof(*u)) / sizeof(u->e[0]) ||
	    !(u = sexp_alloc(ev->a, sizeof(*u) + total * sizeof(u->e[0]))))
		return nomem(ev, pos);
	prev = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!ctx[i] || !ctx[i]->n || ctx[i] == prev)
			continue;
		memcpy(u->e + k, ctx[i]->e, ctx[i]->n * sizeof(u->e[0]));
		k += ctx[i]->n;
		prev = ctx[i];
	}
	qsort(u->e, k, sizeof(u->e[0]), ent_cmp);
	for (size_t i = 0; i < k; i++)
		if (m == 0 || ent_cmp(&u->e[m - 1], &u->e[i]) != 0)
			u->e[m++] = u->e[i];
	if (m > EVAL_MAX_STRCTX)
		return eval_error(ERR_TOOBIG, pos, "string refers to more than %u records",
				  EVAL_MAX_STRCTX);
	u->n = m;
	*outp = u;
	return 0;
}

int eval_strctx_add(struct eval *ev, const struct eval_strctx **ctxp, const struct sexp *rec,
		    const char *sub)
{
	struct eval_strctx *one;
	const struct eval_strctx *both[2];

	if (!(one = sexp_alloc(ev->a, sizeof(*one) + sizeof(one->e[0]))))
		return nomem(ev, rec->pos);
	if (sub && !(sub = sexp_intern(ev->a, sub, strlen(sub))))
		return nomem(ev, rec->pos);
	one->n = 1;
	one->e[0].rec = rec;
	one->e[0].sub = sub;
	both[0] = *ctxp;
	both[1] = one;
	return ctx_union(ev, rec->pos, both, 2, ctxp);
}

int eval_to_string(struct eval *ev, const struct sexp *v, const struct sexp *where,
		   struct sexp **strp)
{
	int rc;

	*strp = NULL;
	if (v->type == SEXP_STRING) {
		*strp = (struct sexp *)v;
		return 0;
	}
	if (v->type != SEXP_RECORD || !v->u.rec->type->to_string)
		return 0;
	if ((rc = v->u.rec->type->to_string(ev, v, where, strp)) != 0)
		return rc;
	if (!*strp || (*strp)->type != SEXP_STRING)
		return eval_error(ERR_INTERNAL, where->pos, "'%s' did not turn into a string",
				  v->u.rec->type->name);
	return 0;
}

const struct eval_record *eval_record_of(const struct sexp *v, const struct eval_record_type *type)
{
	if (!v || v->type != SEXP_RECORD || v->u.rec->type != type)
		return NULL;
	return v->u.rec;
}

const struct eval_field *eval_record_field(const struct eval_record *r, const char *name)
{
	for (size_t i = 0; i < r->nfields; i++)
		if (!strcmp(r->fields[i].name, name))
			return &r->fields[i];
	return NULL;
}

/* ---- global table ---- */

static size_t ptr_hash(const char *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x;
}

static struct gbind *gfind(struct eval *ev, const char *name)
{
	size_t mask = ev->ntab - 1;

	for (size_t j = ptr_hash(name) & mask;; j = (j + 1) & mask) {
		if (ev->tab[j].name == name)
			return &ev->tab[j];
		if (!ev->tab[j].name)
			return NULL;
	}
}

/* The binding of NAME, added (as G_NONE) when absent. */
static int gslot(struct eval *ev, const char *name, struct gbind **outp)
{
	struct gbind *g;
	size_t mask;

	if ((g = gfind(ev, name))) {
		*outp = g;
		return 0;
	}
	if ((ev->nused + 1) * 2 > ev->ntab) {
		size_t n = ev->ntab * 2;
		struct gbind *t = calloc(n, sizeof(*t));

		if (!t)
			return err_set(ERR_NOMEM, "out of memory");
		for (size_t i = 0; i < ev->ntab; i++) {
			size_t j;

			if (!ev->tab[i].name)
				continue;
			for (j = ptr_hash(ev->tab[i].name) & (n - 1); t[j].name;
			     j = (j + 1) & (n - 1))
				;
			t[j] = ev->tab[i];
		}
		free(ev->tab);
		ev->tab = t;
		ev->ntab = n;
	}
	mask = ev->ntab - 1;
	for (size_t j = ptr_hash(name) & mask;; j = (j + 1) & mask) {
		if (!ev->tab[j].name) {
			g = &ev->tab[j];
			break;
		}
	}
	memset(g, 0, sizeof(*g));
	g->name = name;
	ev->nused++;
	*outp = g;
	return 0;
}

/* Whether NAME is syntax (a core form or a registered one). */
static bool is_syntax(struct eval *ev, const char *name)
{
	struct gbind *g = gfind(ev, name);

	return g && g->kind != G_VALUE && g->kind != G_NONE;
}

static int bind_c(struct eval *ev, const char *name, struct gbind **outp)
{
	const char *n = sexp_intern(ev->a, name, strlen(name));
	struct gbind *g;
	int rc;

	if (!n)
		return err_prefix(sexp_arena_error(ev->a), "binding '%s'", name);
	if ((rc = gslot(ev, n, &g)) != 0)
		return rc;
	if (g->kind == G_CORE)
		return err_set(ERR_INVALID, "'%s' is a core form and cannot be rebound", name);
	*outp = g;
	return 0;
}

static const struct sexp_pos builtin_pos = {"<builtin>", 0, 0};

int eval_register_builtin(struct eval *ev, const char *name, int min_args, int max_args,
			  eval_builtin_fn fn, void *ctx)
{
	struct eval_proc *p;
	struct gbind *g;
	struct sexp *v;
	int rc;

	if ((rc = bind_c(ev, name, &g)) != 0)
		return rc;
	if (!(p = sexp_alloc(ev->a, sizeof(*p))) || !(v = mk(ev, SEXP_PROC, builtin_pos)))
		return err_prefix(sexp_arena_error(ev->a), "binding '%s'", name);
	p->name = g->name;
	p->min_args = min_args;
	p->max_args = max_args;
	p->fn = fn;
	p->ctx = ctx;
	v->u.proc = p;
	memset(&g->val, 0, sizeof(*g) - offsetof(struct gbind, val));
	g->kind = G_VALUE;
	g->val = v;
	return 0;
}

int eval_register_form(struct eval *ev, const char *name, eval_form_fn fn, void *ctx)
{
	struct gbind *g;
	int rc;

	if ((rc = bind_c(ev, name, &g)) != 0)
		return rc;
	memset(&g->val, 0, sizeof(*g) - offsetof(struct gbind, val));
	g->kind = G_FORM;
	g->form = fn;
	g->ctx = ctx;
	return 0;
}

int eval_register_record(struct eval *ev, const struct eval_record_type *type)
{
	struct gbind *g;
	int rc;

	if ((rc = bind_c(ev, type->name, &g)) != 0)
		return rc;
	memset(&g->val, 0, sizeof(*g) - offsetof(struct gbind, val));
	g->kind = G_RECORD;
	g->type = type;
	return 0;
}

int eval_define(struct eval *ev, const char *name, struct sexp *v)
{
	struct gbind *g;
	int rc;

	if ((rc = bind_c(ev, name, &g)) != 0)
		return rc;
	memset(&g->val, 0, sizeof(*g) - offsetof(struct gbind, val));
	g->kind = G_VALUE;
	g->val = v;
	return 0;
}

/* ---- environments ---- */

static struct sexp **lookup(struct eval *ev, struct eval_env *env, const char *name)
{
	struct gbind *g;

	for (; env; env = env->parent) {
		for (size_t i = 0; i < env->n; i++)
			if (env->names[i] == name)
				return &env->vals[i];
		for (struct def *d = env->defs; d; d = d->next)
			if (d->name == name)
				return &d->val;
	}
	g = gfind(ev, name);
	return g && g->kind == G_VALUE ? &g->val : NULL;
}

/* Binds NAME to V in ENV (the global table when NULL); NAME_X is the
 * symbol, for messages. */
static int define(struct eval *ev, struct eval_env *env, const struct sexp *name_x, struct sexp *v)
{
	const char *name = name_x->u.str.s;
	struct gbind *g;
	struct def *d;
	int rc;

	if (is_syntax(ev, name))
		return eval_error(ERR_INVALID, name_x->pos, "cannot bind '%s': it is syntax", name);
	if (!env) {
		if ((rc = gslot(ev, name, &g)) != 0)
			return rc;
		g->kind = G_VALUE;
		g->val = v;
		return 0;
	}
	for (size_t i = 0; i < env->n; i++) {
		if (env->names[i] == name) {
			env->vals[i] = v;
			return 0;
		}
	}
	for (d = env->defs; d; d = d->next) {
		if (d->name == name) {
			d->val = v;
			return 0;
		}
	}
	if (!(d = sexp_alloc(ev->a, sizeof(*d))))
		return nomem(ev, name_x->pos);
	d->name = name;
	d->val = v;
	d->next = env->defs;
	env->defs = d;
	return 0;
}

/* ---- evaluation ---- */

static int eval_seq(struct eval *ev, struct eval_env *env, struct sexp *const *forms, size_t n,
		    struct sexp_pos pos, struct sexp **outp);

static bool is_false(const struct sexp *v)
{
	return v->type == SEXP_BOOL && !v->u.b;
}

/* Counts K steps; past the budget, steps stays at max_steps + 1. */
static int charge_steps(struct eval *ev, uint64_t k, struct sexp_pos pos)
{
	if (ev->steps > ev->max_steps || k > ev->max_steps - ev->steps) {
		ev->steps = ev->max_steps + 1;
		return eval_error(ERR_TOOBIG, pos, "evaluation takes more than %" PRIu64 " steps",
				  ev->max_steps);
	}
	ev->steps += k;
	return 0;
}

static int step(struct eval *ev, struct sexp_pos pos)
{
	return charge_steps(ev, 1, pos);
}

static int apply(struct eval *ev, const struct sexp *f, struct sexp **args, size_t n,
		 const struct sexp *call, struct sexp *const *exprs, struct sexp **outp)
{
	const struct eval_proc *p = f->u.proc;
	struct eval_env *env;
	int rc;

	if ((rc = step(ev, call->pos)) != 0)
		return rc;
	if (n < (size_t)p->min_args || (p->max_args >= 0 && n > (size_t)p->max_args))
		return arity_error(p, n, call->pos);
	if (p->fn) {
		struct eval_args a = {call, args, n, exprs};

		*outp = NULL;
		if ((rc = p->fn(ev, p->ctx, &a, outp)) != 0)
			return rc;
		if (!*outp)
			return eval_error(ERR_INTERNAL, call->pos, "'%s' returned no value",
					  p->name ? p->name : "?");
		return 0;
	}
	if (!(env = sexp_alloc(ev->a, sizeof(*env))))
		return nomem(ev, call->pos);
	env->parent = p->env;
	env->names = p->params;
	env->vals = args; /* a fresh array, never shared */
	env->n = n;
	return eval_seq(ev, env, p->body, p->nbody, call->pos, outp);
}

int eval_apply(struct eval *ev, const struct sexp *proc, struct sexp *const *args, size_t n,
	       const struct sexp *where, struct sexp **outp)
{
	struct buf b = BUF_INIT(256);
	struct sexp **c;
	int rc;

	if (proc->type != SEXP_PROC) {
		rc =
		    eval_error(ERR_INVALID, where->pos, "cannot call %s: it is %s, not a procedure",
			       eval_show(&b, proc), a_type(proc->type));
		buf_release(&b);
		return rc;
	}
	if (!(c = copy_vals(ev, args, n)))
		return nomem(ev, where->pos);
	return apply(ev, proc, c, n, where, NULL, outp);
}

/* Checks a list of parameter names (lambda) and interns nothing: reader
 * symbols are interned already. */
static int check_params(struct eval *ev, const struct sexp *plist, const char *what,
			const char ***namesp)
{
	const char **names;
	size_t n = plist->u.list.n;

	if (!(names = sexp_alloc(ev->a, (n ? n : 1) * sizeof(*names))))
		return nomem(ev, plist->pos);
	for (size_t i = 0; i < n; i++) {
		const struct sexp *p = plist->u.list.v[i];

		if (p->type != SEXP_SYMBOL)
			return eval_error(ERR_INVALID, p->pos,
					  "bad '%s' syntax: a parameter must be a symbol", what);
		if (is_syntax(ev, p->u.str.s))
			return eval_error(ERR_INVALID, p->pos, "cannot bind '%s': it is syntax",
					  p->u.str.s);
		for (size_t j = 0; j < i; j++)
			if (names[j] == p->u.str.s)
				return eval_error(ERR_INVALID, p->pos,
						  "parameter '%s' appears twice", p->u.str.s);
		names[i] = p->u.str.s;
	}
	*namesp = names;
	return 0;
}

static int mk_closure(struct eval *ev, struct eval_env *env, const struct sexp *form,
		      const char *name, const struct sexp *plist, struct sexp *const *body,
		      size_t nbody, struct sexp **outp)
{
	struct eval_proc *p;
	const char **names = NULL;
	struct sexp *v;
	int rc;

	if (plist->u.list.n > 1000)
		return eval_error(ERR_TOOBIG, plist->pos, "more than 1000 parameters");
	if ((rc = check_params(ev, plist, name ? "define" : "lambda", &names)) != 0)
		return rc;
	if (nbody == 0)
		return eval_error(ERR_INVALID, form->pos, "bad '%s' syntax: empty body",
				  name ? "define" : "lambda");
	if (!(p = sexp_alloc(ev->a, sizeof(*p))) || !(v = mk(ev, SEXP_PROC, form->pos)))
		return nomem(ev, form->pos);
	p->name = name;
	p->min_args = p->max_args = (int)plist->u.list.n;
	p->params = names;
	p->body = body;
	p->nbody = nbody;
	p->env = env;
	v->u.proc = p;
	*outp = v;
	return 0;
}

static int do_lambda(struct eval *ev, struct eval_env *env, const struct sexp *x,
		     struct sexp **outp)
{
	const struct sexp *plist;

	if (x->u.list.n < 3)
		return eval_error(ERR_INVALID, x->pos,
				  "bad 'lambda' syntax: expected (lambda (param…) body…)");
	plist = x->u.list.v[1];
	if (plist->type == SEXP_SYMBOL)
		return eval_error(ERR_INVALID, plist->pos, "rest arguments are not supported");
	if (plist->type != SEXP_LIST)
		return eval_error(ERR_INVALID, plist->pos,
				  "bad 'lambda' syntax: expected a list of parameters");
	return mk_closure(ev, env, x, NULL, plist, x->u.list.v + 2, x->u.list.n - 2, outp);
}

static int do_define(struct eval *ev, struct eval_env *env, const struct sexp *x)
{
	const struct sexp *target;
	struct sexp *v;
	int rc;

	if (x->u.list.n < 2)
		return eval_error(ERR_INVALID, x->pos, "bad 'define' syntax: expected a name");
	target = x->u.list.v[1];
	if (target->type == SEXP_LIST) {
		/* (define (name param…) body…) */
		struct sexp params;

		if (target->u.list.n == 0 || target->u.list.v[0]->type != SEXP_SYMBOL)
			return eval_error(ERR_INVALID, target->pos,
					  "bad 'define' syntax: expected (define (name param…) "
					  "body…)");
		params = *target;
		params.u.list.v = target->u.list.v + 1;
		params.u.list.n = target->u.list.n - 1;
		if (is_syntax(ev, target->u.list.v[0]->u.str.s))
			return eval_error(ERR_INVALID, target->u.list.v[0]->pos,
					  "cannot bind '%s': it is syntax",
					  target->u.list.v[0]->u.str.s);
		if ((rc = mk_closure(ev, env, x, target->u.list.v[0]->u.str.s, &params,
				     x->u.list.v + 2, x->u.list.n - 2, &v)) != 0)
			return rc;
		return define(ev, env, target->u.list.v[0], v);
	}
	if (target->type != SEXP_SYMBOL)
		return eval_error(ERR_INVALID, target->pos,
				  "bad 'define' syntax: expected a name, got %s",
				  a_type(target->type));
	if (x->u.list.n != 3)
		return eval_error(ERR_INVALID, x->pos,
				  "bad 'define' syntax: expected (define %s value)",
				  target->u.str.s);
	if (is_syntax(ev, target->u.str.s))
		return eval_error(ERR_INVALID, target->pos, "cannot bind '%s': it is syntax",
				  target->u.str.s);
	if ((rc = eval_expr(ev, env, x->u.list.v[2], &v)) != 0)
		return rc;
	if (v->type == SEXP_PROC && !v->u.proc->name && !v->u.proc->fn)
		((struct eval_proc *)v->u.proc)->name = target->u.str.s;
	return define(ev, env, target, v);
}

static int do_let(struct eval *ev, struct eval_env *env, const struct sexp *x, struct sexp **outp)
{
	const struct sexp *bl;
	struct eval_env *inner;
	size_t n;
	int rc;

	if (x->u.list.n < 3)
		return eval_error(ERR_INVALID, x->pos,
				  "bad 'let' syntax: expected (let ((name value)…) body…)");
	bl = x->u.list.v[1];
	if (bl->type == SEXP_SYMBOL)
		return eval_error(ERR_INVALID, bl->pos, "named let is not supported");
	if (bl->type != SEXP_LIST)
		return eval_error(ERR_INVALID, bl->pos,
				  "bad 'let' syntax: expected a list of (name value) bindings");
	n = bl->u.list.n;
	if (!(inner = sexp_alloc(ev->a, sizeof(*inner))) ||
	    !(inner->names = sexp_alloc(ev->a, (n ? n : 1) * sizeof(*inner->names))) ||
	    !(inner->vals = sexp_alloc(ev->a, (n ? n : 1) * sizeof(*inner->vals))))
		return nomem(ev, x->pos);
	for (size_t i = 0; i < n; i++) {
		const struct sexp *b = bl->u.list.v[i], *name;

		if (b->type != SEXP_LIST || b->u.list.n != 2 || b->u.list.v[0]->type != SEXP_SYMBOL)
			return eval_error(ERR_INVALID, b->pos,
					  "bad 'let' syntax: a binding must be (name value)");
		name = b->u.list.v[0];
		if (is_syntax(ev, name->u.str.s))
			return eval_error(ERR_INVALID, name->pos, "cannot bind '%s': it is syntax",
					  name->u.str.s);
		for (size_t j = 0; j < i; j++)
			if (inner->names[j] == name->u.str.s)
				return eval_error(ERR_INVALID, name->pos,
						  "'%s' is bound twice in 'let'", name->u.str.s);
		/* The values are computed in the outer environment. */
		if ((rc = eval_expr(ev, env, b->u.list.v[1], &inner->vals[i])) != 0)
			return rc;
		inner->names[i] = name->u.str.s;
	}
	inner->parent = env;
	inner->n = n;
	return eval_seq(ev, inner, x->u.list.v + 2, x->u.list.n - 2, x->pos, outp);
}

static int do_core(struct eval *ev, enum core c, struct eval_env *env, const struct sexp *x,
		   struct sexp **outp)
{
	struct sexp *t;
	int rc;

	switch (c) {
	case C_QUOTE:
		if (x->u.list.n != 2)
			return eval_error(ERR_INVALID, x->pos, "'quote' expects one datum, got %zu",
					  x->u.list.n - 1);
		*outp = x->u.list.v[1];
		return 0;
	case C_IF:
		if (x->u.list.n != 3 && x->u.list.n != 4)
			return eval_error(ERR_INVALID, x->pos,
					  "bad 'if' syntax: expected (if test then [else])");
		if ((rc = eval_expr(ev, env, x->u.list.v[1], &t)) != 0)
			return rc;
		if (!is_false(t))
			return eval_expr(ev, env, x->u.list.v[2], outp);
		if (x->u.list.n == 4)
			return eval_expr(ev, env, x->u.list.v[3], outp);
		return eval_mk_unspec(ev, x->pos, outp);
	case C_LAMBDA: return do_lambda(ev, env, x, outp);
	case C_LET: return do_let(ev, env, x, outp);
	case C_DEFINE:
		return eval_error(ERR_INVALID, x->pos,
				  "'define' is allowed only at top level or in a body, not "
				  "inside an expression");
	}
	return ERR_INTERNAL;
}

int eval_expr(struct eval *ev, struct eval_env *env, const struct sexp *x, struct sexp **outp)
{
	struct buf b = BUF_INIT(256);
	struct sexp *f, **args, **slot;
	const struct sexp *head;
	struct gbind *g;
	size_t n;
	int rc;

	if ((rc = step(ev, x->pos)) != 0)
		return rc;
	switch (x->type) {
	case SEXP_SYMBOL:
		if ((slot = lookup(ev, env, x->u.str.s))) {
			*outp = *slot;
			return 0;
		}
		if (is_syntax(ev, x->u.str.s))
			return eval_error(ERR_INVALID, x->pos,
					  "'%s' is syntax and cannot be used as a value",
					  x->u.str.s);
		return eval_error(ERR_INVALID, x->pos, "unbound variable '%s'", x->u.str.s);
	case SEXP_LIST: break;
	default:
		/* Literals, and values that C code put in expressions. */
		*outp = (struct sexp *)x;
		return 0;
	}
	n = x->u.list.n;
	if (n == 0)
		return eval_error(ERR_INVALID, x->pos,
				  "cannot evaluate '()' (write '() for the empty list)");
	if (ev->depth >= ev->max_depth)
		return eval_error(ERR_TOOBIG, x->pos, "evaluation nested deeper than %u",
				  ev->max_depth);
	ev->depth++;
	head = x->u.list.v[0];
	/* Syntax names cannot be bound locally: no need to look at ENV. */
	if (head->type == SEXP_SYMBOL && (g = gfind(ev, head->u.str.s)) && g->kind != G_VALUE &&
	    g->kind != G_NONE) {
		switch (g->kind) {
		case G_CORE: rc = do_core(ev, g->core, env, x, outp); break;
		case G_FORM:
			*outp = NULL;
			rc = g->form(ev, g->ctx, x, env, outp);
			if (rc == 0 && !*outp)
				rc = eval_error(ERR_INTERNAL, x->pos, "'%s' returned no value",
						g->name);
			break;
		case G_RECORD: rc = eval_record_fields(ev, g->type, x, env, outp); break;
		default: rc = ERR_INTERNAL;
		}
		goto out;
	}
	if ((rc = eval_expr(ev, env, head, &f)) != 0)
		goto out;
	if (f->type != SEXP_PROC) {
		rc = eval_error(ERR_INVALID, head->pos, "cannot call %s: it is %s, not a procedure",
				eval_show(&b, f), a_type(f->type));
		goto out;
	}
	if (!(args = sexp_alloc(ev->a, n * sizeof(*args)))) {
		rc = nomem(ev, x->pos);
		goto out;
	}
	for (size_t i = 1; i < n; i++)
		if ((rc = eval_expr(ev, env, x->u.list.v[i], &args[i - 1])) != 0)
			goto out;
	rc = apply(ev, f, args, n - 1, x, x->u.list.v + 1, outp);
out:
	ev->depth--;
	buf_release(&b);
	return rc;
}

static bool is_define(struct eval *ev, struct eval_env *env, const struct sexp *x)
{
	struct gbind *g;

	if (x->type != SEXP_LIST || x->u.list.n == 0 || x->u.list.v[0]->type != SEXP_SYMBOL)
		return false;
	g = gfind(ev, x->u.list.v[0]->u.str.s);
	return g && g->kind == G_CORE && g->core == C_DEFINE;
}

static int eval_seq(struct eval *ev, struct eval_env *env, struct sexp *const *forms, size_t n,
		    struct sexp_pos pos, struct sexp **outp)
{
	int rc;

	if (n == 0)
		return eval_mk_unspec(ev, pos, outp);
	for (size_t i = 0; i < n; i++) {
		if (is_define(ev, env, forms[i])) {
			if ((rc = step(ev, forms[i]->pos)) != 0)
				return rc;
			if (ev->depth >= ev->max_depth)
				return eval_error(ERR_TOOBIG, forms[i]->pos,
						  "evaluation nested deeper than %u",
						  ev->max_depth);
			ev->depth++;
			rc = do_define(ev, env, forms[i]);
			ev->depth--;
			if (rc != 0)
				return rc;
			if (i == n - 1)
				return eval_mk_unspec(ev, forms[i]->pos, outp);
			continue;
		}
		if ((rc = eval_expr(ev, env, forms[i], outp)) != 0)
			return rc;
	}
	return 0;
}

int eval_body(struct eval *ev, struct sexp *const *forms, size_t n, struct sexp **outp)
{
	struct sexp_pos pos = {"<empty>", 1, 1};

	return eval_seq(ev, NULL, forms, n, n ? forms[0]->pos : pos, outp);
}

int eval_file(struct eval *ev, const char *path, struct sexp **outp)
{
	struct sexp **forms;
	size_t n;
	int rc;

	if ((rc = sexp_read_file(ev->a, path, &forms, &n)) != 0)
		return rc;
	if (n == 0) {
		struct sexp_pos pos = {NULL, 1, 1};

		if (!(pos.file = sexp_strndup(ev->a, path, strlen(path))))
			return err_prefix(sexp_arena_error(ev->a), "%s", path);
		return eval_mk_unspec(ev, pos, outp);
	}
	return eval_body(ev, forms, n, outp);
}

/* ---- records ---- */

static bool field_allowed(const struct eval_record_type *type, const char *name)
{
	if (!type->fields)
		return true;
	for (const char *const *f = type->fields; *f; f++)
		if (!strcmp(*f, name))
			return true;
	return false;
}

int eval_record_fields(struct eval *ev, const struct eval_record_type *type,
		       const struct sexp *form, struct eval_env *env, struct sexp **outp)
{
	struct buf b = BUF_INIT(256);
	struct eval_field *fields;
	const struct eval_record *base = NULL;
	size_t nclauses, nf = 0, ninherited = 0;
	int rc = 0;

	if (form->type != SEXP_LIST || form->u.list.n == 0)
		return eval_error(ERR_INTERNAL, form->pos, "'%s': not a form", type->name);
	nclauses = form->u.list.n - 1;
	if (nclauses > 0) {
		const struct sexp *c = form->u.list.v[1];

		if (c->type == SEXP_LIST && c->u.list.n > 0 &&
		    c->u.list.v[0]->type == SEXP_SYMBOL &&
		    c->u.list.v[0]->u.str.s == ev->s_inherit) {
			struct sexp *v;

			if (c->u.list.n != 2)
				return eval_error(
				    ERR_INVALID, c->pos,
				    "bad 'inherit' syntax: expected (inherit record)");
			if ((rc = eval_expr(ev, env, c->u.list.v[1], &v)) != 0)
				return rc;
			if (!(base = eval_record_of(v, type))) {
				rc = eval_error(ERR_INVALID, c->u.list.v[1]->pos,
						"'inherit' expects a '%s' record, got %s",
						type->name, eval_show(&b, v));
				buf_release(&b);
				return rc;
			}
			ninherited = base->nfields;
		}
	}
	if (nclauses + ninherited > SIZE_MAX / sizeof(*fields) ||
	    !(fields = sexp_alloc(ev->a, (nclauses + ninherited + 1) * sizeof(*fields))))
		return nomem(ev, form->pos);
	if (base) {
		memcpy(fields, base->fields, ninherited * sizeof(*fields));
		nf = ninherited;
	}
	for (size_t i = base ? 2 : 1; i < form->u.list.n; i++) {
		const struct sexp *c = form->u.list.v[i];
		struct eval_field *f = NULL;
		const char *name;

		if (c->type != SEXP_LIST || c->u.list.n == 0 ||
		    c->u.list.v[0]->type != SEXP_SYMBOL) {
			rc = eval_error(ERR_INVALID, c->pos,
					"'%s' expects (field value…) clauses, got %s", type->name,
					eval_show(&b, c));
			goto out;
		}
		name = c->u.list.v[0]->u.str.s;
		if (name == ev->s_inherit) {
			rc = eval_error(ERR_INVALID, c->pos, "'inherit' must be the first clause");
			goto out;
		}
		if (!field_allowed(type, name)) {
			rc = eval_error(ERR_INVALID, c->pos, "unknown field '%s' in '%s'", name,
					type->name);
			goto out;
		}
		for (size_t j = 0; j < nf; j++) {
			if (fields[j].name != name)
				continue;
			if (j >= ninherited) {
				rc = eval_error(ERR_INVALID, c->pos,
						"field '%s' given twice in '%s' (first at "
						"%" PRIu32 ":%" PRIu32 ")",
						name, type->name, fields[j].pos.line,
						fields[j].pos.col);
				goto out;
			}
			f = &fields[j]; /* overrides the inherited one */
		}
		if (!f)
			f = &fields[nf++];
		f->name = name;
		f->pos = c->pos;
		f->n = c->u.list.n - 1;
		if (!(f->v = sexp_alloc(ev->a, (f->n ? f->n : 1) * sizeof(*f->v)))) {
			rc = nomem(ev, c->pos);
			goto out;
		}
		for (size_t k = 0; k < f->n; k++)
			if ((rc = eval_expr(ev, env, c->u.list.v[k + 1], &f->v[k])) != 0)
				goto out;
		if (f < fields + ninherited) {
			/* Keep the inherited order but mark the override as ours,
			 * so that a second clause for it is still an error. */
			struct eval_field tmp = *f;

			memmove(f, f + 1, (size_t)(fields + nf - f - 1) * sizeof(*f));
			fields[nf - 1] = tmp;
			ninherited--;
		}
	}
	rc = eval_mk_record(ev, type, form->pos, fields, nf, NULL, outp);
out:
	buf_release(&b);
	return rc;
}

/* ---- builtins ---- */

static int bi_list(struct eval *ev, void *ctx, const struct eval_args *a, struct sexp **outp)
{
	struct sexp **c = copy_vals(ev, a->v, a->n);

	if (!c)
		return nomem(ev, a->call->pos);
	return mk_list_own(ev, a->call->pos, c, a->n, outp);
}

static int bi_map(struct eval *ev, void *ctx, const struct eval_args *a, struct sexp **outp)
{
	struct buf b = BUF_INIT(256);
	size_t nl = a->n - 1, len = 0;
	struct sexp **res;
	int rc;

	if (a->v[0]->type != SEXP_PROC) {
		rc = eval_error(ERR_INVALID, eval_arg_pos(a, 0),
				"'map' expects a procedure, got %s", eval_show(&b, a->v[0]));
		buf_release(&b);
		return rc;
	}
	for (size_t j = 1; j < a->n; j++) {
		if (a->v[j]->type != SEXP_LIST) {
			rc = eval_error(ERR_INVALID, eval_arg_pos(a, j),
					"'map' expects lists, got %s", eval_show(&b, a->v[j]));
			buf_release(&b);
			return rc;
		}
		if (j == 1)
			len = a->v[j]->u.list.n;
		else if (a->v[j]->u.list.n != len)
			return eval_error(ERR_INVALID, eval_arg_pos(a, j),
					  "'map' expects lists of the same length, got %zu and %zu",
					  len, a->v[j]->u.list.n);
	}
	if (!(res = sexp_alloc(ev->a, (len ? len : 1) * sizeof(*res))))
		return nomem(ev, a->call->pos);
	for (size_t i = 0; i < len; i++) {
		struct sexp **args = sexp_alloc(ev->a, nl * sizeof(*args));

		if (!args)
			return nomem(ev, a->call->pos);
		for (size_t j = 0; j < nl; j++)
			args[j] = a->v[j + 1]->u.list.v[i];
		if ((rc = apply(ev, a->v[0], args, nl, a->call, NULL, &res[i])) != 0)
			return rc;
	}
	return mk_list_own(ev, a->call->pos, res, len, outp);
}

static int bi_string_append(struct eval *ev, void *ctx, const struct eval_args *a,
			    struct sexp **outp)
{
	struct buf b = BUF_INIT(256);
	const struct eval_strctx **ctxs = NULL, *u = NULL;
	struct sexp **strs = NULL, *v;
	size_t total = 0;
	char *p;
	int rc = 0;

	if (!(strs = sexp_alloc(ev->a, (a->n ? a->n : 1) * sizeof(*strs))) ||
	    !(ctxs = sexp_alloc(ev->a, (a->n ? a->n : 1) * sizeof(*ctxs))))
		return nomem(ev, a->call->pos);
	for (size_t i = 0; i < a->n; i++) {
		if ((rc = eval_to_string(ev, a->v[i], a->exprs ? a->exprs[i] : a->call,
					 &strs[i])) != 0)
			return rc;
		if (!strs[i]) {
			rc = eval_error(ERR_INVALID, eval_arg_pos(a, i),
					"'string-append' expects strings, got %s",
					eval_show(&b, a->v[i]));
			buf_release(&b);
			return rc;
		}
		if (strs[i]->u.str.len > EVAL_MAX_STRING - total)
			return eval_error(ERR_TOOBIG, a->call->pos, "string longer than %u bytes",
					  EVAL_MAX_STRING);
		total += strs[i]->u.str.len;
		ctxs[i] = strs[i]->u.str.ctx;
	}
	if ((rc = ctx_union(ev, a->call->pos, ctxs, a->n, &u)) != 0)
		return rc;
	if (!(v = mk(ev, SEXP_STRING, a->call->pos)) || !(p = sexp_alloc(ev->a, total + 1)))
		return nomem(ev, a->call->pos);
	v->u.str.s = p;
	v->u.str.len = total;
	v->u.str.ctx = u;
	for (size_t i = 0; i < a->n; i++) {
		memcpy(p, strs[i]->u.str.s, strs[i]->u.str.len);
		p += strs[i]->u.str.len;
	}
	*p = '\0';
	*outp = v;
	return 0;
}

static int bi_number_to_string(struct eval *ev, void *ctx, const struct eval_args *a,
			       struct sexp **outp)
{
	struct buf b = BUF_INIT(256);
	const struct sexp *x = a->v[0];
	int64_t radix = 10;
	int rc;

	if (x->type != SEXP_INT && x->type != SEXP_REAL) {
		rc = eval_error(ERR_INVALID, eval_arg_pos(a, 0),
				"'number->string' expects a number, got %s", eval_show(&b, x));
		buf_release(&b);
		return rc;
	}
	if (a->n == 2) {
		if (a->v[1]->type != SEXP_INT || (a->v[1]->u.i != 2 && a->v[1]->u.i != 8 &&
						  a->v[1]->u.i != 10 && a->v[1]->u.i != 16)) {
			rc =
			    eval_error(ERR_INVALID, eval_arg_pos(a, 1),
				       "'number->string' expects a radix of 2, 8, 10 or 16, got %s",
				       eval_show(&b, a->v[1]));
			buf_release(&b);
			return rc;
		}
		radix = a->v[1]->u.i;
		if (radix != 10 && x->type == SEXP_REAL)
			return eval_error(ERR_INVALID, eval_arg_pos(a, 1),
					  "'number->string' writes reals in radix 10 only");
	}
	if (radix == 10) {
		rc = sexp_print(&b, x, 0);
	} else {
		/* The magnitude as unsigned, so that INT64_MIN works too. */
		uint64_t m = x->u.i < 0 ? 0 - (uint64_t)x->u.i : (uint64_t)x->u.i;
		char digits[65], *d = digits + sizeof(digits);

		*--d = '\0';
		do {
			*--d = "0123456789abcdef"[m % (uint64_t)radix];
			m /= (uint64_t)radix;
		} while (m);
		rc = buf_printf(&b, "%s%s", x->u.i < 0 ? "-" : "", d);
	}
	if (rc == 0)
		rc = eval_mk_string(ev, a->call->pos, b.data, b.len, NULL, outp);
	buf_release(&b);
	return rc;
}

static int bi_getenv(struct eval *ev, void *ctx, const struct eval_args *a, struct sexp **outp)
{
	struct buf b = BUF_INIT(256);
	const char *val;
	int rc;

	if (a->v[0]->type != SEXP_STRING) {
		rc = eval_error(ERR_INVALID, eval_arg_pos(a, 0),
				"'getenv' expects a string, got %s", eval_show(&b, a->v[0]));
		buf_release(&b);
		return rc;
	}
	if (!(val = getenv(a->v[0]->u.str.s)))
		return eval_mk_bool(ev, a->call->pos, false, outp);
	return eval_mk_string(ev, a->call->pos, val, strlen(val), NULL, outp);
}

/* ---- setup ---- */

struct eval *eval_new(struct sexp_arena *a, const struct eval_limits *lim)
{
	static const struct {
		const char *name;
		enum core core;
	} cores[] = {
	    {"quote", C_QUOTE}, {"define", C_DEFINE}, {"lambda", C_LAMBDA},
	    {"let", C_LET},     {"if", C_IF},
	};
	static const struct {
		const char *name;
		int min, max;
		eval_builtin_fn fn;
	} builtins[] = {
	    {"list", 0, -1, bi_list},
	    {"map", 2, -1, bi_map},
	    {"string-append", 0, -1, bi_string_append},
	    {"number->string", 1, 2, bi_number_to_string},
	    {"getenv", 1, 1, bi_getenv},
	};
	struct eval *ev = calloc(1, sizeof(*ev));

	if (!ev) {
		err_set(ERR_NOMEM, "out of memory");
		return NULL;
	}
	ev->a = a;
	ev->max_steps = lim && lim->max_steps ? lim->max_steps : EVAL_DEFAULT_STEPS;
	ev->max_depth = lim && lim->max_depth ? lim->max_depth : EVAL_DEFAULT_DEPTH;
	ev->ntab = 64;
	if (!(ev->tab = calloc(ev->ntab, sizeof(*ev->tab)))) {
		err_set(ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (!(ev->s_inherit = sexp_intern(a, "inherit", 7)))
		goto fail;
	for (size_t i = 0; i < sizeof(cores) / sizeof(cores[0]); i++) {
		const char *n = sexp_intern(a, cores[i].name, strlen(cores[i].name));
		struct gbind *g;

		if (!n || gslot(ev, n, &g) != 0)
			goto fail;
		g->kind = G_CORE;
		g->core = cores[i].core;
	}
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		if (eval_register_builtin(ev, builtins[i].name, builtins[i].min, builtins[i].max,
					  builtins[i].fn, NULL) != 0)
			goto fail;
	return ev;
fail:
	eval_free(ev);
	return NULL;
}

void eval_free(struct eval *ev)
{
	if (!ev)
		return;
	free(ev->tab);
	free(ev);
}

struct sexp_arena *eval_arena(struct eval *ev)
{
	return ev->a;
}

uint64_t eval_steps(const struct eval *ev)
{
	return ev->steps;
}
