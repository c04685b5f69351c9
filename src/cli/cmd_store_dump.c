/* yonder store dump — a path's NAR on standard output. */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "nar.h"

static const char help[] =
    "Usage: yonder store dump PATH\n"
    "Write the NAR serialisation of PATH (any file, directory or symlink) to\n"
    "standard output, byte for byte as `nix-store --dump` does.\n\n"
    "Example: yonder store dump ./src > src.nar\n";

int cmd_store_dump(int argc, char **argv)
{
	if (cli_help(argc, argv, help))
		return EXIT_OK;
	if (argc != 2 || argv[1][0] == '-')
		return cli_usage(argv[0], argc < 2 ? "no PATH given" : "expected exactly one PATH");
	if (isatty(STDOUT_FILENO))
		return cli_fail(argv[0], "refusing to write a NAR to a terminal");
	if (nar_dump_to_fd(argv[1], STDOUT_FILENO) != 0)
		return cli_fail(argv[0], NULL);
	return EXIT_OK;
}
