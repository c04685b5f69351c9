#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "daemon.h"
#include "db.h"
#include "err.h"
#include "hash.h"
#include "io.h"
#include "nar.h"
#include "recipe.h"
#include "store.h"
#include "storepath.h"

struct client_conn {
	int fd;
	uint32_t next_id;
	struct proto_decoder dec;
	struct proto_welcome w;
	bool have_w;
};

static int send_buf(struct client_conn *c, struct buf *b)
{
	size_t off = 0;

	while (off < b->len) {
		ssize_t w = send(c->fd, b->data + off, b->len - off, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(ERR_IO, "daemon socket: send");
		}
		off += (size_t)w;
	}
	buf_reset(b);
	return 0;
}

/* One frame from the daemon; the end of the connection is an error. */
static int recv_frame(struct client_conn *c, struct proto_frame *f)
{
	int r = proto_recv(c->fd, &c->dec, f);

	if (r == 0)
		return err_set(ERR_TRUNCATED, "the daemon closed the connection");
	return r < 0 ? r : 0;
}

int client_connect(struct client_conn **out, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct client_conn *c;
	struct buf b = BUF_INIT(1 << 16);
	struct proto_hello h = {.version = PROTO_VERSION, .name = "yonder " YONDER_VERSION};
	struct proto_frame f;
	int r;

	*out = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(ERR_INVALID, "socket path '%s' is too long", path);
	strcpy(sa.sun_path, path);
	if (!(c = calloc(1, sizeof(*c))))
		return err_set(ERR_NOMEM, "out of memory");
	c->next_id = 1;
	proto_decoder_init(&c->dec, "daemon", 0);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		r = err_sys(ERR_IO, "socket");
		goto fail;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;

		r = err_sys(e == ENOENT || e == ECONNREFUSED ? ERR_NOTFOUND : ERR_IO,
			    "cannot connect to the daemon at '%s'", path);
		goto fail;
	}
	if ((r = proto_hello_put(&b, &h)) != 0 || (r = send_buf(c, &b)) != 0 ||
	    (r = recv_frame(c, &f)) != 0)
		goto fail;
	if (f.op == PROTO_ERROR) {
		int code;
		char *msg;

		if ((r = proto_error_get(&f, &code, &msg)) == 0) {
			r = err_set(code, "daemon: %s", msg);
			free(msg);
		}
		goto fail;
	}
	if ((r = proto_welcome_get(&c->w, &f)) != 0)
		goto fail;
	c->have_w = true;
	buf_release(&b);
	*out = c;
	return 0;
fail:
	buf_release(&b);
	client_free(c);
	return r;
}

void client_free(struct client_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->have_w)
		proto_welcome_release(&c->w);
	proto_decoder_release(&c->dec);
	free(c);
}

const struct proto_welcome *client_welcome(const struct client_conn *c)
{
	return &c->w;
}

int client_status(struct client_conn *c, bool json, char **text)
{
	struct buf b = BUF_INIT(1 << 16);
	uint32_t id = c->next_id++;
	size_t start;
	int r;

	*text = NULL;
	if ((r = proto_frame_begin(&b, PROTO_STATUS, 0, id, &start)) != 0 ||
	    (r = proto_put_u64(&b, json ? 1 : 0)) != 0 || (r = proto_frame_end(&b, start)) != 0 ||
	    (r = send_buf(c, &b)) != 0) {
		buf_release(&b);
		return r;
	}
	buf_release(&b);
	for (;;) {
		struct proto_frame f;
		struct proto_in in;
		const void *p;
		size_t n;
		int code;
		char *msg;

		if ((r = recv_frame(c, &f)) != 0)
			return r;
		if (f.id != id && f.id != 0)
			continue;
		if (f.op == PROTO_ERROR) {
			if ((r = proto_error_get(&f, &code, &msg)) == 0) {
				r = err_set(code, "%s", msg);
				free(msg);
			}
			return r;
		}
		if (f.op != PROTO_OK)
			continue;
		proto_in_init(&in, &f);
		if ((r = proto_get_bytes(&in, &p, &n, PROTO_FRAME_MAX)) != 0 ||
		    (r = proto_get_end(&in)) != 0)
			return r;
		if (!(*text = malloc(n + 1)))
			return err_set(ERR_NOMEM, "out of memory");
		memcpy(*text, p, n);
		(*text)[n] = 0;
		return 0;
	}
}

