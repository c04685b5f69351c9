/* sched_pick.c — which machine builds a derivation (see sched_pick.h and
 * doc/SCHEDULING.md). */
#include "sched_pick.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "err.h"
#include "machines.h"

/* A set of store paths: open addressing, linear probing, never more than
 * half full. */
struct pathset {
	char **v;
	size_t cap, n; /* cap: 0 or a power of 2 */
};

struct cand {
	/* The declaration, a copy (lists NULL-terminated) that machine_fits()
	 * reads; for the local machine, built from struct sched_local. */
	struct machine m;
	bool local, retired;
	unsigned used;
	double queued;
	bool have_report;
	double load;
	unsigned cores;
	uint64_t free, report_at;
	unsigned failures;
	uint64_t down_since, down_until;
	char reason[SCHED_REASON_MAX];
	double bandwidth;
	bool measured;
	struct pathset held;
	uint64_t builds_done, sent, received, send_ms;
};

struct sched_pool {
	struct cand *v;
	size_t n, cap;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void pathset_clear(struct pathset *s)
{
	for (size_t k = 0; k < s->cap; k++)
		free(s->v[k]);
	free(s->v);
	s->v = NULL;
	s->cap = s->n = 0;
}

static size_t pathset_slot(const struct pathset *s, const char *path)
{
	size_t k = (size_t)hash_str(path) & (s->cap - 1);

	while (s->v[k] && strcmp(s->v[k], path))
		k = (k + 1) & (s->cap - 1);
	return k;
}

static bool pathset_has(const struct pathset *s, const char *path)
{
	return s->cap && s->v[pathset_slot(s, path)];
}

static int pathset_grow(struct pathset *s)
{
	size_t ncap = s->cap ? 2 * s->cap : 16;
	struct pathset t = {calloc(ncap, sizeof(char *)), ncap, s->n};

	if (!t.v)
		return err_set(ERR_NOMEM, "out of memory");
	for (size_t k = 0; k < s->cap; k++)
		if (s->v[k])
			t.v[pathset_slot(&t, s->v[k])] = s->v[k];
	free(s->v);
	*s = t;
	return 0;
}

static int pathset_add(struct pathset *s, const char *path)
{
	size_t k;
	char *dup;
	int r;

	if (pathset_has(s, path))
		return 0;
	if (s->n >= SCHED_HELD_MAX)
		pathset_clear(s);
	if (2 * (s->n + 1) > s->cap && (r = pathset_grow(s)) != 0)
		return r;
	if (!(dup = strdup(path)))
		return err_set(ERR_NOMEM, "out of memory");
	k = pathset_slot(s, path);
	s->v[k] = dup;
	s->n++;
	return 0;
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

/* A NULL-terminated copy of V (NULL-terminated too; NULL: empty). */
static char **strv_dup(const char *const *v, size_t *np)
{
	size_t n = 0;
	char **w;

	while (v && v[n])
		n++;
	if (!(w = calloc(n + 1, sizeof(char *))))
		return NULL;
	for (size_t k = 0; k < n; k++)
		if (!(w[k] = strdup(v[k]))) {
			strv_free(w);
			return NULL;
		}
	*np = n;
	return w;
}

static void decl_release(struct machine *m)
{
	free(m->name);
	strv_free(m->systems);
	strv_free(m->features);
	strv_free(m->mandatory_features);
	memset(m, 0, sizeof(*m));
}

/* The part of SRC that choosing needs, copied to *DST. */
static int decl_copy(struct machine *dst, const struct machine *src)
{
	struct machine m = {0};

	m.name = strdup(src->name);
	m.systems = strv_dup((const char *const *)src->systems, &m.nsystems);
	m.features = strv_dup((const char *const *)src->features, &m.nfeatures);
	m.mandatory_features =
	    strv_dup((const char *const *)src->mandatory_features, &m.nmandatory);
	if (!m.name || !m.systems || !m.features || !m.mandatory_features) {
		decl_release(&m);
		return err_set(ERR_NOMEM, "out of memory");
	}
	m.port = src->port;
	m.parallel_builds = src->parallel_builds;
	m.speed = src->speed;
	m.overload_threshold = src->overload_threshold;
	*dst = m;
	return 0;
}

static void cand_init(struct cand *c)
{
	memset(c, 0, sizeof(*c));
	c->bandwidth = SCHED_DEFAULT_BANDWIDTH;
}

static void cand_release(struct cand *c)
{
	decl_release(&c->m);
	pathset_clear(&c->held);
}

int sched_pool_new(struct sched_pool **out, const struct sched_local *l)
{
	static const struct sched_local dflt = {NULL, NULL, NULL, 1, 1.0};
	const char *sys[2] = {machines_local_system(), NULL};
	struct sched_pool *p;
	struct machine m = {0};
	double speed;
	int r;

	if (!l)
		l = &dflt;
	speed = l->speed == 0 ? 1.0 : l->speed;
	if (!(speed > 0) || !isfinite(speed))
		return err_set(ERR_INVALID, "local machine: speed %g: expected a positive number",
			       l->speed);
	m.name = (char *)(l->name ? l->name : "localhost");
	m.systems = (char **)(l->systems ? l->systems : sys);
	m.features = (char **)l->features;
	m.parallel_builds = l->max_jobs;
	m.speed = speed;
	if (!(p = calloc(1, sizeof(*p))) || !(p->v = calloc(4, sizeof(*p->v)))) {
		free(p);
		return err_set(ERR_NOMEM, "out of memory");
	}
	p->cap = 4;
	cand_init(&p->v[0]);
	if ((r = decl_copy(&p->v[0].m, &m)) != 0) {
		free(p->v);
		free(p);
		return r;
	}
	p->v[0].local = true;
	p->v[0].m.port = 0;
	p->v[0].m.overload_threshold = 0;
	p->n = 1;
	*out = p;
	return 0;
}

void sched_pool_free(struct sched_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		cand_release(&p->v[i]);
	free(p->v);
	free(p);
}

size_t sched_pool_size(const struct sched_pool *p)
{
	return p->n;
}

size_t sched_pool_find(const struct sched_pool *p, const char *name, unsigned port)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].m.port == port && !strcasecmp(p->v[i].m.name, name))
			return i;
	return (size_t)-1;
}

