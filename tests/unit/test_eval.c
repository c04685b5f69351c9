/* Unit tests for eval.c: the core forms and builtins, closures, records
 * made by forms written in C (a recipe-like generator of 100 records, and
 * tests/data/machines/guix-example.scm), string contexts, errors with their
 * positions, and the bounds (steps, depth, memory). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "eval.h"
#include "sexp.h"
#include "tap.h"

static struct sexp_arena *arena;
static struct eval *ev;

/* ---- what the tests register ---- */

/* (iota N): 0 … N-1, a builtin written in C. */
static int bi_iota(struct eval *e, void *ctx, const struct eval_args *a, struct sexp **outp)
{
	struct sexp **v;
	int r;

	if (a->v[0]->type != SEXP_INT || a->v[0]->u.i < 0 || a->v[0]->u.i > 100000)
		return eval_error(ERR_INVALID, eval_arg_pos(a, 0), "'iota' expects a count");
	if (!(v = sexp_alloc(eval_arena(e), ((size_t)a->v[0]->u.i + 1) * sizeof(*v))))
		return sexp_arena_error(eval_arena(e));
	for (int64_t i = 0; i < a->v[0]->u.i; i++)
		if ((r = eval_mk_int(e, a->call->pos, i, &v[i])) != 0)
			return r;
	return eval_mk_list(e, a->call->pos, v, (size_t)a->v[0]->u.i, outp);
}

/* A derivation-like record: (derivation (name EXPR) (env (K V)…) (args EXPR…)).
 * The env pairs are not calls: the form evaluates K and V itself. */
struct drv {
	const char *name;
	size_t nenv;
	const char **env; /* K0 V0 K1 V1 … */
	size_t nargs;
	struct sexp **args;
};

static int drv_to_string(struct eval *e, const struct sexp *rec, const struct sexp *where,
			 struct sexp **strp)
{
	const struct drv *d = rec->u.rec->data;
	const struct eval_strctx *ctx = NULL;
	char path[300];
	int r;

	snprintf(path, sizeof(path), "/yonder/store/%s", d->name);
	if ((r = eval_strctx_add(e, &ctx, rec, "out")) != 0)
		return r;
	return eval_mk_string(e, where->pos, path, strlen(path), ctx, strp);
}

static const struct eval_record_type drv_type = {"derivation", NULL, drv_to_string};

static int want_string(struct eval *e, const struct sexp *x, struct eval_env *env, const char **sp)
{
	struct sexp *v, *s;
	int r;

	if ((r = eval_expr(e, env, x, &v)) != 0 || (r = eval_to_string(e, v, x, &s)) != 0)
		return r;
	if (!s)
		return eval_error(ERR_INVALID, x->pos, "expected a string");
	*sp = s->u.str.s;
	return 0;
}

static int drv_form(struct eval *e, void *ctx, const struct sexp *form, struct eval_env *env,
		    struct sexp **outp)
{
	struct sexp_arena *a = eval_arena(e);
	struct drv *d = sexp_alloc(a, sizeof(*d));
	int r;

	if (!d)
		return sexp_arena_error(a);
	for (size_t i = 1; i < form->u.list.n; i++) {
		const struct sexp *c = form->u.list.v[i];

		if (c->type != SEXP_LIST || c->u.list.n < 1)
			return eval_error(ERR_INVALID, c->pos, "bad clause");
		if (sexp_is_symbol(c->u.list.v[0], "name")) {
			if (c->u.list.n != 2)
				return eval_error(ERR_INVALID, c->pos, "(name STRING)");
			if ((r = want_string(e, c->u.list.v[1], env, &d->name)) != 0)
				return r;
		} else if (sexp_is_symbol(c->u.list.v[0], "env")) {
			d->nenv = c->u.list.n - 1;
			if (!(d->env = sexp_alloc(a, 2 * d->nenv * sizeof(*d->env) + 1)))
				return sexp_arena_error(a);
			for (size_t j = 0; j < d->nenv; j++) {
				const struct sexp *p = c->u.list.v[j + 1];

				if (p->type != SEXP_LIST || p->u.list.n != 2)
					return eval_error(ERR_INVALID, p->pos,
							  "'env' expects (NAME VALUE) pairs");
				if ((r = want_string(e, p->u.list.v[0], env, &d->env[2 * j])) !=
					0 ||
				    (r = want_string(e, p->u.list.v[1], env, &d->env[2 * j + 1])) !=
					0)
					return r;
			}
		} else if (sexp_is_symbol(c->u.list.v[0], "args")) {
			d->nargs = c->u.list.n - 1;
			if (!(d->args = sexp_alloc(a, (d->nargs + 1) * sizeof(*d->args))))
				return sexp_arena_error(a);
			for (size_t j = 0; j < d->nargs; j++)
				if ((r = eval_expr(e, env, c->u.list.v[j + 1], &d->args[j])) != 0)
					return r;
		} else {
			return eval_error(
			    ERR_INVALID, c->pos, "unknown field '%s'",
			    c->u.list.v[0]->type == SEXP_SYMBOL ? c->u.list.v[0]->u.str.s : "?");
		}
	}
	if (!d->name)
		return eval_error(ERR_INVALID, form->pos, "'derivation' needs a name");
	return eval_mk_record(e, &drv_type, form->pos, NULL, 0, d, outp);
}

