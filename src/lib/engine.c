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
#include "machines.h"
#include "offloader.h"
#include "sched_pick.h"
#include "sched.h"
#include "store.h"
#include "storepath.h"

/* J_PARKED: no machine free for it yet (sched_pick WAIT), no lock held;
 * J_REMOTE: handed to an offload worker, no lock held (the download
 * registers its outputs under their locks). */
enum { J_IDLE, J_WAITING, J_RUNNING, J_ENDING, J_ENDED, J_PARKED, J_REMOTE };

struct ent;

/* A build carried by an offload worker: the tag it reports with.  X is
 * NULL once the engine no longer waits for it. */
struct rjob {
	struct ent *x;
	struct rjob *next;
};

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
	bool provisional;       /* reported done to the scheduler before registered */
	int status;             /* enum engine_status once final, -1 while a job */
	struct builder_opts bo; /* the request's that planned the job */
	struct ent **deps;      /* the jobs it needed when planned */
	size_t ndeps;
	struct ref *refs; /* the requests that want it */
	size_t nrefs, caprefs;
	/* Offloading (engine_opts.off): */
	bool on_pool;   /* holds a slot of machine MACHINE in the pool */
	size_t machine; /* where it runs */
	unsigned tries; /* transient failures so far */
	uint64_t wake;  /* J_PARKED: when to try again (SCHED_NO_WAKE: on an end) */
	bool said_wait; /* told its users why it waits (once) */
	struct rjob *rj;
	bool in_done;           /* IN computed */
	struct db_list incl;    /* its input closure (owns the paths of IN) */
	struct sched_input *in; /* with NAR sizes, for sched_pick */
	size_t nin;
};

/* A request's interest in a job: its entry IDX of RQ. */
struct ref {
	struct engine_req *rq;
	size_t idx;
};

struct rq_ent {
	struct ent *x;
	int status; /* -1 until final */
	char *msg;
};

struct engine_req {
	void *ctx;
	bool keep_going, stopped;
	struct builder_opts bo;
	struct rq_ent *v;
	size_t n, cap;
	size_t left; /* entries not final */
	struct engine_req *next, *prev;
};

struct engine {
	struct store *s;
	const struct engine_opts *o;
	struct engine_result *res; /* &cnt */
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
	struct engine_result cnt;
	struct engine_req *reqs;
	struct pollfd *fds; /* engine_watch's */
	size_t *owner;      /* fds[i] belongs to active[owner[i]] (SIZE_MAX: cancel_fd) */
	size_t nfds;
	struct ent **ending;
	size_t capactive; /* of active and ending; fds and owner: fdcap() */
	bool broken;      /* an internal failure: everything was stopped */
	struct offloader *off;
	struct rjob *rjobs; /* every build given to a worker and not ended */
	bool unpark;        /* a slot freed: parked jobs try again */
};

static size_t fdcap(size_t capactive)
{
	return 2 + capactive * BUILDER_NFDS;
}

/* Room for one more active job. */
static int active_grow(struct engine *e)
{
	size_t cap = 2 * e->capactive, nf = fdcap(cap);
	void *v;

	if (e->nactive < e->capactive)
		return 0;
	if (!(v = realloc(e->active, cap * sizeof(*e->active))))
		return err_set(ERR_NOMEM, "out of memory");
	e->active = v;
	if (!(v = realloc(e->ending, cap * sizeof(*e->ending))))
		return err_set(ERR_NOMEM, "out of memory");
	e->ending = v;
	if (!(v = realloc(e->fds, nf * sizeof(*e->fds))))
		return err_set(ERR_NOMEM, "out of memory");
	e->fds = v;
	if (!(v = realloc(e->owner, nf * sizeof(*e->owner))))
		return err_set(ERR_NOMEM, "out of memory");
	e->owner = v;
	e->capactive = cap;
	return 0;
}

/* The scheduler's limit: with build machines, sched_pick decides what
 * runs where, so every ready job is handed out (and parked when no
 * machine can take it yet). */
static unsigned sched_slots(const struct engine *e)
{
	return e->off ? 1u << 20 : e->o->max_jobs;
}

static void ev(struct engine *e, enum engine_event k, struct ent *x, const char *msg)
{
	if (e->o->event)
		e->o->event(e->o->ctx, k, x->path, msg);
	if (e->o->rq_event)
		for (size_t i = 0; i < x->nrefs; i++)
			e->o->rq_event(e->o->ctx, x->refs[i].rq->ctx, k, x->path, msg);
}

static void finalize(struct engine *e, struct ent *x, int status, const char *msg);

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
	free(x->deps);
	free(x->refs);
	free(x->in);
	db_list_release(&x->incl);
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
	x->status = -1;
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

/* Appends an entry for X to RQ; *IDX is its index. */
static int rq_push(struct engine_req *rq, struct ent *x, int status, size_t *idx)
{
	if (rq->n == rq->cap) {
		size_t cap = rq->cap ? 2 * rq->cap : 16;
		struct rq_ent *v = realloc(rq->v, cap * sizeof(*v));

		if (!v)
			return err_set(ERR_NOMEM, "out of memory");
		rq->v = v;
		rq->cap = cap;
	}
	rq->v[rq->n] = (struct rq_ent){.x = x, .status = status};
	if (status < 0)
		rq->left++;
	if (idx)
		*idx = rq->n;
	rq->n++;
	return 0;
}

