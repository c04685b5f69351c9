#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "err.h"
#include "hash.h"

/* Decoder states; a negative state is the sticky error code. */
enum {
	PD_HEADER = 0, /* collecting the 12 header bytes */
	PD_PAYLOAD,    /* header checked, collecting the payload */
	PD_READY,      /* a whole frame waits to be taken */
	PD_TAKEN,      /* handed out; dropped at the next call */
};

/* A decoder keeps a big buffer only while it holds a big frame: an idle
 * connection should not pin a megabyte. */
#define PD_KEEP 65536

static const struct {
	unsigned op;
	const char *name;
} ops[] = {
    {PROTO_HELLO, "hello"},
    {PROTO_WELCOME, "welcome"},
    {PROTO_ERROR, "error"},
    {PROTO_OK, "ok"},
    {PROTO_DATA, "data"},
    {PROTO_CANCEL, "cancel"},
    {PROTO_BUILD, "build"},
    {PROTO_ADD_NAR, "add-nar"},
    {PROTO_QUERY_PATH_INFO, "query-path-info"},
    {PROTO_FOLLOW_LOG, "follow-log"},
    {PROTO_STATUS, "status"},
    {PROTO_DELETE, "delete"},
    {PROTO_GC, "gc"},
    {PROTO_ADD_SIGS, "add-sigs"},
    {PROTO_IMPORT, "import-archive"},
    {PROTO_EV_BUILD_STARTED, "build-started"},
    {PROTO_EV_BUILD_FINISHED, "build-finished"},
    {PROTO_EV_LOG_LINE, "log-line"},
    {PROTO_EV_PROGRESS, "progress"},
    {PROTO_EV_BUILD_KEPT, "build-kept"},
};

const char *proto_op_name(unsigned op)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (ops[i].op == op)
			return ops[i].name;
	return proto_remote_op_name(op);
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n; i-- > 0;)
		v = (v << 8) | p[i];
	return v;
}

/* ---- Writing */

int proto_frame_begin(struct buf *b, unsigned op, unsigned flags, uint32_t id, size_t *start)
{
	unsigned char h[PROTO_HDR_LEN];

	if (!proto_op_name(op))
		return err_set(ERR_INVALID, "unknown operation 0x%04x", op);
	if (flags & ~PROTO_F_KNOWN)
		return err_set(ERR_INVALID, "unknown flags 0x%04x", flags);
	put_le(h, 0, 4);
	put_le(h + 4, op, 2);
	put_le(h + 6, flags, 2);
	put_le(h + 8, id, 4);
	*start = b->len;
	return buf_put(b, h, sizeof(h));
}

/* Drops the frame begun at START (after a failed put). */
static void frame_abort(struct buf *b, size_t start)
{
	if (b->data && start <= b->len) {
		b->len = start;
		b->data[start] = '\0';
	}
}

int proto_frame_end(struct buf *b, size_t start)
{
	size_t n;

	if (!b->data || start > b->len || b->len - start < PROTO_HDR_LEN)
		return err_set(ERR_INTERNAL, "proto_frame_end: no frame begun at %zu", start);
	n = b->len - start - PROTO_HDR_LEN;
	if (n > PROTO_FRAME_MAX) {
		unsigned op = (unsigned)get_le((unsigned char *)b->data + start + 4, 2);

		frame_abort(b, start);
		return err_set(ERR_TOOBIG, "%s frame of %zu bytes exceeds the limit of %u",
			       proto_op_name(op), n, PROTO_FRAME_MAX);
	}
	put_le((unsigned char *)b->data + start, n, 4);
	return 0;
}

int proto_put_frame(struct buf *b, unsigned op, unsigned flags, uint32_t id, const void *p,
		    size_t n)
{
	size_t start;
	int r;

	if ((r = proto_frame_begin(b, op, flags, id, &start)) != 0)
		return r;
	if ((r = buf_put(b, p, n)) != 0 || (r = proto_frame_end(b, start)) != 0)
		frame_abort(b, start);
	return r;
}

int proto_put_u64(struct buf *b, uint64_t v)
{
	return buf_put_u64le(b, v);
}

int proto_put_bytes(struct buf *b, const void *p, size_t n)
{
	unsigned char le[4];
	int r;

	if (n > PROTO_FRAME_MAX)
		return err_set(ERR_TOOBIG, "string of %zu bytes exceeds the limit of %u", n,
			       PROTO_FRAME_MAX);
	put_le(le, n, 4);
	if ((r = buf_grow(b, 4 + n)) != 0)
		return r;
	buf_put(b, le, 4);
	return buf_put(b, p, n);
}

int proto_put_str(struct buf *b, const char *s)
{
	return proto_put_bytes(b, s, strlen(s));
}

