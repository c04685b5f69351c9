/* eval.h — the small Scheme evaluator for recipes and machines.scm.
 *
 * It evaluates what sexp.h reads: define (values and procedures), lambda
 * (fixed arguments), let, if, quote, and the builtins list, map,
 * string-append, number->string and getenv.  doc/RECIPES.md is the
 * language reference.  C callers extend it with:
 *
 *   - builtins (eval_register_builtin): procedures written in C, called
 *     with evaluated arguments;
 *   - forms (eval_register_form): written in C, called with the
 *     unevaluated form, for syntax like (derivation (name "x") (env ("K"
 *     "V")) …) whose parts are not all expressions;
 *   - records (eval_register_record): the common case of a form
 *     (build-machine (name "x") (port 22) …) whose clauses are
 *     (field expression…); every expression is evaluated and the result is
 *     an opaque record whose fields the caller reads back afterwards
 *     (eval_record_of, eval_record_field).
 *
 * Memory: every value, environment and record lives in the sexp_arena
 * given to eval_new() — nothing is freed before the arena is, and the
 * arena's cap bounds the memory of one evaluation.  Read what you need out
 * of the results, then eval_free() and sexp_arena_free().
 *
 * Bounds: an evaluation fails with ERR_TOOBIG once it has taken more than
 * max_steps steps (each expression evaluated and each procedure applied is
 * one step), nests evaluations deeper than max_depth (recursion), builds a
 * string longer than EVAL_MAX_STRING or data nested deeper than
 * SEXP_MAX_DEPTH, or exhausts the arena.  The C stack used grows with
 * max_depth: about 1 KiB per level (more with sanitizers).
 *
 * Errors: ERR_INVALID for a wrong program (unbound variable, wrong number
 * or type of arguments, bad syntax of a special form), ERR_TOOBIG for the
 * bounds above, or whatever a C builtin or form returns.  The message
 * always starts with "FILE:LINE:COL: " of the expression at fault.
 */
#ifndef YONDER_EVAL_H
#define YONDER_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sexp.h"

#define EVAL_DEFAULT_STEPS 10000000u
#define EVAL_DEFAULT_DEPTH 1000u
#define EVAL_MAX_STRING    (16u << 20) /* bytes of a computed string */
#define EVAL_MAX_STRCTX    65536u      /* records one string may refer to */

struct eval;     /* an evaluator: global bindings, limits, counters */
struct eval_env; /* a local environment; NULL means the global one */

struct eval_limits {
	uint64_t max_steps; /* 0: EVAL_DEFAULT_STEPS */
	unsigned max_depth; /* 0: EVAL_DEFAULT_DEPTH */
};

/* The arguments of a builtin. */
struct eval_args {
	const struct sexp *call; /* the call: errors are reported at its position */
	struct sexp **v;         /* the evaluated arguments */
	size_t n;
	/* The argument expressions (exprs[i] computed v[i]), or NULL when the
	 * procedure was applied by map or eval_apply(). */
	struct sexp *const *exprs;
};

/* A builtin puts its result (allocated in the arena, or one of its
 * arguments) in *OUTP and returns 0, or returns an error code with a
 * message (eval_error()).  The argument count is checked before. */
typedef int (*eval_builtin_fn)(struct eval *ev, void *ctx, const struct eval_args *args,
			       struct sexp **outp);

/* A form gets the whole unevaluated FORM ((name part…), a list) and the
 * environment it appears in; it evaluates the parts it wants with
 * eval_expr(ev, ENV, …) and puts its value in *OUTP. */
typedef int (*eval_form_fn)(struct eval *ev, void *ctx, const struct sexp *form,
			    struct eval_env *env, struct sexp **outp);

/* A procedure value (SEXP_PROC).  Only NAME is meant to be read. */
struct eval_proc {
	const char *name;       /* interned; NULL for an anonymous lambda */
	int min_args, max_args; /* max_args < 0: any number */
	eval_builtin_fn fn;     /* builtins; NULL for closures */
	void *ctx;
	const char **params; /* closures: min_args interned names */
	struct sexp *const *body;
	size_t nbody;
	struct eval_env *env;
};

/* What kind of record a record value is.  The caller owns the struct; its
 * address identifies the type, so it must outlive the evaluator. */
struct eval_record_type {
	const char *name; /* the form's name: "build-machine" */
	/* The field names eval_register_record() accepts, NULL-terminated;
	 * NULL accepts any name. */
	const char *const *fields;
	/* When not NULL, a record of this type may be used where a string is
	 * expected (string-append, eval_to_string): the hook puts a string
	 * value in *STRP (usually with REC in its context, eval_mk_string).
	 * WHERE is the expression to report errors at. */
	int (*to_string)(struct eval *ev, const struct sexp *rec, const struct sexp *where,
			 struct sexp **strp);
};

/* One (name value…) clause of a record. */
struct eval_field {
	const char *name;    /* interned */
	struct sexp_pos pos; /* of the clause, for the caller's messages */
	struct sexp **v;     /* the evaluated values, in order */
	size_t n;
};

/* A record value (SEXP_RECORD). */
struct eval_record {
	const struct eval_record_type *type;
	struct eval_field *fields; /* in the order written (inherited first) */
	size_t nfields;
	void *data; /* the caller's, for records made by eval_mk_record() */
};

/* The context of a computed string: the records (and, say, which output
 * of them) it was made from, as Nix's string context.  Entries are
 * distinct and in no meaningful order. */
struct eval_strctx_ent {
	const struct sexp *rec;
	const char *sub; /* interned, or NULL */
};
struct eval_strctx {
	size_t n;
	struct eval_strctx_ent e[];
};

