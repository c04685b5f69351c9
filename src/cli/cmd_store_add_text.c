/* yonder store add-text — add standard input as a text path. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "client.h"
#include "err.h"
#include "hash.h"
#include "store.h"
#include "storepath.h"

/* As much as a string may hold in a recipe: text paths are small files. */
#define ADD_TEXT_MAX (64u << 20)

static const char help[] =
    "Usage: yonder store add-text [--dry-run] [--ref PATH]... NAME\n"
    "Add the bytes of standard input to the store as a text file named NAME\n"
    "and print its store path.  The path is the one Nix's builtins.toFile and\n"
    "Guix's plain-file give the same name and content (a \"text\" path);\n"
    "--ref names a store path the text refers to (as the context of a Nix\n"
    "string does), which must be valid.  At most 64 MiB.\n\n"
    "  --ref PATH  a reference (may be repeated)\n"
    "  --dry-run   print the store path without adding anything\n\n"
    "Environment: YONDER_STORE_DIR (default /yonder/store), YONDER_STATE_DIR\n"
    "(default /var/yonder).\n\n"
    "Example: echo hi | yonder store add-text hello.txt\n";

int cmd_store_add_text(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dry-run", no_argument, NULL, 'd'},
	    {"ref", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	struct buf in = BUF_INIT(ADD_TEXT_MAX);
	struct store *store = NULL;
	struct client_conn *conn = NULL;
	const char **refs = NULL, *dir, *name;
	size_t nrefs = 0;
	char chunk[65536], *out = NULL;
	uint8_t h[SHA256_LEN];
	int dry_run = 0, c, r, status = EXIT_FAIL;
	ssize_t got;

	if (cli_help(argc, argv, help))
		return EXIT_OK;
	if (!(refs = calloc((size_t)argc, sizeof(*refs))))
		return cli_fail(argv[0], "out of memory");
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dry_run = 1; break;
		case 'r': {
			/* A set, as a Nix string's context: once each. */
			size_t i = 0;

			while (i < nrefs && strcmp(refs[i], optarg) != 0)
				i++;
			if (i == nrefs)
				refs[nrefs++] = optarg;
			break;
		}
		case ':':
			status = cli_usage(argv[0], "option '%s' needs a value", argv[optind - 1]);
			goto out;
		default:
			status = cli_usage(argv[0], "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind != argc - 1) {
		status =
		    cli_usage(argv[0], optind >= argc ? "no NAME given" : "more than one NAME");
		goto out;
	}
	name = argv[optind];
	if (storepath_check_name(name, strlen(name)) != 0) {
		status = cli_usage(argv[0], "bad NAME: %s", err_msg());
		goto out;
	}
	if (storedir_get(&dir) != 0) {
		cli_fail(argv[0], NULL);
		goto out;
	}
	for (size_t i = 0; i < nrefs; i++)
		if (storepath_check(dir, refs[i]) != 0) {
			status = cli_usage(argv[0], "bad --ref: %s", err_msg());
			goto out;
		}
	while ((got = read(STDIN_FILENO, chunk, sizeof(chunk))) != 0) {
		if (got < 0) {
			err_sys(ERR_IO, "standard input");
			cli_fail(argv[0], NULL);
			goto out;
		}
		if (buf_put(&in, chunk, (size_t)got) != 0) {
			cli_fail(argv[0], "standard input: more than %u bytes", ADD_TEXT_MAX);
			goto out;
		}
	}
	if (dry_run) {
		r = sha256_buf(in.data ? in.data : "", in.len, h);
		if (r == 0)
			r = storepath_text(dir, h, name, refs, nrefs, &out);
	} else if ((r = client_connect_auto(&conn)) == 0 && conn) {
		/* The daemon writes the store. */
		r = client_add_text(conn, name, in.data ? in.data : "", in.len, refs, nrefs, &out);
	} else if (r == 0) {
		r = store_open(&store);
		if (r == 0)
			r = store_add_text(store, name, in.data ? in.data : "", in.len, refs, nrefs,
					   &out);
	}
	if (r != 0) {
		cli_fail(argv[0], NULL);
		goto out;
	}
	puts(out);
	status = EXIT_OK;
out:
	free(out);
	free(refs);
	buf_release(&in);
	client_free(conn);
	store_free(store);
	return status;
}
