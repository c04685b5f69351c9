/* yonder store delete, yonder store gc — removing things from the store. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "db.h"
#include "err.h"
#include "store.h"
#include "storepath.h"

static const char delete_help[] =
    "Usage: yonder store delete PATH...\n"
    "Delete the store PATHs (their files and their database rows) together.\n"
    "Refused, deleting nothing, when a valid path other than the PATHs refers\n"
    "to one of them; the message names such a referrer.\n\n"
    "Example: yonder store delete /yonder/store/…-hello-2.12\n";

static const char gc_help[] =
    "Usage: yonder store gc\n"
    "Remove the leftovers of interrupted adds and deletes: temporary entries\n"
    "(.tmp-*) of processes that no longer run, and entries named like store\n"
    "paths that are not valid.  Prints each removed name.  Valid paths are\n"
    "kept; removing the ones no root reaches comes in a later version.\n\n"
    "Example: yonder store gc\n";

int cmd_store_delete(int argc, char **argv)
{
	struct store *store = NULL;
	struct client_conn *conn = NULL;
	int first = 1, status = EXIT_OK;

	if (cli_help(argc, argv, delete_help))
		return EXIT_OK;
	if (argc > 1 && !strcmp(argv[1], "--"))
		first = 2;
	else
		for (int i = 1; i < argc; i++)
			if (argv[i][0] == '-')
				return cli_usage(argv[0], "unknown option '%s'", argv[i]);
	if (first >= argc)
		return cli_usage(argv[0], "no PATH given");
	if (client_connect_auto(&conn) != 0 || (!conn && store_open(&store) != 0))
		return cli_fail(argv[0], NULL);
	/* The daemon checks them too; checked here, they get the message
	 * that store_delete gives. */
	for (int i = first; conn && i < argc; i++)
		if (storepath_check(client_store_dir(conn), argv[i]) != 0) {
			client_free(conn);
			return cli_fail(argv[0], NULL);
		}
	if ((conn ? client_delete(conn, (const char *const *)argv + first, (size_t)(argc - first))
		  : store_delete(store, (const char *const *)argv + first,
				 (size_t)(argc - first))) != 0)
		status = cli_fail(argv[0], NULL);
	client_free(conn);
	store_free(store);
	return status;
}

int cmd_store_gc(int argc, char **argv)
{
	struct db_list removed = DB_LIST_INIT;
	struct store *store = NULL;
	struct client_conn *conn = NULL;
	int r, status = EXIT_OK;

	if (cli_help(argc, argv, gc_help))
		return EXIT_OK;
	if (argc > 1)
		return cli_usage(
		    argv[0], argv[1][0] == '-' ? "unknown option '%s'" : "unexpected argument '%s'",
		    argv[1]);
	if (client_connect_auto(&conn) != 0 || (!conn && store_open(&store) != 0))
		return cli_fail(argv[0], NULL);
	r = conn ? client_gc(conn, &removed) : store_gc(store, &removed);
	for (size_t i = 0; i < removed.n; i++)
		printf("removed %s\n", removed.v[i]);
	if (r != 0)
		status = cli_fail(argv[0], NULL);
	db_list_release(&removed);
	client_free(conn);
	store_free(store);
	return status;
}
