/* archive.c — yonder's archive format and Nix's export format (see
 * archive.h and doc/ARCHIVE.md). */
#include "archive.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "buf.h"
#include "err.h"
#include "hash.h"
#include "nar.h"
#include "store.h"
#include "storepath.h"

#define NIX_EXPORT_MAGIC 0x4558494eull /* "NIXE" */
#define OUT_BUF          (256 * 1024)
#define IN_BUF           (256 * 1024)
#define BIG_NAR          (1024 * 1024)

static const unsigned char zeros[8];
static const unsigned char zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};

/* ==== writing ========================================================= */

struct archive_writer {
	struct sink sink; /* buffered; flushes to the compressor or the fd */
	enum archive_format format;
	int fd;
	const char *what;
	ZSTD_CCtx *cctx;
	unsigned char *zout; /* compressor output, ZSTD_CStreamOutSize() */
	size_t zoutsize;
	unsigned char *buf;
	size_t len;
	bool broken; /* a write failed: the stream is unusable */
};

/* Passes N bytes to the compressor (or, with END, ends the frame) and
 * writes what comes out. */
static int w_compress(struct archive_writer *w, const void *p, size_t n, bool end)
{
	ZSTD_inBuffer in = {p, n, 0};
	int r;

	for (;;) {
		ZSTD_outBuffer out = {w->zout, w->zoutsize, 0};
		size_t left =
		    ZSTD_compressStream2(w->cctx, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);

		if (ZSTD_isError(left))
			return err_set(ERR_INTERNAL, "%s: zstd compression failed: %s", w->what,
				       ZSTD_getErrorName(left));
		if (out.pos && (r = write_all(w->fd, w->zout, out.pos, w->what)) != 0)
			return r;
		if (end ? left == 0 : in.pos == in.size)
			return 0;
	}
}

static int w_out(struct archive_writer *w, const void *p, size_t n)
{
	if (w->cctx)
		return w_compress(w, p, n, false);
	return write_all(w->fd, p, n, w->what);
}

static int w_flush(struct archive_writer *w)
{
	int r = w->len ? w_out(w, w->buf, w->len) : 0;

	w->len = 0;
	return r;
}

static int w_write(struct sink *sk, const void *p, size_t n)
{
	struct archive_writer *w = (struct archive_writer *)sk;
	int r;

	if (w->broken)
		return err_set(ERR_IO, "%s: the stream is broken by an earlier error", w->what);
	if (w->len + n <= OUT_BUF) {
		memcpy(w->buf + w->len, p, n);
		w->len += n;
		return 0;
	}
	if ((r = w_flush(w)) != 0 || (n >= OUT_BUF && (r = w_out(w, p, n)) != 0)) {
		w->broken = true;
		return r;
	}
	if (n < OUT_BUF) {
		memcpy(w->buf, p, n);
		w->len = n;
	}
	return 0;
}

static int put_u64(struct sink *s, uint64_t n)
{
	unsigned char le[8];

	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)(n >> (8 * i));
	return sink_write(s, le, 8);
}

static int put_str(struct sink *s, const char *p)
{
	size_t n = p ? strlen(p) : 0;
	int r;

	if ((r = put_u64(s, n)) != 0 || (n && (r = sink_write(s, p, n)) != 0))
		return r;
	return (n % 8) ? sink_write(s, zeros, 8 - n % 8) : 0;
}

static int put_list(struct sink *s, const struct db_list *l)
{
	int r = put_u64(s, l->n);

	for (size_t i = 0; r == 0 && i < l->n; i++)
		r = put_str(s, l->v[i]);
	return r;
}

void archive_writer_free(struct archive_writer *w)
{
	if (!w)
		return;
	ZSTD_freeCCtx(w->cctx);
	free(w->zout);
	free(w->buf);
	free(w);
}

int archive_writer_new(struct archive_writer **out, int fd, const char *what,
		       enum archive_format format, int zstd_level)
{
	struct archive_writer *w = calloc(1, sizeof(*w));
	int r = 0;

	*out = NULL;
	if (!w || !(w->buf = malloc(OUT_BUF))) {
		archive_writer_free(w);
		return err_set(ERR_NOMEM, "out of memory");
	}
	w->sink.write = w_write;
	w->format = format;
	w->fd = fd;
	w->what = what;
	if (zstd_level < 0 || zstd_level > ZSTD_maxCLevel()) {
		archive_writer_free(w);
		return err_set(ERR_INVALID, "zstd level %d is not between 1 and %d", zstd_level,
			       ZSTD_maxCLevel());
	}
	if (zstd_level > 0) {
		w->zoutsize = ZSTD_CStreamOutSize();
		if (!(w->cctx = ZSTD_createCCtx()) || !(w->zout = malloc(w->zoutsize))) {
			archive_writer_free(w);
			return err_set(ERR_NOMEM, "out of memory");
		}
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, zstd_level);
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
		/* One worker thread: compression overlaps reading the store.
		 * Ignored (single-threaded) where libzstd has no threads. */
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_nbWorkers, 1);
	}
	if (format == ARCHIVE_YONDER && ((r = put_str(&w->sink, ARCHIVE_MAGIC)) != 0 ||
					 (r = put_u64(&w->sink, ARCHIVE_VERSION)) != 0)) {
		archive_writer_free(w);
		return r;
	}
	*out = w;
	return 0;
}

