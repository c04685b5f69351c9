/* Unit tests for drv.c against Nix 2.8: every .drv of tests/vectors/drv
 * parses and prints back byte for byte, its output paths and its own store
 * path are recomputed as Nix computed them (tests/vectors/drv/drvs.tsv),
 * derivations built with the drv_add_* calls give Nix's bytes, and every
 * malformed file of tests/data/bad-drv is rejected with the message in its
 * EXPECT file.  Run from the top of the repository (or set YONDER_TOP). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drv.h"
#include "err.h"
#include "storepath.h"
#include "tap.h"

static const char *top; /* the repository (tap_find_top) */

/* ---- files ---- */

/* ---- drvs.tsv ---- */

struct row {
	char *attr, *storedir, *field, *value;
};
static struct row *rows;
static size_t nrows;
static char *table;

static void load_table(void)
{
	char *t = table = tap_slurp("tests/vectors/drv/drvs.tsv", NULL), *line, *save = NULL;

	if (!ok(t != NULL, "read tests/vectors/drv/drvs.tsv"))
		exit(tap_done());
	for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct row r;

		if (!strncmp(line, "attr\t", 5))
			continue;
		r.attr = line;
		r.storedir = strchr(r.attr, '\t');
		*r.storedir++ = '\0';
		r.field = strchr(r.storedir, '\t');
		*r.field++ = '\0';
		r.value = strchr(r.field, '\t');
		*r.value++ = '\0';
		rows = realloc(rows, (nrows + 1) * sizeof(*rows));
		rows[nrows++] = r;
	}
	ok(nrows > 100, "drvs.tsv has %zu rows", nrows);
}

static const char *lookup(const char *attr, const char *storedir, const char *field)
{
	for (size_t i = 0; i < nrows; i++)
		if (!strcmp(rows[i].attr, attr) && !strcmp(rows[i].storedir, storedir) &&
		    !strcmp(rows[i].field, field))
			return rows[i].value;
	return NULL;
}

/* The loader for the hasher: a store path of a vector → its file. */
static int load_vector(void *ctx, const char *path, struct drv *out)
{
	const char *storedir = ctx;
	char *data;
	size_t len;
	int r;

	for (size_t i = 0; i < nrows; i++) {
		if (strcmp(rows[i].field, "drv_path") || strcmp(rows[i].value, path))
			continue;
		char rel[512];

		snprintf(rel, sizeof(rel), "tests/vectors/drv/%s",
			 lookup(rows[i].attr, rows[i].storedir, "file"));
		if (!(data = tap_slurp(rel, &len)))
			return err_set(ERR_NOTFOUND, "cannot read %s", rel);
		r = drv_parse_mem(out, data, len, path, storedir);
		free(data);
		return r;
	}
	return err_set(ERR_NOTFOUND, "no vector for '%s'", path);
}

/* ---- the vectors ---- */

static void test_vector(const char *attr, const char *storedir)
{
	char rel[512], *data, *dpath = NULL, **outs = NULL;
	const char *file = lookup(attr, storedir, "file");
	struct drv d;
	struct buf b = BUF_INIT((size_t)1 << 28);
	struct drv_hasher *h = NULL;
	size_t len;
	int r;

	snprintf(rel, sizeof(rel), "tests/vectors/drv/%s", file ? file : "?");
	if (!ok((data = tap_slurp(rel, &len)) != NULL, "%s: read", rel))
		return;
	r = drv_parse_mem(&d, data, len, rel, storedir);
	if (!is_int(r, 0, "%s: parses", rel)) {
		printf("# %s\n", err_msg());
		free(data);
		return;
	}
	ok(drv_print(&d, &b) == 0 && b.len == len && !memcmp(b.data, data, len),
	   "%s: prints back byte for byte", rel);
	if (drv_is_fixed(&d) && strstr(d.outputs[0].hash_algo, "sha256")) {
		/* outputHash as the user wrote it (base16, nix32, SRI, sha256:…)
		 * is the hash in the .drv. */
		const char *given = drv_env_get(&d, "outputHash");
		uint8_t fh[SHA256_LEN];
		char hex[SHA256_B16_LEN + 1] = "";

		if (given && sha256_parse(given, fh) == 0)
			hash_to_base16(fh, SHA256_LEN, hex);
		is_str(hex, d.outputs[0].hash, "%s: outputHash '%s' is the .drv's hash", rel,
		       given ? given : "?");
	}
	r = drv_store_path(&d, storedir, &dpath);
	is_str(r ? err_msg() : dpath, lookup(attr, storedir, "drv_path"), "%s: .drv store path",
	       rel);
	if (drv_hasher_new(&h, storedir, load_vector, (void *)storedir) == 0 &&
	    (r = drv_output_paths(h, &d, &outs)) == 0) {
		for (size_t i = 0; i < d.noutputs; i++) {
			char f[256];

			snprintf(f, sizeof(f), "out:%s", d.outputs[i].name);
			is_str(outs[i], lookup(attr, storedir, f), "%s: output path '%s' as Nix's",
			       rel, d.outputs[i].name);
		}
		r = drv_check_outputs(h, &d);
		ok(r == 0, "%s: declared outputs check out%s%s", rel, r ? ": " : "",
		   r ? err_msg() : "");
	} else {
		ok(0, "%s: output paths: %s", rel, err_msg());
	}
	drv_strv_free(outs, d.noutputs);
	drv_hasher_free(h);
	free(dpath);
	buf_release(&b);
	drv_release(&d);
	free(data);
}

