/* yonder build — make derivations' outputs valid by building them here. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "db.h"
#include "drv.h"
#include "engine.h"
#include "err.h"
#include "recipe.h"
#include "store.h"
#include "storepath.h"

enum { EXIT_BUILD_FAILED = 100, EXIT_TIMED_OUT = 101 };

static const char help[] =
    "Usage: yonder build [OPTION]... FILE.scm|DRV...\n"
    "Build the outputs of each derivation that are not valid yet, and\n"
    "everything they need, then print the output paths (one per line).\n"
    "A FILE.scm is a recipe: its derivations are written to the store first\n"
    "(as `yonder derivation` does).  A DRV is a .drv store path, or a .drv\n"
    "file outside the store, which is added first (as `yonder drv add`\n"
    "does; its input derivations must be in the store or among the DRVs).\n"
    "Builds run here, without a sandbox, each in a private build directory\n"
    "under $YONDER_STATE_DIR/builds; their output is shown and kept in\n"
    "$YONDER_STATE_DIR/log (see `yonder log`).  Another yonder building the\n"
    "same outputs is waited for, not repeated.\n\n"
    "  -j, --max-jobs N         run up to N builds at once (default 1)\n"
    "  -k, --keep-going         after a failure, go on with every build that\n"
    "                           does not depend on it\n"
    "      --timeout S          kill a build that runs longer than S seconds\n"
    "      --max-silent-time S  kill a build silent for S seconds\n"
    "  -K, --keep-failed        keep the build directory of a failed build\n"
    "      --cores N            NIX_BUILD_CORES for builders (default: CPUs)\n"
    "  -Q, --no-build-output    do not show the builders' output\n\n"
    "Exit status: 0 built (or already valid), 100 a build failed, 101 a\n"
    "build timed out, 1 another error (nothing to build from, a missing\n"
    "input, …).\n\n"
    "Environment: YONDER_STORE_DIR (default /yonder/store), YONDER_STATE_DIR\n"
    "(default /var/yonder).\n\n"
    "Example: yonder build -j 4 examples/hello.scm\n";

/* ---- interrupts: a self-pipe the engine polls ------------------------ */

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int e = errno;
	char c = (char)sig;

	if (write(sig_pipe[1], &c, 1) < 0) {
		/* Full: an interrupt is already pending. */
	}
	errno = e;
}

static int catch_signals(void)
{
	struct sigaction sa;

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return 0;
}

/* ---- the builders' output on standard error, whole lines ------------- */

struct line {
	char *drv; /* NULL: free slot */
	struct buf b;
};

struct show {
	bool quiet;
	struct line *lines;
	size_t n;
};

static struct line *line_of(struct show *sh, const char *drv, bool create)
{
	struct line *free_slot = NULL;

	for (size_t i = 0; i < sh->n; i++) {
		if (sh->lines[i].drv && !strcmp(sh->lines[i].drv, drv))
			return &sh->lines[i];
		if (!sh->lines[i].drv && !free_slot)
			free_slot = &sh->lines[i];
	}
	if (!create)
		return NULL;
	if (!free_slot) {
		struct line *v = realloc(sh->lines, (sh->n + 1) * sizeof(*v));

		if (!v)
			return NULL;
		sh->lines = v;
		free_slot = &sh->lines[sh->n++];
		buf_init(&free_slot->b, 1 << 20);
		free_slot->drv = NULL;
	}
	if (!(free_slot->drv = strdup(drv)))
		return NULL;
	return free_slot;
}

static void line_flush(struct line *l, bool all)
{
	char *nl;
	size_t n;

	if (!l->b.len)
		return;
	nl = all ? l->b.data + l->b.len - 1 : memrchr(l->b.data, '\n', l->b.len);
	if (!nl)
		return;
	n = (size_t)(nl - l->b.data) + 1;
	fwrite(l->b.data, 1, n, stderr);
	if (all && l->b.data[n - 1] != '\n')
		fputc('\n', stderr);
	memmove(l->b.data, l->b.data + n, l->b.len - n);
	l->b.len -= n;
	l->b.data[l->b.len] = '\0';
	fflush(stderr);
}

