#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "acl.h"
#include "archive.h"
#include "buf.h"
#include "drv.h"
#include "engine.h"
#include "err.h"
#include "ev.h"
#include "hash.h"
#include "io.h"
#include "machines.h"
#include "nar.h"
#include "offloader.h"
#include "pki.h"
#include "proto.h"
#include "sched_pick.h"
#include "store.h"
#include "storepath.h"

#define MACHINE     "localhost"
#define MAX_CLIENTS 1024
#define OUT_MAX     (64u << 20) /* a client that reads nothing is dropped past this */
#define MAX_ADDS    64          /* ADD_NAR requests being received at once */
#define ADD_HIGH    (4u << 20)  /* queued NAR bytes past which a client is not read */
#define ADD_LOW     (1u << 20)  /* …and below which it is read again */
#define TAIL_MAX    65536       /* log bytes of a running build kept for FOLLOW_LOG */

struct client;
struct daemon;

/* An ADD_NAR or an IMPORT being received.  The NAR (the archive) is
 * parsed, restored and hashed by a thread of its own (nar_parse and
 * archive_import pull their bytes; the loop must not block), fed through
 * a bounded queue: the loop stops reading the client while the queue is
 * over ADD_HIGH.  The thread has its own store handle (its own SQLite
 * connection); path locks work across handles. */
struct dadd {
	struct daemon *d;
	struct client *c;
	uint32_t id;
	bool import;          /* an IMPORT: IFLAGS, and PATHS once done */
	uint64_t iflags;      /* PROTO_IMPORT_* */
	struct db_list paths; /* the archive's paths, set by the thread */
	struct proto_add_nar q;
	bool have_hash;
	uint8_t want_hash[SHA256_LEN];
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* Under MU: the queue data[off..len), and the states. */
	unsigned char *data;
	size_t len, off, cap;
	bool end, abort, done, wake_wanted;
	/* The thread's own, read by the loop once DONE. */
	struct sha256 sha;
	uint64_t got;
	int r;
	char *msg;
	struct dadd *next;
};

/* A FOLLOW_LOG waiting for its build's end. */
struct dfollow {
	struct client *c;
	uint32_t id;
	char *drv;
	struct dfollow *next;
};

/* A build that runs, as the engine's global hooks tell: for FOLLOW_LOG. */
struct drun {
	char *drv;
	char *machine; /* NULL: here */
	struct buf tail;
	struct drun *next;
};

/* A BUILD request of a client. */
struct dreq {
	struct client *c;
	uint32_t id;
	struct engine_req *rq;
	uint64_t done, total, running, failed; /* from the events */
	bool progress_dirty;
	struct {
		char *drv;
		char *machine; /* where it runs (NULL: here) */
		uint64_t since;
	} * started; /* builds running for it: when they started */
	size_t nstarted, capstarted;
	struct dreq *next;
};

struct client {
	struct daemon *d;
	int fd;
	unsigned num;
	char what[32];
	struct ev_io io;
	struct proto_decoder dec;
	struct buf out;
	bool hello, closing;
	bool paused; /* not read: an ADD_NAR's queue is full */
	struct dreq *reqs;
	struct dadd *adds;
	struct client *next, *prev;
};

struct daemon {
	struct store *s;
	const struct daemon_opts *o;
	struct engine_opts eo;
	struct engine *e;
	struct ev_loop *l;
	char *path;
	int lfd;
	struct ev_io lio;
	struct ev_signal sterm, sint, shup;
	struct ev_timer etimer;
	struct ev_io *eio; /* the engine's descriptors */
	size_t neio, capeio;
	struct offloader *off; /* NULL: no machines file, every build local */
	char *mfile;           /* the machines file */
	struct client *clients;
	size_t nclients;
	int wake[2]; /* ADD_NAR threads wake the loop through this pipe */
	struct ev_io wio;
	size_t nadds;
	struct dadd *orphans; /* adds whose client went away, still ending */
	struct dfollow *follows;
	struct drun *running;
	unsigned next_num;
	bool stopping;
};

static void dlog(struct daemon *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dlog(struct daemon *d, const char *fmt, ...)
{
	va_list ap;

	if (!d->o->log)
		return;
	va_start(ap, fmt);
	d->o->log(d->o->ctx, fmt, ap);
	va_end(ap);
}

int daemon_socket_path(char **out, bool *explicit_)
{
	const char *env = getenv("YONDER_DAEMON_SOCKET"), *state;
	int r;

	*out = NULL;
	*explicit_ = env && *env;
	if (*explicit_) {
		if (!(*out = strdup(env)))
			return err_set(ERR_NOMEM, "out of memory");
		return 0;
	}
	if ((r = store_state_dir(&state)) != 0)
		return r;
	if (asprintf(out, "%s/daemon-socket/socket", state) < 0) {
		*out = NULL;
		return err_set(ERR_NOMEM, "out of memory");
	}
	return 0;
}

/* ---- output to clients ---------------------------------------------- */

static void client_close(struct client *c);
static void pump(struct daemon *d);

static void client_flush(struct client *c)
{
	while (c->out.len) {
		ssize_t w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			/* The peer is gone: what it asked is cancelled. */
			buf_reset(&c->out);
			c->closing = true;
			break;
		}
		memmove(c->out.data, c->out.data + w, c->out.len - (size_t)w);
		c->out.len -= (size_t)w;
	}
	if (c->io.active)
		ev_io_set(c->d->l, &c->io,
			  (c->closing || c->paused ? 0 : EV_READ) | (c->out.len ? EV_WRITE : 0));
}

/* A frame could not be queued (the client reads nothing, or no memory). */
static void out_failed(struct client *c)
{
	dlog(c->d, "%s: dropped: %s", c->what, err_msg());
	buf_reset(&c->out);
	c->closing = true;
}

static void send_error(struct client *c, uint32_t id, int code, const char *msg)
{
	if (proto_error_put(&c->out, id, code, msg) != 0)
		out_failed(c);
}

/* ---- events from the engine ----------------------------------------- */

static struct dreq *dreq_of(void *rq_ctx)
{
	return rq_ctx;
}

static int status_of(enum engine_event ev, const char *msg)
{
	switch (ev) {
	case ENGINE_BUILT: return ENGINE_ST_BUILT;
	case ENGINE_VALID: return ENGINE_ST_VALID;
	case ENGINE_DEP_FAILED: return ENGINE_ST_DEP_FAILED;
	case ENGINE_CANCELLED: return ENGINE_ST_CANCELLED;
	case ENGINE_FAILED:
		return msg && strstr(msg, "timed out") ? ENGINE_ST_TIMED_OUT : ENGINE_ST_FAILED;
	default: return -1;
	}
}

static void on_rq_event(void *ctx, void *rq_ctx, enum engine_event k, const char *drv,
			const char *msg)
{
	struct dreq *q = dreq_of(rq_ctx);
	struct client *c = q->c;
	struct proto_event ev = {.drv = (char *)drv, .machine = MACHINE, .msg = (char *)msg};
	uint64_t since = 0;
	char *mfree = NULL;
	int st;

	if (c->closing)
		return;
	for (size_t i = 0; i < q->nstarted; i++)
		if (!strcmp(q->started[i].drv, drv) && q->started[i].machine)
			ev.machine = q->started[i].machine;
	if (k == ENGINE_KEPT) {
		ev.op = PROTO_EV_BUILD_KEPT;
		if (proto_event_put(&c->out, q->id, &ev) != 0)
			out_failed(c);
		return;
	}
	if (k == ENGINE_BUILDING) {
		/* MSG names the build machine it runs on (NULL: here). */
		ev.msg = NULL;
		if (msg)
			ev.machine = (char *)msg;
		if (q->nstarted == q->capstarted) {
			size_t cap = q->capstarted ? 2 * q->capstarted : 4;
			void *v = realloc(q->started, cap * sizeof(*q->started));

			if (!v) {
				err_set(ERR_NOMEM, "out of memory");
				out_failed(c);
				return;
			}
			q->started = v;
			q->capstarted = cap;
		}
		q->started[q->nstarted].machine = msg ? strdup(msg) : NULL;
		if (!(q->started[q->nstarted].drv = strdup(drv))) {
			err_set(ERR_NOMEM, "out of memory");
			out_failed(c);
			return;
		}
		q->started[q->nstarted++].since = ev_now_ms();
		q->running++;
		q->progress_dirty = true;
		ev.op = PROTO_EV_BUILD_STARTED;
		if (proto_event_put(&c->out, q->id, &ev) != 0)
			out_failed(c);
		return;
	}
	if ((st = status_of(k, msg)) < 0)
		return;
	for (size_t i = 0; i < q->nstarted; i++)
		if (!strcmp(q->started[i].drv, drv)) {
			since = q->started[i].since;
			free(q->started[i].drv);
			mfree = q->started[i].machine; /* EV.machine until sent */
			q->started[i] = q->started[--q->nstarted];
			q->running--;
			break;
		}
	q->done++;
	if (st == ENGINE_ST_FAILED || st == ENGINE_ST_TIMED_OUT || st == ENGINE_ST_DEP_FAILED)
		q->failed++;
	q->progress_dirty = true;
	ev.op = PROTO_EV_BUILD_FINISHED;
	ev.status = (uint64_t)st;
	ev.duration_ms = since ? ev_now_ms() - since : 0;
	if (proto_event_put(&c->out, q->id, &ev) != 0)
		out_failed(c);
	free(mfree);
}