static void test_vectors(void)
{
	static const char *const sds[] = {"/nix/store", "/gnu/store"};
	size_t n = 0;

	for (size_t s = 0; s < 2; s++)
		for (size_t i = 0; i < nrows; i++)
			if (!strcmp(rows[i].storedir, sds[s]) && !strcmp(rows[i].field, "file")) {
				test_vector(rows[i].attr, sds[s]);
				n++;
			}
	ok(n >= 32, "%zu vectors tested", n);
}

/* The parsed vector ATTR in /nix/store (the test fails when it does not
 * parse). */
static bool parse_vector(struct drv *d, const char *attr)
{
	char rel[512], *data;
	size_t len;
	int r;

	snprintf(rel, sizeof(rel), "tests/vectors/drv/nix/%s.drv", attr);
	if (!(data = tap_slurp(rel, &len)))
		return ok(0, "read %s", rel);
	r = drv_parse_mem(d, data, len, rel, "/nix/store");
	free(data);
	return r == 0 || ok(0, "parse %s: %s", rel, err_msg());
}

/* Modulo hashes given as a lookup table, without a loader. */
static void test_lookup_table(void)
{
	struct drv_hasher *full = NULL, *tab = NULL;
	struct drv d;
	char **a = NULL, **b = NULL;
	int r;

	if (!parse_vector(&d, "dependent2"))
		return;
	drv_hasher_new(&full, "/nix/store", load_vector, (void *)"/nix/store");
	drv_hasher_new(&tab, "/nix/store", NULL, NULL);
	r = drv_output_paths(tab, &d, &a);
	ok(r == ERR_NOTFOUND && strstr(err_msg(), "no modulo hash known for input derivation"),
	   "no loader and no table entry: ERR_NOTFOUND (%s)", err_msg());
	for (size_t i = 0; i < d.ninputs; i++) {
		uint8_t hm[SHA256_LEN];

		if (drv_hasher_path(full, d.inputs[i].path, hm) == 0)
			drv_hasher_put(tab, d.inputs[i].path, hm);
	}
	ok(drv_output_paths(full, &d, &a) == 0 && drv_output_paths(tab, &d, &b) == 0 &&
	       !strcmp(a[0], b[0]),
	   "the same output path from a lookup table");
	is_str(b ? b[0] : err_msg(), lookup("dependent2", "/nix/store", "out:out"),
	       "... which is Nix's");
	drv_strv_free(a, 1);
	drv_strv_free(b, 1);
	drv_hasher_free(full);
	drv_hasher_free(tab);
	drv_release(&d);
}

/* ---- building derivations as recipes will ---- */

static void expect_bytes(struct drv *d, const char *attr, const char *what)
{
	char rel[512], *data;
	struct buf b = BUF_INIT((size_t)1 << 28);
	size_t len;

	snprintf(rel, sizeof(rel), "tests/vectors/drv/nix/%s.drv", attr);
	data = tap_slurp(rel, &len);
	if (drv_print(d, &b) != 0 || !data || b.len != len || memcmp(b.data, data, len)) {
		ok(0, "%s gives the bytes of %s", what, rel);
		printf("#   got:  %s\n#   want: %s\n", b.data ? b.data : err_msg(),
		       data ? data : "?");
	} else {
		ok(1, "%s gives the bytes of %s", what, rel);
	}
	free(data);
	buf_release(&b);
}