/* The metadata that comes before the NAR (yonder) or after it (Nix). */
static int put_meta(struct archive_writer *w, const struct path_info *pi)
{
	struct sink *s = &w->sink;
	int r;

	if (w->format == ARCHIVE_NIX) {
		if ((r = put_u64(s, NIX_EXPORT_MAGIC)) != 0 || (r = put_str(s, pi->path)) != 0 ||
		    (r = put_list(s, &pi->refs)) != 0 || (r = put_str(s, pi->deriver)) != 0)
			return r;
		return put_u64(s, 0); /* no (legacy) signature */
	}
	if ((r = put_str(s, pi->path)) != 0 || (r = put_list(s, &pi->refs)) != 0 ||
	    (r = put_str(s, pi->deriver)) != 0 || (r = put_str(s, pi->ca)) != 0 ||
	    (r = sink_write(s, pi->nar_hash, SHA256_LEN)) != 0 ||
	    (r = put_u64(s, pi->nar_size)) != 0 || (r = put_list(s, &pi->sigs)) != 0)
		return r;
	return put_str(s, pi->built_by);
}

/* Counts the NAR bytes on their way to the stream. */
struct count_sink {
	struct sink sink;
	struct sink *next;
	uint64_t n;
};

static int count_write(struct sink *sk, const void *p, size_t n)
{
	struct count_sink *c = (struct count_sink *)sk;

	c->n += n;
	return sink_write(c->next, p, n);
}

/* Writes an item around its NAR, which NAR_FN writes to the sink given. */
static int write_item(struct archive_writer *w, const struct path_info *pi,
		      int (*nar_fn)(void *ctx, struct sink *s), void *ctx)
{
	int r;

	if ((r = put_u64(&w->sink, 1)) != 0)
		return r;
	if (w->format == ARCHIVE_YONDER && (r = put_meta(w, pi)) != 0)
		return r;
	if ((r = nar_fn(ctx, &w->sink)) != 0)
		return r;
	return w->format == ARCHIVE_NIX ? put_meta(w, pi) : 0;
}

struct tree_nar {
	int dirfd;
	const char *path;
	uint64_t want;
};

static int tree_nar(void *ctx, struct sink *s)
{
	struct tree_nar *t = ctx;
	struct count_sink c = {{count_write}, s, 0};
	struct nar_writer nw;
	int r;

	nar_writer_init(&nw, &c.sink);
	if ((r = nar_walk(t->dirfd, t->path, &nw.v)) != 0)
		return r;
	if (c.n != t->want)
		return err_set(ERR_MISMATCH,
			       "'%s': its NAR is %llu bytes, the database says %llu: the item "
			       "changed on disk (`yonder store verify --check-contents`)",
			       t->path, (unsigned long long)c.n, (unsigned long long)t->want);
	return 0;
}

int archive_write_item(struct archive_writer *w, const struct path_info *info, int dirfd,
		       const char *path)
{
	struct tree_nar t = {dirfd, path, info->nar_size};
	int r = write_item(w, info, tree_nar, &t);

	if (r != 0)
		w->broken = true;
	return r;
}

struct mem_nar {
	const void *p;
	size_t n;
};

static int mem_nar(void *ctx, struct sink *s)
{
	struct mem_nar *m = ctx;

	return sink_write(s, m->p, m->n);
}

int archive_write_item_nar(struct archive_writer *w, const struct path_info *info, const void *nar,
			   size_t len)
{
	struct mem_nar m = {nar, len};

	return write_item(w, info, mem_nar, &m);
}

