/* engine.h — realising derivations on this machine: the closure of what
 * is asked, in dependency order, several builds at once.
 *
 * engine_build() plans, then runs one poll loop:
 *
 *   - Plan: from each asked .drv (all its outputs), walk the input
 *     derivations (the outputs each input is used for).  A derivation
 *     whose wanted outputs are all valid is skipped, and so is everything
 *     below it; the others become nodes of the scheduler (sched.h), which
 *     alone decides what starts next.  Input sources must be valid and
 *     every .drv must be in the store: otherwise nothing runs (an error).
 *   - Start: take the path locks of the node's outputs without waiting.
 *     When one is busy (another build of the same output, in this process
 *     or another), a small forked child waits for the locks (and then
 *     exits, releasing them) while the loop goes on; when it ends the
 *     engine tries again.  Holding the locks, outputs found valid mean
 *     someone else built them: the node is done without building.
 *   - Run: builder.h, with the builder's output fed to the LOG hook.
 *   - The loop polls the builders' pipes and process descriptors, the lock
 *     waiters and CANCEL_FD, with the nearest timeout as poll's timeout:
 *     nothing busy-waits and nothing sleeps.
 *
 * Interrupting (CANCEL_FD readable) kills every running build (its
 * outputs are removed, its log kept) and every lock waiter.
 */
#ifndef YONDER_ENGINE_H
#define YONDER_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "builder.h"

struct store;

enum engine_event {
	ENGINE_BUILDING,   /* a build starts */
	ENGINE_WAITING,    /* its outputs are locked by another build: waiting */
	ENGINE_BUILT,      /* it succeeded; MSG is NULL */
	ENGINE_VALID,      /* another build made the outputs valid meanwhile */
	ENGINE_FAILED,     /* it failed (or could not start); MSG says why */
	ENGINE_KEPT,       /* MSG is the build directory kept (--keep-failed) */
	ENGINE_DEP_FAILED, /* it cannot be built: a dependency failed */
	ENGINE_CANCELLED,  /* nobody wants it any more, or interrupted: not built */
};

/* The final status of a derivation, as the daemon protocol numbers them
 * (doc/PROTOCOL.md). */
enum engine_status {
	ENGINE_ST_BUILT = 0,
	ENGINE_ST_VALID = 1,
	ENGINE_ST_FAILED = 2,
	ENGINE_ST_TIMED_OUT = 3,
	ENGINE_ST_DEP_FAILED = 4,
	ENGINE_ST_CANCELLED = 5,
};

struct offloader;

struct engine_opts {
	unsigned max_jobs; /* builds at once, >= 1 (with OFF: local builds, may be 0) */
	/* NULL: every build is local.  Else the build machines (offloader.h):
	 * sched_pick chooses where each build runs, and a build that fails
	 * transiently on a machine is tried again up to MAX_TRIES times (0:
	 * 3) on whatever machine fits then. */
	struct offloader *off;
	unsigned max_tries;
	bool keep_going; /* engine_build only: see engine_want */
	struct builder_opts b;
	int cancel_fd; /* -1, or a descriptor that becomes readable to interrupt */
	void *ctx;
	/* Each may be NULL.  DRV is the .drv path of the build concerned. */
	void (*log)(void *ctx, const char *drv, const void *p, size_t n);
	void (*event)(void *ctx, enum engine_event ev, const char *drv, const char *msg);
	/* engine_build only: the counts of its derivations, when they change
	 * (as engine_req_progress). */
	void (*counts)(void *ctx, size_t done, size_t total, size_t running, size_t waiting,
		       size_t failed);
	/* The same, once per request that wants DRV (RQ_CTX is the one given
	 * to engine_want).  Hooks must not call back into the engine. */
	void (*rq_log)(void *ctx, void *rq_ctx, const char *drv, const void *p, size_t n);
	void (*rq_event)(void *ctx, void *rq_ctx, enum engine_event ev, const char *drv,
			 const char *msg);
};

struct engine_result {
	size_t built;       /* builds that succeeded */
	size_t valid;       /* nodes made valid by another build meanwhile */
	size_t failed;      /* builds that failed (timed out included) */
	size_t timed_out;   /* of which killed by a timeout */
	size_t not_started; /* nodes that failed before their builder ran */
	size_t dep_failed;  /* not built: a dependency failed */
	size_t cancelled;   /* not built: stopped after a failure, or interrupted */
	bool interrupted;
};