int sched_pool_load(struct sched_pool *p, const struct machines *ms)
{
	size_t nms = ms ? ms->n : 0, nnew = 0, n = p->n;
	struct machine *decl = NULL;
	size_t *where = NULL;
	int r = ERR_NOMEM;

	/* Everything that can fail is done first, into DECL, so that a
	 * failure leaves the pool as it was. */
	if (nms &&
	    (!(decl = calloc(nms, sizeof(*decl))) || !(where = calloc(nms, sizeof(size_t))))) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < nms; k++) {
		where[k] = sched_pool_find(p, ms->v[k].name, ms->v[k].port);
		if (where[k] == SCHED_LOCAL || where[k] == (size_t)-1) {
			/* machines.c drops duplicates; be safe if one slips in. */
			for (size_t j = 0; j < k; j++)
				if (where[j] >= n && ms->v[j].port == ms->v[k].port &&
				    !strcasecmp(ms->v[j].name, ms->v[k].name))
					where[k] = where[j];
			if (where[k] == SCHED_LOCAL || where[k] == (size_t)-1)
				where[k] = n + nnew++;
		}
		if ((r = decl_copy(&decl[k], &ms->v[k])) != 0)
			goto out;
	}
	if (n + nnew > SCHED_POOL_MAX) {
		r = err_set(ERR_TOOBIG,
			    "machines file: more than %d machines over the daemon's life",
			    SCHED_POOL_MAX - 1);
		goto out;
	}
	if (n + nnew > p->cap) {
		size_t ncap = p->cap;
		struct cand *v;

		while (ncap < n + nnew)
			ncap *= 2;
		if (!(v = realloc(p->v, ncap * sizeof(*v)))) {
			r = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
		p->v = v;
		p->cap = ncap;
	}
	for (size_t i = n; i < n + nnew; i++)
		cand_init(&p->v[i]);
	p->n = n + nnew;
	for (size_t i = 1; i < p->n; i++)
		p->v[i].retired = true;
	for (size_t k = 0; k < nms; k++) {
		struct cand *c = &p->v[where[k]];

		if (!c->retired) { /* a duplicate: the first entry wins */
			decl_release(&decl[k]);
			continue;
		}
		decl_release(&c->m);
		c->m = decl[k];
		c->retired = false;
	}
	r = 0;
out:
	if (r != 0)
		for (size_t k = 0; k < nms && decl; k++)
			decl_release(&decl[k]);
	free(decl);
	free(where);
	return r;
}

