/* test_archive.c — the archive writer and reader (src/lib/archive.c).
 *
 *   - every archive of tests/data/bad-archive is refused by archive_check
 *     with the message its EXPECT line gives, and good.yar is accepted;
 *   - export then import through a real store: items with references,
 *     signatures and built-by names come back identical, compressed or
 *     not, in yonder's and in Nix's format;
 *   - every truncation of a stream (plain and zstd) is refused, and no
 *     flipped byte of a compressed stream gets different items accepted;
 *   - an import is all or none: a bad item after good ones leaves the
 *     store as it was, with no file left behind;
 *   - items already valid are checked but not written.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "acl.h"
#include "archive.h"
#include "buf.h"
#include "db.h"
#include "err.h"
#include "hash.h"
#include "io.h"
#include "nar.h"
#include "pki.h"
#include "store.h"
#include "storepath.h"
#include "tap.h"

static const char *top; /* the repository (tap_find_top) */

static struct acl test_acl;
static struct pki_secret test_key;

static void load_keys(void)
{
	acl_init(&test_acl);
	{
		/* Parsed from memory: the checkout's file modes (a clone made
		 * with umask 002 has group-writable files, which acl_load
		 * rightly refuses) are not what this test is about. */
		size_t len;
		char *text = tap_slurp("tests/vectors/sig-key.pub", &len);

		if (!text || acl_parse(&test_acl, text, len, "sig-key.pub") != 0 ||
		    test_acl.n != 1) {
			printf("Bail out! cannot read tests/vectors/sig-key.pub: %s\n", err_msg());
			exit(1);
		}
		free(text);
	}
	{
		size_t len;
		char *text = tap_slurp("tests/vectors/sig-key.sec", &len);

		if (!text ||
		    pki_secret_parse(&test_key, text, strcspn(text, "\n"), "sig-key.sec")) {
			printf("Bail out! cannot read the test secret key: %s\n", err_msg());
			exit(1);
		}
		free(text);
	}
}

static int check_mem(const char *store_dir, const void *p, size_t n, enum archive_format f,
		     struct db_list *paths)
{
	struct archive_import_opts o = {f, &test_acl, "test ACL", f == ARCHIVE_NIX};
	struct reader r;

	reader_init_mem(&r, p, n, "stream");
	return archive_check(store_dir, &r, &o, paths);
}

/* ---- the committed bad archives ---------------------------------------- */

static void test_bad_archives(void)
{
	char *expect = tap_slurp("tests/data/bad-archive/EXPECT", NULL), *line, *save = NULL;
	int n = 0;

	if (!ok(expect != NULL, "tests/data/bad-archive/EXPECT is readable"))
		return;
	for (line = strtok_r(expect, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t'), rel[512];
		struct db_list paths = DB_LIST_INIT;
		regex_t re;
		size_t len;
		char *data;
		int r;

		if (line[0] == '#' || !tab)
			continue;
		*tab = '\0';
		snprintf(rel, sizeof(rel), "tests/data/bad-archive/%s", line);
		data = tap_slurp(rel, &len);
		if (!ok(data != NULL, "%s is readable", line))
			continue;
		r = check_mem("/yonder/store", data, len, ARCHIVE_YONDER, &paths);
		ok(r < 0, "%s is refused", line);
		if (regcomp(&re, tab + 1, REG_EXTENDED | REG_NOSUB) != 0) {
			ok(0, "%s: EXPECT's pattern compiles", line);
		} else {
			if (!ok(regexec(&re, err_msg(), 0, NULL, 0) == 0,
				"%s: the message says why", line))
				printf("#   message: %s\n#   pattern: %s\n", err_msg(), tab + 1);
			regfree(&re);
		}
		is_int((long long)paths.n, 0, "%s: no path reported", line);
		db_list_release(&paths);
		free(data);
		n++;
	}
	ok(n >= 30, "EXPECT lists %d bad archives", n);
	free(expect);

	{
		struct db_list paths = DB_LIST_INIT;
		size_t len;
		char *data = tap_slurp("tests/data/bad-archive/good.yar", &len);

		ok(data && check_mem("/yonder/store", data, len, ARCHIVE_YONDER, &paths) == 0,
		   "good.yar is accepted (%s)", err_msg());
		is_int((long long)paths.n, 2, "good.yar holds two items");
		/* A bad NAR is refused also when every reference is fine. */
		ok(data && check_mem("/gnu/store", data, len, ARCHIVE_YONDER, &paths) < 0 &&
		       strstr(err_msg(), "is not in the store directory '/gnu/store'"),
		   "good.yar is refused for another store directory");
		db_list_release(&paths);
		free(data);
	}
}

/* ---- a real store -------------------------------------------------------- */

static struct store *store;
static char sdir[4096], state[4096], work[4096];

static void open_store(void)
{
	snprintf(sdir, sizeof(sdir), "%s/store", tap_tmpdir());
	snprintf(state, sizeof(state), "%s/state", tap_tmpdir());
	snprintf(work, sizeof(work), "%s/work", tap_tmpdir());
	mkdir(sdir, 0755);
	mkdir(work, 0755);
	if (store_open_at(&store, sdir, state) != 0) {
		printf("Bail out! store_open_at: %s\n", err_msg());
		exit(1);
	}
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) != 0) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
}

