/* yonder archive — keys, the ACL, and (later) signed export and import. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "cli.h"
#include "err.h"
#include "pki.h"

static const char help[] =
	"Usage: yonder archive --generate-key [--name NAME]\n"
	"       yonder archive --authorize < KEY.pub\n"
	"       yonder archive --deauthorize < KEY.pub\n"
	"Manage this machine's signing key and the ACL of keys it trusts.\n\n"
	"  --generate-key  make an Ed25519 key pair: $YONDER_CONFIG_DIR/signing-key.sec\n"
	"                  (mode 0400) and signing-key.pub (0444), in Nix's format\n"
	"                  (NAME:base64, as `nix-store --generate-binary-cache-key`);\n"
	"                  refuses to replace an existing key\n"
	"  --name NAME     the key's name (default: this machine's host name)\n"
	"  --authorize     add the public key read on standard input to\n"
	"                  $YONDER_CONFIG_DIR/acl (kept once if already there)\n"
	"  --deauthorize   remove the public key read on standard input from the ACL\n\n"
	"The ACL's format is described in doc/ACL.md, the key files in doc/KEYS.md.\n"
	"A missing ACL trusts no key.  YONDER_CONFIG_DIR defaults to /etc/yonder.\n\n"
	"Export and import of signed archives (--export [-r] PATH..., --import,\n"
	"--missing) come in a later step.\n\n"
	"Example: ssh build1 cat /etc/yonder/signing-key.pub | yonder archive --authorize\n";

enum action {
	A_NONE,
	A_GENERATE_KEY,
	A_AUTHORIZE,
	A_DEAUTHORIZE,
	/* Not implemented yet: export/import step of issue 5. */
	A_EXPORT,
	A_IMPORT,
	A_MISSING,
};

enum { O_NAME = 256 };

/* Reads one public key from standard input (as a key file: one line,
 * optional final newline). */
static int read_stdin_key(struct pki_public *k)
{
	char text[PKI_KEYFILE_MAX + 1];
	size_t len = 0, linelen;
	int r;

	for (;;) {
		ssize_t n = read(STDIN_FILENO, text + len, sizeof(text) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(ERR_IO, "cannot read standard input");
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof(text))
			return err_set(ERR_FORMAT,
				       "standard input: more than %d bytes: not a public key",
				       PKI_KEYFILE_MAX);
	}
	if ((r = pki_keyfile_line(text, len, "standard input", &linelen)) != 0)
		return r;
	return pki_public_parse(k, text, linelen, "standard input:1");
}

static int generate_key(const char *cmd, const char *name)
{
	char host[HOST_NAME_MAX + 1];
	const char *dir;

	if (!name) {
		if (gethostname(host, sizeof(host)) != 0)
			return cli_fail(cmd, "cannot get the host name: %s; give --name NAME",
					strerror(errno));
		host[sizeof(host) - 1] = '\0';
		name = host;
		if (pki_name_check(name, strlen(name)) != 0)
			return cli_fail(
			    cmd, "the host name '%s' cannot be a key name (%s); give --name NAME",
			    name, err_msg());
	}
	if (pki_config_dir(&dir) != 0 || pki_generate_files(dir, name, NULL) != 0)
		return cli_fail(cmd, NULL);
	return EXIT_OK;
}

static int authorize(const char *cmd, enum acl_op op)
{
	struct pki_public k;
	const char *dir;

	if (read_stdin_key(&k) != 0 || pki_config_dir(&dir) != 0 ||
	    acl_update(dir, &k, op, NULL) != 0)
		return cli_fail(cmd, NULL);
	return EXIT_OK;
}

int cmd_archive(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "generate-key", no_argument, NULL, A_GENERATE_KEY },
		{ "authorize", no_argument, NULL, A_AUTHORIZE },
		{ "deauthorize", no_argument, NULL, A_DEAUTHORIZE },
		{ "name", required_argument, NULL, O_NAME },
		/* The export/import step adds its options here: --export,
		 * --import, --missing (actions below), and -r, --compression,
		 * --format, --trusted (modifiers, with their own O_* codes). */
		{ "export", no_argument, NULL, A_EXPORT },
		{ "import", no_argument, NULL, A_IMPORT },
		{ "missing", no_argument, NULL, A_MISSING },
		{ NULL, 0, NULL, 0 },
	};
	enum action action = A_NONE;
	const char *name = NULL;
	int c;

	if (cli_help(argc, argv, help))
		return EXIT_OK;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case A_GENERATE_KEY:
		case A_AUTHORIZE:
		case A_DEAUTHORIZE:
		case A_EXPORT:
		case A_IMPORT:
		case A_MISSING:
			if (action != A_NONE && action != (enum action)c)
				return cli_usage(argv[0], "give exactly one action");
			action = (enum action)c;
			break;
		case O_NAME: name = optarg; break;
		case ':': return cli_usage(argv[0], "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage(argv[0], "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (action == A_NONE)
		return cli_usage(argv[0],
				 "no action given (--generate-key, --authorize, --deauthorize)");
	if (name && action != A_GENERATE_KEY)
		return cli_usage(argv[0], "--name goes with --generate-key only");
	if (optind < argc && action != A_EXPORT)
		return cli_usage(argv[0], "unexpected argument '%s'", argv[optind]);
	switch (action) {
	case A_GENERATE_KEY: return generate_key(argv[0], name);
	case A_AUTHORIZE: return authorize(argv[0], ACL_AUTHORIZE);
	case A_DEAUTHORIZE: return authorize(argv[0], ACL_DEAUTHORIZE);
	case A_EXPORT:
	case A_IMPORT:
	case A_MISSING:
		return cli_fail(argv[0],
				"--export, --import and --missing are not implemented yet");
	case A_NONE: break;
	}
	return EXIT_USAGE;
}
