/* yonder store verify — check store paths against the database. */
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "acl.h"
#include "buf.h"
#include "cli.h"
#include "db.h"
#include "err.h"
#include "pki.h"
#include "store.h"

static const char help[] =
    "Usage: yonder store verify [--check-contents] [--sigs] [PATH...]\n"
    "Check each valid store PATH (every valid path when none is given): report,\n"
    "one line each on standard error, the paths whose files are missing and,\n"
    "with --check-contents, those whose NAR hash or size no longer matches the\n"
    "database (expected and got).  Exit 1 if any is reported.\n\n"
    "  --check-contents  hash every file (reads the whole store)\n"
    "  --sigs            also report on standard output, per PATH, whether it is\n"
    "                    trusted (a valid signature by a key in the ACL) and, one\n"
    "                    indented line each, what each of its signatures is:\n"
    "                    valid (by a key in the ACL, or by this machine's key),\n"
    "                    invalid, by an unknown key, or malformed; exit 1 if a\n"
    "                    PATH is not trusted\n\n"
    "Example: yonder store verify --check-contents\n"
    "         yonder store verify --sigs /yonder/store/…-hello-2.12\n";

/* The keys --sigs checks signatures with. */
struct keys {
	struct acl acl;
	struct pki_public own; /* this machine's public key */
	bool have_own;
};

static int keys_load(struct keys *k)
{
	const char *dir;
	char file[PATH_MAX];
	int r;

	if ((r = pki_config_dir(&dir)) != 0)
		return r;
	snprintf(file, sizeof(file), "%s/%s", dir, ACL_FILE);
	if ((r = acl_load(&k->acl, file)) != 0)
		return r;
	snprintf(file, sizeof(file), "%s/%s", dir, PKI_PUBLIC_FILE);
	r = pki_public_load(&k->own, file);
	k->have_own = r == 0;
	return r == ERR_NOTFOUND ? 0 : r;
}

/* Prints what the signatures of PATH are; 1 when one is valid by a key
 * of the ACL, 0 when none is, or an error code. */
static int report_sigs(struct store *store, const struct keys *k, const char *path)
{
	struct path_info pi = PATH_INFO_INIT;
	struct buf fp = BUF_INIT(PKI_FINGERPRINT_MAX), out = BUF_INIT(1 << 20);
	const char *trusted_by = NULL;
	int r;

	if ((r = store_check_path(store, path)) != 0 ||
	    (r = db_query_info(store_db(store), path, &pi)) != 0 ||
	    (r = pki_fingerprint(&fp, pi.path, pi.nar_hash, pi.nar_size,
				 (const char *const *)pi.refs.v, pi.refs.n)) != 0)
		goto out;
	for (size_t i = 0; i < pi.sigs.n && r == 0; i++) {
		const char *sig = pi.sigs.v[i], *what;
		char name[PKI_NAME_MAX + 1];
		uint8_t bytes[PKI_SIG_LEN];
		int c;

		if (pki_sig_parse(sig, name, bytes) != 0) {
			r = buf_printf(&out, "  malformed signature: %s\n", err_msg());
			continue;
		}
		c = acl_check_sig(&k->acl, fp.data, fp.len, sig);
		if (c == 0) {
			what = "valid, by a key in the ACL";
			if (!trusted_by)
				trusted_by = sig;
		} else if (c == ERR_MISMATCH) {
			what = "invalid: does not verify with the ACL's key of that name";
		} else if (k->have_own && !strcmp(k->own.name, name)) {
			what =
			    pki_verify(&k->own, fp.data, fp.len, sig) == 0
				? "valid, by this machine's key (not in the ACL)"
				: "invalid: does not verify with this machine's key of that name";
		} else {
			what = "by an unknown key (neither in the ACL nor this machine's)";
		}
		r = buf_printf(&out, "  %s: %s\n", name, what);
	}
	if (r == 0 && pi.sigs.n == 0)
		r = buf_puts(&out, "  (no signature)\n");
	if (r != 0)
		goto out;
	if (trusted_by)
		printf("%s: trusted (a valid signature by key '%.*s', which is in the ACL)\n", path,
		       (int)strcspn(trusted_by, ":"), trusted_by);
	else
		printf("%s: NOT trusted: no valid signature by a key in the ACL\n", path);
	fputs(out.data, stdout);
	r = trusted_by ? 1 : 0;
out:
	buf_release(&out);
	buf_release(&fp);
	path_info_release(&pi);
	return r;
}

int cmd_store_verify(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"check-contents", no_argument, NULL, 'c'},
	    {"sigs", no_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	struct db_list paths = DB_LIST_INIT;
	struct store *store = NULL;
	struct keys keys = {ACL_INIT, {{0}, {0}}, false};
	bool contents = false, sigs = false;
	int c, r = 0, status = EXIT_OK;

	if (cli_help(argc, argv, help))
		return EXIT_OK;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'c')
			contents = true;
		else if (c == 's')
			sigs = true;
		else
			return cli_usage(argv[0], "unknown option '%s'", argv[optind - 1]);
	}
	if (sigs && keys_load(&keys) != 0) {
		status = cli_fail(argv[0], NULL);
		goto out;
	}
	if (store_open(&store) != 0) {
		status = cli_fail(argv[0], NULL);
		goto out;
	}
	if (optind == argc)
		r = db_list_valid(store_db(store), &paths);
	for (int i = optind; i < argc && r == 0; i++)
		r = db_list_push(&paths, argv[i]);
	if (r != 0)
		status = cli_fail(argv[0], NULL);
	for (size_t i = 0; r == 0 && i < paths.n; i++) {
		int t;

		if (store_verify(store, paths.v[i], contents) != 0) {
			status = cli_fail(argv[0], NULL);
			continue;
		}
		if (!sigs)
			continue;
		if ((t = report_sigs(store, &keys, paths.v[i])) < 0)
			status = cli_fail(argv[0], NULL);
		else if (t == 0)
			status = EXIT_FAIL;
	}
	if (fflush(stdout) != 0)
		status = cli_fail(argv[0], "cannot write standard output");
out:
	acl_release(&keys.acl);
	db_list_release(&paths);
	store_free(store);
	return status;
}
