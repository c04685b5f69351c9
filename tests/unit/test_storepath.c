/* Unit tests for storepath.c: names, path checks, and every kind of path
 * against Nix 2.8's vectors for /nix/store and /gnu/store — a few hard-coded
 * here, then every row of tests/vectors/vectors.tsv. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hash.h"
#include "storepath.h"
#include "tap.h"

static void unhex(const char *s, uint8_t out[SHA256_LEN])
{
	if (hash_from_base16(s, strlen(s), out, SHA256_LEN) != 0) {
		printf("# bad hex in the test: %s\n", s);
		memset(out, 0, SHA256_LEN);
	}
}

static void test_check_name(void)
{
	static const char *const good[] = {
	    "a", "hello", "hello-2.12.1", ".hidden", ".", "..", "A+b-c.d_e?f=g", "-lead",
	    "_", "0",     "x.drv",        "Z9",
	};
	static const struct {
		const char *name, *why;
	} bad[] = {
	    {"", "empty"},
	    {"a b", "space"},
	    {"a/b", "slash"},
	    {"x:y", "colon"},
	    {"a@b", "at sign"},
	    {"a~b", "tilde"},
	    {"caf\xc3\xa9", "UTF-8"},
	    {"tab\there", "tab"},
	    {"new\nline", "newline"},
	};
	char name[STOREPATH_NAME_MAX + 2];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(storepath_check_name(good[i], strlen(good[i])) == 0, "name '%s' is valid",
		   good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(storepath_check_name(bad[i].name, strlen(bad[i].name)) == ERR_FORMAT,
		   "name rejected: %s", bad[i].why);
	ok(storepath_check_name("ab\0c", 4) == ERR_FORMAT, "name with a NUL rejected");
	ok(storepath_check_name("abc", 2) == 0, "only LEN bytes are looked at");

	memset(name, 'a', sizeof(name));
	name[STOREPATH_NAME_MAX + 1] = '\0';
	ok(storepath_check_name(name, STOREPATH_NAME_MAX) == 0, "211-character name is valid");
	ok(storepath_check_name(name, STOREPATH_NAME_MAX + 1) == ERR_FORMAT,
	   "212-character name is rejected");
	ok(strstr(err_msg(), "212") != NULL, "the message gives the length: %s", err_msg());
}

static void test_check(void)
{
	static const struct {
		const char *dir, *path, *why;
	} bad[] = {
	    {"/nix/store", "/gnu/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwr-empty-file",
	     "other store dir"},
	    {"/nix/store", "/nix/storeij3gw72f4n5z4dz6nnzl1731p9kmjbwr-empty-file",
	     "no slash after dir"},
	    {"/nix/store", "/nix/store/", "nothing after the dir"},
	    {"/nix/store", "/nix/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwe-empty-file",
	     "hash with 'e'"},
	    {"/nix/store", "/nix/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwu-empty-file",
	     "hash with 'u'"},
	    {"/nix/store", "/nix/store/IJ3gw72f4n5z4dz6nnzl1731p9kmjbwr-empty-file",
	     "upper-case hash"},
	    {"/nix/store", "/nix/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbw-empty-file",
	     "31-character hash"},
	    {"/nix/store", "/nix/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwrr-empty-file",
	     "33-character hash"},
	    {"/nix/store", "/nix/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwr_empty-file",
	     "no '-' after hash"},
	    {"/nix/store", "/nix/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwr", "hash only"},
	    {"/nix/store", "/nix/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwr-", "empty name"},
	    {"/nix/store", "/nix/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwr-a b", "space in name"},
	    {"/nix/store", "/nix/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwr-empty-file/x",
	     "something after the name"},
	    {"/nix/store", "/nix/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwr-empty-file/",
	     "trailing slash"},
	    {"/nix/store", "/nix/store//ij3gw72f4n5z4dz6nnzl1731p9kmjbwr-empty-file",
	     "double slash"},
	    {"/nix/store", "nix/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwr-empty-file", "relative"},
	    {"/nix/store", "/nix/store/../store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwr-empty-file",
	     "dot-dot"},
	};

	ok(storepath_check("/nix/store",
			   "/nix/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwr-empty-file") == 0,
	   "good /nix/store path");
	ok(storepath_check("/gnu/store",
			   "/gnu/store/7wx0d2p7wk2a6r4aqpawnm2b29vik6lc-empty-file") == 0,
	   "good /gnu/store path");
	ok(storepath_check("/nix/store", "/nix/store/00000000000000000000000000000000-a") == 0,
	   "one-character name");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = storepath_check(bad[i].dir, bad[i].path);

		ok(r == ERR_FORMAT, "storepath_check rejects %s", bad[i].why);
		if (r == ERR_FORMAT)
			ok(strstr(err_msg(), bad[i].path) != NULL,
			   "message names the path (%s): %s", bad[i].why, err_msg());
	}

	is_str(storepath_base("/nix/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwr-empty-file"),
	       "ij3gw72f4n5z4dz6nnzl1731p9kmjbwr-empty-file", "storepath_base");
	is_str(storepath_name("/nix/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwr-empty-file"),
	       "empty-file", "storepath_name");
	is_str(storepath_name("/gnu/store/7wx0d2p7wk2a6r4aqpawnm2b29vik6lc-a-b-c"), "a-b-c",
	       "storepath_name keeps dashes of the name");
}

static void test_storedir(void)
{
	const char *d = NULL;

	setenv("YONDER_STORE_DIR", "/gnu/store", 1);
	ok(storedir_get(&d) == 0 && d && !strcmp(d, "/gnu/store"), "YONDER_STORE_DIR=/gnu/store");
	setenv("YONDER_STORE_DIR", "/nix/store//", 1);
	ok(storedir_get(&d) == 0 && d && !strcmp(d, "/nix/store"), "trailing slashes removed");
	setenv("YONDER_STORE_DIR", "relative/store", 1);
	ok(storedir_get(&d) == ERR_INVALID, "relative store dir rejected");
	unsetenv("YONDER_STORE_DIR");
	ok(storedir_get(&d) == 0 && d && !strcmp(d, "/yonder/store"), "default /yonder/store");
}

/* Hard-coded vectors (from vectors.tsv). */
static void test_known(void)
{
	/* tree empty-file */
	const char *nar = "77ac62e2629d8e45f624589c0c8bf99e24b3a722349bf1e79bc186008534e246";
	const char *flat = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	uint8_t h[SHA256_LEN];
	char *p = NULL;

	unhex(nar, h);
	ok(storepath_make("/nix/store", "source", h, "empty-file", &p) == 0,
	   "storepath_make source");
	is_str(p, "/nix/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwr-empty-file",
	       "make source /nix/store");
	free(p);
	ok(storepath_source("/nix/store", h, "empty-file", NULL, 0, false, &p) == 0, "source");
	is_str(p, "/nix/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwr-empty-file", "source /nix/store");
	free(p);
	ok(storepath_source("/gnu/store", h, "empty-file", NULL, 0, false, &p) == 0, "source gnu");
	is_str(p, "/gnu/store/7wx0d2p7wk2a6r4aqpawnm2b29vik6lc-empty-file", "source /gnu/store");
	free(p);
	ok(storepath_fixed("/nix/store", true, h, "empty-file", &p) == 0, "fixed recursive");
	is_str(p, "/nix/store/ij3gw72f4n5z4dz6nnzl1731p9kmjbwr-empty-file",
	       "fixed recursive /nix/store = source");
	free(p);
	unhex(flat, h);
	ok(storepath_fixed("/nix/store", false, h, "empty-file", &p) == 0, "fixed flat");
	is_str(p, "/nix/store/qg64ywx1saiw2ml446cqyxd2k181zbar-empty-file",
	       "fixed flat /nix/store");
	free(p);
	ok(storepath_fixed("/gnu/store", false, h, "empty-file", &p) == 0, "fixed flat gnu");
	is_str(p, "/gnu/store/i7fqqk479vi5sqqy3a23qfnilcr3fblc-empty-file",
	       "fixed flat /gnu/store");
	free(p);

	/* text hello.txt ("hi\n") and b.txt ("see <a.txt>\n", refers to a.txt) */
	sha256_buf("hi\n", 3, h);
	ok(storepath_text("/nix/store", h, "hello.txt", NULL, 0, &p) == 0, "text");
	is_str(p, "/nix/store/0n8rj1cflhzhh0min74l7ml0ck57hkcc-hello.txt", "text /nix/store");
	free(p);
	ok(storepath_text("/gnu/store", h, "hello.txt", NULL, 0, &p) == 0, "text gnu");
	is_str(p, "/gnu/store/qg7xin462d0igfzgpbi21fnq5y3ll3i9-hello.txt", "text /gnu/store");
	free(p);
	{
		const char *c = "see /nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt\n";
		const char *ref = "/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt";

		sha256_buf(c, strlen(c), h);
		ok(storepath_text("/nix/store", h, "b.txt", &ref, 1, &p) == 0,
		   "text with a reference");
		is_str(p, "/nix/store/f82bnqvgnihn8vrhskzn5zdmfddgp1p2-b.txt",
		       "text with a reference /nix/store");
		free(p);
		ok(storepath_make("/nix/store",
				  "text:/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt", h,
				  "b.txt", &p) == 0,
		   "storepath_make text:<ref>");
		is_str(p, "/nix/store/f82bnqvgnihn8vrhskzn5zdmfddgp1p2-b.txt", "make text:<ref>");
		free(p);
		ok(storepath_text("/nix/store", h, "b.txt", NULL, 0, &p) == 0 &&
		       strcmp(p, "/nix/store/f82bnqvgnihn8vrhskzn5zdmfddgp1p2-b.txt") != 0,
		   "the reference changes the path");
		free(p);
	}
	{
		const char *c = "see /gnu/store/31hs3ii9j3vsgldgwx1nwxy0d7a4v4br-a.txt\n";
		const char *ref = "/gnu/store/31hs3ii9j3vsgldgwx1nwxy0d7a4v4br-a.txt";

		sha256_buf(c, strlen(c), h);
		ok(storepath_text("/gnu/store", h, "b.txt", &ref, 1, &p) == 0, "text ref gnu");
		is_str(p, "/gnu/store/j5iwbqf0sk62ydahy1gyv8lm4vx1nqhc-b.txt",
		       "text with a reference /gnu/store");
		free(p);
	}

	p = (char *)"unchanged";
	ok(storepath_make("/nix/store", "source", h, "bad name", &p) == ERR_FORMAT && p == NULL,
	   "storepath_make rejects a bad name and sets *out to NULL");
	ok(storepath_fixed("/nix/store", false, h, "x y", &p) == ERR_FORMAT,
	   "storepath_fixed checks the name");
	ok(storepath_text("/nix/store", h, "", NULL, 0, &p) == ERR_FORMAT,
	   "storepath_text checks the name");
}