int proto_put_strv(struct buf *b, const char *const *v, size_t n)
{
	unsigned char le[4];
	int r;

	if (n > PROTO_LIST_MAX)
		return err_set(ERR_TOOBIG, "list of %zu strings exceeds the limit of %u", n,
			       PROTO_LIST_MAX);
	put_le(le, n, 4);
	if ((r = buf_put(b, le, 4)) != 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if ((r = proto_put_str(b, v[i])) != 0)
			return r;
	return 0;
}

/* ---- The decoder */

void proto_decoder_init(struct proto_decoder *d, const char *what, uint32_t max)
{
	d->what = what ? what : "stream";
	d->max = max ? max : PROTO_FRAME_MAX;
	buf_init(&d->buf, PROTO_HDR_LEN + (size_t)d->max);
	d->need = PROTO_HDR_LEN;
	d->offset = 0;
	d->state = PD_HEADER;
}

void proto_decoder_release(struct proto_decoder *d)
{
	buf_release(&d->buf);
	d->need = PROTO_HDR_LEN;
	d->state = PD_HEADER;
}

/* After an error nothing in the stream can be trusted: there is no way to
 * find the next frame boundary. */
static int sticky(const struct proto_decoder *d)
{
	return err_set(d->state, "%s: byte %llu: the stream is unusable after an earlier error",
		       d->what, (unsigned long long)d->offset);
}

static int fail(struct proto_decoder *d, int code)
{
	d->state = code;
	return code;
}

/* Forgets a frame that was taken. */
static void drop_taken(struct proto_decoder *d)
{
	if (d->state != PD_TAKEN)
		return;
	d->offset += d->need;
	if (d->buf.cap > PD_KEEP)
		buf_release(&d->buf);
	else
		buf_reset(&d->buf);
	d->need = PROTO_HDR_LEN;
	d->state = PD_HEADER;
}

/* Moves on once the bytes of the current part are all in: checks a
 * complete header (before anything is allocated for its payload). */
static int settle(struct proto_decoder *d)
{
	const unsigned char *h = (const unsigned char *)d->buf.data;
	unsigned op, flags;
	uint32_t len;
	int r;

	if (d->buf.len < d->need)
		return 0;
	if (d->state == PD_PAYLOAD) {
		d->state = PD_READY;
		return 0;
	}
	len = (uint32_t)get_le(h, 4);
	op = (unsigned)get_le(h + 4, 2);
	flags = (unsigned)get_le(h + 6, 2);
	if (len > d->max)
		return fail(d, err_set(ERR_TOOBIG,
				       "%s: byte %llu: frame of %lu bytes exceeds the limit of %lu",
				       d->what, (unsigned long long)d->offset, (unsigned long)len,
				       (unsigned long)d->max));
	if (!proto_op_name(op))
		return fail(d, err_set(ERR_FORMAT, "%s: byte %llu: unknown operation 0x%04x",
				       d->what, (unsigned long long)d->offset, op));
	if (flags & ~PROTO_F_KNOWN)
		return fail(d, err_set(ERR_FORMAT,
				       "%s: byte %llu: unknown flags 0x%04x in a %s frame", d->what,
				       (unsigned long long)d->offset, flags, proto_op_name(op)));
	d->need = PROTO_HDR_LEN + (size_t)len;
	if (len == 0) {
		d->state = PD_READY;
		return 0;
	}
	if ((r = buf_grow(&d->buf, len)) != 0)
		return fail(d,
			    err_prefix(r, "%s: byte %llu", d->what, (unsigned long long)d->offset));
	d->state = PD_PAYLOAD;
	return 0;
}

int proto_decoder_feed(struct proto_decoder *d, const void *p, size_t n, size_t *used)
{
	const unsigned char *in = p;
	int r;

	*used = 0;
	if (d->state < 0)
		return sticky(d);
	drop_taken(d);
	while (n > 0 && d->state != PD_READY) {
		size_t take = d->need - d->buf.len;

		if (take > n)
			take = n;
		/* Never past the cap: the buffer was grown for this frame. */
		if ((r = buf_put(&d->buf, in, take)) != 0)
			return fail(d, r);
		in += take;
		n -= take;
		*used += take;
		if ((r = settle(d)) != 0)
			return r;
	}
	return 0;
}

int proto_decoder_next(struct proto_decoder *d, struct proto_frame *f)
{
	const unsigned char *h;

	if (d->state < 0)
		return sticky(d);
	drop_taken(d);
	if (d->state != PD_READY)
		return 0;
	h = (const unsigned char *)d->buf.data;
	f->len = (uint32_t)get_le(h, 4);
	f->op = (unsigned)get_le(h + 4, 2);
	f->flags = (unsigned)get_le(h + 6, 2);
	f->id = (uint32_t)get_le(h + 8, 4);
	f->payload = h + PROTO_HDR_LEN;
	f->offset = d->offset;
	d->state = PD_TAKEN;
	return 1;
}

size_t proto_decoder_want(const struct proto_decoder *d)
{
	switch (d->state) {
	case PD_HEADER:
	case PD_PAYLOAD: return d->need - d->buf.len;
	case PD_TAKEN: return PROTO_HDR_LEN;
	default: return 0;
	}
}

int proto_decoder_finish(struct proto_decoder *d)
{
	const unsigned char *h = (const unsigned char *)d->buf.data;

	if (d->state < 0)
		return sticky(d);
	if (d->state == PD_HEADER && d->buf.len > 0)
		return fail(d, err_set(ERR_TRUNCATED,
				       "%s: byte %llu: truncated frame: %zu of %d header bytes",
				       d->what, (unsigned long long)d->offset, d->buf.len,
				       PROTO_HDR_LEN));
	if (d->state == PD_PAYLOAD)
		return fail(
		    d, err_set(ERR_TRUNCATED,
			       "%s: byte %llu: truncated frame: %s frame of %zu bytes, got %zu",
			       d->what, (unsigned long long)d->offset,
			       proto_op_name((unsigned)get_le(h + 4, 2)), d->need - PROTO_HDR_LEN,
			       d->buf.len - PROTO_HDR_LEN));
	return 0;
}

int proto_recv(int fd, struct proto_decoder *d, struct proto_frame *f)
{
	for (;;) {
		size_t want;
		ssize_t got;
		int r;

		if ((r = proto_decoder_next(d, f)) != 0)
			return r;
		want = proto_decoder_want(d);
		if ((r = buf_grow(&d->buf, want)) != 0)
			return fail(d, r);
		got = read(fd, d->buf.data + d->buf.len, want);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return err_sys(ERR_IO, "%s: read", d->what);
		if (got == 0)
			return proto_decoder_finish(d);
		d->buf.len += (size_t)got;
		d->buf.data[d->buf.len] = '\0';
		if ((r = settle(d)) != 0)
			return r;
	}
}

/* ---- Reading payloads */

void proto_in_init_mem(struct proto_in *in, const void *p, size_t len)
{
	in->p = p;
	in->len = len;
	in->off = 0;
}

void proto_in_init(struct proto_in *in, const struct proto_frame *f)
{
	proto_in_init_mem(in, f->payload, f->len);
}

static size_t left(const struct proto_in *in)
{
	return in->len - in->off;
}

int proto_get_u64(struct proto_in *in, uint64_t *v)
{
	if (left(in) < 8)
		return err_set(ERR_FORMAT,
			       "truncated integer at payload byte %zu: 8 bytes needed, %zu left",
			       in->off, left(in));
	*v = get_le(in->p + in->off, 8);
	in->off += 8;
	return 0;
}

/* A u32 count or length; AT is set to where it starts. */
static int get_u32(struct proto_in *in, uint32_t *v, size_t *at, const char *what)
{
	*at = in->off;
	if (left(in) < 4)
		return err_set(ERR_FORMAT,
			       "truncated %s at payload byte %zu: 4 bytes needed, %zu left", what,
			       in->off, left(in));
	*v = (uint32_t)get_le(in->p + in->off, 4);
	in->off += 4;
	return 0;
}

int proto_get_bytes(struct proto_in *in, const void **p, size_t *n, size_t max)
{
	uint32_t len;
	size_t at;
	int r;

	if ((r = get_u32(in, &len, &at, "string length")) != 0)
		return r;
	if (len > max) {
		in->off = at;
		return err_set(ERR_TOOBIG,
			       "string of %lu bytes at payload byte %zu exceeds the limit of %zu",
			       (unsigned long)len, at, max);
	}
	if (len > left(in)) {
		size_t rest = left(in);

		in->off = at;
		return err_set(
		    ERR_FORMAT,
		    "bad string length at payload byte %zu: %lu bytes declared, %zu left", at,
		    (unsigned long)len, rest);
	}
	*p = in->p + in->off;
	*n = len;
	in->off += len;
	return 0;
}

int proto_get_str(struct proto_in *in, char **s, size_t max)
{
	const void *p;
	size_t n, at = in->off;
	int r;

	if ((r = proto_get_bytes(in, &p, &n, max)) != 0)
		return r;
	if (memchr(p, '\0', n)) {
		in->off = at;
		return err_set(ERR_FORMAT, "string at payload byte %zu contains a NUL byte", at);
	}
	if (!(*s = malloc(n + 1)))
		return err_set(ERR_NOMEM, "out of memory (%zu bytes)", n + 1);
	memcpy(*s, p, n);
	(*s)[n] = '\0';
	return 0;
}

void proto_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int proto_get_strv(struct proto_in *in, char ***v, size_t *n, size_t max_count, size_t max_len)
{
	uint32_t count;
	size_t at, i;
	char **strs;
	int r;

	*v = NULL;
	*n = 0;
	if ((r = get_u32(in, &count, &at, "list length")) != 0)
		return r;
	if (count > max_count) {
		in->off = at;
		return err_set(ERR_TOOBIG,
			       "list of %lu strings at payload byte %zu exceeds the limit of %zu",
			       (unsigned long)count, at, max_count);
	}
	/* Each string takes at least its 4-byte length. */
	if (count > left(in) / 4) {
		size_t rest = left(in);

		in->off = at;
		return err_set(
		    ERR_FORMAT,
		    "bad list length at payload byte %zu: %lu strings declared, %zu bytes left", at,
		    (unsigned long)count, rest);
	}
	if (!(strs = calloc((size_t)count + 1, sizeof(*strs))))
		return err_set(ERR_NOMEM, "out of memory (a list of %lu strings)",
			       (unsigned long)count);
	for (i = 0; i < count; i++) {
		if ((r = proto_get_str(in, &strs[i], max_len)) != 0) {
			proto_strv_free(strs, i);
			in->off = at;
			return r;
		}
	}
	*v = strs;
	*n = count;
	return 0;
}

int proto_get_end(const struct proto_in *in)
{
	if (left(in))
		return err_set(ERR_FORMAT, "%zu trailing bytes at payload byte %zu", left(in),
			       in->off);
	return 0;
}

/* ---- The handshake */

int proto_negotiate(uint64_t peer, uint64_t *agreed)
{
	if (peer < PROTO_VERSION_MIN)
		return err_set(ERR_INVALID,
			       "protocol version %llu is not supported (this side speaks %d to %d)",
			       (unsigned long long)peer, PROTO_VERSION_MIN, PROTO_VERSION);
	*agreed = peer < PROTO_VERSION ? peer : PROTO_VERSION;
	return 0;
}

/* Checks the op and id of a handshake frame and its magic. */
static int begin_get(struct proto_in *in, const struct proto_frame *f, unsigned op)
{
	uint64_t magic;
	int r;

	if (f->op != op) {
		const char *name = proto_op_name(f->op);

		return err_set(ERR_FORMAT, "expected a %s frame, got %s%s(0x%04x)",
			       proto_op_name(op), name ? name : "", name ? " " : "", f->op);
	}
	if (f->id != 0)
		return err_set(ERR_FORMAT, "expected request id 0, got %lu", (unsigned long)f->id);
	proto_in_init(in, f);
	if ((r = proto_get_u64(in, &magic)) != 0)
		return r;
	if (magic != PROTO_MAGIC)
		return err_set(ERR_FORMAT,
			       "bad magic 0x%016llx at payload byte 0 (expected 0x%016llx)",
			       (unsigned long long)magic, (unsigned long long)PROTO_MAGIC);
	return 0;
}

#define FEATURES_MAX 1024

int proto_hello_put(struct buf *b, const struct proto_hello *h)
{
	size_t start;
	int r;

	if ((r = proto_frame_begin(b, PROTO_HELLO, 0, 0, &start)) != 0)
		return r;
	if ((r = proto_put_u64(b, PROTO_MAGIC)) != 0 || (r = proto_put_u64(b, h->version)) != 0 ||
	    (r = proto_put_str(b, h->name ? h->name : "")) != 0 ||
	    (r = proto_put_strv(b, (const char *const *)h->features, h->nfeatures)) != 0 ||
	    (r = proto_frame_end(b, start)) != 0) {
		frame_abort(b, start);
		return err_prefix(r, "hello");
	}
	return 0;
}

void proto_hello_release(struct proto_hello *h)
{
	free(h->name);
	proto_strv_free(h->features, h->nfeatures);
	memset(h, 0, sizeof(*h));
}

int proto_hello_get(struct proto_hello *h, const struct proto_frame *f)
{
	struct proto_in in;
	int r;

	memset(h, 0, sizeof(*h));
	if ((r = begin_get(&in, f, PROTO_HELLO)) != 0 ||
	    (r = proto_get_u64(&in, &h->version)) != 0 ||
	    (r = proto_get_str(&in, &h->name, PROTO_NAME_MAX)) != 0 ||
	    (r = proto_get_strv(&in, &h->features, &h->nfeatures, FEATURES_MAX, PROTO_NAME_MAX)) !=
		0 ||
	    (r = proto_get_end(&in)) != 0) {
		proto_hello_release(h);
		return err_prefix(r, "hello");
	}
	return 0;
}

int proto_welcome_put(struct buf *b, const struct proto_welcome *w)
{
	size_t start;
	int r;

	if ((r = proto_frame_begin(b, PROTO_WELCOME, 0, 0, &start)) != 0)
		return r;
	if ((r = proto_put_u64(b, PROTO_MAGIC)) != 0 || (r = proto_put_u64(b, w->version)) != 0 ||
	    (r = proto_put_str(b, w->name ? w->name : "")) != 0 ||
	    (r = proto_put_str(b, w->host ? w->host : "")) != 0 ||
	    (r = proto_put_str(b, w->store_dir ? w->store_dir : "")) != 0 ||
	    (r = proto_put_strv(b, (const char *const *)w->systems, w->nsystems)) != 0 ||
	    (r = proto_put_strv(b, (const char *const *)w->features, w->nfeatures)) != 0 ||
	    (r = proto_put_u64(b, w->cores)) != 0 || (r = proto_put_u64(b, w->load_milli)) != 0 ||
	    (r = proto_put_u64(b, w->free_bytes)) != 0 || (r = proto_frame_end(b, start)) != 0) {
		frame_abort(b, start);
		return err_prefix(r, "welcome");
	}
	return 0;
}

void proto_welcome_release(struct proto_welcome *w)
{
	free(w->name);
	free(w->host);
	free(w->store_dir);
	proto_strv_free(w->systems, w->nsystems);
	proto_strv_free(w->features, w->nfeatures);
	memset(w, 0, sizeof(*w));
}

int proto_welcome_get(struct proto_welcome *w, const struct proto_frame *f)
{
	struct proto_in in;
	int r;

	memset(w, 0, sizeof(*w));
	if ((r = begin_get(&in, f, PROTO_WELCOME)) != 0 ||
	    (r = proto_get_u64(&in, &w->version)) != 0 ||
	    (r = proto_get_str(&in, &w->name, PROTO_NAME_MAX)) != 0 ||
	    (r = proto_get_str(&in, &w->host, PROTO_NAME_MAX)) != 0 ||
	    (r = proto_get_str(&in, &w->store_dir, PROTO_PATH_MAX)) != 0 ||
	    (r = proto_get_strv(&in, &w->systems, &w->nsystems, FEATURES_MAX, PROTO_NAME_MAX)) !=
		0 ||
	    (r = proto_get_strv(&in, &w->features, &w->nfeatures, FEATURES_MAX, PROTO_NAME_MAX)) !=
		0 ||
	    (r = proto_get_u64(&in, &w->cores)) != 0 ||
	    (r = proto_get_u64(&in, &w->load_milli)) != 0 ||
	    (r = proto_get_u64(&in, &w->free_bytes)) != 0 || (r = proto_get_end(&in)) != 0) {
		proto_welcome_release(w);
		return err_prefix(r, "welcome");
	}
	return 0;
}

int proto_error_put(struct buf *b, uint32_t id, int code, const char *msg)
{
	size_t start, n = strlen(msg);
	int r;

	/* An error must always be sendable: a long message is cut. */
	if (n > PROTO_MSG_MAX)
		n = PROTO_MSG_MAX;
	if ((r = proto_frame_begin(b, PROTO_ERROR, 0, id, &start)) != 0)
		return r;
	if ((r = proto_put_u64(b, code < 0 ? (uint64_t) - (int64_t)code : (uint64_t)code)) != 0 ||
	    (r = proto_put_bytes(b, msg, n)) != 0 || (r = proto_frame_end(b, start)) != 0) {
		frame_abort(b, start);
		return r;
	}
	return 0;
}

int proto_error_get(const struct proto_frame *f, int *code, char **msg)
{
	struct proto_in in;
	uint64_t c;
	int r;

	*msg = NULL;
	if (f->op != PROTO_ERROR)
		return err_set(ERR_FORMAT, "expected an error frame, got 0x%04x", f->op);
	proto_in_init(&in, f);
	if ((r = proto_get_u64(&in, &c)) != 0 ||
	    (r = proto_get_str(&in, msg, PROTO_MSG_MAX)) != 0 || (r = proto_get_end(&in)) != 0) {
		free(*msg);
		*msg = NULL;
		return err_prefix(r, "error frame");
	}
	*code = ERR_INTERNAL;
	if (c > 0 && c < 1000 && strcmp(err_str(-(int)c), "unknown error") != 0)
		*code = -(int)c;
	return 0;
}

/* ---- the daemon's requests and events ------------------------------- */

static int expect_op(const struct proto_frame *f, unsigned op)
{
	if (f->op != op)
		return err_set(ERR_FORMAT, "expected a %s frame, got %s (0x%04x)",
			       proto_op_name(op), proto_op_name(f->op) ? proto_op_name(f->op) : "?",
			       f->op);
	return 0;
}

int proto_build_put(struct buf *b, uint32_t id, const struct proto_build *q)
{
	size_t start;
	int r;

	if ((r = proto_frame_begin(b, PROTO_BUILD, 0, id, &start)) != 0)
		return r;
	if ((r = proto_put_u64(b, q->flags)) != 0 || (r = proto_put_u64(b, q->timeout)) != 0 ||
	    (r = proto_put_u64(b, q->max_silent)) != 0 || (r = proto_put_u64(b, q->cores)) != 0 ||
	    (r = proto_put_strv(b, (const char *const *)q->drvs, q->ndrvs)) != 0 ||
	    (r = proto_frame_end(b, start)) != 0) {
		frame_abort(b, start);
		return r;
	}
	return 0;
}

int proto_build_get(struct proto_build *q, const struct proto_frame *f)
{
	struct proto_in in;
	int r;

	memset(q, 0, sizeof(*q));
	if ((r = expect_op(f, PROTO_BUILD)) != 0)
		return r;
	proto_in_init(&in, f);
	if ((r = proto_get_u64(&in, &q->flags)) != 0 ||
	    (r = proto_get_u64(&in, &q->timeout)) != 0 ||
	    (r = proto_get_u64(&in, &q->max_silent)) != 0 ||
	    (r = proto_get_u64(&in, &q->cores)) != 0 ||
	    (r = proto_get_strv(&in, &q->drvs, &q->ndrvs, PROTO_LIST_MAX, PROTO_PATH_MAX)) != 0 ||
	    (r = proto_get_end(&in)) != 0)
		return err_prefix(r, "build");
	if (q->flags & ~(uint64_t)(PROTO_BUILD_KEEP_GOING | PROTO_BUILD_KEEP_FAILED))
		return err_set(ERR_FORMAT, "build: unknown flags 0x%llx",
			       (unsigned long long)q->flags);
	if (q->ndrvs == 0)
		return err_set(ERR_INVALID, "build: no derivation given");
	if (q->timeout > UINT32_MAX || q->max_silent > UINT32_MAX || q->cores > UINT32_MAX)
		return err_set(ERR_INVALID, "build: timeout, max_silent or cores out of range");
	return 0;
}

void proto_build_release(struct proto_build *q)
{
	if (q->drvs)
		proto_strv_free(q->drvs, q->ndrvs);
	q->drvs = NULL;
	q->ndrvs = 0;
}

int proto_build_ok_begin(struct buf *b, uint32_t id, uint64_t n, size_t *start)
{
	int r;

	if ((r = proto_frame_begin(b, PROTO_OK, 0, id, start)) != 0)
		return r;
	if ((r = proto_put_u64(b, n)) != 0)
		frame_abort(b, *start);
	return r;
}

int proto_build_ok_entry(struct buf *b, const char *drv, uint64_t status, const char *msg,
			 const char *const *outputs, size_t noutputs)
{
	size_t n = strlen(msg);
	int r;

	if (n > PROTO_MSG_MAX)
		n = PROTO_MSG_MAX;
	if ((r = proto_put_str(b, drv)) != 0 || (r = proto_put_u64(b, status)) != 0 ||
	    (r = proto_put_bytes(b, msg, n)) != 0 ||
	    (r = proto_put_strv(b, outputs, noutputs)) != 0)
		return r;
	return 0;
}

int proto_build_ok_end(struct buf *b, size_t start)
{
	return proto_frame_end(b, start);
}

void proto_build_entries_free(struct proto_build_entry *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].drv);
		free(v[i].msg);
		if (v[i].outputs)
			proto_strv_free(v[i].outputs, v[i].noutputs);
	}
	free(v);
}