static const char *const machine_fields[] = {
    "name",
    "port",
    "systems",
    "system",
    "user",
    "private-key",
    "host-key",
    "parallel-builds",
    "speed",
    "features",
    "mandatory-features",
    NULL,
};
static const struct eval_record_type machine_type = {"build-machine", machine_fields, NULL};

/* ---- helpers ---- */

static void reset(const struct eval_limits *lim, size_t arena_max)
{
	eval_free(ev);
	sexp_arena_free(arena);
	arena = sexp_arena_new(arena_max);
	ev = eval_new(arena, lim);
	if (!ev || eval_register_builtin(ev, "iota", 1, 1, bi_iota, NULL) != 0 ||
	    eval_register_form(ev, "derivation", drv_form, NULL) != 0 ||
	    eval_register_record(ev, &machine_type) != 0) {
		printf("Bail out! cannot set up the evaluator: %s\n", err_msg());
		exit(1);
	}
}

/* Evaluates PROG (file "p.scm") in the current evaluator. */
static int run_in(const char *prog, struct sexp **outp)
{
	struct sexp **forms;
	size_t n;
	int r;

	*outp = NULL;
	if ((r = sexp_read(arena, "p.scm", prog, strlen(prog), &forms, &n)) != 0)
		return r;
	return eval_body(ev, forms, n, outp);
}

static int run(const char *prog, struct sexp **outp)
{
	reset(NULL, SEXP_ARENA_DEFAULT);
	return run_in(prog, outp);
}

static const char *pr(const struct sexp *v)
{
	static char s[8192];
	struct buf b = BUF_INIT(sizeof(s) - 1);

	if (!v || sexp_print(&b, v, 0) != 0) {
		buf_release(&b);
		return "(error)";
	}
	snprintf(s, sizeof(s), "%s", b.data);
	buf_release(&b);
	return s;
}

/* PROG evaluates to a value that prints as WANT. */
static void evals(const char *prog, const char *want, const char *name)
{
	struct sexp *v;
	int r = run(prog, &v);

	if (r != 0)
		printf("# %s\n", err_msg());
	is_str(r ? "(failed)" : pr(v), want, "%s", name);
}

/* PROG fails with CODE and the message WANT. */
static void fails(const char *prog, int code, const char *want, const char *name)
{
	struct sexp *v;
	int r = run(prog, &v);

	is_int(r, code, "%s: fails with %s", name, err_str(code));
	is_str(r ? err_msg() : "(succeeded)", want, "%s: message", name);
}

/* ---- tests ---- */