/* RQ wants the job X (once). */
static int add_ref(struct ent *x, struct engine_req *rq)
{
	size_t idx = 0;
	int r;

	if (x->nrefs && x->refs[x->nrefs - 1].rq == rq)
		return 0;
	if (x->nrefs == x->caprefs) {
		size_t cap = x->caprefs ? 2 * x->caprefs : 2;
		struct ref *v = realloc(x->refs, cap * sizeof(*v));

		if (!v)
			return err_set(ERR_NOMEM, "out of memory");
		x->refs = v;
		x->caprefs = cap;
	}
	if ((r = rq_push(rq, x, -1, &idx)) != 0)
		return r;
	x->refs[x->nrefs++] = (struct ref){rq, idx};
	return 0;
}

/* RQ wants X, a job planned earlier and not ended, and so every job it
 * needs that has not ended either. */
static int add_refs(struct ent *x, struct engine_req *rq)
{
	struct ent **st;
	size_t n = 0, cap = 16;
	int r = 0;

	if (x->nrefs && x->refs[x->nrefs - 1].rq == rq)
		return 0;
	if (!(st = malloc(cap * sizeof(*st))))
		return err_set(ERR_NOMEM, "out of memory");
	st[n++] = x;
	while (n && r == 0) {
		struct ent *y = st[--n];

		if (y->status >= 0 || (y->nrefs && y->refs[y->nrefs - 1].rq == rq))
			continue;
		if ((r = add_ref(y, rq)) != 0)
			break;
		for (size_t i = 0; i < y->ndeps; i++) {
			if (n == cap) {
				struct ent **v = realloc(st, 2 * cap * sizeof(*v));

				if (!v) {
					r = err_set(ERR_NOMEM, "out of memory");
					break;
				}
				st = v;
				cap *= 2;
			}
			st[n++] = y->deps[i];
		}
	}
	free(st);
	return r;
}

static int add_job(struct engine *e, struct frame *f, struct engine_req *rq)
{
	struct ent *x = f->x;
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
	free(x->deps);
	if (!(x->deps = calloc(f->ndeps + 1, sizeof(*x->deps))))
		return err_set(ERR_NOMEM, "out of memory");
	if ((r = sched_add(e->sch, f->deps, f->ndeps, &id)) != 0)
		return r;
	for (size_t i = 0; i < f->ndeps; i++)
		x->deps[i] = e->jobs[f->deps[i]];
	x->ndeps = f->ndeps;
	e->jobs[id] = x;
	e->njobs = id + 1;
	x->job = (long)id;
	/* A new job: requests that wanted an earlier one have its end. */
	x->status = -1;
	x->nrefs = 0;
	x->provisional = false;
	x->state = J_IDLE;
	x->bo = rq->bo;
	return add_ref(x, rq);
}

/* Depth-first, inputs before their users (the scheduler's order), with an
 * explicit stack: a chain of derivations may be very deep.  A job planned
 * earlier that has not ended is shared.  *ROOT_JOB: whether ROOT needs
 * building. */
static int plan(struct engine *e, const char *root, struct engine_req *rq, bool *root_job)
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

			if (x->job >= 0 && x->status < 0) {
				if ((r = add_refs(x, rq)) != 0)
					goto out;
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
		if ((r = add_job(e, f, rq)) != 0)
			goto out;
		x->visiting = false;
		result = x->job;
	pop:
		free(st[n - 1].deps);
		n--;
		if (n && result >= 0)
			st[n - 1].deps[st[n - 1].ndeps++] = (size_t)result;
	}
	*root_job = result >= 0;
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

/* ---- final statuses and requests ------------------------------------ */

static void finalize(struct engine *e, struct ent *x, int status, const char *msg)
{
	x->status = status;
	if (status == ENGINE_ST_DEP_FAILED)
		e->res->dep_failed++;
	else if (status == ENGINE_ST_CANCELLED)
		e->res->cancelled++;
	for (size_t i = 0; i < x->nrefs; i++) {
		struct rq_ent *re = &x->refs[i].rq->v[x->refs[i].idx];

		if (re->status >= 0)
			continue;
		re->status = status;
		free(re->msg);
		re->msg = msg && *msg ? strdup(msg) : NULL;
		x->refs[i].rq->left--;
	}
}

static void deactivate(struct engine *e, struct ent *x)
{
	for (size_t i = 0; i < e->nactive; i++)
		if (e->active[i] == x) {
			e->active[i] = e->active[--e->nactive];
			return;
		}
}

/* Gives back X's slot in the pool, if it holds one. */
static void pool_end(struct engine *e, struct ent *x, bool built)
{
	if (!x->on_pool)
		return;
	x->on_pool = false;
	sched_machine_end(offloader_pool(e->off), x->machine, 0, built);
	e->unpark = true;
}

/* Stops X's builder or lock waiter, if any (outputs removed, log kept).
 * A build carried by a worker goes on there (its outputs come back
 * valid, or not at all); the engine no longer waits for it. */
static void kill_job(struct engine *e, struct ent *x)
{
	if (x->state == J_PARKED || x->state == J_REMOTE) {
		if (x->rj)
			x->rj->x = NULL;
		x->rj = NULL;
		x->state = J_ENDED;
		deactivate(e, x);
		return;
	}
	if (x->state != J_WAITING && x->state != J_RUNNING)
		return;
	if (x->state == J_RUNNING)
		pool_end(e, x, false);
	builder_free(x->b);
	x->b = NULL;
	reap_waiter(x, true);
	unlock_all(e, x);
	x->state = J_ENDED;
	deactivate(e, x);
}