/* Every row of vectors.tsv. */

#define MAXROWS 2048
struct row {
	char *kind, *name, *dir, *field, *value;
};
static struct row rows[MAXROWS];
static size_t nrows;
static char *vectors_data;

static int load_vectors(const char *argv0)
{
	const char *env = getenv("YONDER_VECTORS");
	char path[4096];
	FILE *f = NULL;
	size_t cap = 0, len = 0;
	char *line;

	if (env) {
		f = fopen(env, "r");
	} else {
		f = fopen("tests/vectors/vectors.tsv", "r");
		if (!f) { /* build/tests/unit/test_storepath → ../../../tests/vectors */
			const char *s = strrchr(argv0, '/');

			snprintf(path, sizeof(path), "%.*s/../../../tests/vectors/vectors.tsv",
				 s ? (int)(s - argv0) : 1, s ? argv0 : ".");
			f = fopen(path, "r");
		}
	}
	if (!f)
		return -1;
	for (;;) {
		size_t n;

		if (len + 4096 + 1 > cap) {
			char *nd = realloc(vectors_data, cap = cap * 2 + 8192);

			if (!nd)
				break;
			vectors_data = nd;
		}
		n = fread(vectors_data + len, 1, cap - len - 1, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	if (!vectors_data)
		return -1;
	vectors_data[len] = '\0';
	line = strchr(vectors_data, '\n'); /* skip the header */
	while (line && *++line && nrows < MAXROWS) {
		char *end = strchr(line, '\n'), *fld[5];
		int k = 0;

		if (end)
			*end = '\0';
		fld[k++] = line;
		for (char *c = line; *c && k < 5; c++)
			if (*c == '\t') {
				*c = '\0';
				fld[k++] = c + 1;
			}
		if (k == 5)
			rows[nrows++] = (struct row){fld[0], fld[1], fld[2], fld[3], fld[4]};
		line = end;
	}
	return 0;
}

static const char *get(const char *kind, const char *name, const char *dir, const char *field)
{
	for (size_t i = 0; i < nrows; i++)
		if (!strcmp(rows[i].kind, kind) && !strcmp(rows[i].name, name) &&
		    !strcmp(rows[i].dir, dir) && !strcmp(rows[i].field, field))
			return rows[i].value;
	return NULL;
}

/* The body of a JSON string (the content column) back to bytes. */
static size_t unjson(const char *s, char *out)
{
	size_t n = 0;

	for (; *s; s++) {
		if (*s != '\\') {
			out[n++] = *s;
			continue;
		}
		switch (*++s) {
		case 'n': out[n++] = '\n'; break;
		case 't': out[n++] = '\t'; break;
		case 'r': out[n++] = '\r'; break;
		case '\0': return n;
		default: out[n++] = *s; break;
		}
	}
	return n;
}

static void check_path(const char *what, const char *name, const char *dir, int r, char *got,
		       const char *want)
{
	is_str(got, want, "%s: %s in %s", what, name, dir);
	if (r != 0)
		printf("#   %s\n", err_msg());
	free(got);
}

static void test_all_vectors(const char *argv0)
{
	static const char *const dirs[] = {"/nix/store", "/gnu/store"};
	size_t ntrees = 0, ntexts = 0;

	if (!ok(load_vectors(argv0) == 0 && nrows > 0, "tests/vectors/vectors.tsv read (%zu rows)",
		nrows))
		return;
	for (size_t i = 0; i < nrows; i++) {
		struct row *t = &rows[i];

		if (!strcmp(t->kind, "tree") && !strcmp(t->field, "type")) {
			const char *nar = get("tree", t->name, "-", "nar_sha256_base16");
			const char *flat = get("tree", t->name, "-", "flat_sha256_base16");
			uint8_t h[SHA256_LEN], fh[SHA256_LEN];

			ntrees++;
			if (!ok(nar != NULL, "%s: NAR hash recorded", t->name))
				continue;
			unhex(nar, h);
			if (flat)
				unhex(flat, fh);
			for (size_t d = 0; d < 2; d++) {
				const char *want;
				char *p = NULL;
				int r;

				if ((want = get("tree", t->name, dirs[d], "source_path"))) {
					r = storepath_source(dirs[d], h, t->name, NULL, 0, false,
							     &p);
					check_path("source path", t->name, dirs[d], r, p, want);
					r = storepath_make(dirs[d], "source", h, t->name, &p);
					check_path("storepath_make source", t->name, dirs[d], r, p,
						   want);
				}
				if ((want =
					 get("tree", t->name, dirs[d], "fixed_recursive_path"))) {
					r = storepath_fixed(dirs[d], true, h, t->name, &p);
					check_path("fixed recursive path", t->name, dirs[d], r, p,
						   want);
				}
				if ((want = get("tree", t->name, dirs[d], "fixed_flat_path"))) {
					ok(flat != NULL, "%s: flat hash recorded", t->name);
					r = storepath_fixed(dirs[d], false, fh, t->name, &p);
					check_path("fixed flat path", t->name, dirs[d], r, p, want);
				}
			}
		}
		if (!strcmp(t->kind, "text") && !strcmp(t->field, "path")) {
			const char *content = get("text", t->name, t->dir, "content");
			const char *refs = get("text", t->name, t->dir, "references");
			char *buf, *refcopy;
			const char *refv[16];
			size_t nref = 0, n;
			uint8_t h[SHA256_LEN];
			char *p = NULL;
			int r;

			ntexts++;
			if (!ok(content && refs, "%s in %s: content and references recorded",
				t->name, t->dir))
				continue;
			buf = malloc(strlen(content) + 1);
			refcopy = strdup(refs);
			if (!buf || !refcopy)
				abort();
			n = unjson(content, buf);
			sha256_buf(buf, n, h);
			if (strcmp(refs, "-") != 0)
				for (char *s = strtok(refcopy, ","); s && nref < 16;
				     s = strtok(NULL, ","))
					refv[nref++] = s;
			r = storepath_text(t->dir, h, t->name, refv, nref, &p);
			check_path("text path", t->name, t->dir, r, p, t->value);
			if (nref > 1) { /* given in reverse: sorted inside */
				for (size_t a = 0, b = nref - 1; a < b; a++, b--) {
					const char *x = refv[a];

					refv[a] = refv[b];
					refv[b] = x;
				}
				r = storepath_text(t->dir, h, t->name, refv, nref, &p);
				check_path("text path, references unsorted", t->name, t->dir, r, p,
					   t->value);
			}
			free(buf);
			free(refcopy);
		}
	}
	ok(ntrees >= 12, "at least 12 trees in the vectors (%zu)", ntrees);
	ok(ntexts >= 8, "text paths in the vectors (%zu)", ntexts);
}

int main(int argc, char **argv)
{
	test_check_name();
	test_check();
	test_storedir();
	test_known();
	test_all_vectors(argc > 0 ? argv[0] : "");
	free(vectors_data);
	return tap_done();
}
