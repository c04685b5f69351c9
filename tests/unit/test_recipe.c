/* Unit tests for recipe.c: the derivations of tests/vectors/drv written as
 * a recipe (tests/data/recipes/nix-vectors.scm) give Nix's .drv bytes and
 * paths for /nix/store and /gnu/store; plain-file gives builtins.toFile's
 * paths (tests/vectors/vectors.tsv); every field of `derivation` lands in
 * the derivation as builtins.derivation puts it; inputs are collected from
 * strings; the items come out references first, each once; every recipe
 * of tests/data/bad-recipe fails with the message in its EXPECT; and
 * recipe_write() registers the items.  Run from the top of the repository
 * (or set YONDER_TOP). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "db.h"
#include "drv.h"
#include "err.h"
#include "recipe.h"
#include "store.h"
#include "storepath.h"
#include "tap.h"

static const char *top; /* the repository (tap_find_top) */

static void spew(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* ---- tables: drvs.tsv and vectors.tsv ---- */

/* A row's tab-separated fields (drvs.tsv has 4, vectors.tsv 5; the
 * missing ones are ""). */
struct row {
	char *f[5];
};

static struct row *load_tsv(const char *rel, size_t *np, char **keep)
{
	char *t = *keep = tap_slurp(rel, NULL), *line, *save = NULL;
	struct row *rows = NULL;
	size_t n = 0;

	for (line = t ? strtok_r(t, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		struct row r;
		char *p = line;

		for (int k = 0; k < 5; k++) {
			r.f[k] = p;
			if ((p = strchr(p, '\t')))
				*p++ = '\0';
			else
				p = "";
		}
		rows = realloc(rows, (n + 1) * sizeof(*rows));
		rows[n++] = r;
	}
	*np = n;
	return rows;
}

/* The last field of the row whose first fields are A, B, C (and D). */
static const char *lookup(struct row *rows, size_t n, const char *a, const char *b, const char *c)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].f[0], a) && !strcmp(rows[i].f[1], b) &&
		    !strcmp(rows[i].f[2], c))
			return rows[i].f[3];
	return NULL;
}

static const char *lookup4(struct row *rows, size_t n, const char *a, const char *b, const char *c,
			   const char *d)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].f[0], a) && !strcmp(rows[i].f[1], b) &&
		    !strcmp(rows[i].f[2], c) && !strcmp(rows[i].f[3], d))
			return rows[i].f[4];
	return NULL;
}

/* ---- helpers ---- */

static const struct recipe_item *find_item(const struct recipe_result *r, const char *path)
{
	for (size_t i = 0; i < r->nitems; i++)
		if (!strcmp(r->items[i].path, path))
			return &r->items[i];
	return NULL;
}

static const struct recipe_item *find_named(const struct recipe_result *r, const char *name)
{
	for (size_t i = 0; i < r->nitems; i++)
		if (!strcmp(r->items[i].name, name))
			return &r->items[i];
	return NULL;
}

static const struct drv *drv_named(const struct recipe_result *r, const char *name)
{
	const struct recipe_item *it = find_named(r, name);

	return it && it->kind == RECIPE_DRV ? it->drv : NULL;
}

/* Every reference of an item is an earlier item, and no path is listed
 * twice. */
static bool refs_first(const struct recipe_result *r)
{
	for (size_t i = 0; i < r->nitems; i++) {
		for (size_t j = 0; j < r->items[i].nrefs; j++) {
			size_t k;

			for (k = 0; k < i; k++)
				if (!strcmp(r->items[k].path, r->items[i].refs[j]))
					break;
			if (k == i)
				return false;
		}
		for (size_t k = 0; k < i; k++)
			if (!strcmp(r->items[k].path, r->items[i].path))
				return false;
	}
	return true;
}

static int eval_str(struct recipe_result *r, const char *storedir, const char *text)
{
	recipe_result_release(r);
	return recipe_eval_mem(r, storedir, "t.scm", text, strlen(text), NULL);
}

/* ---- Nix's derivations as a recipe ---- */

