#include "offloader.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "acl.h"
#include "buf.h"
#include "builder.h"
#include "err.h"
#include "machines.h"
#include "pki.h"
#include "remote.h"
#include "sched_pick.h"
#include "store.h"

enum { M_LOG, M_END, M_PROBE };

struct msg {
	int type;
	void *tag;
	size_t machine;
	int rc;
	char *text; /* M_END, M_PROBE: the message; M_LOG: the chunk */
	size_t n;
	struct offload_result res;
	struct msg *next;
};

struct offloader;

/* One slot of one machine: a thread and its session. */
struct slot {
	struct offloader *f;
	size_t machine;
	const struct machine *m; /* its declaration when the job was given */
	pthread_t th;
	pthread_cond_t cv;
	bool started, busy, has_job, quit;
	/* A probe (connect and handshake, to learn the machine's load and
	 * free space before any build) was asked for / runs now. */
	bool probe, probing;
	/* The job came while the probe was running; PROBE_RC (with
	 * PROBE_MSG) is how that probe ended. */
	bool job_in_probe;
	int probe_rc;
	char *probe_msg;
	char *drv;
	struct offloader_job j;
	void *tag;
	struct remote *r;
	struct store *s;
};

struct offloader {
	struct store *s;
	struct sched_pool *pool;
	struct pki_secret key;
	struct acl *acl; /* the current one (under MU); every one read is in ACLS */
	struct acl **acls;
	size_t nacls;
	char *acl_file;
	struct machines **sets; /* every machines set loaded (slots may point in) */
	size_t nsets;
	const struct machine **decl; /* by pool index: the current declaration */
	size_t ndecl;
	struct slot **slots;
	size_t nslots;
	int efd;
	int64_t idle_ms; /* an unused session is closed after this long; 0: never */
	pthread_mutex_t mu;
	struct msg *head, *tail;
};

static void post(struct offloader *f, struct msg *m)
{
	uint64_t one = 1;

	pthread_mutex_lock(&f->mu);
	if (f->tail)
		f->tail->next = m;
	else
		f->head = m;
	f->tail = m;
	pthread_mutex_unlock(&f->mu);
	if (write(f->efd, &one, sizeof(one)) < 0) {
		/* The counter is saturated only if nobody reads: nothing to do. */
	}
}

static void slot_log(void *ctx, const void *p, size_t n)
{
	struct slot *sl = ctx;
	struct msg *m = calloc(1, sizeof(*m));

	if (!m || !(m->text = malloc(n ? n : 1))) {
		free(m);
		return; /* the log is saved locally by offload_build anyway */
	}
	memcpy(m->text, p, n);
	m->n = n;
	m->type = M_LOG;
	m->tag = sl->tag;
	m->machine = sl->machine;
	post(sl->f, m);
}

/* Frees the slot's session (under the lock: offloader_free may be
 * aborting it). */
static void slot_drop(struct slot *sl)
{
	pthread_mutex_lock(&sl->f->mu);
	remote_free(sl->r);
	sl->r = NULL;
	pthread_mutex_unlock(&sl->f->mu);
}

/* Connects the slot's session when it has none.  Under no lock. */
static int slot_connect(struct slot *sl)
{
	struct offloader *f = sl->f;
	struct remote *r = NULL;
	int rc;

	if (sl->r && !remote_connected(sl->r))
		slot_drop(sl);
	if (sl->r)
		return 0;
	rc = remote_connect(&r, sl->m, NULL);
	pthread_mutex_lock(&f->mu);
	sl->r = r;
	if (sl->quit && r)
		remote_abort(r);
	pthread_mutex_unlock(&f->mu);
	return rc;
}

/* The probe: a session and one handshake, reported as M_PROBE. */
static void slot_probe(struct slot *sl)
{
	struct offloader *f = sl->f;
	struct remote_chan *c = NULL;
	struct msg *m = calloc(1, sizeof(*m));
	int rc;

	if ((rc = slot_connect(sl)) == 0 && (rc = remote_open(sl->r, store_dir(f->s), &c)) == 0) {
		const struct proto_welcome *w = remote_welcome(c);

		if (m) {
			m->res.welcomed = true;
			m->res.cores = (unsigned)w->cores;
			m->res.load = (double)w->load_milli / 1000.0;
			m->res.free = w->free_bytes;
		}
	}
	if (rc < 0)
		err_prefix(rc, "probing %s", sl->m->name);
	remote_chan_free(c);
	if (rc < 0 && sl->r)
		slot_drop(sl);
	pthread_mutex_lock(&f->mu);
	sl->probing = false;
	sl->probe_rc = rc;
	free(sl->probe_msg);
	sl->probe_msg = rc < 0 ? strdup(err_msg()) : NULL;
	pthread_mutex_unlock(&f->mu);
	if (!m)
		return;
	m->type = M_PROBE;
	m->machine = sl->machine;
	m->rc = rc;
	if (rc < 0)
		m->text = strdup(err_msg());
	post(f, m);
}

