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
#include "client.h"
#include "daemon.h"
#include "engine.h"
#include "err.h"
#include "ev.h"
#include "progress.h"
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
    "  -Q, --no-build-output    do not show the builders' output\n"
    "  -q, --quiet              show only errors\n"
    "  -v, --verbose            also show each build's end and a summary\n"
    "      --log-format=FMT     'json': one JSON object per event on standard\n"
    "                           error, for tools; 'plain' (the default)\n\n"
    "On a terminal a status line under the log shows what runs and what\n"
    "waits.  When a build daemon listens (its socket, or\n"
    "$YONDER_DAEMON_SOCKET, exists: see `yonder daemon`), the builds run in\n"
    "it; otherwise here.  The output and exit status are the same.\n\n"
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

/* ---- what is shown: progress.h, fed by the engine or the daemon ---- */

struct show {
	struct progress *p;
	/* Through the daemon: the derivations whose builder started (a
	 * failure of one that did not start is an error before the build,
	 * exit 1, as in-process). */
	char **started;
	size_t nstarted;
};

static void on_log(void *ctx, const char *drv, const void *p, size_t n)
{
	struct show *sh = ctx;

	progress_log(sh->p, drv, "localhost", p, n);
}

static void on_event(void *ctx, enum engine_event ev, const char *drv, const char *msg)
{
	struct show *sh = ctx;

	switch (ev) {
	case ENGINE_BUILDING: progress_started(sh->p, drv, "localhost"); break;
	case ENGINE_WAITING: progress_waiting(sh->p, drv); break;
	case ENGINE_BUILT:
		progress_finished(sh->p, drv, "localhost", ENGINE_ST_BUILT, UINT64_MAX, NULL);
		break;
	case ENGINE_VALID:
		progress_finished(sh->p, drv, "localhost", ENGINE_ST_VALID, UINT64_MAX, NULL);
		break;
	case ENGINE_FAILED:
		progress_finished(sh->p, drv, "localhost",
				  msg && strstr(msg, "timed out") ? ENGINE_ST_TIMED_OUT
								  : ENGINE_ST_FAILED,
				  UINT64_MAX, msg);
		break;
	case ENGINE_KEPT: progress_kept(sh->p, drv, msg); break;
	case ENGINE_DEP_FAILED:
		progress_finished(sh->p, drv, "localhost", ENGINE_ST_DEP_FAILED, UINT64_MAX, NULL);
		break;
	case ENGINE_CANCELLED:
		progress_finished(sh->p, drv, "localhost", ENGINE_ST_CANCELLED, UINT64_MAX, NULL);
		break;
	}
}

static void on_counts(void *ctx, size_t done, size_t total, size_t running, size_t waiting,
		      size_t failed)
{
	struct show *sh = ctx;

	progress_counts(sh->p, done, total, running, waiting, failed);
}

static void on_daemon_event(void *ctx, const struct proto_event *ev)
{
	struct show *sh = ctx;
	char **v;

	switch (ev->op) {
	case PROTO_EV_BUILD_STARTED:
		if ((v = realloc(sh->started, (sh->nstarted + 1) * sizeof(*v)))) {
			sh->started = v;
			if ((v[sh->nstarted] = strdup(ev->drv)))
				sh->nstarted++;
		}
		progress_started(sh->p, ev->drv, ev->machine);
		break;
	case PROTO_EV_BUILD_FINISHED:
		progress_finished(sh->p, ev->drv, ev->machine, (int)ev->status, ev->duration_ms,
				  ev->msg);
		break;
	case PROTO_EV_LOG_LINE:
		progress_log(sh->p, ev->drv, ev->machine, ev->line, ev->nline);
		break;
	case PROTO_EV_PROGRESS:
		progress_counts(sh->p, ev->done, ev->total, ev->running, ev->waiting, ev->failed);
		break;
	case PROTO_EV_BUILD_KEPT: progress_kept(sh->p, ev->drv, ev->msg); break;
	}
}

static bool was_started(const struct show *sh, const char *drv)
{
	for (size_t i = 0; i < sh->nstarted; i++)
		if (!strcmp(sh->started[i], drv))
			return true;
	return false;
}

/* ---- the run: one event loop (ev.h) for the builds, here or in the
 * daemon, and for the status line's clock, redrawn every second ---- */

struct run {
	struct ev_loop *l;
	struct show *sh;
	struct ev_timer tick;
	int r;
	/* in-process: the engine's descriptors and deadline */
	struct engine *e;
	struct engine_req *rq;
	struct ev_io *io;
	size_t nio, capio;
	struct ev_timer due;
	/* through the daemon: its connection, and our signal pipe */
	struct client_conn *c;
	uint32_t id;
	struct ev_io cio, sio;
	bool cancelled;
	struct proto_build_entry *v;
	size_t nv;
};