static void on_rq_log(void *ctx, void *rq_ctx, const char *drv, const void *p, size_t n)
{
	struct dreq *q = dreq_of(rq_ctx);
	struct proto_event ev = {.op = PROTO_EV_LOG_LINE, .drv = (char *)drv, .machine = MACHINE};
	const char *s = p;

	if (q->c->closing)
		return;
	for (size_t i = 0; i < q->nstarted; i++)
		if (!strcmp(q->started[i].drv, drv) && q->started[i].machine)
			ev.machine = q->started[i].machine;
	/* Chunks as the builder wrote them, cut at newlines (the client
	 * joins a line that arrives in pieces). */
	while (n) {
		const char *nl = memchr(s, '\n', n);
		size_t k = nl ? (size_t)(nl - s) + 1 : n;

		if (k > PROTO_LINE_MAX)
			k = PROTO_LINE_MAX;
		ev.line = s;
		ev.nline = k;
		if (proto_event_put(&q->c->out, q->id, &ev) != 0) {
			out_failed(q->c);
			return;
		}
		s += k;
		n -= k;
	}
}

/* ---- requests -------------------------------------------------------- */

static struct dreq *find_req(struct client *c, uint32_t id)
{
	for (struct dreq *q = c->reqs; q; q = q->next)
		if (q->id == id)
			return q;
	return NULL;
}

