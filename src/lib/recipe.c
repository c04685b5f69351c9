/* recipe.c — recipes: the derivation, local-file, plain-file and output
 * forms on top of eval.c, and writing what a recipe's value needs. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "buf.h"
#include "err.h"
#include "hash.h"
#include "recipe.h"
#include "sexp.h"
#include "store.h"
#include "storepath.h"

/* The evaluator takes about 1 KiB of stack per nested evaluation, several
 * times that with sanitizers (the default depth, 1000, through the
 * derivation form, passes with ASan in 2 MiB); 64 MiB leaves room for ten
 * times the default depth.  It is address space: only touched pages are
 * used. */
#define RECIPE_STACK (64u << 20)

/* A derivation, local-file or plain-file made by the recipe.  Records
 * point at these (their data); two records with the same path share one. */
struct obj {
	enum recipe_kind kind;
	char *path;
	char *name;
	struct drv *drv; /* RECIPE_DRV */
	char **outs;     /* RECIPE_DRV: output names as listed (the default first) */
	size_t nouts;
	char *text; /* RECIPE_DRV, RECIPE_TEXT */
	size_t len;
	char **refs; /* RECIPE_DRV, RECIPE_TEXT: sorted */
	size_t nrefs;
	char *src;         /* RECIPE_LOCAL */
	struct obj **deps; /* the objects it refers to, each once */
	size_t ndeps, capdeps;
	unsigned long stamp; /* for deduplicating deps */
	bool listed;         /* in the result's items */
};

struct rctx {
	struct eval *ev;
	const char *storedir;
	char *dir; /* of the recipe file, for relative local-file paths */
	struct drv_hasher *hasher;
	struct obj **objs; /* every object, owned */
	size_t nobjs, capobjs;
	struct obj **tab; /* objs by path (open addressing) */
	size_t tabcap, tabused;
	unsigned long stamp;
};

static int drv_to_string(struct eval *ev, const struct sexp *rec, const struct sexp *where,
			 struct sexp **strp);
static int file_to_string(struct eval *ev, const struct sexp *rec, const struct sexp *where,
			  struct sexp **strp);

static const struct eval_record_type drv_type = {"derivation", NULL, drv_to_string};
static const struct eval_record_type local_type = {"local-file", NULL, file_to_string};
static const struct eval_record_type plain_type = {"plain-file", NULL, file_to_string};

/* ---- Objects ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void obj_free(struct obj *o)
{
	if (!o)
		return;
	free(o->path);
	free(o->name);
	drv_free(o->drv);
	strv_free(o->outs, o->nouts);
	free(o->text);
	strv_free(o->refs, o->nrefs);
	free(o->src);
	free(o->deps);
	free(o);
}

static size_t hash_str(const char *s)
{
	uint64_t x = 14695981039346656037ull;

	for (; *s; s++)
		x = (x ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)x;
}

static struct obj *obj_find(struct rctx *c, const char *path)
{
	if (!c->tabcap)
		return NULL;
	for (size_t i = hash_str(path) & (c->tabcap - 1); c->tab[i]; i = (i + 1) & (c->tabcap - 1))
		if (!strcmp(c->tab[i]->path, path))
			return c->tab[i];
	return NULL;
}

/* Takes O (freed on failure) into C: the caller has checked that no object
 * has its path. */
static int obj_keep(struct rctx *c, struct obj *o)
{
	size_t i;

	if (c->nobjs == c->capobjs) {
		size_t ncap = c->capobjs ? 2 * c->capobjs : 64;
		struct obj **nv = realloc(c->objs, ncap * sizeof(*nv));

		if (!nv)
			goto nomem;
		c->objs = nv;
		c->capobjs = ncap;
	}
	if (c->tabused + 1 > c->tabcap / 4 * 3) {
		size_t ncap = c->tabcap ? 2 * c->tabcap : 128;
		struct obj **nt = calloc(ncap, sizeof(*nt));

		if (!nt)
			goto nomem;
		for (size_t j = 0; j < c->tabcap; j++) {
			if (!c->tab[j])
				continue;
			for (i = hash_str(c->tab[j]->path) & (ncap - 1); nt[i];
			     i = (i + 1) & (ncap - 1))
				;
			nt[i] = c->tab[j];
		}
		free(c->tab);
		c->tab = nt;
		c->tabcap = ncap;
	}
	for (i = hash_str(o->path) & (c->tabcap - 1); c->tab[i]; i = (i + 1) & (c->tabcap - 1))
		;
	c->tab[i] = o;
	c->tabused++;
	c->objs[c->nobjs++] = o;
	return 0;
nomem:
	obj_free(o);
	return err_set(ERR_NOMEM, "out of memory");
}

/* Records that O refers to DEP (once). */
static int obj_dep(struct obj *o, struct obj *dep)
{
	if (dep->stamp == o->stamp)
		return 0;
	if (o->ndeps == o->capdeps) {
		size_t ncap = o->capdeps ? 2 * o->capdeps : 8;
		struct obj **nv = realloc(o->deps, ncap * sizeof(*nv));

		if (!nv)
			return err_set(ERR_NOMEM, "out of memory");
		o->deps = nv;
		o->capdeps = ncap;
	}
	o->deps[o->ndeps++] = dep;
	dep->stamp = o->stamp;
	return 0;
}

/* The object of a context entry's record. */
static struct obj *obj_of(const struct sexp *rec)
{
	return rec->u.rec->data;
}

static bool is_file(const struct sexp *rec)
{
	return rec->u.rec->type == &local_type || rec->u.rec->type == &plain_type;
}

/* The record of a new object (or of the one already made with its path:
 * O is then freed). */
static int obj_record(struct rctx *c, struct obj *o, const struct eval_record_type *type,
		      struct sexp_pos pos, struct sexp **outp)
{
	struct obj *old = obj_find(c, o->path);
	int r;

	if (old && old->kind == o->kind) {
		obj_free(o);
		o = old;
	} else if (old) {
		obj_free(o);
		return eval_error(ERR_INTERNAL, pos, "two kinds of items with the path '%s'",
				  old->path);
	} else if ((r = obj_keep(c, o)) != 0) {
		return eval_error(r, pos, "%s", err_msg());
	}
	return eval_mk_record(c->ev, type, pos, NULL, 0, o, outp);
}

/* ---- Strings ---- */

/* The path of output NAME of the derivation O, or NULL. */
static const char *out_path(const struct obj *o, const char *name)
{
	long i = drv_output_index(o->drv, name);

	return i < 0 ? NULL : o->drv->outputs[i].path;
}

static int drv_to_string(struct eval *ev, const struct sexp *rec, const struct sexp *where,
			 struct sexp **strp)
{
	const struct obj *o = obj_of(rec);
	const struct eval_strctx *ctx = NULL;
	const char *p = out_path(o, o->outs[0]);
	int r;

