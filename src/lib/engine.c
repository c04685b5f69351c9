#include "engine.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db.h"
#include "err.h"
#include "sched.h"
#include "store.h"
#include "storepath.h"

enum { J_IDLE, J_WAITING, J_RUNNING, J_ENDING, J_ENDED };

/* One derivation met while planning; a job when it has to be built. */
struct ent {
	char *path;
	struct drv d;
	long job; /* its scheduler id, or -1 */
	bool visiting;
	int state;
	size_t *order; /* output indices, by path: the lock order */
	int *lockfd;
	pid_t waiter;
	int waiter_fd;
	struct builder *b;
	bool provisional; /* reported done to the scheduler before registered */
};

struct engine {
	struct store *s;
	const struct engine_opts *o;
	struct engine_result *res;
	struct ent **ents;
	size_t nents, capents;
	size_t *map; /* open addressing: index + 1, 0 empty */
	size_t mapcap;
	struct ent **jobs; /* by scheduler id */
	size_t njobs, capjobs;
	struct ent **active; /* waiting or running */
	size_t nactive;
	struct ent **pending; /* built and checked, to be registered together */
	size_t npending, cappending;
	int64_t pending_since; /* when the oldest of them was added */
	struct sched *sch;
};

static void ev(struct engine *e, enum engine_event k, const char *drv, const char *msg)
{
	if (e->o->event)
		e->o->event(e->o->ctx, k, drv, msg);
}

/* ---- derivations by path --------------------------------------------- */

static size_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)h;
}

static struct ent *find(struct engine *e, const char *path)
{
	if (!e->mapcap)
		return NULL;
	for (size_t i = hash_str(path) & (e->mapcap - 1);; i = (i + 1) & (e->mapcap - 1)) {
		if (!e->map[i])
			return NULL;
		if (!strcmp(e->ents[e->map[i] - 1]->path, path))
			return e->ents[e->map[i] - 1];
	}
}

static int map_put(struct engine *e, size_t idx)
{
	if (2 * (e->nents + 1) > e->mapcap) {
		size_t cap = e->mapcap ? 2 * e->mapcap : 256;
		size_t *m = calloc(cap, sizeof(*m));

		if (!m)
			return err_set(ERR_NOMEM, "out of memory");
		for (size_t k = 0; k < e->mapcap; k++) {
			size_t i;

			if (!e->map[k])
				continue;
			for (i = hash_str(e->ents[e->map[k] - 1]->path) & (cap - 1); m[i];
			     i = (i + 1) & (cap - 1))
				;
			m[i] = e->map[k];
		}
		free(e->map);
		e->map = m;
		e->mapcap = cap;
	}
	for (size_t i = hash_str(e->ents[idx]->path) & (e->mapcap - 1);;
	     i = (i + 1) & (e->mapcap - 1))
		if (!e->map[i]) {
			e->map[i] = idx + 1;
			return 0;
		}
}

static void ent_free(struct ent *x)
{
	if (!x)
		return;
	free(x->path);
	drv_release(&x->d);
	free(x->order);
	free(x->lockfd);
	free(x);
}

/* The derivation at PATH, loaded once. */
static int load(struct engine *e, const char *path, struct ent **out)
{
	const char *sd = store_dir(e->s);
	struct ent *x;
	int r;

	if ((*out = find(e, path)))
		return 0;
	if ((r = storepath_check(sd, path)) != 0)
		return r;
	if ((r = db_is_valid(store_db(e->s), path)) <= 0)
		return r < 0 ? r
			     : err_set(ERR_NOTFOUND, "derivation '%s' is not in the store", path);
	if (e->nents == e->capents) {
		size_t cap = e->capents ? 2 * e->capents : 64;
		struct ent **v = realloc(e->ents, cap * sizeof(*v));

		if (!v)
			return err_set(ERR_NOMEM, "out of memory");
		e->ents = v;
		e->capents = cap;
	}
	if (!(x = calloc(1, sizeof(*x))) || !(x->path = strdup(path))) {
		free(x);
		return err_set(ERR_NOMEM, "out of memory");
	}
	x->job = -1;
	x->waiter = -1;
	x->waiter_fd = -1;
	if ((r = drv_parse_file(&x->d, path, sd)) != 0) {
		ent_free(x);
		return r;
	}
	e->ents[e->nents] = x;
	if ((r = map_put(e, e->nents)) != 0) {
		ent_free(x);
		return r;
	}
	e->nents++;
	*out = x;
	return 0;
}