void sched_machine_start(struct sched_pool *p, size_t i, double work)
{
	struct cand *c = &p->v[i];

	c->used++;
	c->queued += work > 0 ? work : SCHED_DEFAULT_WORK;
}

void sched_machine_end(struct sched_pool *p, size_t i, double work, bool built)
{
	struct cand *c = &p->v[i];

	if (c->used)
		c->used--;
	c->queued -= work > 0 ? work : SCHED_DEFAULT_WORK;
	if (c->queued < 1e-9 || !c->used) /* no drift below 0 or left over */
		c->queued = 0;
	if (built)
		c->builds_done++;
}

void sched_machine_report(struct sched_pool *p, size_t i, uint64_t now, double load, unsigned cores,
			  uint64_t free)
{
	struct cand *c = &p->v[i];

	c->have_report = true;
	c->load = load >= 0 && isfinite(load) ? load : 0;
	c->cores = cores ? cores : 1;
	c->free = free;
	c->report_at = now;
}

void sched_machine_transfer(struct sched_pool *p, size_t i, uint64_t sent, uint64_t send_ms,
			    uint64_t received)
{
	struct cand *c = &p->v[i];

	c->sent += sent;
	c->send_ms += send_ms;
	c->received += received;
	if (sent >= SCHED_MEASURE_MIN_BYTES && send_ms >= 1) {
		double rate = (double)sent * 1000.0 / (double)send_ms;

		c->bandwidth = c->measured ? 0.75 * c->bandwidth + 0.25 * rate : rate;
		c->measured = true;
	}
}

int sched_machine_holds(struct sched_pool *p, size_t i, const char *path)
{
	return pathset_add(&p->v[i].held, path);
}

bool sched_machine_has(const struct sched_pool *p, size_t i, const char *path)
{
	return pathset_has(&p->v[i].held, path);
}

void sched_machine_forget(struct sched_pool *p, size_t i)
{
	pathset_clear(&p->v[i].held);
}

uint64_t sched_machine_failed(struct sched_pool *p, size_t i, uint64_t now, const char *reason)
{
	struct cand *c = &p->v[i];
	uint64_t ms = SCHED_BACKOFF_FIRST_MS;

	snprintf(c->reason, sizeof(c->reason), "%s", reason ? reason : "failed");
	if (c->failures && now < c->down_until)
		return c->down_until - now;
	if (!c->failures)
		c->down_since = now;
	for (unsigned k = 0; k < c->failures && ms < SCHED_BACKOFF_MAX_MS; k++)
		ms *= SCHED_BACKOFF_FACTOR;
	if (ms > SCHED_BACKOFF_MAX_MS)
		ms = SCHED_BACKOFF_MAX_MS;
	c->failures++;
	c->down_until = now + ms;
	return ms;
}

void sched_machine_ok(struct sched_pool *p, size_t i)
{
	struct cand *c = &p->v[i];

	c->failures = 0;
	c->down_since = c->down_until = 0;
	c->reason[0] = '\0';
}

/* ---- Choosing */

bool sched_why_may_fit(enum sched_why w)
{
	return w == SCHED_WHY_FITS || w >= SCHED_WHY_DOWN;
}

