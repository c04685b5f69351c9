/* offloader.h — the daemon's build machines: the scheduling pool
 * (sched_pick.h) built from machines.scm, and one worker thread per
 * machine slot that owns a persistent SSH session (remote.h), reused
 * across builds, and runs offload_build() (offload.h) for the engine.
 *
 * The pool is only touched by the caller's thread (the event loop).
 * Workers report back through one descriptor (offloader_fd, readable when
 * messages wait): the loop drains them with offloader_drain(), which
 * hands each log chunk and each end to the caller's hooks, in order.
 * Nothing here prints or exits.
 */
#ifndef YONDER_OFFLOADER_H
#define YONDER_OFFLOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "offload.h"

struct machines;
struct sched_pool;
struct sched_local;
struct store;
struct buf;

struct offloader;

/* An unused SSH session is closed after this long (the environment
 * variable YONDER_OFFLOAD_IDLE_TIMEOUT, in seconds, overrides it; 0 keeps
 * sessions for ever). */
#define OFFLOADER_IDLE_MS 120000

struct offloader_opts {
	const char *secret_file; /* signs uploads */
	const char *acl_file;    /* checks downloads */
};

/* S is the daemon's store (its directories are reopened per worker).
 * L is the local machine; MS (kept: must outlive the offloader, which
 * frees it) the machines.  ERR_* for an unreadable key or ACL. */
int offloader_new(struct offloader **out, struct store *s, const struct sched_local *l,
		  struct machines *ms, const struct offloader_opts *o);
/* Stops the workers (waiting for the builds they carry to end) and frees
 * everything.  NULL is a no-op. */
void offloader_free(struct offloader *f);
/* The new machines (kept, freed by the offloader): sched_pool_load. */
/* Reads the ACL file again (SIGHUP): builds started from now on check
 * downloads against it; those under way keep the one they started with.
 * On failure the current one stays. */
int offloader_reload_acl(struct offloader *f);
int offloader_reload(struct offloader *f, struct machines *ms);

struct sched_pool *offloader_pool(struct offloader *f);
/* The machine of pool index I (NULL: the local machine or unknown). */
const char *offloader_name(struct offloader *f, size_t i);
int offloader_fd(const struct offloader *f);

struct offloader_job {
	unsigned timeout, max_silent, cores;
};

/* Hands the build of DRV to a free slot of machine I (after
 * SCHED_PICK_RUN and sched_machine_start).  TAG comes back with its log
 * and its end. */
int offloader_start(struct offloader *f, size_t i, const char *drv, const struct offloader_job *j,
		    void *tag);

struct offloader_hooks {
	void *ctx;
	void (*log)(void *ctx, void *tag, const void *p, size_t n);
	/* RC: 0, OFFLOAD_PERMANENT or a negative code with MSG. */
	void (*end)(void *ctx, void *tag, size_t machine, int rc, const char *msg,
		    const struct offload_result *res);
};

/* Hands every message waiting to H. */
void offloader_drain(struct offloader *f, const struct offloader_hooks *h);

/* `yonder offload status`: the pool at NOW, as text or JSON, into B. */
int offloader_status(struct offloader *f, uint64_t now, bool json, struct buf *b);
/* The same for any pool; RUNNING: whether a daemon keeps it (else the
 * report says "daemon not running"). */
int offloader_pool_status(const struct sched_pool *p, uint64_t now, bool json, bool running,
			  struct buf *b);

#endif
