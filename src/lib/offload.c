/* offload.c — one build on one build machine. */
#include "offload.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "acl.h"
#include "archive.h"
#include "builder.h"
#include "db.h"
#include "drv.h"
#include "err.h"
#include "io.h"
#include "proto.h"
#include "remote.h"
#include "sched_pick.h"
#include "store.h"

#define QUERY_BATCH 4096

enum { ID_QUERY = 1, ID_IMPORT = 2, ID_BUILD = 3, ID_EXPORT = 4 };

/* The log, zstd-compressed as builder.c writes it, under a temporary name
 * renamed at the end. */
struct logw {
	int fd;
	char *path;
	char tmp[PATH_MAX];
	ZSTD_CCtx *z;
	unsigned char out[65536];
};

static int logw_open(struct logw *l, struct store *s, const char *drv)
{
	char dir[PATH_MAX];
	int r;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	snprintf(dir, sizeof(dir), "%s/log", store_state_path(s));
	if ((r = mkdir_p(dir, 0755)) != 0 ||
	    (r = builder_log_file(store_state_path(s), drv, &l->path)) != 0)
		return r;
	snprintf(l->tmp, sizeof(l->tmp), "%.4000s.tmp-%ld", l->path, (long)getpid());
	unlink(l->tmp);
	if ((l->fd = open(l->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0)
		return err_sys(ERR_IO, "%s", l->tmp);
	if (!(l->z = ZSTD_createCCtx()))
		return err_set(ERR_NOMEM, "out of memory");
	ZSTD_CCtx_setParameter(l->z, ZSTD_c_compressionLevel, 3);
	return 0;
}

static int logw_put(struct logw *l, const void *p, size_t n, bool end)
{
	ZSTD_inBuffer in = {p, n, 0};

	if (l->fd < 0)
		return 0;
	for (;;) {
		ZSTD_outBuffer out = {l->out, sizeof(l->out), 0};
		size_t left =
		    ZSTD_compressStream2(l->z, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);

		if (ZSTD_isError(left))
			return err_set(ERR_INTERNAL, "%s: zstd: %s", l->tmp,
				       ZSTD_getErrorName(left));
		if (out.pos && write_all(l->fd, l->out, out.pos, l->tmp) != 0)
			return ERR_IO;
		if (end ? left == 0 : in.pos == in.size)
			return 0;
	}
}

static int logw_close(struct logw *l, bool keep)
{
	int r = 0;

	if (l->fd >= 0) {
		if (keep)
			r = logw_put(l, NULL, 0, true);
		if (close(l->fd) != 0 && r == 0)
			r = err_sys(ERR_IO, "%s", l->tmp);
		if (keep && r == 0 && rename(l->tmp, l->path) != 0)
			r = err_sys(ERR_IO, "renaming %s", l->tmp);
		if (!keep || r != 0)
			unlink(l->tmp);
	}
	ZSTD_freeCCtx(l->z);
	free(l->path);
	return r;
}

static int64_t now_ms(void)
{
	return builder_now_ms();
}

/* What the machine needs: the .drv's closure and that of the outputs of
 * its input derivations, references first. */
static int needed_paths(struct store *s, const char *drv_path, const struct drv *d,
			struct db_list *out)
{
	struct db_list roots = DB_LIST_INIT;
	int r = db_list_push(&roots, drv_path);

	for (size_t i = 0; i < d->ninputs && r == 0; i++) {
		struct drv in = DRV_INIT;

		if ((r = drv_parse_file(&in, d->inputs[i].path, store_dir(s))) != 0)
			break;
		for (size_t j = 0; j < d->inputs[i].noutputs && r == 0; j++) {
			long k = drv_output_index(&in, d->inputs[i].outputs[j]);

			r = k < 0 ? err_set(ERR_FORMAT, "%s has no output '%s'", d->inputs[i].path,
					    d->inputs[i].outputs[j])
				  : db_list_push(&roots, in.outputs[k].path);
		}
		drv_release(&in);
	}
	if (r == 0)
		r = db_query_closure(store_db(s), (const char *const *)roots.v, roots.n, out);
	db_list_release(&roots);
	return r;
}

/* Reads the final frame of request ID: 0 for OK (*F is it), or the
 * machine's ERROR as our error (prefixed with WHAT). */
static int final_frame(struct remote_chan *c, uint32_t id, const char *what, struct proto_frame *f)
{
	int r, code;
	char *msg;

	for (;;) {
		if ((r = remote_recv(c, f)) < 0)
			return r;
		if (f->id != id || f->op == PROTO_DATA)
			continue; /* stray data of a request that failed */
		if (f->op == PROTO_OK)
			return 0;
		if (f->op == PROTO_ERROR) {
			if ((r = proto_error_get(f, &code, &msg)) != 0)
				return r;
			r = err_set(code, "%s: %s", what, msg);
			free(msg);
			return r;
		}
		return err_set(ERR_FORMAT, "%s: unexpected %s frame", what,
			       proto_op_name(f->op) ? proto_op_name(f->op) : "?");
	}
}

/* Appends "; that is: FMT…" to the current message (with code R). */
static void explain(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void explain(int r, const char *fmt, ...)
{
	char *was = strdup(err_msg()), more[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(more, sizeof(more), fmt, ap);
	va_end(ap);
	if (was)
		err_set(r, "%s; that is: %s", was, more);
	free(was);
}

static int query_missing(struct remote_chan *c, const struct db_list *need, struct db_list *missing)
{
	struct buf b = BUF_INIT(PROTO_FRAME_MAX + PROTO_HDR_LEN);
	struct proto_frame f;
	int r = 0;

	for (size_t at = 0; at < need->n && r == 0; at += QUERY_BATCH) {
		size_t n = need->n - at < QUERY_BATCH ? need->n - at : QUERY_BATCH;
		char **v = NULL;
		size_t nv = 0;

		if ((r = proto_r_paths_put(&b, PROTO_R_QUERY_VALID, ID_QUERY,
					   (const char *const *)need->v + at, n)) != 0 ||
		    (r = remote_send(c, &b)) != 0 ||
		    (r = final_frame(c, ID_QUERY, "query-valid", &f)) != 0 ||
		    (r = proto_r_paths_get(&f, &v, &nv)) != 0)
			break;
		/* The answer is a subset in the same order. */
		for (size_t i = 0, k = 0; i < n && r == 0; i++) {
			if (k < nv && !strcmp(v[k], need->v[at + i]))
				k++;
			else
				r = db_list_push(missing, need->v[at + i]);
		}
		proto_strv_free(v, nv);
	}
	buf_release(&b);
	return r;
}

static int upload(struct remote_chan *c, struct store *s, const struct db_list *missing,
		  const struct offload_opts *o, struct offload_result *res)
{
	struct buf b = BUF_INIT(PROTO_HDR_LEN);
	struct remote_export *x = NULL;
	struct proto_frame f;
	int r, xr, fd;

	if ((r = proto_put_frame(&b, PROTO_R_IMPORT, 0, ID_IMPORT, NULL, 0)) != 0 ||
	    (r = remote_send(c, &b)) != 0) {
		buf_release(&b);
		return r;
	}
	buf_release(&b);
	if ((r = remote_export_start(&x, s, (const char *const *)missing->v, missing->n, o->key,
				     o->compression, &fd)) != 0)
		return r; /* the machine waits for data: the channel is closed by the caller */
	r = remote_send_fd(c, ID_IMPORT, fd, &res->up_bytes);
	xr = remote_export_finish(x);
	if (r < 0)
		return r;
	if (r == 0 && xr != 0)
		return xr; /* a truncated stream was sent: the machine refuses it */
	if ((r = final_frame(c, ID_IMPORT, "the machine refused the upload", &f)) != 0) {
		if (r == ERR_MISMATCH && strstr(err_msg(), "key in the ACL"))
			explain(r,
				"the ACL of %s does not hold our key '%s' (authorize our "
				"signing-key.pub there with `yonder archive --authorize`)",
				remote_welcome(c)->host, o->key ? o->key->name : "?");
		return r;
	}
	res->uploaded = missing->n;
	return 0;
}

static int build_there(struct remote_chan *c, const char *drv_path, const struct offload_opts *o,
		       struct logw *lw, uint64_t *status, char **msg)
{
	struct buf b = BUF_INIT(PROTO_FRAME_MAX + PROTO_HDR_LEN);
	struct proto_r_build q = {(char *)drv_path, o->timeout, o->max_silent, o->cores};
	struct proto_frame f;
	int r, code;

	if ((r = proto_r_build_put(&b, ID_BUILD, &q)) != 0 || (r = remote_send(c, &b)) != 0) {
		buf_release(&b);
		return r;
	}
	buf_release(&b);
	for (;;) {
		if ((r = remote_recv(c, &f)) < 0)
			return r;
		if (f.id != ID_BUILD)
			continue;
		if (f.op == PROTO_R_LOG) {
			const void *p;
			size_t n;

			if ((r = proto_r_log_get(&f, &p, &n)) != 0)
				return r;
			if (o->log)
				o->log(o->ctx, p, n);
			if ((r = logw_put(lw, p, n, false)) != 0)
				return r;
			continue;
		}
		if (f.op == PROTO_OK)
			return proto_r_result_get(&f, status, msg);
		if (f.op == PROTO_ERROR) {
			if ((r = proto_error_get(&f, &code, msg)) != 0)
				return r;
			r = err_set(code, "build of %s refused there: %s", drv_path, *msg);
			free(*msg);
			*msg = NULL;
			return r;
		}
	}
}

static int recv_frame(void *ctx, struct proto_frame *f)
{
	return remote_recv(ctx, f);
}

static int download(struct remote_chan *c, struct store *s, const struct db_list *want,
		    const struct offload_opts *o, struct offload_result *res)
{
	struct buf b = BUF_INIT(PROTO_FRAME_MAX + PROTO_HDR_LEN);
	struct remote_data_src src;
	struct archive_import_opts io = {ARCHIVE_YONDER, o->acl, o->acl_file, false};
	struct db_list got = DB_LIST_INIT;
	struct proto_frame f;
	struct reader rd;
	int r, fr;

	memset(&src, 0, sizeof(src));
	src.next = recv_frame;
	src.ctx = c;
	src.id = ID_EXPORT;
	src.what = "the download";
	if ((r = proto_r_paths_put(&b, PROTO_R_EXPORT, ID_EXPORT, (const char *const *)want->v,
				   want->n)) != 0 ||
	    (r = remote_send(c, &b)) != 0) {
		buf_release(&b);
		return r;
	}
	buf_release(&b);
	if ((r = remote_data_reader(&rd, &src)) != 0)
		return r;
	r = archive_import(s, &rd, &io, &got);
	reader_release(&rd);
	res->down_bytes = src.bytes;
	if (src.failed) {
		r = err_set(src.code, "the download failed there: %s", src.msg);
	} else if (r == ERR_MISMATCH && strstr(err_msg(), "key in the ACL")) {
		err_prefix(r, "the download was refused here");
		explain(r,
			"our ACL%s%s does not hold the key of %s that signed it (authorize its "
			"signing-key.pub here with `yonder archive --authorize`)",
			o->acl_file ? " " : "", o->acl_file ? o->acl_file : "",
			remote_welcome(c)->host);
	} else if (r != 0) {
		err_prefix(r, "the download was refused here");
	} else if ((fr = final_frame(c, ID_EXPORT, "the download failed there", &f)) != 0) {
		r = fr;
	}
	free(src.msg);
	res->downloaded = got.n;
	db_list_release(&got);
	return r;
}

int offload_build(struct remote *rm, struct store *s, const char *drv_path,
		  const struct offload_opts *o, struct offload_result *res)
{
	struct drv d = DRV_INIT;
	struct db_list need = DB_LIST_INIT, missing = DB_LIST_INIT, want = DB_LIST_INIT;
	struct remote_chan *c = NULL;
	struct logw lw;
	uint64_t status = 0;
	char *msg = NULL;
	int64_t t;
	int r;
	bool log_open = false;

	memset(res, 0, sizeof(*res));
	if ((r = drv_parse_file(&d, drv_path, store_dir(s))) != 0 ||
	    (r = needed_paths(s, drv_path, &d, &need)) != 0)
		goto out;
	t = now_ms();
	if ((r = remote_open(rm, store_dir(s), &c)) != 0)
		goto out;
	res->open_ms = now_ms() - t;
	snprintf(res->host, sizeof(res->host), "%s", remote_welcome(c)->host);
	res->welcomed = true;
	res->cores = (unsigned)remote_welcome(c)->cores;
	res->load = (double)remote_welcome(c)->load_milli / 1000.0;
	res->free = remote_welcome(c)->free_bytes;
	if (res->free < SCHED_MIN_FREE) {
		/* A transient failure: the scheduler, told its free space,
		 * does not pick it again until that changes. */
		r = err_set(ERR_TOOBIG,
			    "%s: only %.1f MiB free in its store (%llu MiB needed): nothing sent",
			    res->host, (double)res->free / 1048576.0,
			    (unsigned long long)(SCHED_MIN_FREE >> 20));
		goto out;
	}
	t = now_ms();
	if ((r = query_missing(c, &need, &missing)) != 0)
		goto out;
	res->query_ms = now_ms() - t;
	t = now_ms();
	if (missing.n > 0 && (r = upload(c, s, &missing, o, res)) != 0)
		goto out;
	res->upload_ms = now_ms() - t;
	if ((r = logw_open(&lw, s, drv_path)) != 0)
		goto out;
	log_open = true;
	t = now_ms();
	if ((r = build_there(c, drv_path, o, &lw, &status, &msg)) != 0)
		goto out;
	res->build_ms = now_ms() - t;
	if (status == PROTO_R_FAILED || status == PROTO_R_TIMED_OUT) {
		res->timed_out = status == PROTO_R_TIMED_OUT;
		r = logw_close(&lw, true);
		log_open = false;
		if (r == 0)
			r = OFFLOAD_PERMANENT;
		err_set(ERR_INVALID, "%s (on %s)", msg && msg[0] ? msg : "the build failed",
			res->host);
		goto out;
	}
	res->was_valid = status == PROTO_R_VALID;
	for (size_t i = 0; i < d.noutputs && r == 0; i++)
		if ((r = db_is_valid(store_db(s), d.outputs[i].path)) == 0)
			r = db_list_push(&want, d.outputs[i].path);
		else if (r == 1)
			r = 0;
	t = now_ms();
	if (r == 0 && want.n > 0)
		r = download(c, s, &want, o, res);
	res->download_ms = now_ms() - t;
	if (r == 0) {
		r = logw_close(&lw, !res->was_valid);
		log_open = false;
	}
out:
	if (log_open)
		logw_close(&lw, r == OFFLOAD_PERMANENT);
	if (r < 0 && c)
		err_prefix(r, "offloading %s to %s", drv_path, remote_name(rm));
	remote_chan_free(c);
	free(msg);
	db_list_release(&need);
	db_list_release(&missing);
	db_list_release(&want);
	drv_release(&d);
	return r;
}

int offload_copy_to(struct remote_chan *c, struct store *s, const char *const *paths, size_t n,
		    const struct offload_opts *o, struct offload_result *res)
{
	struct db_list need = DB_LIST_INIT, missing = DB_LIST_INIT;
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = db_query_closure(store_db(s), paths, n, &need)) == 0 &&
	    (r = query_missing(c, &need, &missing)) == 0 && missing.n > 0)
		r = upload(c, s, &missing, o, res);
	db_list_release(&need);
	db_list_release(&missing);
	return r;
}

int offload_query_valid(struct remote_chan *c, const char *const *paths, size_t n,
			struct db_list *missing)
{
	struct db_list need = DB_LIST_INIT;
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++)
		r = db_list_push(&need, paths[i]);
	if (r == 0)
		r = query_missing(c, &need, missing);
	db_list_release(&need);
	return r;
}