	if ((r = eval_strctx_add(ev, &ctx, rec, o->outs[0])) != 0)
		return r;
	return eval_mk_string(ev, where->pos, p, strlen(p), ctx, strp);
}

static int file_to_string(struct eval *ev, const struct sexp *rec, const struct sexp *where,
			  struct sexp **strp)
{
	const struct obj *o = obj_of(rec);
	const struct eval_strctx *ctx = NULL;
	int r;

	if ((r = eval_strctx_add(ev, &ctx, rec, NULL)) != 0)
		return r;
	return eval_mk_string(ev, where->pos, o->path, strlen(o->path), ctx, strp);
}

/* ---- derivation ---- */

enum {
	F_NAME,
	F_SYSTEM,
	F_BUILDER,
	F_ARGS,
	F_OUTPUTS,
	F_ENV,
	F_FEATURES,
	F_PREFER_LOCAL,
	F_HASH,
	F_COUNT
};
static const char *const field_names[F_COUNT] = {
    "name", "system", "builder", "args", "outputs", "env", "features", "prefer-local", "hash",
};

/* What one (derivation …) form is made of while it is evaluated. */
struct dform {
	struct rctx *c;
	struct obj *o; /* its object; o->drv gets the inputs as they come */
	struct buf show;
	const struct sexp *clause[F_COUNT]; /* by field, for "given twice" */
	const char *name, *system, *builder;
	const struct sexp *name_x;
	char **args;
	size_t nargs, capargs;
	bool has_outputs;
	struct sexp_pos outputs_pos;
	const char *features; /* space-separated, or NULL */
	int prefer_local;     /* -1: not given */
	/* hash */
	const char *hash_algo, *hash_str;
	bool recursive;
	struct sexp_pos hash_pos;
	/* env as written */
	struct {
		const char *k, *v;
		struct sexp_pos pos;
	} * env;
	size_t nenv, capenv;
};

/* Adds the inputs STR refers to (its context) to the derivation being
 * made. */
static int take_context(struct dform *f, const struct sexp *str, struct sexp_pos pos)
{
	const struct eval_strctx *ctx = str->u.str.ctx;
	struct obj *o = f->o;
	int r;

	if (!ctx)
		return 0;
	for (size_t i = 0; i < ctx->n; i++) {
		struct obj *dep = obj_of(ctx->e[i].rec);

		if (is_file(ctx->e[i].rec))
			r = drv_add_src(o->drv, dep->path);
		else
			r = drv_add_input(o->drv, dep->path,
					  ctx->e[i].sub ? ctx->e[i].sub : dep->outs[0]);
		if (r == 0)
			r = obj_dep(o, dep);
		if (r != 0)
			return eval_error(r, pos, "%s",
					  r == ERR_NOMEM ? "out of memory" : err_msg());
	}
	return 0;
}

/* Appends V, a value for the environment or the arguments, to B as Nix
 * turns attribute values into strings: strings as they are (a derivation
 * or a file as its path), integers in decimal, #t as "1" and #f as "",
 * and with JOIN the elements of a list separated by spaces. */
static int coerce(struct dform *f, const struct sexp *v, const char *field, bool join,
		  struct buf *b)
{
	struct sexp *s;
	int r;

	if ((r = eval_to_string(f->c->ev, v, v, &s)) != 0)
		return r;
	if (s) {
		if ((r = take_context(f, s, v->pos)) != 0)
			return r;
		r = buf_put(b, s->u.str.s, s->u.str.len);
	} else if (v->type == SEXP_INT) {
		r = buf_printf(b, "%" PRId64, v->u.i);
	} else if (v->type == SEXP_BOOL) {
		r = v->u.b ? buf_putc(b, '1') : 0;
	} else if (v->type == SEXP_LIST && join) {
		for (size_t i = 0; i < v->u.list.n; i++) {
			if (i && (r = buf_putc(b, ' ')) != 0)
				break;
			if ((r = coerce(f, v->u.list.v[i], field, false, b)) != 0)
				return r;
		}
	} else {
		return eval_error(ERR_INVALID, v->pos,
				  "'%s' expects strings, integers or booleans, got %s", field,
				  eval_show(&f->show, v));
	}
	if (r != 0)
		return eval_error(r, v->pos, "%s",
				  r == ERR_TOOBIG ? "string too long" : "out of memory");
	return 0;
}

/* A string value in the arena (with its context taken). */
static int want_string(struct dform *f, const struct sexp *v, const char *field, bool nonempty,
		       const char **sp)
{
	struct sexp *s;
	int r;

	if ((r = eval_to_string(f->c->ev, v, v, &s)) != 0)
		return r;
	if (!s)
		return eval_error(ERR_INVALID, v->pos, "'%s' expects a string, got %s", field,
				  eval_show(&f->show, v));
	if (nonempty && s->u.str.len == 0)
		return eval_error(ERR_INVALID, v->pos, "'%s' must not be empty", field);
	if ((r = take_context(f, s, v->pos)) != 0)
		return r;
	*sp = s->u.str.s;
	return 0;
}

static int arity(const struct sexp *clause, const char *field, size_t want)
{
	size_t got = clause->u.list.n - 1;

	if (got == want)
		return 0;
	return eval_error(ERR_INVALID, clause->pos, "'%s' expects %zu value%s, got %zu", field,
			  want, want == 1 ? "" : "s", got);
}

static int push_arg(struct dform *f, char *s, struct sexp_pos pos)
{
	if (f->nargs == f->capargs) {
		size_t ncap = f->capargs ? 2 * f->capargs : 8;
		char **nv = realloc(f->args, ncap * sizeof(*nv));

		if (!nv) {
			free(s);
			return eval_error(ERR_NOMEM, pos, "out of memory");
		}
		f->args = nv;
		f->capargs = ncap;
	}
	f->args[f->nargs++] = s;
	return 0;
}

/* The values of CLAUSE, with lists spliced in (one level): (args "-c" x)
 * and (args (list "-c" x)) are the same.  Calls FN on each. */
static int each_value(struct eval *ev, struct eval_env *env, const struct sexp *clause,
		      int (*fn)(struct dform *, const struct sexp *), struct dform *f)
{
	struct sexp *v;
	int r;

	for (size_t i = 1; i < clause->u.list.n; i++) {
		if ((r = eval_expr(ev, env, clause->u.list.v[i], &v)) != 0)
			return r;
		if (v->type != SEXP_LIST) {
			if ((r = fn(f, v)) != 0)
				return r;
			continue;
		}
		for (size_t j = 0; j < v->u.list.n; j++)
			if ((r = fn(f, v->u.list.v[j])) != 0)
				return r;
	}
	return 0;
}

static int one_arg(struct dform *f, const struct sexp *v)
{
	struct buf b = BUF_INIT(EVAL_MAX_STRING);
	int r;

	if (v->type == SEXP_LIST)
		return eval_error(ERR_INVALID, v->pos,
				  "'args' expects strings (or one list of them), got %s",
				  eval_show(&f->show, v));
	if ((r = coerce(f, v, "args", false, &b)) != 0) {
		buf_release(&b);
		return r;
	}
	return push_arg(f, buf_detach(&b, NULL), v->pos);
}

