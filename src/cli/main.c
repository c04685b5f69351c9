/* yonder — the command-line entry point: one table of commands. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/err.h"
#include "cli.h"

struct command {
	const char *group; /* "store", or NULL for a top-level command */
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
    {NULL, "hash", cmd_hash, "print the SHA-256 of a path's NAR (or a file's bytes)"},
    {NULL, "archive", cmd_archive, "keys, the ACL, signed export and import"},
    {"store", "add", cmd_store_add, "add files or trees to the store"},
    {"store", "dump", cmd_store_dump, "write a path's NAR to standard output"},
    {"store", "restore", cmd_store_restore, "unpack a NAR from standard input"},
    {"store", "query", cmd_store_query, "show facts about valid store paths"},
    {"store", "verify", cmd_store_verify, "check store paths against the database"},
    {"store", "delete", cmd_store_delete, "delete store paths nothing refers to"},
    {"store", "gc", cmd_store_gc, "remove leftovers of interrupted adds"},
    {"store", "sign", cmd_store_sign, "sign valid store paths with a secret key"},
    {NULL, "derivation", cmd_derivation, "evaluate recipes and write their .drv files"},
    {"drv", "add", cmd_drv_add, "add .drv files to the store, checking their paths"},
    {"drv", "show", cmd_drv_show, "print derivations as JSON (nix show-derivation)"},
    {"store", "add-text", cmd_store_add_text, "add standard input as a text path (toFile)"},
    {NULL, "build", cmd_build, "build derivations here, their inputs first"},
    {NULL, "log", cmd_log, "print the build log of a derivation or output"},
    {NULL, "daemon", cmd_daemon, "serve builds to every client of a Unix socket"},
    {NULL, "serve", cmd_serve, "speak the remote protocol on stdin/stdout (for offloading)"},
    {"offload", "test", cmd_offload_test, "check the build machines, one line per check"},
    {"offload", "build", cmd_offload_build, "debugging aid: build one .drv on one machine"},
    {"offload", "status", cmd_offload_status, "the build machines as the daemon sees them"},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

int cli_fail(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "yonder %s: ", cmd);
	if (fmt) {
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
	} else {
		fputs(err_msg(), stderr);
	}
	fputc('\n', stderr);
	return EXIT_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "yonder %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'yonder %s --help'.\n", cmd);
	return EXIT_USAGE;
}

int cli_parse_uint(const char *cmd, const char *opt, const char *arg, unsigned min, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v > UINT_MAX || v < min)
		return cli_usage(cmd, "%s: expected a number%s, got '%s'", opt,
				 min ? " of at least 1" : "", arg);
	*out = (unsigned)v;
	return 0;
}

int cli_help(int argc, char **argv, const char *help)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(help, stdout);
			return 1;
		}
	}
	return 0;
}

static void usage(FILE *f)
{
	fputs("Usage: yonder COMMAND [ARGS...]\n"
	      "yonder is a functional build daemon that offloads builds to other\n"
	      "machines.  Commands:\n\n",
	      f);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		char name[64];

		snprintf(name, sizeof(name), "%s%s%s", commands[i].group ? commands[i].group : "",
			 commands[i].group ? " " : "", commands[i].name);
		fprintf(f, "  %-16s %s\n", name, commands[i].summary);
	}
	fputs("\nEach command takes --help.  Environment: YONDER_STORE_DIR (default\n"
	      "/yonder/store), YONDER_STATE_DIR (/var/yonder), YONDER_CONFIG_DIR\n"
	      "(/etc/yonder).\n",
	      f);
}

static int run(const struct command *c, int argc, char **argv, const char *fullname)
{
	char *saved = argv[0];
	int r;

	argv[0] = (char *)fullname;
	r = c->fn(argc, argv);
	argv[0] = saved;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "yonder %s: error writing standard output\n", fullname);
		return EXIT_FAIL;
	}
	return r;
}

int main(int argc, char **argv)
{
	char full[64];
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("yonder %s\n", YONDER_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const struct command *c = &commands[i];

		if (!c->group && !strcmp(argv[1], c->name))
			return run(c, argc - 1, argv + 1, c->name);
		if (c->group && !strcmp(argv[1], c->group) && argc >= 3 &&
		    !strcmp(argv[2], c->name)) {
			snprintf(full, sizeof(full), "%s %s", c->group, c->name);
			return run(c, argc - 2, argv + 2, full);
		}
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (commands[i].group && !strcmp(argv[1], commands[i].group)) {
			bool help =
			    argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"));
			FILE *f = help ? stdout : stderr;

			if (argc >= 3 && !help)
				fprintf(stderr, "yonder %s: unknown subcommand '%s'\n", argv[1],
					argv[2]);
			fprintf(f, "Usage: yonder %s SUBCOMMAND [ARGS...]\n", argv[1]);
			for (size_t j = 0; j < NCOMMANDS; j++)
				if (commands[j].group && !strcmp(commands[j].group, argv[1]))
					fprintf(f, "  %-10s %s\n", commands[j].name,
						commands[j].summary);
			fprintf(f, "Each subcommand takes --help.\n");
			return help ? EXIT_OK : EXIT_USAGE;
		}
	}
	fprintf(stderr, "yonder: unknown command '%s'\nTry 'yonder --help'.\n", argv[1]);
	return EXIT_USAGE;
}