/* The closure the export tests use: a tree, a text file referring to it,
 * a text file referring to both, and one more unrelated file. */
static char *p_tree, *p_t1, *p_t2, *p_other;

static void make_items(void)
{
	char path[8192], text[16384];
	const char *refs[2];

	snprintf(path, sizeof(path), "%s/tree", work);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/tree/hello", work);
	write_file(path, "hello\n", 0644);
	snprintf(path, sizeof(path), "%s/tree/run", work);
	write_file(path, "#!/bin/sh\necho hi\n", 0755);
	snprintf(path, sizeof(path), "%s/tree/link", work);
	if (symlink("hello", path) != 0)
		printf("Bail out! symlink\n");
	snprintf(path, sizeof(path), "%s/tree", work);
	ok(store_add(store, path, "tree", 0, &p_tree) == 0, "add a tree (%s)", err_msg());
	snprintf(path, sizeof(path), "%s/other", work);
	write_file(path, "other\n", 0644);
	ok(store_add(store, path, "other", 0, &p_other) == 0, "add a file");
	refs[0] = p_tree;
	snprintf(text, sizeof(text), "uses %s\n", p_tree);
	ok(store_add_text(store, "t1", text, strlen(text), refs, 1, &p_t1) == 0,
	   "add a text item referring to the tree (%s)", err_msg());
	refs[1] = p_t1;
	snprintf(text, sizeof(text), "uses %s and %s\n", p_tree, p_t1);
	ok(store_add_text(store, "t2", text, strlen(text), refs, 2, &p_t2) == 0,
	   "add a text item referring to both");
}

/* Exports PATHS to the file FILE. */
static int export_to(const char *file, enum archive_format f, int level, bool closure,
		     const char *const *paths, size_t n, struct db_list *exported)
{
	struct archive_writer *w = NULL;
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), r;

	if (fd < 0)
		return err_sys(ERR_IO, "%s", file);
	if ((r = archive_writer_new(&w, fd, file, f, level)) == 0 &&
	    (r = archive_export(store, w, paths, n, closure, f == ARCHIVE_YONDER ? &test_key : NULL,
				exported)) == 0)
		r = archive_writer_finish(w);
	archive_writer_free(w);
	if (close(fd) != 0 && r == 0)
		r = err_sys(ERR_IO, "%s", file);
	return r;
}

static int import_mem(const void *p, size_t n, enum archive_format f, struct db_list *paths)
{
	struct archive_import_opts o = {f, &test_acl, "test ACL", f == ARCHIVE_NIX};
	struct reader r;

	reader_init_mem(&r, p, n, "stream");
	return archive_import(store, &r, &o, paths);
}

/* The store directory's entries and the valid paths with their hash,
 * references, signatures and built-by: what must not change. */