static void add_ms(struct timespec *t, int64_t ms)
{
	t->tv_sec += (time_t)(ms / 1000);
	t->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void slot_drop_idle(struct slot *sl, struct remote *r)
{
	pthread_mutex_unlock(&sl->f->mu);
	remote_free(r);
	pthread_mutex_lock(&sl->f->mu);
}

/* Waits for a job, a probe or the end.  An idle session sends a keepalive
 * every REMOTE_KEEPALIVE_MS (a session found dead is dropped: the next
 * build connects afresh instead of waiting for a timeout on it) and is
 * closed once idle for f->idle_ms (0: never).  Called and returns with
 * f->mu held. */
static void slot_wait(struct slot *sl)
{
	struct offloader *f = sl->f;
	struct timespec idle_dl, ping_dl, now;
	bool armed = false;

	while (!sl->has_job && !sl->probe && !sl->quit) {
		const struct timespec *dl;
		struct remote *r;
		const struct machine *m;
		int k;

		if (!sl->r) {
			pthread_cond_wait(&sl->cv, &f->mu);
			armed = false;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!armed) {
			idle_dl = ping_dl = now;
			add_ms(&idle_dl, f->idle_ms);
			add_ms(&ping_dl, REMOTE_KEEPALIVE_MS);
			armed = true;
		}
		dl = f->idle_ms > 0 && before(&idle_dl, &ping_dl) ? &idle_dl : &ping_dl;
		if (pthread_cond_timedwait(&sl->cv, &f->mu, dl) != ETIMEDOUT || sl->has_job ||
		    sl->probe || sl->quit || !sl->r)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &now);
		r = sl->r;
		if (f->idle_ms > 0 && !before(&now, &idle_dl)) {
			/* Idle for long enough: closed (a new one is made for
			 * the next build). */
			sl->r = NULL;
			slot_drop_idle(sl, r);
			armed = false;
			continue;
		}
		if (before(&now, &ping_dl))
			continue;
		/* Out of the slot while it pings: offloader_start may not
		 * free it under us (a declaration changed meanwhile is seen
		 * after). */
		sl->r = NULL;
		m = sl->m;
		pthread_mutex_unlock(&f->mu);
		k = remote_keepalive(r);
		pthread_mutex_lock(&f->mu);
		if (k == 0 && !sl->quit && sl->m == m && !sl->r) {
			sl->r = r;
			ping_dl = now;
			add_ms(&ping_dl, REMOTE_KEEPALIVE_MS);
		} else {
			slot_drop_idle(sl, r);
			armed = false;
		}
	}
}

