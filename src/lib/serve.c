/* serve.c — `yonder serve --stdio`: the remote protocol's server. */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "acl.h"
#include "archive.h"
#include "builder.h"
#include "db.h"
#include "drv.h"
#include "err.h"
#include "io.h"
#include "pki.h"
#include "proto.h"
#include "remote.h"
#include "store.h"
#include "storepath.h"

struct serve {
	int in, out;
	struct store *s;
	struct proto_decoder dec;
	struct buf ob;
	struct acl acl;
	char aclfile[PATH_MAX];
	char host[256];
	int roots_fd;
	char roots[PATH_MAX];
	int64_t last_sent;
	int out_flags; /* OUT's file status flags before we made it non-blocking */
	unsigned char tmp[65536];
};

/* Waits until FD is ready for EVENTS, at most SERVE_IO_TIMEOUT_MS: 0, or
 * ERR_IO when the time is up (the client is taken as gone: a half-open
 * connection would keep this process, its locks and temporary roots for
 * ever). */
static int wait_fd(int fd, short events, const char *what)
{
	for (;;) {
		struct pollfd p = {fd, events, 0};
		int k = poll(&p, 1, SERVE_IO_TIMEOUT_MS);

		if (k > 0)
			return 0;
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return err_sys(ERR_IO, "%s: poll", what);
		return err_set(ERR_IO, "%s: nothing could be %s for %d s: the client is gone", what,
			       events == POLLIN ? "read" : "written", SERVE_IO_TIMEOUT_MS / 1000);
	}
}

static int flush(struct serve *sv)
{
	const char *p = sv->ob.data;
	size_t n = sv->ob.len;
	int r = 0;

	while (n > 0 && r == 0) {
		ssize_t w = write(sv->out, p, n);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			r = wait_fd(sv->out, POLLOUT, "standard output");
		} else {
			r = err_sys(ERR_IO, "standard output: write");
		}
	}
	buf_reset(&sv->ob);
	sv->last_sent = builder_now_ms();
	return r;
}

/* The next frame from the client: 1 and *F, 0 at a clean end of input, or
 * an error (ERR_IO also when nothing came for SERVE_IO_TIMEOUT_MS). */
static int recv_frame(struct serve *sv, struct proto_frame *f)
{
	for (;;) {
		size_t want, used;
		ssize_t n;
		int r;

		if ((r = proto_decoder_next(&sv->dec, f)) != 0)
			return r;
		if ((r = wait_fd(sv->in, POLLIN, "client")) != 0)
			return r;
		want = proto_decoder_want(&sv->dec);
		n = read(sv->in, sv->tmp, want < sizeof(sv->tmp) ? want : sizeof(sv->tmp));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return err_sys(ERR_IO, "client: read");
		if (n == 0)
			return proto_decoder_finish(&sv->dec);
		for (size_t off = 0; off < (size_t)n; off += used) {
			if ((r = proto_decoder_feed(&sv->dec, sv->tmp + off, (size_t)n - off,
						    &used)) != 0)
				return r;
			if (used == 0)
				break; /* cannot happen: we read at most what the frame wants */
		}
	}
}

static int send_error(struct serve *sv, uint32_t id, int code)
{
	int r;

	buf_reset(&sv->ob);
	if ((r = proto_error_put(&sv->ob, id, code, err_msg())) != 0)
		return r;
	return flush(sv);
}

static int next_frame(void *ctx, struct proto_frame *f)
{
	return recv_frame(ctx, f);
}

/* Temporary roots: one file for this process, a path per line. */
static int roots_add(struct serve *sv, const char *const *paths, size_t n)
{
	struct buf b = BUF_INIT(SIZE_MAX / 2);
	const char *state;
	char dir[PATH_MAX];
	int r = 0;

	if (n == 0)
		return 0;
	if (sv->roots_fd < 0) {
		if ((r = store_state_dir(&state)) != 0)
			return r;
		if ((size_t)snprintf(dir, sizeof(dir), "%s/temproots", state) >= sizeof(dir) - 32)
			return err_set(ERR_TOOBIG, "state directory %s: name too long", state);
		if ((r = mkdir_p(dir, 0755)) != 0)
			return r;
		snprintf(sv->roots, sizeof(sv->roots), "%.4000s/%ld", dir, (long)getpid());
		unlink(sv->roots); /* left by a dead process with our pid */
		sv->roots_fd =
		    open(sv->roots, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
			 0644);
		if (sv->roots_fd < 0)
			return err_sys(ERR_IO, "%s", sv->roots);
	}
	for (size_t i = 0; i < n && r == 0; i++)
		if ((r = buf_puts(&b, paths[i])) == 0)
			r = buf_putc(&b, '\n');
	if (r == 0)
		r = write_all(sv->roots_fd, b.data, b.len, sv->roots);
	buf_release(&b);
	return r;
}