/* X will not be built: nobody wants it any more, or an interrupt. */
static void cancel_job(struct engine *e, struct ent *x)
{
	enum sched_state st = sched_state(e->sch, (size_t)x->job);

	if (x->status >= 0 || st == SCHED_DONE)
		return; /* ended, or built and about to be registered */
	kill_job(e, x);
	sched_cancel(e->sch, (size_t)x->job);
	ev(e, ENGINE_CANCELLED, x, NULL);
	finalize(e, x, ENGINE_ST_CANCELLED, NULL);
}

/* Finalizes the jobs the scheduler gave up on after a failure (stopping
 * those that were running on a success taken back). */
static void scan_dep_failed(struct engine *e)
{
	for (size_t i = 0; i < e->njobs; i++) {
		struct ent *y = e->jobs[i];

		if (y->job != (long)i || y->status >= 0 ||
		    sched_state(e->sch, i) != SCHED_DEP_FAILED)
			continue;
		kill_job(e, y);
		ev(e, ENGINE_DEP_FAILED, y, NULL);
		finalize(e, y, ENGINE_ST_DEP_FAILED, NULL);
	}
}

static bool wanted(const struct ent *x)
{
	for (size_t i = 0; i < x->nrefs; i++)
		if (!x->refs[i].rq->stopped)
			return true;
	return false;
}

/* RQ does not go on after a failure: what it wants that has not started
 * is cancelled, unless a request that goes on wants it too. */
static void stop_req(struct engine *e, struct engine_req *rq)
{
	rq->stopped = true;
	for (size_t i = 0; i < rq->n; i++) {
		struct ent *y = rq->v[i].x;
		enum sched_state st;

		if (rq->v[i].status >= 0 || y->status >= 0)
			continue;
		st = sched_state(e->sch, (size_t)y->job);
		if ((st == SCHED_WAITING || st == SCHED_READY) && !wanted(y))
			cancel_job(e, y);
	}
}

static void after_failure(struct engine *e, struct ent *x)
{
	scan_dep_failed(e);
	for (size_t i = 0; i < x->nrefs; i++)
		if (!x->refs[i].rq->keep_going && !x->refs[i].rq->stopped)
			stop_req(e, x->refs[i].rq);
}

/* ---- running --------------------------------------------------------- */

static void job_end(struct engine *e, struct ent *x, int status, const char *msg)
{
	bool ok = status == ENGINE_ST_BUILT || status == ENGINE_ST_VALID;

	unlock_all(e, x);
	x->state = J_ENDED;
	deactivate(e, x);
	if (x->provisional && !ok)
		sched_revoke(e->sch, (size_t)x->job);
	else
		sched_done(e->sch, (size_t)x->job, ok);
	x->provisional = false;
	finalize(e, x, status, msg);
	if (!ok)
		after_failure(e, x);
}

/* Could not start: counted apart from builds that ran and failed. */
static void job_fail_start(struct engine *e, struct ent *x)
{
	char msg[2048];

	snprintf(msg, sizeof(msg), "%s", err_msg());
	e->res->not_started++;
	ev(e, ENGINE_FAILED, x, msg);
	job_end(e, x, ENGINE_ST_FAILED, msg);
}

/* Splits requiredSystemFeatures into V (at most N - 1, NULL-terminated)
 * inside BUF. */
static void features_of(const struct drv *d, char *buf, size_t size, const char **v, size_t n)
{
	const char *s = drv_env_get(d, "requiredSystemFeatures");
	size_t k = 0;
	char *p, *save = NULL;

	snprintf(buf, size, "%s", s ? s : "");
	for (p = strtok_r(buf, " \t\n", &save); p && k + 1 < n; p = strtok_r(NULL, " \t\n", &save))
		v[k++] = p;
	v[k] = NULL;
}

/* X's input closure with NAR sizes, computed once: what a machine that
 * lacks it must be sent (sched_pick weighs it; a machine known to hold
 * it costs nothing).  Left empty on any error: a hint only. */
static void inputs_of(struct engine *e, struct ent *x)
{
	struct db_list roots = DB_LIST_INIT;
	struct db *db = store_db(e->s);
	int r = 0;

	if (x->in_done)
		return;
	x->in_done = true;
	for (size_t i = 0; r == 0 && i < x->d.ninputs; i++) {
		const struct drv_input *di = &x->d.inputs[i];
		struct ent *y = find(e, di->path);

		for (size_t k = 0; y && r == 0 && k < di->noutputs; k++)
			for (size_t j = 0; r == 0 && j < y->d.noutputs; j++)
				if (!strcmp(y->d.outputs[j].name, di->outputs[k]))
					r = db_list_push(&roots, y->d.outputs[j].path);
	}
	for (size_t i = 0; r == 0 && i < x->d.nsrcs; i++)
		r = db_list_push(&roots, x->d.srcs[i]);
	if (r == 0 && roots.n &&
	    db_query_closure(db, (const char *const *)roots.v, roots.n, &x->incl) == 0 &&
	    (x->in = calloc(x->incl.n ? x->incl.n : 1, sizeof(*x->in)))) {
		for (size_t k = 0; k < x->incl.n; k++) {
			struct path_info pi = PATH_INFO_INIT;

			x->in[x->nin].path = x->incl.v[k];
			if (db_query_info(db, x->incl.v[k], &pi) == 0)
				x->in[x->nin].nar_size = pi.nar_size;
			path_info_release(&pi);
			x->nin++;
		}
	}
	db_list_release(&roots);
}

static void remote_log(void *ctx, void *tag, const void *p, size_t n);