static void test_core(void)
{
	evals("42", "42", "a number evaluates to itself");
	evals("\"s\" #t #:k", "#:k", "the value is the last form's");
	evals("", "#<unspecified>", "no form: unspecified");
	evals("(define x 1)", "#<unspecified>", "define's value is unspecified");
	evals("(define x \"v\") x", "\"v\"", "define a value");
	evals("(define x 1) (define x 2) x", "2", "redefinition at top level");
	evals("(quote (a \"b\" 1 #:c))", "(a \"b\" 1 #:c)", "quote");
	evals("'sym", "sym", "' shorthand");
	evals("'()", "()", "the empty list");
	evals("(list)", "()", "(list) is the empty list");
	evals("(list 1 \"two\" 'three (list 4))", "(1 \"two\" three (4))", "list");
	evals("(if #t \"yes\" \"no\")", "\"yes\"", "if true");
	evals("(if #f \"yes\" \"no\")", "\"no\"", "if false");
	evals("(if '() \"yes\" \"no\")", "\"yes\"", "the empty list is true");
	evals("(if 0 \"yes\" \"no\")", "\"yes\"", "0 is true");
	evals("(if \"\" \"yes\" \"no\")", "\"yes\"", "the empty string is true");
	evals("(if #f \"yes\")", "#<unspecified>", "one-armed if, false");
	evals("(if #f (undefined) \"no\")", "\"no\"", "the branch not taken is not evaluated");
	evals("(let ((a \"A\") (b \"B\")) (string-append a b))", "\"AB\"", "let");
	evals("(let () 1)", "1", "let without bindings");
	evals("(define a \"outer\") (let ((a \"inner\") (b a)) (list a b))",
	      "(\"inner\" \"outer\")", "let's values are computed outside it");
	evals("(define a 1) (let ((a 2)) a) a", "1", "let does not leak");
	evals("(let ((x 1)) (define y \"in-body\") y)", "\"in-body\"", "define in a let body");
	evals("((lambda (x y) (list y x)) 1 2)", "(2 1)", "lambda applied at once");
	evals("((lambda () \"thunk\"))", "\"thunk\"", "lambda without parameters");
	evals("(define (f x y) (string-append x \"-\" y)) (f \"a\" \"b\")", "\"a-b\"",
	      "define a procedure");
	evals("(define f (lambda (x) x)) f", "#<procedure f>", "a lambda takes its define's name");
	evals("(define (f) 1) f", "#<procedure f>", "procedures print with their name");
	evals("(lambda (x) x)", "#<procedure>", "anonymous procedure");
	evals("list", "#<procedure list>", "builtins are procedures");
	evals("(define (a) (b)) (define (b) \"b\") (a)", "\"b\"",
	      "a procedure may call one defined later");
	evals("(define (f x) (define y (string-append x \"!\")) (define (g) y) (g)) (f \"hi\")",
	      "\"hi!\"", "internal defines");
	evals("(define (f x) (define x \"shadow\") x) (f \"arg\")", "\"shadow\"",
	      "an internal define may rebind a parameter");
	evals("(define (f list) (list 1)) (f (lambda (x) (string-append \"got-\" "
	      "(number->string x))))",
	      "\"got-1\"", "a parameter may shadow a builtin");
}

static void test_closures(void)
{
	evals("(define (prefixer p) (lambda (s) (string-append p s)))\n"
	      "(define hi (prefixer \"hi-\"))\n"
	      "(define yo (prefixer \"yo-\"))\n"
	      "(list (hi \"a\") (yo \"b\") (hi \"c\"))",
	      "(\"hi-a\" \"yo-b\" \"hi-c\")", "closures keep their own environment");
	evals("(define (compose f g) (lambda (x) (f (g x))))\n"
	      "(define (bang s) (string-append s \"!\"))\n"
	      "((compose bang bang) \"x\")",
	      "\"x!!\"", "procedures as arguments and results");
	evals("(define x \"global\") (define (get) x) (let ((x \"local\")) (get))", "\"global\"",
	      "lexical, not dynamic, scope");
	evals("(define (mk) (define secret \"s\") (lambda () secret)) ((mk))", "\"s\"",
	      "a closure over an internal define");
	evals("(let ((n \"1\")) (map (lambda (x) (string-append n x)) '(\"a\" \"b\")))",
	      "(\"1a\" \"1b\")", "a closure over a let variable, called by map");
}

static void test_builtins(void)
{
	evals("(map (lambda (x) (list x)) '(1 2 3))", "((1) (2) (3))", "map, one list");
	evals("(map string-append '(\"a\" \"b\") '(\"c\" \"d\") '(\"e\" \"f\"))",
	      "(\"ace\" \"bdf\")", "map, three lists, a builtin");
	evals("(map list '() '())", "()", "map over empty lists");
	evals("(map (lambda (s n) (string-append s (number->string n))) '(\"x\" \"y\") "
	      "(list 1 2))",
	      "(\"x1\" \"y2\")", "map, two lists, a closure");
	evals("(string-append)", "\"\"", "string-append of nothing");
	evals("(string-append \"a\" \"\" \"bc\" \"\\n\")", "\"abc\\n\"", "string-append");
	evals("(number->string 42)", "\"42\"", "number->string of an integer");
	evals("(number->string -7)", "\"-7\"", "negative integer");
	evals("(number->string 5 2)", "\"101\"", "radix 2");
	evals("(number->string 8 8)", "\"10\"", "radix 8");
	evals("(number->string 255 16)", "\"ff\"", "radix 16");
	evals("(number->string -9223372036854775808 16)", "\"-8000000000000000\"",
	      "the smallest integer in radix 16");
	evals("(number->string 2.)", "\"2.0\"", "real 2.");
	evals("(number->string 0.1)", "\"0.1\"", "real 0.1, shortest form");
	evals("(number->string 123456.789)", "\"123456.789\"", "real 123456.789");
	evals("(number->string 1e21)", "\"1.0e21\"", "real 1e21");
	evals("(number->string 1.5e-7)", "\"1.5e-7\"", "real 1.5e-7");
	evals("(number->string -0.5)", "\"-0.5\"", "negative real");

	setenv("YONDER_TEST_VAR", "value of it", 1);
	unsetenv("YONDER_TEST_UNSET");
	evals("(getenv \"YONDER_TEST_VAR\")", "\"value of it\"", "getenv of a set variable");
	evals("(getenv \"YONDER_TEST_UNSET\")", "#f", "getenv of an unset variable is #f");
	evals("(if (getenv \"YONDER_TEST_UNSET\") \"set\" \"default\")", "\"default\"",
	      "getenv with a default");
}