/* ---- planning -------------------------------------------------------- */

struct frame {
	struct ent *x;
	char **want; /* NULL: every output */
	size_t nwant;
	size_t next; /* the next input to visit */
	size_t *deps;
	size_t ndeps;
};

/* 1 when one of the outputs WANT (NULL: all) of X is not valid. */
static int needs_build(struct engine *e, struct ent *x, char **want, size_t nwant)
{
	size_t n = want ? nwant : x->d.noutputs;

	for (size_t k = 0; k < n; k++) {
		long i = want ? drv_output_index(&x->d, want[k]) : (long)k;
		int v;

		if (i < 0)
			return err_set(ERR_INVALID, "derivation '%s' has no output '%s'", x->path,
				       want[k]);
		if ((v = db_is_valid(store_db(e->s), x->d.outputs[i].path)) < 0)
			return v;
		if (v == 0)
			return 1;
	}
	return 0;
}

static int add_job(struct engine *e, struct frame *f)
{
	size_t id;
	int r;

	if (e->njobs == e->capjobs) {
		size_t cap = e->capjobs ? 2 * e->capjobs : 64;
		struct ent **v = realloc(e->jobs, cap * sizeof(*v));

		if (!v)
			return err_set(ERR_NOMEM, "out of memory");
		e->jobs = v;
		e->capjobs = cap;
	}
	if ((r = sched_add(e->sch, f->deps, f->ndeps, &id)) != 0)
		return r;
	e->jobs[id] = f->x;
	e->njobs = id + 1;
	f->x->job = (long)id;
	return 0;
}

/* Depth-first, inputs before their users (the scheduler's order), with an
 * explicit stack: a chain of derivations may be very deep. */
static int plan(struct engine *e, const char *root)
{
	struct frame *st = NULL;
	size_t n = 0, cap = 0;
	long result = -1;
	int r = 0;

#define PUSH(xx, w, nw)                                                                            \
	do {                                                                                       \
		if (n == cap) {                                                                    \
			size_t c2 = cap ? 2 * cap : 32;                                            \
			struct frame *v2 = realloc(st, c2 * sizeof(*v2));                          \
			if (!v2) {                                                                 \
				r = err_set(ERR_NOMEM, "out of memory");                           \
				goto out;                                                          \
			}                                                                          \
			st = v2;                                                                   \
			cap = c2;                                                                  \
		}                                                                                  \
		st[n++] = (struct frame){.x = (xx), .want = (w), .nwant = (nw)};                   \
	} while (0)

	{
		struct ent *x;

		if ((r = load(e, root, &x)) != 0)
			goto out;
		PUSH(x, NULL, 0);
	}
	while (n) {
		struct frame *f = &st[n - 1];
		struct ent *x = f->x;

		if (f->next == 0 && !x->visiting) {
			int need;

			if (x->job >= 0) {
				result = x->job;
				goto pop;
			}
			if ((need = needs_build(e, x, f->want, f->nwant)) < 0) {
				r = need;
				goto out;
			}
			if (!need) {
				result = -1;
				goto pop;
			}
			for (size_t i = 0; i < x->d.nsrcs; i++) {
				int v = db_is_valid(store_db(e->s), x->d.srcs[i]);

				if (v <= 0) {
					r = v < 0 ? v
						  : err_set(ERR_NOTFOUND,
							    "cannot build '%s': its input '%s' is "
							    "not valid",
							    x->path, x->d.srcs[i]);
					goto out;
				}
			}
			x->visiting = true;
			if (!(f->deps = calloc(x->d.ninputs + 1, sizeof(*f->deps)))) {
				r = err_set(ERR_NOMEM, "out of memory");
				goto out;
			}
		}
		if (f->next < x->d.ninputs) {
			const struct drv_input *in = &x->d.inputs[f->next++];
			struct ent *y;

			if ((r = load(e, in->path, &y)) != 0) {
				r = err_prefix(r, "cannot build '%s'", x->path);
				goto out;
			}
			if (y->visiting) {
				r = err_set(ERR_INVALID, "derivation '%s' depends on itself",
					    y->path);
				goto out;
			}
			PUSH(y, in->outputs, in->noutputs);
			continue;
		}
		if ((r = add_job(e, f)) != 0)
			goto out;
		x->visiting = false;
		result = x->job;
	pop:
		free(st[n - 1].deps);
		n--;
		if (n && result >= 0)
			st[n - 1].deps[st[n - 1].ndeps++] = (size_t)result;
	}
out:
	for (size_t i = 0; i < n; i++) {
		st[i].x->visiting = false;
		free(st[i].deps);
	}
	free(st);
	return r;
#undef PUSH
}

