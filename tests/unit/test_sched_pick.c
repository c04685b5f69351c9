/* test_sched_pick.c — choosing a machine: each fit rule, the earliest
 * expected finish, the local machine, WAIT and NEVER, health and backoff,
 * ties, reloads, and a seeded randomized property test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "machines.h"
#include "sched_pick.h"
#include "tap.h"

#define MiB  (1ull << 20)
#define GiB  (1ull << 30)
#define NONE ((size_t)-1)

/* ---- Machines written by hand (the pool copies them) */

struct spec {
	const char *name;
	const char *systems, *features, *mandatory; /* comma-separated, NULL: none */
	unsigned slots;
	double speed;
	double threshold; /* -1: the default 0.8; 0: #f */
};

static char **split(const char *s, size_t *np)
{
	char **v = calloc(17, sizeof(char *));
	size_t n = 0;

	while (s && *s && n < 16) {
		size_t len = strcspn(s, ",");

		v[n++] = strndup(s, len);
		s += len + (s[len] == ',');
	}
	*np = n;
	return v;
}

static struct machines *mk(const struct spec *sp, size_t n)
{
	struct machines *ms = calloc(1, sizeof(*ms));

	ms->v = calloc(n ? n : 1, sizeof(*ms->v));
	ms->n = ms->cap = n;
	for (size_t k = 0; k < n; k++) {
		struct machine *m = &ms->v[k];

		m->name = strdup(sp[k].name);
		m->port = 22;
		m->systems = split(sp[k].systems ? sp[k].systems : "x86_64-linux", &m->nsystems);
		m->features = split(sp[k].features, &m->nfeatures);
		m->mandatory_features = split(sp[k].mandatory, &m->nmandatory);
		m->user = strdup("u");
		m->parallel_builds = sp[k].slots ? sp[k].slots : 1;
		m->speed = sp[k].speed ? sp[k].speed : 1.0;
		m->overload_threshold = sp[k].threshold < 0 ? 0.8 : sp[k].threshold;
		m->connect_timeout = 10;
	}
	return ms;
}

/* A pool with the local machine (MAX_JOBS slots, SPEED, FEATURES) and the
 * machines SP.  Index k+1 is SP[k]. */
static struct sched_pool *pool(unsigned max_jobs, double speed, const char *const *features,
			       const struct spec *sp, size_t n)
{
	static const char *const sys[] = {"x86_64-linux", NULL};
	struct sched_local l = {"localhost", sys, features, max_jobs, speed};
	struct sched_pool *p = NULL;
	struct machines *ms = mk(sp, n);

	if (sched_pool_new(&p, &l) != 0 || sched_pool_load(p, ms) != 0) {
		ok(0, "pool: %s", err_msg());
		exit(1);
	}
	machines_free(ms);
	return p;
}

static struct sched_request req(const char *system, const char *const *features)
{
	struct sched_request r = {system, features, false, NULL, 0, 0};

	return r;
}

/* The machine picked, NONE for WAIT, NONE-1 for NEVER. */
static size_t pick(struct sched_pool *p, const struct sched_request *r, uint64_t now)
{
	struct sched_choice c = SCHED_CHOICE_INIT;
	size_t m;

	if (sched_pick(p, r, now, &c) != 0)
		ok(0, "sched_pick: %s", err_msg());
	m = c.verdict == SCHED_PICK_RUN    ? c.machine
	    : c.verdict == SCHED_PICK_WAIT ? NONE
					   : NONE - 1;
	sched_choice_release(&c);
	return m;
}

static enum sched_why why(struct sched_pool *p, size_t i, const struct sched_request *r,
			  uint64_t now)
{
	return sched_machine_fits(p, i, r, now, NULL);
}

/* The text of machine I's row in sched_explain(), into OUT. */
static void row_text(struct sched_pool *p, const struct sched_request *r, uint64_t now, size_t i,
		     char *out, size_t len)
{
	struct sched_choice c = SCHED_CHOICE_INIT;

	snprintf(out, len, "(no row)");
	if (sched_explain(p, r, now, &c) != 0)
		return;
	for (size_t k = 0; k < c.nrows; k++)
		if (c.rows[k].machine == i)
			snprintf(out, len, "%s", c.rows[k].text);
	sched_choice_release(&c);
}

/* ---- Fit rules */