static void test_errors(void)
{
	fails("(foo)", ERR_INVALID, "p.scm:1:2: unbound variable 'foo'", "unbound procedure");
	fails("(define x 1)\n(list x\n      y)", ERR_INVALID, "p.scm:3:7: unbound variable 'y'",
	      "unbound variable, with its line and column");
	fails("(string-append \"a\" 3)", ERR_INVALID,
	      "p.scm:1:20: 'string-append' expects strings, got 3", "string-append of a number");
	fails("(map string-append '(\"a\") '(1))", ERR_INVALID,
	      "p.scm:1:1: 'string-append' expects strings, got 1",
	      "through map, the error is at the map");
	fails("(define (f x) x)\n(f 1 2)", ERR_INVALID, "p.scm:2:1: 'f' expects 1 argument, got 2",
	      "too many arguments");
	fails("(define (f x y) x) (f 1)", ERR_INVALID, "p.scm:1:20: 'f' expects 2 arguments, got 1",
	      "too few arguments");
	fails("((lambda (x) x))", ERR_INVALID, "p.scm:1:1: procedure expects 1 argument, got 0",
	      "anonymous procedure arity");
	fails("(map list)", ERR_INVALID, "p.scm:1:1: 'map' expects at least 2 arguments, got 1",
	      "builtin with a minimum");
	fails("(number->string 1 2 3)", ERR_INVALID,
	      "p.scm:1:1: 'number->string' expects 1 or 2 arguments, got 3",
	      "builtin with a range");
	fails("(getenv)", ERR_INVALID, "p.scm:1:1: 'getenv' expects 1 argument, got 0",
	      "builtin with one argument");
	fails("(number->string 10 3)", ERR_INVALID,
	      "p.scm:1:20: 'number->string' expects a radix of 2, 8, 10 or 16, got 3", "bad radix");
	fails("(number->string 1.5 16)", ERR_INVALID,
	      "p.scm:1:21: 'number->string' writes reals in radix 10 only", "real in radix 16");
	fails("(map \"f\" '(1))", ERR_INVALID, "p.scm:1:6: 'map' expects a procedure, got \"f\"",
	      "map of a non-procedure");
	fails("(map list 'a)", ERR_INVALID, "p.scm:1:11: 'map' expects lists, got a",
	      "map over a non-list");
	fails("(3 4)", ERR_INVALID, "p.scm:1:2: cannot call 3: it is an integer, not a procedure",
	      "calling a number");
	fails("(if 1 2 3 4)", ERR_INVALID,
	      "p.scm:1:1: bad 'if' syntax: expected (if test then [else])",
	      "if with too many parts");
	fails("(quote)", ERR_INVALID, "p.scm:1:1: 'quote' expects one datum, got 0", "empty quote");
	fails("(lambda (x))", ERR_INVALID,
	      "p.scm:1:1: bad 'lambda' syntax: expected (lambda (param…) body…)",
	      "lambda without a body");
	fails("(lambda (x 1) x)", ERR_INVALID,
	      "p.scm:1:12: bad 'lambda' syntax: a parameter must be a symbol",
	      "non-symbol parameter");
	fails("(lambda (x x) x)", ERR_INVALID, "p.scm:1:12: parameter 'x' appears twice",
	      "duplicate parameter");
	fails("(lambda 1 x)", ERR_INVALID,
	      "p.scm:1:9: bad 'lambda' syntax: expected a list of parameters", "lambda 1");
	fails("(define)", ERR_INVALID, "p.scm:1:1: bad 'define' syntax: expected a name",
	      "define without a name");
	fails("(define x)", ERR_INVALID,
	      "p.scm:1:1: bad 'define' syntax: expected (define x value)",
	      "define without a value");
	fails("(define \"x\" 1)", ERR_INVALID,
	      "p.scm:1:9: bad 'define' syntax: expected a name, got a string",
	      "define of a string");
	fails("(define (\"f\") 1)", ERR_INVALID,
	      "p.scm:1:9: bad 'define' syntax: expected (define (name param…) body…)",
	      "define of a bad procedure head");
	fails("(define (f))", ERR_INVALID, "p.scm:1:1: bad 'define' syntax: empty body",
	      "procedure without a body");
	fails("(define lambda 1)", ERR_INVALID, "p.scm:1:9: cannot bind 'lambda': it is syntax",
	      "rebinding a core form");
	fails("(define build-machine 1)", ERR_INVALID,
	      "p.scm:1:9: cannot bind 'build-machine': it is syntax", "rebinding a C form");
	fails("(let ((derivation 1)) 2)", ERR_INVALID,
	      "p.scm:1:8: cannot bind 'derivation': it is syntax", "let-binding a C form");
	fails("(let ((a 1) (a 2)) a)", ERR_INVALID, "p.scm:1:14: 'a' is bound twice in 'let'",
	      "let binding twice");
	fails("(let x)", ERR_INVALID,
	      "p.scm:1:1: bad 'let' syntax: expected (let ((name value)…) body…)",
	      "let without body");
	fails("(if (define x 1) 2)", ERR_INVALID,
	      "p.scm:1:5: 'define' is allowed only at top level or in a body, not inside an "
	      "expression",
	      "define in an expression");
	fails("(define (f) (g))\n(define (g) (h))\n(f)", ERR_INVALID,
	      "p.scm:2:14: unbound variable 'h'", "the error is where it happens, not the call");
}

