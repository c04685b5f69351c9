/* sched_pick.h — which machine builds a derivation: the build machines of
 * machines.h and the local machine, their slots, load, free store space,
 * health, bandwidth and the store paths they are known to hold.
 *
 * Pure logic over state: no I/O, no clock (every function that needs the
 * time takes NOW, in milliseconds of the caller's monotonic clock, e.g.
 * ev_now_ms()), so that every decision is unit-tested without a network
 * (tests/unit/test_sched_pick.c).  doc/SCHEDULING.md states the rules and
 * works an example; in short:
 *
 *   - a machine FITS a build when its systems include the build's, the
 *     build's required features ⊆ its features ∪ mandatory features, its
 *     mandatory features ⊆ the required ones (machine_fits()), it is not
 *     down, it has a free slot, its load per core is under its
 *     overload-threshold (unless #f) and its store has at least
 *     SCHED_MIN_FREE bytes free;
 *   - among the fitting machines the one with the earliest expected finish
 *     runs it:  (queued work / slots + the build's work) / speed
 *               + bytes of inputs it lacks / bandwidth to it;
 *     ties go to the higher speed, then the local machine, then the name,
 *     then the port, then the order of the machines file;
 *   - a preferLocalBuild build runs locally whenever the local machine fits;
 *   - otherwise the build WAITs when some machine could fit it later (busy,
 *     overloaded, short of space or down for a while), and can NEVER run
 *     when no machine can (system, features, mandatory features, or
 *     --max-jobs 0 for the local machine).
 *
 * Machines are known by an index into the pool, stable for the pool's life:
 * 0 is the local machine, then the machines in the order they were first
 * loaded.  A machine dropped from the machines file by a later
 * sched_pool_load() keeps its index (it is "retired": never picked, left
 * out of tables, its running builds may end normally) and gets it back if
 * it reappears.
 *
 * Memory: the pool owns copies of everything it is given; strings it hands
 * out (names, reasons, lists) stay valid until sched_pool_free() or, for a
 * machine's reason, until its health changes.  Nothing here prints or
 * exits.
 */
#ifndef YONDER_SCHED_PICK_H
#define YONDER_SCHED_PICK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct machines;

#define SCHED_MIN_FREE          (100ull << 20)   /* store bytes a machine must have free */
#define SCHED_DEFAULT_BANDWIDTH (50.0 * 1048576) /* bytes/s before any measurement */
#define SCHED_DEFAULT_WORK      1.0              /* seconds on a speed-1 machine */
#define SCHED_BACKOFF_FIRST_MS  5000             /* the first down period */
#define SCHED_BACKOFF_FACTOR    3                /* each further failure */
#define SCHED_BACKOFF_MAX_MS    600000           /* the longest down period */
#define SCHED_REPORT_TTL_MS     60000            /* a free-space report is believed this long */
#define SCHED_LOAD_TTL_MS       10000            /* a load report is believed this long */
#define SCHED_MEASURE_MIN_BYTES (1u << 20)       /* smaller uploads say little about bandwidth */
#define SCHED_HELD_MAX          65536            /* store paths remembered per machine */
#define SCHED_POOL_MAX          16384            /* machines ever loaded, local included */
#define SCHED_REASON_MAX        1024             /* bytes of a down reason kept, NUL included */
#define SCHED_NO_WAKE           UINT64_MAX       /* no timer: only an event can unblock */

#define SCHED_LOCAL 0 /* the index of the local machine */

struct sched_pool;

/* The local machine as a candidate. */
struct sched_local {
	const char *name;            /* in tables and status; NULL: "localhost" */
	const char *const *systems;  /* NULL-terminated; NULL: machines_local_system() */
	const char *const *features; /* NULL-terminated system features; NULL: none */
	unsigned max_jobs;           /* its slots (--max-jobs); 0: builds only remotely */
	double speed;                /* --speed, > 0; 0 means 1.0 */
};

/* A new pool with the local machine L (NULL: one slot, speed 1, this
 * system, no features) and no build machine yet.  *OUT is freed with
 * sched_pool_free().  ERR_INVALID for a negative or non-finite speed,
 * ERR_NOMEM. */
int sched_pool_new(struct sched_pool **out, const struct sched_local *l);
/* NULL is a no-op. */
void sched_pool_free(struct sched_pool *p);

/* Makes the machines of MS (NULL: none) the build machines, as after a
 * (re)read of the machines file.  A machine already in the pool (same
 * name, compared without case, and port) keeps its index and its state —
 * slots in use, queued work, load, health, bandwidth, held paths, counters
 * — with its declaration (systems, features, slots, speed, threshold)
 * replaced; new ones are appended; those not in MS are retired.  MS is not
 * kept.  ERR_TOOBIG past SCHED_POOL_MAX machines, ERR_NOMEM; either way
 * the pool is as before. */