static void base(struct drv *d, const char *name, const char *arg)
{
	drv_init(d);
	drv_set_name(d, name);
	drv_set_system(d, "x86_64-linux");
	drv_set_builder(d, "/bin/sh");
	drv_add_arg(d, "-c");
	drv_add_arg(d, arg);
	drv_set_env(d, "system", "x86_64-linux");
	drv_set_env(d, "name", name);
	drv_set_env(d, "builder", "/bin/sh");
}

static void test_build(void)
{
	struct drv_hasher *h = NULL;
	struct drv d;
	uint8_t fh[SHA256_LEN];
	char *p = NULL;
	int r;

	drv_hasher_new(&h, "/nix/store", load_vector, (void *)"/nix/store");

	base(&d, "hello", "echo hello > $out");
	drv_add_output(&d, "out");
	r = drv_fill_outputs(h, &d);
	ok(r == 0, "fill the outputs of hello");
	expect_bytes(&d, "hello", "hello built with drv_add_*");
	drv_store_path(&d, "/nix/store", &p);
	is_str(p, lookup("hello", "/nix/store", "drv_path"), "... and its .drv path");
	free(p);
	p = NULL;
	drv_release(&d);

	/* Outputs added in any order end up sorted. */
	base(&d, "two-outputs", "echo out > $out; echo dev > $dev");
	drv_add_output(&d, "out");
	drv_add_output(&d, "dev");
	is_int(drv_add_output(&d, "dev"), ERR_EXISTS, "an output added twice: ERR_EXISTS");
	is_int(drv_add_output(&d, "drv"), ERR_INVALID, "an output named 'drv': ERR_INVALID");
	drv_set_env(&d, "outputs", "out dev");
	drv_fill_outputs(h, &d);
	expect_bytes(&d, "two-outputs", "two-outputs built with drv_add_*");
	drv_release(&d);

	base(&d, "dependent",
	     "echo /nix/store/fvchbymk0m4jvldpb9m5hy0bjy2lf30k-hello "
	     "/nix/store/1b51kdhwa04dy4x0a1r1h8383fx2k65j-two-outputs-dev "
	     "/nix/store/9i6fn30v5c9mdw48gsbd3yz5876ybird-fixed-flat > $out");
	drv_add_output(&d, "out");
	drv_add_input(&d, lookup("hello", "/nix/store", "drv_path"), "out");
	drv_add_input(&d, lookup("fixed-flat-base16", "/nix/store", "drv_path"), "out");
	drv_add_input(&d, lookup("two-outputs", "/nix/store", "drv_path"), "dev");
	drv_add_input(&d, lookup("two-outputs", "/nix/store", "drv_path"), "dev");
	r = drv_fill_outputs(h, &d);
	ok(r == 0, "fill the outputs of dependent%s%s", r ? ": " : "", r ? err_msg() : "");
	expect_bytes(&d, "dependent", "dependent built with drv_add_input");
	drv_release(&d);

	base(&d, "fixed-recursive",
	     "/bin/mkdir $out && echo hi > $out/file && echo there > $out/other");
	hash_from_base16("2ef164636ec17d967d48301cc432db72759010092b1c8c7d0bd878182de66ce1", 64, fh,
			 SHA256_LEN);
	drv_set_fixed(&d, true, fh);
	is_int(drv_add_output(&d, "dev"), ERR_INVALID, "no second output on a fixed output");
	drv_set_env(&d, "outputHash", "sha256-LvFkY27BfZZ9SDAcxDLbcnWQEAkrHIx9C9h4GC3mbOE=");
	drv_set_env(&d, "outputHashMode", "recursive");
	drv_fill_outputs(h, &d);
	expect_bytes(&d, "fixed-recursive-sri",
		     "a recursive fixed output built with drv_set_fixed");
	drv_release(&d);

	drv_init(&d);
	drv_set_name(&d, "tofile");
	drv_set_system(&d, "x86_64-linux");
	drv_set_builder(&d, "/bin/sh");
	drv_add_arg(&d, "-e");
	drv_add_arg(&d, "/nix/store/3274zbbrkk7nwkd98yr2gxrgs6qzv31b-builder.sh");
	drv_add_src(&d, "/nix/store/bjyvf7mifrw9bh8mlcji0vnvx9igx9nm-data.txt");
	drv_add_src(&d, "/nix/store/3274zbbrkk7nwkd98yr2gxrgs6qzv31b-builder.sh");
	drv_add_src(&d, "/nix/store/bjyvf7mifrw9bh8mlcji0vnvx9igx9nm-data.txt");
	drv_set_env(&d, "system", "x86_64-linux");
	drv_set_env(&d, "data", "/nix/store/bjyvf7mifrw9bh8mlcji0vnvx9igx9nm-data.txt");
	drv_set_env(&d, "name", "tofile");
	drv_set_env(&d, "builder", "/bin/sh");
	drv_add_output(&d, "out");
	drv_fill_outputs(h, &d);
	expect_bytes(&d, "tofile", "tofile built with drv_add_src");
	drv_store_path(&d, "/nix/store", &p);
	is_str(p, lookup("tofile", "/nix/store", "drv_path"), "... and its .drv path");
	free(p);
	drv_release(&d);

	drv_hasher_free(h);
}