static void test_records(void)
{
	struct sexp *v;
	const struct eval_record *rec;
	const struct eval_field *f;
	int r;

	r = run("(define base (build-machine (name \"a\") (user \"u\") (port 22)))\n"
		"(build-machine (inherit base) (name \"b\") (speed 2.5))",
		&v);
	ok(r == 0 && (rec = eval_record_of(v, &machine_type)) != NULL, "inherit: a record");
	if (r == 0 && rec) {
		f = eval_record_field(rec, "name");
		ok(f && f->n == 1 && !strcmp(f->v[0]->u.str.s, "b"), "inherit: name overridden");
		ok(f && f->pos.line == 2 && f->pos.col == 31, "the field's position is its clause");
		f = eval_record_field(rec, "user");
		ok(f && f->n == 1 && !strcmp(f->v[0]->u.str.s, "u") && f->pos.line == 1,
		   "inherit: user kept, with its position");
		f = eval_record_field(rec, "speed");
		ok(f && f->v[0]->type == SEXP_REAL && f->v[0]->u.d == 2.5, "inherit: speed added");
		ok(!eval_record_field(rec, "host-key"), "an absent field is NULL");
		is_int((long long)rec->nfields, 4, "inherit: four fields");
	}
	r = run("(build-machine (systems \"a\" \"b\") (features))", &v);
	rec = r == 0 ? eval_record_of(v, &machine_type) : NULL;
	f = rec ? eval_record_field(rec, "systems") : NULL;
	ok(f && f->n == 2, "a clause may hold several values");
	f = rec ? eval_record_field(rec, "features") : NULL;
	ok(f && f->n == 0, "or none");
	ok(!eval_record_of(v, &drv_type), "eval_record_of checks the type");

	fails("(build-machine (name \"a\") (colour \"blue\"))", ERR_INVALID,
	      "p.scm:1:27: unknown field 'colour' in 'build-machine'", "unknown field");
	fails("(build-machine (name \"a\")\n  (name \"b\"))", ERR_INVALID,
	      "p.scm:2:3: field 'name' given twice in 'build-machine' (first at 1:16)",
	      "field twice");
	fails("(define b (build-machine (name \"a\")))\n"
	      "(build-machine (inherit b) (name \"x\") (name \"y\"))",
	      ERR_INVALID,
	      "p.scm:2:39: field 'name' given twice in 'build-machine' (first at 2:28)",
	      "an inherited field overridden twice");
	fails("(build-machine (inherit (derivation (name \"d\"))))", ERR_INVALID,
	      "p.scm:1:25: 'inherit' expects a 'build-machine' record, got #<derivation>",
	      "inherit from another type");
	fails("(build-machine (\"name\" \"a\"))", ERR_INVALID,
	      "p.scm:1:16: 'build-machine' expects (field value…) clauses, got (\"name\" \"a\")",
	      "a clause must start with a symbol");
	fails("(build-machine (name (undefined)))", ERR_INVALID,
	      "p.scm:1:23: unbound variable 'undefined'", "field values are evaluated");
	fails("(derivation (name \"x\") (env (\"K\")))", ERR_INVALID,
	      "p.scm:1:29: 'env' expects (NAME VALUE) pairs", "a C form's own message");
	fails("(derivation (name \"x\") (env (1 \"V\")))", ERR_INVALID,
	      "p.scm:1:30: expected a string", "a C form's check of a value");
}

/* The recipe-like generator: 100 derivations made by map through the C
 * form, and the strings that refer to them. */