/* A new evaluator allocating in A (which the caller keeps, and frees after
 * eval_free()), with the core forms and builtins bound.  LIM may be NULL
 * for the defaults.  NULL when out of memory (message recorded). */
struct eval *eval_new(struct sexp_arena *a, const struct eval_limits *lim);
/* Frees what the evaluator holds outside the arena.  NULL is a no-op. */
void eval_free(struct eval *ev);
struct sexp_arena *eval_arena(struct eval *ev);
/* Steps taken so far. */
uint64_t eval_steps(const struct eval *ev);

/* Binds NAME (copied) globally to a builtin taking MIN_ARGS to MAX_ARGS
 * (<0: any) arguments.  Replaces a builtin, a value or a registered form
 * of that name; ERR_INVALID for the core forms (quote, define, lambda,
 * let, if). */
int eval_register_builtin(struct eval *ev, const char *name, int min_args, int max_args,
			  eval_builtin_fn fn, void *ctx);
/* Binds NAME to a form written in C; replaces as above.  Forms cannot be
 * rebound by the program, nor used as values. */
int eval_register_form(struct eval *ev, const char *name, eval_form_fn fn, void *ctx);
/* Binds TYPE->name to a form that makes a record of TYPE: each clause is
 * (FIELD EXPR…) with every EXPR evaluated; (inherit EXPR), as the first
 * clause, starts from the fields of another record of TYPE.  Errors: a
 * clause that is not (symbol …), a field outside TYPE->fields, a field
 * given twice.  Other checks (types, required fields) are the caller's. */
int eval_register_record(struct eval *ev, const struct eval_record_type *type);
/* Binds NAME globally to the value V (e.g. %store-directory). */
int eval_define(struct eval *ev, const char *name, struct sexp *v);

/* Evaluates the top-level FORMS in order; *OUTP is the value of the last
 * (an unspecified value when N is 0 or the last is a define). */
int eval_body(struct eval *ev, struct sexp *const *forms, size_t n, struct sexp **outp);
/* sexp_read_file() of PATH into the evaluator's arena, then eval_body(). */
int eval_file(struct eval *ev, const char *path, struct sexp **outp);
/* Evaluates the expression X in ENV (for forms). */
int eval_expr(struct eval *ev, struct eval_env *env, const struct sexp *x, struct sexp **outp);
/* Applies the procedure PROC to the N values ARGS (copied); WHERE is the
 * expression errors are reported at. */
int eval_apply(struct eval *ev, const struct sexp *proc, struct sexp *const *args, size_t n,
	       const struct sexp *where, struct sexp **outp);
/* The same work as the form eval_register_record() binds, for a form that
 * wants it and more: FORM is (NAME clause…). */
int eval_record_fields(struct eval *ev, const struct eval_record_type *type,
		       const struct sexp *form, struct eval_env *env, struct sexp **outp);

/* Records "FILE:LINE:COL: <message>" and returns CODE. */
int eval_error(int code, struct sexp_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Where argument I was written: its expression, else the call. */
struct sexp_pos eval_arg_pos(const struct eval_args *a, size_t i);
/* Empties B, writes V in it for a message ("3", "\"x\"", "(a b)", cut
 * after 60 bytes) and returns B's text ("?" if B is full).  The caller
 * releases B. */
const char *eval_show(struct buf *b, const struct sexp *v);

/* Value constructors: the new value, in the arena, at *OUTP. */
int eval_mk_int(struct eval *ev, struct sexp_pos pos, int64_t i, struct sexp **outp);
int eval_mk_real(struct eval *ev, struct sexp_pos pos, double d, struct sexp **outp);
int eval_mk_bool(struct eval *ev, struct sexp_pos pos, bool b, struct sexp **outp);
int eval_mk_unspec(struct eval *ev, struct sexp_pos pos, struct sexp **outp);
/* Copies the LEN bytes at S (no NUL among them: ERR_INVALID) and refers
 * to CTX (may be NULL; not copied, must be in the arena). */
int eval_mk_string(struct eval *ev, struct sexp_pos pos, const char *s, size_t len,
		   const struct eval_strctx *ctx, struct sexp **outp);
/* Copies the array of N values. */
int eval_mk_list(struct eval *ev, struct sexp_pos pos, struct sexp *const *v, size_t n,
		 struct sexp **outp);
/* A record of TYPE with the NFIELDS FIELDS (the array is copied, the
 * values are not) and the caller's DATA (not copied; allocate it in the
 * arena with sexp_alloc to share its lifetime). */
int eval_mk_record(struct eval *ev, const struct eval_record_type *type, struct sexp_pos pos,
		   const struct eval_field *fields, size_t nfields, void *data, struct sexp **outp);
/* *CTXP plus the entry (REC, SUB) — SUB is interned here — as a new
 * context in the arena (*CTXP may be NULL; it is not modified). */
int eval_strctx_add(struct eval *ev, const struct eval_strctx **ctxp, const struct sexp *rec,
		    const char *sub);

/* V as a string: V itself when it is one, the to_string hook's result for
 * a record whose type has one, else *STRP = NULL (and 0 returned): the
 * caller reports what it expected.  WHERE is for the hook's messages. */
int eval_to_string(struct eval *ev, const struct sexp *v, const struct sexp *where,
		   struct sexp **strp);
/* V's record when V is a record of TYPE, else NULL. */
const struct eval_record *eval_record_of(const struct sexp *v, const struct eval_record_type *type);
/* The field NAME of R, or NULL when R has none. */
const struct eval_field *eval_record_field(const struct eval_record *r, const char *name);

#endif