/* X waits, and not merely for a slot of a busy machine (that is the
 * normal queue, shown by the progress line): its log says once why no
 * machine takes it now (down, overloaded, short of space), so that a
 * client not on a terminal does not wait in silence. */
static void say_waiting(struct engine *e, struct ent *x, const struct sched_request *rq,
			uint64_t now)
{
	struct sched_choice c = SCHED_CHOICE_INIT;
	struct buf b = BUF_INIT(16384);
	int r;

	if (sched_explain(offloader_pool(e->off), rq, now, &c) != 0)
		return;
	r = buf_printf(&b, "yonder: no machine can take '%s' now; it waits:\n", x->path);
	for (size_t i = 0; r == 0 && i < c.nrows; i++)
		if (sched_why_may_fit(c.rows[i].why))
			r = buf_printf(&b, "  %s: %s\n", c.rows[i].name, c.rows[i].text);
	if (r == 0) {
		x->said_wait = true;
		remote_log(e, &(struct rjob){x, NULL}, b.data, b.len);
	}
	buf_release(&b);
	sched_choice_release(&c);
}

/* Where X runs (its locks held, its outputs not valid): 0 locally (a
 * slot of the local machine taken), 1 when it was handed to a worker or
 * parked (its locks released), or a negative code (no machine can ever
 * build it: the message is the table). */
static int pick(struct engine *e, struct ent *x)
{
	struct sched_pool *pool = offloader_pool(e->off);
	struct sched_choice c = SCHED_CHOICE_INIT;
	struct sched_request rq = {.system = x->d.system};
	const char *fv[64], *pl = drv_env_get(&x->d, "preferLocalBuild");
	char fbuf[1024];
	uint64_t now = (uint64_t)builder_now_ms();
	int r;

	features_of(&x->d, fbuf, sizeof(fbuf), fv, 64);
	inputs_of(e, x);
	rq.inputs = x->in;
	rq.ninputs = x->nin;
	rq.features = fv;
	rq.prefer_local = pl && (!strcmp(pl, "1") || !strcmp(pl, "true"));
	if ((r = sched_pick(pool, &rq, now, &c)) != 0)
		return r;
	if (c.verdict == SCHED_PICK_NEVER) {
		struct buf b = BUF_INIT(16384);

		r = buf_printf(&b, "no machine can build '%s' (system %s, features:", x->path,
			       x->d.system);
		for (size_t i = 0; r == 0 && fv[i]; i++)
			r = buf_printf(&b, " %s", fv[i]);
		if (r == 0)
			r = buf_puts(&b, fv[0] ? ")" : " none)");
		for (size_t i = 0; r == 0 && i < c.nrows; i++)
			r = buf_printf(&b, "\n  %s: %s", c.rows[i].name, c.rows[i].text);
		if (r == 0 && buf_putc(&b, 0) == 0)
			r = err_set(ERR_NOTFOUND, "%s", b.data);
		buf_release(&b);
		sched_choice_release(&c);
		unlock_all(e, x);
		return r;
	}
	if (c.verdict == SCHED_PICK_WAIT) {
		/* The wake-up time first: releasing the choice resets it. */
		bool slot_wait = c.slot_wait;

		x->wake = c.wake;
		sched_choice_release(&c);
		unlock_all(e, x);
		x->state = J_PARKED;
		/* Explained only when not merely queued, and once: re-picks
		 * of parked builds are frequent. */
		if (!slot_wait && !x->said_wait)
			say_waiting(e, x, &rq, now);
		return 1;
	}
	x->machine = c.machine;
	sched_choice_release(&c);
	sched_machine_start(pool, x->machine, 0);
	x->on_pool = true;
	if (x->machine == SCHED_LOCAL)
		return 0;
	/* The download takes the outputs' locks to register them. */
	unlock_all(e, x);
	{
		struct offloader_job j = {x->bo.timeout, x->bo.max_silent, x->bo.cores};
		struct rjob *rj = calloc(1, sizeof(*rj));

		if (!rj || (r = offloader_start(e->off, x->machine, x->path, &j, rj)) != 0) {
			if (!rj)
				r = err_set(ERR_NOMEM, "out of memory");
			free(rj);
			pool_end(e, x, false);
			return r;
		}
		rj->x = x;
		rj->next = e->rjobs;
		e->rjobs = rj;
		x->rj = rj;
	}
	x->state = J_REMOTE;
	ev(e, ENGINE_BUILDING, x, offloader_name(e->off, x->machine));
	return 1;
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
		ev(e, ENGINE_VALID, x, NULL);
		job_end(e, x, ENGINE_ST_VALID, NULL);
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
	if (e->off) {
		if ((r = pick(e, x)) != 0) {
			if (r < 0)
				job_fail_start(e, x);
			return;
		}
	}
	if ((r = builder_start(&x->b, e->s, x->path, &x->d, &x->bo)) != 0) {
		pool_end(e, x, false);
		job_fail_start(e, x);
		return;
	}
	x->state = J_RUNNING;
	ev(e, ENGINE_BUILDING, x, NULL);
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
			ev(e, ENGINE_WAITING, x, NULL);
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
	if (active_grow(e) != 0)
		return ERR_NOMEM;
	x->tries = 0;
	if (!wanted(x)) {
		/* Handed out, but every request that wants it has stopped. */
		e->active[e->nactive++] = x;
		x->state = J_WAITING; /* so that cancel_job deactivates it */
		cancel_job(e, x);
		return 0;
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
	int status = ENGINE_ST_BUILT;

	if (r == 0) {
		e->res->built++;
		ev(e, ENGINE_BUILT, x, NULL);
	} else {
		status = ENGINE_ST_FAILED;
		e->res->failed++;
		if (builder_timed_out(x->b)) {
			e->res->timed_out++;
			status = ENGINE_ST_TIMED_OUT;
		}
		ev(e, ENGINE_FAILED, x, msg);
		if (builder_kept_dir(x->b))
			ev(e, ENGINE_KEPT, x, builder_kept_dir(x->b));
	}
	builder_free(x->b);
	x->b = NULL;
	job_end(e, x, status, msg);
}

/* Built and checked, not yet registered: its users may already run (see
 * engine_turn()).  NULL when PATH is not an output of such a build. */
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
		if (x->status < 0)
			finalize(e, x, ENGINE_ST_CANCELLED, NULL);
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
	const struct engine_opts *o = t->e->o;

	if (o->log)
		o->log(o->ctx, t->x->path, p, n);
	if (o->rq_log)
		for (size_t i = 0; i < t->x->nrefs; i++)
			o->rq_log(o->ctx, t->x->refs[i].rq->ctx, t->x->path, p, n);
}