static void test_generator(void)
{
	static const char prog[] =
	    ";; one object per source file, then a link step\n"
	    "(define (object i)\n"
	    "  (derivation\n"
	    "   (name (string-append \"obj-\" (number->string i)))\n"
	    "   (env (\"N\" (number->string i))\n"
	    "        (\"CFLAGS\" \"-O2\"))))\n"
	    "(define objects (map object (iota 100)))\n"
	    "(define link\n"
	    "  (derivation (name \"link\")\n"
	    "              (args (map (lambda (o) (string-append \"-l\" o)) objects))))\n"
	    "(list objects link)\n";
	struct sexp *v, *objs, *link;
	const struct drv *d;
	bool all = true, ctx_ok = true;
	int r;

	r = run(prog, &v);
	if (!ok(r == 0, "the generator evaluates"))
		printf("# %s\n", err_msg());
	if (r != 0)
		return;
	objs = v->u.list.v[0];
	link = v->u.list.v[1];
	ok(objs->type == SEXP_LIST && objs->u.list.n == 100, "a list of 100 records");
	for (size_t i = 0; i < objs->u.list.n; i++) {
		char name[32], n[24];

		snprintf(name, sizeof(name), "obj-%zu", i);
		snprintf(n, sizeof(n), "%zu", i);
		d = eval_record_of(objs->u.list.v[i], &drv_type)
			? eval_record_of(objs->u.list.v[i], &drv_type)->data
			: NULL;
		if (!d || strcmp(d->name, name) || d->nenv != 2 || strcmp(d->env[0], "N") ||
		    strcmp(d->env[1], n) || strcmp(d->env[3], "-O2"))
			all = false;
	}
	ok(all, "each record holds its own name and env, read back through its data");
	d = eval_record_of(link, &drv_type) ? eval_record_of(link, &drv_type)->data : NULL;
	ok(d && d->nargs == 1 && d->args[0]->type == SEXP_LIST && d->args[0]->u.list.n == 100,
	   "the link step got 100 arguments");
	for (size_t i = 0; d && i < 100; i++) {
		const struct sexp *s = d->args[0]->u.list.v[i];
		char want[64];

		snprintf(want, sizeof(want), "-l/yonder/store/obj-%zu", i);
		if (s->type != SEXP_STRING || strcmp(s->u.str.s, want) || !s->u.str.ctx ||
		    s->u.str.ctx->n != 1 || s->u.str.ctx->e[0].rec != objs->u.list.v[i] ||
		    strcmp(s->u.str.ctx->e[0].sub, "out"))
			ctx_ok = false;
	}
	ok(ctx_ok, "each argument is the object's path, with the object in its context");
	ok(eval_steps(ev) > 100 && eval_steps(ev) < 10000, "steps counted: %llu",
	   (unsigned long long)eval_steps(ev));
}

static void test_contexts(void)
{
	struct sexp *v;
	const struct eval_strctx *c;
	int r;

	r = run("(define a (derivation (name \"a\")))\n"
		"(define b (derivation (name \"b\")))\n"
		"(define ab (string-append a \":\" b))\n"
		"(string-append ab \" \" a \" \" b \" \" ab (number->string 1))",
		&v);
	ok(r == 0 && v->type == SEXP_STRING &&
	       !strcmp(v->u.str.s, "/yonder/store/a:/yonder/store/b /yonder/store/a "
				   "/yonder/store/b /yonder/store/a:/yonder/store/b1"),
	   "records turn into strings in string-append");
	c = r == 0 ? v->u.str.ctx : NULL;
	ok(c && c->n == 2 && c->e[0].rec != c->e[1].rec, "the context holds both, once each");
	r = run("(string-append \"plain\" \"text\")", &v);
	ok(r == 0 && v->u.str.ctx == NULL, "literals have no context");
	fails("(string-append (build-machine (name \"m\")))", ERR_INVALID,
	      "p.scm:1:16: 'string-append' expects strings, got #<build-machine>",
	      "a record type without to_string is no string");

	/* eval_strctx_add from C. */
	r = run("(list (derivation (name \"x\")) (derivation (name \"y\")))", &v);
	if (r == 0) {
		const struct eval_strctx *ctx = NULL;

		eval_strctx_add(ev, &ctx, v->u.list.v[0], "out");
		eval_strctx_add(ev, &ctx, v->u.list.v[0], "dev");
		eval_strctx_add(ev, &ctx, v->u.list.v[1], "out");
		eval_strctx_add(ev, &ctx, v->u.list.v[0], "out");
		ok(ctx && ctx->n == 3, "eval_strctx_add keeps distinct (record, sub) pairs");
	}
}