static void on_log(void *ctx, const char *drv, const void *p, size_t n)
{
	struct show *sh = ctx;
	struct line *l;

	if (sh->quiet)
		return;
	if (!(l = line_of(sh, drv, true)) || buf_put(&l->b, p, n) != 0) {
		fwrite(p, 1, n, stderr); /* no memory or a huge line: as it comes */
		return;
	}
	line_flush(l, l->b.len > (1 << 19));
}

static void end_lines(struct show *sh, const char *drv)
{
	struct line *l = line_of(sh, drv, false);

	if (!l)
		return;
	line_flush(l, true);
	free(l->drv);
	l->drv = NULL;
	buf_reset(&l->b);
}

static void on_event(void *ctx, enum engine_event ev, const char *drv, const char *msg)
{
	struct show *sh = ctx;

	switch (ev) {
	case ENGINE_BUILDING: fprintf(stderr, "building '%s'...\n", drv); break;
	case ENGINE_WAITING: fprintf(stderr, "waiting for another build of '%s'...\n", drv); break;
	case ENGINE_BUILT:
	case ENGINE_VALID: end_lines(sh, drv); break;
	case ENGINE_FAILED:
		end_lines(sh, drv);
		fprintf(stderr, "error: %s\n", msg);
		break;
	case ENGINE_KEPT: fprintf(stderr, "note: keeping build directory '%s'\n", msg); break;
	case ENGINE_DEP_FAILED:
		fprintf(stderr, "error: cannot build '%s': one of its dependencies failed\n", drv);
		break;
	}
	fflush(stderr);
}

/* ---- what to build --------------------------------------------------- */

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);

	return n >= k && !strcmp(s + n - k, suf);
}

/* A .drv file outside the store: parsed, named, checked. */
struct pending {
	const char *file;
	struct drv d;
	bool added;
};

static int load_pending(struct store *s, struct pending *p)
{
	int r;

	if ((r = drv_parse_file(&p->d, p->file, store_dir(s))) != 0)
		return r;
	if (!p->d.name) {
		const char *base = strrchr(p->file, '/');
		char *name;

		base = base ? base + 1 : p->file;
		if (!(name = strndup(base, strlen(base) - (has_suffix(base, ".drv") ? 4 : 0))))
			return err_set(ERR_NOMEM, "out of memory");
		r = storepath_check_name(name, strlen(name));
		if (r == 0)
			r = drv_set_name(&p->d, name);
		free(name);
		if (r != 0)
			return err_prefix(r, "%s: no \"name\" variable, and its file name",
					  p->file);
	}
	return 0;
}

/* Adds P's derivation as `yonder drv add` does; *OUT gets its path. */
static int add_pending(struct store *s, struct drv_hasher *h, struct pending *p, char **out)
{
	struct buf b = BUF_INIT(2 * drv_default_limits.size_max), name = BUF_INIT(PATH_MAX);
	const char **refs = calloc(p->d.ninputs + p->d.nsrcs + 1, sizeof(*refs));
	size_t n = 0;
	int r;

	if (!refs)
		return err_set(ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < p->d.nsrcs; i++) {
		int v = db_is_valid(store_db(s), p->d.srcs[i]);

		if (v != 1) {
			free(refs);
			return v < 0 ? v
				     : err_set(ERR_NOTFOUND, "%s: its input '%s' is not valid",
					       p->file, p->d.srcs[i]);
		}
	}
	for (size_t i = 0; i < p->d.ninputs; i++)
		refs[n++] = p->d.inputs[i].path;
	for (size_t i = 0; i < p->d.nsrcs; i++)
		refs[n++] = p->d.srcs[i];
	if ((r = drv_check_outputs(h, &p->d)) == 0 && (r = drv_print(&p->d, &b)) == 0 &&
	    (r = buf_printf(&name, "%s.drv", p->d.name)) == 0)
		r = store_add_text(s, name.data, b.data, b.len, refs, n, out);
	if (r != 0)
		err_prefix(r, "%s", p->file);
	free(refs);
	buf_release(&b);
	buf_release(&name);
	return r;
}

/* Adds the .drv files of PENDING, each once its input derivations are
 * valid (so they may be given in any order), and puts their paths at
 * their slots of DRVS. */
