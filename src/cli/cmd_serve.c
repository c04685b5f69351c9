/* yonder serve --stdio: the build machine's side of offloading. */
#include <string.h>
#include <unistd.h>

#include "../lib/err.h"
#include "../lib/serve.h"
#include "cli.h"

static const char help[] =
    "Usage: yonder serve --stdio\n"
    "Speak yonder's remote protocol on standard input and output, for the\n"
    "daemon of another machine that offloads builds here over SSH\n"
    "(doc/OFFLOAD-PROTOCOL.md).  Uploads are checked against this machine's\n"
    "ACL; exports are signed with its key ($YONDER_CONFIG_DIR/signing-key.sec).\n";

int cmd_serve(int argc, char **argv)
{
	if (cli_help(argc, argv, help))
		return EXIT_OK;
	if (argc != 2 || strcmp(argv[1], "--stdio") != 0)
		return cli_usage(argv[0], "expected --stdio");
	if (serve_stdio(STDIN_FILENO, STDOUT_FILENO, NULL) != 0)
		return cli_fail(argv[0], NULL);
	return EXIT_OK;
}
