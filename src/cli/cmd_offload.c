/* yonder offload test: check each build machine, one line per check.
 * yonder offload status: the build machines as the daemon sees them.
 * yonder offload build: carry one build to one machine (a debugging aid,
 * and the tests' entry point until the daemon's scheduler offloads). */
#include <getopt.h>
#include <stdarg.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/acl.h"
#include "../lib/client.h"
#include "../lib/daemon.h"
#include "../lib/offloader.h"
#include "../lib/sched_pick.h"
#include "../lib/db.h"
#include "../lib/err.h"
#include "../lib/machines.h"
#include "../lib/offload.h"
#include "../lib/pki.h"
#include "../lib/proto.h"
#include "../lib/recipe.h"
#include "../lib/remote.h"
#include "../lib/store.h"
#include "cli.h"

static const char test_help[] =
    "Usage: yonder offload test [FILE [REGEXP]]\n"
    "Check each build machine of FILE (default $YONDER_CONFIG_DIR/machines.scm)\n"
    "whose name matches REGEXP (extended, anywhere in the name), one line per\n"
    "check: it connects and its host key matches; its yonder version and store\n"
    "directory; its systems and features; a small item signed here uploaded\n"
    "and valid there (its ACL trusts us); a small item built there and imported\n"
    "here (our ACL trusts it).  Exit status 1 if any check fails.\n";

static const char build_help[] =
    "Usage: yonder offload build --machine NAME [OPTION]... DRV...\n"
    "A debugging aid: build each DRV (a valid .drv store path) on the machine\n"
    "NAME of the machines file, one after the other on one SSH session, as the\n"
    "daemon offloads one build: missing inputs uploaded, the log streamed back,\n"
    "the outputs downloaded, signed by the machine.  Its inputs must be valid\n"
    "here.  Prints each DRV once its outputs are valid here.\n"
    "  --machines FILE         the machines file (default $YONDER_CONFIG_DIR/machines.scm)\n"
    "  --timeout S, --max-silent-time S, --cores N   as for yonder build\n"
    "  --timing                print the time of each phase on standard error\n"
    "Exit status: 0 built; 100 the builder failed there (101: timed out);\n"
    "1 another (transient) failure: connection, authentication, refusal.\n";

struct env {
	struct store *s;
	struct pki_secret key;
	struct acl acl;
	char aclfile[PATH_MAX];
	struct machines *ms;
};

static int env_open(struct env *e, const char *cmd, const char *file)
{
	const char *dir;
	char path[PATH_MAX], keyfile[PATH_MAX];

	memset(e, 0, sizeof(*e));
	acl_init(&e->acl);
	if (pki_config_dir(&dir) != 0)
		return cli_fail(cmd, NULL);
	snprintf(path, sizeof(path), "%s/machines.scm", dir);
	snprintf(keyfile, sizeof(keyfile), "%s/%s", dir, PKI_SECRET_FILE);
	snprintf(e->aclfile, sizeof(e->aclfile), "%s/%s", dir, ACL_FILE);
	if (machines_load(file ? file : path, &e->ms) != 0)
		return cli_fail(cmd, NULL);
	for (size_t i = 0; i < e->ms->nwarnings; i++)
		fprintf(stderr, "yonder %s: warning: %s\n", cmd, e->ms->warnings[i]);
	if (pki_secret_load(&e->key, keyfile) != 0 || acl_load(&e->acl, e->aclfile) != 0 ||
	    store_open(&e->s) != 0)
		return cli_fail(cmd, NULL);
	return 0;
}

static void env_close(struct env *e)
{
	store_free(e->s);
	pki_secret_release(&e->key);
	acl_release(&e->acl);
	machines_free(e->ms);
}

