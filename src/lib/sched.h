/* sched.h — the one place that decides which pending build runs next.
 *
 * Pure logic over state, no I/O, so that every decision is unit-tested
 * (tests/unit/test_sched.c).  The caller (engine.h, later the daemon) adds
 * one node per derivation to build, with edges to the nodes of the input
 * derivations it needs built first; it asks sched_next() what to start and
 * reports each end with sched_done().
 *
 * Nodes are added inputs first (sched_add takes the node's dependencies,
 * which must exist already), so the graph cannot have a cycle and node ids
 * are a topological order.
 *
 * Decisions:
 *   - a node is ready when every dependency is done;
 *   - at most MAX_JOBS nodes hold a slot at once (a node holds one from
 *     sched_next until sched_release or sched_done);
 *   - among ready nodes the one with the longest chain of nodes waiting on
 *     it goes first (so a deep chain is not starved by many leaves), ties
 *     by id (the order the caller added them);
 *   - a failure makes every node that depends on it, directly or not,
 *     SCHED_DEP_FAILED; without KEEP_GOING it also stops: nothing new is
 *     started, what runs is left to finish, and what was still to run
 *     counts as SCHED_CANCELLED.  With KEEP_GOING everything that does not
 *     depend on the failure still runs.
 */
#ifndef YONDER_SCHED_H
#define YONDER_SCHED_H

#include <stdbool.h>
#include <stddef.h>

enum sched_state {
	SCHED_WAITING,    /* some dependency is not done yet */
	SCHED_READY,      /* could start */
	SCHED_RUNNING,    /* handed out by sched_next */
	SCHED_DONE,       /* sched_done(ok) */
	SCHED_FAILED,     /* sched_done(!ok) */
	SCHED_DEP_FAILED, /* a dependency failed: it will never run */
	SCHED_CANCELLED,  /* not started because the scheduler stopped */
	SCHED_NSTATES
};

struct sched;

/* A scheduler running at most MAX_JOBS (>= 1) nodes at once.  *OUT is
 * freed with sched_free().  ERR_INVALID for MAX_JOBS 0, ERR_NOMEM. */
int sched_new(struct sched **out, unsigned max_jobs, bool keep_going);
void sched_free(struct sched *s);

/* Adds a node that needs the N nodes DEPS (existing ids; duplicates are
 * fine) and sets *ID to its id (0, 1, 2, … in the order of adding).  A
 * node whose dependencies are all done is ready at once; one with a failed
 * dependency is SCHED_DEP_FAILED at once.  ERR_INVALID for an unknown
 * dependency, ERR_NOMEM. */
int sched_add(struct sched *s, const size_t *deps, size_t n, size_t *id);

/* The next node to start: 1 with *ID set (the node is now running), or 0
 * when none can start now (no slot free, nothing ready, or stopped). */
int sched_next(struct sched *s, size_t *id);

/* The running node ID no longer needs its slot (its builder has exited;
 * what is left, registering its outputs, takes no slot), so another node
 * may start; ID stays running until sched_done.  A no-op when ID holds no
 * slot. */
void sched_release(struct sched *s, size_t id);

/* Reports the end of the running node ID (releasing its slot).  OK: it is
 * done and the nodes waiting for it may become ready.  !OK: see the top
 * of this file. */
void sched_done(struct sched *s, size_t id, bool ok);

/* Takes back the success of ID (done, but its results turned out bad
 * after its users were let run): ID becomes SCHED_FAILED and, as for a
 * failure, everything that needs it becomes SCHED_DEP_FAILED — including
 * users already running, which give back their slots (the caller stops
 * them; sched_done on them is then a no-op).  Users already done stay
 * done.  A no-op unless ID is done. */
void sched_revoke(struct sched *s, size_t id);

/* Nobody wants ID any more (the daemon's clients that asked for it went
 * away): a waiting, ready or running node becomes SCHED_CANCELLED and
 * gives back its slot (the caller stops it if it runs).  The nodes that
 * need ID are left as they are: the caller cancels them too (whoever
 * wanted them wanted ID).  A no-op for a node that has ended. */
void sched_cancel(struct sched *s, size_t id);

/* Stops starting nodes (an interrupt): as a failure without KEEP_GOING
 * would, but without failing anything. */
void sched_stop(struct sched *s);

/* True when nothing runs and nothing more will start: the caller is done
 * (every node is then done, failed, dep-failed or cancelled). */
bool sched_finished(const struct sched *s);

size_t sched_size(const struct sched *s);
enum sched_state sched_state(const struct sched *s, size_t id);
/* The number of nodes in STATE. */
size_t sched_count(const struct sched *s, enum sched_state state);
/* The length of the longest chain of nodes that need ID, ID included (the
 * priority of sched_next). */
size_t sched_height(struct sched *s, size_t id);

#endif
