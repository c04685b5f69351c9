/* yonder store restore — unpack a NAR from standard input. */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "nar.h"

static const char help[] =
    "Usage: yonder store restore DEST\n"
    "Read one NAR from standard input and create its tree at DEST, which must\n"
    "not exist.  The NAR is checked strictly (order, names, padding, lengths,\n"
    "depth); nothing is ever overwritten and no symlink is followed.  On any\n"
    "error DEST is removed and the message gives the byte offset.\n\n"
    "Example: yonder store restore ./copy < src.nar\n";

int cmd_store_restore(int argc, char **argv)
{
	struct reader rd;
	int r;

	if (cli_help(argc, argv, help))
		return EXIT_OK;
	if (argc != 2 || argv[1][0] == '-')
		return cli_usage(argv[0], argc < 2 ? "no DEST given" : "expected exactly one DEST");
	if ((r = reader_init_fd(&rd, STDIN_FILENO, "standard input")) != 0)
		return cli_fail(argv[0], NULL);
	r = nar_restore(&rd, argv[1], 0);
	reader_release(&rd);
	return r ? cli_fail(argv[0], NULL) : EXIT_OK;
}