static int add_pendings(struct store *s, struct pending *pend, size_t np, size_t *slot, char **drvs)
{
	struct drv_hasher *h = NULL;
	size_t left = np;
	int r;

	if ((r = drv_hasher_new(&h, store_dir(s), drv_load_file, (void *)store_dir(s))) != 0)
		return r;
	while (left) {
		size_t before = left;

		for (size_t i = 0; i < np; i++) {
			bool ready = true;

			if (pend[i].added)
				continue;
			for (size_t k = 0; k < pend[i].d.ninputs && ready; k++) {
				int v = db_is_valid(store_db(s), pend[i].d.inputs[k].path);

				if (v < 0) {
					r = v;
					goto out;
				}
				ready = v == 1;
			}
			if (!ready)
				continue;
			if ((r = add_pending(s, h, &pend[i], &drvs[slot[i]])) != 0)
				goto out;
			pend[i].added = true;
			left--;
		}
		if (left == before) {
			for (size_t i = 0; i < np; i++) {
				if (pend[i].added)
					continue;
				for (size_t k = 0; k < pend[i].d.ninputs; k++)
					if (db_is_valid(store_db(s), pend[i].d.inputs[k].path) !=
					    1) {
						r = err_set(
						    ERR_NOTFOUND,
						    "%s: its input derivation '%s' is not "
						    "in the store (add it first, or name its "
						    "file too)",
						    pend[i].file, pend[i].d.inputs[k].path);
						goto out;
					}
			}
			r = err_set(ERR_INTERNAL, "cannot order the .drv files given");
			goto out;
		}
	}
out:
	drv_hasher_free(h);
	return r;
}

static int parse_uint(const char *cmd, const char *opt, const char *arg, unsigned min,
		      unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v > UINT_MAX || v < min)
		return cli_usage(cmd, "%s: expected a number%s, got '%s'", opt,
				 min ? " of at least 1" : "", arg);
	*out = (unsigned)v;
	return 0;
}

static int print_outputs(struct store *s, const char *drv)
{
	struct drv d = DRV_INIT;
	int r, all = 1;

	if ((r = drv_parse_file(&d, drv, store_dir(s))) != 0)
		return r;
	for (size_t i = 0; i < d.noutputs && all == 1; i++)
		all = db_is_valid(store_db(s), d.outputs[i].path);
	for (size_t i = 0; i < d.noutputs && all == 1; i++)
		puts(d.outputs[i].path);
	drv_release(&d);
	return all < 0 ? all : 0;
}

