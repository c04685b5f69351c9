/* yonder store sign — sign valid store paths with a secret key. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "db.h"
#include "err.h"
#include "pki.h"
#include "store.h"

static const char help[] =
    "Usage: yonder store sign [--key-file FILE] PATH...\n"
    "Sign each valid store PATH with the Ed25519 secret key in FILE and record\n"
    "the signature with the path (`yonder store query --sigs` shows it).  The\n"
    "signature is Nix's: over \"1;<path>;sha256:<nix32 NAR hash>;<NAR size>;\n"
    "<sorted references joined by ,>\", written NAME:base64, the same bytes\n"
    "`nix store sign` gives.  Signing a path again with the same key changes\n"
    "nothing.\n\n"
    "  --key-file FILE  the secret key (default $YONDER_CONFIG_DIR/signing-key.sec,\n"
    "                   made by `yonder archive --generate-key`); it must not be\n"
    "                   accessible by group or others\n\n"
    "Example: yonder store sign /yonder/store/…-hello-2.12\n";

/* Signs PATH with K and records the signature. */
static int sign_one(struct store *store, const struct pki_secret *k, const char *path)
{
	struct path_info pi = PATH_INFO_INIT;
	struct buf fp = BUF_INIT(PKI_FINGERPRINT_MAX);
	char *sig = NULL;
	int r;

	if ((r = store_check_path(store, path)) != 0 ||
	    (r = db_query_info(store_db(store), path, &pi)) != 0)
		goto out;
	if ((r = pki_fingerprint(&fp, pi.path, pi.nar_hash, pi.nar_size,
				 (const char *const *)pi.refs.v, pi.refs.n)) != 0 ||
	    (r = pki_sign(k, fp.data, fp.len, &sig)) != 0)
		goto out;
	if (!db_list_contains(&pi.sigs, sig))
		r = db_add_signatures(store_db(store), path, (const char *const *)&sig, 1);
out:
	free(sig);
	buf_release(&fp);
	path_info_release(&pi);
	return r;
}

int cmd_store_sign(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"key-file", required_argument, NULL, 'k'},
	    {NULL, 0, NULL, 0},
	};
	struct pki_secret key;
	struct store *store = NULL;
	const char *keyfile = NULL, *dir;
	char *deflt = NULL;
	int c, status = EXIT_OK;

	if (cli_help(argc, argv, help))
		return EXIT_OK;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'k': keyfile = optarg; break;
		case ':': return cli_usage(argv[0], "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage(argv[0], "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage(argv[0], "no PATH given");
	memset(&key, 0, sizeof(key));
	if (!keyfile) {
		size_t n;

		if (pki_config_dir(&dir) != 0)
			return cli_fail(argv[0], NULL);
		n = strlen(dir) + sizeof("/" PKI_SECRET_FILE);
		if (!(deflt = malloc(n)))
			return cli_fail(argv[0], "out of memory");
		snprintf(deflt, n, "%s/%s", dir, PKI_SECRET_FILE);
		keyfile = deflt;
	}
	if (pki_secret_load(&key, keyfile) != 0 || store_open(&store) != 0) {
		status = cli_fail(argv[0], NULL);
		goto out;
	}
	for (int i = optind; i < argc; i++)
		if (sign_one(store, &key, argv[i]) != 0)
			status = cli_fail(argv[0], NULL);
out:
	pki_secret_release(&key);
	store_free(store);
	free(deflt);
	return status;
}