/* ---- The engine as an object (the daemon's) ---------------------------
 *
 * One engine holds one scheduler for every request: a derivation wanted
 * by several requests is one node, built once, reported to each.  The
 * caller drives it: engine_turn() starts what can start, waits up to a
 * timeout for the builders' descriptors, and handles what happened; an
 * event loop calls engine_watch() for the descriptors and the deadline
 * to wait for, and engine_turn(e, 0) when one of them is ready or due. */
struct engine;
struct engine_req;

/* S and O must outlive the engine.  *OUT is freed with engine_free(). */
int engine_new(struct engine **out, struct store *s, const struct engine_opts *o);
/* Kills what runs (outputs removed, logs kept) and frees everything; the
 * requests still open are freed too. */
void engine_free(struct engine *e);

/* A request for the outputs of the N derivations DRVS (valid .drv store
 * paths): the closure is planned into the shared graph (see the top of
 * this file; derivations already planned by other requests are shared).
 * Without KEEP_GOING, a failure in the request's closure drops its
 * interest in what has not started yet (which is cancelled unless another
 * request wants it).  RQ_CTX is passed to the rq_ hooks.  On error
 * nothing is planned for it (ERR_NOTFOUND for a missing input, …).  BO
 * (NULL: the engine's) are the builder options of the jobs it plans
 * (a job shared with an earlier request keeps that one's). */
int engine_want(struct engine *e, const char *const *drvs, size_t n, bool keep_going,
		const struct builder_opts *bo, void *rq_ctx, struct engine_req **out);
/* Ends a request (finished or not): what it alone wanted and has not
 * ended is cancelled, builds running for it alone are killed.  NULL is a
 * no-op. */
void engine_req_free(struct engine *e, struct engine_req *rq);
/* True when every derivation of the request has its final status. */
bool engine_req_finished(const struct engine_req *rq);
/* The request's derivations: the closure planned for it and the asked
 * derivations that were valid already.  STATUS is an enum engine_status,
 * or -1 while not final; MSG is "" or why it failed.  Owned by RQ. */
size_t engine_req_count(const struct engine_req *rq);
void engine_req_entry(const struct engine_req *rq, size_t i, const char **drv, int *status,
		      const char **msg);
/* The parsed derivation of entry I (owned by the engine). */
const struct drv *engine_req_drv(const struct engine_req *rq, size_t i);
/* Counts over the request's derivations. */
void engine_req_progress(const struct engine_req *rq, size_t *done, size_t *total, size_t *running,
			 size_t *waiting, size_t *failed);

/* One turn: start what can start, wait at most TIMEOUT_MS (-1: no limit)
 * for the builders, handle their output and ends.  0, or a negative code
 * for an internal failure (what ran was then killed). */
int engine_turn(struct engine *e, int timeout_ms);
/* What engine_turn would wait for: *N descriptors (owned by E, valid
 * until the next call) and *DEADLINE (CLOCK_MONOTONIC milliseconds as
 * builder_now_ms, or -1). */
int engine_watch(struct engine *e, const struct pollfd **fds, size_t *n, int64_t *deadline);
/* The build machines changed (offloader_reload): builds waiting for a
 * machine are placed again at the next engine_turn. */
void engine_offload_changed(struct engine *e);
/* Kills every running build and cancels everything pending. */
void engine_interrupt(struct engine *e);
/* True when nothing is running, waiting or pending. */
bool engine_idle(const struct engine *e);
/* The counts since engine_new. */
const struct engine_result *engine_counts(const struct engine *e);

/* Makes the outputs of the N derivations DRVS (.drv store paths) valid,
 * building what is needed (an engine with one request).  Returns 0 when
 * the plan ran (whatever the builds' outcome: see *RES, zeroed first), or
 * a negative code for a problem found while planning (nothing ran) or an
 * internal failure (what ran was killed). */
int engine_build(struct store *s, const char *const *drvs, size_t n, const struct engine_opts *o,
		 struct engine_result *res);

#endif