static const char *const attrs[] = {
    "hello",
    "two-outputs",
    "only-bin",
    "fixed-flat-base16",
    "fixed-flat-nix32",
    "fixed-flat-sri",
    "fixed-flat-prefixed",
    "fixed-recursive-base16",
    "fixed-recursive-nix32",
    "fixed-recursive-sri",
    "fixed-flat-sha1",
    "fixed-recursive-sha512",
    "dependent",
    "dependent2",
    "tofile",
    "escapes",
};
#define NATTRS (sizeof(attrs) / sizeof(attrs[0]))

static void test_nix_vectors(const char *storedir, const char *tag)
{
	struct recipe_result res = RECIPE_RESULT_INIT;
	char *keep, path[PATH_MAX + 64];
	size_t nrows, same = 0;
	struct row *rows = load_tsv("tests/vectors/drv/drvs.tsv", &nrows, &keep);
	int r;

	snprintf(path, sizeof(path), "%s/tests/data/recipes/nix-vectors.scm", top);
	r = recipe_eval_file(&res, storedir, path, NULL);
	if (!ok(r == 0, "%s: nix-vectors.scm evaluates%s%s", tag, r ? ": " : "",
		r ? err_msg() : ""))
		goto out;
	is_int((long long)res.ndrvs, NATTRS, "%s: its value is %zu derivations", tag, NATTRS);
	for (size_t i = 0; i < NATTRS && i < res.ndrvs; i++) {
		const char *want = lookup(rows, nrows, attrs[i], storedir, "drv_path");
		const char *file = lookup(rows, nrows, attrs[i], storedir, "file");
		const struct recipe_item *it = find_item(&res, res.drvs[i]);
		char rel[256];
		size_t len;
		char *bytes;

		is_str(res.drvs[i], want ? want : "?", "%s: %s: Nix's .drv path", tag, attrs[i]);
		snprintf(rel, sizeof(rel), "tests/vectors/drv/%s", file ? file : "?");
		bytes = tap_slurp(rel, &len);
		if (ok(it && bytes && it->kind == RECIPE_DRV && it->len == len &&
			   !memcmp(it->text, bytes, len),
		       "%s: %s: Nix's .drv bytes", tag, attrs[i]))
			same++;
		free(bytes);
	}
	is_int((long long)same, NATTRS, "%s: all %zu .drv files byte-identical", tag, NATTRS);
	/* 16 derivations (14 distinct .drv: none is listed twice) and two
	 * plain-files. */
	ok(refs_first(&res), "%s: items come references first, each once", tag);
	is_int((long long)res.nitems, NATTRS + 2, "%s: 16 .drv and 2 plain-file items", tag);
	{
		const struct recipe_item *b = find_named(&res, "builder.sh");
		const struct recipe_item *d = find_named(&res, "data.txt");

		ok(b && d && b->kind == RECIPE_TEXT && d->nrefs == 1 &&
		       !strcmp(d->refs[0], b->path),
		   "%s: data.txt refers to builder.sh", tag);
		ok(b && !strcmp(b->text, "echo from-file > $out\n"), "%s: builder.sh's text", tag);
	}
out:
	recipe_result_release(&res);
	free(rows);
	free(keep);
}

/* ---- plain-file is builtins.toFile ---- */

/* Appends S as a Scheme string literal. */
static void put_literal(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_putc(b, '\\');
		buf_putc(b, *s);
	}
	buf_putc(b, '"');
}

/* vectors.tsv writes content as the body of a JSON string. */
static char *unescape(const char *s)
{
	char *o = malloc(strlen(s) + 1), *p = o;

	for (; o && *s; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			*p++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
		} else {
			*p++ = *s;
		}
	}
	if (o)
		*p = '\0';
	return o;
}