static int one_output(struct dform *f, const struct sexp *v)
{
	struct obj *o = f->o;
	char **nv;
	int r;

	if (v->type != SEXP_STRING || v->u.str.ctx)
		return eval_error(ERR_INVALID, v->pos, "'outputs' expects output names, got %s",
				  eval_show(&f->show, v));
	if ((r = drv_add_output(o->drv, v->u.str.s)) != 0) {
		if (r == ERR_EXISTS)
			return eval_error(ERR_INVALID, v->pos, "output '%s' is given twice",
					  v->u.str.s);
		if (r == ERR_INVALID)
			return eval_error(ERR_INVALID, v->pos, "'%s' is not a valid output name",
					  v->u.str.s);
		return eval_error(r, v->pos, "out of memory");
	}
	if (!(nv = realloc(o->outs, (o->nouts + 1) * sizeof(*nv))))
		return eval_error(ERR_NOMEM, v->pos, "out of memory");
	o->outs = nv;
	if (!(o->outs[o->nouts] = strdup(v->u.str.s)))
		return eval_error(ERR_NOMEM, v->pos, "out of memory");
	o->nouts++;
	return 0;
}

static int one_feature(struct dform *f, const struct sexp *v)
{
	struct sexp_arena *a = eval_arena(f->c->ev);
	size_t old = f->features ? strlen(f->features) : 0;
	char *p;

	if (v->type != SEXP_STRING || v->u.str.ctx || v->u.str.len == 0 ||
	    strpbrk(v->u.str.s, " \t\n"))
		return eval_error(
		    ERR_INVALID, v->pos,
		    "'features' expects feature names (strings without spaces), got %s",
		    eval_show(&f->show, v));
	if (old + v->u.str.len + 2 > EVAL_MAX_STRING)
		return eval_error(ERR_TOOBIG, v->pos, "'features' is too long");
	if (!(p = sexp_alloc(a, old + v->u.str.len + 2)))
		return eval_error(sexp_arena_error(a), v->pos, "out of memory");
	if (old) {
		memcpy(p, f->features, old);
		p[old++] = ' ';
	}
	memcpy(p + old, v->u.str.s, v->u.str.len + 1);
	f->features = p;
	return 0;
}

/* (env ("K" V) …): each entry a pair, not a call. */
static int field_env(struct dform *f, const struct sexp *clause, struct eval_env *env)
{
	struct eval *ev = f->c->ev;
	int r;

	for (size_t i = 1; i < clause->u.list.n; i++) {
		const struct sexp *p = clause->u.list.v[i];
		struct buf b = BUF_INIT(EVAL_MAX_STRING);
		struct sexp *k, *v;
		char *val;

		if (p->type != SEXP_LIST || p->u.list.n != 2)
			return eval_error(ERR_INVALID, p->pos,
					  "'env' expects (NAME VALUE) pairs, got %s",
					  eval_show(&f->show, p));
		if ((r = eval_expr(ev, env, p->u.list.v[0], &k)) != 0)
			return r;
		if (k->type != SEXP_STRING || k->u.str.ctx)
			return eval_error(ERR_INVALID, p->u.list.v[0]->pos,
					  "an environment variable's name must be a string, got %s",
					  eval_show(&f->show, k));
		if (k->u.str.len == 0 || strchr(k->u.str.s, '='))
			return eval_error(ERR_INVALID, p->u.list.v[0]->pos,
					  "bad environment variable name %s",
					  eval_show(&f->show, k));
		if ((r = eval_expr(ev, env, p->u.list.v[1], &v)) != 0)
			return r;
		if ((r = coerce(f, v, "env", true, &b)) != 0) {
			buf_release(&b);
			return r;
		}
		val = sexp_strndup(eval_arena(ev), b.data ? b.data : "", b.len);
		buf_release(&b);
		if (!val)
			return eval_error(sexp_arena_error(eval_arena(ev)), p->pos,
					  "out of memory");
		for (size_t j = 0; j < f->nenv; j++)
			if (!strcmp(f->env[j].k, k->u.str.s))
				return eval_error(ERR_INVALID, p->pos,
						  "environment variable '%s' given twice (first at "
						  "%" PRIu32 ":%" PRIu32 ")",
						  k->u.str.s, f->env[j].pos.line,
						  f->env[j].pos.col);
		if (f->nenv == f->capenv) {
			size_t ncap = f->capenv ? 2 * f->capenv : 8;
			void *nv = realloc(f->env, ncap * sizeof(*f->env));

			if (!nv)
				return eval_error(ERR_NOMEM, p->pos, "out of memory");
			f->env = nv;
			f->capenv = ncap;
		}
		f->env[f->nenv].k = k->u.str.s;
		f->env[f->nenv].v = val;
		f->env[f->nenv].pos = p->pos;
		f->nenv++;
	}
	return 0;
}

struct algo {
	const char *name;
	size_t len;
};
static const struct algo algos[] = {{"md5", 16}, {"sha1", 20}, {"sha256", 32}, {"sha512", 64}};

static const struct algo *algo_find(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(algos) / sizeof(algos[0]); i++)
		if (strlen(algos[i].name) == n && !strncmp(algos[i].name, s, n))
			return &algos[i];
	return NULL;
}

/* Decodes the hash S as Nix reads outputHash: with an algorithm ALGO (or
 * NULL), base16, nix32 or base64 of its length, optionally "<algo>:"
 * prefixed, or SRI "<algo>-<base64>".  Without ALGO only the prefixed and
 * SRI forms say which algorithm it is.  *AP gets the algorithm; OUT
 * (64 bytes) the digest. */
static int hash_decode(const char *algo, const char *s, const struct algo **ap, uint8_t *out)
{
	const struct algo *a = NULL, *given = NULL;
	const char *p = s + strcspn(s, ":-");
	size_t n;

	if (algo && !(given = algo_find(algo, strlen(algo))))
		return err_set(ERR_INVALID,
			       "unknown hash algorithm '%s' (expected md5, sha1, sha256 or sha512)",
			       algo);
	if (*p && (a = algo_find(s, (size_t)(p - s)))) {
		if (given && given != a)
			return err_set(ERR_INVALID, "hash '%s' is a %s hash, not %s", s, a->name,
				       given->name);
		if (*p == '-') {
			*ap = a;
			return hash_from_base64(p + 1, strlen(p + 1), out, a->len);
		}
		s = p + 1;
	} else if (!(a = given)) {
		return err_set(ERR_INVALID,
			       "hash '%s' does not say its algorithm: give one, as in "
			       "(hash \"sha256\" \"…\"), or use the SRI form \"sha256-…\"",
			       s);
	}
	*ap = a;
	n = strlen(s);
	if (n == hash_base16_len(a->len))
		return hash_from_base16(s, n, out, a->len);
	if (n == hash_nix32_len(a->len))
		return hash_from_nix32(s, n, out, a->len);
	if (n == hash_base64_len(a->len))
		return hash_from_base64(s, n, out, a->len);
	return err_set(ERR_INVALID,
		       "hash '%s' has the length of no encoding of a %s hash (%zu, %zu or %zu "
		       "characters)",
		       s, a->name, hash_base16_len(a->len), hash_nix32_len(a->len),
		       hash_base64_len(a->len));
}