int cmd_build(int argc, char **argv)
{
	enum { O_TIMEOUT = 256, O_SILENT, O_CORES };
	static const struct option opts[] = {
	    {"max-jobs", required_argument, NULL, 'j'},
	    {"keep-going", no_argument, NULL, 'k'},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {"max-silent-time", required_argument, NULL, O_SILENT},
	    {"keep-failed", no_argument, NULL, 'K'},
	    {"cores", required_argument, NULL, O_CORES},
	    {"no-build-output", no_argument, NULL, 'Q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct engine_opts eo = {.max_jobs = 1, .cancel_fd = -1};
	struct engine_result res;
	struct show sh = {0};
	struct store *s = NULL;
	struct pending *pend = NULL;
	size_t np = 0, *slot = NULL, ndrvs = 0, capdrvs;
	char **drvs = NULL;
	int c, status = EXIT_FAIL;

	if (cli_help(argc, argv, help))
		return EXIT_OK;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+j:kKQ", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			if (parse_uint(argv[0], "--max-jobs", optarg, 1, &eo.max_jobs) != 0)
				return EXIT_USAGE;
			break;
		case 'k': eo.keep_going = true; break;
		case 'K': eo.b.keep_failed = true; break;
		case 'Q': sh.quiet = true; break;
		case O_TIMEOUT:
			if (parse_uint(argv[0], "--timeout", optarg, 0, &eo.b.timeout) != 0)
				return EXIT_USAGE;
			break;
		case O_SILENT:
			if (parse_uint(argv[0], "--max-silent-time", optarg, 0, &eo.b.max_silent) !=
			    0)
				return EXIT_USAGE;
			break;
		case O_CORES:
			if (parse_uint(argv[0], "--cores", optarg, 0, &eo.b.cores) != 0)
				return EXIT_USAGE;
			break;
		case ':': return cli_usage(argv[0], "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage(argv[0], "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage(argv[0], "nothing to build: give FILE.scm or DRV arguments");
	if (store_open(&s) != 0)
		return cli_fail(argv[0], NULL);
	capdrvs = (size_t)(argc - optind);
	drvs = calloc(capdrvs, sizeof(*drvs));
	pend = calloc(capdrvs, sizeof(*pend));
	slot = calloc(capdrvs, sizeof(*slot));
	if (!drvs || !pend || !slot) {
		cli_fail(argv[0], "out of memory");
		goto out;
	}
	for (int i = optind; i < argc; i++) {
		const char *a = argv[i];

		if (has_suffix(a, ".scm")) {
			char **v = NULL, **grown;
			size_t n = 0;

			if (recipe_instantiate(s, a, &v, &n) != 0) {
				cli_fail(argv[0], NULL);
				goto out;
			}
			capdrvs += n;
			if (!(grown = realloc(drvs, capdrvs * sizeof(*drvs)))) {
				drv_strv_free(v, n);
				cli_fail(argv[0], "out of memory");
				goto out;
			}
			drvs = grown;
			memcpy(drvs + ndrvs, v, n * sizeof(*v));
			ndrvs += n;
			free(v);
		} else if (storepath_check(store_dir(s), a) == 0) {
			if (!has_suffix(a, ".drv")) {
				cli_usage(argv[0], "'%s' is not a derivation (.drv)", a);
				status = EXIT_USAGE;
				goto out;
			}
			if (!(drvs[ndrvs++] = strdup(a))) {
				cli_fail(argv[0], "out of memory");
				goto out;
			}
		} else if (has_suffix(a, ".drv")) {
			pend[np].file = a;
			if (load_pending(s, &pend[np]) != 0) {
				cli_fail(argv[0], NULL);
				goto out;
			}
			slot[np++] = ndrvs++;
		} else {
			cli_usage(argv[0],
				  "'%s' is neither a recipe (.scm) nor a derivation (.drv)", a);
			status = EXIT_USAGE;
			goto out;
		}
	}
	if (np && add_pendings(s, pend, np, slot, drvs) != 0) {
		cli_fail(argv[0], NULL);
		goto out;
	}
	if (catch_signals() == 0)
		eo.cancel_fd = sig_pipe[0];
	eo.ctx = &sh;
	eo.log = on_log;
	eo.event = on_event;
	if (engine_build(s, (const char *const *)drvs, ndrvs, &eo, &res) != 0) {
		cli_fail(argv[0], NULL);
		goto out;
	}
	for (size_t i = 0; i < ndrvs; i++) {
		bool dup = false;

		for (size_t k = 0; k < i && !dup; k++)
			dup = !strcmp(drvs[k], drvs[i]);
		if (!dup && print_outputs(s, drvs[i]) != 0) {
			cli_fail(argv[0], NULL);
			goto out;
		}
	}
	if (res.interrupted)
		status = cli_fail(argv[0], "interrupted by the user");
	else if (res.timed_out)
		status = EXIT_TIMED_OUT;
	else if (res.failed)
		status = EXIT_BUILD_FAILED;
	else if (res.not_started)
		status = EXIT_FAIL;
	else
		status = EXIT_OK;
	if (status != EXIT_OK && !res.interrupted) {
		size_t bad = res.failed + res.not_started;

		fprintf(stderr, "yonder build: %zu build%s failed", bad, bad == 1 ? "" : "s");
		if (res.dep_failed)
			fprintf(stderr, ", %zu could not run", res.dep_failed);
		if (res.cancelled)
			fprintf(stderr, ", %zu not started", res.cancelled);
		fputc('\n', stderr);
	}
out:
	for (size_t i = 0; i < sh.n; i++) {
		free(sh.lines[i].drv);
		buf_release(&sh.lines[i].b);
	}
	free(sh.lines);
	for (size_t i = 0; i < np; i++)
		drv_release(&pend[i].d);
	free(pend);
	free(slot);
	if (drvs)
		drv_strv_free(drvs, ndrvs);
	store_free(s);
	return status;
}