int sched_pool_load(struct sched_pool *p, const struct machines *ms);

/* The number of indices (the local machine and every machine ever loaded,
 * retired ones included). */
size_t sched_pool_size(const struct sched_pool *p);

/* The index of the machine NAME (without case) and PORT, retired ones
 * included; (size_t)-1 when there is none.  The local machine is found by
 * its name and port 0. */
size_t sched_pool_find(const struct sched_pool *p, const char *name, unsigned port);

/* ---- What the caller tells the pool (I is an index < sched_pool_size). */

/* A build was started on I (after SCHED_PICK_RUN): it takes a slot and
 * WORK (seconds on a speed-1 machine; 0: SCHED_DEFAULT_WORK) joins the
 * machine's queued work. */
void sched_machine_start(struct sched_pool *p, size_t i, double work);
/* That build ended (its slot and WORK are given back); BUILT counts it in
 * the builds done. */
void sched_machine_end(struct sched_pool *p, size_t i, double work, bool built);

/* The machine's handshake (or any later report) at NOW: LOAD (the load
 * average), CORES (0 counts as 1) and FREE bytes in its store.  The free
 * space is believed for SCHED_REPORT_TTL_MS, the load for the shorter
 * SCHED_LOAD_TTL_MS (it changes faster, and an overloaded machine must
 * not be shunned for a minute); an older report is ignored (the machine
 * is then given the benefit of the doubt: its next handshake reports
 * again). */
void sched_machine_report(struct sched_pool *p, size_t i, uint64_t now, double load, unsigned cores,
			  uint64_t free);

/* An upload of SENT bytes that took SEND_MS, and RECEIVED bytes back.
 * Counted in the totals; an upload of at least SCHED_MEASURE_MIN_BYTES
 * that took at least 1 ms also measures the bandwidth to I (the first
 * measurement replaces the default, later ones weigh 1/4). */
void sched_machine_transfer(struct sched_pool *p, size_t i, uint64_t sent, uint64_t send_ms,
			    uint64_t received);

/* I holds the store path PATH (it built it, or it was uploaded there), so
 * an input PATH costs nothing to send there.  A hint: past SCHED_HELD_MAX
 * paths the machine's set is emptied first.  ERR_NOMEM. */
int sched_machine_holds(struct sched_pool *p, size_t i, const char *path);
bool sched_machine_has(const struct sched_pool *p, size_t i, const char *path);
/* Forgets every path I holds (its store was emptied, say). */
void sched_machine_forget(struct sched_pool *p, size_t i);

/* Reaching I failed at NOW (connection or authentication failure, the
 * connection lost, …) because of REASON (kept, truncated to
 * SCHED_REASON_MAX - 1 bytes): I is down until NOW + 5 s × 3^(n-1), at
 * most 10 min, n being its failures since it was last ok.  While down it
 * is given no build.  A failure reported while it is down already (a
 * build that was under way when it went) only updates the reason.  When
 * the down period ends, I takes one build at a time until
 * sched_machine_ok() or another failure.  Returns the down period, in ms. */
uint64_t sched_machine_failed(struct sched_pool *p, size_t i, uint64_t now, const char *reason);
/* Reaching I worked: it is up, its failure count is 0. */
void sched_machine_ok(struct sched_pool *p, size_t i);

/* ---- Choosing */

struct sched_input {
	const char *path;  /* a store path */
	uint64_t nar_size; /* its NAR size */
};

struct sched_request {
	const char *system;               /* "x86_64-linux" */
	const char *const *features;      /* NULL-terminated requiredSystemFeatures; NULL: none */
	bool prefer_local;                /* preferLocalBuild */
	const struct sched_input *inputs; /* the input closure, each path once */
	size_t ninputs;
	double work; /* expected seconds on a speed-1 machine; 0: SCHED_DEFAULT_WORK */
};

enum sched_verdict {
	SCHED_PICK_RUN,   /* run it on choice.machine now */
	SCHED_PICK_WAIT,  /* not now, but a machine may take it later */
	SCHED_PICK_NEVER, /* no machine can ever build it: choice.rows say why */
};

/* Why a machine does (not) fit a build: the first rule that failed, in
 * this order. */