static void test_c_api(void)
{
	struct sexp *v, *f, *args[2], *res;
	int r;

	/* eval_define, eval_apply, replacing a builtin. */
	reset(NULL, SEXP_ARENA_DEFAULT);
	eval_mk_string(ev, (struct sexp_pos){"<test>", 1, 1}, "/gnu/store", 10, NULL, &v);
	ok(eval_define(ev, "%store-directory", v) == 0, "eval_define");
	r = run_in("(define (join a b) (string-append a \"/\" b)) join", &f);
	ok(r == 0 && f->type == SEXP_PROC, "a procedure value for C");
	args[0] = v;
	eval_mk_string(ev, v->pos, "x", 1, NULL, &args[1]);
	r = eval_apply(ev, f, args, 2, f, &res);
	ok(r == 0 && res->type == SEXP_STRING && !strcmp(res->u.str.s, "/gnu/store/x"),
	   "eval_apply calls it");
	r = eval_apply(ev, f, args, 1, f, &res);
	is_int(r, ERR_INVALID, "eval_apply checks the count");
	r = eval_apply(ev, v, args, 1, f, &res);
	ok(r == ERR_INVALID && strstr(err_msg(), "cannot call \"/gnu/store\""),
	   "eval_apply of a non-procedure: %s", err_msg());
	r = run_in("(string-append %store-directory \"/y\")", &res);
	ok(r == 0 && !strcmp(res->u.str.s, "/gnu/store/y"), "a value defined from C");

	is_int(eval_register_builtin(ev, "if", 0, 0, bi_iota, NULL), ERR_INVALID,
	       "core forms cannot be replaced");
	is_int(eval_register_builtin(ev, "getenv", 1, 1, bi_iota, NULL), 0,
	       "a builtin can be replaced (a sandboxed getenv, say)");
	r = run_in("(getenv 3)", &res);
	ok(r == 0 && !strcmp(pr(res), "(0 1 2)"), "the replacement is called");

	is_int(eval_mk_string(ev, v->pos, "a\0b", 3, NULL, &res), ERR_INVALID,
	       "eval_mk_string refuses a NUL");
}

static void test_guix_example(void)
{
	static const char path[] = "tests/data/machines/guix-example.scm";
	const struct eval_record *m1, *m2;
	const struct eval_field *f;
	struct sexp *v;
	int r;

	setenv("HOME", "/home/offloader", 1);
	reset(NULL, SEXP_ARENA_DEFAULT);
	r = eval_file(ev, path, &v);
	if (!ok(r == 0, "%s evaluates", path))
		printf("# %s\n", err_msg());
	if (r != 0)
		return;
	ok(v->type == SEXP_LIST && v->u.list.n == 2, "its value is a list of two");
	if (v->type != SEXP_LIST || v->u.list.n != 2)
		return;
	m1 = eval_record_of(v->u.list.v[0], &machine_type);
	m2 = eval_record_of(v->u.list.v[1], &machine_type);
	ok(m1 && m2, "two build-machine records");
	if (!m1 || !m2)
		return;
	f = eval_record_field(m1, "name");
	is_str(f && f->n == 1 ? f->v[0]->u.str.s : NULL, "eightysix.example.org", "1: name");
	ok(f && !strcmp(f->pos.file, path) && f->pos.line == 14 && f->pos.col == 4,
	   "1: the name clause's position (inside the procedure) %u:%u", f ? f->pos.line : 0,
	   f ? f->pos.col : 0);
	f = eval_record_field(m1, "systems");
	ok(f && f->n == 1 && f->v[0]->type == SEXP_LIST && f->v[0]->u.list.n == 2 &&
	       !strcmp(f->v[0]->u.list.v[1]->u.str.s, "i686-linux"),
	   "1: systems, a list of two");
	f = eval_record_field(m1, "user");
	is_str(f ? f->v[0]->u.str.s : NULL, "offload", "1: user");
	f = eval_record_field(m1, "port");
	ok(f && f->v[0]->type == SEXP_INT && f->v[0]->u.i == 22, "1: port 22");
	f = eval_record_field(m1, "private-key");
	is_str(f ? f->v[0]->u.str.s : NULL, "/home/offloader/.ssh/id_ed25519",
	       "1: private-key from HOME");
	f = eval_record_field(m1, "speed");
	ok(f && f->v[0]->type == SEXP_REAL && f->v[0]->u.d == 2.0, "1: speed 2.");
	ok(f && f->v[0]->pos.line == 24, "1: the speed value's position is the argument's (%u)",
	   f ? f->v[0]->pos.line : 0);

	f = eval_record_field(m2, "name");
	is_str(f ? f->v[0]->u.str.s : NULL, "armeight.example.org", "2: name");
	f = eval_record_field(m2, "systems");
	is_str(f ? pr(f->v[0]) : NULL, "(\"aarch64-linux\")", "2: quoted systems");
	f = eval_record_field(m2, "host-key");
	ok(f && !strncmp(f->v[0]->u.str.s, "ssh-ed25519 AAAA", 16), "2: host-key");
	f = eval_record_field(m2, "parallel-builds");
	ok(f && f->v[0]->type == SEXP_INT && f->v[0]->u.i == 4, "2: parallel-builds 4");
	f = eval_record_field(m2, "features");
	is_str(f ? pr(f->v[0]) : NULL, "(\"kvm\" \"big-parallel\")", "2: features");
	ok(!eval_record_field(m2, "speed"), "2: the speed behind #; is absent");
	f = eval_record_field(m2, "private-key");
	is_str(f ? f->v[0]->u.str.s : NULL, "/home/offloader/.ssh/id_rsa", "2: private-key");
	is_int((long long)m2->nfields, 7, "2: seven fields");
}