static int load_milli(uint64_t *out)
{
	char b[128] = "";
	int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	*out = 0;
	if (fd < 0)
		return 0;
	n = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (n > 0)
		*out = (uint64_t)(strtod(b, NULL) * 1000.0);
	return 0;
}

static int handshake(struct serve *sv, const struct serve_opts *o)
{
	struct proto_frame f;
	struct proto_hello h = {0};
	struct proto_welcome w = {0};
	const char *sys1[2] = {builder_system(), NULL};
	const char *const *systems = o && o->systems ? o->systems : sys1;
	const char *const *features = o && o->features ? o->features : (const char *const[]){NULL};
	struct statvfs sf;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int r;

	if ((r = recv_frame(sv, &f)) <= 0) {
		r = r == 0 ? err_set(ERR_TRUNCATED, "client: no hello") : r;
		if (r != ERR_IO)
			send_error(sv, 0, r);
		return r;
	}
	if ((r = proto_hello_get(&h, &f)) != 0 || (r = proto_negotiate(h.version, &w.version)) != 0)
		goto out;
	w.name = "yonder " YONDER_VERSION;
	w.host = sv->host;
	w.store_dir = (char *)store_dir(sv->s);
	w.systems = (char **)systems;
	while (systems[w.nsystems])
		w.nsystems++;
	w.features = (char **)features;
	while (features[w.nfeatures])
		w.nfeatures++;
	w.cores = cpus > 0 ? (uint64_t)cpus : 1;
	load_milli(&w.load_milli);
	if (statvfs(store_dir(sv->s), &sf) == 0)
		w.free_bytes = (uint64_t)sf.f_bavail * sf.f_frsize;
	if ((r = proto_welcome_put(&sv->ob, &w)) == 0)
		r = flush(sv);
out:
	proto_hello_release(&h);
	if (r != 0 && r != ERR_IO)
		send_error(sv, 0, r);
	return r;
}

static int do_query(struct serve *sv, const struct proto_frame *f)
{
	char **v = NULL;
	size_t n = 0;
	struct db_list ok = DB_LIST_INIT;
	int r;

	if ((r = proto_r_paths_get(f, &v, &n)) != 0)
		return send_error(sv, f->id, r);
	for (size_t i = 0; i < n && r == 0; i++) {
		if ((r = store_check_path(sv->s, v[i])) != 0)
			break;
		if ((r = db_is_valid(store_db(sv->s), v[i])) == 1)
			r = db_list_push(&ok, v[i]);
	}
	if (r == 0 &&
	    (r = proto_r_paths_put(&sv->ob, PROTO_OK, f->id, (const char *const *)ok.v, ok.n)) == 0)
		r = flush(sv);
	else if (r < 0)
		r = send_error(sv, f->id, r);
	proto_strv_free(v, n);
	db_list_release(&ok);
	return r;
}

static int do_import(struct serve *sv, const struct proto_frame *f)
{
	struct remote_data_src src = {next_frame, sv,   f->id, "upload", false, false,
				      0,          NULL, NULL,  0,        0};
	struct archive_import_opts o = {ARCHIVE_YONDER, &sv->acl, sv->aclfile, false};
	struct db_list paths = DB_LIST_INIT;
	struct reader rd;
	int r;

	if (f->len != 0) {
		err_set(ERR_INVALID, "import: %u unexpected payload bytes", f->len);
		return send_error(sv, f->id, ERR_INVALID);
	}
	if ((r = remote_data_reader(&rd, &src)) != 0)
		return send_error(sv, f->id, r);
	r = archive_import(sv->s, &rd, &o, &paths);
	reader_release(&rd);
	free(src.msg);
	if (r == 0)
		r = roots_add(sv, (const char *const *)paths.v, paths.n);
	if (r == 0) {
		if ((r = proto_r_paths_put(&sv->ob, PROTO_OK, f->id, (const char *const *)paths.v,
					   paths.n)) == 0)
			r = flush(sv);
	} else {
		err_prefix(r, "%s", sv->host);
		r = send_error(sv, f->id, r);
	}
	db_list_release(&paths);
	return r;
}