/* ---- wrong outputs, missing inputs, cycles ---- */

static void test_mismatch(void)
{
	struct drv_hasher *h = NULL;
	struct drv d;
	char *save;
	int r;

	drv_hasher_new(&h, "/nix/store", load_vector, (void *)"/nix/store");
	if (!parse_vector(&d, "dependent"))
		return;
	/* An output path that is not the right one. */
	save = d.outputs[0].path;
	d.outputs[0].path = strdup("/nix/store/my7xy12zhrp0d9a4n3v7qq8cjpd0sh9i-dependenu");
	r = drv_check_outputs(h, &d);
	is_int(r, ERR_MISMATCH, "a wrong output path: ERR_MISMATCH");
	is_str(err_msg(),
	       "derivation 'dependent': output 'out' is declared as "
	       "'/nix/store/my7xy12zhrp0d9a4n3v7qq8cjpd0sh9i-dependenu', but its path is "
	       "'/nix/store/my7xy12zhrp0d9a4n3v7qq8cjpd0sh9i-dependent'",
	       "... naming both paths");
	free(d.outputs[0].path);
	d.outputs[0].path = save;
	/* The output's environment variable must be the path too. */
	drv_set_env(&d, "out", "/nix/store/x");
	is_int(drv_check_outputs(h, &d), ERR_MISMATCH, "a wrong $out: ERR_MISMATCH");
	is_str(err_msg(),
	       "derivation 'dependent': environment variable 'out' is '/nix/store/x', but the "
	       "output path is '/nix/store/my7xy12zhrp0d9a4n3v7qq8cjpd0sh9i-dependent'",
	       "... naming both");
	drv_set_env(&d, "out", "/nix/store/my7xy12zhrp0d9a4n3v7qq8cjpd0sh9i-dependent");
	is_int(drv_check_outputs(h, &d), 0, "back to the right $out");
	/* A missing input derivation. */
	drv_add_input(&d, "/nix/store/00000000000000000000000000000000-missing.drv", "out");
	is_int(drv_check_outputs(h, &d), ERR_NOTFOUND, "a missing input: ERR_NOTFOUND");
	is_str(err_msg(),
	       "derivation 'dependent': no vector for "
	       "'/nix/store/00000000000000000000000000000000-missing.drv'",
	       "... naming it");
	drv_release(&d);
	drv_hasher_free(h);
}

/* A loader whose derivations depend on themselves. */
static int load_cycle(void *ctx, const char *path, struct drv *out)
{
	drv_init(out);
	drv_set_system(out, "x");
	drv_set_builder(out, "/bin/sh");
	drv_add_output(out, "out");
	drv_add_input(out, path, "out");
	return 0;
}

static void test_cycle(void)
{
	struct drv_hasher *h = NULL;
	uint8_t hm[SHA256_LEN];
	int r;

	drv_hasher_new(&h, "/nix/store", load_cycle, NULL);
	r = drv_hasher_path(h, "/nix/store/00000000000000000000000000000000-loop.drv", hm);
	is_int(r, ERR_FORMAT, "a derivation that depends on itself: ERR_FORMAT");
	is_str(err_msg(),
	       "input derivation '/nix/store/00000000000000000000000000000000-loop.drv' depends on "
	       "itself",
	       "... says so");
	r = drv_hasher_path(h, "/nix/store/00000000000000000000000000000000-loop.drv", hm);
	is_int(r, ERR_FORMAT, "... again on a second try (no state left behind)");
	drv_hasher_free(h);
}