int client_connect_auto(struct client_conn **out)
{
	char *sock = NULL;
	bool explicit_;
	int r;

	*out = NULL;
	if ((r = daemon_socket_path(&sock, &explicit_)) != 0)
		return r;
	/* A socket left by a daemon that was killed: work in-process. */
	if (explicit_ || access(sock, F_OK) == 0) {
		const char *dir;

		r = client_connect(out, sock);
		if (r == ERR_NOTFOUND && !explicit_)
			r = 0;
		if (r == 0 && *out && (r = storedir_get(&dir)) == 0 &&
		    strcmp(dir, (*out)->w.store_dir) != 0)
			r = err_set(ERR_INVALID,
				    "the daemon at '%s' serves the store %s, not %s "
				    "($YONDER_STORE_DIR)",
				    sock, (*out)->w.store_dir, dir);
		if (r != 0) {
			client_free(*out);
			*out = NULL;
		}
	}
	free(sock);
	return r;
}

const char *client_store_dir(const struct client_conn *c)
{
	return c->w.store_dir;
}

/* The final frame of request ID: 0 for OK (its frame in *F when F is
 * not NULL), the daemon's error for ERROR.  Other frames of ID are given
 * to FN (may be NULL: dropped). */
static int wait_final(struct client_conn *c, uint32_t id, struct proto_frame *f,
		      void (*fn)(void *ctx, const struct proto_frame *f), void *ctx)
{
	struct proto_frame g;
	int r;

	for (;;) {
		if ((r = recv_frame(c, &g)) != 0)
			return r;
		if (g.id != id && g.id != 0)
			continue;
		if (g.op == PROTO_ERROR) {
			int code;
			char *msg;

			if ((r = proto_error_get(&g, &code, &msg)) == 0) {
				r = err_set(code, "%s", msg);
				free(msg);
			}
			return r;
		}
		if (g.op == PROTO_OK) {
			if (f)
				*f = g;
			return 0;
		}
		if (fn)
			fn(ctx, &g);
	}
}

#define DATA_CHUNK (256u << 10)

/* The sink that sends a NAR in DATA frames. */
struct data_sink {
	struct sink sink;
	struct client_conn *c;
	uint32_t id;
	struct buf payload, frame;
	int answer; /* 1: the daemon answered already; ANSWER_R is its code */
	int answer_r;
	void (*fn)(void *ctx, const struct proto_frame *f); /* other frames of ID */
	void *fctx;
};

/* Has the daemon answered already (an early ERROR, or OK for a path it
 * has)?  Looks without waiting. */
static int peek_answer(struct data_sink *ds)
{
	struct pollfd p = {.fd = ds->c->fd, .events = POLLIN};

	if (ds->answer)
		return 1;
	if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
		return 0;
	ds->answer = 1;
	ds->answer_r = wait_final(ds->c, ds->id, NULL, ds->fn, ds->fctx);
	return 1;
}

static int data_flush(struct data_sink *ds, unsigned flags)
{
	int r;

	if (peek_answer(ds))
		return ds->answer_r ? ds->answer_r
				    : err_set(ERR_EXISTS, "the daemon has the path already");
	if ((r = proto_put_frame(&ds->frame, PROTO_DATA, flags, ds->id, ds->payload.data,
				 ds->payload.len)) != 0 ||
	    (r = send_buf(ds->c, &ds->frame)) != 0)
		return r;
	buf_reset(&ds->payload);
	return 0;
}

static int data_write(struct sink *s, const void *p, size_t n)
{
	struct data_sink *ds = (struct data_sink *)s;
	const char *q = p;
	int r;

	while (n) {
		size_t k = DATA_CHUNK - ds->payload.len;

		if (k > n)
			k = n;
		if ((r = buf_put(&ds->payload, q, k)) != 0)
			return r;
		q += k;
		n -= k;
		if (ds->payload.len == DATA_CHUNK && (r = data_flush(ds, 0)) != 0)
			return r;
	}
	return 0;
}

/* Sends the request that PUT writes (with id ID), then the bulk data
 * that FN writes, in DATA frames, and waits for the final frame; the
 * frames of ID before it go to FFN (may be NULL). */