static void test_plain_file(void)
{
	static const char *const dirs[] = {"/nix/store", "/gnu/store"};
	char *keep;
	size_t nrows, checked = 0;
	struct row *rows = load_tsv("tests/vectors/vectors.tsv", &nrows, &keep);

	for (size_t k = 0; k < 2; k++) {
		const char *sd = dirs[k];
		struct recipe_result res = RECIPE_RESULT_INIT;
		struct buf b = BUF_INIT(1 << 20);
		const struct recipe_item *it;
		const char *want;
		int r;

		/* Each file without references, as the one input of a
		 * derivation. */
		for (size_t i = 0; i < nrows; i++) {
			char *content;

			if (strcmp(rows[i].f[0], "text") || strcmp(rows[i].f[2], sd) ||
			    strcmp(rows[i].f[3], "content") ||
			    strcmp(lookup4(rows, nrows, "text", rows[i].f[1], sd, "references"),
				   "-"))
				continue;
			content = unescape(rows[i].f[4]);
			buf_reset(&b);
			buf_puts(&b, "(derivation (name \"t\") (system \"s\") (builder \"/bin/sh\")"
				     " (env (\"f\" (plain-file ");
			put_literal(&b, rows[i].f[1]);
			buf_putc(&b, ' ');
			put_literal(&b, content);
			buf_puts(&b, "))))");
			r = eval_str(&res, sd, b.data);
			it = r == 0 ? find_named(&res, rows[i].f[1]) : NULL;
			want = lookup4(rows, nrows, "text", rows[i].f[1], sd, "path");
			is_str(it ? it->path : err_msg(), want ? want : "?",
			       "plain-file %s in %s: builtins.toFile's path", rows[i].f[1], sd);
			ok(it && it->kind == RECIPE_TEXT && !strcmp(it->text, content) &&
			       !it->nrefs,
			   "... its text, no references");
			ok(res.nitems == 2 && res.items[1].drv && res.items[1].drv->nsrcs == 1 &&
			       it && !strcmp(res.items[1].drv->srcs[0], it->path),
			   "... and it is the derivation's one input source");
			checked++;
			free(content);
		}
		/* b.txt refers to a.txt, c.txt to both: the references come
		 * from the strings' context. */
		r = eval_str(
		    &res, sd,
		    "(define a (plain-file \"a.txt\" \"A\\n\"))\n"
		    "(define b (plain-file \"b.txt\" (string-append \"see \" a \"\\n\")))\n"
		    "(define c (plain-file \"c.txt\" (string-append b \" and \" a)))\n"
		    "(derivation (name \"t\") (system \"s\") (builder \"/bin/sh\") (args c))");
		ok(r == 0, "a.txt, b.txt, c.txt in %s%s%s", sd, r ? ": " : "", r ? err_msg() : "");
		for (const char *const *n = (const char *const[]){"a.txt", "b.txt", "c.txt", NULL};
		     *n; n++) {
			char *content = unescape(lookup4(rows, nrows, "text", *n, sd, "content"));
			const char *refs = lookup4(rows, nrows, "text", *n, sd, "references");

			it = r == 0 ? find_named(&res, *n) : NULL;
			want = lookup4(rows, nrows, "text", *n, sd, "path");
			is_str(it ? it->path : "?", want ? want : "??", "%s in %s: Nix's path", *n,
			       sd);
			is_str(it ? it->text : "?", content, "%s in %s: Nix's content", *n, sd);
			buf_reset(&b);
			for (size_t j = 0; it && j < it->nrefs; j++)
				buf_printf(&b, "%s%s", j ? "," : "", it->refs[j]);
			is_str(b.len ? b.data : "-", refs ? refs : "?",
			       "%s in %s: Nix's references", *n, sd);
			free(content);
			checked++;
		}
		ok(r == 0 && refs_first(&res) && res.nitems == 4,
		   "... added a, b, c, then the .drv");
		recipe_result_release(&res);
		buf_release(&b);
	}
	ok(checked >= 10, "%zu plain-file vectors checked", checked);
	free(rows);
	free(keep);
}

/* ---- fields ---- */

static const char *env_of(const struct drv *d, const char *k)
{
	const char *v = d ? drv_env_get(d, k) : NULL;

	return v ? v : "(unset)";
}