static bool report_believed(const struct cand *c, uint64_t now, uint64_t ttl)
{
	return c->have_report && now - c->report_at < ttl && now >= c->report_at;
}

static bool overloaded(const struct cand *c, uint64_t now)
{
	return c->m.overload_threshold > 0 && report_believed(c, now, SCHED_LOAD_TTL_MS) &&
	       c->load / c->cores >= c->m.overload_threshold;
}

static bool short_of_space(const struct cand *c, uint64_t now)
{
	return report_believed(c, now, SCHED_REPORT_TTL_MS) && c->free < SCHED_MIN_FREE;
}

/* The slots are the only thing that keeps C from a build: only a build
 * ending there can change that. */
static bool slot_blocked(const struct cand *c)
{
	return c->used >= c->m.parallel_builds || (c->failures && c->used);
}

static enum sched_why cand_fits(const struct cand *c, const struct sched_request *r, uint64_t now,
				struct buf *why)
{
	switch (machine_fits(&c->m, r->system, r->features, why)) {
	case MACHINE_FITS: break;
	case MACHINE_MISFIT_SYSTEM: return SCHED_WHY_SYSTEM;
	case MACHINE_MISFIT_FEATURES: return SCHED_WHY_FEATURES;
	case MACHINE_MISFIT_MANDATORY: return SCHED_WHY_MANDATORY;
	}
	if (c->failures && now < c->down_until)
		return SCHED_WHY_DOWN;
	if (c->failures && c->used)
		return SCHED_WHY_PROBING;
	if (c->used >= c->m.parallel_builds)
		return SCHED_WHY_BUSY;
	if (overloaded(c, now))
		return SCHED_WHY_OVERLOADED;
	if (short_of_space(c, now))
		return SCHED_WHY_DISK;
	return SCHED_WHY_FITS;
}

static uint64_t cand_lacking(const struct cand *c, const struct sched_request *r)
{
	uint64_t sum = 0;

	if (c->local) /* the inputs are in the local store by the time it runs */
		return 0;
	for (size_t k = 0; k < r->ninputs; k++) {
		if (pathset_has(&c->held, r->inputs[k].path))
			continue;
		sum = sum + r->inputs[k].nar_size < sum ? UINT64_MAX : sum + r->inputs[k].nar_size;
	}
	return sum;
}

static double cand_finish(const struct cand *c, const struct sched_request *r, uint64_t *lackp)
{
	double work = r->work > 0 ? r->work : SCHED_DEFAULT_WORK;
	unsigned slots = c->m.parallel_builds ? c->m.parallel_builds : 1;
	uint64_t lack = cand_lacking(c, r);

	if (lackp)
		*lackp = lack;
	return (c->queued / slots + work) / c->m.speed + (double)lack / c->bandwidth;
}

/* Whether A (finishing at FA) goes before B (at FB). */
static bool better(const struct cand *a, double fa, size_t ia, const struct cand *b, double fb,
		   size_t ib)
{
	int k;

	if (fa != fb)
		return fa < fb;
	if (a->m.speed != b->m.speed)
		return a->m.speed > b->m.speed;
	if (a->local != b->local)
		return a->local;
	if ((k = strcmp(a->m.name, b->m.name)) != 0)
		return k < 0;
	if (a->m.port != b->m.port)
		return a->m.port < b->m.port;
	return ia < ib;
}

enum sched_why sched_machine_fits(const struct sched_pool *p, size_t i,
				  const struct sched_request *r, uint64_t now, double *finish)
{
	const struct cand *c = &p->v[i];

	if (finish)
		*finish = cand_finish(c, r, NULL);
	if (c->retired)
		return SCHED_WHY_RETIRED;
	if (!c->m.parallel_builds)
		return SCHED_WHY_NO_SLOTS;
	return cand_fits(c, r, now, NULL);
}