int proto_build_ok_get(const struct proto_frame *f, struct proto_build_entry **vp, size_t *np)
{
	struct proto_build_entry *v = NULL;
	struct proto_in in;
	uint64_t n;
	size_t i = 0;
	int r;

	*vp = NULL;
	*np = 0;
	if ((r = expect_op(f, PROTO_OK)) != 0)
		return r;
	proto_in_init(&in, f);
	if ((r = proto_get_u64(&in, &n)) != 0)
		return err_prefix(r, "build result");
	/* Each entry takes at least 20 bytes. */
	if (n > (in.len - in.off) / 20)
		return err_set(ERR_FORMAT, "build result: %llu entries declared, %zu bytes left",
			       (unsigned long long)n, in.len - in.off);
	if (!(v = calloc(n + 1, sizeof(*v))))
		return err_set(ERR_NOMEM, "out of memory");
	for (i = 0; i < n; i++)
		if ((r = proto_get_str(&in, &v[i].drv, PROTO_PATH_MAX)) != 0 ||
		    (r = proto_get_u64(&in, &v[i].status)) != 0 ||
		    (r = proto_get_str(&in, &v[i].msg, PROTO_MSG_MAX)) != 0 ||
		    (r = proto_get_strv(&in, &v[i].outputs, &v[i].noutputs, PROTO_LIST_MAX,
					PROTO_PATH_MAX + PROTO_NAME_MAX)) != 0)
			break;
	if (r == 0)
		r = proto_get_end(&in);
	if (r != 0) {
		proto_build_entries_free(v, i + 1 > n ? n : i + 1);
		return err_prefix(r, "build result");
	}
	*vp = v;
	*np = n;
	return 0;
}