static void test_fields(void)
{
	struct recipe_result res = RECIPE_RESULT_INIT;
	const struct drv *d, *lib;
	int r;

	r = eval_str(&res, "/nix/store",
		     "(define lib (derivation (name \"lib\") (system \"x86_64-linux\")\n"
		     "  (builder \"/bin/sh\") (outputs \"out\" \"dev\")))\n"
		     "(derivation\n"
		     "  (name \"all\")\n"
		     "  (system \"x86_64-linux\")\n"
		     "  (builder lib)\n"
		     "  (args \"-c\" (list \"a\" \"b\") 7 #t #f (output lib \"dev\"))\n"
		     "  (outputs \"out\" \"doc\" \"bin\")\n"
		     "  (env (\"N\" 42) (\"T\" #t) (\"F\" #f) (\"L\" (list \"x\" 1 lib))\n"
		     "       (\"S\" (string-append \"dev=\" (output lib \"dev\"))))\n"
		     "  (features \"kvm\" (list \"big-parallel\"))\n"
		     "  (prefer-local #t))\n");
	ok(r == 0, "a derivation with every field%s%s", r ? ": " : "", r ? err_msg() : "");
	d = drv_named(&res, "all.drv");
	lib = drv_named(&res, "lib.drv");
	ok(d && lib, "both derivations are items");
	if (!d || !lib)
		goto out;
	is_str(d->name, "all", "name");
	is_str(d->system, "x86_64-linux", "system");
	is_str(d->builder, lib->outputs[1].path, "a derivation as builder is its first output");
	is_int((long long)d->nargs, 7, "args: lists spliced, 7 arguments");
	if (d->nargs == 7) {
		is_str(d->args[1], "a", "args: list element");
		is_str(d->args[3], "7", "args: an integer in decimal");
		is_str(d->args[4], "1", "args: #t is \"1\"");
		is_str(d->args[5], "", "args: #f is \"\"");
		is_str(d->args[6], lib->outputs[0].path, "args: (output lib \"dev\")");
	}
	is_int((long long)d->noutputs, 3, "three outputs");
	is_str(env_of(d, "outputs"), "out doc bin", "outputs: in the order written");
	for (size_t i = 0; i < d->noutputs; i++)
		is_str(env_of(d, d->outputs[i].name), d->outputs[i].path, "env %s is its path",
		       d->outputs[i].name);
	is_str(env_of(d, "N"), "42", "env: integer");
	is_str(env_of(d, "T"), "1", "env: #t");
	is_str(env_of(d, "F"), "", "env: #f");
	{
		char want[512];

		snprintf(want, sizeof(want), "x 1 %s", lib->outputs[1].path);
		is_str(env_of(d, "L"), want, "env: a list joined with spaces");
		snprintf(want, sizeof(want), "dev=%s", lib->outputs[0].path);
		is_str(env_of(d, "S"), want, "env: string-append with (output …)");
	}
	is_str(env_of(d, "requiredSystemFeatures"), "kvm big-parallel", "features");
	is_str(env_of(d, "preferLocalBuild"), "1", "prefer-local #t");
	is_str(env_of(d, "name"), "all", "env name");
	is_str(env_of(d, "system"), "x86_64-linux", "env system");
	is_str(env_of(d, "builder"), d->builder, "env builder");
	ok(!drv_env_get(d, "args"), "no env 'args' (as builtins.derivation)");
	ok(d->ninputs == 1 && d->inputs[0].noutputs == 2 &&
	       !strcmp(d->inputs[0].outputs[0], "dev") && !strcmp(d->inputs[0].outputs[1], "out"),
	   "one input derivation, both outputs used");
	ok(d->nsrcs == 0, "no input sources");
	ok(env_of(lib, "outputs")[0] == 'o' && !strcmp(lib->outputs[0].name, "dev"),
	   "lib: outputs sorted in the .drv");

	/* Defaults: no outputs field, no outputs variable; prefer-local #f,
	 * empty features. */
	r = eval_str(&res, "/nix/store",
		     "(derivation (name \"d\") (system \"s\") (builder \"/b\") (prefer-local #f)"
		     " (features))");
	d = r == 0 ? drv_named(&res, "d.drv") : NULL;
	ok(d && d->noutputs == 1 && !strcmp(d->outputs[0].name, "out") &&
	       !drv_env_get(d, "outputs"),
	   "without 'outputs': the one output out, no variable 'outputs'");
	is_str(env_of(d, "preferLocalBuild"), "", "prefer-local #f is \"\" (as Nix)");
	is_str(env_of(d, "requiredSystemFeatures"), "", "(features) is \"\"");
	ok(d && d->nargs == 0 && d->nenv == 6,
	   "no args; env: builder name out system and those two");

	/* A fixed output with each encoding: the same output path. */
	{
		static const char *const hs[] = {
		    "\"sha256\" "
		    "\"4f1eeda7540e3169ec5dc5c5e3883d3046ae6a724491fcaca76cdb6cc40bb37e\"",
		    "\"sha256\" \"0zmk1g26rnvclyngr4a4f9mawiih7n4f7if5bpn6jc8fajkys7jg\"",
		    "\"sha256\" \"Tx7tp1QOMWnsXcXF44g9MEauanJEkfysp2zbbMQLs34=\"",
		    "\"sha256-Tx7tp1QOMWnsXcXF44g9MEauanJEkfysp2zbbMQLs34=\"",
		    "\"sha256:0zmk1g26rnvclyngr4a4f9mawiih7n4f7if5bpn6jc8fajkys7jg\"",
		    "\"sha256\" "
		    "\"sha256:4f1eeda7540e3169ec5dc5c5e3883d3046ae6a724491fcaca76cdb6cc40bb37e\"",
		};
		char text[512];

		for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
			snprintf(text, sizeof(text),
				 "(derivation (name \"fixed-flat\") (system \"s\") (builder \"/b\")"
				 " (hash %s #:recursive #f))",
				 hs[i]);
			r = eval_str(&res, "/nix/store", text);
			d = r == 0 ? drv_named(&res, "fixed-flat.drv") : NULL;
			is_str(d ? d->outputs[0].path : err_msg(),
			       "/nix/store/9i6fn30v5c9mdw48gsbd3yz5876ybird-fixed-flat",
			       "hash %s: Nix's fixed output path", hs[i]);
			ok(d && !drv_env_get(d, "outputHashMode") &&
			       !strcmp(d->outputs[0].hash_algo, "sha256"),
			   "... flat: no outputHashMode");
		}
	}