static bool settled; /* every item carries the test key's signature */

static char *snapshot(void)
{
	struct buf b = BUF_INIT(1 << 24);
	struct db_list valid = DB_LIST_INIT, names = DB_LIST_INIT;
	DIR *d = opendir(sdir);
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			db_list_push(&names, e->d_name);
	if (d)
		closedir(d);
	for (size_t i = 0; i < names.n; i++)
		for (size_t j = i + 1; j < names.n; j++)
			if (strcmp(names.v[i], names.v[j]) > 0) {
				char *t = names.v[i];

				names.v[i] = names.v[j];
				names.v[j] = t;
			}
	for (size_t i = 0; i < names.n; i++)
		buf_printf(&b, "entry %s\n", names.v[i]);
	db_list_valid(store_db(store), &valid);
	for (size_t i = 0; i < valid.n; i++) {
		struct path_info pi = PATH_INFO_INIT;
		char h[SHA256_NIX32_LEN + 1];

		db_query_info(store_db(store), valid.v[i], &pi);
		hash_to_nix32(pi.nar_hash, SHA256_LEN, h);
		buf_printf(&b, "valid %s %s %llu ca=%s\n", pi.path, h,
			   (unsigned long long)pi.nar_size, pi.ca ? pi.ca : "");
		for (size_t k = 0; k < pi.refs.n; k++)
			buf_printf(&b, "  ref %s\n", pi.refs.v[k]);
		if (!settled)
			goto next;
		buf_printf(&b, "  by %s\n", pi.built_by ? pi.built_by : "");
		for (size_t k = 0; k < pi.sigs.n; k++)
			buf_printf(&b, "  sig %s\n", pi.sigs.v[k]);
	next:
		path_info_release(&pi);
	}
	db_list_release(&valid);
	db_list_release(&names);
	return buf_detach(&b, NULL);
}

/* The order `nix-store --export` gives the closure {tree, t1, t2, other}
 * (t2 refers to t1, t1 to the tree): the set sorted by path, each item
 * after the references it has in the set, depth first — a separate,
 * recursive model of what archive.c does iteratively. */
static void nix_visit(const char *p, const char **out, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(out[i], p))
			return;
	if (p == p_t2)
		nix_visit(p_t1, out, n);
	if (p == p_t1)
		nix_visit(p_tree, out, n);
	out[(*n)++] = p;
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void nix_order(const char *out[4])
{
	const char *set[4] = {p_tree, p_t1, p_t2, p_other};
	size_t n = 0;

	qsort(set, 4, sizeof(*set), cmp_cstr);
	for (size_t i = 0; i < 4; i++)
		nix_visit(set[i], out, &n);
}