/* Kills what runs and cancels what waits (interrupt or internal error). */
static void stop_all(struct engine *e)
{
	sched_stop(e->sch);
	while (e->nactive) {
		struct ent *x = e->active[e->nactive - 1];

		kill_job(e, x);
		if (x->state != J_ENDED)
			deactivate(e, x);
		sched_cancel(e->sch, (size_t)x->job);
		if (x->status < 0) {
			ev(e, ENGINE_CANCELLED, x, NULL);
			finalize(e, x, ENGINE_ST_CANCELLED, NULL);
		}
	}
	for (size_t i = 0; i < e->njobs; i++) {
		struct ent *y = e->jobs[i];
		enum sched_state st = sched_state(e->sch, i);

		if (y->job == (long)i && y->status < 0 &&
		    (st == SCHED_CANCELLED || st == SCHED_DEP_FAILED)) {
			ev(e, ENGINE_CANCELLED, y, NULL);
			finalize(e, y, ENGINE_ST_CANCELLED, NULL);
		}
	}
}

/* How long built outputs may wait to be registered together while other
 * builds run (they wait no longer once nothing else runs). */
#define COMMIT_MS 100

/* Starts what the scheduler allows; commits at once when nothing runs. */
static int kick(struct engine *e)
{
	for (;;) {
		size_t id;
		int r;

		while (sched_next(e->sch, &id) == 1)
			if ((r = job_start(e, e->jobs[id])) != 0)
				return r;
		if (e->nactive == 0 && e->npending) {
			/* Nothing else runs: no reason to wait. */
			if ((r = commit_pending(e)) != 0)
				return r;
			continue;
		}
		return 0;
	}
}

static int fail(struct engine *e, int r)
{
	char saved[2048];

	snprintf(saved, sizeof(saved), "%s", err_msg());
	stop_all(e);
	drop_pending(e);
	/* The scheduler is stopped for good: requests that come later get a
	 * new one (engine_reset). */
	e->broken = true;
	return err_set(r, "%s", saved);
}

int engine_watch(struct engine *e, const struct pollfd **fds, size_t *n, int64_t *deadline)
{
	size_t nf = 0;
	int64_t dl = -1;

	if (e->o->cancel_fd >= 0) {
		e->fds[nf] = (struct pollfd){.fd = e->o->cancel_fd, .events = POLLIN};
		e->owner[nf++] = SIZE_MAX;
	}
	for (size_t a = 0; a < e->nactive; a++) {
		struct ent *x = e->active[a];

		if (x->state == J_WAITING) {
			e->fds[nf] = (struct pollfd){.fd = x->waiter_fd, .events = POLLIN};
			e->owner[nf++] = a;
		} else if (x->state == J_RUNNING) {
			size_t k = builder_pollfds(x->b, e->fds + nf);
			int64_t d = builder_deadline(x->b);

			for (size_t i = 0; i < k; i++)
				e->owner[nf + i] = a;
			nf += k;
			if (d >= 0 && (dl < 0 || d < dl))
				dl = d;
		}
	}
	if (e->npending && (dl < 0 || e->pending_since + COMMIT_MS < dl))
		dl = e->pending_since + COMMIT_MS;
	if (e->off) {
		/* One timer for the earliest moment a parked job may fit. */
		for (size_t a = 0; a < e->nactive; a++) {
			struct ent *x = e->active[a];

			if (x->state == J_PARKED && x->wake != SCHED_NO_WAKE &&
			    (dl < 0 || (int64_t)x->wake < dl))
				dl = (int64_t)x->wake;
		}
		e->fds[nf] = (struct pollfd){.fd = offloader_fd(e->off), .events = POLLIN};
		e->owner[nf++] = SIZE_MAX - 1;
	}
	e->nfds = nf;
	*fds = e->fds;
	*n = nf;
	*deadline = dl;
	return 0;
}

static void remote_log(void *ctx, void *tag, const void *p, size_t n)
{
	struct engine *e = ctx;
	struct rjob *rj = tag;
	struct log_tramp t = {e, rj->x};

	if (rj->x)
		log_tramp(&t, p, n);
}