int proto_event_put(struct buf *b, uint32_t id, const struct proto_event *ev)
{
	size_t start, nm;
	int r;

	if ((r = proto_frame_begin(b, ev->op, 0, id, &start)) != 0)
		return r;
	switch (ev->op) {
	case PROTO_EV_BUILD_STARTED:
		if ((r = proto_put_str(b, ev->drv)) == 0)
			r = proto_put_str(b, ev->machine);
		break;
	case PROTO_EV_BUILD_KEPT:
		if ((r = proto_put_str(b, ev->drv)) == 0 &&
		    (r = proto_put_str(b, ev->machine)) == 0)
			r = proto_put_str(b, ev->msg ? ev->msg : "");
		break;
	case PROTO_EV_BUILD_FINISHED:
		nm = ev->msg ? strlen(ev->msg) : 0;
		if ((r = proto_put_str(b, ev->drv)) == 0 &&
		    (r = proto_put_str(b, ev->machine)) == 0 &&
		    (r = proto_put_u64(b, ev->status)) == 0 &&
		    (r = proto_put_u64(b, ev->duration_ms)) == 0)
			r = proto_put_bytes(b, ev->msg ? ev->msg : "",
					    nm > PROTO_MSG_MAX ? PROTO_MSG_MAX : nm);
		break;
	case PROTO_EV_LOG_LINE:
		if ((r = proto_put_str(b, ev->drv)) == 0 &&
		    (r = proto_put_str(b, ev->machine)) == 0)
			r = proto_put_bytes(
			    b, ev->line, ev->nline > PROTO_LINE_MAX ? PROTO_LINE_MAX : ev->nline);
		break;
	case PROTO_EV_PROGRESS:
		if ((r = proto_put_u64(b, ev->done)) == 0 &&
		    (r = proto_put_u64(b, ev->total)) == 0 &&
		    (r = proto_put_u64(b, ev->running)) == 0 &&
		    (r = proto_put_u64(b, ev->waiting)) == 0)
			r = proto_put_u64(b, ev->failed);
		break;
	default: r = err_set(ERR_INVALID, "0x%04x is not an event", ev->op);
	}
	if (r == 0)
		r = proto_frame_end(b, start);
	if (r != 0)
		frame_abort(b, start);
	return r;
}