/* ---- locks ----------------------------------------------------------- */

static int cmp_out(const void *a, const void *b, void *ctx)
{
	const struct drv *d = ctx;

	return strcmp(d->outputs[*(const size_t *)a].path, d->outputs[*(const size_t *)b].path);
}

static void unlock_all(struct engine *e, struct ent *x)
{
	for (size_t k = x->d.noutputs; k-- > 0;)
		if (x->lockfd[k] >= 0)
			store_path_unlock(e->s, x->d.outputs[k].path, &x->lockfd[k]);
}

/* 0 when every lock is held, 1 when one is busy (none held), or an error. */
static int try_locks(struct engine *e, struct ent *x)
{
	for (size_t k = 0; k < x->d.noutputs; k++) {
		size_t i = x->order[k];
		int r;

		if (k > 0 && !strcmp(x->d.outputs[i].path, x->d.outputs[x->order[k - 1]].path))
			continue;
		if ((r = store_path_lock(e->s, x->d.outputs[i].path, false, &x->lockfd[i])) != 0) {
			unlock_all(e, x);
			return r;
		}
	}
	return 0;
}

/* A child that waits until it holds every lock, then exits (releasing
 * them): its end tells the engine to try again.  It keeps no descriptor
 * but the locks directory's, so it cannot keep any of our locks alive. */
static int spawn_waiter(struct engine *e, struct ent *x)
{
	int keep = store_lock_dirfd(e->s);
	pid_t pid = fork();

	if (pid < 0)
		return err_sys(ERR_INTERNAL, "fork");
	if (pid == 0) {
		if (keep > 3)
			syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u);
		syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u);
		for (size_t k = 0; k < x->d.noutputs; k++) {
			int fd;

			if (store_path_lock(e->s, x->d.outputs[x->order[k]].path, true, &fd) != 0)
				_exit(1);
		}
		_exit(0);
	}
	x->waiter = pid;
	x->waiter_fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (x->waiter_fd < 0) {
		int er = errno;

		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		x->waiter = -1;
		errno = er;
		return err_sys(ERR_INTERNAL, "pidfd_open");
	}
	return 0;
}

static void reap_waiter(struct ent *x, bool kill_it)
{
	if (x->waiter <= 0)
		return;
	if (kill_it)
		kill(x->waiter, SIGKILL);
	while (waitpid(x->waiter, NULL, 0) < 0 && errno == EINTR)
		;
	close(x->waiter_fd);
	x->waiter = -1;
	x->waiter_fd = -1;
}

/* ---- running --------------------------------------------------------- */

static void deactivate(struct engine *e, struct ent *x)
{
	for (size_t i = 0; i < e->nactive; i++)
		if (e->active[i] == x) {
			e->active[i] = e->active[--e->nactive];
			return;
		}
}

/* Stops the active jobs the scheduler gave up on (dep-failed: an input's
 * success was taken back while they ran).  Their outputs are removed;
 * the end of engine_build reports them. */
static void stop_dep_failed(struct engine *e)
{
	for (size_t a = e->nactive; a-- > 0;) {
		struct ent *y = e->active[a];

		if (sched_state(e->sch, (size_t)y->job) != SCHED_DEP_FAILED)
			continue;
		builder_free(y->b);
		y->b = NULL;
		reap_waiter(y, true);
		unlock_all(e, y);
		y->state = J_ENDED;
		deactivate(e, y);
	}
}

static void job_end(struct engine *e, struct ent *x, bool ok)
{
	unlock_all(e, x);
	x->state = J_ENDED;
	deactivate(e, x);
	if (x->provisional && !ok) {
		sched_revoke(e->sch, (size_t)x->job);
		stop_dep_failed(e);
	} else {
		sched_done(e->sch, (size_t)x->job, ok);
	}
}

