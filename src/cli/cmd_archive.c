/* yonder archive — keys, the ACL, signed export and import. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "acl.h"
#include "archive.h"
#include "cli.h"
#include "client.h"
#include "db.h"
#include "err.h"
#include "pki.h"
#include "store.h"

static const char help[] =
    "Usage: yonder archive --export [-r] [--compression=zstd[:LEVEL]|none]\n"
    "                      [--format=nix] PATH... > ARCHIVE\n"
    "       yonder archive --import [--format=nix --trusted] < ARCHIVE\n"
    "       yonder archive --missing < PATHS\n"
    "       yonder archive --generate-key [--name NAME]\n"
    "       yonder archive --authorize < KEY.pub\n"
    "       yonder archive --deauthorize < KEY.pub\n"
    "Move store items between machines as signed archives; manage this\n"
    "machine's signing key and the ACL of keys it trusts.\n\n"
    "  --export        write the PATHs (references first) to standard output,\n"
    "                  each signed with $YONDER_CONFIG_DIR/signing-key.sec unless\n"
    "                  it is already, with the signatures recorded for it\n"
    "  -r, --recursive export the closure of the PATHs\n"
    "  --compression=zstd[:LEVEL]|none\n"
    "                  compress the stream (default zstd:3; none with --format=nix)\n"
    "  --format=nix    `nix-store --export`'s format (no signatures), for Nix\n"
    "  --import        read an archive (compressed or not) on standard input and\n"
    "                  make its items valid, all or none, after checking each one's\n"
    "                  signature against the ACL, its NAR hash and size, and its\n"
    "                  references; print the paths of the stream\n"
    "  --trusted       with --import --format=nix: accept the unsigned items\n"
    "  --missing       print the store paths read on standard input (one a line)\n"
    "                  that are not valid here\n"
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
    "The archive format is described in doc/ARCHIVE.md.\n\n"
    "Example: yonder archive --export -r /yonder/store/…-hello-2.12 |\n"
    "           ssh build1 yonder archive --import\n"
    "         ssh build1 cat /etc/yonder/signing-key.pub | yonder archive --authorize\n";

enum action {
	A_NONE,
	A_GENERATE_KEY,
	A_AUTHORIZE,
	A_DEAUTHORIZE,
	A_EXPORT,
	A_IMPORT,
	A_MISSING,
};

enum { O_NAME = 256, O_COMPRESSION, O_FORMAT, O_TRUSTED };

/* What the export/import options said. */
struct xopts {
	bool recursive;
	bool trusted;
	enum archive_format format;
	int level; /* zstd level, 0 for none, -1 for the default */
};

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

/* "$YONDER_CONFIG_DIR/NAME" in OUT. */
static int config_file(char *out, size_t size, const char *name)
{
	const char *dir;
	int r;

	if ((r = pki_config_dir(&dir)) != 0)
		return r;
	if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size)
		return err_set(ERR_INVALID, "configuration directory '%s' is too long", dir);
	return 0;
}

static int parse_compression(const char *cmd, const char *arg, int *level)
{
	char *end;
	long l;

	if (!strcmp(arg, "none")) {
		*level = 0;
		return 0;
	}
	if (!strcmp(arg, "zstd")) {
		*level = ARCHIVE_ZSTD_DEFAULT_LEVEL;
		return 0;
	}
	if (strncmp(arg, "zstd:", 5) != 0)
		return cli_usage(cmd, "--compression: '%s' is not zstd[:LEVEL] or none", arg);
	errno = 0;
	l = strtol(arg + 5, &end, 10);
	if (errno || end == arg + 5 || *end || l < 1 || l > 19)
		return cli_usage(cmd, "--compression: level '%s' is not a number from 1 to 19",
				 arg + 5);
	*level = (int)l;
	return 0;
}