static void on_tick(struct ev_loop *l, struct ev_timer *t)
{
	struct run *x = t->ctx;

	ev_timer_start(l, t, progress_tick(x->sh->p), on_tick, x);
}

static void engine_pump(struct run *x);

static void on_engine_io(struct ev_loop *l, struct ev_io *w, unsigned events)
{
	engine_pump(w->ctx);
}

static void on_engine_due(struct ev_loop *l, struct ev_timer *t)
{
	engine_pump(t->ctx);
}

/* Watches what the engine waits for. */
static int engine_sync(struct run *x)
{
	const struct pollfd *fds;
	size_t n;
	int64_t dl;
	int r;

	engine_watch(x->e, &fds, &n, &dl);
	for (size_t i = 0; i < x->nio; i++)
		ev_io_stop(x->l, &x->io[i]);
	x->nio = 0;
	if (n > x->capio) {
		struct ev_io *v = realloc(x->io, n * sizeof(*v));

		if (!v)
			return err_set(ERR_NOMEM, "out of memory");
		x->io = v;
		x->capio = n;
	}
	for (size_t i = 0; i < n; i++) {
		memset(&x->io[i], 0, sizeof(x->io[i]));
		if ((r = ev_io_start(x->l, &x->io[i], fds[i].fd, EV_READ, on_engine_io, x)) != 0)
			return r;
		x->nio++;
	}
	if (dl >= 0) {
		int64_t now = builder_now_ms();

		return ev_timer_start(x->l, &x->due, dl > now ? (uint64_t)(dl - now) : 0,
				      on_engine_due, x);
	}
	ev_timer_stop(x->l, &x->due);
	return 0;
}

static void engine_pump(struct run *x)
{
	size_t c[5];
	int r = engine_turn(x->e, 0);

	if (r == 0) {
		engine_req_progress(x->rq, &c[0], &c[1], &c[2], &c[3], &c[4]);
		progress_counts(x->sh->p, c[0], c[1], c[2], c[3], c[4]);
		if ((engine_req_finished(x->rq) && engine_idle(x->e)) ||
		    engine_counts(x->e)->interrupted) {
			ev_stop(x->l, 0);
			return;
		}
		if (engine_idle(x->e))
			r = err_set(ERR_INTERNAL, "build engine: nothing runs, but not finished");
		else
			r = engine_sync(x);
	}
	if (r != 0) {
		x->r = r;
		ev_stop(x->l, 0);
	}
}

static void on_conn(struct ev_loop *l, struct ev_io *w, unsigned events)
{
	struct run *x = w->ctx;
	bool done;
	int r = client_build_step(x->c, x->id, on_daemon_event, x->sh, &done, &x->v, &x->nv);

	if (r != 0 || done) {
		x->r = r;
		ev_stop(l, 0);
	}
}

static void on_interrupt(struct ev_loop *l, struct ev_io *w, unsigned events)
{
	struct run *x = w->ctx;
	char buf[16];
	int r;

	while (read(w->fd, buf, sizeof(buf)) > 0)
		;
	if (x->cancelled)
		return;
	x->cancelled = true;
	if ((r = client_cancel(x->c, x->id)) != 0) {
		x->r = r;
		ev_stop(l, 0);
	}
}

/* The final counts of the summary, from the final statuses. */
static void count_final(struct run *x, int st, struct engine_result *res, const char *drv,
			size_t *n)
{
	if (st == ENGINE_ST_BUILT)
		n[0]++;
	else if (st == ENGINE_ST_VALID)
		n[1]++;
	else if (st != ENGINE_ST_CANCELLED && st >= 0)
		n[2]++;
	if (!x->c)
		return;
	switch (st) {
	case ENGINE_ST_BUILT: res->built++; break;
	case ENGINE_ST_VALID: break;
	case ENGINE_ST_TIMED_OUT:
		res->timed_out++;
		res->failed++;
		break;
	case ENGINE_ST_FAILED:
		if (was_started(x->sh, drv))
			res->failed++;
		else
			res->not_started++;
		break;
	case ENGINE_ST_DEP_FAILED: res->dep_failed++; break;
	default: res->cancelled++;
	}
}

/* Builds DRVS through the daemon C, or here when C is NULL; fills *RES
 * as engine_build does.  On a terminal the status line is redrawn every
 * second. */