int proto_event_get(struct proto_event *ev, const struct proto_frame *f)
{
	struct proto_in in;
	int r;

	memset(ev, 0, sizeof(*ev));
	ev->op = f->op;
	proto_in_init(&in, f);
	switch (f->op) {
	case PROTO_EV_BUILD_STARTED:
		if ((r = proto_get_str(&in, &ev->drv, PROTO_PATH_MAX)) == 0)
			r = proto_get_str(&in, &ev->machine, PROTO_NAME_MAX);
		break;
	case PROTO_EV_BUILD_KEPT:
		if ((r = proto_get_str(&in, &ev->drv, PROTO_PATH_MAX)) == 0 &&
		    (r = proto_get_str(&in, &ev->machine, PROTO_NAME_MAX)) == 0)
			r = proto_get_str(&in, &ev->msg, PROTO_PATH_MAX);
		break;
	case PROTO_EV_BUILD_FINISHED:
		if ((r = proto_get_str(&in, &ev->drv, PROTO_PATH_MAX)) == 0 &&
		    (r = proto_get_str(&in, &ev->machine, PROTO_NAME_MAX)) == 0 &&
		    (r = proto_get_u64(&in, &ev->status)) == 0 &&
		    (r = proto_get_u64(&in, &ev->duration_ms)) == 0)
			r = proto_get_str(&in, &ev->msg, PROTO_MSG_MAX);
		break;
	case PROTO_EV_LOG_LINE:
		if ((r = proto_get_str(&in, &ev->drv, PROTO_PATH_MAX)) == 0 &&
		    (r = proto_get_str(&in, &ev->machine, PROTO_NAME_MAX)) == 0)
			r = proto_get_bytes(&in, &ev->line, &ev->nline, PROTO_LINE_MAX);
		break;
	case PROTO_EV_PROGRESS:
		if ((r = proto_get_u64(&in, &ev->done)) == 0 &&
		    (r = proto_get_u64(&in, &ev->total)) == 0 &&
		    (r = proto_get_u64(&in, &ev->running)) == 0 &&
		    (r = proto_get_u64(&in, &ev->waiting)) == 0)
			r = proto_get_u64(&in, &ev->failed);
		break;
	default: return err_set(ERR_FORMAT, "0x%04x is not an event", f->op);
	}
	if (r == 0)
		r = proto_get_end(&in);
	if (r != 0)
		return err_prefix(r, "%s", proto_op_name(f->op));
	return 0;
}