static void test_fit_rules(void)
{
	static const struct spec sp[] = {
	    {"arm", "aarch64-linux", NULL, NULL, 1, 1, -1},
	    {"kvm", "x86_64-linux,i686-linux", "kvm,big-parallel", NULL, 1, 1, -1},
	    {"bench", "x86_64-linux", NULL, "benchmark", 1, 1, -1},
	};
	static const char *const kvm[] = {"kvm", NULL};
	static const char *const bench[] = {"benchmark", NULL};
	static const char *const bench_kvm[] = {"benchmark", "kvm", NULL};
	struct sched_pool *p = pool(0, 1, NULL, sp, 3);
	struct sched_request r = req("x86_64-linux", NULL);
	char text[512];

	is_int(why(p, 1, &r, 0), SCHED_WHY_SYSTEM, "system: arm does not build x86_64-linux");
	is_int(why(p, 2, &r, 0), SCHED_WHY_FITS, "system: kvm does (one of its systems)");
	r.system = "i686-linux";
	is_int(why(p, 2, &r, 0), SCHED_WHY_FITS, "system: its second system too");
	r.system = "x86_64-linux";
	is_int(why(p, 3, &r, 0), SCHED_WHY_MANDATORY,
	       "mandatory: bench takes only builds that require benchmark");
	row_text(p, &r, 0, 3, text, sizeof(text));
	is_str(text, "takes only builds that require its mandatory feature benchmark",
	       "mandatory: the row says so");
	r.features = kvm;
	is_int(why(p, 2, &r, 0), SCHED_WHY_FITS, "features: kvm has kvm");
	is_int(why(p, 3, &r, 0), SCHED_WHY_FEATURES, "features: bench lacks kvm");
	row_text(p, &r, 0, 3, text, sizeof(text));
	is_str(text, "lacks the feature kvm that the build requires (it has: benchmark)",
	       "features: the row says so");
	r.features = bench;
	is_int(why(p, 3, &r, 0), SCHED_WHY_FITS,
	       "mandatory the other way: a required feature that is only mandatory fits");
	is_int(why(p, 2, &r, 0), SCHED_WHY_FEATURES, "and kvm lacks benchmark");
	r.features = bench_kvm;
	is_int(why(p, 3, &r, 0), SCHED_WHY_FEATURES, "bench lacks kvm beside its mandatory one");
	is_int(why(p, 0, &r, 0), SCHED_WHY_NO_SLOTS, "local with --max-jobs 0 never fits");
	sched_pool_free(p);
}

static void test_dynamic_rules(void)
{
	static const struct spec sp[] = {
	    {"a", NULL, NULL, NULL, 2, 1, -1}, /* threshold 0.8 */
	    {"b", NULL, NULL, NULL, 1, 1, 0},  /* #f */
	};
	struct sched_pool *p = pool(0, 1, NULL, sp, 2);
	struct sched_request r = req("x86_64-linux", NULL);
	struct sched_choice c = SCHED_CHOICE_INIT;
	char text[512];
	uint64_t t0 = 1000000;

	/* Slots */
	sched_machine_start(p, 1, 0);
	is_int(why(p, 1, &r, t0), SCHED_WHY_FITS, "slots: 1 of 2 used still fits");
	sched_machine_start(p, 1, 0);
	is_int(why(p, 1, &r, t0), SCHED_WHY_BUSY, "slots: 2 of 2 used is busy");
	row_text(p, &r, t0, 1, text, sizeof(text));
	is_str(text, "all 2 slots busy", "slots: the row says so");
	sched_machine_end(p, 1, 0, true);
	is_int(why(p, 1, &r, t0), SCHED_WHY_FITS, "slots: a build ending frees one");
	sched_machine_end(p, 1, 0, true);

	/* Load */
	sched_machine_report(p, 1, t0, 3.0, 4, 10 * GiB);
	is_int(why(p, 1, &r, t0), SCHED_WHY_FITS, "load: 3.0 on 4 cores (0.75) is under 0.8");
	sched_machine_report(p, 1, t0, 3.2, 4, 10 * GiB);
	is_int(why(p, 1, &r, t0), SCHED_WHY_OVERLOADED, "load: 3.2 on 4 cores (0.8) is not");
	row_text(p, &r, t0, 1, text, sizeof(text));
	is_str(text, "overloaded: load 0.80 per core, threshold 0.80", "load: the row says so");
	sched_machine_report(p, 2, t0, 50.0, 1, 10 * GiB);
	is_int(why(p, 2, &r, t0), SCHED_WHY_FITS, "load: threshold #f ignores any load");
	is_int(why(p, 1, &r, t0 + SCHED_LOAD_TTL_MS - 1), SCHED_WHY_OVERLOADED,
	       "load: a report is believed for a while");
	is_int(why(p, 1, &r, t0 + SCHED_LOAD_TTL_MS), SCHED_WHY_FITS,
	       "load: then given the benefit of the doubt");
	sched_machine_report(p, 1, t0, 3.2, 4, 10 * GiB);
	sched_machine_report(p, 2, t0, 0, 1, 10 * GiB);
	sched_machine_start(p, 2, 0);
	is_int(sched_pick(p, &r, t0, &c), 0, "load: pick");
	ok(c.verdict == SCHED_PICK_WAIT && c.wake == t0 + SCHED_LOAD_TTL_MS,
	   "load: overloaded a and busy b: WAIT, woken when the load report expires");
	sched_machine_end(p, 2, 0, false);

	/* Disk */
	sched_machine_report(p, 1, t0, 0, 4, 100 * MiB - 1);
	is_int(why(p, 1, &r, t0), SCHED_WHY_DISK, "disk: 1 byte short of 100 MiB");
	row_text(p, &r, t0, 1, text, sizeof(text));
	is_str(text, "only 99.9 MiB free in its store (100 MiB needed)", "disk: the row says so");
	sched_machine_report(p, 1, t0, 0, 4, 100 * MiB);
	is_int(why(p, 1, &r, t0), SCHED_WHY_FITS, "disk: exactly 100 MiB is enough");
	sched_machine_report(p, 1, t0, 0, 4, 0);
	is_int(why(p, 2, &r, t0), SCHED_WHY_FITS, "disk: another machine's report is its own");

	/* Health */
	sched_machine_report(p, 1, t0, 0, 4, GiB);
	sched_machine_failed(p, 1, t0, "connection refused");
	is_int(why(p, 1, &r, t0), SCHED_WHY_DOWN, "health: a failed machine is down");
	row_text(p, &r, t0 + 2000, 1, text, sizeof(text));
	is_str(text, "down since 2 s ago, for 3 s more (1 failure): connection refused",
	       "health: the row says since when, until when and why");
	is_int(why(p, 1, &r, t0 + 5000), SCHED_WHY_FITS, "health: it may be tried after 5 s");
	sched_machine_start(p, 1, 0);
	is_int(why(p, 1, &r, t0 + 5000), SCHED_WHY_PROBING,
	       "health: but one build at a time until it is ok (2 slots)");
	sched_machine_ok(p, 1);
	is_int(why(p, 1, &r, t0 + 5000), SCHED_WHY_FITS, "health: ok opens every slot again");
	sched_machine_end(p, 1, 0, true);
	sched_choice_release(&c);
	sched_pool_free(p);
}