/* (hash [ALGO] HASH [#:recursive BOOL]) */
static int field_hash(struct dform *f, const struct sexp *clause, struct eval_env *env)
{
	struct eval *ev = f->c->ev;
	const struct sexp *strs[2], *xs[2];
	size_t nstr = 0;
	struct sexp *v;
	int r;

	for (size_t i = 1; i < clause->u.list.n; i++) {
		const struct sexp *x = clause->u.list.v[i];

		if ((r = eval_expr(ev, env, x, &v)) != 0)
			return r;
		if (v->type == SEXP_KEYWORD) {
			if (strcmp(v->u.str.s, "recursive") != 0)
				return eval_error(ERR_INVALID, x->pos,
						  "unknown keyword #:%s in 'hash' (expected "
						  "#:recursive)",
						  v->u.str.s);
			if (i + 1 >= clause->u.list.n)
				return eval_error(ERR_INVALID, x->pos,
						  "#:recursive needs a value, #t or #f");
			x = clause->u.list.v[++i];
			if ((r = eval_expr(ev, env, x, &v)) != 0)
				return r;
			if (v->type != SEXP_BOOL)
				return eval_error(ERR_INVALID, x->pos,
						  "#:recursive expects #t or #f, got %s",
						  eval_show(&f->show, v));
			f->recursive = v->u.b;
			continue;
		}
		if (v->type != SEXP_STRING || v->u.str.ctx)
			return eval_error(ERR_INVALID, x->pos, "'hash' expects strings, got %s",
					  eval_show(&f->show, v));
		if (nstr == 2)
			return eval_error(ERR_INVALID, x->pos,
					  "'hash' expects [ALGORITHM] HASH [#:recursive BOOL], "
					  "got a third string");
		xs[nstr] = x;
		strs[nstr++] = v;
	}
	if (nstr == 0)
		return eval_error(
		    ERR_INVALID, clause->pos,
		    "'hash' expects [ALGORITHM] HASH [#:recursive BOOL], got no hash");
	f->hash_algo = nstr == 2 ? strs[0]->u.str.s : NULL;
	f->hash_str = strs[nstr - 1]->u.str.s;
	f->hash_pos = xs[nstr - 1]->pos;
	if (f->hash_algo && !algo_find(f->hash_algo, strlen(f->hash_algo)))
		return eval_error(ERR_INVALID, xs[0]->pos,
				  "unknown hash algorithm '%s' (expected md5, sha1, sha256 or "
				  "sha512)",
				  f->hash_algo);
	return 0;
}

/* Evaluates one clause of the form. */
static int field(struct dform *f, int which, const struct sexp *clause, struct eval_env *env)
{
	struct eval *ev = f->c->ev;
	const char *fname = field_names[which];
	struct sexp *v;
	int r;

	switch (which) {
	case F_NAME:
	case F_SYSTEM:
	case F_BUILDER: {
		const char **dst = which == F_NAME     ? &f->name
				   : which == F_SYSTEM ? &f->system
						       : &f->builder;

		if ((r = arity(clause, fname, 1)) != 0 ||
		    (r = eval_expr(ev, env, clause->u.list.v[1], &v)) != 0 ||
		    (r = want_string(f, v, fname, true, dst)) != 0)
			return r;
		if (which == F_NAME)
			f->name_x = v;
		return 0;
	}
	case F_ARGS: return each_value(ev, env, clause, one_arg, f);
	case F_OUTPUTS:
		if (clause->u.list.n < 2)
			return eval_error(ERR_INVALID, clause->pos,
					  "'outputs' expects at least one output name");
		f->has_outputs = true;
		f->outputs_pos = clause->pos;
		if ((r = each_value(ev, env, clause, one_output, f)) != 0)
			return r;
		if (f->o->nouts == 0)
			return eval_error(ERR_INVALID, clause->pos,
					  "'outputs' expects at least one output name");
		return 0;
	case F_ENV: return field_env(f, clause, env);
	case F_FEATURES:
		if ((r = each_value(ev, env, clause, one_feature, f)) != 0)
			return r;
		if (!f->features)
			f->features = "";
		return 0;
	case F_PREFER_LOCAL:
		if ((r = arity(clause, fname, 1)) != 0 ||
		    (r = eval_expr(ev, env, clause->u.list.v[1], &v)) != 0)
			return r;
		if (v->type != SEXP_BOOL)
			return eval_error(ERR_INVALID, v->pos,
					  "'prefer-local' expects #t or #f, got %s",
					  eval_show(&f->show, v));
		f->prefer_local = v->u.b;
		return 0;
	case F_HASH: return field_hash(f, clause, env);
	}
	return eval_error(ERR_INTERNAL, clause->pos, "field %d?", which);
}

static bool reserved_env(const struct dform *f, const char *k)
{
	static const char *const always[] = {
	    "name",           "system",         "builder",           "outputHash",
	    "outputHashAlgo", "outputHashMode", "__structuredAttrs", "__json",
	    "__ignoreNulls",
	};

	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		if (!strcmp(k, always[i]))
			return true;
	if (f->has_outputs && !strcmp(k, "outputs"))
		return true;
	if (f->features && !strcmp(k, "requiredSystemFeatures"))
		return true;
	if (f->prefer_local >= 0 && !strcmp(k, "preferLocalBuild"))
		return true;
	return drv_output_index(f->o->drv, k) >= 0;
}

/* Puts together the derivation from the evaluated fields, as
 * builtins.derivation does from the same attributes. */
