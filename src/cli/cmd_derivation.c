/* yonder derivation — evaluate recipes and write their .drv files. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "err.h"
#include "recipe.h"
#include "store.h"
#include "storepath.h"

static const char help[] =
    "Usage: yonder derivation [--dry-run] FILE.scm...\n"
    "Evaluate each recipe FILE.scm, write to the store the .drv files of its\n"
    "value (one derivation or a list of them) together with everything they\n"
    "need (input derivations, plain-file and local-file items), and print the\n"
    "value's .drv paths, one per line.  A recipe with an error writes nothing;\n"
    "the message gives FILE:LINE:COLUMN.  doc/RECIPES.md describes recipes.\n\n"
    "  --dry-run  print the .drv paths without writing anything\n\n"
    "Environment: YONDER_STORE_DIR (default /yonder/store), YONDER_STATE_DIR\n"
    "(default /var/yonder).\n\n"
    "Example: yonder derivation examples/hello.scm\n";

int cmd_derivation(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dry-run", no_argument, NULL, 'd'},
	    {NULL, 0, NULL, 0},
	};
	struct store *store = NULL;
	struct client_conn *conn = NULL;
	const char *dir;
	int dry_run = 0, c, status = EXIT_OK;

	if (cli_help(argc, argv, help))
		return EXIT_OK;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dry_run = 1; break;
		case ':': return cli_usage(argv[0], "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage(argv[0], "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage(argv[0], "no FILE.scm given");
	if (dry_run) {
		if (storedir_get(&dir) != 0)
			return cli_fail(argv[0], NULL);
	} else if (client_connect_auto(&conn) != 0) {
		return cli_fail(argv[0], NULL);
	} else if (conn) { /* the daemon writes the store */
		dir = client_store_dir(conn);
	} else {
		if (store_open(&store) != 0)
			return cli_fail(argv[0], NULL);
		dir = store_dir(store);
	}
	for (int i = optind; i < argc && status == EXIT_OK; i++) {
		struct recipe_result res = RECIPE_RESULT_INIT;

		if (recipe_eval_file(&res, dir, argv[i], NULL) != 0 ||
		    (conn && client_recipe_write(conn, &res) != 0) ||
		    (store && recipe_write(store, &res) != 0))
			status = cli_fail(argv[0], NULL);
		else
			for (size_t j = 0; j < res.ndrvs; j++)
				puts(res.drvs[j]);
		recipe_result_release(&res);
	}
	client_free(conn);
	store_free(store);
	return status;
}