static int send_stream(struct client_conn *c, uint32_t id, int (*put)(struct buf *b, void *pctx),
		       void *pctx, client_nar_fn fn, void *ctx,
		       void (*ffn)(void *ctx, const struct proto_frame *f), void *fctx)
{
	struct data_sink ds = {.sink = {data_write}, .c = c, .id = id, .fn = ffn, .fctx = fctx};
	int r;

	buf_init(&ds.payload, DATA_CHUNK);
	buf_init(&ds.frame, PROTO_FRAME_MAX + PROTO_HDR_LEN); /* the request, then DATA */
	if ((r = put(&ds.frame, pctx)) != 0 || (r = send_buf(c, &ds.frame)) != 0)
		goto out;
	r = fn(ctx, &ds.sink);
	if (r == 0)
		r = data_flush(&ds, PROTO_F_END);
	if (ds.answer) {
		/* The daemon ended the request early: its answer is the result. */
		r = ds.answer_r;
	} else if (r != 0 && r != ERR_IO) {
		/* Our side failed (the file changed, …): the daemon drops what
		 * it got. */
		char msg[2048];
		int r2;

		snprintf(msg, sizeof(msg), "%s", err_msg());
		if ((r2 = proto_put_frame(&ds.frame, PROTO_CANCEL, 0, ds.id, NULL, 0)) != 0 ||
		    (r2 = send_buf(c, &ds.frame)) != 0 ||
		    ((r2 = wait_final(c, ds.id, NULL, ffn, fctx)) != 0 && r2 != ERR_INVALID)) {
			r = r2;
			goto out;
		}
		err_set(r, "%s", msg);
	} else if (r == 0) {
		r = wait_final(c, ds.id, NULL, ffn, fctx);
	}
out:
	buf_release(&ds.payload);
	buf_release(&ds.frame);
	return r;
}

struct add_nar_put {
	uint32_t id;
	const struct proto_add_nar *q;
};

static int put_add_nar(struct buf *b, void *ctx)
{
	struct add_nar_put *a = ctx;

	return proto_add_nar_put(b, a->id, a->q);
}

int client_add_nar(struct client_conn *c, const struct proto_add_nar *q, client_nar_fn fn,
		   void *ctx)
{
	struct add_nar_put a = {c->next_id++, q};

	return send_stream(c, a.id, put_add_nar, &a, fn, ctx, NULL, NULL);
}

/* ---- deleting, collecting, signing, importing ------------------------- */

/* Sends the frame in B as request ID and waits for its final frame. */
static int request(struct client_conn *c, struct buf *b, uint32_t id, struct proto_frame *okf)
{
	int r = send_buf(c, b);

	buf_release(b);
	return r != 0 ? r : wait_final(c, id, okf, NULL, NULL);
}

/* Appends the strv of the OK frame F to OUT. */
static int ok_paths(const struct proto_frame *f, struct db_list *out)
{
	char **v = NULL;
	size_t n = 0;
	int r;

	if ((r = proto_r_paths_get(f, &v, &n)) != 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++)
		r = db_list_push(out, v[i]);
	proto_strv_free(v, n);
	return r;
}

int client_delete(struct client_conn *c, const char *const *paths, size_t n)
{
	struct buf b = BUF_INIT(PROTO_HDR_LEN + PROTO_FRAME_MAX);
	uint32_t id = c->next_id++;
	int r;

	if ((r = proto_r_paths_put(&b, PROTO_DELETE, id, paths, n)) != 0) {
		buf_release(&b);
		return r == ERR_TOOBIG ? err_set(r, "delete: too many paths for one request") : r;
	}
	return request(c, &b, id, NULL);
}

int client_gc(struct client_conn *c, struct db_list *removed)
{
	struct buf b = BUF_INIT(PROTO_HDR_LEN);
	struct proto_frame f;
	uint32_t id = c->next_id++;
	int r;

	if ((r = proto_put_frame(&b, PROTO_GC, 0, id, NULL, 0)) != 0) {
		buf_release(&b);
		return r;
	}
	if ((r = request(c, &b, id, &f)) != 0)
		return r;
	return ok_paths(&f, removed);
}

int client_add_sigs(struct client_conn *c, const struct proto_add_sigs *q)
{
	struct buf b = BUF_INIT(PROTO_HDR_LEN + PROTO_FRAME_MAX);
	uint32_t id = c->next_id++;
	int r;

	if ((r = proto_add_sigs_put(&b, id, q)) != 0) {
		buf_release(&b);
		return r;
	}
	return request(c, &b, id, NULL);
}

struct import_put {
	uint32_t id;
	uint64_t flags;
	struct db_list *paths;
	struct buf line; /* a path cut between two DATA frames */
	int r;
};