void proto_event_release(struct proto_event *ev)
{
	free(ev->drv);
	free(ev->machine);
	free(ev->msg);
	ev->drv = ev->machine = ev->msg = NULL;
}

int proto_query_put(struct buf *b, uint32_t id, const char *const *paths, size_t n)
{
	size_t start;
	int r;

	if ((r = proto_frame_begin(b, PROTO_QUERY_PATH_INFO, 0, id, &start)) != 0)
		return r;
	if ((r = proto_put_strv(b, paths, n)) != 0 || (r = proto_frame_end(b, start)) != 0)
		frame_abort(b, start);
	return r;
}

int proto_query_get(const struct proto_frame *f, char ***paths, size_t *n)
{
	struct proto_in in;
	int r;

	*paths = NULL;
	*n = 0;
	if ((r = expect_op(f, PROTO_QUERY_PATH_INFO)) != 0)
		return r;
	proto_in_init(&in, f);
	if ((r = proto_get_strv(&in, paths, n, PROTO_QUERY_MAX, PROTO_PATH_MAX)) != 0 ||
	    (r = proto_get_end(&in)) != 0)
		return err_prefix(r, "query path info");
	if (*n == 0)
		return err_set(ERR_INVALID, "query path info: no path given");
	return 0;
}

int proto_query_ok_begin(struct buf *b, uint32_t id, uint64_t n, size_t *start)
{
	int r;

	if ((r = proto_frame_begin(b, PROTO_OK, 0, id, start)) != 0)
		return r;
	if ((r = proto_put_u64(b, n)) != 0)
		frame_abort(b, *start);
	return r;
}

int proto_query_ok_entry(struct buf *b, const struct path_info *pi)
{
	char h[8 + SHA256_NIX32_LEN];
	int r;

	if (!pi)
		return proto_put_u64(b, 0);
	memcpy(h, "sha256:", 7);
	hash_to_nix32(pi->nar_hash, SHA256_LEN, h + 7);
	h[7 + SHA256_NIX32_LEN] = '\0';
	if ((r = proto_put_u64(b, 1)) != 0 || (r = proto_put_str(b, pi->path)) != 0 ||
	    (r = proto_put_str(b, h)) != 0 || (r = proto_put_u64(b, pi->nar_size)) != 0 ||
	    (r = proto_put_str(b, pi->deriver ? pi->deriver : "")) != 0 ||
	    (r = proto_put_strv(b, (const char *const *)pi->refs.v, pi->refs.n)) != 0 ||
	    (r = proto_put_strv(b, (const char *const *)pi->sigs.v, pi->sigs.n)) != 0 ||
	    (r = proto_put_str(b, pi->ca ? pi->ca : "")) != 0 ||
	    (r = proto_put_str(b, pi->built_by ? pi->built_by : "")) != 0)
		return r;
	return proto_put_u64(b, (uint64_t)pi->registration_time);
}

int proto_query_ok_end(struct buf *b, size_t start)
{
	return proto_frame_end(b, start);
}

/* A strv into a db_list (taking the strings). */
static void strv_to_list(char **v, size_t n, struct db_list *l)
{
	l->v = v;
	l->n = n;
	l->cap = n;
}

/* An empty string becomes NULL ("unknown"). */
static char *null_if_empty(char *s)
{
	if (s && !*s) {
		free(s);
		return NULL;
	}
	return s;
}

int proto_query_ok_get(const struct proto_frame *f, struct path_info **vp, size_t *np)
{
	struct proto_in in;
	struct path_info *v = NULL;
	uint64_t n = 0, valid, t;
	size_t i = 0;
	int r;

	*vp = NULL;
	*np = 0;
	if ((r = expect_op(f, PROTO_OK)) != 0)
		return r;
	proto_in_init(&in, f);
	if ((r = proto_get_u64(&in, &n)) != 0)
		goto fail;
	/* Each entry takes at least 8 bytes. */
	if (n > PROTO_QUERY_MAX || n > (in.len - in.off) / 8) {
		r = err_set(ERR_FORMAT, "%llu entries declared at payload byte 0, at most %d fit",
			    (unsigned long long)n, PROTO_QUERY_MAX);
		goto fail;
	}
	if (n && !(v = calloc((size_t)n, sizeof(*v)))) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		struct path_info *pi = &v[i];
		char *h = NULL, **refs = NULL, **sigs = NULL;
		size_t nrefs = 0, nsigs = 0;

		path_info_init(pi);
		if ((r = proto_get_u64(&in, &valid)) != 0)
			goto fail;
		if (!valid)
			continue;
		if ((r = proto_get_str(&in, &pi->path, PROTO_PATH_MAX)) != 0 ||
		    (r = proto_get_str(&in, &h, 8 + SHA256_NIX32_LEN)) != 0)
			goto fail;
		r = sha256_parse(h, pi->nar_hash);
		free(h);
		if (r != 0 || (r = proto_get_u64(&in, &pi->nar_size)) != 0 ||
		    (r = proto_get_str(&in, &pi->deriver, PROTO_PATH_MAX)) != 0)
			goto fail;
		pi->deriver = null_if_empty(pi->deriver);
		if ((r = proto_get_strv(&in, &refs, &nrefs, PROTO_LIST_MAX, PROTO_PATH_MAX)) != 0)
			goto fail;
		strv_to_list(refs, nrefs, &pi->refs);
		if ((r = proto_get_strv(&in, &sigs, &nsigs, PROTO_LIST_MAX, PROTO_SIG_MAX)) != 0)
			goto fail;
		strv_to_list(sigs, nsigs, &pi->sigs);
		if ((r = proto_get_str(&in, &pi->ca, PROTO_PATH_MAX)) != 0 ||
		    (r = proto_get_str(&in, &pi->built_by, PROTO_NAME_MAX)) != 0 ||
		    (r = proto_get_u64(&in, &t)) != 0)
			goto fail;
		pi->ca = null_if_empty(pi->ca);
		pi->built_by = null_if_empty(pi->built_by);
		pi->registration_time = (int64_t)t;
	}
	if ((r = proto_get_end(&in)) != 0)
		goto fail;
	*vp = v;
	*np = (size_t)n;
	return 0;
