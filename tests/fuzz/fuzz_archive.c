/* fuzz_archive.c — libFuzzer target for the archive reader (archive_check).
 *
 * Every input is read twice as a yonder archive (store /yonder/store, the
 * ACL holding the committed test key yonder-test-1, so that the corpus's
 * signed items get past the signature check) and twice as a trusted Nix
 * export (store /nix/store).  Properties, abort() when one breaks:
 *   - the reader returns (no crash, no leak, no undefined behaviour);
 *   - a refusal has a message, and reading again gives the same verdict
 *     and the same message (no state carried between streams);
 *   - an accepted stream reports its paths, each a store path of the
 *     store, none twice, and nothing is reported for a refused one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "archive.h"
#include "db.h"
#include "err.h"
#include "io.h"
#include "storepath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char test_key[] = "yonder-test-1:DZFmmfMnQ3jsbiufKhqdv/zFsV6p5CABKnvWAjNgmZk=\n";

static void fail(const char *what, size_t size)
{
	fprintf(stderr, "fuzz_archive: %s (input of %zu bytes; last message: %s)\n", what, size,
		err_msg());
	abort();
}

static void one(const uint8_t *data, size_t size, const struct archive_import_opts *o,
		const char *store_dir)
{
	struct db_list p1 = DB_LIST_INIT, p2 = DB_LIST_INIT;
	struct reader r;
	char *msg;
	int e1, e2;

	reader_init_mem(&r, data, size, "fuzz input");
	e1 = archive_check(store_dir, &r, o, &p1);
	if (!(msg = strdup(err_msg())))
		abort();
	reader_init_mem(&r, data, size, "fuzz input");
	e2 = archive_check(store_dir, &r, o, &p2);
	if (e1 != e2)
		fail("two reads of one input disagree", size);
	if (e1 != 0) {
		if (!msg[0])
			fail("a refusal without a message", size);
		if (strcmp(msg, err_msg()) != 0)
			fail("two reads of one input give different messages", size);
		if (p1.n || p2.n)
			fail("a refused stream reported paths", size);
	} else {
		if (p1.n != p2.n)
			fail("two reads report different paths", size);
		for (size_t i = 0; i < p1.n; i++) {
			if (storepath_check(store_dir, p1.v[i]) != 0)
				fail("an accepted path is not a store path", size);
			for (size_t j = 0; j < i; j++)
				if (!strcmp(p1.v[i], p1.v[j]))
					fail("an accepted stream holds a path twice", size);
		}
	}
	free(msg);
	db_list_release(&p1);
	db_list_release(&p2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct acl acl;
	static int loaded;
	struct archive_import_opts yo = {ARCHIVE_YONDER, &acl, "the fuzz ACL", false};
	struct archive_import_opts no = {ARCHIVE_NIX, NULL, NULL, true};

	if (!loaded) {
		acl_init(&acl);
		if (acl_parse(&acl, test_key, strlen(test_key), "the fuzz ACL") != 0)
			fail("cannot parse the test key", 0);
		loaded = 1;
	}
	one(data, size, &yo, "/yonder/store");
	one(data, size, &no, "/nix/store");
	return 0;
}