int archive_writer_finish(struct archive_writer *w)
{
	int r;

	if ((r = put_u64(&w->sink, 0)) != 0 || (r = w_flush(w)) != 0)
		return r;
	if (w->cctx && (r = w_compress(w, NULL, 0, true)) != 0)
		return r;
	w->broken = true; /* nothing more may be written */
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Signs PI with KEY unless that signature is there; sets its built-by. */
static int sign_item(struct path_info *pi, const struct pki_secret *key)
{
	struct buf fp = BUF_INIT(PKI_FINGERPRINT_MAX);
	char *sig = NULL;
	int r;

	if ((r = pki_fingerprint(&fp, pi->path, pi->nar_hash, pi->nar_size,
				 (const char *const *)pi->refs.v, pi->refs.n)) != 0 ||
	    (r = pki_sign(key, fp.data, fp.len, &sig)) != 0)
		goto out;
	if (!db_list_contains(&pi->sigs, sig)) {
		r = db_list_push_owned(&pi->sigs, sig);
		sig = NULL;
		if (r != 0)
			goto out;
		qsort(pi->sigs.v, pi->sigs.n, sizeof(*pi->sigs.v), cmp_str);
	}
	if (!pi->built_by && !(pi->built_by = strdup(key->name)))
		r = err_set(ERR_NOMEM, "out of memory");
out:
	free(sig);
	buf_release(&fp);
	return r;
}

/* Puts ITEMS in the order `nix-store --export` writes them: sorted by path,
 * each preceded by those of its references that are in ITEMS (depth
 * first, references in path order; references outside ITEMS are not
 * followed).  Dependencies come first, and the order depends on the set
 * alone, so that a --format=nix export is byte for byte Nix's.  *ORDERP
 * (allocated) receives indices into the sorted, de-duplicated ITEMS. */
static int export_order(struct db *db, struct db_list *items, size_t **orderp)
{
	struct db_list *refs = NULL;
	size_t n, no = 0, sp, *order = NULL, *stack = NULL, *next = NULL;
	unsigned char *seen = NULL;
	int r = 0;

	*orderp = NULL;
	if (items->n > 1)
		qsort(items->v, items->n, sizeof(*items->v), cmp_str);
	n = 0;
	for (size_t i = 0; i < items->n; i++) {
		if (n > 0 && !strcmp(items->v[n - 1], items->v[i])) {
			free(items->v[i]);
			continue;
		}
		items->v[n++] = items->v[i];
	}
	items->n = n;
	if (n == 0)
		return 0;
	refs = calloc(n, sizeof(*refs));
	order = malloc(n * sizeof(*order));
	stack = malloc(n * sizeof(*stack));
	next = calloc(n, sizeof(*next));
	seen = calloc(n, 1);
	if (!refs || !order || !stack || !next || !seen) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		struct path_info pi = PATH_INFO_INIT;

		if ((r = db_query_info(db, items->v[i], &pi)) == 0) {
			refs[i] = pi.refs;
			pi.refs = (struct db_list)DB_LIST_INIT;
			if (refs[i].n > 1)
				qsort(refs[i].v, refs[i].n, sizeof(*refs[i].v), cmp_str);
		}
		path_info_release(&pi);
	}
	for (size_t root = 0; root < n && r == 0; root++) {
		if (seen[root])
			continue;
		seen[root] = 1;
		stack[0] = root;
		sp = 1;
		while (sp > 0) {
			size_t cur = stack[sp - 1];
			char **hit;

			if (next[cur] == refs[cur].n) {
				order[no++] = cur;
				sp--;
				continue;
			}
			hit = bsearch(&refs[cur].v[next[cur]++], items->v, n, sizeof(*items->v),
				      cmp_str);
			if (hit && !seen[hit - items->v]) {
				seen[hit - items->v] = 1;
				stack[sp++] = (size_t)(hit - items->v);
			}
		}
	}
	if (r == 0) {
		*orderp = order;
		order = NULL;
	}
out:
	if (refs)
		for (size_t i = 0; i < n; i++)
			db_list_release(&refs[i]);
	free(refs);
	free(order);
	free(stack);
	free(next);
	free(seen);
	return r;
}

int archive_export(struct store *s, struct archive_writer *w, const char *const *paths, size_t n,
		   bool closure, const struct pki_secret *key, struct db_list *exported)
{
	struct db_list items = DB_LIST_INIT;
	size_t *order = NULL;
	int r = 0;

	if (w->format == ARCHIVE_YONDER && !key)
		return err_set(ERR_INVALID, "a yonder archive needs a signing key");
	for (size_t i = 0; i < n; i++)
		if ((r = store_check_path(s, paths[i])) != 0)
			return r;
	if (closure) {
		r = db_query_closure(store_db(s), paths, n, &items);
	} else {
		for (size_t i = 0; i < n && r == 0; i++)
			if ((r = db_is_valid(store_db(s), paths[i])) == 0)
				r = err_set(ERR_NOTFOUND, "'%s' is not a valid store path",
					    paths[i]);
			else if (r > 0)
				r = db_list_push(&items, paths[i]);
	}
	if (r != 0 || (r = export_order(store_db(s), &items, &order)) != 0)
		goto out;
	for (size_t k = 0; k < items.n; k++) {
		struct path_info pi = PATH_INFO_INIT;
		const char *path = items.v[order[k]];

		if ((r = db_query_info(store_db(s), path, &pi)) == 0) {
			if (pi.refs.n > 1)
				qsort(pi.refs.v, pi.refs.n, sizeof(*pi.refs.v), cmp_str);
			if (w->format == ARCHIVE_YONDER)
				r = sign_item(&pi, key);
		}
		if (r == 0)
			r = archive_write_item(w, &pi, store_dirfd(s), storepath_base(pi.path));
		if (r == 0 && exported)
			r = db_list_push(exported, pi.path);
		path_info_release(&pi);
		if (r != 0) {
			err_prefix(r, "exporting '%s'", path);
			goto out;
		}
	}
out:
	free(order);
	db_list_release(&items);
	return r;
}

/* ==== reading ========================================================= */

/* A set of strings (the stream's paths), open addressing; the strings
 * are owned elsewhere. */
struct pset {
	const char **slot;
	size_t cap, n;
};