static void test_round_trip(enum archive_format f, int level)
{
	const char *fmt = f == ARCHIVE_NIX ? "nix" : "yonder";
	const char *all[] = {p_t2, p_other};
	struct db_list exported = DB_LIST_INIT, imported = DB_LIST_INIT;
	char file[8192], *before, *after, *data;
	size_t len;
	int r;

	snprintf(file, sizeof(file), "%s/rt-%s-%d", work, fmt, level);
	before = snapshot();
	r = export_to(file, f, level, true, all, 2, &exported);
	ok(r == 0, "%s, zstd %d: export -r (%s)", fmt, level, err_msg());
	is_int((long long)exported.n, 4, "%s, zstd %d: the closure has 4 items", fmt, level);
	if (exported.n == 4) {
		const char *want[4];

		nix_order(want);
		is_str(exported.v[0], want[0], "%s: in nix-store --export's order (1)", fmt);
		is_str(exported.v[1], want[1], "%s: in nix-store --export's order (2)", fmt);
		is_str(exported.v[2], want[2], "%s: in nix-store --export's order (3)", fmt);
		is_str(exported.v[3], want[3], "%s: in nix-store --export's order (4)", fmt);
	}
	data = tap_slurp(file, &len);
	ok(data && (level > 0) == (len >= 4 && !memcmp(data, "\x28\xb5\x2f\xfd", 4)),
	   "%s, zstd %d: compressed exactly when asked", fmt, level);
	/* Into an empty store: delete, import, compare. */
	r = store_delete(store, (const char *const *)exported.v, exported.n);
	ok(r == 0, "delete the closure (%s)", err_msg());
	r = import_mem(data, len, f, &imported);
	ok(r == 0, "%s, zstd %d: import (%s)", fmt, level, err_msg());
	is_int((long long)imported.n, 4, "%s: 4 paths imported", fmt);
	after = snapshot();
	if (f == ARCHIVE_YONDER) {
		is_str(after, before, "%s, zstd %d: the store is as before the round trip%s", fmt,
		       level, settled ? ", signatures and builders included" : "");
		for (size_t i = 0; !settled && i < imported.n; i++) {
			struct path_info pi = PATH_INFO_INIT;

			db_query_info(store_db(store), imported.v[i], &pi);
			ok(pi.sigs.n == 1 && !strncmp(pi.sigs.v[0], "yonder-test-1:", 14) &&
			       pi.built_by && !strcmp(pi.built_by, "yonder-test-1"),
			   "%s came back signed by the exporter, built by it",
			   storepath_name(imported.v[i]));
			path_info_release(&pi);
		}
		settled = true;
		free(before);
		before = snapshot();
	} else {
		/* Nix's format carries no content address, signature or
		 * builder: compare what it carries. */
		ok(strstr(after, p_t2) && strstr(after, p_other), "nix: the items are back");
		settled = false;
	}
	for (size_t i = 0; i < imported.n; i++)
		ok(store_verify(store, imported.v[i], true) == 0, "%s: %s verifies", fmt,
		   storepath_name(imported.v[i]));
	free(after);
	/* Importing again: all valid, nothing written, still checked. */
	after = snapshot();
	db_list_release(&imported);
	r = import_mem(data, len, f, &imported);
	ok(r == 0 && imported.n == 4, "%s: importing again succeeds (%s)", fmt, err_msg());
	{
		char *again = snapshot();

		is_str(again, after, "%s: importing valid items changes nothing", fmt);
		free(again);
	}
	free(after);
	free(before);
	free(data);
	db_list_release(&exported);
	db_list_release(&imported);
}

/* Signatures and built-by travel: t1 gets a second signature by another
 * key and a builder name; after export, delete and import both are back,
 * and the export signed it with the test key too. */
static void test_signatures_travel(void)
{
	struct pki_secret other;
	struct pki_public other_pub;
	struct buf fp = BUF_INIT(PKI_FINGERPRINT_MAX);
	struct path_info pi = PATH_INFO_INIT;
	struct db_list ex = DB_LIST_INIT, im = DB_LIST_INIT;
	char file[8192], *sig = NULL, *data;
	const char *one[] = {p_t2};
	size_t len;
	int r;

	memset(&other, 0, sizeof(other));
	r = pki_generate(&other, &other_pub, "builder-b");
	db_query_info(store_db(store), p_t1, &pi);
	pki_fingerprint(&fp, pi.path, pi.nar_hash, pi.nar_size, (const char *const *)pi.refs.v,
			pi.refs.n);
	if (r == 0)
		r = pki_sign(&other, fp.data, fp.len, &sig);
	ok(r == 0 && db_add_signatures(store_db(store), p_t1, (const char *const *)&sig, 1) == 0,
	   "t1 gets a signature by builder-b");
	snprintf(file, sizeof(file), "%s/sigs.yar", work);
	ok(export_to(file, ARCHIVE_YONDER, 0, true, one, 1, &ex) == 0, "export t2 -r (%s)",
	   err_msg());
	data = tap_slurp(file, &len);
	ok(store_delete(store, (const char *const *)ex.v, ex.n) == 0, "delete them");
	ok(data && import_mem(data, len, ARCHIVE_YONDER, &im) == 0, "import (%s)", err_msg());
	path_info_release(&pi);
	path_info_init(&pi);
	db_query_info(store_db(store), p_t1, &pi);
	ok(db_list_contains(&pi.sigs, sig), "builder-b's signature travelled (unknown key: kept)");
	is_int((long long)pi.sigs.n, 2, "t1 has builder-b's and the exporter's signatures");
	is_str(pi.built_by ? pi.built_by : "(none)", test_key.name,
	       "built-by: the exporting key's name, as t1 was made there");
	path_info_release(&pi);
	free(sig);
	free(data);
	buf_release(&fp);
	pki_secret_release(&other);
	db_list_release(&ex);
	db_list_release(&im);
}