/* A chain deeper than any recursion would allow. */
static int load_chain(void *ctx, const char *path, struct drv *out)
{
	char in[128];
	unsigned long k = strtoul(storepath_base(path), NULL, 10);

	drv_init(out);
	drv_set_system(out, "x86_64-linux");
	drv_set_builder(out, "/bin/sh");
	drv_add_output(out, "out");
	drv_set_env(out, "out", "");
	if (k > 0) {
		snprintf(in, sizeof(in), "/nix/store/%032lu-c.drv", k - 1);
		drv_add_input(out, in, "out");
	}
	return 0;
}

static void test_deep_chain(void)
{
	struct drv_hasher *h = NULL;
	uint8_t a[SHA256_LEN], b[SHA256_LEN];
	int r;

	drv_hasher_new(&h, "/nix/store", load_chain, NULL);
	r = drv_hasher_path(h, "/nix/store/00000000000000000000000000100000-c.drv", a);
	ok(r == 0, "a chain of 100001 derivations hashes without recursion%s%s", r ? ": " : "",
	   r ? err_msg() : "");
	r = drv_hasher_path(h, "/nix/store/00000000000000000000000000100000-c.drv", b);
	ok(r == 0 && !memcmp(a, b, SHA256_LEN), "... and is memoised");
	drv_hasher_free(h);
}

/* ---- malformed input ---- */