static void dreq_free(struct daemon *d, struct dreq *q)
{
	struct dreq **pp;

	for (pp = &q->c->reqs; *pp && *pp != q; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = q->next;
	engine_req_free(d->e, q->rq);
	for (size_t i = 0; i < q->nstarted; i++) {
		free(q->started[i].drv);
		free(q->started[i].machine);
	}
	free(q->started);
	free(q);
}

/* The final OK of a BUILD: every entry, and the outputs of each. */
static int put_build_ok(struct buf *b, struct dreq *q, bool only_asked)
{
	size_t n = engine_req_count(q->rq), start, count = 0;
	char **outs = NULL;
	int r;

	(void)only_asked;
	if ((r = proto_build_ok_begin(b, q->id, n, &start)) != 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct drv *dv = engine_req_drv(q->rq, i);
		const char *drv, *msg;
		int st;

		engine_req_entry(q->rq, i, &drv, &st, &msg);
		if (st < 0)
			st = ENGINE_ST_CANCELLED;
		if (!(outs = calloc(dv->noutputs + 1, sizeof(*outs)))) {
			r = err_set(ERR_NOMEM, "out of memory");
			break;
		}
		for (size_t k = 0; k < dv->noutputs && r == 0; k++)
			if (asprintf(&outs[k], "%s=%s", dv->outputs[k].name, dv->outputs[k].path) <
			    0) {
				outs[k] = NULL;
				r = err_set(ERR_NOMEM, "out of memory");
			}
		if (r == 0)
			r = proto_build_ok_entry(b, drv, (uint64_t)st, msg,
						 (const char *const *)outs, dv->noutputs);
		for (size_t k = 0; k < dv->noutputs; k++)
			free(outs[k]);
		free(outs);
		count++;
	}
	if (r == 0)
		r = proto_build_ok_end(b, start);
	else
		b->len = start;
	return r;
}

static void finish_req(struct daemon *d, struct dreq *q)
{
	struct client *c = q->c;

	if (!c->closing && put_build_ok(&c->out, q, false) != 0)
		send_error(c, q->id, ERR_TOOBIG,
			   "build: the result does not fit one frame; ask for fewer derivations");
	dreq_free(d, q);
}

static bool drv_in_store(struct daemon *d, struct client *c, uint32_t id, const char *p)
{
	size_t n = strlen(p);

	if (storepath_check(store_dir(d->s), p) != 0) {
		char msg[PROTO_PATH_MAX + 256];

		snprintf(msg, sizeof(msg), "path '%s' is not in the store %s", p, store_dir(d->s));
		send_error(c, id, ERR_INVALID, msg);
		return false;
	}
	if (n < 4 || strcmp(p + n - 4, ".drv")) {
		char msg[PROTO_PATH_MAX + 64];

		snprintf(msg, sizeof(msg), "'%s' is not a derivation (.drv)", p);
		send_error(c, id, ERR_INVALID, msg);
		return false;
	}
	return true;
}

static void handle_build(struct daemon *d, struct client *c, const struct proto_frame *f)
{
	struct proto_build q;
	struct builder_opts bo = d->eo.b;
	struct dreq *dq = NULL;
	int r;

	if ((r = proto_build_get(&q, f)) != 0) {
		send_error(c, f->id, r, err_msg());
		goto out;
	}
	for (size_t i = 0; i < q.ndrvs; i++)
		if (!drv_in_store(d, c, f->id, q.drvs[i]))
			goto out;
	bo.keep_failed = (q.flags & PROTO_BUILD_KEEP_FAILED) != 0;
	bo.timeout = (unsigned)q.timeout;
	bo.max_silent = (unsigned)q.max_silent;
	if (q.cores)
		bo.cores = (unsigned)q.cores;
	if (!(dq = calloc(1, sizeof(*dq)))) {
		send_error(c, f->id, ERR_NOMEM, "out of memory");
		goto out;
	}
	dq->c = c;
	dq->id = f->id;
	if ((r = engine_want(d->e, (const char *const *)q.drvs, q.ndrvs,
			     q.flags & PROTO_BUILD_KEEP_GOING, &bo, dq, &dq->rq)) != 0) {
		send_error(c, f->id, r, err_msg());
		free(dq);
		goto out;
	}
	{
		/* Builds already running for other clients count as running. */
		size_t done, total, running, waiting, failed;

		engine_req_progress(dq->rq, &done, &total, &running, &waiting, &failed);
		dq->done = done;
		dq->total = total;
		dq->running = running;
		dq->failed = failed;
	}
	dq->progress_dirty = true;
	dq->next = c->reqs;
	c->reqs = dq;
out:
	proto_build_release(&q);
}

/* STATUS: the build machines as the scheduler sees them. */
static void handle_status(struct daemon *d, struct client *c, const struct proto_frame *f)
{
	struct proto_in in;
	struct buf b = BUF_INIT(PROTO_FRAME_MAX / 2);
	size_t start;
	uint64_t flags;
	int r;

	proto_in_init(&in, f);
	if ((r = proto_get_u64(&in, &flags)) != 0 || (r = proto_get_end(&in)) != 0) {
		send_error(c, f->id, r, err_msg());
		return;
	}
	if (d->off)
		r = offloader_status(d->off, (uint64_t)builder_now_ms(), flags & 1, &b);
	else if (flags & 1)
		r = buf_puts(&b, "{\"daemon\":\"running\",\"machines\":[]}\n");
	else
		r = buf_puts(&b, "no build machines (no machines file): every build is local\n");
	if (r == 0 && (r = proto_frame_begin(&c->out, PROTO_OK, 0, f->id, &start)) == 0 &&
	    (r = proto_put_bytes(&c->out, b.data, b.len)) == 0)
		r = proto_frame_end(&c->out, start);
	if (r != 0)
		send_error(c, f->id, r, err_msg());
	buf_release(&b);
}

/* ---- following logs: the engine's global hooks ------------------------- */

static struct drun *find_run(struct daemon *d, const char *drv)
{
	for (struct drun *x = d->running; x; x = x->next)
		if (!strcmp(x->drv, drv))
			return x;
	return NULL;
}

static void drun_free(struct drun *x)
{
	free(x->drv);
	free(x->machine);
	buf_release(&x->tail);
	free(x);
}

/* True when a request of any client waits for DRV (planned, not final). */
static bool drv_wanted(struct daemon *d, const char *drv)
{
	for (struct client *c = d->clients; c; c = c->next)
		for (struct dreq *q = c->reqs; q; q = q->next)
			for (size_t i = 0, n = engine_req_count(q->rq); i < n; i++) {
				const char *p, *msg;
				int st;

				engine_req_entry(q->rq, i, &p, &st, &msg);
				if (st < 0 && !strcmp(p, drv))
					return true;
			}
	return false;
}

static void follow_end(struct daemon *d, struct dfollow *fw, uint64_t status)
{
	struct dfollow **pp;

	for (pp = &d->follows; *pp && *pp != fw; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = fw->next;
	if (status != UINT64_MAX && !fw->c->closing &&
	    proto_ok_u64_put(&fw->c->out, fw->id, status) != 0)
		out_failed(fw->c);
	free(fw->drv);
	free(fw);
}

/* Sends the N bytes at P as LOG_LINE events of request ID, in pieces of
 * at most PROTO_LINE_MAX. */
static void send_log(struct client *c, uint32_t id, const char *drv, const char *machine,
		     const void *p, size_t n)
{
	struct proto_event ev = {.op = PROTO_EV_LOG_LINE,
				 .drv = (char *)drv,
				 .machine = (char *)(machine ? machine : MACHINE)};
	const char *s = p;

	while (n && !c->closing) {
		size_t k = n > PROTO_LINE_MAX ? PROTO_LINE_MAX : n;

		ev.line = s;
		ev.nline = k;
		if (proto_event_put(&c->out, id, &ev) != 0)
			out_failed(c);
		s += k;
		n -= k;
	}
}

static void on_engine_event(void *ctx, enum engine_event k, const char *drv, const char *msg)
{
	struct daemon *d = ctx;
	struct drun *x, **pp;
	int st;

	if (k == ENGINE_BUILDING) {
		if (find_run(d, drv) || !(x = calloc(1, sizeof(*x))))
			return;
		buf_init(&x->tail, 2 * TAIL_MAX);
		if (!(x->drv = strdup(drv)) || (msg && !(x->machine = strdup(msg)))) {
			drun_free(x);
			return;
		}
		x->next = d->running;
		d->running = x;
		return;
	}
	if ((st = status_of(k, msg)) < 0)
		return;
	for (pp = &d->running; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->drv, drv)) {
			x = *pp;
			*pp = x->next;
			drun_free(x);
			break;
		}
	for (struct dfollow *fw = d->follows, *next; fw; fw = next) {
		next = fw->next;
		if (!strcmp(fw->drv, drv))
			follow_end(d, fw, (uint64_t)st);
	}
}

static void on_engine_log(void *ctx, const char *drv, const void *p, size_t n)
{
	struct daemon *d = ctx;
	struct drun *x = find_run(d, drv);

	if (x) {
		/* The last TAIL_MAX bytes, for a FOLLOW_LOG that asks to replay. */
		if (n >= TAIL_MAX) {
			buf_reset(&x->tail);
			buf_put(&x->tail, (const char *)p + n - TAIL_MAX, TAIL_MAX);
		} else {
			if (x->tail.len + n > TAIL_MAX) {
				size_t drop = x->tail.len + n - TAIL_MAX;

				memmove(x->tail.data, x->tail.data + drop, x->tail.len - drop);
				x->tail.len -= drop;
			}
			buf_put(&x->tail, p, n);
		}
	}
	for (struct dfollow *fw = d->follows; fw; fw = fw->next)
		if (!strcmp(fw->drv, drv))
			send_log(fw->c, fw->id, drv, x ? x->machine : NULL, p, n);
}

/* Followers whose build will never start (its requests went away) end
 * as cancelled. */
static void follows_check(struct daemon *d)
{
	for (struct dfollow *fw = d->follows, *next; fw; fw = next) {
		next = fw->next;
		if (!find_run(d, fw->drv) && !drv_wanted(d, fw->drv))
			follow_end(d, fw, ENGINE_ST_CANCELLED);
	}
}

/* Replays the saved log of DRV to request ID; *STATUS: built when its
 * outputs are valid, else failed. */
static int replay_saved(struct daemon *d, struct client *c, uint32_t id, const char *drv,
			uint64_t *status)
{
	struct drv dv = DRV_INIT;
	char *file = NULL, chunk[PROTO_LINE_MAX];
	int fd = -1, r, valid = 1;
	ssize_t n;

	if ((r = builder_log_file(store_state_path(d->s), drv, &file)) != 0)
		goto out;
	if ((fd = memfd_create("yonder-log", MFD_CLOEXEC)) < 0) {
		r = err_sys(ERR_IO, "memfd_create");
		goto out;
	}
	if ((r = builder_log_cat(file, fd)) != 0)
		goto out;
	if (lseek(fd, 0, SEEK_SET) != 0) {
		r = err_sys(ERR_IO, "lseek");
		goto out;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 && !c->closing)
		send_log(c, id, drv, NULL, chunk, (size_t)n);
	if (n < 0) {
		r = err_sys(ERR_IO, "reading the log of '%s'", drv);
		goto out;
	}
	if (drv_parse_file(&dv, drv, store_dir(d->s)) == 0)
		for (size_t i = 0; i < dv.noutputs && valid == 1; i++)
			valid = db_is_valid(store_db(d->s), dv.outputs[i].path);
	else
		valid = 0;
	*status = valid == 1 ? ENGINE_ST_BUILT : ENGINE_ST_FAILED;
out:
	if (fd >= 0)
		close(fd);
	drv_release(&dv);
	free(file);
	return r;
}

static void handle_follow(struct daemon *d, struct client *c, const struct proto_frame *f)
{
	struct dfollow *fw = NULL;
	struct drun *x;
	char *drv = NULL;
	uint64_t flags = 0, st = 0;
	int r;

	if ((r = proto_follow_get(f, &drv, &flags)) != 0) {
		send_error(c, f->id, r, err_msg());
		goto out;
	}
	if (!drv_in_store(d, c, f->id, drv))
		goto out;
	x = find_run(d, drv);
	if (x || drv_wanted(d, drv)) {
		if (!(fw = calloc(1, sizeof(*fw)))) {
			send_error(c, f->id, ERR_NOMEM, "out of memory");
			goto out;
		}
		if (x && (flags & PROTO_FOLLOW_REPLAY))
			send_log(c, f->id, drv, x->machine, x->tail.data, x->tail.len);
		fw->c = c;
		fw->id = f->id;
		fw->drv = drv;
		drv = NULL;
		fw->next = d->follows;
		d->follows = fw;
		goto out;
	}
	if (!(flags & PROTO_FOLLOW_REPLAY)) {
		char msg[PROTO_PATH_MAX + 128];

		snprintf(msg, sizeof(msg), "no build of '%s' is running or waiting", drv);
		send_error(c, f->id, ERR_NOTFOUND, msg);
		goto out;
	}
	if ((r = replay_saved(d, c, f->id, drv, &st)) != 0) {
		char msg[PROTO_PATH_MAX + 128];

		if (r == ERR_NOTFOUND)
			snprintf(msg, sizeof(msg),
				 "no build of '%s' is running or waiting, and it has no saved log",
				 drv);
		send_error(c, f->id, r, r == ERR_NOTFOUND ? msg : err_msg());
		goto out;
	}
	if (proto_ok_u64_put(&c->out, f->id, st) != 0)
		out_failed(c);
out:
	free(drv);
}

/* ---- QUERY_PATH_INFO --------------------------------------------------- */

static bool path_in_store(struct daemon *d, struct client *c, uint32_t id, const char *p)
{
	char msg[PROTO_PATH_MAX + 256];

	if (storepath_check(store_dir(d->s), p) == 0)
		return true;
	snprintf(msg, sizeof(msg), "path '%s' is not in the store %s", p, store_dir(d->s));
	send_error(c, id, ERR_INVALID, msg);
	return false;
}

static void handle_query(struct daemon *d, struct client *c, const struct proto_frame *f)
{
	char **paths = NULL;
	size_t n = 0, start;
	int r;

	if ((r = proto_query_get(f, &paths, &n)) != 0) {
		send_error(c, f->id, r, err_msg());
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (!path_in_store(d, c, f->id, paths[i]))
			goto out;
	if ((r = proto_query_ok_begin(&c->out, f->id, n, &start)) != 0) {
		out_failed(c);
		goto out;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		struct path_info pi = PATH_INFO_INIT;

		r = db_query_info(store_db(d->s), paths[i], &pi);
		if (r == 0 || r == ERR_NOTFOUND)
			r = proto_query_ok_entry(&c->out, r == 0 ? &pi : NULL);
		path_info_release(&pi);
	}
	if (r == 0)
		r = proto_query_ok_end(&c->out, start);
	if (r != 0) {
		c->out.len = start;
		send_error(c, f->id, r,
			   r == ERR_TOOBIG ? "query path info: the answer does not fit one frame; "
					     "ask for fewer paths at once"
					   : err_msg());
	}
out:
	if (paths)
		proto_strv_free(paths, n);
}

/* ---- DELETE, GC, ADD_SIGS ---------------------------------------------- */

/* Does a running build use PATH?  Its .drv, its outputs, its input
 * sources and the outputs of its input derivations count.  0 when none
 * does; 1 with *DRV (one of D's running builds) and *HOW; or an error. */
static int used_by_build(struct daemon *d, const char *path, const char **drv, const char **how)
{
	for (struct drun *x = d->running; x; x = x->next) {
		struct drv dv = DRV_INIT;
		int r, hit = 0;

		*drv = x->drv;
		if (!strcmp(x->drv, path)) {
			*how = "the derivation";
			return 1;
		}
		if ((r = drv_parse_file(&dv, x->drv, store_dir(d->s))) != 0)
			return r;
		for (size_t i = 0; i < dv.noutputs && !hit; i++)
			if (!strcmp(dv.outputs[i].path, path))
				hit = 1, *how = "an output";
		for (size_t i = 0; i < dv.nsrcs && !hit; i++)
			if (!strcmp(dv.srcs[i], path))
				hit = 1, *how = "an input";
		for (size_t i = 0; i < dv.ninputs && !hit && r == 0; i++) {
			struct drv in = DRV_INIT;

			if (!strcmp(dv.inputs[i].path, path)) {
				hit = 1, *how = "an input";
				break;
			}
			if ((r = drv_parse_file(&in, dv.inputs[i].path, store_dir(d->s))) != 0)
				break;
			for (size_t k = 0; k < in.noutputs && !hit; k++)
				if (!strcmp(in.outputs[k].path, path))
					hit = 1, *how = "an input";
			drv_release(&in);
		}
		drv_release(&dv);
		if (r != 0)
			return r;
		if (hit)
			return 1;
	}
	return 0;
}

/* DELETE: what store_delete refuses (a path that is not valid, or that a
 * valid path outside the request refers to) is refused here too; and a
 * path that a running build uses, or whose lock someone holds (an add
 * being committed), is refused before anything is deleted: the loop must
 * never wait for a path lock that its own builds hold. */
static void handle_delete(struct daemon *d, struct client *c, const struct proto_frame *f)
{
	char **paths = NULL;
	size_t n = 0;
	char msg[2 * PROTO_PATH_MAX + 128];
	int r;

	if ((r = proto_r_paths_get(f, &paths, &n)) != 0) {
		send_error(c, f->id, r, err_msg());
		goto out;
	}
	if (n == 0) {
		send_error(c, f->id, ERR_FORMAT, "delete: no path given");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const char *drv = NULL, *how = NULL;
		int fd = -1;

		if (!path_in_store(d, c, f->id, paths[i]))
			goto out;
		if ((r = used_by_build(d, paths[i], &drv, &how)) != 0) {
			if (r == 1)
				snprintf(
				    msg, sizeof(msg),
				    "cannot delete '%s': it is %s of the running build of '%s'",
				    paths[i], how, drv);
			send_error(c, f->id, r == 1 ? ERR_INVALID : r, r == 1 ? msg : err_msg());
			goto out;
		}
		if ((r = store_path_lock(d->s, paths[i], false, &fd)) != 0) {
			if (r == 1)
				snprintf(msg, sizeof(msg),
					 "cannot delete '%s': it is being added or built",
					 paths[i]);
			send_error(c, f->id, r == 1 ? ERR_INVALID : r, r == 1 ? msg : err_msg());
			goto out;
		}
		store_path_unlock(d->s, paths[i], &fd);
	}
	if ((r = store_delete(d->s, (const char *const *)paths, n)) != 0)
		send_error(c, f->id, r, err_msg());
	else if (proto_put_frame(&c->out, PROTO_OK, 0, f->id, NULL, 0) != 0)
		out_failed(c);
	for (size_t i = 0; r == 0 && i < n; i++)
		dlog(d, "%s: deleted %s", c->what, paths[i]);
out:
	if (paths)
		proto_strv_free(paths, n);
}

/* GC: store_gc leaves alone what is locked — the outputs that builds
 * are writing, the temporaries of adds — and every valid path. */
static void handle_gc(struct daemon *d, struct client *c, const struct proto_frame *f)
{
	struct db_list removed = DB_LIST_INIT;
	int r;

	if (f->len != 0) {
		send_error(c, f->id, ERR_FORMAT, "gc: the request carries no payload");
		return;
	}
	if ((r = store_gc(d->s, &removed)) != 0) {
		/* What was removed before the error is named in the message's
		 * log line; the client gets the error. */
		for (size_t i = 0; i < removed.n; i++)
			dlog(d, "%s: gc removed %s", c->what, removed.v[i]);
		send_error(c, f->id, r, err_msg());
	} else if (proto_r_paths_put(&c->out, PROTO_OK, f->id, (const char *const *)removed.v,
				     removed.n) != 0) {
		send_error(c, f->id, ERR_TOOBIG,
			   "gc: the list of what was removed does not fit one frame; run gc "
			   "again to see the rest");
	}
	db_list_release(&removed);
}

/* ADD_SIGS: each signature must verify, by the key of its name among
 * those sent, over the fingerprint that the daemon computes from its own
 * record of the path; none is recorded unless all verify. */
static void handle_add_sigs(struct daemon *d, struct client *c, const struct proto_frame *f)
{
	struct proto_add_sigs q;
	struct path_info pi = PATH_INFO_INIT;
	struct buf fp = BUF_INIT(PKI_FINGERPRINT_MAX);
	struct acl keys = ACL_INIT;
	char msg[PROTO_PATH_MAX + 2 * PROTO_MSG_MAX / 4];
	int r;

	if ((r = proto_add_sigs_get(&q, f)) != 0) {
		send_error(c, f->id, r, err_msg());
		return;
	}
	if (!path_in_store(d, c, f->id, q.path))
		goto out;
	for (size_t i = 0; i < q.nkeys; i++) {
		struct pki_public k;

		if ((r = pki_public_parse(&k, q.keys[i], strlen(q.keys[i]), "add sigs: key")) !=
			0 ||
		    (r = acl_add(&keys, &k)) < 0) {
			send_error(c, f->id, r, err_msg());
			goto out;
		}
	}
	if ((r = db_query_info(store_db(d->s), q.path, &pi)) != 0) {
		if (r == ERR_NOTFOUND)
			snprintf(msg, sizeof(msg), "cannot sign '%s': it is not valid", q.path);
		send_error(c, f->id, r, r == ERR_NOTFOUND ? msg : err_msg());
		goto out;
	}
	if ((r = pki_fingerprint(&fp, pi.path, pi.nar_hash, pi.nar_size,
				 (const char *const *)pi.refs.v, pi.refs.n)) != 0) {
		send_error(c, f->id, r, err_msg());
		goto out;
	}
	for (size_t i = 0; i < q.nsigs; i++)
		if ((r = acl_check_sig(&keys, fp.data, fp.len, q.sigs[i])) != 0) {
			snprintf(msg, sizeof(msg), "signature of '%s' refused: %.4000s", q.path,
				 err_msg());
			send_error(c, f->id, r == ERR_FORMAT ? ERR_FORMAT : ERR_MISMATCH, msg);
			goto out;
		}
	if ((r = db_add_signatures(store_db(d->s), q.path, (const char *const *)q.sigs, q.nsigs)) !=
	    0)
		send_error(c, f->id, r, err_msg());
	else if (proto_put_frame(&c->out, PROTO_OK, 0, f->id, NULL, 0) != 0)
		out_failed(c);
out:
	acl_release(&keys);
	buf_release(&fp);
	path_info_release(&pi);
	proto_add_sigs_release(&q);
}

/* ---- ADD_NAR ------------------------------------------------------------ */

static void add_wake(struct dadd *a)
{
	char x = 1;

	/* The pipe being full means a wake-up is pending already. */
	if (write(a->d->wake[1], &x, 1) < 0) {
	}
}

static int add_pull(void *ctx, void *dst, size_t n, size_t *got)
{
	struct dadd *a = ctx;
	bool wake = false;
	size_t k;

	*got = 0;
	pthread_mutex_lock(&a->mu);
	while (a->off == a->len && !a->end && !a->abort)
		pthread_cond_wait(&a->cv, &a->mu);
	if (a->abort) {
		pthread_mutex_unlock(&a->mu);
		return err_set(ERR_TRUNCATED, "the client went away before the end of the %s",
			       a->import ? "archive" : "NAR");
	}
	k = a->len - a->off;
	if (k > n)
		k = n;
	memcpy(dst, a->data + a->off, k);
	a->off += k;
	if (a->off == a->len)
		a->off = a->len = 0;
	if (a->wake_wanted && a->len - a->off <= ADD_LOW) {
		a->wake_wanted = false;
		wake = true;
	}
	pthread_mutex_unlock(&a->mu);
	if (wake)
		add_wake(a);
	a->got += k;
	*got = k;
	if (a->import)
		return 0;
	if (a->q.nar_size && a->got > a->q.nar_size)
		return err_set(ERR_TOOBIG, "more NAR data than the declared %llu bytes",
			       (unsigned long long)a->q.nar_size);
	sha256_update(&a->sha, dst, k);
	return 0;
}

/* A content address that the path and the NAR must agree with:
 * "text:sha256:H" (a regular file whose bytes hash to H, at the text path
 * for H and the references), "fixed:r:sha256:H" (H is the NAR's hash, the
 * path is the recursive fixed-output path, no references but itself) or
 * "fixed:sha256:H" (a regular file, non-executable, whose bytes hash to H). */
struct ca_check {
	int kind; /* 0: none, 1: text, 2: fixed recursive, 3: fixed flat */
	uint8_t h[SHA256_LEN];
	struct sha256 file; /* of the root file's bytes (kinds 1 and 3) */
	bool root_file, exec, started;
	struct nar_visitor v;
	const struct nar_visitor *inner;
	struct nar_tee tee;
};

static int cc_file_begin(void *ctx, bool executable, uint64_t size)
{
	struct ca_check *k = ctx;

	if (!k->started)
		k->root_file = true, k->exec = executable;
	k->started = true;
	return 0;
}

static int cc_file_data(void *ctx, const void *p, size_t n)
{
	struct ca_check *k = ctx;

	if (k->root_file)
		sha256_update(&k->file, p, n);
	return 0;
}

static int cc_nothing(void *ctx)
{
	struct ca_check *k = ctx;

	k->started = true;
	return 0;
}

static int cc_symlink(void *ctx, const char *t, size_t n)
{
	return cc_nothing(ctx);
}

static int cc_entry(void *ctx, const char *name, size_t n)
{
	return 0;
}

static int ca_parse(struct ca_check *k, const char *ca)
{
	static const struct {
		const char *prefix;
		int kind;
	} kinds[] = {{"text:sha256:", 1}, {"fixed:r:sha256:", 2}, {"fixed:sha256:", 3}};

	k->kind = 0;
	if (!*ca)
		return 0;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i].prefix);

		if (!strncmp(ca, kinds[i].prefix, n) && strlen(ca + n) == SHA256_NIX32_LEN &&
		    hash_from_nix32(ca + n, SHA256_NIX32_LEN, k->h, SHA256_LEN) == 0) {
			k->kind = kinds[i].kind;
			return 0;
		}
	}
	return err_set(ERR_FORMAT,
		       "content address '%s': expected text:sha256:…, fixed:r:sha256:… or "
		       "fixed:sha256:… with a nix32 hash",
		       ca);
}