/* ---- Earliest expected finish */

static void test_finish(void)
{
	static const struct spec sp[] = {
	    {"slow", NULL, NULL, NULL, 1, 1.0, 0},
	    {"fast", NULL, NULL, NULL, 2, 2.0, 0},
	};
	struct sched_input in[] = {{"/yonder/store/aaaa-big", GiB},
				   {"/yonder/store/bbbb-src", MiB}};
	struct sched_pool *p = pool(0, 1, NULL, sp, 2);
	struct sched_request r = req("x86_64-linux", NULL);
	struct sched_choice c = SCHED_CHOICE_INIT;
	double f;

	is_int((long long)pick(p, &r, 0), 2, "the faster machine wins (1 s / 2 vs 1 s / 1)");
	sched_machine_fits(p, 2, &r, 0, &f);
	ok(f == 0.5, "its expected finish: 0.5 s (%g)", f);

	/* Queued work: a 4 s build on one of fast's two slots makes it
	 * (4/2 + 1)/2 = 1.5 s against slow's 1 s. */
	sched_machine_start(p, 2, 4.0);
	is_int((long long)pick(p, &r, 0), 1, "queued work shifts the choice to the slower machine");
	sched_machine_fits(p, 2, &r, 0, &f);
	ok(f == 1.5, "fast now expects 1.5 s (%g)", f);
	sched_machine_end(p, 2, 4.0, true);
	is_int((long long)pick(p, &r, 0), 2, "and back once it ends");

	/* Inputs: slow holds them; fast lacks 1 GiB + 1 MiB over a 10 MiB/s
	 * link: 1 + 102.5 s / 2 ... */
	r.inputs = in;
	r.ninputs = 2;
	sched_machine_transfer(p, 2, 10 * MiB, 1000, 0);
	ok(sched_machine_holds(p, 1, in[0].path) == 0 && sched_machine_holds(p, 1, in[1].path) == 0,
	   "slow holds both inputs");
	is_int(sched_pick(p, &r, 0, &c), 0, "pick with inputs");
	ok(c.verdict == SCHED_PICK_RUN && c.machine == 1 && c.lacking == 0 && c.finish == 1.0,
	   "the machine holding the inputs wins over a faster one lacking 1 GiB on a slow link "
	   "(finish %g, lacking %llu)",
	   c.finish, (unsigned long long)c.lacking);
	sched_machine_fits(p, 2, &r, 0, &f);
	ok(fabs(f - (0.5 + 1025.0 / 10)) < 1e-9, "fast expects 0.5 + 1025 MiB / 10 MiB/s (%g)", f);

	/* Held partly: fast holds the big one, lacks 1 MiB: 0.5 + 0.1 < 1. */
	sched_machine_holds(p, 2, in[0].path);
	is_int(sched_pick(p, &r, 0, &c), 0, "pick again");
	ok(c.verdict == SCHED_PICK_RUN && c.machine == 2 && c.lacking == MiB,
	   "once fast holds the big input, it wins again (lacking %llu)",
	   (unsigned long long)c.lacking);
	sched_machine_forget(p, 2);
	is_int((long long)pick(p, &r, 0), 1, "forgetting what it holds undoes that");
	sched_choice_release(&c);
	sched_pool_free(p);
}

static void test_bandwidth(void)
{
	static const struct spec sp[] = {{"a", NULL, NULL, NULL, 1, 1, 0}};
	struct sched_pool *p = pool(0, 1, NULL, sp, 1);
	struct sched_status st;

	sched_machine_status(p, 1, 0, &st);
	ok(st.bandwidth == SCHED_DEFAULT_BANDWIDTH && !st.bandwidth_measured,
	   "bandwidth: the default before any measurement");
	sched_machine_transfer(p, 1, 1000, 1, 5);
	sched_machine_status(p, 1, 0, &st);
	ok(st.bandwidth == SCHED_DEFAULT_BANDWIDTH && st.bytes_sent == 1000 &&
	       st.bytes_received == 5,
	   "bandwidth: a small upload is counted but measures nothing");
	sched_machine_transfer(p, 1, 100 * MiB, 1000, 0);
	sched_machine_status(p, 1, 0, &st);
	ok(st.bandwidth == 100.0 * MiB && st.bandwidth_measured,
	   "bandwidth: the first measurement replaces the default");
	sched_machine_transfer(p, 1, 20 * MiB, 1000, 0);
	sched_machine_status(p, 1, 0, &st);
	ok(st.bandwidth == 80.0 * MiB, "bandwidth: later ones weigh 1/4 (%g)", st.bandwidth);
	sched_pool_free(p);
}

/* ---- The local machine */