static int do_export(const char *cmd, const struct xopts *x, char **paths, size_t n)
{
	struct archive_writer *w = NULL;
	struct store *store = NULL;
	struct pki_secret key;
	char keyfile[PATH_MAX];
	int level = x->level, status = EXIT_FAIL;

	if (isatty(STDOUT_FILENO))
		return cli_fail(cmd, "refusing to write an archive to a terminal; redirect "
				     "standard output");
	if (level < 0)
		level = x->format == ARCHIVE_NIX ? 0 : ARCHIVE_ZSTD_DEFAULT_LEVEL;
	memset(&key, 0, sizeof(key));
	if (x->format == ARCHIVE_YONDER &&
	    (config_file(keyfile, sizeof(keyfile), PKI_SECRET_FILE) != 0 ||
	     pki_secret_load(&key, keyfile) != 0)) {
		cli_fail(cmd, "%s (the signing key: `yonder archive --generate-key` makes one)",
			 err_msg());
		goto out;
	}
	if (store_open(&store) != 0 ||
	    archive_writer_new(&w, STDOUT_FILENO, "standard output", x->format, level) != 0 ||
	    archive_export(store, w, (const char *const *)paths, n, x->recursive,
			   x->format == ARCHIVE_YONDER ? &key : NULL, NULL) != 0 ||
	    archive_writer_finish(w) != 0) {
		cli_fail(cmd, NULL);
		goto out;
	}
	status = EXIT_OK;
out:
	pki_secret_release(&key);
	archive_writer_free(w);
	store_free(store);
	return status;
}

/* Every temporary of an import holds a lock file open until the commit:
 * allow as many open files as the hard limit does. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Copies standard input to OUT: the archive sent to the daemon. */
static int stdin_to(void *ctx, struct sink *out)
{
	char chunk[65536];
	int r;

	for (;;) {
		ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(ERR_IO, "standard input");
		if (n == 0)
			return 0;
		if ((r = sink_write(out, chunk, (size_t)n)) != 0)
			return r;
	}
}

static int do_import(const char *cmd, const struct xopts *x)
{
	struct archive_import_opts o = {x->format, NULL, NULL, x->trusted};
	struct db_list paths = DB_LIST_INIT;
	struct acl acl = ACL_INIT;
	struct store *store = NULL;
	struct client_conn *conn = NULL;
	struct reader in;
	char aclfile[PATH_MAX];
	int status = EXIT_FAIL, r;

	if (x->format == ARCHIVE_NIX && !x->trusted)
		return cli_fail(cmd, "the Nix export format carries no signatures: importing it "
				     "needs --trusted");
	if (reader_init_fd(&in, STDIN_FILENO, "standard input") != 0)
		return cli_fail(cmd, NULL);
	if (client_connect_auto(&conn) != 0) {
		cli_fail(cmd, NULL);
		goto out;
	}
	if (conn) {
		/* The daemon checks the archive against its own ACL. */
		uint64_t flags = (x->format == ARCHIVE_NIX ? PROTO_IMPORT_NIX : 0) |
				 (x->trusted ? PROTO_IMPORT_TRUSTED : 0);

		if ((r = client_import(conn, flags, stdin_to, NULL, &paths)) != 0) {
			cli_fail(cmd, "nothing imported: %s", err_msg());
			goto out;
		}
	} else if (!x->trusted) {
		if (config_file(aclfile, sizeof(aclfile), ACL_FILE) != 0 ||
		    acl_load(&acl, aclfile) != 0) {
			cli_fail(cmd, NULL);
			goto out;
		}
		o.acl = &acl;
		o.acl_file = aclfile;
	}
	if (!conn) {
		raise_nofile();
		if (store_open(&store) != 0) {
			cli_fail(cmd, NULL);
			goto out;
		}
		if ((r = archive_import(store, &in, &o, &paths)) != 0) {
			cli_fail(cmd, "nothing imported: %s", err_msg());
			goto out;
		}
	}
	for (size_t i = 0; i < paths.n; i++)
		puts(paths.v[i]);
	status = fflush(stdout) == 0 ? EXIT_OK : cli_fail(cmd, "cannot write standard output");
out:
	db_list_release(&paths);
	acl_release(&acl);
	client_free(conn);
	store_free(store);
	reader_release(&in);
	return status;
}