/* Checks the path against the content address, once the NAR is in. */
static int ca_verify(struct ca_check *k, const struct dadd *a, const char *store,
		     const uint8_t nar_hash[SHA256_LEN])
{
	uint8_t fh[SHA256_LEN];
	char *want = NULL;
	int r = 0;

	if (k->kind == 0)
		return 0;
	sha256_final(&k->file, fh);
	if ((k->kind == 1 || k->kind == 3) && (!k->root_file || k->exec))
		return err_set(ERR_MISMATCH,
			       "content address '%s': the NAR is not one non-executable file",
			       a->q.ca);
	if ((k->kind == 1 || k->kind == 3) && memcmp(fh, k->h, SHA256_LEN))
		return err_set(ERR_MISMATCH,
			       "content address '%s': the file's contents have another hash",
			       a->q.ca);
	if (k->kind == 2 && memcmp(nar_hash, k->h, SHA256_LEN))
		return err_set(ERR_MISMATCH, "content address '%s': the NAR has another hash",
			       a->q.ca);
	{
		const char *name;
		const char *base = strrchr(a->q.path, '/') + 1;

		name = base + PATH_HASH_NIX32_LEN + 1;
		if (k->kind == 1) {
			r = storepath_text(store, k->h, name, (const char *const *)a->q.refs,
					   a->q.nrefs, &want);
		} else {
			for (size_t i = 0; i < a->q.nrefs; i++)
				if (strcmp(a->q.refs[i], a->q.path))
					return err_set(ERR_MISMATCH,
						       "content address '%s': a fixed-output item "
						       "refers to nothing but itself, not to '%s'",
						       a->q.ca, a->q.refs[i]);
			r = storepath_fixed(store, k->kind == 2, k->h, name, &want);
		}
	}
	if (r == 0 && strcmp(want, a->q.path))
		r = err_set(ERR_MISMATCH, "content address '%s' gives the path '%s', not this one",
			    a->q.ca, want);
	free(want);
	return r;
}

