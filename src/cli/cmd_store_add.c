/* yonder store add — add files or trees to the store. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "err.h"
#include "store.h"
#include "storepath.h"

static const char help[] =
    "Usage: yonder store add [--name NAME] [--flat] [--dry-run] PATH...\n"
    "Add each PATH to the store and print its store path, one line per PATH.\n"
    "A tree is added recursively, like `nix-store --add`: its store path comes\n"
    "from the SHA-256 of its NAR.  Adding a path that is already valid is not\n"
    "an error.  The copy is made canonical (mode 0444 or 0555, mtime 1), made\n"
    "durable with one sync of the store's file system, then registered.\n\n"
    "  --name NAME  the name part of the store path (default: PATH's base name)\n"
    "  --flat       PATH is a file whose bytes are hashed, like\n"
    "               `nix-store --add-fixed sha256 PATH`\n"
    "  --dry-run    print the store path that would be added; write nothing\n\n"
    "Environment: YONDER_STORE_DIR (default /yonder/store), YONDER_STATE_DIR\n"
    "(default /var/yonder).\n\n"
    "Example: yonder store add ./src\n";

/* PATH's base name, as `nix-store --add` names an item.  *FREEME is set
 * when the result had to be allocated. */
static const char *default_name(const char *path, char **freeme)
{
	size_t len = strlen(path), start;
	char *copy;

	*freeme = NULL;
	while (len > 1 && path[len - 1] == '/')
		len--;
	start = len;
	while (start > 0 && path[start - 1] != '/')
		start--;
	if (len - start == 0 || (len - start == 1 && path[start] == '.') ||
	    (len - start == 2 && path[start] == '.' && path[start + 1] == '.')) {
		/* ".", "..", "/": name it after the directory it stands for. */
		char *real = realpath(path, NULL);
		const char *slash;

		if (!real)
			return NULL;
		slash = strrchr(real, '/');
		copy = strdup(slash ? slash + 1 : real);
		free(real);
		return *freeme = copy;
	}
	copy = strndup(path + start, len - start);
	return *freeme = copy;
}

int cmd_store_add(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"flat", no_argument, NULL, 'f'},
	    {"dry-run", no_argument, NULL, 'd'},
	    {NULL, 0, NULL, 0},
	};
	const char *name = NULL, *dir;
	struct store *store = NULL;
	struct client_conn *conn = NULL;
	unsigned flags = 0;
	int dry_run = 0, c, status = EXIT_OK;

	if (cli_help(argc, argv, help))
		return EXIT_OK;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'f': flags |= STORE_ADD_FLAT; break;
		case 'd': dry_run = 1; break;
		case ':': return cli_usage(argv[0], "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage(argv[0], "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage(argv[0], "no PATH given");
	if (name && storepath_check_name(name, strlen(name)) != 0)
		return cli_usage(argv[0], "bad --name: %s", err_msg());
	if (dry_run) {
		if (storedir_get(&dir) != 0)
			return cli_fail(argv[0], NULL);
	} else if (client_connect_auto(&conn) != 0) {
		return cli_fail(argv[0], NULL);
	} else if (!conn && store_open(&store) != 0) {
		return cli_fail(argv[0], NULL);
	}
	for (int i = optind; i < argc && status == EXIT_OK; i++) {
		char *freeme = NULL, *out = NULL;
		const char *n = name ? name : default_name(argv[i], &freeme);
		int r;

		if (!n) {
			status = cli_fail(argv[0], "cannot name '%s': no such file or directory",
					  argv[i]);
			break;
		}
		if (dry_run)
			r = store_path_of(dir, argv[i], n, flags, &out);
		else if (conn) /* the daemon writes the store */
			r = client_add_path(conn, argv[i], n, flags, &out);
		else
			r = store_add(store, argv[i], n, flags, &out);
		if (r != 0)
			status = cli_fail(argv[0], NULL);
		else
			puts(out);
		free(out);
		free(freeme);
	}
	client_free(conn);
	store_free(store);
	return status;
}
