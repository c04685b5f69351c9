/* yonder store query — facts about valid store paths. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "err.h"
#include "store.h"

static const char help[] =
    "Usage: yonder store query QUERY PATH...\n"
    "Print what the database knows about each store PATH.  QUERY is one of:\n\n"
    "  --references  the paths the PATHs refer to (sorted, each once)\n"
    "  --referrers   the valid paths that refer to the PATHs (sorted, each once)\n"
    "  --requisites  the closure of the PATHs: everything they need, directly or\n"
    "                not, themselves included, references before referrers\n"
    "  --hash        the SHA-256 of each PATH's NAR, as sha256:<nix32>\n"
    "  --size        the size of each PATH's NAR, in bytes\n"
    "  --deriver     the derivation that produced each PATH, or unknown-deriver\n"
    "  --sigs        each PATH's signatures, space-separated, one line per PATH\n"
    "  --built-by    the machine that built each PATH (an empty line if unknown)\n"
    "  --valid       print nothing; exit 1 naming the first PATH that is not valid\n\n"
    "A PATH must be a store path itself (<store>/<hash>-<name>); one that is\n"
    "not in the store, or not valid, is an error naming it.\n\n"
    "Example: yonder store query --requisites /yonder/store/…-hello-2.12\n";

enum query {
	Q_NONE,
	Q_REFS,
	Q_REFERRERS,
	Q_REQUISITES,
	Q_HASH,
	Q_SIZE,
	Q_DERIVER,
	Q_SIGS,
	Q_BUILT_BY,
	Q_VALID
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Prints L sorted, each string once. */
static void print_set(struct db_list *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_str);
	for (size_t i = 0; i < l->n; i++)
		if (i == 0 || strcmp(l->v[i], l->v[i - 1]) != 0)
			puts(l->v[i]);
}

static int query_one(struct db *db, enum query q, const char *path, struct db_list *acc)
{
	struct path_info pi = PATH_INFO_INIT;
	char h[SHA256_NIX32_LEN + 1];
	int r;

	if (q == Q_REFERRERS)
		return db_query_referrers(db, path, acc);
	if ((r = db_query_info(db, path, &pi)) != 0)
		goto out;
	switch (q) {
	case Q_REFS:
		for (size_t i = 0; i < pi.refs.n && r == 0; i++)
			r = db_list_push(acc, pi.refs.v[i]);
		break;
	case Q_HASH:
		hash_to_nix32(pi.nar_hash, SHA256_LEN, h);
		printf("sha256:%s\n", h);
		break;
	case Q_SIZE: printf("%" PRIu64 "\n", pi.nar_size); break;
	case Q_DERIVER: puts(pi.deriver ? pi.deriver : "unknown-deriver"); break;
	case Q_SIGS:
		for (size_t i = 0; i < pi.sigs.n; i++)
			printf("%s%s", i ? " " : "", pi.sigs.v[i]);
		putchar('\n');
		break;
	case Q_BUILT_BY: puts(pi.built_by ? pi.built_by : ""); break;
	default: break;
	}
out:
	path_info_release(&pi);
	return r;
}

int cmd_store_query(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"references", no_argument, NULL, Q_REFS},
	    {"referrers", no_argument, NULL, Q_REFERRERS},
	    {"requisites", no_argument, NULL, Q_REQUISITES},
	    {"hash", no_argument, NULL, Q_HASH},
	    {"size", no_argument, NULL, Q_SIZE},
	    {"deriver", no_argument, NULL, Q_DERIVER},
	    {"sigs", no_argument, NULL, Q_SIGS},
	    {"built-by", no_argument, NULL, Q_BUILT_BY},
	    {"valid", no_argument, NULL, Q_VALID},
	    {NULL, 0, NULL, 0},
	};
	enum query q = Q_NONE;
	struct store *store = NULL;
	struct db_list acc = DB_LIST_INIT;
	int c, r = 0, status = EXIT_OK;

	if (cli_help(argc, argv, help))
		return EXIT_OK;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return cli_usage(argv[0], "unknown option '%s'", argv[optind - 1]);
		if (q != Q_NONE && q != (enum query)c)
			return cli_usage(argv[0], "give exactly one query");
		q = (enum query)c;
	}
	if (q == Q_NONE)
		return cli_usage(argv[0], "no query given (--references, --hash, …)");
	if (optind >= argc)
		return cli_usage(argv[0], "no PATH given");
	if (store_open(&store) != 0)
		return cli_fail(argv[0], NULL);
	for (int i = optind; i < argc && r == 0; i++) {
		if ((r = store_check_path(store, argv[i])) != 0)
			break;
		if (q == Q_VALID) {
			if ((r = db_is_valid(store_db(store), argv[i])) == 0)
				r = err_set(ERR_NOTFOUND, "'%s' is not a valid store path",
					    argv[i]);
			else if (r > 0)
				r = 0;
		} else if (q != Q_REQUISITES) {
			r = query_one(store_db(store), q, argv[i], &acc);
		}
	}
	if (r == 0 && q == Q_REQUISITES) {
		r = db_query_closure(store_db(store), (const char *const *)argv + optind,
				     (size_t)(argc - optind), &acc);
		for (size_t i = 0; r == 0 && i < acc.n; i++)
			puts(acc.v[i]);
	} else if (r == 0 && (q == Q_REFS || q == Q_REFERRERS)) {
		print_set(&acc);
	}
	if (r != 0)
		status = cli_fail(argv[0], NULL);
	db_list_release(&acc);
	store_free(store);
	return status;
}