/* Every prefix of a stream is refused; so is every stream with one byte
 * flipped, or else it gives the same items. */
static void test_truncations(const char *name, const char *data, size_t len)
{
	struct db_list paths = DB_LIST_INIT, good = DB_LIST_INIT;
	size_t bad_ok = 0, msg_bad = 0, flips_accepted_same = 0, flips_accepted_other = 0;
	char *copy = malloc(len ? len : 1);

	ok(check_mem(sdir, data, len, ARCHIVE_YONDER, &good) == 0, "%s: accepted whole (%s)", name,
	   err_msg());
	for (size_t i = 0; i < len; i++) {
		/* An exact-size copy, so that a read past the end is caught. */
		char *p = malloc(i ? i : 1);

		memcpy(p, data, i);
		if (check_mem(sdir, p, i, ARCHIVE_YONDER, &paths) == 0)
			bad_ok++;
		else if (!*err_msg())
			msg_bad++;
		db_list_release(&paths);
		free(p);
	}
	is_int((long long)bad_ok, 0, "%s: each of its %zu truncations is refused", name, len);
	is_int((long long)msg_bad, 0, "%s: each with a message", name);
	for (size_t i = 0; i < len; i++) {
		memcpy(copy, data, len);
		copy[i] ^= 0x10;
		if (check_mem(sdir, copy, len, ARCHIVE_YONDER, &paths) == 0) {
			bool same = paths.n == good.n;

			for (size_t k = 0; same && k < paths.n; k++)
				same = !strcmp(paths.v[k], good.v[k]);
			if (same)
				flips_accepted_same++;
			else
				flips_accepted_other++;
		}
		db_list_release(&paths);
	}
	is_int((long long)flips_accepted_other, 0,
	       "%s: no flipped byte makes other items acceptable (%zu flips were harmless)", name,
	       flips_accepted_same);
	db_list_release(&good);
	free(copy);
}

static void test_streams(void)
{
	const char *all[] = {p_t2, p_other};
	char file[8192], *plain, *z;
	size_t plen, zlen;

	snprintf(file, sizeof(file), "%s/plain.yar", work);
	export_to(file, ARCHIVE_YONDER, 0, true, all, 2, NULL);
	plain = tap_slurp(file, &plen);
	snprintf(file, sizeof(file), "%s/z.yar", work);
	export_to(file, ARCHIVE_YONDER, 3, true, all, 2, NULL);
	z = tap_slurp(file, &zlen);
	if (!ok(plain && z, "two streams written"))
		return;
	test_truncations("plain stream", plain, plen);
	test_truncations("zstd stream", z, zlen);
	{
		/* Two zstd frames one after the other are one stream, as
		 * `zstd` writes when it concatenates. */
		struct db_list paths = DB_LIST_INIT;
		size_t half = plen / 2, cap = ZSTD_compressBound(plen) * 2, n1, n2;
		char *two = malloc(cap);

		n1 = ZSTD_compress(two, cap, plain, half, 3);
		n2 = ZSTD_compress(two + n1, cap - n1, plain + half, plen - half, 3);
		ok(!ZSTD_isError(n1) && !ZSTD_isError(n2) &&
		       check_mem(sdir, two, n1 + n2, ARCHIVE_YONDER, &paths) == 0 && paths.n == 4,
		   "a stream in two zstd frames is read whole (%s)", err_msg());
		ok(check_mem(sdir, two, n1, ARCHIVE_YONDER, &paths) < 0 &&
		       strstr(err_msg(), "truncated"),
		   "its first frame alone is truncated: %s", err_msg());
		memcpy(two + n1 + n2, "junk", 4);
		ok(check_mem(sdir, two, n1 + n2 + 4, ARCHIVE_YONDER, &paths) < 0 &&
		       strstr(err_msg(), "corrupt zstd data"),
		   "bytes after the last frame are refused: %s", err_msg());
		db_list_release(&paths);
		free(two);
	}
	free(plain);
	free(z);
}