struct build_ctx {
	struct serve *sv;
	uint32_t id;
};

static void build_log(void *ctx, const void *p, size_t n)
{
	struct build_ctx *b = ctx;
	const char *q = p;

	while (n > 0) {
		size_t k = n > PROTO_LINE_MAX ? PROTO_LINE_MAX : n;

		if (proto_r_log_put(&b->sv->ob, b->id, q, k) != 0 || flush(b->sv) != 0)
			return; /* the end of the conversation will say why */
		q += k;
		n -= k;
	}
}

static int do_build(struct serve *sv, const struct proto_frame *f)
{
	struct proto_r_build q;
	struct drv d = DRV_INIT;
	struct builder *b = NULL;
	struct builder_opts bo = {0};
	struct build_ctx bc = {sv, f->id};
	struct db_list need = DB_LIST_INIT;
	int *locks = NULL;
	size_t nlocked = 0, nvalid = 0;
	uint64_t status = PROTO_R_BUILT;
	char *msg = NULL;
	int r;

	if ((r = proto_r_build_get(&q, f)) != 0)
		return send_error(sv, f->id, r);
	if ((r = store_check_path(sv->s, q.drv)) != 0)
		goto fail;
	if ((r = db_is_valid(store_db(sv->s), q.drv)) != 1) {
		r = r < 0 ? r : err_set(ERR_NOTFOUND, "%s: %s is not valid here", sv->host, q.drv);
		goto fail;
	}
	if ((r = drv_parse_file(&d, q.drv, store_dir(sv->s))) != 0)
		goto fail;
	/* Its inputs must all be here, and stay here while it builds. */
	if ((r = db_list_push(&need, q.drv)) != 0)
		goto fail;
	for (size_t i = 0; i < d.nsrcs && r == 0; i++)
		r = db_list_push(&need, d.srcs[i]);
	for (size_t i = 0; i < d.ninputs && r == 0; i++) {
		struct drv in = DRV_INIT;

		if ((r = drv_parse_file(&in, d.inputs[i].path, store_dir(sv->s))) != 0)
			break;
		for (size_t j = 0; j < d.inputs[i].noutputs && r == 0; j++) {
			long k = drv_output_index(&in, d.inputs[i].outputs[j]);

			if (k < 0)
				r = err_set(ERR_FORMAT, "%s has no output '%s'", d.inputs[i].path,
					    d.inputs[i].outputs[j]);
			else
				r = db_list_push(&need, in.outputs[k].path);
		}
		drv_release(&in);
	}
	/* Rooted before they are checked: a `store delete` after the check
	 * would otherwise find them unprotected. */
	if (r == 0)
		r = roots_add(sv, (const char *const *)need.v, need.n);
	for (size_t i = 0; i < need.n && r == 0; i++)
		if ((r = db_is_valid(store_db(sv->s), need.v[i])) == 0)
			r = err_set(ERR_NOTFOUND, "%s: the input %s of %s is not valid here",
				    sv->host, need.v[i], q.drv);
		else if (r == 1)
			r = 0;
	if (r != 0)
		goto fail;
	/* The outputs' locks, in sorted order (the drv's outputs are sorted
	 * by name, not path: sort a copy). */
	if (!(locks = malloc(d.noutputs * sizeof(int)))) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto fail;
	}
	{
		struct db_list outs = DB_LIST_INIT;

		for (size_t i = 0; i < d.noutputs && r == 0; i++)
			r = db_list_push(&outs, d.outputs[i].path);
		for (size_t i = 1; i < outs.n; i++)
			for (size_t j = i; j > 0 && strcmp(outs.v[j - 1], outs.v[j]) > 0; j--) {
				char *t = outs.v[j];

				outs.v[j] = outs.v[j - 1];
				outs.v[j - 1] = t;
			}
		for (size_t i = 0; i < outs.n && r == 0; i++) {
			if ((r = store_path_lock(sv->s, outs.v[i], true, &locks[i])) == 0) {
				nlocked++;
				if ((r = db_is_valid(store_db(sv->s), outs.v[i])) == 1) {
					nvalid++;
					r = 0;
				}
			}
		}
		if (r != 0) {
			for (size_t i = 0; i < nlocked; i++)
				store_path_unlock(sv->s, outs.v[i], &locks[i]);
			nlocked = 0;
		}
		if (r == 0 && nvalid == d.noutputs)
			status = PROTO_R_VALID;
		if (r == 0 && status != PROTO_R_VALID) {
			bo.timeout = (unsigned)q.timeout;
			bo.max_silent = (unsigned)q.max_silent;
			bo.cores = (unsigned)q.cores;
			r = builder_start(&b, sv->s, q.drv, &d, &bo);
		}
		if (r == 0 && b) {
			for (;;) {
				struct pollfd fds[BUILDER_NFDS + 1];
				size_t nf = builder_pollfds(b, fds);
				int64_t dl = builder_deadline(b), now = builder_now_ms();
				int64_t ping = sv->last_sent + SERVE_PING_MS;
				int tmo, s;

				if (dl < 0 || dl > ping)
					dl = ping;
				tmo = dl <= now ? 0 : (int)(dl - now);
				fds[nf].fd = sv->in;
				fds[nf].events = POLLIN;
				fds[nf].revents = 0;
				if (poll(fds, nf + 1, tmo) < 0 && errno != EINTR) {
					r = err_sys(ERR_IO, "poll");
					break;
				}
				if (fds[nf].revents) {
					struct proto_frame g;

					/* Only a PING may come now; the end of
					 * input means the client is gone. */
					if ((s = recv_frame(sv, &g)) <= 0) {
						r = s ? s : err_set(ERR_TRUNCATED, "client gone");
						break;
					}
				}
				if (builder_now_ms() >= sv->last_sent + SERVE_PING_MS) {
					if ((r = proto_put_frame(&sv->ob, PROTO_R_PING, 0, f->id,
								 NULL, 0)) != 0 ||
					    (r = flush(sv)) != 0)
						break;
				}
				if ((s = builder_step(b, build_log, &bc)) < 0) {
					r = s;
					break;
				}
				if (s == 1) {
					if (builder_finish(b) != 0) {
						status = builder_timed_out(b) ? PROTO_R_TIMED_OUT
									      : PROTO_R_FAILED;
						msg = strdup(err_msg());
					}
					break;
				}
			}
		}
		for (size_t i = 0; i < nlocked; i++)
			store_path_unlock(sv->s, outs.v[i], &locks[i]);
		db_list_release(&outs);
	}
	builder_free(b);
	if (r != 0)
		goto fail;
	if ((r = proto_r_result_put(&sv->ob, f->id, status, msg ? msg : "")) == 0)
		r = flush(sv);
	goto out;