static int assemble(struct dform *f, const struct sexp *form)
{
	struct rctx *c = f->c;
	struct obj *o = f->o;
	struct drv *d = o->drv;
	struct buf b = BUF_INIT(SIZE_MAX / 2);
	uint8_t h[SHA256_LEN];
	const char *what = NULL;
	int r;

	if (!f->name)
		what = "name";
	else if (!f->system)
		what = "system";
	else if (!f->builder)
		what = "builder";
	if (what)
		return eval_error(ERR_INVALID, form->pos, "'derivation' needs a '%s' field", what);
	if (storepath_check_name(f->name, strlen(f->name)) != 0)
		return eval_error(ERR_INVALID, f->name_x->pos, "bad derivation name: %s",
				  err_msg());
	if (strlen(f->name) > 4 && !strcmp(f->name + strlen(f->name) - 4, ".drv"))
		return eval_error(ERR_INVALID, f->name_x->pos,
				  "a derivation's name must not end in '.drv': '%s'", f->name);
	if (strlen(f->name) + 4 > STOREPATH_NAME_MAX)
		return eval_error(ERR_INVALID, f->name_x->pos,
				  "derivation name '%s' is too long (at most %d characters)",
				  f->name, STOREPATH_NAME_MAX - 4);
	if (!o->nouts && (r = one_output(f, &(struct sexp){.type = SEXP_STRING,
							   .pos = form->pos,
							   .u.str = {"out", 3, NULL}})) != 0)
		return r;
	if (f->hash_str && (o->nouts != 1 || strcmp(o->outs[0], "out") != 0))
		return eval_error(ERR_INVALID, f->outputs_pos,
				  "a fixed-output derivation (with 'hash') has the one output "
				  "\"out\"");
	for (size_t i = 0; i < f->nenv; i++)
		if (reserved_env(f, f->env[i].k))
			return eval_error(ERR_INVALID, f->env[i].pos,
					  "environment variable '%s' is set by 'derivation' itself",
					  f->env[i].k);
	if ((r = drv_set_name(d, f->name)) != 0 || (r = drv_set_system(d, f->system)) != 0 ||
	    (r = drv_set_builder(d, f->builder)) != 0)
		goto fail;
	for (size_t i = 0; i < f->nargs; i++)
		if ((r = drv_add_arg(d, f->args[i])) != 0)
			goto fail;
	if ((r = drv_set_env(d, "name", f->name)) != 0 ||
	    (r = drv_set_env(d, "system", f->system)) != 0 ||
	    (r = drv_set_env(d, "builder", f->builder)) != 0)
		goto fail;
	if (f->has_outputs) {
		for (size_t i = 0; i < o->nouts; i++)
			if ((i && (r = buf_putc(&b, ' ')) != 0) ||
			    (r = buf_puts(&b, o->outs[i])) != 0)
				goto fail;
		if ((r = drv_set_env(d, "outputs", b.data)) != 0)
			goto fail;
	}
	if (f->features && (r = drv_set_env(d, "requiredSystemFeatures", f->features)) != 0)
		goto fail;
	if (f->prefer_local >= 0 &&
	    (r = drv_set_env(d, "preferLocalBuild", f->prefer_local ? "1" : "")) != 0)
		goto fail;
	for (size_t i = 0; i < f->nenv; i++)
		if ((r = drv_set_env(d, f->env[i].k, f->env[i].v)) != 0)
			goto fail;
	if (f->hash_str) {
		const struct algo *a = &algos[0];
		uint8_t digest[64];
		char hex[129], algo[16];

		if ((r = hash_decode(f->hash_algo, f->hash_str, &a, digest)) != 0)
			return eval_error(ERR_INVALID, f->hash_pos, "%s", err_msg());
		hash_to_base16(digest, a->len, hex);
		snprintf(algo, sizeof(algo), "%s%s", f->recursive ? "r:" : "", a->name);
		free(d->outputs[0].hash_algo);
		free(d->outputs[0].hash);
		d->outputs[0].hash_algo = strdup(algo);
		d->outputs[0].hash = strdup(hex);
		if (!d->outputs[0].hash_algo || !d->outputs[0].hash) {
			r = ERR_NOMEM;
			goto fail;
		}
		if ((r = drv_set_env(d, "outputHash", f->hash_str)) != 0 ||
		    (f->hash_algo && (r = drv_set_env(d, "outputHashAlgo", f->hash_algo)) != 0) ||
		    (f->recursive && (r = drv_set_env(d, "outputHashMode", "recursive")) != 0))
			goto fail;
	}
	if ((r = drv_fill_outputs(c->hasher, d)) != 0 ||
	    (r = drv_hash_modulo(c->hasher, d, false, h)) != 0 ||
	    (r = drv_store_path(d, c->storedir, &o->path)) != 0)
		goto fail_msg;
	buf_reset(&b);
	if ((r = drv_print(d, &b)) != 0)
		goto fail;
	o->text = buf_detach(&b, &o->len);
	if (!(o->name = malloc(strlen(f->name) + 5)))
		goto fail;
	strcpy(o->name, f->name);
	strcat(o->name, ".drv");
	for (size_t i = 0; i < d->ninputs + d->nsrcs; i++) {
		/* drv_store_path's references: inputs and sources, sorted. */
		const char *p = i < d->ninputs ? d->inputs[i].path : d->srcs[i - d->ninputs];
		char **nv = realloc(o->refs, (o->nrefs + 1) * sizeof(*nv));

		if (!nv || !(nv[o->nrefs] = strdup(p))) {
			if (nv)
				o->refs = nv;
			r = ERR_NOMEM;
			goto fail;
		}
		o->refs = nv;
		o->nrefs++;
	}
	if (o->nrefs)
		qsort(o->refs, o->nrefs, sizeof(*o->refs), cmp_str);
	if ((r = drv_hasher_put(c->hasher, o->path, h)) != 0)
		goto fail;
	buf_release(&b);
	return 0;
fail:
	buf_release(&b);
	return eval_error(r, form->pos, "%s", r == ERR_NOMEM ? "out of memory" : err_msg());
fail_msg:
	buf_release(&b);
	return eval_error(r, form->pos, "%s", err_msg());
}

static int form_derivation(struct eval *ev, void *ctxp, const struct sexp *form,
			   struct eval_env *env, struct sexp **outp)
{
	struct rctx *c = ctxp;
	struct dform f = {0};
	struct obj *o;
	int r = 0;

	f.c = c;
	f.prefer_local = -1;
	buf_init(&f.show, 256);
	if (!(o = calloc(1, sizeof(*o))) || !(o->drv = drv_new())) {
		free(o);
		return eval_error(ERR_NOMEM, form->pos, "out of memory");
	}
	o->kind = RECIPE_DRV;
	o->stamp = ++c->stamp;
	f.o = o;
	for (size_t i = 1; i < form->u.list.n; i++) {
		const struct sexp *cl = form->u.list.v[i];
		const char *name;
		int which = -1;

		if (cl->type != SEXP_LIST || cl->u.list.n == 0 ||
		    cl->u.list.v[0]->type != SEXP_SYMBOL) {
			r = eval_error(ERR_INVALID, cl->pos,
				       "'derivation' expects (field value…) clauses, got %s",
				       eval_show(&f.show, cl));
			goto out;
		}
		name = cl->u.list.v[0]->u.str.s;
		for (int k = 0; k < F_COUNT; k++)
			if (!strcmp(name, field_names[k]))
				which = k;
		if (which < 0) {
			r = eval_error(ERR_INVALID, cl->pos, "unknown field '%s' in 'derivation'",
				       name);
			goto out;
		}
		if (f.clause[which]) {
			r = eval_error(ERR_INVALID, cl->pos,
				       "field '%s' given twice in 'derivation' (first at %" PRIu32
				       ":%" PRIu32 ")",
				       name, f.clause[which]->pos.line, f.clause[which]->pos.col);
			goto out;
		}
		f.clause[which] = cl;
		if ((r = field(&f, which, cl, env)) != 0)
			goto out;
	}
	if (!f.has_outputs)
		f.outputs_pos = form->pos;
	if ((r = assemble(&f, form)) != 0)
		goto out;
	r = obj_record(c, o, &drv_type, form->pos, outp);
	o = NULL;
out:
	obj_free(o);
	for (size_t i = 0; i < f.nargs; i++)
		free(f.args[i]);
	free(f.args);
	free(f.env);
	buf_release(&f.show);
	return r;
}