static void *slot_main(void *arg)
{
	struct slot *sl = arg;
	struct offloader *f = sl->f;

	for (;;) {
		struct offload_opts oo;
		struct msg *m;
		int rc;
		bool fresh, after_probe;
		const struct acl *oo_acl;

		pthread_mutex_lock(&f->mu);
		slot_wait(sl);
		if (sl->probe && !sl->quit) {
			sl->probe = false;
			sl->probing = true;
			pthread_mutex_unlock(&f->mu);
			slot_probe(sl);
			continue;
		}
		if (!sl->has_job) {
			pthread_mutex_unlock(&f->mu);
			break;
		}
		sl->has_job = false;
		oo_acl = f->acl;
		after_probe = sl->job_in_probe;
		sl->job_in_probe = false;
		pthread_mutex_unlock(&f->mu);

		m = calloc(1, sizeof(*m));
		memset(&oo, 0, sizeof(oo));
		oo.timeout = sl->j.timeout;
		oo.max_silent = sl->j.max_silent;
		oo.cores = sl->j.cores;
		oo.compression = sl->m->compression;
		oo.key = &f->key;
		oo.acl = oo_acl;
		oo.acl_file = f->acl_file;
		oo.log = slot_log;
		oo.ctx = sl;
		rc = 0;
		fresh = !sl->r || !remote_connected(sl->r);
		if (after_probe && sl->probe_rc < 0) {
			/* It was given while the probe was failing: that
			 * failure is its own (no second connect timeout). */
			rc = err_set(sl->probe_rc, "%s",
				     sl->probe_msg ? sl->probe_msg : "the probe failed");
		}
		if (rc == 0 && !sl->s)
			rc = store_open_at(&sl->s, store_dir(f->s), store_state_path(f->s));
		if (rc == 0)
			rc = slot_connect(sl);
		if (rc == 0 && m) {
			rc = offload_build(sl->r, sl->s, sl->drv, &oo, &m->res);
			/* A warm session that turns out dead (the machine
			 * restarted, the link went away meanwhile) is not the
			 * build's failure: once more on a new session. */
			if (rc < 0 && !fresh && !m->res.welcomed && !remote_connected(sl->r)) {
				slot_drop(sl);
				if ((rc = slot_connect(sl)) == 0)
					rc = offload_build(sl->r, sl->s, sl->drv, &oo, &m->res);
			}
		}
		if (rc < 0 && sl->r)
			slot_drop(sl); /* it may be broken: a fresh one next time */
		if (m) {
			m->type = M_END;
			m->tag = sl->tag;
			m->machine = sl->machine;
			m->rc = rc;
			if (rc != 0)
				m->text = strdup(err_msg());
		}
		pthread_mutex_lock(&f->mu);
		free(sl->drv);
		sl->drv = NULL;
		sl->busy = false;
		pthread_mutex_unlock(&f->mu);
		if (m)
			post(f, m);
	}
	slot_drop(sl);
	store_free(sl->s);
	sl->s = NULL;
	return NULL;
}

static int set_decl(struct offloader *f, const struct machines *ms)
{
	size_t n = sched_pool_size(f->pool);
	const struct machine **v = realloc(f->decl, n * sizeof(*v));

	if (!v)
		return err_set(ERR_NOMEM, "out of memory");
	f->decl = v;
	for (size_t i = f->ndecl; i < n; i++)
		v[i] = NULL;
	f->ndecl = n;
	for (size_t i = 0; ms && i < ms->n; i++) {
		size_t k = sched_pool_find(f->pool, ms->v[i].name, ms->v[i].port);

		if (k < n)
			v[k] = &ms->v[i];
	}
	return 0;
}

static int keep_set(struct offloader *f, struct machines *ms)
{
	struct machines **v = realloc(f->sets, (f->nsets + 1) * sizeof(*v));

	if (!v)
		return err_set(ERR_NOMEM, "out of memory");
	f->sets = v;
	f->sets[f->nsets++] = ms;
	return 0;
}

/* A new slot of machine I, its thread started.  NULL (and a message) on
 * failure. */
static struct slot *slot_new(struct offloader *f, size_t i)
{
	struct slot **v = realloc(f->slots, (f->nslots + 1) * sizeof(*v));
	struct slot *sl;
	pthread_condattr_t ca;

	if (v)
		f->slots = v;
	if (!v || !(sl = calloc(1, sizeof(*sl)))) {
		err_set(ERR_NOMEM, "out of memory");
		return NULL;
	}
	sl->f = f;
	sl->machine = i;
	/* The idle timeout is measured on the monotonic clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sl->cv, &ca);
	pthread_condattr_destroy(&ca);
	sl->m = f->decl[i];
	if (pthread_create(&sl->th, NULL, slot_main, sl) != 0) {
		pthread_cond_destroy(&sl->cv);
		free(sl);
		err_set(ERR_INTERNAL, "cannot start a thread for %s", f->decl[i]->name);
		return NULL;
	}
	sl->started = true;
	f->slots[f->nslots++] = sl;
	return sl;
}

/* Every machine with no slot yet gets one that connects at once and
 * reports the machine's load and free space (M_PROBE), so that the first
 * build already knows them, and finds the session warm.  A machine that
 * cannot be probed is not an error here: the probe's failure marks it
 * down when drained. */
static void probe_new_machines(struct offloader *f)
{
	for (size_t i = 1; i < f->ndecl; i++) {
		struct slot *sl = NULL;

		if (!f->decl[i])
			continue;
		for (size_t k = 0; k < f->nslots && !sl; k++)
			if (f->slots[k]->machine == i)
				sl = f->slots[k];
		if (sl || !(sl = slot_new(f, i)))
			continue;
		pthread_mutex_lock(&f->mu);
		sl->probe = true;
		pthread_cond_signal(&sl->cv);
		pthread_mutex_unlock(&f->mu);
	}
}

/* YONDER_OFFLOAD_IDLE_TIMEOUT: seconds (a decimal number) an unused
 * session stays open; 0: for ever. */
static int idle_timeout_ms(int64_t *ms)
{
	const char *e = getenv("YONDER_OFFLOAD_IDLE_TIMEOUT");
	char *end;
	double v;

	*ms = OFFLOADER_IDLE_MS;
	if (!e || !*e)
		return 0;
	errno = 0;
	v = strtod(e, &end);
	if (errno || *end || !(v >= 0) || v > 1e7)
		return err_set(ERR_INVALID,
			       "YONDER_OFFLOAD_IDLE_TIMEOUT: expected seconds from 0 (never close) "
			       "to 10000000, got '%s'",
			       e);
	*ms = (int64_t)(v * 1000.0);
	return 0;
}

int offloader_new(struct offloader **out, struct store *s, const struct sched_local *l,
		  struct machines *ms, const struct offloader_opts *o)
{
	struct offloader *f;
	int r;