fail:
	r = send_error(sv, f->id, r);
out:
	free(msg);
	free(locks);
	db_list_release(&need);
	drv_release(&d);
	proto_r_build_release(&q);
	return r;
}

static int do_export(struct serve *sv, const struct proto_frame *f)
{
	char **v = NULL;
	size_t n = 0;
	struct pki_secret key = {0};
	struct remote_export *x = NULL;
	char keyfile[PATH_MAX];
	const char *dir;
	int r, fd = -1;

	if ((r = proto_r_paths_get(f, &v, &n)) != 0)
		return send_error(sv, f->id, r);
	for (size_t i = 0; i < n && r == 0; i++)
		if ((r = store_check_path(sv->s, v[i])) == 0 &&
		    (r = db_is_valid(store_db(sv->s), v[i])) == 0)
			r = err_set(ERR_NOTFOUND, "%s: %s is not valid here", sv->host, v[i]);
		else if (r == 1)
			r = 0;
	if (r == 0 && (r = pki_config_dir(&dir)) == 0) {
		snprintf(keyfile, sizeof(keyfile), "%s/%s", dir, PKI_SECRET_FILE);
		r = pki_secret_load(&key, keyfile);
	}
	if (r == 0)
		r = remote_export_start(&x, sv->s, (const char *const *)v, n, &key,
					ARCHIVE_ZSTD_DEFAULT_LEVEL, &fd);
	if (r != 0) {
		pki_secret_release(&key);
		proto_strv_free(v, n);
		return send_error(sv, f->id, r);
	}
	/* DATA frames as the archive comes out of the pipe. */
	{
		static unsigned char chunk[256 * 1024];
		ssize_t k;

		for (;;) {
			k = read(fd, chunk, sizeof(chunk));
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				r = err_sys(ERR_IO, "reading the export pipe");
				break;
			}
			if ((r = proto_put_frame(&sv->ob, PROTO_DATA, k == 0 ? PROTO_F_END : 0,
						 f->id, chunk, (size_t)k)) != 0 ||
			    (r = flush(sv)) != 0 || k == 0)
				break;
		}
		if (r != 0)
			while (read(fd, chunk, sizeof(chunk)) > 0)
				;
	}
	{
		int xr = remote_export_finish(x);

		if (r == 0)
			r = xr;
	}
	pki_secret_release(&key);
	proto_strv_free(v, n);
	if (r != 0)
		return send_error(sv, f->id, r);
	if ((r = proto_put_frame(&sv->ob, PROTO_OK, 0, f->id, NULL, 0)) == 0)
		r = flush(sv);
	return r;
}

