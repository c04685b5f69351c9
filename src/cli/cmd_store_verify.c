/* yonder store verify — check store paths against the database. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli.h"
#include "db.h"
#include "err.h"
#include "store.h"

static const char help[] =
    "Usage: yonder store verify [--check-contents] [PATH...]\n"
    "Check each valid store PATH (every valid path when none is given): report,\n"
    "one line each on standard error, the paths whose files are missing and,\n"
    "with --check-contents, those whose NAR hash or size no longer matches the\n"
    "database (expected and got).  Exit 1 if any is reported.\n\n"
    "  --check-contents  hash every file (reads the whole store)\n\n"
    "Example: yonder store verify --check-contents\n";

int cmd_store_verify(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"check-contents", no_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	struct db_list paths = DB_LIST_INIT;
	struct store *store = NULL;
	bool contents = false;
	int c, r = 0, status = EXIT_OK;

	if (cli_help(argc, argv, help))
		return EXIT_OK;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'c')
			return cli_usage(argv[0], "unknown option '%s'", argv[optind - 1]);
		contents = true;
	}
	if (store_open(&store) != 0)
		return cli_fail(argv[0], NULL);
	if (optind == argc)
		r = db_list_valid(store_db(store), &paths);
	for (int i = optind; i < argc && r == 0; i++)
		r = db_list_push(&paths, argv[i]);
	if (r != 0)
		status = cli_fail(argv[0], NULL);
	for (size_t i = 0; r == 0 && i < paths.n; i++) {
		if (store_verify(store, paths.v[i], contents) == 0)
			continue;
		status = cli_fail(argv[0], NULL);
	}
	db_list_release(&paths);
	store_free(store);
	return status;
}
