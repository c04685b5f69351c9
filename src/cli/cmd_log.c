/* yonder log — print the build log of a derivation or of an output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder.h"
#include "cli.h"
#include "db.h"
#include "err.h"
#include "store.h"
#include "storepath.h"

static const char help[] =
    "Usage: yonder log DRV|OUTPUT...\n"
    "Print the build log of each derivation DRV (a .drv store path), or of\n"
    "the derivation that built the valid store path OUTPUT, as the builder\n"
    "wrote it.  Logs are kept, zstd-compressed, in $YONDER_STATE_DIR/log,\n"
    "for failed builds too.\n\n"
    "Environment: YONDER_STORE_DIR (default /yonder/store), YONDER_STATE_DIR\n"
    "(default /var/yonder).\n\n"
    "Example: yonder log /yonder/store/…-hello\n";

static int show(struct store *s, const char *cmd, const char *arg)
{
	struct path_info pi = PATH_INFO_INIT;
	const char *drv = arg;
	char *file = NULL;
	size_t n = strlen(arg);
	int r;

	if ((r = store_check_path(s, arg)) != 0)
		return cli_fail(cmd, NULL);
	if (n < 4 || strcmp(arg + n - 4, ".drv") != 0) {
		if ((r = db_query_info(store_db(s), arg, &pi)) != 0) {
			path_info_release(&pi);
			return cli_fail(cmd, NULL);
		}
		if (!pi.deriver) {
			path_info_release(&pi);
			return cli_fail(
			    cmd, "'%s' was not built here: no derivation is known for it", arg);
		}
		drv = pi.deriver;
	}
	if ((r = builder_log_file(store_state_path(s), drv, &file)) == 0) {
		fflush(stdout);
		r = builder_log_cat(file, STDOUT_FILENO);
	}
	if (r == ERR_NOTFOUND)
		r = cli_fail(cmd, "no build log for '%s'", drv);
	else if (r != 0)
		r = cli_fail(cmd, NULL);
	free(file);
	path_info_release(&pi);
	return r;
}

int cmd_log(int argc, char **argv)
{
	struct store *s;
	int first = 1, status = EXIT_OK;

	if (cli_help(argc, argv, help))
		return EXIT_OK;
	if (argc > 1 && !strcmp(argv[1], "--"))
		first = 2;
	else if (argc > 1 && argv[1][0] == '-' && argv[1][1])
		return cli_usage(argv[0], "unknown option '%s'", argv[1]);
	if (first >= argc)
		return cli_usage(argv[0], "no DRV or OUTPUT given");
	if (store_open(&s) != 0)
		return cli_fail(argv[0], NULL);
	for (int i = first; i < argc && status == EXIT_OK; i++)
		status = show(s, argv[0], argv[i]);
	store_free(s);
	return status;
}