int serve_stdio(int in, int out, const struct serve_opts *o)
{
	struct serve sv;
	struct proto_frame f;
	const char *dir;
	int r;

	memset(&sv, 0, sizeof(sv));
	sv.in = in;
	sv.out = out;
	sv.roots_fd = -1;
	/* Writes wait with a deadline (flush), not for ever. */
	if ((sv.out_flags = fcntl(out, F_GETFL)) >= 0 && !(sv.out_flags & O_NONBLOCK))
		fcntl(out, F_SETFL, sv.out_flags | O_NONBLOCK);
	buf_init(&sv.ob, PROTO_FRAME_MAX + 2 * PROTO_HDR_LEN);
	acl_init(&sv.acl);
	proto_decoder_init(&sv.dec, "client", 0);
	if (gethostname(sv.host, sizeof(sv.host) - 1) != 0)
		snprintf(sv.host, sizeof(sv.host), "localhost");
	if ((r = store_open(&sv.s)) != 0 || (r = pki_config_dir(&dir)) != 0)
		goto fatal;
	snprintf(sv.aclfile, sizeof(sv.aclfile), "%s/%s", dir, ACL_FILE);
	if ((r = acl_load(&sv.acl, sv.aclfile)) != 0)
		goto fatal;
	if ((r = handshake(&sv, o)) != 0)
		goto out;
	for (;;) {
		if ((r = recv_frame(&sv, &f)) <= 0)
			break;
		switch (f.op) {
		case PROTO_R_PING:
		case PROTO_DATA: /* of a request that failed: dropped */
		case PROTO_CANCEL: r = 0; break;
		case PROTO_R_QUERY_VALID: r = do_query(&sv, &f); break;
		case PROTO_R_IMPORT: r = do_import(&sv, &f); break;
		case PROTO_R_BUILD: r = do_build(&sv, &f); break;
		case PROTO_R_EXPORT: r = do_export(&sv, &f); break;
		default:
			err_set(ERR_INVALID, "%s: unexpected %s (0x%04x) request", sv.host,
				proto_op_name(f.op), f.op);
			r = send_error(&sv, f.id, ERR_INVALID);
		}
		if (r != 0)
			break;
	}
	if (r == 0)
		r = proto_decoder_finish(&sv.dec);
	else if (r != ERR_IO)
		send_error(&sv, 0, r); /* the stream is unusable: say why, end */
	goto out;
fatal:
	send_error(&sv, 0, r);
out:
	if (sv.roots_fd >= 0) {
		close(sv.roots_fd);
		unlink(sv.roots);
	}
	proto_decoder_release(&sv.dec);
	buf_release(&sv.ob);
	acl_release(&sv.acl);
	store_free(sv.s);
	if (sv.out_flags >= 0 && !(sv.out_flags & O_NONBLOCK))
		fcntl(out, F_SETFL, sv.out_flags);
	return r;
}