static void put_secs(struct buf *b, uint64_t ms)
{
	if (ms < 100000)
		buf_printf(b, "%.3g s", (double)ms / 1000.0);
	else
		buf_printf(b, "%llu s", (unsigned long long)((ms + 500) / 1000));
}

/* N in a unit, rounded down: "99.9 MiB" is not mistaken for enough. */
static void put_bytes(struct buf *b, uint64_t n)
{
	static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB"};
	uint64_t div = 1024;
	size_t u = 0;

	if (n < 1024) {
		buf_printf(b, "%llu B", (unsigned long long)n);
		return;
	}
	while (u + 1 < sizeof(unit) / sizeof(*unit) && n / div >= 1024)
		div *= 1024, u++;
	buf_printf(b, "%llu.%llu %s", (unsigned long long)(n / div),
		   (unsigned long long)(n % div * 10 / div), unit[u]);
}

/* The sentence for a reason that machine_fits() did not write. */
static void put_why(struct buf *b, const struct cand *c, enum sched_why w, double finish,
		    uint64_t now)
{
	switch (w) {
	case SCHED_WHY_FITS: buf_printf(b, "fits: expected to finish in %.3g s", finish); break;
	case SCHED_WHY_NO_SLOTS: buf_puts(b, "builds nothing here (--max-jobs 0)"); break;
	case SCHED_WHY_DOWN:
		buf_puts(b, "down since ");
		put_secs(b, now - c->down_since);
		buf_puts(b, " ago, for ");
		put_secs(b, c->down_until - now);
		buf_printf(b, " more (%u failure%s): %s", c->failures, c->failures == 1 ? "" : "s",
			   c->reason);
		break;
	case SCHED_WHY_PROBING:
		buf_printf(b, "back from %u failure%s (%s): its trial build has not ended yet",
			   c->failures, c->failures == 1 ? "" : "s", c->reason);
		break;
	case SCHED_WHY_BUSY:
		buf_printf(b, "all %u slot%s busy", c->m.parallel_builds,
			   c->m.parallel_builds == 1 ? "" : "s");
		break;
	case SCHED_WHY_OVERLOADED:
		buf_printf(b, "overloaded: load %.2f per core, threshold %.2f", c->load / c->cores,
			   c->m.overload_threshold);
		break;
	case SCHED_WHY_DISK:
		buf_puts(b, "only ");
		put_bytes(b, c->free);
		buf_puts(b, " free in its store (100 MiB needed)");
		break;
	default: break; /* machine_fits() wrote it; retired ones have no row */
	}
}

void sched_choice_release(struct sched_choice *c)
{
	for (size_t k = 0; k < c->nrows; k++)
		free(c->rows[k].text);
	free(c->rows);
	*c = (struct sched_choice)SCHED_CHOICE_INIT;
}

/* The verdict of R at NOW, without rows. */
static void decide(const struct sched_pool *p, const struct sched_request *r, uint64_t now,
		   struct sched_choice *ch)
{
	size_t best = (size_t)-1;
	double best_finish = 0;
	bool may = false, local_wins = false;

	for (size_t i = 0; i < p->n && !local_wins; i++) {
		const struct cand *c = &p->v[i];
		enum sched_why w = sched_machine_fits(p, i, r, now, NULL);
		double finish;
		uint64_t t = 0;

		if (!sched_why_may_fit(w))
			continue;
		may = true;
		if (w == SCHED_WHY_FITS) {
			finish = cand_finish(c, r, NULL);
			local_wins = r->prefer_local && c->local;
			if (local_wins || best == (size_t)-1 ||
			    better(c, finish, i, &p->v[best], best_finish, best))
				best = i, best_finish = finish;
			continue;
		}
		if (slot_blocked(c)) {
			ch->slot_wait = true;
			continue; /* a build ending there will tell */
		}
		if (c->failures && now < c->down_until)
			t = c->down_until;
		if (short_of_space(c, now) && c->report_at + SCHED_REPORT_TTL_MS > t)
			t = c->report_at + SCHED_REPORT_TTL_MS;
		else if (overloaded(c, now) && c->report_at + SCHED_LOAD_TTL_MS > t)
			t = c->report_at + SCHED_LOAD_TTL_MS;
		if (t && t < ch->wake)
			ch->wake = t;
	}
	if (best != (size_t)-1) {
		ch->verdict = SCHED_PICK_RUN;
		ch->machine = best;
		ch->finish = cand_finish(&p->v[best], r, &ch->lacking);
		ch->wake = SCHED_NO_WAKE;
	} else {
		ch->verdict = may ? SCHED_PICK_WAIT : SCHED_PICK_NEVER;
	}
}