static void test_local(void)
{
	static const struct spec sp[] = {{"remote", NULL, NULL, NULL, 4, 2.0, 0}};
	static const char *const kvm[] = {"kvm", NULL};
	struct sched_input in[] = {{"/yonder/store/cccc-in", 200 * MiB}};
	struct sched_pool *p = pool(2, 1.0, kvm, sp, 1);
	struct sched_request r = req("x86_64-linux", NULL);
	struct sched_choice c = SCHED_CHOICE_INIT;

	is_int((long long)pick(p, &r, 0), 1, "local: a faster remote wins a build without inputs");
	r.inputs = in;
	r.ninputs = 1;
	is_int((long long)pick(p, &r, 0), 0,
	       "local: but not when 200 MiB must go (0.5 + 4 s vs 1 s): local has every input");
	r.inputs = NULL;
	r.ninputs = 0;
	r.features = kvm;
	is_int((long long)pick(p, &r, 0), 0, "local: its own features count (kvm)");
	r.features = NULL;
	r.prefer_local = true;
	is_int((long long)pick(p, &r, 0), 0, "preferLocalBuild: local although remote is faster");
	sched_machine_start(p, 0, 0);
	sched_machine_start(p, 0, 0);
	is_int((long long)pick(p, &r, 0), 1, "preferLocalBuild: remote when local has no slot");
	sched_machine_end(p, 0, 0, true);
	sched_machine_end(p, 0, 0, true);
	sched_pool_free(p);

	p = pool(0, 1.0, NULL, sp, 1);
	is_int((long long)pick(p, &r, 0), 1, "--max-jobs 0: preferLocalBuild goes remote");
	r.system = "aarch64-linux";
	is_int(sched_pick(p, &r, 0, &c), 0, "--max-jobs 0: pick");
	ok(c.verdict == SCHED_PICK_NEVER && c.nrows == 2 && c.rows[0].machine == 0 &&
	       c.rows[0].why == SCHED_WHY_NO_SLOTS,
	   "--max-jobs 0: NEVER, the local machine's row first");
	if (c.nrows == 2)
		is_str(c.rows[0].text, "builds nothing here (--max-jobs 0)",
		       "--max-jobs 0: its text");
	sched_choice_release(&c);
	sched_pool_free(p);

	p = pool(1, 1.0, NULL, NULL, 0);
	r.system = "x86_64-linux";
	r.prefer_local = false;
	is_int((long long)pick(p, &r, 0), 0, "no machines file: local builds");
	sched_machine_start(p, 0, 0);
	is_int((long long)pick(p, &r, 0), (long long)NONE, "and a second build waits for its slot");
	sched_pool_free(p);

	is_int(sched_pool_new(&p, &(struct sched_local){NULL, NULL, NULL, 1, -1}), ERR_INVALID,
	       "a negative local speed is refused");
}

/* ---- WAIT and NEVER */

static void test_wait_never(void)
{
	static const struct spec sp[] = {
	    {"arm", "aarch64-linux", NULL, NULL, 1, 1, -1},
	    {"kvm", "x86_64-linux", NULL, "kvm", 1, 1, -1},
	    {"plain", "x86_64-linux", NULL, NULL, 1, 1, -1},
	};
	static const char *const big[] = {"big-parallel", NULL};
	struct sched_pool *p = pool(0, 1, NULL, sp, 3);
	struct sched_request r = req("x86_64-linux", big);
	struct sched_choice c = SCHED_CHOICE_INIT;
	uint64_t t0 = 50000;

	is_int(sched_pick(p, &r, t0, &c), 0, "never: pick");
	ok(c.verdict == SCHED_PICK_NEVER && c.nrows == 4, "never: a big-parallel build, NEVER");
	if (c.nrows == 4) {
		is_str(c.rows[1].name, "arm", "never: row 1 is arm");
		is_str(c.rows[1].text,
		       "does not build for x86_64-linux (its systems: aarch64-linux)",
		       "never: arm, system");
		is_int(c.rows[2].why, SCHED_WHY_FEATURES, "never: kvm, features");
		is_str(c.rows[2].text,
		       "lacks the feature big-parallel that the build requires (it has: kvm)",
		       "never: kvm's text");
		is_str(c.rows[3].text,
		       "lacks the feature big-parallel that the build requires (it has: none)",
		       "never: plain's text");
	}

	r.features = NULL;
	sched_machine_failed(p, 3, t0, "authentication refused");
	is_int(sched_pick(p, &r, t0, &c), 0, "wait: pick");
	ok(c.verdict == SCHED_PICK_WAIT && c.wake == t0 + 5000 && c.nrows == 0,
	   "wait: the only fitting machine is down: WAIT until it may come back, no rows");
	ok(!c.slot_wait, "wait: down, not waiting for a slot (worth telling the user)");
	is_int(sched_explain(p, &r, t0, &c), 0, "wait: explain");
	ok(c.verdict == SCHED_PICK_WAIT && c.nrows == 4 && c.rows[3].why == SCHED_WHY_DOWN &&
	       c.rows[2].why == SCHED_WHY_MANDATORY,
	   "wait: explain gives every row: plain down, kvm mandatory");
	sched_machine_start(p, 3, 0); /* a build that was under way there */
	is_int(sched_pick(p, &r, t0, &c), 0, "wait: pick again");
	ok(c.verdict == SCHED_PICK_WAIT && c.wake == SCHED_NO_WAKE,
	   "wait: down with a build still on it: no timer, the build's end will tell");
	sched_machine_end(p, 3, 0, false);
	is_int((long long)pick(p, &r, t0 + 4999), (long long)NONE, "wait: still down at 4.999 s");
	is_int((long long)pick(p, &r, t0 + 5000), 3, "run: tried again at 5 s");

	sched_machine_ok(p, 3);
	sched_machine_start(p, 3, 0);
	is_int(sched_pick(p, &r, t0, &c), 0, "busy: pick");
	ok(c.verdict == SCHED_PICK_WAIT && c.wake == SCHED_NO_WAKE,
	   "busy: WAIT with no timer: a slot freeing starts it");
	ok(c.slot_wait, "busy: marked as waiting for a slot (the normal queue)");
	sched_machine_end(p, 3, 0, true);
	sched_machine_report(p, 3, t0, 0, 1, MiB);
	sched_machine_failed(p, 3, t0 + 1000, "connection lost");
	is_int(sched_pick(p, &r, t0 + 1000, &c), 0, "down and full: pick");
	ok(c.verdict == SCHED_PICK_WAIT && c.wake == t0 + SCHED_REPORT_TTL_MS,
	   "down for 5 s and short of space for 60 s: woken at the later of the two");
	sched_choice_release(&c);
	sched_pool_free(p);
}