fail:
	if (v)
		proto_query_ok_free(v, i < n ? i + 1 : (size_t)n);
	return err_prefix(r, "query path info: ok");
}

void proto_query_ok_free(struct path_info *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		path_info_release(&v[i]);
	free(v);
}

int proto_add_nar_put(struct buf *b, uint32_t id, const struct proto_add_nar *q)
{
	size_t start;
	int r;

	if ((r = proto_frame_begin(b, PROTO_ADD_NAR, 0, id, &start)) != 0)
		return r;
	if ((r = proto_put_str(b, q->path)) != 0 ||
	    (r = proto_put_str(b, q->nar_hash ? q->nar_hash : "")) != 0 ||
	    (r = proto_put_u64(b, q->nar_size)) != 0 ||
	    (r = proto_put_str(b, q->deriver ? q->deriver : "")) != 0 ||
	    (r = proto_put_strv(b, (const char *const *)q->refs, q->nrefs)) != 0 ||
	    (r = proto_put_strv(b, (const char *const *)q->sigs, q->nsigs)) != 0 ||
	    (r = proto_put_str(b, q->ca ? q->ca : "")) != 0 || (r = proto_frame_end(b, start)) != 0)
		frame_abort(b, start);
	return r;
}

int proto_add_nar_get(struct proto_add_nar *q, const struct proto_frame *f)
{
	struct proto_in in;
	int r;

	memset(q, 0, sizeof(*q));
	if ((r = expect_op(f, PROTO_ADD_NAR)) != 0)
		return r;
	proto_in_init(&in, f);
	if ((r = proto_get_str(&in, &q->path, PROTO_PATH_MAX)) != 0 ||
	    (r = proto_get_str(&in, &q->nar_hash, PROTO_NAME_MAX)) != 0 ||
	    (r = proto_get_u64(&in, &q->nar_size)) != 0 ||
	    (r = proto_get_str(&in, &q->deriver, PROTO_PATH_MAX)) != 0 ||
	    (r = proto_get_strv(&in, &q->refs, &q->nrefs, PROTO_LIST_MAX, PROTO_PATH_MAX)) != 0 ||
	    (r = proto_get_strv(&in, &q->sigs, &q->nsigs, PROTO_LIST_MAX, PROTO_SIG_MAX)) != 0 ||
	    (r = proto_get_str(&in, &q->ca, PROTO_PATH_MAX)) != 0 || (r = proto_get_end(&in)) != 0)
		return err_prefix(r, "add nar");
	return 0;
}

void proto_add_nar_release(struct proto_add_nar *q)
{
	free(q->path);
	free(q->nar_hash);
	free(q->deriver);
	free(q->ca);
	if (q->refs)
		proto_strv_free(q->refs, q->nrefs);
	if (q->sigs)
		proto_strv_free(q->sigs, q->nsigs);
	memset(q, 0, sizeof(*q));
}

int proto_follow_put(struct buf *b, uint32_t id, const char *drv, uint64_t flags)
{
	size_t start;
	int r;

	if ((r = proto_frame_begin(b, PROTO_FOLLOW_LOG, 0, id, &start)) != 0)
		return r;
	if ((r = proto_put_str(b, drv)) != 0 || (r = proto_put_u64(b, flags)) != 0 ||
	    (r = proto_frame_end(b, start)) != 0)
		frame_abort(b, start);
	return r;
}

int proto_follow_get(const struct proto_frame *f, char **drv, uint64_t *flags)
{
	struct proto_in in;
	int r;

	*drv = NULL;
	if ((r = expect_op(f, PROTO_FOLLOW_LOG)) != 0)
		return r;
	proto_in_init(&in, f);
	if ((r = proto_get_str(&in, drv, PROTO_PATH_MAX)) != 0 ||
	    (r = proto_get_u64(&in, flags)) != 0 || (r = proto_get_end(&in)) != 0)
		return err_prefix(r, "follow log");
	if (*flags & ~(uint64_t)PROTO_FOLLOW_REPLAY)
		return err_set(ERR_FORMAT, "follow log: unknown flags 0x%llx",
			       (unsigned long long)*flags);
	return 0;
}

int proto_u64_frame_put(struct buf *b, unsigned op, uint32_t id, uint64_t v)
{
	size_t start;
	int r;

	if ((r = proto_frame_begin(b, op, 0, id, &start)) != 0)
		return r;
	if ((r = proto_put_u64(b, v)) != 0 || (r = proto_frame_end(b, start)) != 0)
		frame_abort(b, start);
	return r;
}

int proto_u64_frame_get(const struct proto_frame *f, unsigned op, uint64_t *v)
{
	struct proto_in in;
	int r;

	if ((r = expect_op(f, op)) != 0)
		return r;
	proto_in_init(&in, f);
	if ((r = proto_get_u64(&in, v)) != 0 || (r = proto_get_end(&in)) != 0)
		return err_prefix(r, "%s", proto_op_name(op));
	return 0;
}

int proto_ok_u64_put(struct buf *b, uint32_t id, uint64_t v)
{
	return proto_u64_frame_put(b, PROTO_OK, id, v);
}

int proto_ok_u64_get(const struct proto_frame *f, uint64_t *v)
{
	return proto_u64_frame_get(f, PROTO_OK, v);
}

int proto_add_sigs_put(struct buf *b, uint32_t id, const struct proto_add_sigs *q)
{
	size_t start;
	int r;

	if ((r = proto_frame_begin(b, PROTO_ADD_SIGS, 0, id, &start)) != 0)
		return r;
	if ((r = proto_put_str(b, q->path)) != 0 ||
	    (r = proto_put_strv(b, (const char *const *)q->sigs, q->nsigs)) != 0 ||
	    (r = proto_put_strv(b, (const char *const *)q->keys, q->nkeys)) != 0 ||
	    (r = proto_frame_end(b, start)) != 0)
		frame_abort(b, start);
	return r;
}