/* One row per machine that is not retired. */
static int add_rows(const struct sched_pool *p, const struct sched_request *r, uint64_t now,
		    struct sched_choice *ch)
{
	struct buf b = BUF_INIT(4096);
	int ret = 0;

	if (!(ch->rows = calloc(p->n, sizeof(*ch->rows))))
		return err_set(ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < p->n && ret == 0; i++) {
		const struct cand *c = &p->v[i];
		struct sched_row *row = &ch->rows[ch->nrows];
		enum sched_why w;

		if (c->retired)
			continue;
		buf_reset(&b);
		w = c->m.parallel_builds ? cand_fits(c, r, now, &b) : SCHED_WHY_NO_SLOTS;
		put_why(&b, c, w, cand_finish(c, r, NULL), now);
		row->machine = i;
		row->name = c->m.name;
		row->port = c->m.port;
		row->why = w;
		if (!(row->text = strdup(b.data ? b.data : "")))
			ret = err_set(ERR_NOMEM, "out of memory");
		ch->nrows++;
	}
	buf_release(&b);
	return ret;
}

static int choose(const struct sched_pool *p, const struct sched_request *r, uint64_t now,
		  bool all_rows, struct sched_choice *ch)
{
	int ret;

	sched_choice_release(ch);
	decide(p, r, now, ch);
	if (!all_rows && ch->verdict != SCHED_PICK_NEVER)
		return 0;
	if ((ret = add_rows(p, r, now, ch)) != 0) {
		sched_choice_release(ch);
		return ret;
	}
	return 0;
}

int sched_pick(const struct sched_pool *p, const struct sched_request *r, uint64_t now,
	       struct sched_choice *c)
{
	return choose(p, r, now, false, c);
}

int sched_explain(const struct sched_pool *p, const struct sched_request *r, uint64_t now,
		  struct sched_choice *c)
{
	return choose(p, r, now, true, c);
}

void sched_machine_status(const struct sched_pool *p, size_t i, uint64_t now,
			  struct sched_status *st)
{
	const struct cand *c = &p->v[i];

	memset(st, 0, sizeof(*st));
	st->name = c->m.name;
	st->port = c->m.port;
	st->local = c->local;
	st->retired = c->retired;
	st->systems = (const char *const *)c->m.systems;
	st->features = (const char *const *)c->m.features;
	st->mandatory = (const char *const *)c->m.mandatory_features;
	st->speed = c->m.speed;
	st->slots = c->m.parallel_builds;
	st->used = c->used;
	st->queued = c->queued;
	st->overload_threshold = c->m.overload_threshold;
	st->reported = report_believed(c, now, SCHED_REPORT_TTL_MS);
	st->load = c->load;
	st->cores = c->cores;
	st->free = c->free;
	st->report_at = c->report_at;
	st->health = !c->failures ? SCHED_UP : now < c->down_until ? SCHED_DOWN : SCHED_PROBING;
	st->failures = c->failures;
	st->down_since = c->down_since;
	st->down_until = c->down_until;
	st->reason = c->reason;
	st->bandwidth = c->bandwidth;
	st->bandwidth_measured = c->measured;
	st->held = c->held.n;
	st->builds_done = c->builds_done;
	st->bytes_sent = c->sent;
	st->bytes_received = c->received;
	st->send_ms = c->send_ms;
}