/* IMPORT's answer: DATA frames holding the paths, one per line. */
static void on_import_data(void *ctx, const struct proto_frame *f)
{
	struct import_put *a = ctx;

	if (f->op != PROTO_DATA)
		return;
	for (size_t i = 0; i < f->len && a->r == 0; i++) {
		if (f->payload[i] != '\n') {
			a->r = buf_put(&a->line, &f->payload[i], 1);
			continue;
		}
		a->r = db_list_push(a->paths, a->line.data ? a->line.data : "");
		buf_reset(&a->line);
	}
}

static int put_import(struct buf *b, void *ctx)
{
	struct import_put *a = ctx;

	return proto_u64_frame_put(b, PROTO_IMPORT, a->id, a->flags);
}

int client_import(struct client_conn *c, uint64_t flags, client_nar_fn fn, void *ctx,
		  struct db_list *paths)
{
	struct import_put a = {c->next_id++, flags, paths, BUF_INIT(PROTO_PATH_MAX), 0};
	int r;

	r = send_stream(c, a.id, put_import, &a, fn, ctx, on_import_data, &a);
	if (r == 0 && (r = a.r) != 0)
		err_prefix(r, "import: the daemon's list of paths");
	buf_release(&a.line);
	return r;
}

/* ---- adding files and texts ------------------------------------------ */

struct walk_src {
	const char *src;
	bool flat;
	int fd; /* flat: the file */
	uint64_t size;
};