static void remote_end(void *ctx, void *tag, size_t machine, int rc, const char *msg,
		       const struct offload_result *res)
{
	struct engine *e = ctx;
	struct rjob *rj = tag, **pp;
	struct ent *x = rj->x;
	struct sched_pool *pool = offloader_pool(e->off);
	uint64_t now = (uint64_t)builder_now_ms();
	unsigned max = e->o->max_tries ? e->o->max_tries : 3;
	char m[2048];

	for (pp = &e->rjobs; *pp; pp = &(*pp)->next)
		if (*pp == rj) {
			*pp = rj->next;
			break;
		}
	free(rj);
	if (x) {
		x->rj = NULL;
		pool_end(e, x, rc == 0);
	} else {
		sched_machine_end(pool, machine, 0, rc == 0);
		e->unpark = true;
	}
	sched_machine_transfer(pool, machine, res->up_bytes,
			       res->upload_ms > 0 ? (uint64_t)res->upload_ms : 0, res->down_bytes);
	if (res->welcomed)
		sched_machine_report(pool, machine, now, res->load, res->cores, res->free);
	if (rc >= 0)
		sched_machine_ok(pool, machine);
	else
		sched_machine_failed(pool, machine, now, msg);
	if (!x)
		return;
	if (rc == 0) {
		/* Its inputs were sent there, its outputs made there. */
		for (size_t i = 0; i < x->nin; i++)
			sched_machine_holds(pool, machine, x->in[i].path);
		for (size_t i = 0; i < x->d.noutputs; i++)
			sched_machine_holds(pool, machine, x->d.outputs[i].path);
		e->res->built++;
		ev(e, ENGINE_BUILT, x, NULL);
		job_end(e, x, ENGINE_ST_BUILT, NULL);
	} else if (rc == OFFLOAD_PERMANENT) {
		e->res->failed++;
		if (res->timed_out)
			e->res->timed_out++;
		ev(e, ENGINE_FAILED, x, msg);
		job_end(e, x, res->timed_out ? ENGINE_ST_TIMED_OUT : ENGINE_ST_FAILED, msg);
	} else if (++x->tries >= max) {
		snprintf(m, sizeof(m), "gave up after %u tries: %s", x->tries, msg);
		e->res->failed++;
		ev(e, ENGINE_FAILED, x, m);
		job_end(e, x, ENGINE_ST_FAILED, m);
	} else {
		/* Transient: nothing was registered; pick again at once. */
		snprintf(m, sizeof(m), "yonder: building on %s failed (%s); trying again\n",
			 offloader_name(e->off, machine) ? offloader_name(e->off, machine) : "?",
			 msg);
		remote_log(e, &(struct rjob){x, NULL}, m, strlen(m));
		x->state = J_PARKED;
		x->wake = now;
	}
}

/* Parked jobs try again: all of them after a slot freed, else those
 * whose wake-up time came. */
static int unpark(struct engine *e, int64_t now)
{
	bool all = e->unpark;
	struct ent **v;
	size_t n = 0;

	e->unpark = false;
	if (!(v = malloc((e->nactive + 1) * sizeof(*v))))
		return err_set(ERR_NOMEM, "out of memory");
	for (size_t a = 0; a < e->nactive; a++) {
		struct ent *x = e->active[a];

		if (x->state == J_PARKED &&
		    (all || (x->wake != SCHED_NO_WAKE && (int64_t)x->wake <= now)))
			v[n++] = x;
	}
	for (size_t i = 0; i < n; i++) {
		struct ent *x = v[i];

		if (x->state != J_PARKED)
			continue;
		if (!wanted(x)) {
			cancel_job(e, x);
			continue;
		}
		x->state = J_IDLE;
		job_try(e, x);
	}
	free(v);
	return 0;
}

/* Handles what poll() found in e->fds (PR: its result). */
static int dispatch(struct engine *e, int pr)
{
	size_t nf = e->nfds, nending = 0, id;
	int64_t now = builder_now_ms();
	int r;

	if (pr > 0 && e->o->cancel_fd >= 0 && e->fds[0].revents) {
		e->res->interrupted = true;
		stop_all(e);
		/* What was built is registered all the same. */
		if (e->npending)
			return commit_pending(e);
		return 0;
	}
	/* Walk the active jobs from the end: one that ends leaves the list,
	 * swapping the last one into its place. */
	for (size_t a = e->nactive; a-- > 0;) {
		struct ent *x = e->active[a];
		bool ready = false;

		if (a >= e->nactive)
			continue; /* the list shrank under us (a failure stopped others) */
		for (size_t i = 0; i < nf && pr > 0; i++)
			if (e->owner[i] == a && e->fds[i].revents)
				ready = true;
		if (x->state == J_WAITING && ready) {
			reap_waiter(x, false);
			job_try(e, x);
		} else if (x->state == J_RUNNING) {
			int64_t d = builder_deadline(x->b);
			struct log_tramp t = {e, x};

			if (!ready && !(d >= 0 && d <= now))
				continue;
			r = builder_step(x->b, log_tramp, &t);
			if (r < 0)
				return r;
			if (r == 1) {
				/* A clean exit is taken as a success at once:
				 * its slot and its users start while its
				 * outputs are checked, and are then registered
				 * with others (on a chain, the next builders
				 * run meanwhile).  If that fails, job_end takes
				 * the success back and stops the users.  Another
				 * end must be known as a failure before
				 * anything else starts (without --keep-going
				 * nothing would). */
				x->state = J_ENDING;
				pool_end(e, x, builder_exited_ok(x->b));
				if (builder_exited_ok(x->b)) {
					x->provisional = true;
					sched_done(e->sch, (size_t)x->job, true);
				}
				e->ending[nending++] = x;
			}
		}
	}
	/* The descriptors were matched with the active list as it was. */
	for (size_t i = 0; e->off && i < nf && pr > 0; i++)
		if (e->owner[i] == SIZE_MAX - 1 && e->fds[i].revents) {
			struct offloader_hooks h = {e, remote_log, remote_end};

			offloader_drain(e->off, &h);
		}
	e->nfds = 0;
	if (e->off && (r = unpark(e, now)) != 0)
		return r;
	/* Start what the freed slots and the provisional successes allow
	 * before checking the ended ones. */
	while (sched_next(e->sch, &id) == 1)
		if ((r = job_start(e, e->jobs[id])) != 0)
			return r;
	for (size_t i = 0; i < nending; i++) {
		struct ent *x = e->ending[i];

		if (builder_prepare(x->b, pending_info, e) != 0) {
			char msg[2048];

			snprintf(msg, sizeof(msg), "%s", err_msg());
			report_end(e, x, -1, msg);
		} else if ((r = add_pending(e, x)) != 0) {
			return r;
		}
	}
	if (e->npending && builder_now_ms() >= e->pending_since + COMMIT_MS &&
	    (r = commit_pending(e)) != 0)
		return r;
	return 0;
}