/* Flips a bit of the last occurrence of NEEDLE in DATA. */
static char *find_last(char *data, size_t len, const char *needle)
{
	char *last = NULL, *p = data;
	size_t n = strlen(needle);

	while ((p = memmem(p, len - (size_t)(p - data), needle, n)) != NULL)
		last = p++;
	if (!last) {
		printf("Bail out! '%s' not found in a stream\n", needle);
		exit(1);
	}
	return last;
}

/* All or none: good items followed by a bad one leave nothing behind. */
static void test_all_or_none(void)
{
	const char *all[] = {p_t2};
	struct db_list ex = DB_LIST_INIT, im = DB_LIST_INIT;
	char file[8192], *data, *before, *after, *flip;
	size_t len;
	int r;

	snprintf(file, sizeof(file), "%s/aon.yar", work);
	ok(export_to(file, ARCHIVE_YONDER, 0, true, all, 1, &ex) == 0, "export t2 -r");
	data = tap_slurp(file, &len);
	ok(store_delete(store, (const char *const *)ex.v, ex.n) == 0, "delete its closure");
	before = snapshot();
	/* Flip a byte of t2's text, the last item's NAR. */
	flip = find_last(data, len, "uses ");
	*flip ^= 1;
	r = import_mem(data, len, ARCHIVE_YONDER, &im);
	ok(r < 0 && strstr(err_msg(), "-t2': NAR hash mismatch"), "refused for the last item: %s",
	   err_msg());
	is_int((long long)im.n, 0, "no path reported");
	after = snapshot();
	is_str(after, before, "the first items did not become valid; no file left behind");
	free(after);
	*flip ^= 1;
	ok(import_mem(data, len, ARCHIVE_YONDER, &im) == 0, "the unflipped stream imports (%s)",
	   err_msg());
	free(before);
	free(data);
	db_list_release(&ex);
	db_list_release(&im);
}

/* Items already valid are read past but checked: a bad NAR for one is
 * still refused. */
static void test_valid_still_checked(void)
{
	const char *one[] = {p_other};
	struct db_list im = DB_LIST_INIT;
	char file[8192], *data, *before, *after;
	size_t len;

	snprintf(file, sizeof(file), "%s/valid.yar", work);
	ok(export_to(file, ARCHIVE_YONDER, 0, false, one, 1, NULL) == 0, "export other");
	data = tap_slurp(file, &len);
	before = snapshot();
	*find_last(data, len, "other\n") ^= 1;
	ok(import_mem(data, len, ARCHIVE_YONDER, &im) < 0 && strstr(err_msg(), "hash mismatch"),
	   "a valid item with a bad NAR is refused all the same");
	after = snapshot();
	is_str(after, before, "and nothing changed");
	free(after);
	free(before);
	free(data);
	db_list_release(&im);
}

/* The writer's raw form writes what it is told: a NAR size that lies is
 * caught by the reader, and the Nix format is read back. */
