/* yonder hash — SHA-256 of a path's NAR, or of a file's bytes. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "hash.h"
#include "nar.h"

static const char help[] =
    "Usage: yonder hash [--base16|--base32|--sri] [--flat] PATH...\n"
    "Print the SHA-256 of each PATH's NAR serialisation (as `nix-hash --type\n"
    "sha256` does), one line per PATH.\n\n"
    "  --base32   nix32, Nix's base-32 (the default)\n"
    "  --base16   hexadecimal\n"
    "  --sri      sha256-<base64>\n"
    "  --flat     hash the bytes of the file itself, not its NAR\n\n"
    "Example: yonder hash --base16 ./src\n";

static int hash_flat(const char *path, uint8_t out[SHA256_LEN])
{
	struct hash_sink hs;
	struct reader rd;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "cannot open '%s'", path);
	if ((r = reader_init_fd(&rd, fd, path)) != 0) {
		close(fd);
		return r;
	}
	if ((r = hash_sink_init(&hs)) == 0) {
		rd.hash = &hs.sha;
		while ((r = reader_at_eof(&rd)) == 0)
			if ((r = reader_read(&rd, NULL, rd.avail)) != 0)
				break;
		if (r == 1) {
			r = 0;
			hash_sink_finish(&hs, out);
		} else {
			hash_sink_release(&hs);
		}
	}
	reader_release(&rd);
	close(fd);
	return r;
}

int cmd_hash(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"base16", no_argument, NULL, 'x'},
	    {"base32", no_argument, NULL, 'n'},
	    {"sri", no_argument, NULL, 's'},
	    {"flat", no_argument, NULL, 'f'},
	    {NULL, 0, NULL, 0},
	};
	enum hash_base base = HASH_NIX32;
	int flat = 0, c, status = EXIT_OK;

	if (cli_help(argc, argv, help))
		return EXIT_OK;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'x': base = HASH_BASE16; break;
		case 'n': base = HASH_NIX32; break;
		case 's': base = HASH_SRI; break;
		case 'f': flat = 1; break;
		default: return cli_usage(argv[0], "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage(argv[0], "no PATH given");
	for (int i = optind; i < argc; i++) {
		uint8_t h[SHA256_LEN];
		char out[96];
		int r = flat ? hash_flat(argv[i], h) : nar_hash_path(AT_FDCWD, argv[i], h, NULL);

		if (r != 0) {
			status = cli_fail(argv[0], NULL);
			continue;
		}
		sha256_format(h, base, out);
		puts(out);
	}
	return status;
}