/* Could not start: counted apart from builds that ran and failed. */
static void job_fail_start(struct engine *e, struct ent *x)
{
	e->res->not_started++;
	ev(e, ENGINE_FAILED, x->path, err_msg());
	job_end(e, x, false);
}

/* The locks are held: build, unless someone else did meanwhile. */
static void job_locked(struct engine *e, struct ent *x)
{
	size_t valid = 0, bad = 0;
	int r;

	for (size_t i = 0; i < x->d.noutputs; i++) {
		int v = db_is_valid(store_db(e->s), x->d.outputs[i].path);

		if (v < 0) {
			job_fail_start(e, x);
			return;
		}
		if (v)
			valid++;
		else
			bad = i;
	}
	if (valid == x->d.noutputs) {
		e->res->valid++;
		ev(e, ENGINE_VALID, x->path, NULL);
		job_end(e, x, true);
		return;
	}
	if (valid) {
		err_set(ERR_INVALID,
			"cannot build '%s': some of its outputs are valid, but '%s' is not "
			"(delete the valid ones to build it again)",
			x->path, x->d.outputs[bad].path);
		job_fail_start(e, x);
		return;
	}
	if ((r = builder_start(&x->b, e->s, x->path, &x->d, &e->o->b)) != 0) {
		job_fail_start(e, x);
		return;
	}
	x->state = J_RUNNING;
	ev(e, ENGINE_BUILDING, x->path, NULL);
}

static void job_try(struct engine *e, struct ent *x)
{
	int r = try_locks(e, x);

	if (r < 0) {
		job_fail_start(e, x);
	} else if (r == 0) {
		job_locked(e, x);
	} else if ((r = spawn_waiter(e, x)) != 0) {
		job_fail_start(e, x);
	} else {
		if (x->state != J_WAITING)
			ev(e, ENGINE_WAITING, x->path, NULL);
		x->state = J_WAITING;
	}
}

static int job_start(struct engine *e, struct ent *x)
{
	if (!x->order) {
		x->order = malloc((x->d.noutputs + 1) * sizeof(*x->order));
		x->lockfd = malloc((x->d.noutputs + 1) * sizeof(*x->lockfd));
		if (!x->order || !x->lockfd)
			return err_set(ERR_NOMEM, "out of memory");
		for (size_t i = 0; i < x->d.noutputs; i++) {
			x->order[i] = i;
			x->lockfd[i] = -1;
		}
		qsort_r(x->order, x->d.noutputs, sizeof(*x->order), cmp_out, &x->d);
	}
	e->active[e->nactive++] = x;
	x->state = J_IDLE;
	job_try(e, x);
	return 0;
}

/* Reports the end of X (R: 0 built; otherwise MSG says why) and lets it
 * go. */
static void report_end(struct engine *e, struct ent *x, int r, const char *msg)
{
	if (r == 0) {
		e->res->built++;
		ev(e, ENGINE_BUILT, x->path, NULL);
	} else {
		e->res->failed++;
		if (builder_timed_out(x->b))
			e->res->timed_out++;
		ev(e, ENGINE_FAILED, x->path, msg);
		if (builder_kept_dir(x->b))
			ev(e, ENGINE_KEPT, x->path, builder_kept_dir(x->b));
	}
	builder_free(x->b);
	x->b = NULL;
	job_end(e, x, r == 0);
}

/* Built and checked, not yet registered: its users may already run (see
 * run()).  NULL when PATH is not an output of such a build. */
static const struct path_info *pending_info(void *ctx, const char *path)
{
	struct engine *e = ctx;

	for (size_t i = 0; i < e->npending; i++) {
		size_t n;
		const struct path_info *pi = builder_infos(e->pending[i]->b, &n);

		for (size_t k = 0; k < n; k++)
			if (!strcmp(pi[k].path, path))
				return &pi[k];
	}
	return NULL;
}

static int add_pending(struct engine *e, struct ent *x)
{
	if (e->npending == e->cappending) {
		size_t cap = e->cappending ? 2 * e->cappending : 16;
		struct ent **v = realloc(e->pending, cap * sizeof(*v));

		if (!v)
			return err_set(ERR_NOMEM, "out of memory");
		e->pending = v;
		e->cappending = cap;
	}
	if (e->npending == 0)
		e->pending_since = builder_now_ms();
	e->pending[e->npending++] = x;
	deactivate(e, x);
	return 0;
}