/* ---- Health */

static void test_backoff(void)
{
	static const struct spec sp[] = {{"a", NULL, NULL, NULL, 1, 1, 0}};
	static const uint64_t want[] = {5000, 15000, 45000, 135000, 405000, 600000, 600000};
	struct sched_pool *p = pool(0, 1, NULL, sp, 1);
	struct sched_status st;
	uint64_t now = 7, got;
	bool all = true;

	for (size_t k = 0; k < sizeof(want) / sizeof(*want); k++) {
		got = sched_machine_failed(p, 1, now, "timeout");
		if (got != want[k]) {
			ok(0, "failure %zu: %llu ms, want %llu", k + 1, (unsigned long long)got,
			   (unsigned long long)want[k]);
			all = false;
		}
		now += got;
	}
	ok(all, "backoff: 5, 15, 45, 135, 405, 600, 600 s");
	sched_machine_status(p, 1, now - 1, &st);
	ok(st.health == SCHED_DOWN && st.failures == 7 && st.down_since == 7 &&
	       st.down_until == now && !strcmp(st.reason, "timeout"),
	   "status: down, 7 failures, since the first, until the last period ends, why");
	got = sched_machine_failed(p, 1, now - 600000, "refused");
	ok(got == 600000 && st.failures == 7, "a failure while down does not lengthen the backoff");
	sched_machine_status(p, 1, now - 1, &st);
	ok(st.failures == 7 && !strcmp(st.reason, "refused"), "but updates the reason");
	sched_machine_status(p, 1, now, &st);
	ok(st.health == SCHED_PROBING, "status: probing when the period is over");
	sched_machine_ok(p, 1);
	sched_machine_status(p, 1, now, &st);
	ok(st.health == SCHED_UP && st.failures == 0 && !*st.reason, "ok resets");
	is_int((long long)sched_machine_failed(p, 1, now, "x"), 5000,
	       "the next failure: 5 s again");
	sched_pool_free(p);
}

/* ---- Ties */

static void test_ties(void)
{
	static const struct spec sp[] = {{"zeta", NULL, NULL, NULL, 2, 2.0, 0},
					 {"beta", NULL, NULL, NULL, 1, 1.0, 0},
					 {"alpha", NULL, NULL, NULL, 1, 1.0, 0},
					 {"gamma", NULL, NULL, NULL, 1, 1.0, 0}};
	struct sched_pool *p = pool(0, 1, NULL, sp + 1, 3);
	struct sched_request r = req("x86_64-linux", NULL);

	is_int((long long)pick(p, &r, 0), 2, "ties: equal machines, the first name (alpha)");
	for (int k = 0; k < 10; k++)
		if (pick(p, &r, 0) != 2)
			ok(0, "ties: not deterministic");
	sched_pool_free(p);

	/* zeta (speed 2, 1 of 2 slots busy with 2 s): (2/2 + 1)/2 = 1 s, as
	 * the others: the higher speed wins. */
	p = pool(0, 1, NULL, sp, 4);
	sched_machine_start(p, 1, 2.0);
	is_int((long long)pick(p, &r, 0), 1, "ties: the higher speed first (zeta)");
	sched_pool_free(p);

	p = pool(1, 1, NULL, sp + 1, 3);
	is_int((long long)pick(p, &r, 0), 0, "ties: then the local machine");
	sched_pool_free(p);
}

/* ---- Reloading the machines file */

