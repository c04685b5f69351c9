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
};

struct engine_opts {
	unsigned max_jobs; /* builds at once, >= 1 */
	bool keep_going;
	struct builder_opts b;
	int cancel_fd; /* -1, or a descriptor that becomes readable to interrupt */
	void *ctx;
	/* Each may be NULL.  DRV is the .drv path of the build concerned. */
	void (*log)(void *ctx, const char *drv, const void *p, size_t n);
	void (*event)(void *ctx, enum engine_event ev, const char *drv, const char *msg);
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

/* Makes the outputs of the N derivations DRVS (.drv store paths) valid,
 * building what is needed.  Returns 0 when the plan ran (whatever the
 * builds' outcome: see *RES, zeroed first), or a negative code for a
 * problem found while planning (nothing ran) or an internal failure (what
 * ran was killed). */
int engine_build(struct store *s, const char *const *drvs, size_t n, const struct engine_opts *o,
		 struct engine_result *res);

#endif
