#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "drv.h"
#include "engine.h"
#include "err.h"
#include "ev.h"
#include "machines.h"
#include "offloader.h"
#include "pki.h"
#include "proto.h"
#include "sched_pick.h"
#include "store.h"
#include "storepath.h"

#define MACHINE     "localhost"
#define MAX_CLIENTS 1024
#define OUT_MAX     (64u << 20) /* a client that reads nothing is dropped past this */

struct client;

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
	struct dreq *reqs;
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
			  (c->closing ? 0 : EV_READ) | (c->out.len ? EV_WRITE : 0));
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

		if (q)
			finish_req(d, q); /* what did not end is reported cancelled */
		return;
	}
	if (f->op == PROTO_DATA)
		return; /* for a request that already ended */
	if (find_req(c, f->id)) {
		snprintf(msg, sizeof(msg), "request id %u is already open", f->id);
		send_error(c, f->id, ERR_INVALID, msg);
		return;
	}
	switch (f->op) {
	case PROTO_BUILD: handle_build(d, c, f); break;
	case PROTO_STATUS: handle_status(d, c, f); break;
	case PROTO_ADD_NAR:
	case PROTO_QUERY_PATH_INFO:
	case PROTO_FOLLOW_LOG:
		snprintf(msg, sizeof(msg), "%s: not implemented by this daemon yet",
			 proto_op_name(f->op));
		send_error(c, f->id, ERR_INVALID, msg);
		break;
	default:
		snprintf(msg, sizeof(msg), "%s (0x%04x) is not a request",
			 proto_op_name(f->op) ? proto_op_name(f->op) : "?", f->op);
		send_error(c, f->id, ERR_INVALID, msg);
	}
}

/* ---- clients ---------------------------------------------------------- */

static void pump(struct daemon *d);

static void client_close(struct client *c)
{
	struct daemon *d = c->d;

	while (c->reqs)
		dreq_free(d, c->reqs);
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
	struct daemon d = {.s = s, .o = o, .lfd = -1};
	bool explicit_ = o->socket != NULL;
	int r;

	d.eo.max_jobs = o->max_jobs;
	d.eo.max_tries = o->max_tries;
	d.eo.keep_going = true;
	d.eo.b.cores = o->cores;
	d.eo.cancel_fd = -1;
	d.eo.ctx = &d;
	d.eo.rq_event = on_rq_event;
	d.eo.rq_log = on_rq_log;
	if (o->socket) {
		if (!(d.path = strdup(o->socket)))
			return err_set(ERR_NOMEM, "out of memory");
	} else if ((r = daemon_socket_path(&d.path, &explicit_)) != 0) {
		return r;
	}
	if ((r = ev_new(&d.l)) != 0)
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