static void test_reload(void)
{
	static const struct spec one[] = {{"a", NULL, NULL, NULL, 1, 1, 0},
					  {"b", NULL, NULL, NULL, 1, 1, 0}};
	static const struct spec two[] = {{"c", NULL, NULL, NULL, 1, 1, 0},
					  {"A", NULL, NULL, NULL, 3, 1, 0}};
	struct sched_pool *p = pool(0, 1, NULL, one, 2);
	struct machines *ms = mk(two, 2);
	struct sched_request r = req("x86_64-linux", NULL);
	struct sched_choice c = SCHED_CHOICE_INIT;
	struct sched_status st;

	sched_machine_start(p, 1, 0);
	sched_machine_start(p, 2, 0);
	sched_machine_holds(p, 1, "/yonder/store/x");
	is_int(sched_pool_load(p, ms), 0, "reload");
	machines_free(ms);
	is_int((long long)sched_pool_size(p), 4, "reload: c appended, b kept");
	is_int((long long)sched_pool_find(p, "a", 22), 1, "reload: A is a, same index");
	sched_machine_status(p, 1, 0, &st);
	ok(st.slots == 3 && st.used == 1 && st.held == 1 && !st.retired,
	   "reload: a's new slots, its builds and paths kept");
	sched_machine_status(p, 2, 0, &st);
	ok(st.retired && st.used == 1, "reload: b retired with its build");
	is_int(why(p, 2, &r, 0), SCHED_WHY_RETIRED, "reload: b is never picked");
	sched_machine_end(p, 2, 0, true);
	r.system = "none";
	is_int(sched_pick(p, &r, 0, &c), 0, "reload: pick");
	ok(c.nrows == 3 && c.rows[1].machine == 1 && c.rows[2].machine == 3,
	   "reload: the table leaves b out");
	sched_choice_release(&c);
	ms = mk(one, 2);
	is_int(sched_pool_load(p, ms), 0, "reload back");
	machines_free(ms);
	ok(sched_pool_size(p) == 4 && sched_pool_find(p, "b", 22) == 2 &&
	       why(p, 3, &r, 0) == SCHED_WHY_RETIRED,
	   "reload back: b returns at its index, c retired");
	is_int(sched_pool_load(p, NULL), 0, "reload with no machines");
	ok(why(p, 1, &r, 0) == SCHED_WHY_RETIRED && why(p, 2, &r, 0) == SCHED_WHY_RETIRED,
	   "every machine retired");
	sched_pool_free(p);
}

static void test_held(void)
{
	static const struct spec sp[] = {{"a", NULL, NULL, NULL, 1, 1, 0}};
	struct sched_pool *p = pool(0, 1, NULL, sp, 1);
	struct sched_status st;
	char path[64];
	bool all = true;

	for (int k = 0; k < 1000; k++) {
		snprintf(path, sizeof(path), "/yonder/store/%032d-x", k);
		if (sched_machine_holds(p, 1, path) != 0)
			all = false;
	}
	sched_machine_holds(p, 1, path);
	sched_machine_status(p, 1, 0, &st);
	ok(all && st.held == 1000, "held: 1000 paths, a duplicate counted once");
	for (int k = 0; k < 1000; k++) {
		snprintf(path, sizeof(path), "/yonder/store/%032d-x", k);
		all = all && sched_machine_has(p, 1, path);
	}
	ok(all && !sched_machine_has(p, 1, "/yonder/store/y") && !sched_machine_has(p, 0, path),
	   "held: each is found, others are not");
	for (int k = 1000; k < SCHED_HELD_MAX + 1; k++) {
		snprintf(path, sizeof(path), "/yonder/store/%032d-x", k);
		sched_machine_holds(p, 1, path);
	}
	sched_machine_status(p, 1, 0, &st);
	ok(st.held == 1 && sched_machine_has(p, 1, path),
	   "held: past SCHED_HELD_MAX the set starts again");
	sched_pool_free(p);
}

/* ---- The worked example of doc/SCHEDULING.md, number for number */

static void test_doc_example(void)
{
	static const struct spec sp[] = {
	    {"big", "x86_64-linux", "big-parallel,kvm", NULL, 8, 4.0, -1},
	    {"arm", "aarch64-linux", NULL, NULL, 2, 1.0, -1},
	    {"old", "x86_64-linux", NULL, NULL, 2, 1.0, -1},
	};
	static const char *const kvm[] = {"kvm", NULL};
	struct sched_input in[] = {
	    {"/yonder/store/0c8dw5wz6pcrmadhvclzql6nwq3abkrs-gcc-12", 200 * MiB},
	    {"/yonder/store/1k4zaqvcrsr9zfjyfkavzr0dzb5brkmh-hello.tar", 10 * MiB}};
	struct sched_pool *p = pool(2, 1.0, NULL, sp, 3);
	struct sched_request r = {"x86_64-linux", NULL, false, in, 2, 2.0};
	struct sched_choice c = SCHED_CHOICE_INIT;
	uint64_t t = 100000;
	double f;

	sched_machine_start(p, 0, 0);
	for (int k = 0; k < 6; k++)
		sched_machine_start(p, 1, 4.0);
	sched_machine_report(p, 1, t, 2.0, 8, 50 * GiB);
	sched_machine_transfer(p, 1, 200 * MiB, 10000, 0);
	sched_machine_holds(p, 1, in[0].path);
	sched_machine_failed(p, 3, t - 10000, "connection refused");
	sched_machine_failed(p, 3, t - 5000, "connection refused");
	sched_machine_fits(p, 0, &r, t, &f);
	ok(f == 2.5, "example: localhost 2.5 s (%g)", f);
	is_int(sched_pick(p, &r, t, &c), 0, "example: pick");
	ok(c.verdict == SCHED_PICK_RUN && c.machine == 1 && c.finish == 1.75 &&
	       c.lacking == 10 * MiB,
	   "example: big, 1.75 s, 10 MiB to send (%g)", c.finish);
	sched_machine_forget(p, 1);
	sched_machine_fits(p, 1, &r, t, &f);
	ok(f == 11.75, "example: big without gcc-12: 11.75 s (%g)", f);
	is_int((long long)pick(p, &r, t), 0, "example: then localhost");
	sched_machine_start(p, 0, 0);
	sched_machine_start(p, 1, 4.0);
	sched_machine_start(p, 1, 4.0);
	is_int(sched_pick(p, &r, t, &c), 0, "example: everything busy");
	ok(c.verdict == SCHED_PICK_WAIT && c.wake == t + 10000, "example: WAIT, wake at %llu",
	   (unsigned long long)c.wake);
	r.system = "aarch64-linux";
	r.features = kvm;
	is_int(sched_pick(p, &r, t, &c), 0, "example: an aarch64 kvm build");
	ok(c.verdict == SCHED_PICK_NEVER && c.nrows == 4, "example: NEVER, 4 rows");
	if (c.nrows == 4) {
		is_str(c.rows[0].text,
		       "does not build for aarch64-linux (its systems: x86_64-linux)",
		       "example: localhost");
		is_str(c.rows[1].text,
		       "does not build for aarch64-linux (its systems: x86_64-linux)",
		       "example: big");
		is_str(c.rows[2].text,
		       "lacks the feature kvm that the build requires (it has: none)",
		       "example: arm");
		is_str(c.rows[3].text,
		       "does not build for aarch64-linux (its systems: x86_64-linux)",
		       "example: old");
	}
	r.system = "x86_64-linux";
	r.features = NULL;
	sched_machine_end(p, 0, 0, true);
	is_int(sched_explain(p, &r, t, &c), 0, "example: explain");
	if (c.nrows == 4)
		is_str(c.rows[3].text,
		       "down since 10 s ago, for 10 s more (2 failures): connection refused",
		       "example: old's row");
	sched_choice_release(&c);
	sched_pool_free(p);
}

