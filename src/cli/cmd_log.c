/* yonder log — print the build log of a derivation or of an output. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder.h"
#include "cli.h"
#include "client.h"
#include "db.h"
#include "engine.h"
#include "err.h"
#include "store.h"
#include "storepath.h"

static const char help[] =
    "Usage: yonder log [-f] DRV|OUTPUT...\n"
    "Print the build log of each derivation DRV (a .drv store path), or of\n"
    "the derivation that built the valid store path OUTPUT, as the builder\n"
    "wrote it.  Logs are kept, zstd-compressed, in $YONDER_STATE_DIR/log,\n"
    "for failed builds too.\n\n"
    "  -f, --follow  follow a build of the daemon (`yonder daemon`) that\n"
    "                runs or waits: print its last 64 KiB of output, then\n"
    "                each line as it comes, until the build ends; a build\n"
    "                that is over: its saved log.  Exit status: 0 built or\n"
    "                already valid, 100 failed, 101 timed out, 1 cancelled\n"
    "                or another error.\n\n"
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

/* Follows the build of ARG (a .drv, or an output whose deriver the
 * daemon knows) through the daemon C. */
static int follow(struct client_conn *c, const char *cmd, const char *arg)
{
	struct path_info *pi = NULL;
	const char *drv = arg;
	size_t n = strlen(arg);
	uint64_t st = 0;
	int r;

	if (storepath_check(client_store_dir(c), arg) != 0)
		return cli_fail(cmd, NULL);
	if (n < 4 || strcmp(arg + n - 4, ".drv") != 0) {
		if (client_query(c, &arg, 1, &pi) != 0)
			return cli_fail(cmd, NULL);
		if (!pi[0].path || !pi[0].deriver) {
			r = cli_fail(cmd,
				     pi[0].path ? "'%s' was not built here: no derivation is known "
						  "for it"
						: "'%s' is not valid",
				     arg);
			proto_query_ok_free(pi, 1);
			return r;
		}
		drv = pi[0].deriver;
	}
	fflush(stdout);
	if (client_follow_log(c, drv, true, STDOUT_FILENO, &st) != 0)
		r = cli_fail(cmd, NULL);
	else if (st == ENGINE_ST_BUILT || st == ENGINE_ST_VALID)
		r = EXIT_OK;
	else if (st == ENGINE_ST_FAILED)
		r = 100;
	else if (st == ENGINE_ST_TIMED_OUT)
		r = 101;
	else
		r = cli_fail(cmd, "the build of '%s' did not run to its end (%s)", drv,
			     st == ENGINE_ST_DEP_FAILED ? "a dependency failed" : "cancelled");
	if (pi)
		proto_query_ok_free(pi, 1);
	return r;
}

int cmd_log(int argc, char **argv)
{
	struct store *s;
	struct client_conn *c = NULL;
	int first = 1, status = EXIT_OK;
	bool follow_ = false;

	if (cli_help(argc, argv, help))
		return EXIT_OK;
	for (; first < argc && argv[first][0] == '-' && argv[first][1]; first++) {
		if (!strcmp(argv[first], "--")) {
			first++;
			break;
		}
		if (!strcmp(argv[first], "-f") || !strcmp(argv[first], "--follow"))
			follow_ = true;
		else
			return cli_usage(argv[0], "unknown option '%s'", argv[first]);
	}
	if (first >= argc)
		return cli_usage(argv[0], "no DRV or OUTPUT given");
	if (follow_) {
		if (client_connect_auto(&c) != 0)
			return cli_fail(argv[0], NULL);
		if (!c)
			return cli_fail(argv[0], "--follow: no daemon is running (builds of "
						 "`yonder daemon` can be followed, no others)");
		for (int i = first; i < argc && status == EXIT_OK; i++)
			status = follow(c, argv[0], argv[i]);
		client_free(c);
		return status;
	}
	if (store_open(&s) != 0)
		return cli_fail(argv[0], NULL);
	for (int i = first; i < argc && status == EXIT_OK; i++)
		status = show(s, argv[0], argv[i]);
	store_free(s);
	return status;
}
