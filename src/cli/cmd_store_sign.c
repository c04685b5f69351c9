/* yonder store sign — sign valid store paths with a secret key. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "client.h"
#include "db.h"
#include "err.h"
#include "pki.h"
#include "store.h"
#include "storepath.h"

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

/* PATH's record, from the daemon (CONN) or the database. */
static int query(struct store *store, struct client_conn *conn, const char *path,
		 struct path_info *pi)
{
	struct path_info *v = NULL;
	int r;

	if (!conn)
		return db_query_info(store_db(store), path, pi);
	if ((r = client_query(conn, &path, 1, &v)) != 0)
		return r;
	if (v[0].path) {
		*pi = v[0];
		v[0] = (struct path_info)PATH_INFO_INIT;
	} else {
		r = err_set(ERR_NOTFOUND, "'%s' is not a valid store path", path);
	}
	proto_query_ok_free(v, 1);
	return r;
}

/* Signs PATH with K and records the signature: here, or through the
 * daemon (CONN), which checks it before recording it. */
static int sign_one(struct store *store, struct client_conn *conn, const struct pki_secret *k,
		    const char *path)
{
	struct path_info pi = PATH_INFO_INIT;
	struct buf fp = BUF_INIT(PKI_FINGERPRINT_MAX);
	char *sig = NULL;
	int r;

	if ((r = storepath_check(conn ? client_store_dir(conn) : store_dir(store), path)) != 0 ||
	    (r = query(store, conn, path, &pi)) != 0)
		goto out;
	if ((r = pki_fingerprint(&fp, pi.path, pi.nar_hash, pi.nar_size,
				 (const char *const *)pi.refs.v, pi.refs.n)) != 0 ||
	    (r = pki_sign(k, fp.data, fp.len, &sig)) != 0)
		goto out;
	if (db_list_contains(&pi.sigs, sig)) {
		/* signed already */
	} else if (conn) {
		struct pki_public pub;
		char key[PKI_STR_MAX + 1];
		char *keys[] = {key};
		struct proto_add_sigs q = {(char *)path, &sig, 1, keys, 1};

		pki_secret_public(k, &pub);
		pki_public_format(&pub, key);
		r = client_add_sigs(conn, &q);
	} else {
		r = db_add_signatures(store_db(store), path, (const char *const *)&sig, 1);
	}
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
	struct client_conn *conn = NULL;
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
	if (pki_secret_load(&key, keyfile) != 0 || client_connect_auto(&conn) != 0 ||
	    (!conn && store_open(&store) != 0)) {
		status = cli_fail(argv[0], NULL);
		goto out;
	}
	for (int i = optind; i < argc; i++)
		if (sign_one(store, conn, &key, argv[i]) != 0)
			status = cli_fail(argv[0], NULL);
out:
	pki_secret_release(&key);
	client_free(conn);
	store_free(store);
	free(deflt);
	return status;
}