out:
	recipe_result_release(&res);
}

/* ---- inputs, sharing, the closure ---- */

static void test_inputs(void)
{
	struct recipe_result res = RECIPE_RESULT_INIT;
	char dir[PATH_MAX], sub[PATH_MAX + 16], file[PATH_MAX + 32], data[PATH_MAX + 32];
	char *want = NULL, *want2 = NULL;
	const struct drv *d;
	int r;

	/* local-file: relative to the recipe's directory, not the cwd. */
	snprintf(dir, sizeof(dir), "%s", tap_tmpdir());
	snprintf(sub, sizeof(sub), "%s/r", dir);
	mkdir(sub, 0755);
	snprintf(data, sizeof(data), "%s/script.sh", sub);
	spew(data, "echo hi > $out\n");
	snprintf(file, sizeof(file), "%s/tree", sub);
	mkdir(file, 0755);
	snprintf(file, sizeof(file), "%s/tree/f", sub);
	spew(file, "f\n");
	snprintf(file, sizeof(file), "%s/recipe.scm", sub);
	spew(file,
	     "(define unused (derivation (name \"unused\") (system \"s\") (builder \"/b\")))\n"
	     "(define (mk n) (derivation (name \"same\") (system \"s\") (builder \"/b\")))\n"
	     "(derivation (name \"uses\") (system \"s\") (builder \"/bin/sh\")\n"
	     "  (args (local-file \"script.sh\") (local-file \"tree\" #:name \"src\")\n"
	     "        (mk 1) (mk 2) (local-file \"script.sh\")))\n");
	r = recipe_eval_file(&res, "/nix/store", file, NULL);
	ok(r == 0, "local-file recipe%s%s", r ? ": " : "", r ? err_msg() : "");
	d = drv_named(&res, "uses.drv");
	store_path_of("/nix/store", data, "script.sh", 0, &want);
	snprintf(file, sizeof(file), "%s/tree", sub);
	store_path_of("/nix/store", file, "src", 0, &want2);
	ok(d && d->nsrcs == 2, "two input sources (script.sh used twice counts once)");
	ok(d && want && want2 && d->nsrcs == 2 &&
	       ((!strcmp(d->srcs[0], want) && !strcmp(d->srcs[1], want2)) ||
		(!strcmp(d->srcs[1], want) && !strcmp(d->srcs[0], want2))),
	   "their paths are `nix-store --add`'s (the tree named with #:name)");
	ok(d && d->nargs == 5 && want && !strcmp(d->args[0], want), "the path is the argument");
	ok(d && d->ninputs == 1, "two identical derivations are one input");
	ok(!drv_named(&res, "unused.drv"), "a derivation the value does not use is not an item");
	is_int((long long)res.nitems, 4, "items: script.sh, src, same.drv, uses.drv");
	ok(refs_first(&res), "references first");
	{
		const struct recipe_item *it = want ? find_item(&res, want) : NULL;

		ok(it && it->kind == RECIPE_LOCAL && !strcmp(it->src, data) &&
		       !strcmp(it->name, "script.sh"),
		   "the local-file item: its source file and name");
	}
	free(want);
	free(want2);

	/* A chain 3000 derivations deep: listed without recursion, deepest
	 * first. */
	{
		struct buf b = BUF_INIT(1 << 24);

		buf_puts(
		    &b, "(define d0 (derivation (name \"c0\") (system \"s\") (builder \"/b\")))\n");
		for (int i = 1; i < 3000; i++)
			buf_printf(&b,
				   "(define d%d (derivation (name \"c%d\") (system \"s\") "
				   "(builder \"/b\") (args d%d)))\n",
				   i, i, i - 1);
		buf_puts(&b, "d2999\n");
		r = eval_str(&res, "/nix/store", b.data);
		ok(r == 0 && res.nitems == 3000 && res.ndrvs == 1,
		   "a chain of 3000 derivations%s%s", r ? ": " : "", r ? err_msg() : "");
		ok(r == 0 && !strcmp(res.items[0].name, "c0.drv") &&
		       !strcmp(res.items[2999].name, "c2999.drv") && refs_first(&res),
		   "... listed deepest first");
		buf_release(&b);
	}

	/* map generates derivations; the value may be a list of lists. */
	r = eval_str(&res, "/nix/store",
		     "(define (mk n) (derivation (name (string-append \"m\" n)) (system \"s\")"
		     " (builder \"/b\")))\n"
		     "(list (map mk (list \"1\" \"2\" \"3\")) (mk \"4\") (mk \"1\"))");
	ok(r == 0 && res.ndrvs == 5 && res.nitems == 4, "a list of lists: 5 values, 4 items");
	ok(r == 0 && res.ndrvs == 5 && !strcmp(res.drvs[0], res.drvs[4]),
	   "... the value keeps its order and repetitions");
	recipe_result_release(&res);
}