static int run_builds(struct store *s, struct client_conn *c, struct show *sh, char **drvs,
		      size_t n, const struct engine_opts *eo, bool tty, struct engine_result *res)
{
	struct run x = {.sh = sh, .c = c};
	size_t counts[3] = {0, 0, 0};
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = ev_new(&x.l)) != 0)
		return r;
	if (tty && (r = ev_timer_start(x.l, &x.tick, 1000, on_tick, &x)) != 0)
		goto out;
	if (c) {
		struct proto_build q = {.timeout = eo->b.timeout,
					.max_silent = eo->b.max_silent,
					.cores = eo->b.cores,
					.drvs = drvs,
					.ndrvs = n};

		if (eo->keep_going)
			q.flags |= PROTO_BUILD_KEEP_GOING;
		if (eo->b.keep_failed)
			q.flags |= PROTO_BUILD_KEEP_FAILED;
		if ((r = client_build_begin(c, &q, &x.id)) != 0 ||
		    (r = ev_io_start(x.l, &x.cio, client_fd(c), EV_READ, on_conn, &x)) != 0 ||
		    (eo->cancel_fd >= 0 &&
		     (r = ev_io_start(x.l, &x.sio, eo->cancel_fd, EV_READ, on_interrupt, &x)) != 0))
			goto out;
	} else {
		if ((r = engine_new(&x.e, s, eo)) != 0 ||
		    (r = engine_want(x.e, (const char *const *)drvs, n, eo->keep_going, NULL, NULL,
				     &x.rq)) != 0 ||
		    (r = ev_timer_start(x.l, &x.due, 0, on_engine_due, &x)) != 0)
			goto out;
	}
	if ((r = ev_run(x.l)) < 0 || (r = x.r) != 0)
		goto out;
	if (c) {
		res->interrupted = x.cancelled;
		for (size_t i = 0; i < x.nv; i++)
			count_final(&x, (int)x.v[i].status, res, x.v[i].drv, counts);
	} else {
		for (size_t i = 0, k = engine_req_count(x.rq); i < k; i++) {
			const char *drv, *msg;
			int st;

			engine_req_entry(x.rq, i, &drv, &st, &msg);
			count_final(&x, st, res, drv, counts);
		}
	}
	progress_final(sh->p, counts[0], counts[1], counts[2]);
out:
	if (x.e) {
		engine_req_free(x.e, x.rq);
		if (r == 0)
			*res = *engine_counts(x.e);
		engine_free(x.e);
	}
	for (size_t i = 0; i < x.nio; i++)
		ev_io_stop(x.l, &x.io[i]);
	free(x.io);
	ev_io_stop(x.l, &x.cio);
	ev_io_stop(x.l, &x.sio);
	ev_timer_stop(x.l, &x.tick);
	ev_timer_stop(x.l, &x.due);
	ev_free(x.l);
	proto_build_entries_free(x.v, x.nv);
	return r;
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

/* Evaluates the recipe FILE and adds what its value needs: through the
 * daemon when there is one (only what it does not have yet), else here.
 * *V, *N: the value's .drv paths. */
static int instantiate(struct store *s, struct client_conn *conn, const char *file, char ***v,
		       size_t *n)
{
	struct recipe_result res = RECIPE_RESULT_INIT;
	int r;

	if (!conn)
		return recipe_instantiate(s, file, v, n);
	*v = NULL;
	*n = 0;
	if ((r = recipe_eval_file(&res, store_dir(s), file, NULL)) == 0 &&
	    (r = client_recipe_write(conn, &res)) == 0) {
		*v = res.drvs;
		*n = res.ndrvs;
		res.drvs = NULL;
		res.ndrvs = 0;
	}
	recipe_result_release(&res);
	return r;
}