/* ---- local-file, plain-file, output ---- */

static struct obj *obj_new(struct rctx *c, enum recipe_kind kind)
{
	struct obj *o = calloc(1, sizeof(*o));

	if (o) {
		o->kind = kind;
		o->stamp = ++c->stamp;
	}
	return o;
}

/* The name `nix-store --add` would give PATH: its last component. */
static char *base_name(const char *path)
{
	size_t len = strlen(path), start;

	while (len > 1 && path[len - 1] == '/')
		len--;
	start = len;
	while (start > 0 && path[start - 1] != '/')
		start--;
	if (len == start || (len - start == 1 && path[start] == '.') ||
	    (len - start == 2 && !strncmp(path + start, "..", 2)))
		return NULL;
	return strndup(path + start, len - start);
}

/* (local-file "path" [#:name "name"]) */
static int bi_local_file(struct eval *ev, void *ctxp, const struct eval_args *a, struct sexp **outp)
{
	struct rctx *c = ctxp;
	struct buf show = BUF_INIT(256);
	const struct sexp *p = a->v[0];
	struct obj *o = NULL;
	char *name = NULL;
	int r;

	if (p->type != SEXP_STRING || p->u.str.ctx || p->u.str.len == 0) {
		r = eval_error(ERR_INVALID, eval_arg_pos(a, 0),
			       "'local-file' expects a file name, got %s", eval_show(&show, p));
		goto out;
	}
	if (a->n == 2) {
		r = eval_error(ERR_INVALID, a->call->pos,
			       "'local-file' expects a file name, then optionally #:name NAME");
		goto out;
	}
	if (a->n == 3) {
		if (a->v[1]->type != SEXP_KEYWORD || strcmp(a->v[1]->u.str.s, "name") != 0) {
			r = eval_error(ERR_INVALID, eval_arg_pos(a, 1),
				       "'local-file' expects #:name, got %s",
				       eval_show(&show, a->v[1]));
			goto out;
		}
		if (a->v[2]->type != SEXP_STRING || a->v[2]->u.str.ctx) {
			r = eval_error(ERR_INVALID, eval_arg_pos(a, 2),
				       "#:name expects a string, got %s",
				       eval_show(&show, a->v[2]));
			goto out;
		}
		name = strdup(a->v[2]->u.str.s);
	} else {
		name = base_name(p->u.str.s);
		if (!name && errno != ENOMEM) {
			r = eval_error(ERR_INVALID, eval_arg_pos(a, 0),
				       "cannot name '%s' after its file: give #:name", p->u.str.s);
			goto out;
		}
	}
	if (!name || !(o = obj_new(c, RECIPE_LOCAL))) {
		r = eval_error(ERR_NOMEM, a->call->pos, "out of memory");
		goto out;
	}
	if (storepath_check_name(name, strlen(name)) != 0) {
		r = eval_error(ERR_INVALID, eval_arg_pos(a, a->n == 3 ? 2 : 0),
			       "bad name for 'local-file': %s", err_msg());
		goto out;
	}
	if (p->u.str.s[0] == '/' || !strcmp(c->dir, "."))
		o->src = strdup(p->u.str.s);
	else if ((o->src = malloc(strlen(c->dir) + p->u.str.len + 2)))
		sprintf(o->src, "%s/%s", c->dir, p->u.str.s);
	if (!o->src) {
		r = eval_error(ERR_NOMEM, a->call->pos, "out of memory");
		goto out;
	}
	if ((r = store_path_of(c->storedir, o->src, name, 0, &o->path)) != 0) {
		r = eval_error(r, eval_arg_pos(a, 0), "'local-file': %s", err_msg());
		goto out;
	}
	o->name = name;
	name = NULL;
	r = obj_record(c, o, &local_type, a->call->pos, outp);
	o = NULL;
out:
	obj_free(o);
	free(name);
	buf_release(&show);
	return r;
}

/* (plain-file "name" "content"): a text path, as builtins.toFile makes it;
 * the content may refer to other files (not to derivations). */