static int flat_nar(struct walk_src *w, struct sink *out, struct sha256 *content)
{
	struct nar_writer nw;
	char chunk[65536];
	uint64_t left = w->size;
	int r;

	if (lseek(w->fd, 0, SEEK_SET) != 0)
		return err_sys(ERR_IO, "'%s'", w->src);
	nar_writer_init(&nw, out);
	if ((r = nw.v.file_begin(nw.v.ctx, false, w->size)) != 0)
		return r;
	while (left) {
		ssize_t n = read(w->fd, chunk, left < sizeof(chunk) ? (size_t)left : sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(ERR_IO, "cannot read '%s'", w->src);
		if (n == 0)
			return err_set(ERR_MISMATCH, "'%s' shrank while it was added", w->src);
		if (content)
			sha256_update(content, chunk, (size_t)n);
		if ((r = nw.v.file_data(nw.v.ctx, chunk, (size_t)n)) != 0)
			return r;
		left -= (uint64_t)n;
	}
	return nw.v.file_end(nw.v.ctx);
}

static int walk_nar(void *ctx, struct sink *out)
{
	struct walk_src *w = ctx;
	struct nar_writer nw;

	if (w->flat)
		return flat_nar(w, out, NULL);
	nar_writer_init(&nw, out);
	return nar_walk(AT_FDCWD, w->src, &nw.v);
}

static int put_ca(char **out, const char *prefix, const uint8_t h[SHA256_LEN])
{
	size_t n = strlen(prefix);

	if (!(*out = malloc(n + SHA256_NIX32_LEN + 1)))
		return err_set(ERR_NOMEM, "out of memory");
	memcpy(*out, prefix, n);
	hash_to_nix32(h, SHA256_LEN, *out + n);
	(*out)[n + SHA256_NIX32_LEN] = '\0';
	return 0;
}

int client_add_path(struct client_conn *c, const char *src, const char *name, unsigned flags,
		    char **out)
{
	struct walk_src w = {.src = src, .flat = (flags & STORE_ADD_FLAT) != 0, .fd = -1};
	struct proto_add_nar q = {0};
	uint8_t nh[SHA256_LEN], fh[SHA256_LEN];
	int r;

	*out = NULL;
	if ((r = storepath_check_name(name, strlen(name))) != 0)
		return err_prefix(r, "cannot add '%s'", src);
	if (w.flat) {
		struct hash_sink hs;
		struct sha256 content;
		struct stat st;

		if ((w.fd = open(src, O_RDONLY | O_CLOEXEC)) < 0)
			return err_sys(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "cannot open '%s'",
				       src);
		if (fstat(w.fd, &st) != 0) {
			r = err_sys(ERR_IO, "cannot stat '%s'", src);
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			r = err_set(ERR_INVALID,
				    "'%s' is not a regular file (--flat adds one file)", src);
			goto out;
		}
		w.size = (uint64_t)st.st_size;
		if ((r = hash_sink_init(&hs)) != 0)
			goto out;
		if ((r = sha256_init(&content)) != 0) {
			hash_sink_release(&hs);
			goto out;
		}
		r = flat_nar(&w, &hs.sink, &content);
		if (r != 0) {
			hash_sink_release(&hs);
			sha256_release(&content);
			goto out;
		}
		hash_sink_finish(&hs, nh);
		q.nar_size = hs.size;
		sha256_final(&content, fh);
		if ((r = storepath_fixed(c->w.store_dir, false, fh, name, &q.path)) != 0 ||
		    (r = put_ca(&q.ca, "fixed:sha256:", fh)) != 0)
			goto out;
	} else {
		if ((r = nar_hash_path(AT_FDCWD, src, nh, &q.nar_size)) != 0 ||
		    (r = storepath_source(c->w.store_dir, nh, name, NULL, 0, false, &q.path)) !=
			0 ||
		    (r = put_ca(&q.ca, "fixed:r:sha256:", nh)) != 0)
			goto out;
	}
	if ((r = put_ca(&q.nar_hash, "sha256:", nh)) != 0)
		goto out;
	if ((r = client_add_nar(c, &q, walk_nar, &w)) != 0)
		goto out;
	*out = q.path;
	q.path = NULL;
out:
	if (w.fd >= 0)
		close(w.fd);
	free(q.path);
	free(q.ca);
	free(q.nar_hash);
	return r;
}

struct text_src {
	const void *data;
	size_t len;
};

static int text_nar(void *ctx, struct sink *out)
{
	struct text_src *t = ctx;
	struct nar_writer nw;
	int r;

	nar_writer_init(&nw, out);
	if ((r = nw.v.file_begin(nw.v.ctx, false, t->len)) != 0 ||
	    (r = nw.v.file_data(nw.v.ctx, t->data, t->len)) != 0)
		return r;
	return nw.v.file_end(nw.v.ctx);
}

int client_add_text(struct client_conn *c, const char *name, const void *data, size_t len,
		    const char *const *refs, size_t nrefs, char **out)
{
	struct text_src t = {data, len};
	struct proto_add_nar q = {.refs = (char **)refs, .nrefs = nrefs};
	struct hash_sink hs;
	uint8_t h[SHA256_LEN], nh[SHA256_LEN];
	int r;

	*out = NULL;
	if ((r = sha256_buf(data, len, h)) != 0 ||
	    (r = storepath_text(c->w.store_dir, h, name, refs, nrefs, &q.path)) != 0)
		return err_prefix(r, "cannot add text '%s'", name);
	if ((r = hash_sink_init(&hs)) != 0)
		goto out;
	if ((r = text_nar(&t, &hs.sink)) != 0) {
		hash_sink_release(&hs);
		goto out;
	}
	hash_sink_finish(&hs, nh);
	q.nar_size = hs.size;
	if ((r = put_ca(&q.nar_hash, "sha256:", nh)) != 0 ||
	    (r = put_ca(&q.ca, "text:sha256:", h)) != 0 ||
	    (r = client_add_nar(c, &q, text_nar, &t)) != 0)
		goto out;
	*out = q.path;
	q.path = NULL;
out:
	free(q.path);
	free(q.ca);
	free(q.nar_hash);
	return r;
}

/* ---- QUERY_PATH_INFO and FOLLOW_LOG ----------------------------------- */

int client_query(struct client_conn *c, const char *const *paths, size_t n, struct path_info **vp)
{
	struct buf b = BUF_INIT(PROTO_FRAME_MAX + PROTO_HDR_LEN);
	struct path_info *all = calloc(n ? n : 1, sizeof(*all));
	size_t done = 0;
	int r = 0;

	*vp = NULL;
	if (!all)
		return err_set(ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		path_info_init(&all[i]);
	while (done < n && r == 0) {
		size_t k = n - done > PROTO_QUERY_MAX ? PROTO_QUERY_MAX : n - done, got = 0;
		uint32_t id = c->next_id++;
		struct path_info *v = NULL;
		struct proto_frame f;

		if ((r = proto_query_put(&b, id, paths + done, k)) != 0 ||
		    (r = send_buf(c, &b)) != 0 || (r = wait_final(c, id, &f, NULL, NULL)) != 0 ||
		    (r = proto_query_ok_get(&f, &v, &got)) != 0)
			break;
		if (got != k) {
			proto_query_ok_free(v, got);
			r = err_set(ERR_FORMAT, "query path info: %zu answers to %zu paths", got,
				    k);
			break;
		}
		memcpy(all + done, v, k * sizeof(*v));
		free(v);
		done += k;
	}
	buf_release(&b);
	if (r != 0) {
		proto_query_ok_free(all, n);
		return r;
	}
	*vp = all;
	return 0;
}

struct follow_ctx {
	int fd;
	int r;
};

static void on_follow_frame(void *ctx, const struct proto_frame *f)
{
	struct follow_ctx *fc = ctx;
	struct proto_event ev;

	if (f->op != PROTO_EV_LOG_LINE || fc->r != 0)
		return;
	if ((fc->r = proto_event_get(&ev, f)) == 0)
		fc->r = write_all(fc->fd, ev.line, ev.nline, "the output");
	proto_event_release(&ev);
}

int client_follow_log(struct client_conn *c, const char *drv, bool replay, int fd, uint64_t *status)
{
	struct buf b = BUF_INIT(PROTO_PATH_MAX + 64);
	struct follow_ctx fc = {fd, 0};
	uint32_t id = c->next_id++;
	struct proto_frame f;
	int r;

	if ((r = proto_follow_put(&b, id, drv, replay ? PROTO_FOLLOW_REPLAY : 0)) != 0 ||
	    (r = send_buf(c, &b)) != 0)
		goto out;
	if ((r = wait_final(c, id, &f, on_follow_frame, &fc)) == 0)
		r = fc.r != 0 ? fc.r : proto_ok_u64_get(&f, status);
out:
	buf_release(&b);
	return r;
}

int client_build_begin(struct client_conn *c, const struct proto_build *q, uint32_t *id)
{
	struct buf b = BUF_INIT(PROTO_FRAME_MAX + PROTO_HDR_LEN);
	int r;

	*id = c->next_id++;
	if ((r = proto_build_put(&b, *id, q)) == 0)
		r = send_buf(c, &b);
	buf_release(&b);
	return r;
}

int client_fd(const struct client_conn *c)
{
	return c->fd;
}

int client_build_step(struct client_conn *c, uint32_t id, client_event_fn fn, void *ctx, bool *done,
		      struct proto_build_entry **v, size_t *n)
{
	struct proto_frame f;
	int r;

	*done = false;
	if ((r = recv_frame(c, &f)) != 0)
		return r;
	if (f.id != id && f.id != 0)
		return 0;
	if (f.op == PROTO_OK) {
		*done = true;
		return proto_build_ok_get(&f, v, n);
	}
	if (f.op == PROTO_ERROR) {
		int code;
		char *msg;

		*done = true;
		if ((r = proto_error_get(&f, &code, &msg)) == 0) {
			r = err_set(code, "%s", msg);
			free(msg);
		}
		return r;
	}
	if (f.op >= PROTO_EV_BUILD_STARTED && f.op <= PROTO_EV_BUILD_KEPT) {
		struct proto_event ev;

		if ((r = proto_event_get(&ev, &f)) == 0 && fn)
			fn(ctx, &ev);
		proto_event_release(&ev);
	}
	return r;
}

int client_cancel(struct client_conn *c, uint32_t id)
{
	struct buf b = BUF_INIT(64);
	int r;

	if ((r = proto_put_frame(&b, PROTO_CANCEL, 0, id, NULL, 0)) == 0)
		r = send_buf(c, &b);
	buf_release(&b);
	return r;
}

static int conn_local(void *ctx, const char *src, const char *name, char **out)
{
	return client_add_path(ctx, src, name, 0, out);
}

static int conn_text(void *ctx, const char *name, const void *text, size_t len,
		     const char *const *refs, size_t nrefs, char **out)
{
	return client_add_text(ctx, name, text, len, refs, nrefs, out);
}

int client_recipe_write(struct client_conn *c, const struct recipe_result *res)
{
	const struct recipe_sink sink = {conn_local, conn_text, c};
	struct path_info *info = NULL;
	const char **paths = NULL;
	bool *valid = NULL;
	int r = 0;

	if (!res->nitems)
		return 0;
	if (!(paths = calloc(res->nitems, sizeof(*paths))))
		return err_set(ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < res->nitems; i++)
		paths[i] = res->items[i].path;
	if ((r = client_query(c, paths, res->nitems, &info)) != 0)
		goto out;
	if (!(valid = calloc(res->nitems, sizeof(*valid)))) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < res->nitems; i++)
		valid[i] = info[i].path != NULL;
	r = recipe_write_via(res, &sink, valid);
out:
	free(valid);
	if (info)
		proto_query_ok_free(info, res->nitems);
	free(paths);
	return r;
}