	*out = NULL;
	if (!(f = calloc(1, sizeof(*f)))) {
		machines_free(ms);
		return err_set(ERR_NOMEM, "out of memory");
	}
	f->s = s;
	f->efd = -1;
	pthread_mutex_init(&f->mu, NULL);
	if ((r = keep_set(f, ms)) != 0) {
		machines_free(ms);
		offloader_free(f);
		return r;
	}
	if ((f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		r = err_sys(ERR_IO, "eventfd");
		offloader_free(f);
		return r;
	}
	if (!(f->acl_file = strdup(o->acl_file))) {
		offloader_free(f);
		return err_set(ERR_NOMEM, "out of memory");
	}
	if ((r = idle_timeout_ms(&f->idle_ms)) != 0 ||
	    (r = pki_secret_load(&f->key, o->secret_file)) != 0 ||
	    (r = offloader_reload_acl(f)) != 0 || (r = sched_pool_new(&f->pool, l)) != 0 ||
	    (r = sched_pool_load(f->pool, ms)) != 0 || (r = set_decl(f, ms)) != 0) {
		offloader_free(f);
		return r;
	}
	probe_new_machines(f);
	*out = f;
	return 0;
}

void offloader_free(struct offloader *f)
{
	struct msg *m, *n;

	if (!f)
		return;
	for (size_t i = 0; i < f->nslots; i++) {
		struct slot *sl = f->slots[i];

		pthread_mutex_lock(&f->mu);
		sl->quit = true;
		/* A build under way ends now (a transient failure there:
		 * nothing of it is registered on either side); an idle
		 * session is cut too, so that no goodbye waits on a dead
		 * link. */
		if (sl->r)
			remote_abort(sl->r);
		pthread_cond_signal(&sl->cv);
		pthread_mutex_unlock(&f->mu);
		if (sl->started)
			pthread_join(sl->th, NULL);
		pthread_cond_destroy(&sl->cv);
		free(sl->drv);
		free(sl->probe_msg);
		free(sl);
	}
	free(f->slots);
	for (m = f->head; m; m = n) {
		n = m->next;
		free(m->text);
		free(m);
	}
	for (size_t i = 0; i < f->nsets; i++)
		machines_free(f->sets[i]);
	free(f->sets);
	free(f->decl);
	sched_pool_free(f->pool);
	pki_secret_release(&f->key);
	for (size_t i = 0; i < f->nacls; i++) {
		acl_release(f->acls[i]);
		free(f->acls[i]);
	}
	free(f->acls);
	free(f->acl_file);
	if (f->efd >= 0)
		close(f->efd);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

int offloader_reload_acl(struct offloader *f)
{
	struct acl *a = calloc(1, sizeof(*a)), **v;
	int r;

	if (!a)
		return err_set(ERR_NOMEM, "out of memory");
	acl_init(a);
	if ((r = acl_load(a, f->acl_file)) != 0) {
		acl_release(a);
		free(a);
		return r;
	}
	if (!(v = realloc(f->acls, (f->nacls + 1) * sizeof(*v)))) {
		acl_release(a);
		free(a);
		return err_set(ERR_NOMEM, "out of memory");
	}
	f->acls = v;
	f->acls[f->nacls++] = a;
	/* Builds under way keep the one they started with. */
	pthread_mutex_lock(&f->mu);
	f->acl = a;
	pthread_mutex_unlock(&f->mu);
	return 0;
}

int offloader_reload(struct offloader *f, struct machines *ms)
{
	int r;

	if ((r = keep_set(f, ms)) != 0) {
		machines_free(ms);
		return r;
	}
	if ((r = sched_pool_load(f->pool, ms)) != 0)
		return r;
	for (size_t i = 0; i < f->ndecl; i++)
		f->decl[i] = NULL;
	if ((r = set_decl(f, ms)) != 0)
		return r;
	probe_new_machines(f);
	return 0;
}

struct sched_pool *offloader_pool(struct offloader *f)
{
	return f->pool;
}

const char *offloader_name(struct offloader *f, size_t i)
{
	return i > 0 && i < f->ndecl && f->decl[i] ? f->decl[i]->name : NULL;
}

int offloader_fd(const struct offloader *f)
{
	return f->efd;
}

int offloader_start(struct offloader *f, size_t i, const char *drv, const struct offloader_job *j,
		    void *tag)
{
	struct slot *sl = NULL;
	char *d;

	if (i == 0 || i >= f->ndecl || !f->decl[i])
		return err_set(ERR_INVALID, "no build machine number %zu", i);
	if (!(d = strdup(drv)))
		return err_set(ERR_NOMEM, "out of memory");
	pthread_mutex_lock(&f->mu);
	for (size_t k = 0; k < f->nslots && !sl; k++)
		if (f->slots[k]->machine == i && !f->slots[k]->busy)
			sl = f->slots[k];
	pthread_mutex_unlock(&f->mu);
	if (!sl && !(sl = slot_new(f, i))) {
		free(d);
		return ERR_NOMEM;
	}
	pthread_mutex_lock(&f->mu);
	if (sl->m != f->decl[i] && sl->r && !sl->probe && !sl->probing) {
		/* Its declaration changed (SIGHUP): a new session (the slot
		 * is idle: its thread does not use it). */
		remote_free(sl->r);
		sl->r = NULL;
	}
	sl->m = f->decl[i];
	sl->drv = d;
	sl->j = *j;
	sl->tag = tag;
	sl->busy = true;
	sl->has_job = true;
	sl->job_in_probe = sl->probe || sl->probing;
	pthread_cond_signal(&sl->cv);
	pthread_mutex_unlock(&f->mu);
	return 0;
}

/* A probe's end: what the machine reported, or its failure, into the
 * pool. */
static void probe_end(struct offloader *f, const struct msg *m)
{
	uint64_t now = (uint64_t)builder_now_ms();

	if (m->machine >= sched_pool_size(f->pool))
		return;
	if (m->rc < 0) {
		sched_machine_failed(f->pool, m->machine, now, m->text ? m->text : "probe failed");
		return;
	}
	sched_machine_report(f->pool, m->machine, now, m->res.load, m->res.cores, m->res.free);
	sched_machine_ok(f->pool, m->machine);
}

void offloader_drain(struct offloader *f, const struct offloader_hooks *h)
{
	uint64_t cnt;
	struct msg *m;

	if (read(f->efd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: nothing counted; the queue is looked at anyway. */
	}
	pthread_mutex_lock(&f->mu);
	m = f->head;
	f->head = f->tail = NULL;
	pthread_mutex_unlock(&f->mu);
	while (m) {
		struct msg *n = m->next;

		if (m->type == M_LOG && h->log)
			h->log(h->ctx, m->tag, m->text, m->n);
		else if (m->type == M_END && h->end)
			h->end(h->ctx, m->tag, m->machine, m->rc, m->text ? m->text : "", &m->res);
		else if (m->type == M_PROBE)
			probe_end(f, m);
		free(m->text);
		free(m);
		m = n;
	}
}

/* ---- status ------------------------------------------------------------ */

static int put_json_str(struct buf *b, const char *s)
{
	int r = buf_putc(b, '"');

	for (; r == 0 && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			r = buf_printf(b, "\\%c", c);
		else if (c < 0x20)
			r = buf_printf(b, "\\u%04x", c);
		else
			r = buf_putc(b, (char)c);
	}
	return r ? r : buf_putc(b, '"');
}

static int put_list(struct buf *b, const char *const *v, bool json)
{
	int r = json ? buf_putc(b, '[') : 0;

	for (size_t i = 0; r == 0 && v && v[i]; i++) {
		if (i)
			r = buf_puts(b, json ? "," : " ");
		if (r == 0)
			r = json ? put_json_str(b, v[i]) : buf_puts(b, v[i]);
	}
	if (r == 0 && !json && (!v || !v[0]))
		r = buf_puts(b, "-");
	return r ? r : json ? buf_putc(b, ']') : 0;
}

static void wall(uint64_t mono, uint64_t now, char *out, size_t size)
{
	time_t t = time(NULL) + (time_t)((mono > now ? mono - now : 0) / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int status_one(struct buf *b, const struct sched_status *st, uint64_t now, bool json,
		      bool first)
{
	double rate = st->send_ms ? (double)st->bytes_sent * 1000.0 / (double)st->send_ms : 0;
	const char *health = st->health == SCHED_UP     ? "up"
			     : st->health == SCHED_DOWN ? "down"
							: "probing";
	char until[64];
	int r;

	wall(st->down_until, now, until, sizeof(until));
	if (json) {
		r = buf_puts(b, first ? "\n  {\"name\":" : ",\n  {\"name\":");
		if (!r)
			r = put_json_str(b, st->name);
		if (!r)
			r = buf_printf(b, ",\"port\":%u,\"local\":%s,\"systems\":", st->port,
				       st->local ? "true" : "false");
		if (!r)
			r = put_list(b, st->systems, true);
		if (!r)
			r = buf_puts(b, ",\"features\":");
		if (!r)
			r = put_list(b, st->features, true);
		if (!r)
			r = buf_puts(b, ",\"mandatory_features\":");
		if (!r)
			r = put_list(b, st->mandatory, true);
		if (!r)
			r = buf_printf(b,
				       ",\"speed\":%g,\"slots\":%u,\"used\":%u,\"load\":%.2f,"
				       "\"cores\":%u,\"free\":%llu,\"health\":\"%s\"",
				       st->speed, st->slots, st->used, st->load, st->cores,
				       (unsigned long long)st->free, health);
		if (!r && st->health == SCHED_DOWN)
			r = buf_printf(b, ",\"down_until\":\"%s\"", until);
		if (!r)
			r = buf_puts(b, ",\"reason\":");
		if (!r)
			r = put_json_str(b, st->reason ? st->reason : "");
		if (!r)
			r = buf_printf(b,
				       ",\"builds_done\":%llu,\"bytes_sent\":%llu,"
				       "\"bytes_received\":%llu,\"upload_rate\":%.0f}",
				       (unsigned long long)st->builds_done,
				       (unsigned long long)st->bytes_sent,
				       (unsigned long long)st->bytes_received, rate);
		return r;
	}
	r = buf_printf(b, "%s%s\n  systems: ", st->name, st->local ? " (local)" : "");
	if (!r)
		r = put_list(b, st->systems, false);
	if (!r)
		r = buf_puts(b, "\n  features: ");
	if (!r)
		r = put_list(b, st->features, false);
	if (!r)
		r = buf_printf(b,
			       "\n  speed: %g\n  slots: %u/%u used\n  load: %.2f (%u cores)\n"
			       "  free store space: %.1f MiB\n  health: %s",
			       st->speed, st->used, st->slots, st->load, st->cores,
			       (double)st->free / 1048576.0, health);
	if (!r && st->health == SCHED_DOWN)
		r = buf_printf(b, " until %s (%s)", until, st->reason ? st->reason : "");
	else if (!r && st->reason && *st->reason)
		r = buf_printf(b, " (last failure: %s)", st->reason);
	if (!r)
		r = buf_printf(b,
			       "\n  builds done: %llu\n  sent: %llu bytes, received: %llu bytes\n"
			       "  mean upload rate: %.1f MiB/s\n",
			       (unsigned long long)st->builds_done,
			       (unsigned long long)st->bytes_sent,
			       (unsigned long long)st->bytes_received, rate / 1048576.0);
	return r;
}

int offloader_status(struct offloader *f, uint64_t now, bool json, struct buf *b)
{
	return offloader_pool_status(f->pool, now, json, true, b);
}

int offloader_pool_status(const struct sched_pool *p, uint64_t now, bool json, bool running,
			  struct buf *b)
{
	bool first = true;
	int r = json      ? buf_printf(b, "{\"daemon\":\"%s\",\"machines\":[",
                                  running ? "running" : "not running")
		: running ? 0
			  : buf_puts(b, "daemon not running: the machines file's view\n");

	for (size_t i = 0; r == 0 && i < sched_pool_size(p); i++) {
		struct sched_status st;

		sched_machine_status(p, i, now, &st);
		if (st.retired)
			continue;
		r = status_one(b, &st, now, json, first);
		first = false;
	}
	return r ? r : json ? buf_puts(b, "\n]}\n") : 0;
}