/* Makes every pending build valid at once: one syncfs, one transaction,
 * whatever their number. */
static int commit_pending(struct engine *e)
{
	struct builder **bs = calloc(e->npending + 1, sizeof(*bs));
	char msg[2048];
	size_t n = e->npending;
	int r;

	if (!bs)
		return err_set(ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		bs[i] = e->pending[i]->b;
	r = builder_commit(e->s, bs, n);
	snprintf(msg, sizeof(msg), "%s", r ? err_msg() : "");
	free(bs);
	e->npending = 0;
	for (size_t i = 0; i < n; i++)
		report_end(e, e->pending[i], r, msg);
	return 0;
}

/* Frees pending builds without registering them (an internal error). */
static void drop_pending(struct engine *e)
{
	for (size_t i = 0; i < e->npending; i++) {
		struct ent *x = e->pending[i];

		builder_free(x->b);
		x->b = NULL;
		unlock_all(e, x);
		x->state = J_ENDED;
		e->res->cancelled++;
	}
	e->npending = 0;
}

struct log_tramp {
	struct engine *e;
	struct ent *x;
};

static void log_tramp(void *ctx, const void *p, size_t n)
{
	struct log_tramp *t = ctx;

	t->e->o->log(t->e->o->ctx, t->x->path, p, n);
}

/* Kills what runs (interrupt or internal error). */
static void stop_all(struct engine *e)
{
	sched_stop(e->sch);
	while (e->nactive) {
		struct ent *x = e->active[e->nactive - 1];

		if (x->b) {
			builder_free(x->b);
			x->b = NULL;
		}
		reap_waiter(x, true);
		unlock_all(e, x);
		x->state = J_ENDED;
		e->nactive--;
		/* Counted as cancelled: it did not fail. */
		sched_done(e->sch, (size_t)x->job, true);
		e->res->cancelled++;
	}
}

/* How long built outputs may wait to be registered together while other
 * builds run (they wait no longer once nothing else runs). */
#define COMMIT_MS 100

static int run(struct engine *e)
{
	/* Jobs whose builder exited give their slot back before they leave
	 * the active list: at most twice max_jobs are active. */
	size_t maxact = 2 * (size_t)e->o->max_jobs, maxfds = 1 + maxact * BUILDER_NFDS;
	struct pollfd *fds = calloc(maxfds, sizeof(*fds));
	size_t *owner = calloc(maxfds, sizeof(*owner)); /* fds[i] belongs to active[owner[i]] */
	struct ent **ending = calloc(maxact, sizeof(*ending));
	size_t nending;
	int r = 0;

	if (!fds || !owner || !ending || !(e->active = calloc(maxact, sizeof(*e->active)))) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		size_t id, nf = 0;
		int64_t now, dl = -1;
		int tmo, pr;

		while (sched_next(e->sch, &id) == 1)
			if ((r = job_start(e, e->jobs[id])) != 0)
				goto fail;
		if (e->nactive == 0 && e->npending) {
			/* Nothing else runs: no reason to wait. */
			if ((r = commit_pending(e)) != 0)
				goto fail;
			continue;
		}
		if (sched_finished(e->sch) && e->nactive == 0)
			break;
		if (e->o->cancel_fd >= 0) {
			fds[nf] = (struct pollfd){.fd = e->o->cancel_fd, .events = POLLIN};
			owner[nf++] = SIZE_MAX;
		}
		for (size_t a = 0; a < e->nactive; a++) {
			struct ent *x = e->active[a];

			if (x->state == J_WAITING) {
				fds[nf] = (struct pollfd){.fd = x->waiter_fd, .events = POLLIN};
				owner[nf++] = a;
			} else if (x->state == J_RUNNING) {
				size_t k = builder_pollfds(x->b, fds + nf);
				int64_t d = builder_deadline(x->b);

				for (size_t i = 0; i < k; i++)
					owner[nf + i] = a;
				nf += k;
				if (d >= 0 && (dl < 0 || d < dl))
					dl = d;
			}
		}
		if (e->npending && (dl < 0 || e->pending_since + COMMIT_MS < dl))
			dl = e->pending_since + COMMIT_MS;
		if (e->nactive == 0) {
			r = err_set(ERR_INTERNAL, "build engine: nothing runs, but not finished");
			goto fail;
		}
		now = builder_now_ms();
		tmo = dl < 0 ? -1 : dl <= now ? 0 : dl - now > INT_MAX ? INT_MAX : (int)(dl - now);
		pr = poll(fds, nf, tmo);
		if (pr < 0 && errno != EINTR) {
			r = err_sys(ERR_INTERNAL, "poll");
			goto fail;
		}
		if (pr > 0 && e->o->cancel_fd >= 0 && fds[0].revents) {
			e->res->interrupted = true;
			stop_all(e);
			/* What was built is registered all the same. */
			if (e->npending && (r = commit_pending(e)) != 0)
				goto fail;
			break;
		}
		now = builder_now_ms();
		nending = 0;
		/* Walk the active jobs from the end: one that ends leaves the
		 * list, swapping the last one into its place. */
		for (size_t a = e->nactive; a-- > 0;) {
			struct ent *x = e->active[a];
			bool ready = false;

			for (size_t i = 0; i < nf && pr > 0; i++)
				if (owner[i] == a && fds[i].revents)
					ready = true;
			if (x->state == J_WAITING && ready) {
				reap_waiter(x, false);
				job_try(e, x);
			} else if (x->state == J_RUNNING) {
				int64_t d = builder_deadline(x->b);
				struct log_tramp t = {e, x};

				if (!ready && !(d >= 0 && d <= now))
					continue;
				r = builder_step(x->b, e->o->log ? log_tramp : NULL, &t);
				if (r < 0)
					goto fail;
				if (r == 1) {
					/* A clean exit is taken as a success at
					 * once: its slot and its users start while
					 * its outputs are checked, and are then
					 * registered with others (on a chain, the
					 * next builders run meanwhile).  If that
					 * fails, job_end takes the success back and
					 * stops the users.  Another end must be
					 * known as a failure before anything else
					 * starts (without --keep-going nothing
					 * would). */
					x->state = J_ENDING;
					if (builder_exited_ok(x->b)) {
						x->provisional = true;
						sched_done(e->sch, (size_t)x->job, true);
					}
					ending[nending++] = x;
				}
				r = 0;
			}
		}
		/* Start what the freed slots and the provisional successes
		 * allow before checking the ended ones. */
		while (sched_next(e->sch, &id) == 1)
			if ((r = job_start(e, e->jobs[id])) != 0)
				goto fail;
		for (size_t i = 0; i < nending; i++) {
			struct ent *x = ending[i];

			if (builder_prepare(x->b, pending_info, e) != 0) {
				char msg[2048];

				snprintf(msg, sizeof(msg), "%s", err_msg());
				report_end(e, x, -1, msg);
			} else if ((r = add_pending(e, x)) != 0) {
				goto fail;
			}
		}
		if (e->npending && builder_now_ms() >= e->pending_since + COMMIT_MS &&
		    (r = commit_pending(e)) != 0)
			goto fail;
	}
	goto out;
fail : {
	char saved[2048];

	snprintf(saved, sizeof(saved), "%s", err_msg());
	stop_all(e);
	drop_pending(e);
	err_set(r, "%s", saved);
}
out:
	free(fds);
	free(owner);
	free(ending);
	return r;
}

int engine_build(struct store *s, const char *const *drvs, size_t n, const struct engine_opts *o,
		 struct engine_result *res)
{
	struct engine e = {.s = s, .o = o, .res = res};
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = sched_new(&e.sch, o->max_jobs, o->keep_going)) != 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++)
		r = plan(&e, drvs[i]);
	if (r == 0)
		r = run(&e);
	if (r == 0) {
		for (size_t i = 0; i < e.njobs; i++)
			if (sched_state(e.sch, i) == SCHED_DEP_FAILED)
				ev(&e, ENGINE_DEP_FAILED, e.jobs[i]->path, NULL);
		res->dep_failed = sched_count(e.sch, SCHED_DEP_FAILED);
		res->cancelled += sched_count(e.sch, SCHED_CANCELLED);
	}
	sched_free(e.sch);
	for (size_t i = 0; i < e.nents; i++)
		ent_free(e.ents[i]);
	free(e.ents);
	free(e.map);
	free(e.jobs);
	free(e.active);
	free(e.pending);
	return r;
}