static void offload_opts_init(struct offload_opts *o, struct env *e, const struct machine *m)
{
	memset(o, 0, sizeof(*o));
	o->compression = m->compression;
	o->key = &e->key;
	o->acl = &e->acl;
	o->acl_file = e->aclfile;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool check(const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool check(const char *name, bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s: %s: ", name, ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	return ok;
}

static char *join(char *const *v, size_t n, char *out, size_t size)
{
	size_t at = 0;

	out[0] = 0;
	for (size_t i = 0; i < n && at < size; i++)
		at += (size_t)snprintf(out + at, size - at, "%s%s", i ? " " : "", v[i]);
	if (n == 0)
		snprintf(out, size, "none");
	return out;
}

static bool has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

/* The checks of one machine; returns the number that failed. */
static int test_machine(struct env *e, const struct machine *m)
{
	struct remote *r = NULL;
	struct remote_chan *c = NULL;
	struct offload_opts oo;
	struct offload_result res;
	const struct proto_welcome *w;
	const char *n = m->name, *sys = NULL;
	char a[1024], b[1024], text[256], *item = NULL;
	int fails = 0;

	offload_opts_init(&oo, e, m);
	if (remote_connect(&r, m, NULL) != 0) {
		check(n, false, "%s", err_msg());
		printf("%s: skipped: the other checks\n", n);
		return 1;
	}
	check(n, true, "connected to %s, host key %s matches", remote_name(r), remote_host_key(r));
	if (remote_open(r, store_dir(e->s), &c) != 0) {
		check(n, false, "%s", err_msg());
		printf("%s: skipped: the other checks\n", n);
		remote_free(r);
		return 1;
	}
	w = remote_welcome(c);
	check(n, true, "%s (protocol %llu) on %s, store %s, %llu cores, load %.2f, %llu MiB free",
	      w->name, (unsigned long long)w->version, w->host, w->store_dir,
	      (unsigned long long)w->cores, (double)w->load_milli / 1000.0,
	      (unsigned long long)(w->free_bytes >> 20));
	for (size_t i = 0; i < m->nsystems && !sys; i++)
		if (has(w->systems, w->nsystems, m->systems[i]))
			sys = m->systems[i];
	{
		bool feats = true;

		for (size_t i = 0; i < m->nfeatures; i++)
			feats = feats && has(w->features, w->nfeatures, m->features[i]);
		(void)feats; /* features are declarations; the machine may not know them */
		fails +=
		    !check(n, sys != NULL, "declared systems %s, features %s; it builds for %s",
			   join(m->systems, m->nsystems, a, sizeof(a)),
			   join(m->features, m->nfeatures, b, sizeof(b)),
			   join(w->systems, w->nsystems, text, sizeof(text)));
	}
	/* A small item made here, uploaded, valid there. */
	{
		struct db_list missing = DB_LIST_INIT;
		struct timespec ts;
		int rc;

		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(text, sizeof(text), "yonder offload test of %s at %lld.%09ld by %ld\n", n,
			 (long long)ts.tv_sec, ts.tv_nsec, (long)getpid());
		rc =
		    store_add_text(e->s, "yonder-offload-test", text, strlen(text), NULL, 0, &item);
		if (rc == 0)
			rc = offload_copy_to(c, e->s, (const char *const *)&item, 1, &oo, &res);
		if (rc == 0)
			rc = offload_query_valid(c, (const char *const *)&item, 1, &missing);
		if (rc == 0 && missing.n)
			rc = err_set(ERR_NOTFOUND, "%s is not valid there after the upload", item);
		fails += !check(n, rc == 0,
				rc == 0 ? "%s uploaded, signed by %s, valid there"
					: "uploading a signed item: %s",
				rc == 0 ? item : err_msg(), e->key.name);
		db_list_release(&missing);
		free(item);
	}
	remote_chan_free(c);
	/* A small item built there and imported here. */
	{
		struct recipe_result rr = RECIPE_RESULT_INIT;
		struct timespec ts;
		char recipe[1024];
		int rc;

		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(recipe, sizeof(recipe),
			 "(derivation (name \"yonder-offload-test\") (system \"%s\")\n"
			 "  (builder \"/bin/sh\") (args \"-c\" \"echo %lld.%09ld > $out\"))\n",
			 sys ? sys : (w->nsystems ? "x86_64-linux" : "x86_64-linux"),
			 (long long)ts.tv_sec, ts.tv_nsec);
		rc = recipe_eval_mem(&rr, store_dir(e->s), "offload-test.scm", recipe,
				     strlen(recipe), NULL);
		if (rc == 0)
			rc = recipe_write(e->s, &rr);
		if (rc == 0)
			rc = offload_build(r, e->s, rr.drvs[0], &oo, &res);
		if (rc == OFFLOAD_PERMANENT)
			rc = ERR_INVALID;
		fails += !check(n, rc == 0,
				rc == 0 ? "%s built there and imported here (our ACL trusts it)"
					: "an item built there and imported here: %s",
				rc == 0 ? rr.drvs[0] : err_msg());
		recipe_result_release(&rr);
	}
	remote_free(r);
	return fails;
}

int cmd_offload_test(int argc, char **argv)
{
	struct env e;
	regex_t re;
	bool have_re = false;
	int fails = 0, tested = 0;

	if (cli_help(argc, argv, test_help))
		return EXIT_OK;
	if (argc > 3)
		return cli_usage(argv[0], "too many arguments");
	if (argc == 3) {
		if (regcomp(&re, argv[2], REG_EXTENDED | REG_NOSUB) != 0)
			return cli_usage(argv[0], "bad regular expression '%s'", argv[2]);
		have_re = true;
	}
	if (env_open(&e, argv[0], argc >= 2 ? argv[1] : NULL) != 0) {
		env_close(&e);
		if (have_re)
			regfree(&re);
		return EXIT_FAIL;
	}
	for (size_t i = 0; i < e.ms->n; i++) {
		if (have_re && regexec(&re, e.ms->v[i].name, 0, NULL, 0) != 0)
			continue;
		tested++;
		fails += test_machine(&e, &e.ms->v[i]);
	}
	if (tested == 0)
		fprintf(stderr, "yonder %s: no machine to test\n", argv[0]);
	env_close(&e);
	if (have_re)
		regfree(&re);
	return fails || !tested ? EXIT_FAIL : EXIT_OK;
}

static void print_log(void *ctx, const void *p, size_t n)
{
	const char *host = ctx, *q = p;
	static bool bol = true;

	for (size_t i = 0; i < n; i++) {
		if (bol)
			fprintf(stderr, "%s> ", host);
		fputc(q[i], stderr);
		bol = q[i] == '\n';
	}
}

int cmd_offload_build(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"machine", required_argument, NULL, 'm'},
	    {"machines", required_argument, NULL, 'f'},
	    {"timeout", required_argument, NULL, 't'},
	    {"max-silent-time", required_argument, NULL, 's'},
	    {"cores", required_argument, NULL, 'c'},
	    {"timing", no_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *name = NULL, *file = NULL;
	unsigned timeout = 0, silent = 0, cores = 0;
	bool timing = false;
	struct env e;
	const struct machine *m = NULL;
	struct remote *r = NULL;
	int opt, rc = EXIT_OK;
	int64_t t0;

	if (cli_help(argc, argv, build_help))
		return EXIT_OK;
	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		char *end;
		unsigned long v = 0;

		if (opt == 't' || opt == 's' || opt == 'c') {
			v = strtoul(optarg, &end, 10);
			if (!*optarg || *end || v > UINT_MAX)
				return cli_usage(argv[0], "expected a number, got '%s'", optarg);
		}
		switch (opt) {
		case 'm': name = optarg; break;
		case 'f': file = optarg; break;
		case 't': timeout = (unsigned)v; break;
		case 's': silent = (unsigned)v; break;
		case 'c': cores = (unsigned)v; break;
		case 'T': timing = true; break;
		default: return cli_usage(argv[0], "unknown option");
		}
	}
	if (!name || optind >= argc)
		return cli_usage(argv[0], "expected --machine NAME and a .drv");
	if (env_open(&e, argv[0], file) != 0) {
		env_close(&e);
		return EXIT_FAIL;
	}
	for (size_t i = 0; i < e.ms->n && !m; i++)
		if (!strcmp(e.ms->v[i].name, name))
			m = &e.ms->v[i];
	if (!m) {
		env_close(&e);
		return cli_fail(argv[0], "no machine '%s' in the machines file", name);
	}
	t0 = now_ms();
	if (remote_connect(&r, m, NULL) != 0) {
		env_close(&e);
		return cli_fail(argv[0], NULL);
	}
	if (timing)
		fprintf(stderr, "timing: connect %lld ms\n", (long long)(now_ms() - t0));
	for (int i = optind; i < argc && rc == EXIT_OK; i++) {
		struct offload_opts oo;
		struct offload_result res;
		int x;

		offload_opts_init(&oo, &e, m);
		oo.timeout = timeout;
		oo.max_silent = silent;
		oo.cores = cores;
		oo.log = print_log;
		oo.ctx = (void *)m->name;
		t0 = now_ms();
		x = offload_build(r, e.s, argv[i], &oo, &res);
		if (timing)
			fprintf(stderr,
				"timing: %s: total %lld ms (channel+handshake %lld, query %lld, "
				"upload %lld: %zu paths %llu bytes, build %lld, download %lld: %zu "
				"paths %llu bytes)\n",
				argv[i], (long long)(now_ms() - t0), (long long)res.open_ms,
				(long long)res.query_ms, (long long)res.upload_ms, res.uploaded,
				(unsigned long long)res.up_bytes, (long long)res.build_ms,
				(long long)res.download_ms, res.downloaded,
				(unsigned long long)res.down_bytes);
		if (x == OFFLOAD_PERMANENT) {
			cli_fail(argv[0], NULL);
			rc = res.timed_out ? 101 : 100;
		} else if (x != 0) {
			rc = cli_fail(argv[0], NULL);
		} else {
			printf("%s\n", argv[i]);
		}
	}
	remote_free(r);
	env_close(&e);
	return rc;
}

static const char status_help[] =
    "Usage: yonder offload status [--json]\n"
    "The build machines as the daemon's scheduler sees them: per machine its\n"
    "systems, features, speed, slots used/total, load, free store space,\n"
    "health (up, or down until when and why), builds done, bytes sent and\n"
    "received and the mean upload rate.  Without a daemon running: the\n"
    "machines file's view, saying \"daemon not running\".\n"
    "  --json   one JSON object instead of text\n";

int cmd_offload_status(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"json", no_argument, NULL, 'J'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool json = false, explicit_;
	char *sock = NULL, *text = NULL;
	struct client_conn *c = NULL;
	int opt, r;

	if (cli_help(argc, argv, status_help))
		return EXIT_OK;
	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (opt != 'J')
			return cli_usage(argv[0], "unknown option");
		json = true;
	}
	if (optind < argc)
		return cli_usage(argv[0], "unexpected argument '%s'", argv[optind]);
	if (daemon_socket_path(&sock, &explicit_) != 0)
		return cli_fail(argv[0], NULL);
	r = client_connect(&c, sock);
	free(sock);
	if (r == 0) {
		r = client_status(c, json, &text);
		client_free(c);
		if (r != 0)
			return cli_fail(argv[0], NULL);
		fputs(text, stdout);
		free(text);
		return EXIT_OK;
	}
	if (r != ERR_NOTFOUND)
		return cli_fail(argv[0], NULL);
	{
		/* No daemon: what the machines file says. */
		const char *dir;
		char path[PATH_MAX];
		struct machines *ms = NULL;
		struct sched_pool *p = NULL;
		struct buf b = BUF_INIT(64u << 20);

		if (pki_config_dir(&dir) != 0)
			return cli_fail(argv[0], NULL);
		snprintf(path, sizeof(path), "%s/machines.scm", dir);
		if ((r = machines_load(path, &ms)) != 0 && r != ERR_NOTFOUND)
			return cli_fail(argv[0], NULL);
		if ((r = sched_pool_new(&p, NULL)) == 0 && (r = sched_pool_load(p, ms)) == 0 &&
		    (r = offloader_pool_status(p, 0, json, false, &b)) == 0)
			fwrite(b.data, 1, b.len, stdout);
		buf_release(&b);
		sched_pool_free(p);
		machines_free(ms);
		return r ? cli_fail(argv[0], NULL) : EXIT_OK;
	}
}