/* ---- The property: the chosen machine fits, no fitting machine finishes
 * strictly earlier; WAIT and NEVER only when nothing fits. */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

#define NM 6
#define NI 5

struct model {
	const char *sys[3], *feat[4], *mand[3];
	bool local;
	unsigned slots, used;
	double speed, queued, thr, load, bw;
	uint64_t free;
	bool reported, down, probing_busy;
	bool held[NI];
};

static const char *const SYSTEMS[] = {"x86_64-linux", "aarch64-linux", "i686-linux"};
static const char *const FEATURES[] = {"kvm", "big-parallel", "benchmark"};

static bool in(const char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (!strcmp(*v, s))
			return true;
	return false;
}

static bool model_fits(const struct model *m, const char *system, const char *const *req)
{
	if (!m->slots || !in(m->sys, system))
		return false;
	for (const char *const *f = req; *f; f++)
		if (!in(m->feat, *f) && !in(m->mand, *f))
			return false;
	for (const char *const *f = m->mand; *f; f++)
		if (!in(req, *f))
			return false;
	if (m->down || m->probing_busy || m->used >= m->slots)
		return false;
	if (m->reported && m->thr > 0 && m->load >= m->thr)
		return false;
	return !m->reported || m->free >= 100 * MiB;
}

static bool model_static(const struct model *m, const char *system, const char *const *req)
{
	struct model n = *m;

	n.down = n.probing_busy = n.reported = false;
	n.used = 0;
	return model_fits(&n, system, req);
}

static double model_finish(const struct model *m, const struct sched_input *inp, double work)
{
	double lack = 0;

	for (int k = 0; k < NI && !m->local; k++)
		if (!m->held[k])
			lack += (double)inp[k].nar_size;
	return (m->queued / m->slots + work) / m->speed + lack / m->bw;
}