int engine_turn(struct engine *e, int timeout_ms)
{
	const struct pollfd *fds;
	size_t nf;
	int64_t dl, now;
	int r, pr, tmo;

	if (e->broken)
		return 0;
	if ((r = kick(e)) != 0)
		return fail(e, r);
	engine_watch(e, &fds, &nf, &dl);
	now = builder_now_ms();
	tmo = dl < 0 ? -1 : dl <= now ? 0 : dl - now > INT_MAX ? INT_MAX : (int)(dl - now);
	if (timeout_ms >= 0 && (tmo < 0 || timeout_ms < tmo))
		tmo = timeout_ms;
	if (e->nactive == 0 && e->npending == 0)
		tmo = 0; /* nothing to wait for but an interrupt: just look */
	pr = poll(e->fds, nf, tmo);
	if (pr < 0 && errno != EINTR)
		return fail(e, err_sys(ERR_INTERNAL, "poll"));
	if ((r = dispatch(e, pr)) != 0 || (r = kick(e)) != 0)
		return fail(e, r);
	return 0;
}

/* ---- the object ------------------------------------------------------ */

static void engine_clear(struct engine *e)
{
	sched_free(e->sch);
	e->sch = NULL;
	for (size_t i = 0; i < e->nents; i++)
		ent_free(e->ents[i]);
	e->nents = 0;
	e->njobs = 0;
	free(e->map);
	e->map = NULL;
	e->mapcap = 0;
}

int engine_new(struct engine **out, struct store *s, const struct engine_opts *o)
{
	/* Jobs whose builder exited give their slot back before they leave
	 * the active list: at most twice max_jobs are active. */
	size_t maxact = 2 * (size_t)(o->max_jobs ? o->max_jobs : 1), maxfds = fdcap(maxact);
	struct engine *e;
	int r;

	*out = NULL;
	if (!(e = calloc(1, sizeof(*e))))
		return err_set(ERR_NOMEM, "out of memory");
	e->s = s;
	e->o = o;
	e->off = o->off;
	e->res = &e->cnt;
	e->capactive = maxact;
	if (!(e->fds = calloc(maxfds, sizeof(*e->fds))) ||
	    !(e->owner = calloc(maxfds, sizeof(*e->owner))) ||
	    !(e->ending = calloc(maxact, sizeof(*e->ending))) ||
	    !(e->active = calloc(maxact, sizeof(*e->active)))) {
		engine_free(e);
		return err_set(ERR_NOMEM, "out of memory");
	}
	/* The scheduler keeps going: a request that does not is stopped by
	 * itself (stop_req), without stopping the others. */
	if ((r = sched_new(&e->sch, sched_slots(e), true)) != 0) {
		engine_free(e);
		return r;
	}
	*out = e;
	return 0;
}

static void rq_unlink(struct engine *e, struct engine_req *rq)
{
	if (rq->prev)
		rq->prev->next = rq->next;
	else if (e->reqs == rq)
		e->reqs = rq->next;
	if (rq->next)
		rq->next->prev = rq->prev;
	rq->next = rq->prev = NULL;
}

void engine_req_free(struct engine *e, struct engine_req *rq)
{
	if (!rq)
		return;
	rq_unlink(e, rq);
	for (size_t i = 0; i < rq->n; i++) {
		struct ent *x = rq->v[i].x;
		size_t k;

		for (k = 0; k < x->nrefs && x->refs[k].rq != rq; k++)
			;
		if (k < x->nrefs) {
			memmove(&x->refs[k], &x->refs[k + 1],
				(x->nrefs - k - 1) * sizeof(*x->refs));
			x->nrefs--;
			if (x->nrefs == 0 && x->status < 0 && x->job >= 0 && !e->broken)
				cancel_job(e, x);
		}
		free(rq->v[i].msg);
	}
	free(rq->v);
	free(rq);
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	while (e->reqs)
		engine_req_free(e, e->reqs);
	if (e->sch) {
		stop_all(e);
		drop_pending(e);
	}
	engine_clear(e);
	while (e->rjobs) {
		struct rjob *rj = e->rjobs;

		/* Its worker still reports; the offloader drops the report. */
		e->rjobs = rj->next;
		free(rj);
	}
	free(e->ents);
	free(e->jobs);
	free(e->active);
	free(e->pending);
	free(e->fds);
	free(e->owner);
	free(e->ending);
	free(e);
}