static int add_run(struct dadd *a)
{
	struct daemon *d = a->d;
	struct store *s = NULL;
	struct store_stage *st = NULL;
	struct store_restorer *rs = NULL;
	const struct nar_visitor *v;
	struct path_info pi = PATH_INFO_INIT;
	struct ca_check k = {0};
	struct reader nr;
	bool nr_open = false;
	uint8_t got[SHA256_LEN];
	const char *tmp;
	int r;

	if ((r = ca_parse(&k, a->q.ca)) != 0 || (r = sha256_init(&a->sha)) != 0 ||
	    (r = sha256_init(&k.file)) != 0)
		goto out;
	if ((r = store_open_at(&s, store_dir(d->s), store_state_path(d->s))) != 0 ||
	    (r = store_stage_new(s, &st)) != 0 || (r = store_stage_tmp(st, &tmp)) != 0 ||
	    (r = store_restorer_new(s, tmp, &rs, &v)) != 0 ||
	    (r = reader_init_pull(&nr, add_pull, a, 1 << 16, "the NAR")) != 0)
		goto out;
	nr_open = true;
	k.v = (struct nar_visitor){.ctx = &k,
				   .file_begin = cc_file_begin,
				   .file_data = cc_file_data,
				   .file_end = cc_nothing,
				   .symlink = cc_symlink,
				   .dir_begin = cc_nothing,
				   .entry_begin = cc_entry,
				   .entry_end = cc_nothing,
				   .dir_end = cc_nothing};
	nar_tee_init(&k.tee, v, &k.v);
	if ((r = nar_parse(&nr, &k.tee.v)) != 0)
		goto out;
	if ((r = reader_at_eof(&nr)) == 0)
		r = err_set(ERR_FORMAT, "trailing bytes after the NAR, at byte %llu",
			    (unsigned long long)nr.offset);
	else if (r == 1)
		r = 0;
	if (r != 0)
		goto out;
	store_restorer_free(rs);
	rs = NULL;
	sha256_final(&a->sha, got);
	if (a->q.nar_size && a->got != a->q.nar_size) {
		r = err_set(ERR_MISMATCH, "NAR size mismatch: declared %llu bytes, got %llu",
			    (unsigned long long)a->q.nar_size, (unsigned long long)a->got);
		goto out;
	}
	if (a->have_hash && memcmp(got, a->want_hash, SHA256_LEN)) {
		char want[SHA256_NIX32_LEN + 1], have[SHA256_NIX32_LEN + 1];

		hash_to_nix32(a->want_hash, SHA256_LEN, want);
		hash_to_nix32(got, SHA256_LEN, have);
		want[SHA256_NIX32_LEN] = have[SHA256_NIX32_LEN] = '\0';
		r = err_set(ERR_MISMATCH, "NAR hash mismatch: declared sha256:%s, got sha256:%s",
			    want, have);
		goto out;
	}
	if ((r = ca_verify(&k, a, store_dir(d->s), got)) != 0)
		goto out;
	memcpy(pi.nar_hash, got, SHA256_LEN);
	pi.nar_size = a->got;
	if (!(pi.path = strdup(a->q.path)) ||
	    (*a->q.deriver && !(pi.deriver = strdup(a->q.deriver))) ||
	    (*a->q.ca && !(pi.ca = strdup(a->q.ca)))) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < a->q.nrefs && r == 0; i++)
		r = db_list_push(&pi.refs, a->q.refs[i]);
	for (size_t i = 0; i < a->q.nsigs && r == 0; i++)
		r = db_list_push(&pi.sigs, a->q.sigs[i]);
	if (r == 0)
		r = store_stage_commit(st, &pi, 1);
out:
	sha256_release(&k.file);
	sha256_release(&a->sha);
	if (nr_open)
		reader_release(&nr);
	store_restorer_free(rs);
	store_stage_free(st);
	store_free(s);
	path_info_release(&pi);
	if (r != 0)
		err_prefix(r, "add nar '%s'", a->q.path);
	return r;
}

/* IMPORT: the archive is checked against the daemon's own ACL (read at
 * each import, so that `yonder archive --authorize` needs no restart);
 * the client's ACL plays no part. */
static int import_run(struct dadd *a)
{
	struct daemon *d = a->d;
	struct archive_import_opts o = {(a->iflags & PROTO_IMPORT_NIX) ? ARCHIVE_NIX
								       : ARCHIVE_YONDER,
					NULL, NULL, (a->iflags & PROTO_IMPORT_TRUSTED) != 0};
	struct acl acl = ACL_INIT;
	struct buf file = BUF_INIT(PATH_MAX);
	struct store *s = NULL;
	struct reader in;
	bool in_open = false;
	const char *dir;
	int r;

	if (!o.trusted) {
		if ((r = pki_config_dir(&dir)) != 0 ||
		    (r = buf_printf(&file, "%s/%s", dir, ACL_FILE)) != 0 ||
		    (r = acl_load(&acl, file.data)) != 0)
			goto out;
		o.acl = &acl;
		o.acl_file = file.data;
	}
	if ((r = store_open_at(&s, store_dir(d->s), store_state_path(d->s))) != 0 ||
	    /* The client sends its standard input; the messages say so, as
	     * they do when it imports by itself. */
	    (r = reader_init_pull(&in, add_pull, a, 1 << 16, "standard input")) != 0)
		goto out;
	in_open = true;
	r = archive_import(s, &in, &o, &a->paths);
out:
	if (in_open)
		reader_release(&in);
	store_free(s);
	acl_release(&acl);
	buf_release(&file);
	return r;
}

static void *add_main(void *arg)
{
	struct dadd *a = arg;
	int r = a->import ? import_run(a) : add_run(a);
	char *msg = r ? strdup(err_msg()) : NULL;

	pthread_mutex_lock(&a->mu);
	a->r = r;
	a->msg = msg;
	a->done = true;
	pthread_mutex_unlock(&a->mu);
	add_wake(a);
	return NULL;
}

static struct dadd *find_add(struct client *c, uint32_t id)
{
	for (struct dadd *a = c->adds; a; a = a->next)
		if (a->id == id)
			return a;
	return NULL;
}

/* Ends A: stops its thread (ABORT: whatever it got) and frees it. */
/* Waits for A's thread (which has ended, or been told to) and frees A,
 * which is on no list any more. */
static void add_destroy(struct dadd *a)
{
	pthread_join(a->th, NULL);
	a->d->nadds--;
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	proto_add_nar_release(&a->q);
	db_list_release(&a->paths);
	free(a->data);
	free(a->msg);
	free(a);
}

/* Takes A off its client's list.  A done add is destroyed; one still
 * running is told to stop (ABORT) and becomes an orphan, reaped by
 * on_wake when its thread ends: it may be waiting for a path lock that
 * a build of this loop holds, so the loop must not wait for it. */