static void test_property(void)
{
	struct sched_input inp[NI];
	char paths[NI][64];
	unsigned runs = 0, waits = 0, nevers = 0, bad = 0;

	for (int k = 0; k < NI; k++) {
		snprintf(paths[k], sizeof(paths[k]), "/yonder/store/%032d-in", k);
		inp[k].path = paths[k];
	}
	for (int round = 0; round < 2000 && bad < 5; round++) {
		struct model m[NM + 1];
		struct spec sp[NM];
		char name[NM][8], sys[NM][64], feat[NM][64], mand[NM][64];
		struct sched_pool *p;
		const char *req[4] = {NULL};
		const char *system = SYSTEMS[rnd(3)];
		const char *lf[4] = {NULL};
		struct sched_request r;
		struct sched_choice c = SCHED_CHOICE_INIT;
		uint64_t now = 1000000;
		double work = rnd(4) ? 1.0 + rnd(5) : 0;
		size_t nreq = 0;
		bool any_fit = false, any_static = false;

		memset(m, 0, sizeof(m));
		for (int k = 0; k < NI; k++)
			inp[k].nar_size = (uint64_t)rnd(1000) * MiB;
		for (int f = 0; f < 3; f++)
			if (!rnd(4))
				req[nreq++] = FEATURES[f];
		/* The local machine. */
		m[0].local = true;
		m[0].slots = rnd(3);
		m[0].speed = 0.5 + rnd(4) * 0.5;
		m[0].sys[0] = "x86_64-linux";
		m[0].bw = SCHED_DEFAULT_BANDWIDTH;
		for (int f = 0, n = 0; f < 3; f++)
			if (rnd(2)) {
				m[0].feat[n] = lf[n] = FEATURES[f];
				n++;
			}
		for (int i = 1; i <= NM; i++) {
			struct model *x = &m[i];
			int n = 0;

			sys[i - 1][0] = feat[i - 1][0] = mand[i - 1][0] = '\0';
			for (int s = 0; s < 3; s++)
				if (rnd(2) || (s == 2 && !n)) {
					x->sys[n++] = SYSTEMS[s];
					strcat(strcat(sys[i - 1], n > 1 ? "," : ""), SYSTEMS[s]);
				}
			n = 0;
			for (int f = 0; f < 3; f++)
				if (rnd(2)) {
					x->feat[n++] = FEATURES[f];
					strcat(strcat(feat[i - 1], n > 1 ? "," : ""), FEATURES[f]);
				}
			if (!rnd(5)) {
				x->mand[0] = FEATURES[rnd(3)];
				strcpy(mand[i - 1], x->mand[0]);
			}
			x->slots = 1 + rnd(3);
			x->speed = 0.5 + rnd(4) * 0.5;
			x->thr = rnd(3) ? 0.8 : 0;
			x->bw = SCHED_DEFAULT_BANDWIDTH;
			snprintf(name[i - 1], sizeof(name[i - 1]), "m%d", i);
			sp[i - 1] = (struct spec){name[i - 1], sys[i - 1], feat[i - 1], mand[i - 1],
						  x->slots,    x->speed,   x->thr};
		}
		{
			static const char *const lsys[] = {"x86_64-linux", NULL};
			struct sched_local l = {"localhost", lsys, lf, m[0].slots, m[0].speed};
			struct machines *ms = mk(sp, NM);

			if (sched_pool_new(&p, &l) != 0 || sched_pool_load(p, ms) != 0) {
				ok(0, "property: pool: %s", err_msg());
				machines_free(ms);
				return;
			}
			machines_free(ms);
		}
		for (int i = 0; i <= NM; i++) {
			struct model *x = &m[i];

			x->used = x->slots ? rnd(x->slots + 1) : 0;
			for (unsigned u = 0; u < x->used; u++) {
				double w = 1 + rnd(6);

				sched_machine_start(p, (size_t)i, w);
				x->queued += w;
			}
			if (i && rnd(3)) {
				x->reported = true;
				x->load = rnd(12) / 10.0;
				x->free = rnd(4) ? 10 * GiB : rnd(200) * MiB;
				sched_machine_report(p, (size_t)i, now - rnd(1000), x->load, 1,
						     x->free);
			}
			if (i && !rnd(4)) {
				/* down or back, as the status says below */
				sched_machine_failed(p, (size_t)i, now - rnd(10000), "refused");
			}
			if (i && rnd(2)) {
				sched_machine_transfer(p, (size_t)i, 64 * MiB, 100 + rnd(2000), 0);
			}
			for (int k = 0; k < NI; k++)
				if (i && !rnd(3)) {
					x->held[k] = true;
					sched_machine_holds(p, (size_t)i, inp[k].path);
				}
		}
		for (int i = 1; i <= NM; i++) {
			struct sched_status st;

			sched_machine_status(p, (size_t)i, now, &st);
			m[i].down = st.health == SCHED_DOWN;
			m[i].probing_busy = st.health == SCHED_PROBING && st.used > 0;
			m[i].bw = st.bandwidth;
		}
		r = (struct sched_request){system, req, rnd(4) == 0, inp, NI, work};
		if (sched_pick(p, &r, now, &c) != 0) {
			ok(0, "property: pick: %s", err_msg());
			sched_pool_free(p);
			return;
		}
		for (int i = 0; i <= NM; i++) {
			any_fit = any_fit || model_fits(&m[i], system, req);
			any_static = any_static || model_static(&m[i], system, req);
		}
		if (c.verdict == SCHED_PICK_RUN) {
			double w = work ? work : SCHED_DEFAULT_WORK;
			double f = model_finish(&m[c.machine], inp, w);

			runs++;
			if (!model_fits(&m[c.machine], system, req)) {
				ok(0, "round %d: the chosen m%zu does not fit", round, c.machine);
				bad++;
			}
			if (r.prefer_local && model_fits(&m[0], system, req) && c.machine != 0) {
				ok(0, "round %d: preferLocalBuild and local fits, chose m%zu",
				   round, c.machine);
				bad++;
			}
			for (int i = 0; i <= NM && !(r.prefer_local && c.machine == 0); i++)
				if (model_fits(&m[i], system, req) &&
				    model_finish(&m[i], inp, w) < f * (1 - 1e-12)) {
					ok(0,
					   "round %d: m%d finishes at %g, before the chosen m%zu "
					   "at %g",
					   round, i, model_finish(&m[i], inp, w), c.machine, f);
					bad++;
				}
			if (fabs(c.finish - f) > 1e-9 * f) {
				ok(0, "round %d: finish %g, model %g", round, c.finish, f);
				bad++;
			}
		} else if (c.verdict == SCHED_PICK_WAIT) {
			waits++;
			if (any_fit || !any_static) {
				ok(0, "round %d: WAIT but fit %d, static %d", round, any_fit,
				   any_static);
				bad++;
			}
		} else {
			nevers++;
			if (any_static || c.nrows != NM + 1) {
				ok(0, "round %d: NEVER but some machine may fit (%zu rows)", round,
				   c.nrows);
				bad++;
			}
			for (size_t k = 0; k < c.nrows; k++)
				if (sched_why_may_fit(c.rows[k].why)) {
					ok(0, "round %d: NEVER with a row that may fit", round);
					bad++;
				}
		}
		sched_choice_release(&c);
		sched_pool_free(p);
	}
	ok(bad == 0 && runs > 200 && waits > 50 && nevers > 50,
	   "property: 2000 seeded rounds (%u RUN, %u WAIT, %u NEVER), every choice fits and "
	   "none finishes later than a fitting machine",
	   runs, waits, nevers);
}

int main(void)
{
	test_fit_rules();
	test_dynamic_rules();
	test_finish();
	test_bandwidth();
	test_local();
	test_wait_never();
	test_backoff();
	test_ties();
	test_reload();
	test_held();
	test_doc_example();
	test_property();
	return tap_done();
}