int proto_add_sigs_get(struct proto_add_sigs *q, const struct proto_frame *f)
{
	struct proto_in in;
	int r;

	memset(q, 0, sizeof(*q));
	if ((r = expect_op(f, PROTO_ADD_SIGS)) != 0)
		return r;
	proto_in_init(&in, f);
	if ((r = proto_get_str(&in, &q->path, PROTO_PATH_MAX)) != 0 ||
	    (r = proto_get_strv(&in, &q->sigs, &q->nsigs, PROTO_SIGS_MAX, PROTO_SIG_MAX)) != 0 ||
	    (r = proto_get_strv(&in, &q->keys, &q->nkeys, PROTO_SIGS_MAX, PROTO_SIG_MAX)) != 0 ||
	    (r = proto_get_end(&in)) != 0) {
		proto_add_sigs_release(q);
		return err_prefix(r, "add sigs");
	}
	if (q->nsigs == 0 || q->nkeys == 0) {
		proto_add_sigs_release(q);
		return err_set(ERR_FORMAT, "add sigs: no %s given",
			       q->nsigs == 0 ? "signature" : "key");
	}
	return 0;
}

void proto_add_sigs_release(struct proto_add_sigs *q)
{
	free(q->path);
	if (q->sigs)
		proto_strv_free(q->sigs, q->nsigs);
	if (q->keys)
		proto_strv_free(q->keys, q->nkeys);
	memset(q, 0, sizeof(*q));
}

/* ---- The remote protocol (issue 6): payloads of ops 0x03xx.  Kept
 * apart from the rest; see proto.h. */

const char *proto_remote_op_name(unsigned op)
{
	switch (op) {
	case PROTO_R_QUERY_VALID: return "query-valid";
	case PROTO_R_IMPORT: return "import";
	case PROTO_R_BUILD: return "remote-build";
	case PROTO_R_EXPORT: return "export";
	case PROTO_R_LOG: return "remote-log";
	case PROTO_R_PING: return "ping";
	}
	return NULL;
}

int proto_r_paths_put(struct buf *b, unsigned op, uint32_t id, const char *const *v, size_t n)
{
	size_t start;
	int r;

	if ((r = proto_frame_begin(b, op, 0, id, &start)) != 0)
		return r;
	if ((r = proto_put_strv(b, v, n)) != 0 || (r = proto_frame_end(b, start)) != 0) {
		frame_abort(b, start);
		return r;
	}
	return 0;
}

int proto_r_paths_get(const struct proto_frame *f, char ***v, size_t *n)
{
	struct proto_in in;
	int r;

	*v = NULL;
	*n = 0;
	proto_in_init(&in, f);
	if ((r = proto_get_strv(&in, v, n, PROTO_LIST_MAX, PROTO_PATH_MAX)) != 0 ||
	    (r = proto_get_end(&in)) != 0) {
		proto_strv_free(*v, *n);
		*v = NULL;
		*n = 0;
		return err_prefix(r, "%s", proto_op_name(f->op) ? proto_op_name(f->op) : "paths");
	}
	return 0;
}

int proto_r_build_put(struct buf *b, uint32_t id, const struct proto_r_build *q)
{
	size_t start;
	int r;

	if ((r = proto_frame_begin(b, PROTO_R_BUILD, 0, id, &start)) != 0)
		return r;
	if ((r = proto_put_str(b, q->drv)) != 0 || (r = proto_put_u64(b, q->timeout)) != 0 ||
	    (r = proto_put_u64(b, q->max_silent)) != 0 || (r = proto_put_u64(b, q->cores)) != 0 ||
	    (r = proto_frame_end(b, start)) != 0) {
		frame_abort(b, start);
		return r;
	}
	return 0;
}

int proto_r_build_get(struct proto_r_build *q, const struct proto_frame *f)
{
	struct proto_in in;
	int r;

	memset(q, 0, sizeof(*q));
	proto_in_init(&in, f);
	if ((r = proto_get_str(&in, &q->drv, PROTO_PATH_MAX)) != 0 ||
	    (r = proto_get_u64(&in, &q->timeout)) != 0 ||
	    (r = proto_get_u64(&in, &q->max_silent)) != 0 ||
	    (r = proto_get_u64(&in, &q->cores)) != 0 || (r = proto_get_end(&in)) != 0) {
		proto_r_build_release(q);
		return err_prefix(r, "remote-build");
	}
	return 0;
}

void proto_r_build_release(struct proto_r_build *q)
{
	free(q->drv);
	q->drv = NULL;
}

int proto_r_result_put(struct buf *b, uint32_t id, uint64_t status, const char *msg)
{
	size_t start, n = strlen(msg);
	int r;

	if (n > PROTO_MSG_MAX)
		n = PROTO_MSG_MAX;
	if ((r = proto_frame_begin(b, PROTO_OK, 0, id, &start)) != 0)
		return r;
	if ((r = proto_put_u64(b, status)) != 0 || (r = proto_put_bytes(b, msg, n)) != 0 ||
	    (r = proto_frame_end(b, start)) != 0) {
		frame_abort(b, start);
		return r;
	}
	return 0;
}

int proto_r_result_get(const struct proto_frame *f, uint64_t *status, char **msg)
{
	struct proto_in in;
	int r;

	*msg = NULL;
	proto_in_init(&in, f);
	if ((r = proto_get_u64(&in, status)) != 0 ||
	    (r = proto_get_str(&in, msg, PROTO_MSG_MAX)) != 0 || (r = proto_get_end(&in)) != 0) {
		free(*msg);
		*msg = NULL;
		return err_prefix(r, "remote-build result");
	}
	return 0;
}

int proto_r_log_put(struct buf *b, uint32_t id, const void *p, size_t n)
{
	size_t start;
	int r;

	if (n > PROTO_LINE_MAX)
		return err_set(ERR_TOOBIG, "remote-log: %zu bytes exceed the limit of %u", n,
			       PROTO_LINE_MAX);
	if ((r = proto_frame_begin(b, PROTO_R_LOG, 0, id, &start)) != 0)
		return r;
	if ((r = proto_put_bytes(b, p, n)) != 0 || (r = proto_frame_end(b, start)) != 0) {
		frame_abort(b, start);
		return r;
	}
	return 0;
}

int proto_r_log_get(const struct proto_frame *f, const void **p, size_t *n)
{
	struct proto_in in;
	int r;

	proto_in_init(&in, f);
	if ((r = proto_get_bytes(&in, p, n, PROTO_LINE_MAX)) != 0 || (r = proto_get_end(&in)) != 0)
		return err_prefix(r, "remote-log");
	return 0;
}