static void add_free(struct dadd *a, bool abort)
{
	struct dadd **pp;
	bool done;

	for (pp = &a->c->adds; *pp && *pp != a; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = a->next;
	pthread_mutex_lock(&a->mu);
	if (abort)
		a->abort = true;
	done = a->done;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	if (done) {
		add_destroy(a);
		return;
	}
	a->c = NULL;
	a->next = a->d->orphans;
	a->d->orphans = a;
}

static void add_data(struct client *c, struct dadd *a, const struct proto_frame *f)
{
	pthread_mutex_lock(&a->mu);
	if (!a->end && !a->done) {
		size_t need = a->len + f->len;

		if (a->off && need > a->cap) {
			memmove(a->data, a->data + a->off, a->len - a->off);
			a->len -= a->off;
			a->off = 0;
			need = a->len + f->len;
		}
		if (need > a->cap) {
			size_t cap = a->cap ? a->cap : 1 << 16;
			unsigned char *p;

			while (cap < need)
				cap *= 2;
			if (!(p = realloc(a->data, cap))) {
				a->abort = true;
				goto out;
			}
			a->data = p;
			a->cap = cap;
		}
		if (f->len)
			memcpy(a->data + a->len, f->payload, f->len);
		a->len += f->len;
		if (f->flags & PROTO_F_END)
			a->end = true;
		if (a->len - a->off > ADD_HIGH) {
			a->wake_wanted = true;
			c->paused = true;
		}
	}
out:
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

/* Starts A's thread (A's request Q, or its IMPORT flags, are set) and
 * puts A on C's list; on failure answers the request and frees A. */
static void add_start(struct daemon *d, struct client *c, uint32_t id, struct dadd *a)
{
	int r;

	a->d = d;
	a->c = c;
	a->id = id;
	a->paths = (struct db_list)DB_LIST_INIT;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	if ((r = pthread_create(&a->th, NULL, add_main, a)) != 0) {
		errno = r;
		err_sys(ERR_INTERNAL, "%s: cannot start a thread",
			a->import ? "import" : "add nar");
		send_error(c, id, ERR_INTERNAL, err_msg());
		pthread_mutex_destroy(&a->mu);
		pthread_cond_destroy(&a->cv);
		proto_add_nar_release(&a->q);
		free(a);
		return;
	}
	a->next = c->adds;
	c->adds = a;
	d->nadds++;
}

/* IMPORT's answer: the archive's paths, one per line, in DATA frames,
 * then OK. */
static int put_import_ok(struct buf *out, uint32_t id, const struct db_list *paths)
{
	struct buf chunk = BUF_INIT(PROTO_FRAME_MAX);
	int r = 0;

	for (size_t i = 0; i < paths->n && r == 0; i++) {
		size_t n = strlen(paths->v[i]) + 1;

		if (chunk.len + n > PROTO_FRAME_MAX) {
			r = proto_put_frame(out, PROTO_DATA, 0, id, chunk.data, chunk.len);
			buf_reset(&chunk);
		}
		if (r == 0)
			r = buf_printf(&chunk, "%s\n", paths->v[i]);
	}
	if (r == 0)
		r = proto_put_frame(out, PROTO_DATA, PROTO_F_END, id, chunk.data, chunk.len);
	if (r == 0)
		r = proto_put_frame(out, PROTO_OK, 0, id, NULL, 0);
	buf_release(&chunk);
	return r;
}

static void handle_add(struct daemon *d, struct client *c, const struct proto_frame *f)
{
	struct proto_add_nar q;
	struct dadd *a = NULL;
	char msg[2 * PROTO_PATH_MAX + 128];
	int r;

	if ((r = proto_add_nar_get(&q, f)) != 0) {
		send_error(c, f->id, r, err_msg());
		goto out;
	}
	if (!path_in_store(d, c, f->id, q.path))
		goto out;
	for (size_t i = 0; i < q.nrefs; i++) {
		if (!path_in_store(d, c, f->id, q.refs[i]))
			goto out;
		if (strcmp(q.refs[i], q.path) &&
		    (r = db_is_valid(store_db(d->s), q.refs[i])) != 1) {
			snprintf(msg, sizeof(msg), "add nar '%s': its reference '%s' is not valid",
				 q.path, q.refs[i]);
			send_error(c, f->id, r < 0 ? r : ERR_NOTFOUND, r < 0 ? err_msg() : msg);
			goto out;
		}
	}
	if (*q.deriver && !drv_in_store(d, c, f->id, q.deriver))
		goto out;
	if ((r = db_is_valid(store_db(d->s), q.path)) != 0) {
		/* Valid already: its data is dropped as it arrives. */
		if (r < 0)
			send_error(c, f->id, r, err_msg());
		else if (proto_put_frame(&c->out, PROTO_OK, 0, f->id, NULL, 0) != 0)
			out_failed(c);
		goto out;
	}
	if (d->nadds >= MAX_ADDS) {
		snprintf(msg, sizeof(msg),
			 "add nar: the daemon is receiving %d items already; try again later",
			 MAX_ADDS);
		send_error(c, f->id, ERR_TOOBIG, msg);
		goto out;
	}
	if (!(a = calloc(1, sizeof(*a)))) {
		send_error(c, f->id, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (*q.nar_hash) {
		if (sha256_parse(q.nar_hash, a->want_hash) != 0) {
			snprintf(msg, sizeof(msg), "add nar '%s': nar_hash: %s", q.path, err_msg());
			send_error(c, f->id, ERR_FORMAT, msg);
			goto out;
		}
		a->have_hash = true;
	}
	{
		struct ca_check k;

		if (ca_parse(&k, q.ca) != 0) {
			snprintf(msg, sizeof(msg), "add nar '%s': %s", q.path, err_msg());
			send_error(c, f->id, ERR_FORMAT, msg);
			goto out;
		}
	}
	a->q = q;
	memset(&q, 0, sizeof(q));
	add_start(d, c, f->id, a);
	a = NULL;
out:
	free(a);
	proto_add_nar_release(&q);
}

/* IMPORT: the archive arrives in DATA frames and goes to import_run on a
 * thread of its own, as ADD_NAR's NAR does. */
static void handle_import(struct daemon *d, struct client *c, const struct proto_frame *f)
{
	struct dadd *a;
	char msg[128];
	uint64_t flags;
	int r;

	if ((r = proto_u64_frame_get(f, PROTO_IMPORT, &flags)) != 0) {
		send_error(c, f->id, r, err_msg());
		return;
	}
	if (flags & ~(uint64_t)(PROTO_IMPORT_NIX | PROTO_IMPORT_TRUSTED)) {
		snprintf(msg, sizeof(msg), "import: unknown flags 0x%llx",
			 (unsigned long long)flags);
		send_error(c, f->id, ERR_FORMAT, msg);
		return;
	}
	if ((flags & PROTO_IMPORT_TRUSTED) && !(flags & PROTO_IMPORT_NIX)) {
		send_error(c, f->id, ERR_INVALID,
			   "import: a yonder archive is always checked against the ACL (trusted "
			   "goes with the Nix format only)");
		return;
	}
	if (d->nadds >= MAX_ADDS) {
		snprintf(msg, sizeof(msg),
			 "import: the daemon is receiving %d items already; try again later",
			 MAX_ADDS);
		send_error(c, f->id, ERR_TOOBIG, msg);
		return;
	}
	if (!(a = calloc(1, sizeof(*a)))) {
		send_error(c, f->id, ERR_NOMEM, "out of memory");
		return;
	}
	a->import = true;
	a->iflags = flags;
	add_start(d, c, f->id, a);
}

/* An ADD_NAR thread ended or drained its queue. */
static void on_wake(struct ev_loop *l, struct ev_io *w, unsigned events)
{
	struct daemon *d = w->ctx;
	char drain[256];

	while (read(d->wake[0], drain, sizeof(drain)) > 0)
		;
	for (struct dadd **pp = &d->orphans; *pp;) {
		struct dadd *a = *pp;
		bool done;

		pthread_mutex_lock(&a->mu);
		done = a->done;
		pthread_mutex_unlock(&a->mu);
		if (done) {
			*pp = a->next;
			add_destroy(a);
		} else {
			pp = &a->next;
		}
	}
	for (struct client *c = d->clients; c; c = c->next) {
		bool full = false;

		for (struct dadd *a = c->adds, *next; a; a = next) {
			bool done;

			next = a->next;
			pthread_mutex_lock(&a->mu);
			done = a->done;
			if (!done && a->len - a->off > ADD_LOW) {
				/* The client stays paused for this queue: its
				 * thread must say when it has drained. */
				full = true;
				a->wake_wanted = true;
			}
			pthread_mutex_unlock(&a->mu);
			if (!done)
				continue;
			if (a->r != 0)
				send_error(c, a->id, a->r, a->msg ? a->msg : "add nar failed");
			else if ((a->import
				      ? put_import_ok(&c->out, a->id, &a->paths)
				      : proto_put_frame(&c->out, PROTO_OK, 0, a->id, NULL, 0)) != 0)
				out_failed(c);
			add_free(a, false);
		}
		c->paused = full;
	}
	pump(d);
}

static struct dfollow *find_follow(struct daemon *d, struct client *c, uint32_t id)
{
	for (struct dfollow *fw = d->follows; fw; fw = fw->next)
		if (fw->c == c && fw->id == id)
			return fw;
	return NULL;
}

/* Ends what the client asked that is not a build: its adds (their data
 * stops here) and the logs it follows. */
static void client_drop_others(struct client *c)
{
	while (c->adds)
		add_free(c->adds, true);
	for (struct dfollow *fw = c->d->follows, *next; fw; fw = next) {
		next = fw->next;
		if (fw->c == c)
			follow_end(c->d, fw, UINT64_MAX);
	}
}

static void handle_frame(struct daemon *d, struct client *c, const struct proto_frame *f)
{
	char msg[256];

	if (!c->hello) {
		struct proto_hello h;
		struct proto_welcome w = {0};
		uint64_t v;
		char *systems[] = {(char *)builder_system()};

		if (proto_hello_get(&h, f) != 0 || proto_negotiate(h.version, &v) != 0) {
			send_error(c, 0, ERR_FORMAT, err_msg());
			proto_hello_release(&h);
			c->closing = true;
			return;
		}
		proto_hello_release(&h);
		w.version = v;
		w.name = "yonder " YONDER_VERSION;
		w.host = MACHINE;
		w.store_dir = (char *)store_dir(d->s);
		w.systems = systems;
		w.nsystems = 1;
		w.cores = (uint64_t)sysconf(_SC_NPROCESSORS_ONLN);
		if (proto_welcome_put(&c->out, &w) != 0)
			out_failed(c);
		c->hello = true;
		return;
	}
	if (f->id == 0) {
		snprintf(msg, sizeof(msg), "%s: byte %llu: %s frame with id 0 after the handshake",
			 c->what, (unsigned long long)f->offset,
			 proto_op_name(f->op) ? proto_op_name(f->op) : "?");
		send_error(c, 0, ERR_FORMAT, msg);
		c->closing = true;
		return;
	}
	if (f->op == PROTO_CANCEL) {
		struct dreq *q = find_req(c, f->id);

		struct dfollow *fw = find_follow(d, c, f->id);

		if (q)
			finish_req(d, q); /* what did not end is reported cancelled */
		struct dadd *a = find_add(c, f->id);

		if (fw)
			follow_end(d, fw, ENGINE_ST_CANCELLED);
		if (a) {
			send_error(c, f->id, ERR_INVALID,
				   a->import ? "import: cancelled by the client"
					     : "add nar: cancelled by the client");
			add_free(a, true);
		}
		return;
	}
	if (f->op == PROTO_DATA) {
		struct dadd *a = find_add(c, f->id);

		if (a)
			add_data(c, a, f);
		return; /* else for a request that already ended */
	}
	if (find_req(c, f->id) || find_add(c, f->id) || find_follow(d, c, f->id)) {
		snprintf(msg, sizeof(msg), "request id %u is already open", f->id);
		send_error(c, f->id, ERR_INVALID, msg);
		return;
	}
	switch (f->op) {
	case PROTO_BUILD: handle_build(d, c, f); break;
	case PROTO_STATUS: handle_status(d, c, f); break;
	case PROTO_ADD_NAR: handle_add(d, c, f); break;
	case PROTO_QUERY_PATH_INFO: handle_query(d, c, f); break;
	case PROTO_FOLLOW_LOG: handle_follow(d, c, f); break;
	case PROTO_DELETE: handle_delete(d, c, f); break;
	case PROTO_GC: handle_gc(d, c, f); break;
	case PROTO_ADD_SIGS: handle_add_sigs(d, c, f); break;
	case PROTO_IMPORT: handle_import(d, c, f); break;
	default:
		snprintf(msg, sizeof(msg), "%s (0x%04x) is not a request",
			 proto_op_name(f->op) ? proto_op_name(f->op) : "?", f->op);
		send_error(c, f->id, ERR_INVALID, msg);
	}
}

/* ---- clients ---------------------------------------------------------- */

static void client_close(struct client *c)
{
	struct daemon *d = c->d;

	while (c->reqs)
		dreq_free(d, c->reqs);
	client_drop_others(c);
	ev_io_stop(d->l, &c->io);
	if (close(c->fd) != 0)
		dlog(d, "%s: close: %s", c->what, strerror(errno));
	proto_decoder_release(&c->dec);
	buf_release(&c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		d->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	d->nclients--;
	free(c);
}

static void on_client(struct ev_loop *l, struct ev_io *w, unsigned events)
{
	struct client *c = w->ctx;
	struct daemon *d = c->d;

	if (events & EV_READ && !c->closing) {
		unsigned char in[65536];
		ssize_t n = recv(c->fd, in, sizeof(in), MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			/* spurious */
		} else if (n <= 0) {
			if (proto_decoder_finish(&c->dec) != 0)
				send_error(c, 0, ERR_TRUNCATED, err_msg());
			c->closing = true;
			/* Whatever it asked is cancelled: nothing more can be
			 * told to it. */
			while (c->reqs)
				dreq_free(d, c->reqs);
			client_drop_others(c);
		} else {
			const unsigned char *p = in;
			size_t left = (size_t)n, used;
			struct proto_frame f;
			int r = 0;

			while (left && !c->closing) {
				if ((r = proto_decoder_feed(&c->dec, p, left, &used)) != 0)
					break;
				p += used;
				left -= used;
				while (!c->closing && (r = proto_decoder_next(&c->dec, &f)) == 1)
					handle_frame(d, c, &f);
				if (r < 0)
					break;
			}
			if (r < 0) {
				send_error(c, 0, r, err_msg());
				c->closing = true;
			}
		}
	}
	client_flush(c);
	pump(d);
}

static void on_accept(struct ev_loop *l, struct ev_io *w, unsigned events)
{
	struct daemon *d = w->ctx;
	struct client *c;
	int fd = accept4(d->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			dlog(d, "accept: %s", strerror(errno));
		return;
	}
	if (d->nclients >= MAX_CLIENTS || !(c = calloc(1, sizeof(*c)))) {
		dlog(d, "refusing a client: %zu clients already", d->nclients);
		close(fd);
		return;
	}
	c->d = d;
	c->fd = fd;
	c->num = ++d->next_num;
	snprintf(c->what, sizeof(c->what), "client %u", c->num);
	proto_decoder_init(&c->dec, c->what, 0);
	buf_init(&c->out, OUT_MAX);
	if (ev_io_start(l, &c->io, fd, EV_READ, on_client, c) != 0) {
		dlog(d, "%s", err_msg());
		proto_decoder_release(&c->dec);
		close(fd);
		free(c);
		return;
	}
	c->next = d->clients;
	if (d->clients)
		d->clients->prev = c;
	d->clients = c;
	d->nclients++;
}

/* ---- the engine in the loop ------------------------------------------- */

static void on_engine(struct ev_loop *l, struct ev_io *w, unsigned events)
{
	pump(w->ctx);
}

static void on_engine_timer(struct ev_loop *l, struct ev_timer *t)
{
	pump(t->ctx);
}

/* Watches what the engine waits for: its descriptors and its deadline. */
static void engine_sync(struct daemon *d)
{
	const struct pollfd *fds;
	size_t n;
	int64_t dl;
	bool same;

	engine_watch(d->e, &fds, &n, &dl);
	same = n == d->neio;
	for (size_t i = 0; i < n && same; i++)
		same = d->eio[i].active && d->eio[i].fd == fds[i].fd;
	if (!same) {
		for (size_t i = 0; i < d->neio; i++)
			ev_io_stop(d->l, &d->eio[i]);
		d->neio = 0;
		if (n > d->capeio) {
			struct ev_io *v = realloc(d->eio, n * sizeof(*v));

			if (!v) {
				dlog(d, "out of memory watching builders");
				return;
			}
			memset(v, 0, n * sizeof(*v));
			d->eio = v;
			d->capeio = n;
		}
		for (size_t i = 0; i < n; i++) {
			memset(&d->eio[d->neio], 0, sizeof(d->eio[0]));
			if (ev_io_start(d->l, &d->eio[d->neio], fds[i].fd, EV_READ, on_engine, d) ==
			    0)
				d->neio++;
		}
	}
	if (dl >= 0) {
		int64_t now = builder_now_ms();

		ev_timer_start(d->l, &d->etimer, dl > now ? (uint64_t)(dl - now) : 0,
			       on_engine_timer, d);
	} else {
		ev_timer_stop(d->l, &d->etimer);
	}
}

static void send_progress(struct dreq *q)
{
	struct proto_event ev = {.op = PROTO_EV_PROGRESS};

	q->progress_dirty = false;
	if (q->c->closing)
		return;
	ev.done = q->done;
	ev.total = q->total;
	ev.running = q->running;
	ev.waiting = q->total - q->done - q->running;
	ev.failed = q->failed;
	if (proto_event_put(&q->c->out, q->id, &ev) != 0)
		out_failed(q->c);
}

/* After anything happened: let the engine run, end finished requests,
 * send the news, close clients that are done, watch the rest. */
static void pump(struct daemon *d)
{
	if (engine_turn(d->e, 0) != 0)
		dlog(d, "build engine: %s", err_msg());
	if (d->follows)
		follows_check(d);
	for (struct client *c = d->clients, *next; c; c = next) {
		next = c->next;
		for (struct dreq *q = c->reqs, *qn; q; q = qn) {
			qn = q->next;
			if (q->progress_dirty)
				send_progress(q);
			if (engine_req_finished(q->rq))
				finish_req(d, q);
		}
		client_flush(c);
		if (c->closing && (!c->out.len || d->stopping))
			client_close(c);
	}
	if (!d->stopping)
		engine_sync(d);
}

/* ---- signals and setup ------------------------------------------------ */

static void on_stop(struct ev_loop *l, struct ev_signal *s)
{
	struct daemon *d = s->ctx;

	dlog(d, "%s: stopping: no new clients, killing %s",
	     s->signo == SIGTERM ? "SIGTERM" : "SIGINT", "the running builds");
	d->stopping = true;
	ev_io_stop(l, &d->lio);
	if (unlink(d->path) != 0 && errno != ENOENT)
		dlog(d, "cannot remove '%s': %s", d->path, strerror(errno));
	engine_interrupt(d->e);
	for (struct client *c = d->clients; c; c = c->next) {
		for (struct dreq *q = c->reqs, *qn; q; q = qn) {
			qn = q->next;
			finish_req(d, q);
		}
		/* One last try to deliver the final frames, without waiting. */
		client_flush(c);
	}
	while (d->clients)
		client_close(d->clients);
	for (size_t i = 0; i < d->neio; i++)
		ev_io_stop(l, &d->eio[i]);
	d->neio = 0;
	ev_timer_stop(l, &d->etimer);
	ev_stop(l, 0);
}

static void on_hup(struct ev_loop *l, struct ev_signal *s)
{
	struct daemon *d = s->ctx;
	struct machines *ms = NULL;
	int r;

	if (!d->off) {
		dlog(d, "SIGHUP: no machines file was read at start: restart the daemon to "
			"offload builds");
		return;
	}
	/* The pool keeps every machine's state; running builds go on. */
	if ((r = machines_load(d->mfile, &ms)) != 0 && r != ERR_NOTFOUND) {
		dlog(d, "SIGHUP: %s (the machines are as before)", err_msg());
		return;
	}
	for (size_t i = 0; ms && i < ms->nwarnings; i++)
		dlog(d, "warning: %s", ms->warnings[i]);
	if (offloader_reload(d->off, ms) != 0) {
		dlog(d, "SIGHUP: %s", err_msg());
		return;
	}
	if (offloader_reload_acl(d->off) != 0)
		dlog(d, "SIGHUP: %s (the ACL is as before)", err_msg());
	dlog(d, "SIGHUP: %s reread: %zu build machine%s", d->mfile, ms ? ms->n : 0,
	     ms && ms->n == 1 ? "" : "s");
	engine_offload_changed(d->e); /* machines may fit waiting builds now */
	pump(d);
}

/* The machines file and the offloader (none without a machines file). */
static int offload_setup(struct daemon *d)
{
	const struct daemon_opts *o = d->o;
	const char *dir;
	char sec[4096], acl[4096];
	struct machines *ms = NULL;
	struct sched_local l = {.max_jobs = o->max_jobs, .speed = o->speed};
	struct offloader_opts oo = {sec, acl};
	int r;

	if ((r = pki_config_dir(&dir)) != 0)
		return r;
	if (o->machines)
		d->mfile = strdup(o->machines);
	else if (asprintf(&d->mfile, "%s/machines.scm", dir) < 0)
		d->mfile = NULL;
	if (!d->mfile)
		return err_set(ERR_NOMEM, "out of memory");
	if ((r = machines_load(d->mfile, &ms)) != 0) {
		if (r != ERR_NOTFOUND || o->machines)
			return r;
		if (o->max_jobs == 0)
			return err_set(ERR_INVALID,
				       "--max-jobs 0 builds nothing locally, and there "
				       "are no build machines ('%s' does not exist)",
				       d->mfile);
		return 0; /* local builds only, as without offloading */
	}
	for (size_t i = 0; i < ms->nwarnings; i++)
		dlog(d, "warning: %s", ms->warnings[i]);
	snprintf(sec, sizeof(sec), "%s/%s", dir, PKI_SECRET_FILE);
	snprintf(acl, sizeof(acl), "%s/acl", dir);
	if ((r = offloader_new(&d->off, d->s, &l, ms, &oo)) != 0)
		return r;
	dlog(d, "%s: %zu build machine%s", d->mfile, ms->n, ms->n == 1 ? "" : "s");
	return 0;
}

/* The default socket's directory: ours, 0700. */
static int prepare_dir(const char *path)
{
	char *dir = strdup(path), *slash;
	struct stat st;
	int r = 0;

	if (!dir)
		return err_set(ERR_NOMEM, "out of memory");
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			r = err_sys(ERR_IO, "mkdir '%s'", dir);
		else if (lstat(dir, &st) != 0)
			r = err_sys(ERR_IO, "'%s'", dir);
		else if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
			r = err_set(ERR_INVALID, "'%s' is not a directory owned by us", dir);
		else if ((st.st_mode & 077) && chmod(dir, 0700) != 0)
			r = err_sys(ERR_IO, "chmod '%s'", dir);
	}
	free(dir);
	return r;
}

static int listen_on(struct daemon *d, bool default_path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	if (strlen(d->path) >= sizeof(sa.sun_path))
		return err_set(ERR_INVALID, "socket path '%s' is too long", d->path);
	strcpy(sa.sun_path, d->path);
	if (default_path && (r = prepare_dir(d->path)) != 0)
		return r;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return err_sys(ERR_IO, "socket");
	/* A socket left by a daemon that was killed: nobody answers on it. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		return err_set(ERR_EXISTS, "another daemon is listening on '%s'", d->path);
	}
	if (errno == ECONNREFUSED && unlink(d->path) != 0 && errno != ENOENT) {
		r = err_sys(ERR_IO, "cannot remove the stale socket '%s'", d->path);
		close(fd);
		return r;
	}
	close(fd);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return err_sys(ERR_IO, "socket");
	{
		mode_t old = umask(0177);

		r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		umask(old);
	}
	if (r != 0 || listen(fd, 128) != 0) {
		r = err_sys(ERR_IO, "cannot listen on '%s'", d->path);
		close(fd);
		return r;
	}
	d->lfd = fd;
	return 0;
}

int daemon_run(struct store *s, const struct daemon_opts *o)
{
	struct daemon d = {.s = s, .o = o, .lfd = -1, .wake = {-1, -1}};
	bool explicit_ = o->socket != NULL;
	int r;

	/* Every temporary of an IMPORT holds a lock file open until its
	 * commit: allow as many open files as the hard limit does. */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	d.eo.max_jobs = o->max_jobs;
	d.eo.max_tries = o->max_tries;
	d.eo.keep_going = true;
	d.eo.b.cores = o->cores;
	d.eo.cancel_fd = -1;
	d.eo.ctx = &d;
	d.eo.rq_event = on_rq_event;
	d.eo.rq_log = on_rq_log;
	d.eo.event = on_engine_event;
	d.eo.log = on_engine_log;
	if (o->socket) {
		if (!(d.path = strdup(o->socket)))
			return err_set(ERR_NOMEM, "out of memory");
	} else if ((r = daemon_socket_path(&d.path, &explicit_)) != 0) {
		return r;
	}
	if ((r = ev_new(&d.l)) != 0)
		goto out;
	if (pipe2(d.wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		r = err_sys(ERR_IO, "pipe");
		goto out;
	}
	if ((r = ev_io_start(d.l, &d.wio, d.wake[0], EV_READ, on_wake, &d)) != 0)
		goto out;
	if ((r = ev_signal_start(d.l, &d.sterm, SIGTERM, on_stop, &d)) != 0 ||
	    (r = ev_signal_start(d.l, &d.sint, SIGINT, on_stop, &d)) != 0 ||
	    (r = ev_signal_start(d.l, &d.shup, SIGHUP, on_hup, &d)) != 0)
		goto out;
	if ((r = offload_setup(&d)) != 0)
		goto out;
	d.eo.off = d.off;
	if (!d.off && d.eo.max_jobs == 0)
		d.eo.max_jobs = 1;
	if ((r = engine_new(&d.e, s, &d.eo)) != 0)
		goto out;
	if ((r = listen_on(&d, !explicit_)) != 0)
		goto out;
	if ((r = ev_io_start(d.l, &d.lio, d.lfd, EV_READ, on_accept, &d)) != 0)
		goto out;
	dlog(&d, "listening on %s (%u local build%s at once%s)", d.path, d.eo.max_jobs,
	     d.eo.max_jobs == 1 ? "" : "s", d.off ? ", and the build machines" : "");
	if (o->ready)
		o->ready(o->ctx, d.path);
	r = ev_run(d.l);
	if (r > 0)
		r = 0;
out:
	while (d.clients)
		client_close(d.clients);
	for (size_t i = 0; i < d.neio; i++)
		ev_io_stop(d.l, &d.eio[i]);
	free(d.eio);
	engine_free(d.e);
	/* The builds are gone, and with them the locks an orphan may wait for. */
	while (d.orphans) {
		struct dadd *a = d.orphans;

		d.orphans = a->next;
		add_destroy(a);
	}
	while (d.follows)
		follow_end(&d, d.follows, UINT64_MAX);
	while (d.running) {
		struct drun *x = d.running;

		d.running = x->next;
		drun_free(x);
	}
	ev_io_stop(d.l, &d.wio);
	for (int i = 0; i < 2; i++)
		if (d.wake[i] >= 0)
			close(d.wake[i]);
	offloader_free(d.off);
	free(d.mfile);
	if (d.lfd >= 0) {
		ev_io_stop(d.l, &d.lio);
		close(d.lfd);
		if (!d.stopping)
			unlink(d.path);
	}
	ev_free(d.l);
	free(d.path);
	return r;
}