static void test_bad_corpus(void)
{
	char *expect = tap_slurp("tests/data/bad-drv/EXPECT", NULL), *line, *save = NULL;
	size_t n = 0;

	if (!ok(expect != NULL, "read tests/data/bad-drv/EXPECT"))
		return;
	for (line = strtok_r(expect, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *msg = strchr(line, '\t'), rel[512], *data;
		struct drv d;
		size_t len;
		int r;

		if (line[0] == '#' || !msg)
			continue;
		*msg++ = '\0';
		snprintf(rel, sizeof(rel), "tests/data/bad-drv/%s", line);
		if (!ok((data = tap_slurp(rel, &len)) != NULL, "read %s", rel))
			continue;
		r = drv_parse_mem(&d, data, len, line, "/nix/store");
		ok(r == ERR_FORMAT, "%s: rejected", line);
		is_str(err_msg(), msg, "%s: message", line);
		if (r == 0)
			drv_release(&d);
		free(data);
		n++;
	}
	ok(n >= 15, "%zu malformed files", n);
	free(expect);
}

/* Every file of bad-drv has a line in EXPECT (and the other way round is
 * checked above, as reading a missing file fails). */
static void test_corpus_complete(void)
{
	char *expect = tap_slurp("tests/data/bad-drv/EXPECT", NULL);
	char dir[8192], *ls = NULL;
	FILE *p;
	size_t missing = 0, n = 0;

	snprintf(dir, sizeof(dir), "ls '%s/tests/data/bad-drv'", top);
	if (!expect || !(p = popen(dir, "r"))) {
		ok(0, "list tests/data/bad-drv");
		free(expect);
		return;
	}
	ls = malloc(1024);
	while (fgets(ls, 1024, p)) {
		char key[1100];

		ls[strcspn(ls, "\n")] = '\0';
		if (strlen(ls) < 5 || strcmp(ls + strlen(ls) - 4, ".drv"))
			continue;
		n++;
		snprintf(key, sizeof(key), "\n%s\t", ls);
		if (!strstr(expect, key) && strncmp(expect, key + 1, strlen(key + 1))) {
			printf("# %s has no line in EXPECT\n", ls);
			missing++;
		}
	}
	pclose(p);
	ok(missing == 0 && n > 0, "all %zu files of bad-drv are in EXPECT", n);
	free(ls);
	free(expect);
}

/* The caps, with inputs made here. */
static void test_limits(void)
{
	struct drv_limits lim = {16, 3, 300};
	const char *hello_head = "Derive([(\"out\",\"/nix/store/"
				 "fvchbymk0m4jvldpb9m5hy0bjy2lf30k-hello\",\"\",\"\")],[],[],";
	struct buf b = BUF_INIT((size_t)1 << 28);
	struct reader r;
	struct drv d;
	int e;

	buf_printf(&b, "%s\"x86_64-linux\",\"/bin/sh\",[],[])", hello_head);
	reader_init_mem(&r, b.data, b.len, "small");
	e = drv_parse_limits(&d, &r, "/nix/store", &lim);
	is_int(e, ERR_TOOBIG, "a 17-byte string over a 16-byte cap: ERR_TOOBIG");
	is_str(err_msg(), "small: byte 15: expected a string of at most 16 bytes, got a longer one",
	       "... message");

	lim.string_max = 1000;
	buf_reset(&b);
	buf_printf(&b, "%s\"x\",\"/bin/sh\",[\"a\",\"b\",\"c\",\"d\"],[])", hello_head);
	reader_init_mem(&r, b.data, b.len, "list");
	e = drv_parse_limits(&d, &r, "/nix/store", &lim);
	is_int(e, ERR_TOOBIG, "4 arguments over a cap of 3: ERR_TOOBIG");
	is_str(err_msg(), "list: byte 108: expected at most 3 elements in the arguments, got more",
	       "... message");

	lim.list_max = 10;
	buf_reset(&b);
	buf_printf(&b, "%s\"x\",\"/bin/sh\",[],[(\"a\",\"%0200d\")])", hello_head, 0);
	reader_init_mem(&r, b.data, b.len, "size");
	e = drv_parse_limits(&d, &r, "/nix/store", &lim);
	is_int(e, ERR_TOOBIG, "a 317-byte derivation over a cap of 300: ERR_TOOBIG");
	is_str(err_msg(),
	       "size: byte 300: expected the end of the derivation, got more than 300 bytes",
	       "... message");
	lim.size_max = b.len;
	reader_init_mem(&r, b.data, b.len, "size");
	e = drv_parse_limits(&d, &r, "/nix/store", &lim);
	is_int(e, 0, "exactly at the cap: accepted");
	if (e == 0)
		drv_release(&d);

	/* The default string cap, 64 MiB, with a real 64 MiB + 1 string. */
	buf_reset(&b);
	buf_printf(&b, "%s\"x\",\"/bin/sh\",[\"", hello_head);
	{
		size_t at = b.len, n = ((size_t)64 << 20) + 1;

		if (buf_grow(&b, n + 10) == 0) {
			memset(b.data + at, 'a', n);
			b.len += n;
			buf_puts(&b, "\"],[])");
		}
	}
	e = drv_parse_mem(&d, b.data, b.len, "big", "/nix/store");
	is_int(e, ERR_TOOBIG, "a string of 64 MiB + 1 byte: ERR_TOOBIG");
	is_str(err_msg(),
	       "big: byte 96: expected a string of at most 67108864 bytes, got a longer one",
	       "... message");
	/* 64 MiB exactly is fine. */
	memmove(b.data + b.len - 7, b.data + b.len - 6, 6);
	b.len--;
	e = drv_parse_mem(&d, b.data, b.len, "big", "/nix/store");
	is_int(e, 0, "a string of exactly 64 MiB: accepted");
	if (e == 0) {
		ok(d.nargs == 1 && strlen(d.args[0]) == (size_t)64 << 20, "... all of it");
		drv_release(&d);
	}
	buf_release(&b);
}

/* drv_parse over a file descriptor (the buffered reader path). */
static void test_file(void)
{
	char path[8192];
	struct drv d;
	int r;

	snprintf(path, sizeof(path), "%s/tests/vectors/drv/nix/escapes.drv", top);
	r = drv_parse_file(&d, path, "/nix/store");
	ok(r == 0, "drv_parse_file of escapes.drv");
	if (r == 0) {
		is_str(drv_env_get(&d, "mixed"), "\"\\\n\t\r\\\"", "escapes decoded");
		is_str(drv_env_get(&d, "control"), "bell\007 esc\033[0m del\177 soh\001 end",
		       "control bytes kept");
		is_str(d.name, "escapes", "name from the env");
		drv_release(&d);
	}
	snprintf(path, sizeof(path), "%s/tests/vectors/drv/nix/no-such.drv", top);
	is_int(drv_parse_file(&d, path, "/nix/store"), ERR_NOTFOUND,
	       "a missing file: ERR_NOTFOUND");
}

int main(int argc, char **argv)
{
	top = tap_find_top(argv[0]);
	load_table();
	test_vectors();
	test_lookup_table();
	test_build();
	test_mismatch();
	test_cycle();
	test_deep_chain();
	test_bad_corpus();
	test_corpus_complete();
	test_limits();
	test_file();
	free(table);
	free(rows);
	return tap_done();
}