enum sched_why {
	SCHED_WHY_FITS,
	/* Never: */
	SCHED_WHY_RETIRED,   /* no longer in the machines file */
	SCHED_WHY_NO_SLOTS,  /* the local machine with --max-jobs 0 */
	SCHED_WHY_SYSTEM,    /* as machine_fits() */
	SCHED_WHY_FEATURES,  /* as machine_fits() */
	SCHED_WHY_MANDATORY, /* as machine_fits() */
	/* Not now: */
	SCHED_WHY_DOWN,       /* down until down_until */
	SCHED_WHY_PROBING,    /* back from down, its one trial build still runs */
	SCHED_WHY_BUSY,       /* every slot in use */
	SCHED_WHY_OVERLOADED, /* load per core >= its overload-threshold */
	SCHED_WHY_DISK,       /* less than SCHED_MIN_FREE free in its store */
};

/* True for the reasons that can pass (DOWN … DISK) and FITS. */
bool sched_why_may_fit(enum sched_why w);

struct sched_row {
	size_t machine;
	const char *name; /* the machine's (the pool's string) */
	unsigned port;    /* 0 for the local machine */
	enum sched_why why;
	char *text; /* "does not build for aarch64-linux (its systems: …)", owned */
};

struct sched_choice {
	enum sched_verdict verdict;
	/* RUN: */
	size_t machine;   /* the index of the machine to run it on */
	double finish;    /* its expected finish, in seconds from now */
	uint64_t lacking; /* bytes of inputs it lacks (to upload) */
	/* WAIT: the earliest time (NOW's clock) at which a machine that is
	 * down, overloaded or short of space may take it (a down period ends,
	 * a report becomes too old to believe), or SCHED_NO_WAKE when only a
	 * build ending (sched_machine_end) or a new report can unblock it. */
	uint64_t wake;
	/* NEVER: one row per machine that is not retired, the local machine
	 * first, each with why it does not fit. */
	struct sched_row *rows;
	size_t nrows;
	/* WAIT: a machine that may take it lacks only a free slot (a build
	 * ending there will unblock it: the normal queue). */
	bool slot_wait;
};

#define SCHED_CHOICE_INIT                                                                          \
	{                                                                                          \
		SCHED_PICK_NEVER, 0, 0.0, 0, SCHED_NO_WAKE, NULL, 0, false                         \
	}

/* Decides where R runs at NOW (see the top of this file) and fills *C
 * (released first).  The pool is not changed: on RUN the caller starts the
 * build and calls sched_machine_start().  0, or ERR_NOMEM (building the
 * table) with *C a NEVER without rows. */
int sched_pick(const struct sched_pool *p, const struct sched_request *r, uint64_t now,
	       struct sched_choice *c);

/* The same decision with a row for every machine that is not retired,
 * whatever the verdict (for `--verbose` or a status page): fitting ones
 * have the text "expected to finish in 1.25 s". */
int sched_explain(const struct sched_pool *p, const struct sched_request *r, uint64_t now,
		  struct sched_choice *c);

/* Frees the rows of C and makes it SCHED_CHOICE_INIT. */
void sched_choice_release(struct sched_choice *c);

/* Why machine I does (not) fit R at NOW, and its expected finish in
 * seconds (set in any case). */
enum sched_why sched_machine_fits(const struct sched_pool *p, size_t i,
				  const struct sched_request *r, uint64_t now, double *finish);

/* ---- The state of one machine, for `yonder offload status` */

enum sched_health {
	SCHED_UP,
	SCHED_DOWN,    /* until down_until */
	SCHED_PROBING, /* its down period is over; one build at a time */
};

struct sched_status {
	const char *name;
	unsigned port; /* 0 for the local machine */
	bool local, retired;
	/* NULL-terminated, the pool's: */
	const char *const *systems;
	const char *const *features;
	const char *const *mandatory;
	double speed;
	unsigned slots, used;
	double queued;             /* seconds of work on a speed-1 machine */
	double overload_threshold; /* 0: disabled (and for the local machine) */
	bool reported;             /* a report younger than SCHED_REPORT_TTL_MS */
	double load;               /* the last report's, whatever its age */
	unsigned cores;
	uint64_t free;      /* bytes free in its store, the last report's */
	uint64_t report_at; /* when it came; 0 with no report */
	enum sched_health health;
	unsigned failures;   /* since it was last ok */
	uint64_t down_since; /* the first failure of those */
	uint64_t down_until; /* the end of the current down period */
	const char *reason;  /* of the last failure; "" when none */
	double bandwidth;    /* bytes/s, measured or SCHED_DEFAULT_BANDWIDTH */
	bool bandwidth_measured;
	size_t held; /* store paths it is known to hold */
	uint64_t builds_done;
	uint64_t bytes_sent, bytes_received, send_ms; /* mean upload rate: sent / send_ms */
};

/* Fills *ST with the state of machine I at NOW (the pointers are the
 * pool's). */
void sched_machine_status(const struct sched_pool *p, size_t i, uint64_t now,
			  struct sched_status *st);

#endif