static int bi_plain_file(struct eval *ev, void *ctxp, const struct eval_args *a, struct sexp **outp)
{
	struct rctx *c = ctxp;
	struct buf show = BUF_INIT(256);
	const struct sexp *n = a->v[0];
	const struct eval_strctx *ctx;
	struct sexp *s;
	struct obj *o = NULL;
	uint8_t h[SHA256_LEN];
	int r;

	if (n->type != SEXP_STRING || n->u.str.ctx) {
		r = eval_error(ERR_INVALID, eval_arg_pos(a, 0),
			       "'plain-file' expects a name, got %s", eval_show(&show, n));
		goto out;
	}
	if (storepath_check_name(n->u.str.s, n->u.str.len) != 0) {
		r = eval_error(ERR_INVALID, eval_arg_pos(a, 0), "bad name for 'plain-file': %s",
			       err_msg());
		goto out;
	}
	if ((r = eval_to_string(ev, a->v[1], a->exprs ? a->exprs[1] : a->call, &s)) != 0)
		goto out;
	if (!s) {
		r = eval_error(ERR_INVALID, eval_arg_pos(a, 1),
			       "'plain-file' expects a string as content, got %s",
			       eval_show(&show, a->v[1]));
		goto out;
	}
	if (!(o = obj_new(c, RECIPE_TEXT)) || !(o->name = strdup(n->u.str.s)) ||
	    !(o->text = malloc(s->u.str.len + 1))) {
		r = eval_error(ERR_NOMEM, a->call->pos, "out of memory");
		goto out;
	}
	memcpy(o->text, s->u.str.s, s->u.str.len + 1);
	o->len = s->u.str.len;
	ctx = s->u.str.ctx;
	for (size_t i = 0; ctx && i < ctx->n; i++) {
		struct obj *dep = obj_of(ctx->e[i].rec);

		if (!is_file(ctx->e[i].rec)) {
			r = eval_error(ERR_INVALID, eval_arg_pos(a, 1),
				       "plain-file '%s' cannot refer to the derivation '%s' "
				       "(only to other files)",
				       o->name, dep->drv->name);
			goto out;
		}
		if (dep->stamp == o->stamp)
			continue;
		if ((r = obj_dep(o, dep)) != 0) {
			r = eval_error(r, a->call->pos, "out of memory");
			goto out;
		}
	}
	if (o->ndeps && !(o->refs = calloc(o->ndeps, sizeof(*o->refs)))) {
		r = eval_error(ERR_NOMEM, a->call->pos, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < o->ndeps; i++) {
		if (!(o->refs[i] = strdup(o->deps[i]->path))) {
			r = eval_error(ERR_NOMEM, a->call->pos, "out of memory");
			goto out;
		}
		o->nrefs++;
	}
	if (o->nrefs)
		qsort(o->refs, o->nrefs, sizeof(*o->refs), cmp_str);
	if ((r = sha256_buf(o->text, o->len, h)) != 0 ||
	    (r = storepath_text(c->storedir, h, o->name, (const char *const *)o->refs, o->nrefs,
				&o->path)) != 0) {
		r = eval_error(r, a->call->pos, "'plain-file': %s", err_msg());
		goto out;
	}
	r = obj_record(c, o, &plain_type, a->call->pos, outp);
	o = NULL;
out:
	obj_free(o);
	buf_release(&show);
	return r;
}

/* (output drv "dev"): the path of that output, which the string brings
 * along as an input. */
static int bi_output(struct eval *ev, void *ctxp, const struct eval_args *a, struct sexp **outp)
{
	struct buf show = BUF_INIT(256);
	const struct eval_record *rec = eval_record_of(a->v[0], &drv_type);
	const struct eval_strctx *ctx = NULL;
	const struct obj *o;
	const char *p;
	int r;

	if (!rec) {
		r = eval_error(ERR_INVALID, eval_arg_pos(a, 0),
			       "'output' expects a derivation, got %s", eval_show(&show, a->v[0]));
		goto out;
	}
	o = rec->data;
	if (a->v[1]->type != SEXP_STRING || a->v[1]->u.str.ctx) {
		r = eval_error(ERR_INVALID, eval_arg_pos(a, 1),
			       "'output' expects an output name, got %s",
			       eval_show(&show, a->v[1]));
		goto out;
	}
	if (!(p = out_path(o, a->v[1]->u.str.s))) {
		r = eval_error(ERR_INVALID, eval_arg_pos(a, 1),
			       "derivation '%s' has no output '%s'", o->drv->name,
			       a->v[1]->u.str.s);
		goto out;
	}
	if ((r = eval_strctx_add(ev, &ctx, a->v[0], a->v[1]->u.str.s)) == 0)
		r = eval_mk_string(ev, a->call->pos, p, strlen(p), ctx, outp);
out:
	buf_release(&show);
	return r;
}

/* ---- The value and its closure ---- */

static int add_value(struct rctx *c, struct recipe_result *res, const struct sexp *v,
		     struct obj ***rootsp, size_t *nroots)
{
	struct buf show = BUF_INIT(256);
	const struct eval_record *rec = eval_record_of(v, &drv_type);
	int r;

	if (rec) {
		struct obj **nv = realloc(*rootsp, (*nroots + 1) * sizeof(*nv));

		if (!nv)
			return err_set(ERR_NOMEM, "out of memory");
		*rootsp = nv;
		nv[(*nroots)++] = rec->data;
		return 0;
	}
	if (v->type == SEXP_LIST) {
		for (size_t i = 0; i < v->u.list.n; i++)
			if ((r = add_value(c, res, v->u.list.v[i], rootsp, nroots)) != 0)
				return r;
		return 0;
	}
	r = eval_error(ERR_INVALID, v->pos,
		       "a recipe's value must be a derivation or a list of derivations, got %s",
		       eval_show(&show, v));
	buf_release(&show);
	return r;
}

static int item_of(struct recipe_result *res, struct obj *o)
{
	struct recipe_item *it = &res->items[res->nitems];

	/* Counted at once, so that recipe_result_release() frees a partial
	 * copy. */
	memset(it, 0, sizeof(*it));
	res->nitems++;
	it->kind = o->kind;
	if (!(it->path = strdup(o->path)) || !(it->name = strdup(o->name)))
		goto nomem;
	if (o->kind == RECIPE_LOCAL)
		return (it->src = strdup(o->src)) ? 0 : err_set(ERR_NOMEM, "out of memory");
	if (!(it->text = malloc(o->len + 1)))
		goto nomem;
	memcpy(it->text, o->text, o->len + 1);
	it->len = o->len;
	if (o->nrefs && !(it->refs = calloc(o->nrefs, sizeof(*it->refs))))
		goto nomem;
	for (size_t i = 0; i < o->nrefs; i++, it->nrefs++)
		if (!(it->refs[i] = strdup(o->refs[i])))
			goto nomem;
	if (o->kind == RECIPE_DRV) {
		res->owned[res->nowned++] = o->drv;
		it->drv = o->drv;
		o->drv = NULL;
	}
	return 0;
nomem:
	return err_set(ERR_NOMEM, "out of memory");
}

/* Lists the closure of ROOTS in RES->items, references first: a
 * depth-first walk with its own stack (chains may be long). */
static int collect(struct rctx *c, struct recipe_result *res, struct obj **roots, size_t nroots)
{
	struct frame {
		struct obj *o;
		size_t next;
	} *st = NULL;
	size_t n = 0;
	int r = 0;

	if (c->nobjs && (!(res->items = calloc(c->nobjs, sizeof(*res->items))) ||
			 !(res->owned = calloc(c->nobjs, sizeof(*res->owned))) ||
			 !(st = calloc(c->nobjs + 1, sizeof(*st)))))
		return err_set(ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < nroots && r == 0; i++) {
		if (roots[i]->listed)
			continue;
		roots[i]->listed = true;
		st[n++] = (struct frame){roots[i], 0};
		while (n && r == 0) {
			struct frame *top = &st[n - 1];

			if (top->next < top->o->ndeps) {
				struct obj *d = top->o->deps[top->next++];

				if (!d->listed) {
					d->listed = true;
					st[n++] = (struct frame){d, 0};
				}
				continue;
			}
			r = item_of(res, top->o);
			n--;
		}
	}
	free(st);
	return r;
}

/* ---- Evaluation ---- */

/* %current-system: "<machine>-<kernel>" of this machine, as Nix's
 * builtins.currentSystem ("x86_64-linux", "aarch64-linux"). */
static int define_system(struct eval *ev)
{
	struct sexp_pos pos = {"<builtin>", 1, 1};
	struct utsname u;
	struct sexp *v;
	char sys[2 * sizeof(u.machine) + 2];
	int r;

	if (uname(&u) != 0)
		return err_sys(ERR_INTERNAL, "uname");
	snprintf(sys, sizeof(sys), "%s-%s", u.machine, u.sysname);
	for (char *p = sys; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if ((r = eval_mk_string(ev, pos, sys, strlen(sys), NULL, &v)) != 0)
		return r;
	return eval_define(ev, "%current-system", v);
}

struct job {
	struct recipe_result *out;
	const char *storedir, *file, *data;
	size_t len;
	bool from_file;
	const struct eval_limits *lim;
	int rc;
	char *msg;
};

static int run(struct job *j)
{
	struct rctx c = {0};
	struct sexp_arena *a = NULL;
	struct sexp **forms = NULL, *v;
	struct obj **roots = NULL;
	size_t n = 0, nroots = 0;
	const char *slash;
	int r;

	c.storedir = j->storedir;
	slash = strrchr(j->file, '/');
	c.dir = slash ? strndup(j->file, slash == j->file ? 1 : (size_t)(slash - j->file))
		      : strdup(".");
	if (!c.dir || !(a = sexp_arena_new(SEXP_ARENA_DEFAULT)) || !(c.ev = eval_new(a, j->lim))) {
		r = ERR_NOMEM;
		if (!c.dir)
			err_set(r, "out of memory");
		goto out;
	}
	if ((r = drv_hasher_new(&c.hasher, j->storedir, NULL, NULL)) != 0 ||
	    (r = eval_register_form(c.ev, "derivation", form_derivation, &c)) != 0 ||
	    (r = eval_register_builtin(c.ev, "local-file", 1, 3, bi_local_file, &c)) != 0 ||
	    (r = eval_register_builtin(c.ev, "plain-file", 2, 2, bi_plain_file, &c)) != 0 ||
	    (r = eval_register_builtin(c.ev, "output", 2, 2, bi_output, &c)) != 0 ||
	    (r = define_system(c.ev)) != 0)
		goto out;
	r = j->from_file ? sexp_read_file(a, j->file, &forms, &n)
			 : sexp_read(a, j->file, j->data, j->len, &forms, &n);
	if (r != 0)
		goto out;
	if (n == 0) {
		r = err_set(ERR_INVALID,
			    "%s:1:1: the recipe is empty: its value must be a derivation or a "
			    "list of derivations",
			    j->file);
		goto out;
	}
	if ((r = eval_body(c.ev, forms, n, &v)) != 0 ||
	    (r = add_value(&c, j->out, v, &roots, &nroots)) != 0)
		goto out;
	if (nroots && !(j->out->drvs = calloc(nroots, sizeof(*j->out->drvs)))) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nroots; i++, j->out->ndrvs++)
		if (!(j->out->drvs[i] = strdup(roots[i]->path))) {
			r = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
	r = collect(&c, j->out, roots, nroots);
out:
	free(roots);
	for (size_t i = 0; i < c.nobjs; i++)
		obj_free(c.objs[i]);
	free(c.objs);
	free(c.tab);
	drv_hasher_free(c.hasher);
	eval_free(c.ev);
	sexp_arena_free(a);
	free(c.dir);
	return r;
}

static void *run_thread(void *arg)
{
	struct job *j = arg;

	err_clear();
	if ((j->rc = run(j)) != 0)
		j->msg = strdup(err_msg());
	return NULL;
}

static int eval_job(struct job *j)
{
	pthread_attr_t attr;
	pthread_t t;
	int e;

	j->rc = 0;
	j->msg = NULL;
	if ((e = pthread_attr_init(&attr)) != 0)
		return err_set(ERR_NOMEM, "cannot start the evaluation: %s", strerror(e));
	e = pthread_attr_setstacksize(&attr, RECIPE_STACK);
	if (e == 0)
		e = pthread_create(&t, &attr, run_thread, j);
	pthread_attr_destroy(&attr);
	if (e != 0)
		return err_set(ERR_NOMEM, "cannot start the evaluation thread: %s", strerror(e));
	pthread_join(t, NULL);
	if (j->rc != 0) {
		err_set(j->rc, "%s", j->msg ? j->msg : err_str(j->rc));
		free(j->msg);
		recipe_result_release(j->out);
	}
	return j->rc;
}

int recipe_eval_file(struct recipe_result *out, const char *storedir, const char *path,
		     const struct eval_limits *lim)
{
	struct job j = {out, storedir, path, NULL, 0, true, lim, 0, NULL};

	return eval_job(&j);
}

int recipe_eval_mem(struct recipe_result *out, const char *storedir, const char *file,
		    const char *data, size_t len, const struct eval_limits *lim)
{
	struct job j = {out, storedir, file, data, len, false, lim, 0, NULL};

	return eval_job(&j);
}

void recipe_result_release(struct recipe_result *r)
{
	strv_free(r->drvs, r->ndrvs);
	for (size_t i = 0; i < r->nitems; i++) {
		struct recipe_item *it = &r->items[i];

		free(it->path);
		free(it->name);
		free(it->text);
		strv_free(it->refs, it->nrefs);
		free(it->src);
	}
	free(r->items);
	for (size_t i = 0; i < r->nowned; i++)
		drv_free(r->owned[i]);
	free(r->owned);
	memset(r, 0, sizeof(*r));
}

int recipe_write_via(const struct recipe_result *res, const struct recipe_sink *sink,
		     const bool *skip)
{
	int r = 0;

	for (size_t i = 0; i < res->nitems && r == 0; i++) {
		const struct recipe_item *it = &res->items[i];
		char *p = NULL;

		if (skip && skip[i])
			continue;
		if (it->kind == RECIPE_LOCAL)
			r = sink->add_local(sink->ctx, it->src, it->name, &p);
		else
			r = sink->add_text(sink->ctx, it->name, it->text, it->len,
					   (const char *const *)it->refs, it->nrefs, &p);
		if (r == 0 && strcmp(p, it->path) != 0)
			r = err_set(ERR_MISMATCH,
				    "local-file '%s' changed while the recipe was evaluated: it "
				    "was '%s', it is now '%s'",
				    it->src ? it->src : it->name, it->path, p);
		free(p);
	}
	return r;
}

static int store_local(void *ctx, const char *src, const char *name, char **out)
{
	return store_add(ctx, src, name, 0, out);
}

static int store_text(void *ctx, const char *name, const void *text, size_t len,
		      const char *const *refs, size_t nrefs, char **out)
{
	return store_add_text(ctx, name, text, len, refs, nrefs, out);
}

int recipe_write(struct store *s, const struct recipe_result *res)
{
	const struct recipe_sink sink = {store_local, store_text, s};

	return recipe_write_via(res, &sink, NULL);
}

int recipe_instantiate(struct store *s, const char *path, char ***drvsp, size_t *np)
{
	struct recipe_result res = RECIPE_RESULT_INIT;
	int r;

	*drvsp = NULL;
	*np = 0;
	if ((r = recipe_eval_file(&res, store_dir(s), path, NULL)) == 0 &&
	    (r = recipe_write(s, &res)) == 0) {
		*drvsp = res.drvs;
		*np = res.ndrvs;
		res.drvs = NULL;
		res.ndrvs = 0;
	}
	recipe_result_release(&res);
	return r;
}