static size_t pset_hash(const char *s)
{
	size_t h = 14695981039346656037ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static bool pset_has(const struct pset *ps, const char *s)
{
	if (!ps->cap)
		return false;
	for (size_t i = pset_hash(s) & (ps->cap - 1);; i = (i + 1) & (ps->cap - 1)) {
		if (!ps->slot[i])
			return false;
		if (!strcmp(ps->slot[i], s))
			return true;
	}
}

static int pset_add(struct pset *ps, const char *s)
{
	if (2 * (ps->n + 1) > ps->cap) {
		size_t cap = ps->cap ? 2 * ps->cap : 64;
		const char **slot = calloc(cap, sizeof(*slot));

		if (!slot)
			return err_set(ERR_NOMEM, "out of memory");
		for (size_t i = 0; i < ps->cap; i++) {
			size_t j;

			if (!ps->slot[i])
				continue;
			for (j = pset_hash(ps->slot[i]) & (cap - 1); slot[j];
			     j = (j + 1) & (cap - 1))
				;
			slot[j] = ps->slot[i];
		}
		free(ps->slot);
		ps->slot = slot;
		ps->cap = cap;
	}
	size_t i = pset_hash(s) & (ps->cap - 1);

	while (ps->slot[i])
		i = (i + 1) & (ps->cap - 1);
	ps->slot[i] = s;
	ps->n++;
	return 0;
}

/* The input: the caller's reader, or a reader over its zstd frames. */
struct ain {
	struct reader *raw;
	struct reader z;
	ZSTD_DCtx *dctx;
	unsigned char pre[8]; /* the first 8 bytes, read to detect zstd */
	size_t pre_pos;
	bool frame_done; /* the last zstd frame is complete */
	struct reader *in;
	uint64_t first; /* the first u64 of a plain stream */
	bool have_first;
};

static int z_pull(void *ctx, void *dst, size_t n, size_t *got)
{
	struct ain *a = ctx;
	ZSTD_outBuffer out = {dst, n, 0};
	int r;

	for (;;) {
		ZSTD_inBuffer in = {NULL, 0, 0};
		bool at_end = false;
		uint64_t at = a->raw->offset;
		size_t ret;

		if (a->pre_pos < sizeof(a->pre)) {
			in.src = a->pre + a->pre_pos;
			in.size = sizeof(a->pre) - a->pre_pos;
			at = a->pre_pos;
		} else if ((r = reader_at_eof(a->raw)) < 0) {
			return r;
		} else if (r == 0) {
			in.src = a->raw->p;
			in.size = a->raw->avail;
		} else {
			at_end = true;
		}
		if (at_end && a->frame_done) {
			*got = 0;
			return 0;
		}
		ret = ZSTD_decompressStream(a->dctx, &out, &in);
		if (ZSTD_isError(ret))
			return err_set(ERR_FORMAT,
				       "%s: corrupt zstd data in compressed bytes %llu to %llu: %s",
				       a->raw->what, (unsigned long long)at,
				       (unsigned long long)(at + in.size), ZSTD_getErrorName(ret));
		if (a->pre_pos < sizeof(a->pre))
			a->pre_pos += in.pos;
		else if (in.pos && (r = reader_read(a->raw, NULL, in.pos)) != 0)
			return r;
		a->frame_done = ret == 0;
		if (out.pos) {
			*got = out.pos;
			return 0;
		}
		if (at_end)
			return err_set(
			    ERR_TRUNCATED,
			    "%s: the zstd data ends inside a frame, at compressed byte %llu",
			    a->raw->what, (unsigned long long)a->raw->offset);
	}
}

static void ain_release(struct ain *a)
{
	if (a->dctx) {
		ZSTD_freeDCtx(a->dctx);
		reader_release(&a->z);
	}
}

static int ain_open(struct ain *a, struct reader *raw)
{
	int r;

	memset(a, 0, sizeof(*a));
	a->raw = raw;
	a->in = raw;
	if ((r = reader_read(raw, a->pre, sizeof(a->pre))) != 0)
		return err_prefix(r, "not an archive (shorter than 8 bytes)");
	if (memcmp(a->pre, zstd_magic, sizeof(zstd_magic)) != 0) {
		a->pre_pos = sizeof(a->pre);
		a->first = 0;
		for (int i = 7; i >= 0; i--)
			a->first = (a->first << 8) | a->pre[i];
		a->have_first = true;
		return 0;
	}
	if (!(a->dctx = ZSTD_createDCtx()))
		return err_set(ERR_NOMEM, "out of memory");
	ZSTD_DCtx_setParameter(a->dctx, ZSTD_d_windowLogMax, ARCHIVE_ZSTD_WINDOW_LOG_MAX);
	if ((r = reader_init_pull(&a->z, z_pull, a, IN_BUF, "archive (decompressed)")) != 0) {
		ZSTD_freeDCtx(a->dctx);
		a->dctx = NULL;
		return r;
	}
	a->in = &a->z;
	return 0;
}

/* What is being read, for messages: "item 3" until its path is known,
 * then "item '/…'". */
struct rd {
	const char *store_dir;
	const struct archive_import_opts *o;
	struct ain a;
	struct store *s;
	struct store_stage *st;
	char ctx[ARCHIVE_MAX_PATH + 64];
	uint64_t item; /* 1-based */
	char str[ARCHIVE_MAX_PATH + 1];
};

/* Reads N bytes of the current item (or header): a truncation or read
 * error names it. */
static int rd_read(struct rd *d, void *dst, size_t n)
{
	int r = reader_read(d->a.in, dst, n);

	if (r == ERR_TRUNCATED)
		return err_prefix(r, "%s: truncated", d->ctx);
	return r ? err_prefix(r, "%s", d->ctx) : 0;
}

/* A u64 as it comes (the item tags, whose absence the caller explains). */
static int get_tag(struct rd *d, uint64_t *v)
{
	unsigned char le[8];
	int r;

	if (d->a.have_first) {
		d->a.have_first = false;
		*v = d->a.first;
		return 0;
	}
	if ((r = reader_read(d->a.in, le, 8)) != 0)
		return r;
	*v = 0;
	for (int i = 7; i >= 0; i--)
		*v = (*v << 8) | le[i];
	return 0;
}

static int get_u64(struct rd *d, uint64_t *v)
{
	unsigned char le[8];
	int r;

	if (d->a.have_first) {
		d->a.have_first = false;
		*v = d->a.first;
		return 0;
	}
	if ((r = rd_read(d, le, 8)) != 0)
		return r;
	*v = 0;
	for (int i = 7; i >= 0; i--)
		*v = (*v << 8) | le[i];
	return 0;
}

/* Reads a string of at most CAP bytes (no NUL) into d->str; WHAT names
 * the field. */
static int get_str(struct rd *d, size_t cap, const char *what, size_t *lenp)
{
	uint64_t len, at;
	unsigned char pad[8];
	int r;

	if ((r = get_u64(d, &len)) != 0)
		return r;
	at = d->a.in->offset;
	if (len > cap)
		return err_set(ERR_TOOBIG,
			       "%s: %s at byte %llu is %llu bytes long, over the cap of %zu",
			       d->ctx, what, (unsigned long long)at, (unsigned long long)len, cap);
	if ((r = rd_read(d, d->str, (size_t)len)) != 0)
		return r;
	d->str[len] = '\0';
	if (memchr(d->str, '\0', (size_t)len))
		return err_set(ERR_FORMAT, "%s: %s at byte %llu contains a NUL byte", d->ctx, what,
			       (unsigned long long)at);
	if (len % 8) {
		if ((r = rd_read(d, pad, 8 - len % 8)) != 0)
			return r;
		if (memcmp(pad, zeros, 8 - len % 8) != 0)
			return err_set(ERR_FORMAT, "%s: %s at byte %llu: non-zero padding", d->ctx,
				       what, (unsigned long long)at);
	}
	*lenp = (size_t)len;
	return 0;
}

/* A string field as a new string (NULL when empty and EMPTY_NULL). */
static int get_field(struct rd *d, size_t cap, const char *what, bool empty_null, char **out)
{
	size_t len;
	int r;

	*out = NULL;
	if ((r = get_str(d, cap, what, &len)) != 0)
		return r;
	if (len == 0 && empty_null)
		return 0;
	if (!(*out = strdup(d->str)))
		return err_set(ERR_NOMEM, "out of memory");
	return 0;
}

/* Fields are printable ASCII without spaces; the message does not echo a
 * field that is not (it could hold terminal escapes). */
static int check_text(struct rd *d, const char *s, const char *what)
{
	for (const char *c = s; c && *c; c++)
		if (*c < 0x21 || *c > 0x7e)
			return err_set(ERR_FORMAT,
				       "%s: %s has the byte 0x%02x at position %zu (only printable "
				       "ASCII without spaces is allowed)",
				       d->ctx, what, (unsigned char)*c, (size_t)(c - s) + 1);
	return 0;
}

static int get_path(struct rd *d, const char *what, char **out)
{
	int r;

	if ((r = get_field(d, ARCHIVE_MAX_PATH, what, false, out)) != 0)
		return r;
	if ((r = check_text(d, *out, what)) == 0 && (r = storepath_check(d->store_dir, *out)) != 0)
		err_prefix(r, "%s: %s", d->ctx, what);
	if (r != 0) {
		free(*out);
		*out = NULL;
	}
	return r;
}

static int check_deriver(struct rd *d, const char *drv)
{
	int r;

	if (!drv)
		return 0;
	if ((r = check_text(d, drv, "deriver")) != 0)
		return r;
	if ((r = storepath_check(d->store_dir, drv)) != 0)
		return err_prefix(r, "%s: deriver", d->ctx);
	return 0;
}

static int get_refs(struct rd *d, struct db_list *refs)
{
	uint64_t n;
	int r;

	if ((r = get_u64(d, &n)) != 0)
		return r;
	if (n > ARCHIVE_MAX_REFS)
		return err_set(ERR_TOOBIG, "%s: %llu references, over the cap of %d", d->ctx,
			       (unsigned long long)n, ARCHIVE_MAX_REFS);
	for (uint64_t i = 0; i < n; i++) {
		char *ref;

		if ((r = get_path(d, "reference", &ref)) != 0)
			return r;
		if (refs->n && strcmp(refs->v[refs->n - 1], ref) >= 0) {
			r = err_set(ERR_FORMAT, "%s: reference '%s' is %s", d->ctx, ref,
				    strcmp(refs->v[refs->n - 1], ref)
					? "out of order (references are sorted)"
					: "repeated");
			free(ref);
			return r;
		}
		if ((r = db_list_push_owned(refs, ref)) != 0)
			return r;
	}
	return 0;
}

/* The yonder metadata of an item, after its tag. */
static int get_meta(struct rd *d, struct path_info *pi)
{
	uint64_t n;
	int r;

	if ((r = get_path(d, "store path", &pi->path)) != 0)
		return r;
	snprintf(d->ctx, sizeof(d->ctx), "item '%s'", pi->path);
	if ((r = get_refs(d, &pi->refs)) != 0)
		return r;
	if ((r = get_field(d, ARCHIVE_MAX_PATH, "deriver", true, &pi->deriver)) != 0)
		return r;
	if ((r = check_deriver(d, pi->deriver)) != 0)
		return r;
	if ((r = get_field(d, ARCHIVE_MAX_CA, "content address", true, &pi->ca)) != 0 ||
	    (r = check_text(d, pi->ca, "content address")) != 0)
		return r;
	if ((r = rd_read(d, pi->nar_hash, SHA256_LEN)) != 0 ||
	    (r = get_u64(d, &pi->nar_size)) != 0 || (r = get_u64(d, &n)) != 0)
		return r;
	if (n > ARCHIVE_MAX_SIGS)
		return err_set(ERR_TOOBIG, "%s: %llu signatures, over the cap of %d", d->ctx,
			       (unsigned long long)n, ARCHIVE_MAX_SIGS);
	for (uint64_t i = 0; i < n; i++) {
		char *sig;

		if ((r = get_field(d, PKI_STR_MAX, "signature", false, &sig)) != 0)
			return r;
		if ((r = check_text(d, sig, "a signature")) != 0) {
			free(sig);
			return r;
		}
		if ((r = db_list_push_owned(&pi->sigs, sig)) != 0)
			return r;
	}
	if ((r = get_field(d, ARCHIVE_MAX_BUILT_BY, "built-by name", true, &pi->built_by)) != 0)
		return r;
	return check_text(d, pi->built_by, "built-by name");
}

/* The Nix metadata of an item, after its NAR. */
static int get_nix_meta(struct rd *d, struct path_info *pi)
{
	uint64_t v;
	int r;

	if ((r = get_u64(d, &v)) != 0)
		return r;
	if (v != NIX_EXPORT_MAGIC)
		return err_set(ERR_FORMAT,
			       "%s: expected the marker \"NIXE\" after the NAR, at byte %llu",
			       d->ctx, (unsigned long long)d->a.in->offset - 8);
	if ((r = get_path(d, "store path", &pi->path)) != 0)
		return r;
	snprintf(d->ctx, sizeof(d->ctx), "item '%s'", pi->path);
	if ((r = get_refs(d, &pi->refs)) != 0 ||
	    (r = get_field(d, ARCHIVE_MAX_PATH, "deriver", true, &pi->deriver)) != 0)
		return r;
	if ((r = check_deriver(d, pi->deriver)) != 0)
		return r;
	if ((r = get_u64(d, &v)) != 0)
		return r;
	if (v != 0)
		return err_set(ERR_FORMAT,
			       "%s: a signed Nix export (signature flag %llu) is not "
			       "supported",
			       d->ctx, (unsigned long long)v);
	return 0;
}

/* The NAR of a yonder item is read through a reader that stops at its
 * declared size and hashes what it passes on. */
struct narsrc {
	struct reader *in;
	uint64_t left;
	struct sink *hash; /* a store_hasher: hashes on a second thread */
	bool hit_limit;    /* the parser wanted more than the declared size */
	bool in_ended;     /* the stream itself ended */
};

static int nar_pull(void *ctx, void *dst, size_t n, size_t *got)
{
	struct narsrc *ns = ctx;
	int r;

	*got = 0;
	if (ns->left == 0) {
		ns->hit_limit = true;
		return 0;
	}
	if ((r = reader_at_eof(ns->in)) != 0) {
		if (r > 0)
			ns->in_ended = true;
		return r < 0 ? r : 0;
	}
	if (n > ns->in->avail)
		n = ns->in->avail;
	if (n > ns->left)
		n = (size_t)ns->left;
	if ((r = reader_read(ns->in, dst, n)) != 0 || (r = sink_write(ns->hash, dst, n)) != 0)
		return r;
	ns->left -= n;
	*got = n;
	return 0;
}

/* Reads a yonder item's NAR into V (NULL: only checks it). */
static int read_nar(struct rd *d, const struct path_info *pi, const struct nar_visitor *v)
{
	struct narsrc ns = {d->a.in, pi->nar_size, NULL, false, false};
	struct store_hasher *hasher = NULL;
	struct hash_sink hs;
	struct reader nr;
	uint8_t got[SHA256_LEN];
	uint64_t start = d->a.in->offset, size;
	int r;

	/* Big NARs are hashed on a second thread, small ones right here
	 * (a thread and its buffers would cost more than they save). */
	if (pi->nar_size >= BIG_NAR)
		r = store_hasher_new(&hasher, &ns.hash);
	else if ((r = hash_sink_init(&hs)) == 0)
		ns.hash = &hs.sink;
	if (r != 0)
		return r;
	if ((r = reader_init_pull(&nr, nar_pull, &ns, IN_BUF, "the NAR")) != 0)
		goto out;
	r = nar_parse(&nr, v);
	if (r == ERR_TRUNCATED && ns.hit_limit)
		r = err_set(ERR_FORMAT,
			    "%s: the NAR is longer than its declared size of %llu bytes", d->ctx,
			    (unsigned long long)pi->nar_size);
	else if (r == ERR_TRUNCATED && ns.in_ended)
		r = err_set(
		    ERR_TRUNCATED,
		    "%s: truncated: the stream ends inside the NAR, at byte %llu of its %llu "
		    "(stream byte %llu)",
		    d->ctx, (unsigned long long)nr.offset, (unsigned long long)pi->nar_size,
		    (unsigned long long)d->a.in->offset);
	else if (r != 0)
		err_prefix(r, "%s", d->ctx);
	else if (nr.offset != pi->nar_size)
		r = err_set(ERR_FORMAT,
			    "%s: the NAR is shorter than its declared size: it ends after %llu of "
			    "%llu bytes",
			    d->ctx, (unsigned long long)nr.offset,
			    (unsigned long long)pi->nar_size);
	reader_release(&nr);
out:
	if (r == 0 && hasher)
		store_hasher_finish(hasher, got, &size);
	else if (r == 0)
		hash_sink_finish(&hs, got);
	else if (!hasher)
		hash_sink_release(&hs);
	store_hasher_free(hasher);
	if (r != 0)
		return r;
	if (memcmp(got, pi->nar_hash, SHA256_LEN) != 0) {
		char want[SHA256_NIX32_LEN + 1], have[SHA256_NIX32_LEN + 1];

		hash_to_nix32(pi->nar_hash, SHA256_LEN, want);
		hash_to_nix32(got, SHA256_LEN, have);
		return err_set(ERR_MISMATCH,
			       "%s: NAR hash mismatch: declared sha256:%s, got sha256:%s (stream "
			       "bytes %llu to %llu)",
			       d->ctx, want, have, (unsigned long long)start,
			       (unsigned long long)d->a.in->offset);
	}
	return 0;
}

/* Reads a Nix item's NAR into V, computing its hash and size. */
static int read_nix_nar(struct rd *d, struct path_info *pi, const struct nar_visitor *v)
{
	struct sha256 sha;
	uint64_t start = d->a.in->offset;
	int r;

	if ((r = sha256_init(&sha)) != 0)
		return r;
	d->a.in->hash = &sha;
	r = nar_parse(d->a.in, v);
	d->a.in->hash = NULL;
	if (r != 0) {
		sha256_release(&sha);
		return err_prefix(r, "%s", d->ctx);
	}
	sha256_final(&sha, pi->nar_hash);
	pi->nar_size = d->a.in->offset - start;
	return 0;
}

/* Checks the signatures of a yonder item and keeps those worth recording:
 * valid ones and those by keys the ACL does not know; drops malformed
 * ones and those refuted by the ACL's key of their name. */
static int check_sigs(struct rd *d, struct path_info *pi)
{
	struct buf fp = BUF_INIT(PKI_FINGERPRINT_MAX);
	struct db_list keep = DB_LIST_INIT;
	size_t which;
	int r;

	if ((r = pki_fingerprint(&fp, pi->path, pi->nar_hash, pi->nar_size,
				 (const char *const *)pi->refs.v, pi->refs.n)) != 0)
		goto out;
	r = acl_verify(d->o->acl, fp.data, fp.len, (const char *const *)pi->sigs.v, pi->sigs.n,
		       &which);
	if (r != 0) {
		if (d->o->acl->n == 0)
			err_prefix(r,
				   "%s: not signed by a key in the ACL (the ACL%s%s holds no key)",
				   d->ctx, d->o->acl_file ? " " : "",
				   d->o->acl_file ? d->o->acl_file : "");
		else
			err_prefix(r, "%s", d->ctx);
		goto out;
	}
	for (size_t i = 0; i < pi->sigs.n; i++) {
		int c = acl_check_sig(d->o->acl, fp.data, fp.len, pi->sigs.v[i]);

		if ((c == 0 || c == ERR_NOTFOUND) && (r = db_list_push(&keep, pi->sigs.v[i])) != 0)
			goto out;
	}
	err_clear();
	db_list_release(&pi->sigs);
	pi->sigs = keep;
	keep = (struct db_list)DB_LIST_INIT;
out:
	db_list_release(&keep);
	buf_release(&fp);
	return r;
}

/* Checks what an item needs before its NAR is accepted: it is not in the
 * stream twice, and its references are valid, itself, or earlier. */
static int check_item(struct rd *d, const struct path_info *pi, const struct pset *seen)
{
	int r;

	if (pset_has(seen, pi->path))
		return err_set(ERR_FORMAT, "%s: the item appears twice in the stream", d->ctx);
	for (size_t i = 0; i < pi->refs.n; i++) {
		const char *ref = pi->refs.v[i];

		if (!strcmp(ref, pi->path) || pset_has(seen, ref))
			continue;
		if (d->s && (r = db_is_valid(store_db(d->s), ref)) != 0) {
			if (r < 0)
				return r;
			continue;
		}
		return err_set(
		    ERR_NOTFOUND,
		    "%s: reference '%s' is neither valid here nor an earlier item of the "
		    "stream",
		    d->ctx, ref);
	}
	return 0;
}

/* Where an item's NAR goes: a new temporary, or nowhere. */
struct dest {
	struct store_restorer *rs;
	bool used; /* a temporary was reserved */
};

static int dest_open(struct rd *d, struct dest *dst, const struct nar_visitor **v)
{
	const char *tmp;
	int r;

	*v = NULL;
	if (!d->s)
		return 0;
	if ((r = store_stage_tmp(d->st, &tmp)) != 0)
		return r;
	dst->used = true;
	return store_restorer_new(d->s, tmp, &dst->rs, v);
}

static void dest_close(struct dest *dst)
{
	store_restorer_free(dst->rs);
	dst->rs = NULL;
}

/* Reads one item (after its tag) and checks it; *STAGED tells whether it
 * was written to a temporary (and so must be committed). */
static int read_item(struct rd *d, struct path_info *pi, const struct pset *seen, bool *staged)
{
	struct dest *dst = NULL;
	const struct nar_visitor *v = NULL;
	int r, valid = 0;

	*staged = false;
	if (d->s && !(dst = calloc(1, sizeof(*dst))))
		return err_set(ERR_NOMEM, "out of memory");
	if (d->o->format == ARCHIVE_YONDER) {
		if ((r = get_meta(d, pi)) != 0 ||
		    (!d->o->trusted && (r = check_sigs(d, pi)) != 0) ||
		    (r = check_item(d, pi, seen)) != 0)
			goto out;
		if (d->s && (valid = db_is_valid(store_db(d->s), pi->path)) < 0) {
			r = valid;
			goto out;
		}
		if (!valid && (r = dest_open(d, dst, &v)) != 0)
			goto out;
		if ((r = read_nar(d, pi, v)) != 0)
			goto out;
	} else {
		if ((r = dest_open(d, dst, &v)) != 0 || (r = read_nix_nar(d, pi, v)) != 0 ||
		    (r = get_nix_meta(d, pi)) != 0 || (r = check_item(d, pi, seen)) != 0)
			goto out;
	}
	*staged = dst && dst->used;
out:
	if (dst) {
		dest_close(dst);
		free(dst);
	}
	return r;
}

static int import(struct store *s, const char *store_dir, struct reader *raw,
		  const struct archive_import_opts *o, struct db_list *paths)
{
	struct rd *d = calloc(1, sizeof(*d));
	struct path_info *infos = NULL;
	size_t ninfos = 0, capinfos = 0, first_path = paths->n;
	struct pset seen = {NULL, 0, 0};
	uint64_t v;
	int r;

	if (!d)
		return err_set(ERR_NOMEM, "out of memory");
	d->store_dir = store_dir;
	d->o = o;
	d->s = s;
	snprintf(d->ctx, sizeof(d->ctx), "archive header");
	if (!o->trusted && !o->acl) {
		r = err_set(ERR_INVALID, "importing an archive needs an ACL");
		goto out;
	}
	if (o->format == ARCHIVE_NIX && !o->trusted) {
		r = err_set(ERR_INVALID,
			    "the Nix export format carries no signatures: importing it "
			    "needs --trusted");
		goto out;
	}
	if (o->format == ARCHIVE_YONDER && o->trusted) {
		r = err_set(ERR_INVALID, "a yonder archive is always checked against the ACL "
					 "(--trusted goes with --format=nix only)");
		goto out;
	}
	if ((r = ain_open(&d->a, raw)) != 0)
		goto out;
	if (s && (r = store_stage_new(s, &d->st)) != 0)
		goto out;
	if (o->format == ARCHIVE_YONDER) {
		size_t len;

		if ((r = get_str(d, 64, "magic", &len)) != 0)
			goto header;
		if (strcmp(d->str, ARCHIVE_MAGIC) != 0) {
			r = err_set(ERR_FORMAT,
				    "not a yonder archive (no \"%s\" header; a Nix export "
				    "needs --format=nix)",
				    ARCHIVE_MAGIC);
			goto out;
		}
		if ((r = get_u64(d, &v)) != 0)
			goto header;
		if (v != ARCHIVE_VERSION) {
			r = err_set(ERR_FORMAT,
				    "archive format version %llu is not supported (this "
				    "yonder reads version %d)",
				    (unsigned long long)v, ARCHIVE_VERSION);
			goto out;
		}
	}
	for (;;) {
		struct path_info pi = PATH_INFO_INIT;
		bool staged;

		d->item++;
		snprintf(d->ctx, sizeof(d->ctx), "item %llu", (unsigned long long)d->item);
		if ((r = get_tag(d, &v)) != 0) {
			if (r == ERR_TRUNCATED)
				err_prefix(r,
					   "truncated: the stream ends after %llu item%s, without "
					   "the end marker",
					   (unsigned long long)d->item - 1,
					   d->item == 2 ? "" : "s");
			goto out;
		}
		if (v == 0)
			break;
		if (v != 1) {
			r = err_set(ERR_FORMAT,
				    "%s: expected 1 (an item) or 0 (the end), got %llu at "
				    "byte %llu",
				    d->ctx, (unsigned long long)v,
				    (unsigned long long)d->a.in->offset - 8);
			goto out;
		}
		if (d->item > ARCHIVE_MAX_ITEMS) {
			r = err_set(ERR_TOOBIG, "more than %d items in one stream",
				    ARCHIVE_MAX_ITEMS);
			goto out;
		}
		r = read_item(d, &pi, &seen, &staged);
		if (r == 0)
			r = db_list_push(paths, pi.path);
		if (r == 0)
			r = pset_add(&seen, paths->v[paths->n - 1]);
		if (r == 0 && staged && ninfos == capinfos) {
			size_t cap = capinfos ? 2 * capinfos : 16;
			struct path_info *ni = realloc(infos, cap * sizeof(*ni));

			if (!ni)
				r = err_set(ERR_NOMEM, "out of memory");
			else
				infos = ni, capinfos = cap;
		}
		if (r != 0 || !staged) {
			path_info_release(&pi);
			if (r != 0)
				goto out;
			continue;
		}
		infos[ninfos++] = pi;
	}
	if ((r = reader_at_eof(d->a.in)) < 0)
		goto out;
	if (r == 0) {
		r = err_set(ERR_FORMAT, "trailing bytes after the end marker, at byte %llu",
			    (unsigned long long)d->a.in->offset);
		goto out;
	}
	r = s ? store_stage_commit(d->st, infos, ninfos) : 0;
	goto out;
header:
	if (r == ERR_TRUNCATED)
		err_prefix(r, "not a yonder archive (truncated header)");
out:
	if (r != 0) {
		for (size_t i = first_path; i < paths->n; i++)
			free(paths->v[i]);
		paths->n = first_path;
	}
	store_stage_free(d->st);
	for (size_t i = 0; i < ninfos; i++)
		path_info_release(&infos[i]);
	free(infos);
	free(seen.slot);
	ain_release(&d->a);
	free(d);
	return r;
}

int archive_import(struct store *s, struct reader *in, const struct archive_import_opts *o,
		   struct db_list *paths)
{
	return import(s, store_dir(s), in, o, paths);
}

int archive_check(const char *store_dir, struct reader *in, const struct archive_import_opts *o,
		  struct db_list *paths)
{
	return import(NULL, store_dir, in, o, paths);
}