static int do_missing(const char *cmd)
{
	struct store *store = NULL;
	char line[PATH_MAX + 2];
	unsigned long lineno = 0;
	int status = EXIT_OK, r;

	if (store_open(&store) != 0)
		return cli_fail(cmd, NULL);
	while (fgets(line, sizeof(line), stdin)) {
		size_t len = strlen(line);

		lineno++;
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (!feof(stdin)) {
			status = cli_fail(cmd, "standard input:%lu: line too long", lineno);
			break;
		}
		if (len == 0)
			continue;
		if (store_check_path(store, line) != 0 ||
		    (r = db_is_valid(store_db(store), line)) < 0) {
			status = cli_fail(cmd, "standard input:%lu: %s", lineno, err_msg());
			break;
		}
		if (r == 0)
			puts(line);
	}
	if (status == EXIT_OK && ferror(stdin))
		status = cli_fail(cmd, "cannot read standard input");
	if (fflush(stdout) != 0 && status == EXIT_OK)
		status = cli_fail(cmd, "cannot write standard output");
	store_free(store);
	return status;
}

int cmd_archive(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"generate-key", no_argument, NULL, A_GENERATE_KEY},
	    {"authorize", no_argument, NULL, A_AUTHORIZE},
	    {"deauthorize", no_argument, NULL, A_DEAUTHORIZE},
	    {"name", required_argument, NULL, O_NAME},
	    {"export", no_argument, NULL, A_EXPORT},
	    {"import", no_argument, NULL, A_IMPORT},
	    {"missing", no_argument, NULL, A_MISSING},
	    {"recursive", no_argument, NULL, 'r'},
	    {"compression", required_argument, NULL, O_COMPRESSION},
	    {"format", required_argument, NULL, O_FORMAT},
	    {"trusted", no_argument, NULL, O_TRUSTED},
	    {NULL, 0, NULL, 0},
	};
	enum action action = A_NONE;
	struct xopts x = {false, false, ARCHIVE_YONDER, -1};
	bool formatted = false;
	const char *name = NULL;
	int c;

	if (cli_help(argc, argv, help))
		return EXIT_OK;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":r", opts, NULL)) != -1) {
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
		case 'r': x.recursive = true; break;
		case O_TRUSTED: x.trusted = true; break;
		case O_COMPRESSION:
			if (parse_compression(argv[0], optarg, &x.level) != 0)
				return EXIT_USAGE;
			break;
		case O_FORMAT:
			formatted = true;
			if (!strcmp(optarg, "nix"))
				x.format = ARCHIVE_NIX;
			else if (!strcmp(optarg, "yonder"))
				x.format = ARCHIVE_YONDER;
			else
				return cli_usage(argv[0], "--format: '%s' is not nix or yonder",
						 optarg);
			break;
		case ':': return cli_usage(argv[0], "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage(argv[0], "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (action == A_NONE)
		return cli_usage(argv[0], "no action given (--export, --import, --missing, "
					  "--generate-key, --authorize, --deauthorize)");
	if (name && action != A_GENERATE_KEY)
		return cli_usage(argv[0], "--name goes with --generate-key only");
	if ((x.recursive || x.level >= 0) && action != A_EXPORT)
		return cli_usage(argv[0], "-r and --compression go with --export only");
	if (formatted && action != A_EXPORT && action != A_IMPORT)
		return cli_usage(argv[0], "--format goes with --export or --import only");
	if (x.trusted && (action != A_IMPORT || x.format != ARCHIVE_NIX))
		return cli_usage(argv[0], "--trusted goes with --import --format=nix only: a "
					  "yonder archive is always checked against the ACL");
	if (optind < argc && action != A_EXPORT)
		return cli_usage(argv[0], "unexpected argument '%s'", argv[optind]);
	if (optind == argc && action == A_EXPORT)
		return cli_usage(argv[0], "--export: no PATH given");
	switch (action) {
	case A_GENERATE_KEY: return generate_key(argv[0], name);
	case A_AUTHORIZE: return authorize(argv[0], ACL_AUTHORIZE);
	case A_DEAUTHORIZE: return authorize(argv[0], ACL_DEAUTHORIZE);
	case A_EXPORT: return do_export(argv[0], &x, argv + optind, (size_t)(argc - optind));
	case A_IMPORT: return do_import(argv[0], &x);
	case A_MISSING: return do_missing(argv[0]);
	case A_NONE: break;
	}
	return EXIT_USAGE;
}