static void test_bounds(void)
{
	static const char nested_maps[] =
	    "(define l '(1 2 3 4 5 6 7 8 9 10))\n"
	    "(map (lambda (a) (map (lambda (b) (map (lambda (c) (map (lambda (d) (map list l)) "
	    "l)) l)) l)) l)";
	struct eval_limits lim = {100000, 0};
	struct sexp *v;
	char *prog;
	size_t len;
	int r;

	/* Steps. */
	reset(&lim, SEXP_ARENA_DEFAULT);
	r = run_in(nested_maps, &v);
	is_int(r, ERR_TOOBIG, "a program past its step budget fails");
	ok(r && strstr(err_msg(), "evaluation takes more than 100000 steps") &&
	       !strncmp(err_msg(), "p.scm:2:", 8),
	   "with a position: %s", err_msg());
	is_int((long long)eval_steps(ev), 100001, "and stops at the budget");
	r = run(nested_maps, &v);
	ok(r == 0 && v->u.list.n == 10, "the same program fits the default budget (%llu steps)",
	   (unsigned long long)eval_steps(ev));

	/* Depth. */
	fails("(define (loop x) (list (loop x)))\n(loop 1)", ERR_TOOBIG,
	      "p.scm:1:24: evaluation nested deeper than 1000", "endless recursion");
	lim.max_steps = 0;
	lim.max_depth = 50;
	reset(&lim, SEXP_ARENA_DEFAULT);
	r = run_in("(define (f x) (list (f x))) (f 1)", &v);
	ok(r == ERR_TOOBIG && strstr(err_msg(), "nested deeper than 50"),
	   "max_depth is the caller's: %s", err_msg());

	/* Data depth: built at run time, past what the reader allows. */
	len = 64 + 2 * 20 * 500;
	prog = malloc(len);
	if (prog) {
		size_t p = 0;

		p += (size_t)snprintf(prog + p, len - p, "(define (w x) (list x))\n");
		for (int k = 0; k < 2; k++) {
			p += (size_t)snprintf(prog + p, len - p, "(define %c ", 'a' + k);
			for (int i = 0; i < 500; i++)
				p += (size_t)snprintf(prog + p, len - p, "(w ");
			p += (size_t)snprintf(prog + p, len - p, "%s", k ? "a" : "1");
			for (int i = 0; i < 501; i++)
				prog[p++] = ')';
			prog[p++] = '\n';
		}
		snprintf(prog + p, len - p, "(list (list b))");
		reset(NULL, SEXP_ARENA_DEFAULT);
		r = run_in(prog, &v);
		is_int(r, ERR_TOOBIG, "data nested deeper than SEXP_MAX_DEPTH is refused");
		is_str(r ? err_msg() : "", "p.scm:4:7: data nested deeper than 1000",
		       "message of deep data");
		free(prog);
	}

	/* Strings and memory. */
	fails("(define (d s) (string-append s s))\n"
	      "(d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d "
	      "\"x\")))))))))))))))))))))))))",
	      ERR_TOOBIG, "p.scm:1:15: string longer than 16777216 bytes", "a string too long");
	reset(NULL, 8u << 20);
	r = run_in("(define (d s) (string-append s s))\n"
		   "(d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d (d \"x\")))))"
		   "))))))))))))))))))",
		   &v);
	is_int(r, ERR_TOOBIG, "an evaluation past its arena's cap fails");
	ok(r && strstr(err_msg(), "more than 8388608 bytes of memory needed") &&
	       !strncmp(err_msg(), "p.scm:1:15: ", 12),
	   "with the position: %s", err_msg());
	ok(sexp_arena_used(arena) <= 8u << 20, "the arena stayed under its cap");
}

int main(void)
{
	test_core();
	test_closures();
	test_builtins();
	test_errors();
	test_records();
	test_generator();
	test_contexts();
	test_c_api();
	test_guix_example();
	test_bounds();
	eval_free(ev);
	sexp_arena_free(arena);
	return tap_done();
}
