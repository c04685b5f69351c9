/* yonder daemon — serve builds to every client of a Unix socket. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "daemon.h"
#include "err.h"
#include "store.h"

static const char help[] =
    "Usage: yonder daemon [OPTION]...\n"
    "Run the build daemon in the foreground: `yonder build` and the other\n"
    "commands send their builds to it through a Unix socket, and one\n"
    "scheduler runs the builds of every client (a derivation wanted by\n"
    "several clients is built once).  It owns the store while it runs.\n\n"
    "  --socket PATH    listen on PATH (default\n"
    "                   $YONDER_STATE_DIR/daemon-socket/socket, or\n"
    "                   $YONDER_DAEMON_SOCKET)\n"
    "  -j, --max-jobs N run up to N local builds at once, for all clients\n"
    "                   (default 1); 0: build only on the build machines\n"
    "  --cores N        NIX_BUILD_CORES for builders (default: CPUs)\n"
    "  --speed S        this machine's speed, compared with the build\n"
    "                   machines' (default 1.0)\n"
    "  --max-tries N    tries of a build that fails on machines for a\n"
    "                   transient reason (default 3)\n"
    "  --machines FILE  the build machines (default\n"
    "                   $YONDER_CONFIG_DIR/machines.scm; when that file does\n"
    "                   not exist every build is local)\n\n"
    "Access: the socket's permissions are the access control.  The default\n"
    "socket's directory is created 0700 and must be ours; the socket is\n"
    "0600: only this user can connect, and whoever can connect may build.\n\n"
    "Signals: SIGTERM or SIGINT stop it (running builds are killed, nothing\n"
    "of them is registered, clients are told), SIGHUP rereads the\n"
    "configuration.  Messages go to standard error.\n";

static void on_log(void *ctx, const char *fmt, va_list ap)
{
	char when[32];
	time_t t = time(NULL);
	struct tm tm;

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	fprintf(stderr, "%s yonder daemon: ", when);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	fflush(stderr);
}

int cmd_daemon(int argc, char **argv)
{
	enum { O_SOCKET = 256, O_CORES, O_SPEED, O_TRIES, O_MACHINES };
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, O_SOCKET},
	    {"max-jobs", required_argument, NULL, 'j'},
	    {"cores", required_argument, NULL, O_CORES},
	    {"speed", required_argument, NULL, O_SPEED},
	    {"max-tries", required_argument, NULL, O_TRIES},
	    {"machines", required_argument, NULL, O_MACHINES},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct daemon_opts o = {.max_jobs = 1, .log = on_log};
	struct store *s = NULL;
	int c, r;

	if (cli_help(argc, argv, help))
		return EXIT_OK;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+j:", opts, NULL)) != -1) {
		switch (c) {
		case O_SOCKET: o.socket = optarg; break;
		case 'j':
			if (cli_parse_uint(argv[0], "--max-jobs", optarg, 0, &o.max_jobs) != 0)
				return EXIT_USAGE;
			break;
		case O_CORES:
			if (cli_parse_uint(argv[0], "--cores", optarg, 0, &o.cores) != 0)
				return EXIT_USAGE;
			break;
		case O_SPEED: {
			char *end;

			errno = 0;
			o.speed = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o.speed > 0) || o.speed > 1e6)
				return cli_usage(argv[0],
						 "--speed: expected a positive number, got '%s'",
						 optarg);
			break;
		}
		case O_TRIES:
			if (cli_parse_uint(argv[0], "--max-tries", optarg, 1, &o.max_tries) != 0)
				return EXIT_USAGE;
			break;
		case O_MACHINES: o.machines = optarg; break;
		case ':': return cli_usage(argv[0], "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage(argv[0], "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage(argv[0], "unexpected argument '%s'", argv[optind]);
	if (store_open(&s) != 0)
		return cli_fail(argv[0], NULL);
	r = daemon_run(s, &o);
	store_free(s);
	if (r != 0)
		return cli_fail(argv[0], NULL);
	return EXIT_OK;
}