static void test_writer_hooks(void)
{
	struct path_info pi = PATH_INFO_INIT;
	struct archive_writer *w = NULL;
	struct db_list paths = DB_LIST_INIT;
	struct hash_sink hs;
	struct nar_writer nw;
	char file[8192], *data;
	size_t len;
	int fd;

	hash_sink_init(&hs);
	nar_writer_init(&nw, &hs.sink);
	nw.v.file_begin(nw.v.ctx, false, 3);
	nw.v.file_data(nw.v.ctx, "abc", 3);
	nw.v.file_end(nw.v.ctx);
	hash_sink_finish(&hs, pi.nar_hash);
	pi.nar_size = hs.size;
	pi.path = strdup("/yonder/store/00000000000000000000000000000000-abc");
	{
		/* The NAR of a 3-byte file, built by hand. */
		static const char nar[] = "\x0d\0\0\0\0\0\0\0nix-archive-1\0\0\0"
					  "\x01\0\0\0\0\0\0\0(\0\0\0\0\0\0\0"
					  "\x04\0\0\0\0\0\0\0type\0\0\0\0"
					  "\x07\0\0\0\0\0\0\0regular\0"
					  "\x08\0\0\0\0\0\0\0contents"
					  "\x03\0\0\0\0\0\0\0abc\0\0\0\0\0"
					  "\x01\0\0\0\0\0\0\0)\0\0\0\0\0\0\0";
		size_t narlen = sizeof(nar) - 1;

		is_int((long long)narlen, (long long)pi.nar_size, "the hand-made NAR has the size");
		snprintf(file, sizeof(file), "%s/nix.export", work);
		fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		ok(archive_writer_new(&w, fd, file, ARCHIVE_NIX, 0) == 0 &&
		       archive_write_item_nar(w, &pi, nar, narlen) == 0 &&
		       archive_writer_finish(w) == 0,
		   "write a Nix export by hand");
		archive_writer_free(w);
		close(fd);
		data = tap_slurp(file, &len);
		ok(data && check_mem("/yonder/store", data, len, ARCHIVE_NIX, &paths) == 0 &&
		       paths.n == 1,
		   "it reads back as a Nix export (%s)", err_msg());
		ok(data && check_mem("/yonder/store", data, len, ARCHIVE_YONDER, &paths) < 0,
		   "and not as a yonder archive");
		{
			struct archive_import_opts o = {ARCHIVE_NIX, &test_acl, NULL, false};
			struct reader r;

			reader_init_mem(&r, data, len, "stream");
			ok(archive_check("/yonder/store", &r, &o, &paths) < 0 &&
			       strstr(err_msg(), "needs --trusted"),
			   "a Nix export needs 'trusted'");
		}
		free(data);

		/* A yonder item whose declared size is 8 short, signed as
		 * such: the reader sees the NAR go on past it. */
		{
			struct buf fp = BUF_INIT(PKI_FINGERPRINT_MAX);
			char *sig = NULL;

			pi.nar_size -= 8;
			pki_fingerprint(&fp, pi.path, pi.nar_hash, pi.nar_size, NULL, 0);
			pki_sign(&test_key, fp.data, fp.len, &sig);
			db_list_push_owned(&pi.sigs, sig);
			snprintf(file, sizeof(file), "%s/short.yar", work);
			fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			ok(archive_writer_new(&w, fd, file, ARCHIVE_YONDER, 5) == 0 &&
			       archive_write_item_nar(w, &pi, nar, narlen) == 0 &&
			       archive_writer_finish(w) == 0,
			   "write a lying yonder archive, compressed");
			archive_writer_free(w);
			close(fd);
			data = tap_slurp(file, &len);
			ok(data &&
			       check_mem("/yonder/store", data, len, ARCHIVE_YONDER, &paths) < 0 &&
			       strstr(err_msg(), "-abc': the NAR is longer than its declared size"),
			   "refused: %s", err_msg());
			free(data);
			buf_release(&fp);
		}
	}
	db_list_release(&paths);
	path_info_release(&pi);
}

int main(int argc, char **argv)
{
	(void)argc;
	top = tap_find_top(argv[0]);
	load_keys();
	test_bad_archives();
	open_store();
	make_items();
	test_round_trip(ARCHIVE_YONDER, 0);
	test_round_trip(ARCHIVE_YONDER, 3);
	test_round_trip(ARCHIVE_NIX, 0);
	test_signatures_travel();
	test_streams();
	test_all_or_none();
	test_valid_still_checked();
	test_writer_hooks();
	store_free(store);
	acl_release(&test_acl);
	pki_secret_release(&test_key);
	return tap_done();
}