/* ---- errors ---- */

static void test_bad_corpus(void)
{
	char *expect = tap_slurp("tests/data/bad-recipe/EXPECT", NULL), *line, *save = NULL;
	char cwd[PATH_MAX], dir[PATH_MAX + 64];
	size_t n = 0;

	if (!ok(expect != NULL && getcwd(cwd, sizeof(cwd)), "read tests/data/bad-recipe/EXPECT"))
		return;
	snprintf(dir, sizeof(dir), "%s/tests/data/bad-recipe", top);
	if (!ok(chdir(dir) == 0, "cd tests/data/bad-recipe"))
		goto out;
	for (line = strtok_r(expect, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct recipe_result res = RECIPE_RESULT_INIT;
		char *msg = strchr(line, '\t');
		int r;

		if (line[0] == '#' || !msg)
			continue;
		*msg++ = '\0';
		r = recipe_eval_file(&res, "/nix/store", line, NULL);
		ok(r < 0 && res.nitems == 0 && res.ndrvs == 0, "%s: rejected, no result", line);
		is_str(err_msg(), msg, "%s: message", line);
		recipe_result_release(&res);
		n++;
	}
	ok(n >= 15, "%zu bad recipes", n);
	/* Every .scm has a line. */
	{
		FILE *p = popen("ls", "r");
		char name[1024], key[1100];
		size_t missing = 0;

		snprintf(dir, sizeof(dir), "%s/tests/data/bad-recipe/EXPECT", top);
		free(expect);
		expect = tap_slurp(dir, NULL);
		while (p && expect && fgets(name, sizeof(name), p)) {
			name[strcspn(name, "\n")] = '\0';
			if (strlen(name) < 5 || strcmp(name + strlen(name) - 4, ".scm"))
				continue;
			snprintf(key, sizeof(key), "\n%s\t", name);
			if (!strstr(expect, key)) {
				printf("# %s has no line in EXPECT\n", name);
				missing++;
			}
		}
		if (p)
			pclose(p);
		ok(p && missing == 0, "every bad recipe has its line in EXPECT");
	}
	ok(chdir(cwd) == 0, "back");
out:
	free(expect);
}

/* ---- writing ---- */

static void test_write(void)
{
	struct recipe_result res = RECIPE_RESULT_INIT;
	char sd[PATH_MAX + 16], st[PATH_MAX + 16], rfile[PATH_MAX + 32], src[PATH_MAX + 32];
	struct store *s = NULL;
	char **drvs = NULL;
	size_t n = 0;
	int r;

	snprintf(sd, sizeof(sd), "%s/store", tap_tmpdir());
	snprintf(st, sizeof(st), "%s/state", tap_tmpdir());
	snprintf(src, sizeof(src), "%s/src.txt", tap_tmpdir());
	snprintf(rfile, sizeof(rfile), "%s/w.scm", tap_tmpdir());
	spew(src, "one\n");
	spew(rfile, "(derivation (name \"w\") (system \"s\") (builder \"/bin/sh\")\n"
		    "  (args (local-file \"src.txt\") (plain-file \"p.txt\" \"text\")))\n");
	if (!ok(store_open_at(&s, sd, st) == 0, "open a store%s%s", s ? "" : ": ",
		s ? "" : err_msg()))
		return;
	r = recipe_instantiate(s, rfile, &drvs, &n);
	ok(r == 0 && n == 1, "recipe_instantiate%s%s", r ? ": " : "", r ? err_msg() : "");
	r = recipe_eval_file(&res, sd, rfile, NULL);
	ok(r == 0 && n == 1 && res.ndrvs == 1 && !strcmp(res.drvs[0], drvs[0]),
	   "the same path as evaluating alone");
	for (size_t i = 0; r == 0 && i < res.nitems; i++) {
		struct path_info pi = PATH_INFO_INIT;
		char *text;
		size_t len;

		r = db_query_info(store_db(s), res.items[i].path, &pi);
		ok(r == 0, "%s is valid", res.items[i].name);
		ok(pi.refs.n == res.items[i].nrefs, "... with its %zu references",
		   res.items[i].nrefs);
		if (res.items[i].kind != RECIPE_LOCAL) {
			text = tap_slurp(res.items[i].path, &len);
			ok(text && len == res.items[i].len && !memcmp(text, res.items[i].text, len),
			   "... and its text");
			free(text);
		}
		path_info_release(&pi);
	}
	ok(recipe_write(s, &res) == 0, "writing again is fine");
	/* The local file changes between evaluation and writing. */
	spew(src, "two\n");
	r = recipe_write(s, &res);
	ok(r == ERR_MISMATCH && strstr(err_msg(), "src.txt") && strstr(err_msg(), "changed"),
	   "a local-file changed since evaluation: %s", err_msg());
	drv_strv_free(drvs, n);
	recipe_result_release(&res);
	store_free(s);
}

int main(int argc, char **argv)
{
	top = tap_find_top(argv[0]);
	test_nix_vectors("/nix/store", "nix");
	test_nix_vectors("/gnu/store", "gnu");
	test_plain_file();
	test_fields();
	test_inputs();
	test_bad_corpus();
	test_write();
	return tap_done();
}