bool engine_idle(const struct engine *e)
{
	return e->nactive == 0 && e->npending == 0 &&
	       (e->broken || !e->sch || sched_finished(e->sch));
}

/* Forgets everything when nobody wants anything: a long-lived engine does
 * not keep every derivation it ever met. */
static int engine_reset(struct engine *e)
{
	if (e->reqs || e->nactive || e->npending)
		return 0;
	engine_clear(e);
	e->broken = false;
	return sched_new(&e->sch, sched_slots(e), true);
}

int engine_want(struct engine *e, const char *const *drvs, size_t n, bool keep_going,
		const struct builder_opts *bo, void *rq_ctx, struct engine_req **out)
{
	struct engine_req *rq;
	int r = 0;

	*out = NULL;
	if (e->broken && !e->reqs && (r = engine_reset(e)) != 0)
		return r;
	if (e->broken)
		return err_set(ERR_INTERNAL, "build engine: stopped after an internal failure");
	if (!e->reqs && e->nents > 4096 && (r = engine_reset(e)) != 0)
		return r;
	if (!(rq = calloc(1, sizeof(*rq))))
		return err_set(ERR_NOMEM, "out of memory");
	rq->ctx = rq_ctx;
	rq->keep_going = keep_going;
	rq->bo = bo ? *bo : e->o->b;
	rq->next = e->reqs;
	if (e->reqs)
		e->reqs->prev = rq;
	e->reqs = rq;
	for (size_t i = 0; i < n && r == 0; i++) {
		bool job = false;
		struct ent *x;

		if ((r = plan(e, drvs[i], rq, &job)) != 0)
			break;
		if (!job && (x = find(e, drvs[i])) && !(x->nrefs && x->refs[x->nrefs - 1].rq == rq))
			r = rq_push(rq, x, ENGINE_ST_VALID, NULL);
	}
	if (r != 0) {
		engine_req_free(e, rq);
		return r;
	}
	/* A job planned on a failed one is dep-failed at once. */
	for (size_t i = 0; i < rq->n; i++)
		if (rq->v[i].status < 0 &&
		    sched_state(e->sch, (size_t)rq->v[i].x->job) == SCHED_DEP_FAILED) {
			scan_dep_failed(e);
			break;
		}
	*out = rq;
	return 0;
}

bool engine_req_finished(const struct engine_req *rq)
{
	return rq->left == 0;
}

size_t engine_req_count(const struct engine_req *rq)
{
	return rq->n;
}

const struct drv *engine_req_drv(const struct engine_req *rq, size_t i)
{
	return &rq->v[i].x->d;
}

void engine_req_entry(const struct engine_req *rq, size_t i, const char **drv, int *status,
		      const char **msg)
{
	*drv = rq->v[i].x->path;
	*status = rq->v[i].status;
	*msg = rq->v[i].msg ? rq->v[i].msg : "";
}

void engine_req_progress(const struct engine_req *rq, size_t *done, size_t *total, size_t *running,
			 size_t *waiting, size_t *failed)
{
	*done = *total = *running = *waiting = *failed = 0;
	for (size_t i = 0; i < rq->n; i++) {
		int st = rq->v[i].status;

		(*total)++;
		if (st >= 0) {
			(*done)++;
			if (st == ENGINE_ST_FAILED || st == ENGINE_ST_TIMED_OUT ||
			    st == ENGINE_ST_DEP_FAILED)
				(*failed)++;
		} else if (rq->v[i].x->state == J_RUNNING || rq->v[i].x->state == J_WAITING ||
			   rq->v[i].x->state == J_ENDING) {
			(*running)++;
		} else {
			(*waiting)++;
		}
	}
}

void engine_offload_changed(struct engine *e)
{
	e->unpark = true;
}

void engine_interrupt(struct engine *e)
{
	if (e->broken || !e->sch)
		return;
	stop_all(e);
	if (e->npending && commit_pending(e) != 0)
		drop_pending(e);
}

const struct engine_result *engine_counts(const struct engine *e)
{
	return &e->cnt;
}

int engine_build(struct store *s, const char *const *drvs, size_t n, const struct engine_opts *o,
		 struct engine_result *res)
{
	struct engine *e = NULL;
	struct engine_req *rq = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = engine_new(&e, s, o)) != 0)
		return r;
	if ((r = engine_want(e, drvs, n, o->keep_going, NULL, NULL, &rq)) != 0)
		goto out;
	if (o->counts) {
		size_t c[5];

		engine_req_progress(rq, &c[0], &c[1], &c[2], &c[3], &c[4]);
		o->counts(o->ctx, c[0], c[1], c[2], c[3], c[4]);
	}
	while (r == 0 && !(engine_req_finished(rq) && engine_idle(e)) && !e->cnt.interrupted) {
		if (engine_idle(e) && !engine_req_finished(rq)) {
			r = err_set(ERR_INTERNAL, "build engine: nothing runs, but not finished");
			break;
		}
		r = engine_turn(e, -1);
		if (o->counts) {
			size_t c[5];

			engine_req_progress(rq, &c[0], &c[1], &c[2], &c[3], &c[4]);
			o->counts(o->ctx, c[0], c[1], c[2], c[3], c[4]);
		}
	}
	/* The requests' entries of a job that was provisional when an
	 * interrupt came are final now, through commit_pending. */
out:
	engine_req_free(e, rq);
	*res = e->cnt;
	engine_free(e);
	return r;
}