/* Adds P's derivation as `yonder drv add` does; *OUT gets its path. */
static int add_pending(struct store *s, struct client_conn *conn, struct drv_hasher *h,
		       struct pending *p, char **out)
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
		r = conn ? client_add_text(conn, name.data, b.data, b.len, refs, n, out)
			 : store_add_text(s, name.data, b.data, b.len, refs, n, out);
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
static int add_pendings(struct store *s, struct client_conn *conn, struct pending *pend, size_t np,
			size_t *slot, char **drvs)
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
			if ((r = add_pending(s, conn, h, &pend[i], &drvs[slot[i]])) != 0)
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
	enum { O_TIMEOUT = 256, O_SILENT, O_CORES, O_LOGFMT };
	static const struct option opts[] = {
	    {"max-jobs", required_argument, NULL, 'j'},
	    {"keep-going", no_argument, NULL, 'k'},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {"max-silent-time", required_argument, NULL, O_SILENT},
	    {"keep-failed", no_argument, NULL, 'K'},
	    {"cores", required_argument, NULL, O_CORES},
	    {"no-build-output", no_argument, NULL, 'Q'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"log-format", required_argument, NULL, O_LOGFMT},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct engine_opts eo = {.max_jobs = 1, .cancel_fd = -1};
	struct engine_result res;
	struct show sh = {0};
	struct client_conn *conn = NULL;
	bool quiet = false, no_output = false, verbose = false, json = false, tty;
	struct store *s = NULL;
	struct pending *pend = NULL;
	size_t np = 0, *slot = NULL, ndrvs = 0, capdrvs;
	char **drvs = NULL;
	int c, status = EXIT_FAIL;

	if (cli_help(argc, argv, help))
		return EXIT_OK;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+j:kKQqv", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			if (cli_parse_uint(argv[0], "--max-jobs", optarg, 1, &eo.max_jobs) != 0)
				return EXIT_USAGE;
			break;
		case 'k': eo.keep_going = true; break;
		case 'K': eo.b.keep_failed = true; break;
		case 'Q': no_output = true; break;
		case 'q': quiet = true; break;
		case 'v': verbose = true; break;
		case O_LOGFMT:
			if (!strcmp(optarg, "json"))
				json = true;
			else if (strcmp(optarg, "plain"))
				return cli_usage(argv[0],
						 "--log-format: expected json or plain, got '%s'",
						 optarg);
			break;
		case O_TIMEOUT:
			if (cli_parse_uint(argv[0], "--timeout", optarg, 0, &eo.b.timeout) != 0)
				return EXIT_USAGE;
			break;
		case O_SILENT:
			if (cli_parse_uint(argv[0], "--max-silent-time", optarg, 0,
					   &eo.b.max_silent) != 0)
				return EXIT_USAGE;
			break;
		case O_CORES:
			if (cli_parse_uint(argv[0], "--cores", optarg, 0, &eo.b.cores) != 0)
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
	/* With a daemon, it writes the store (the .drv files, the sources)
	 * and builds; we only read the store. */
	if (client_connect_auto(&conn) != 0) {
		cli_fail(argv[0], NULL);
		goto out;
	}
	tty = !json && !quiet && isatty(2);
	if (!(sh.p = progress_new(stderr,
				  json  ? PROGRESS_JSON
				  : tty ? PROGRESS_TTY
					: PROGRESS_PLAIN,
				  quiet || no_output, verbose))) {
		cli_fail(argv[0], "out of memory");
		goto out;
	}
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

			if (instantiate(s, conn, a, &v, &n) != 0) {
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
	if (np && add_pendings(s, conn, pend, np, slot, drvs) != 0) {
		cli_fail(argv[0], NULL);
		goto out;
	}
	if (catch_signals() == 0)
		eo.cancel_fd = sig_pipe[0];
	eo.ctx = &sh;
	eo.log = on_log;
	eo.event = on_event;
	eo.counts = on_counts;
	if (run_builds(s, conn, &sh, drvs, ndrvs, &eo, tty, &res) != 0) {
		progress_free(sh.p);
		sh.p = NULL;
		cli_fail(argv[0], NULL);
		goto out;
	}
	progress_summary(sh.p);
	progress_free(sh.p);
	sh.p = NULL;
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
	else if (res.cancelled)
		status = cli_fail(argv[0], "%zu build%s cancelled (the daemon stopped)",
				  res.cancelled, res.cancelled == 1 ? " was" : "s were");
	else
		status = EXIT_OK;
	if (status != EXIT_OK && !res.interrupted && !json) { /* JSON: see the summary */
		size_t bad = res.failed + res.not_started;

		fprintf(stderr, "yonder build: %zu build%s failed", bad, bad == 1 ? "" : "s");
		if (res.dep_failed)
			fprintf(stderr, ", %zu could not run", res.dep_failed);
		if (res.cancelled)
			fprintf(stderr, ", %zu not started", res.cancelled);
		fputc('\n', stderr);
	}
out:
	progress_free(sh.p);
	for (size_t i = 0; i < sh.nstarted; i++)
		free(sh.started[i]);
	free(sh.started);
	client_free(conn);
	for (size_t i = 0; i < np; i++)
		drv_release(&pend[i].d);
	free(pend);
	free(slot);
	if (drvs)
		drv_strv_free(drvs, ndrvs);
	store_free(s);
	return status;
}
