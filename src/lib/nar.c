#include "nar.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

#define WALK_BUF (1024 * 1024)
#define TAG_MAX  32 /* longest keyword token we ever expect */

/* ---- walking a tree ---------------------------------------------------- */

struct walk {
	const struct nar_visitor *v;
	unsigned char *buf;
};

static int cmp_names(const void *a, const void *b)
{
	/* strcmp compares as unsigned char: NAR's raw byte order. */
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_node(struct walk *w, int dirfd, const char *name, const char *shown, int depth);

static int walk_file(struct walk *w, int dirfd, const char *name, const char *shown,
		     const struct stat *st0)
{
	const struct nar_visitor *v = w->v;
	struct stat st;
	uint64_t left;
	int fd, r;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_sys(ERR_IO, "cannot open '%s'", shown);
	if (fstat(fd, &st) != 0) {
		r = err_sys(ERR_IO, "cannot stat '%s'", shown);
		goto out;
	}
	if (st.st_ino != st0->st_ino || !S_ISREG(st.st_mode)) {
		r = err_set(ERR_IO, "'%s' changed while being read", shown);
		goto out;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if ((r = v->file_begin(v->ctx, (st.st_mode & S_IXUSR) != 0, (uint64_t)st.st_size)) != 0)
		goto out;
	left = (uint64_t)st.st_size;
	while (left) {
		size_t want = left < WALK_BUF ? (size_t)left : WALK_BUF;
		ssize_t got = read(fd, w->buf, want);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = err_sys(ERR_IO, "cannot read '%s'", shown);
			goto out;
		}
		if (got == 0) {
			r = err_set(ERR_IO, "'%s' shrank while being read", shown);
			goto out;
		}
		if ((r = v->file_data(v->ctx, w->buf, (size_t)got)) != 0)
			goto out;
		left -= (uint64_t)got;
	}
	r = v->file_end(v->ctx);
out:
	close(fd);
	return r;
}

static int walk_dir(struct walk *w, int pfd, const char *name, const char *shown, int depth)
{
	const struct nar_visitor *v = w->v;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *d = NULL;
	int fd, r;

	if (depth > NAR_MAX_DEPTH)
		return err_set(ERR_TOOBIG, "'%s': nested deeper than %d directories", shown,
			       NAR_MAX_DEPTH);
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_sys(ERR_IO, "cannot open directory '%s'", shown);
	if (!(d = fdopendir(fd))) {
		close(fd);
		return err_sys(ERR_IO, "cannot list '%s'", shown);
	}
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? 2 * cap : 32) * sizeof(*names));

			if (!nn) {
				r = err_set(ERR_NOMEM, "out of memory listing '%s'", shown);
				goto out;
			}
			names = nn;
		}
		if (!(names[n] = strdup(e->d_name))) {
			r = err_set(ERR_NOMEM, "out of memory listing '%s'", shown);
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	if ((r = v->dir_begin(v->ctx)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		size_t sl = strlen(shown), nl = strlen(names[i]);
		char *sub = malloc(sl + nl + 2);

		if (!sub) {
			r = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
		memcpy(sub, shown, sl);
		sub[sl] = '/';
		memcpy(sub + sl + 1, names[i], nl + 1);
		r = v->entry_begin(v->ctx, names[i], nl);
		if (r == 0)
			r = walk_node(w, dirfd(d), names[i], sub, depth + 1);
		if (r == 0)
			r = v->entry_end(v->ctx);
		free(sub);
		if (r != 0)
			goto out;
	}
	r = v->dir_end(v->ctx);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return r;
}

static int walk_node(struct walk *w, int dirfd, const char *name, const char *shown, int depth)
{
	struct stat st;
	char target[NAR_MAX_TARGET + 2];
	ssize_t len;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return err_sys(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "cannot stat '%s'", shown);
	if (S_ISREG(st.st_mode))
		return walk_file(w, dirfd, name, shown, &st);
	if (S_ISDIR(st.st_mode))
		return walk_dir(w, dirfd, name, shown, depth);
	if (S_ISLNK(st.st_mode)) {
		len = readlinkat(dirfd, name, target, sizeof(target));
		if (len < 0)
			return err_sys(ERR_IO, "cannot read symlink '%s'", shown);
		if ((size_t)len > NAR_MAX_TARGET)
			return err_set(ERR_TOOBIG, "symlink '%s': target longer than %d bytes",
				       shown, NAR_MAX_TARGET);
		return w->v->symlink(w->v->ctx, target, (size_t)len);
	}
	return err_set(ERR_INVALID,
		       "'%s' is not a regular file, directory or symlink (sockets, FIFOs and "
		       "devices cannot be archived)",
		       shown);
}

int nar_walk(int dirfd, const char *path, const struct nar_visitor *v)
{
	struct walk w = {v, malloc(WALK_BUF)};
	int r;

	if (!w.buf)
		return err_set(ERR_NOMEM, "out of memory");
	r = walk_node(&w, dirfd, path, path, 0);
	free(w.buf);
	return r;
}

/* ---- writing NAR bytes ------------------------------------------------- */

static const unsigned char zeros[8];

static int put_u64(struct sink *s, uint64_t n)
{
	unsigned char le[8];

	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)(n >> (8 * i));
	return sink_write(s, le, 8);
}

static int put_str(struct sink *s, const char *p, size_t n)
{
	int r;

	if ((r = put_u64(s, n)) != 0 || (r = sink_write(s, p, n)) != 0)
		return r;
	return (n % 8) ? sink_write(s, zeros, 8 - n % 8) : 0;
}

/* Writes the given keyword tokens, NULL-terminated. */
static int put_tokens(struct nar_writer *w, const char *first, ...)
{
	va_list ap;
	int r = 0;

	if (!w->started) {
		w->started = true;
		if ((r = put_str(w->out, NAR_MAGIC, strlen(NAR_MAGIC))) != 0)
			return r;
	}
	va_start(ap, first);
	for (const char *t = first; t && r == 0; t = va_arg(ap, const char *))
		r = put_str(w->out, t, strlen(t));
	va_end(ap);
	return r;
}

static int w_file_begin(void *ctx, bool executable, uint64_t size)
{
	struct nar_writer *w = ctx;
	int r;

	w->filesize = size;
	if (executable)
		r = put_tokens(w, "(", "type", "regular", "executable", "", "contents", NULL);
	else
		r = put_tokens(w, "(", "type", "regular", "contents", NULL);
	return r ? r : put_u64(w->out, size);
}

static int w_file_data(void *ctx, const void *p, size_t n)
{
	struct nar_writer *w = ctx;

	return sink_write(w->out, p, n);
}

static int w_file_end(void *ctx)
{
	struct nar_writer *w = ctx;
	int r = 0;

	if (w->filesize % 8)
		r = sink_write(w->out, zeros, 8 - w->filesize % 8);
	return r ? r : put_tokens(w, ")", NULL);
}

static int w_symlink(void *ctx, const char *target, size_t len)
{
	struct nar_writer *w = ctx;
	int r;

	if ((r = put_tokens(w, "(", "type", "symlink", "target", NULL)) != 0 ||
	    (r = put_str(w->out, target, len)) != 0)
		return r;
	return put_tokens(w, ")", NULL);
}

static int w_dir_begin(void *ctx)
{
	return put_tokens(ctx, "(", "type", "directory", NULL);
}

static int w_entry_begin(void *ctx, const char *name, size_t len)
{
	struct nar_writer *w = ctx;
	int r;

	if ((r = put_tokens(w, "entry", "(", "name", NULL)) != 0 ||
	    (r = put_str(w->out, name, len)) != 0)
		return r;
	return put_tokens(w, "node", NULL);
}

static int w_close(void *ctx)
{
	return put_tokens(ctx, ")", NULL);
}

void nar_writer_init(struct nar_writer *w, struct sink *out)
{
	w->out = out;
	w->started = false;
	w->filesize = 0;
	w->v = (struct nar_visitor){
	    .ctx = w,
	    .file_begin = w_file_begin,
	    .file_data = w_file_data,
	    .file_end = w_file_end,
	    .symlink = w_symlink,
	    .dir_begin = w_dir_begin,
	    .entry_begin = w_entry_begin,
	    .entry_end = w_close,
	    .dir_end = w_close,
	};
}

/* ---- tee ------------------------------------------------------------------ */

static int t_file_begin(void *ctx, bool x, uint64_t size)
{
	struct nar_tee *t = ctx;
	int r = t->a->file_begin(t->a->ctx, x, size);

	return r ? r : t->b->file_begin(t->b->ctx, x, size);
}

static int t_file_data(void *ctx, const void *p, size_t n)
{
	struct nar_tee *t = ctx;
	int r = t->a->file_data(t->a->ctx, p, n);

	return r ? r : t->b->file_data(t->b->ctx, p, n);
}

static int t_file_end(void *ctx)
{
	struct nar_tee *t = ctx;
	int r = t->a->file_end(t->a->ctx);

	return r ? r : t->b->file_end(t->b->ctx);
}

static int t_symlink(void *ctx, const char *target, size_t len)
{
	struct nar_tee *t = ctx;
	int r = t->a->symlink(t->a->ctx, target, len);

	return r ? r : t->b->symlink(t->b->ctx, target, len);
}

static int t_dir_begin(void *ctx)
{
	struct nar_tee *t = ctx;
	int r = t->a->dir_begin(t->a->ctx);

	return r ? r : t->b->dir_begin(t->b->ctx);
}

static int t_entry_begin(void *ctx, const char *name, size_t len)
{
	struct nar_tee *t = ctx;
	int r = t->a->entry_begin(t->a->ctx, name, len);

	return r ? r : t->b->entry_begin(t->b->ctx, name, len);
}

static int t_entry_end(void *ctx)
{
	struct nar_tee *t = ctx;
	int r = t->a->entry_end(t->a->ctx);

	return r ? r : t->b->entry_end(t->b->ctx);
}

static int t_dir_end(void *ctx)
{
	struct nar_tee *t = ctx;
	int r = t->a->dir_end(t->a->ctx);

	return r ? r : t->b->dir_end(t->b->ctx);
}

void nar_tee_init(struct nar_tee *t, const struct nar_visitor *a, const struct nar_visitor *b)
{
	t->a = a;
	t->b = b;
	t->v = (struct nar_visitor){
	    .ctx = t,
	    .file_begin = t_file_begin,
	    .file_data = t_file_data,
	    .file_end = t_file_end,
	    .symlink = t_symlink,
	    .dir_begin = t_dir_begin,
	    .entry_begin = t_entry_begin,
	    .entry_end = t_entry_end,
	    .dir_end = t_dir_end,
	};
}

/* ---- parsing --------------------------------------------------------------- */

struct parse {
	struct reader *r;
	const struct nar_visitor *v; /* may be NULL */
	char name[NAR_MAX_NAME + 1];
	char target[NAR_MAX_TARGET + 1];
};

static int bad(struct parse *p, int code, uint64_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad(struct parse *p, int code, uint64_t at, const char *fmt, ...)
{
	char m[512], shown[4 * sizeof(m)], *o = shown;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	/* Tags and names quoted in M come from the input: keep the message on
	 * one line and free of terminal escapes. */
	for (const unsigned char *c = (const unsigned char *)m; *c; c++) {
		if (*c < 0x20 || *c == 0x7f)
			o += sprintf(o, "\\x%02x", *c);
		else
			*o++ = (char)*c;
	}
	*o = '\0';
	return err_set(code, "%s: NAR byte %llu: %s", p->r->what, (unsigned long long)at, shown);
}

static int get_u64(struct parse *p, uint64_t *out)
{
	unsigned char le[8];
	int r;

	if ((r = reader_read(p->r, le, 8)) != 0)
		return r;
	*out = 0;
	for (int i = 7; i >= 0; i--)
		*out = (*out << 8) | le[i];
	return 0;
}

static int check_padding(struct parse *p, uint64_t len)
{
	unsigned char pad[8];
	uint64_t at = p->r->offset;
	size_t n = (size_t)((8 - len % 8) % 8);
	int r;

	if (n == 0)
		return 0;
	if ((r = reader_read(p->r, pad, n)) != 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (pad[i])
			return bad(p, ERR_FORMAT, at + i, "non-zero padding byte");
	return 0;
}

/* Reads a string of at most CAP bytes into OUT (NUL-terminated); WHAT says
 * what the string is, for the message.  The length is checked before any
 * byte is read. */
static int get_str(struct parse *p, char *out, size_t cap, size_t *lenp, const char *what)
{
	uint64_t at = p->r->offset, len;
	int r;

	if ((r = get_u64(p, &len)) != 0)
		return r;
	if (len > cap)
		return bad(p, ERR_TOOBIG, at, "%s of %llu bytes is longer than the limit of %zu",
			   what, (unsigned long long)len, cap);
	if ((r = reader_read(p->r, out, (size_t)len)) != 0 || (r = check_padding(p, len)) != 0)
		return r;
	out[len] = '\0';
	*lenp = (size_t)len;
	return 0;
}

/* Reads a keyword token into TOK (TAG_MAX+1 bytes). */
static int get_tag(struct parse *p, char *tok, uint64_t *at, const char *expected)
{
	size_t len;
	uint64_t n;
	int r;

	*at = p->r->offset;
	if ((r = get_u64(p, &n)) != 0)
		return r;
	if (n > TAG_MAX)
		return bad(p, ERR_FORMAT, *at, "expected %s, got a string of %llu bytes", expected,
			   (unsigned long long)n);
	if ((r = reader_read(p->r, tok, (size_t)n)) != 0 || (r = check_padding(p, n)) != 0)
		return r;
	tok[n] = '\0';
	len = (size_t)n;
	if (memchr(tok, '\0', len))
		return bad(p, ERR_FORMAT, *at, "expected %s, got a string with a NUL byte",
			   expected);
	return 0;
}

static int expect(struct parse *p, const char *want)
{
	char tok[TAG_MAX + 1], quoted[TAG_MAX + 3];
	uint64_t at;
	int r;

	snprintf(quoted, sizeof(quoted), "'%s'", want);
	if ((r = get_tag(p, tok, &at, quoted)) != 0)
		return r;
	if (strcmp(tok, want) != 0)
		return bad(p, ERR_FORMAT, at, "expected '%s', got '%s'", want, tok);
	return 0;
}

static int parse_node(struct parse *p, int depth);

/* A visitor's failure (a file that cannot be created, a full disk) is
 * reported with the offset too: the message says where in the NAR. */
static int visited(struct parse *p, int r)
{
	if (r == 0)
		return 0;
	return err_prefix(r, "%s: NAR byte %llu", p->r->what, (unsigned long long)p->r->offset);
}

static int data_cb(void *ctx, const void *buf, size_t n)
{
	struct parse *p = ctx;

	return visited(p, p->v->file_data(p->v->ctx, buf, n));
}

static int skip_cb(void *ctx, const void *buf, size_t n)
{
	return 0;
}

static int parse_regular(struct parse *p)
{
	const struct nar_visitor *v = p->v;
	char tok[TAG_MAX + 1];
	bool executable = false;
	uint64_t at, size;
	int r;

	if ((r = get_tag(p, tok, &at, "'executable' or 'contents'")) != 0)
		return r;
	if (!strcmp(tok, "executable")) {
		uint64_t mark_at = p->r->offset, n;

		if ((r = get_u64(p, &n)) != 0)
			return r;
		if (n != 0)
			return bad(p, ERR_FORMAT, mark_at,
				   "the executable marker must be empty, got %llu bytes",
				   (unsigned long long)n);
		executable = true;
		if ((r = get_tag(p, tok, &at, "'contents'")) != 0)
			return r;
	}
	if (strcmp(tok, "contents") != 0)
		return bad(p, ERR_FORMAT, at, "expected %s, got '%s'",
			   executable ? "'contents'" : "'executable' or 'contents'", tok);
	if ((r = get_u64(p, &size)) != 0)
		return r;
	/* No cap on a file's size: the bytes are streamed, never held, and a
	 * size larger than the stream runs into end of input. */
	if (v && (r = visited(p, v->file_begin(v->ctx, executable, size))) != 0)
		return r;
	if ((r = reader_stream(p->r, size, v ? data_cb : skip_cb, p)) != 0)
		return r;
	if ((r = check_padding(p, size)) != 0)
		return r;
	if (v && (r = visited(p, v->file_end(v->ctx))) != 0)
		return r;
	return expect(p, ")");
}

static int parse_symlink(struct parse *p)
{
	uint64_t at;
	size_t len;
	int r;

	if ((r = expect(p, "target")) != 0)
		return r;
	at = p->r->offset;
	if ((r = get_str(p, p->target, NAR_MAX_TARGET, &len, "symlink target")) != 0)
		return r;
	if (len == 0)
		return bad(p, ERR_FORMAT, at, "empty symlink target");
	if (memchr(p->target, '\0', len))
		return bad(p, ERR_FORMAT, at, "symlink target contains a NUL byte");
	if (p->v && (r = visited(p, p->v->symlink(p->v->ctx, p->target, len))) != 0)
		return r;
	return expect(p, ")");
}

static int check_name(struct parse *p, const char *name, size_t len, uint64_t at)
{
	if (len == 0)
		return bad(p, ERR_FORMAT, at, "empty entry name");
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return bad(p, ERR_FORMAT, at, "entry name '%s' is not allowed", name);
	if (memchr(name, '/', len))
		return bad(p, ERR_FORMAT, at, "entry name '%s' contains '/'", name);
	if (memchr(name, '\0', len))
		return bad(p, ERR_FORMAT, at, "entry name contains a NUL byte");
	return 0;
}

static int parse_directory(struct parse *p, int depth)
{
	const struct nar_visitor *v = p->v;
	char tok[TAG_MAX + 1], prev[NAR_MAX_NAME + 1];
	size_t prevlen = 0, len;
	bool first = true;
	uint64_t at;
	int r;

	if (v && (r = visited(p, v->dir_begin(v->ctx))) != 0)
		return r;
	for (;;) {
		if ((r = get_tag(p, tok, &at, "'entry' or ')'")) != 0)
			return r;
		if (!strcmp(tok, ")"))
			break;
		if (strcmp(tok, "entry") != 0)
			return bad(p, ERR_FORMAT, at, "expected 'entry' or ')', got '%s'", tok);
		if ((r = expect(p, "(")) != 0 || (r = expect(p, "name")) != 0)
			return r;
		at = p->r->offset;
		if ((r = get_str(p, p->name, NAR_MAX_NAME, &len, "entry name")) != 0 ||
		    (r = check_name(p, p->name, len, at)) != 0)
			return r;
		if (!first) {
			size_t m = len < prevlen ? len : prevlen;
			int c = memcmp(prev, p->name, m);

			if (c > 0 || (c == 0 && len <= prevlen))
				return bad(p, ERR_FORMAT, at,
					   c == 0 && len == prevlen
					       ? "duplicate entry '%s'"
					       : "entry '%s' is out of order (entries must be "
						 "sorted by bytes)",
					   p->name);
		}
		memcpy(prev, p->name, len + 1);
		prevlen = len;
		first = false;
		if ((r = expect(p, "node")) != 0)
			return r;
		if (v && (r = visited(p, v->entry_begin(v->ctx, prev, prevlen))) != 0)
			return r;
		if ((r = parse_node(p, depth + 1)) != 0)
			return r;
		if (v && (r = visited(p, v->entry_end(v->ctx))) != 0)
			return r;
		if ((r = expect(p, ")")) != 0)
			return r;
	}
	return v ? visited(p, v->dir_end(v->ctx)) : 0;
}

static int parse_node(struct parse *p, int depth)
{
	char tok[TAG_MAX + 1];
	uint64_t at;
	int r;

	if ((r = expect(p, "(")) != 0 || (r = expect(p, "type")) != 0)
		return r;
	if ((r = get_tag(p, tok, &at, "a node type")) != 0)
		return r;
	if (!strcmp(tok, "regular"))
		return parse_regular(p);
	if (!strcmp(tok, "symlink"))
		return parse_symlink(p);
	if (!strcmp(tok, "directory")) {
		/* Checked on the directory itself, as nar_walk and the restorer
		 * do: a file may sit inside the deepest allowed directory. */
		if (depth > NAR_MAX_DEPTH)
			return bad(p, ERR_TOOBIG, at, "directories nested deeper than %d",
				   NAR_MAX_DEPTH);
		return parse_directory(p, depth);
	}
	return bad(p, ERR_FORMAT, at,
		   "unknown node type '%s' (expected regular, symlink or directory)", tok);
}

int nar_parse(struct reader *r, const struct nar_visitor *v)
{
	struct parse *p = malloc(sizeof(*p));
	char tok[TAG_MAX + 1];
	uint64_t at;
	int e;

	if (!p)
		return err_set(ERR_NOMEM, "out of memory");
	p->r = r;
	p->v = v;
	if ((e = get_tag(p, tok, &at, "the NAR magic")) == 0) {
		if (strcmp(tok, NAR_MAGIC) != 0)
			e = bad(p, ERR_FORMAT, at, "bad magic: expected '%s'", NAR_MAGIC);
		else
			e = parse_node(p, 0);
	}
	free(p);
	return e;
}

/* ---- restoring ------------------------------------------------------------- */

static const struct timespec epoch1[2] = {{1, 0}, {1, 0}};

/* Where the next node goes: the root name, or the current entry. */
static int here(struct nar_restorer *t, const char **name)
{
	if (t->depth == 0) {
		*name = t->name;
		return t->rootfd;
	}
	*name = t->entry;
	return t->dirs[t->depth - 1];
}

static int r_fail(struct nar_restorer *t, const char *what)
{
	const char *name;

	here(t, &name);
	return err_sys(errno == EEXIST ? ERR_EXISTS : ERR_IO, "cannot create %s '%s'", what, name);
}

static void r_created(struct nar_restorer *t)
{
	if (t->depth == 0)
		t->created = true;
}

static int r_file_begin(void *ctx, bool executable, uint64_t size)
{
	struct nar_restorer *t = ctx;
	const char *name;
	int dfd = here(t, &name);
	mode_t mode =
	    (t->flags & NAR_CANONICAL) ? (executable ? 0555 : 0444) : (executable ? 0777 : 0666);

	t->filefd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (t->filefd < 0)
		return r_fail(t, "file");
	r_created(t);
	return 0;
}

static int r_file_data(void *ctx, const void *p, size_t n)
{
	struct nar_restorer *t = ctx;
	const char *name;

	here(t, &name);
	return write_all(t->filefd, p, n, name);
}

static int r_file_end(void *ctx)
{
	struct nar_restorer *t = ctx;
	const char *name;
	int fd = t->filefd;

	here(t, &name);
	t->filefd = -1;
	if ((t->flags & NAR_CANONICAL) && futimens(fd, epoch1) != 0) {
		close(fd);
		return err_sys(ERR_IO, "cannot set the time of '%s'", name);
	}
	if (close(fd) != 0)
		return err_sys(ERR_IO, "cannot write '%s'", name);
	return 0;
}

static int r_symlink(void *ctx, const char *target, size_t len)
{
	struct nar_restorer *t = ctx;
	char buf[NAR_MAX_TARGET + 1];
	const char *name;
	int dfd = here(t, &name);

	if (len > NAR_MAX_TARGET || memchr(target, '\0', len))
		return err_set(ERR_FORMAT, "symlink '%s': bad target", name);
	memcpy(buf, target, len);
	buf[len] = '\0';
	if (symlinkat(buf, dfd, name) != 0)
		return r_fail(t, "symlink");
	r_created(t);
	if ((t->flags & NAR_CANONICAL) && utimensat(dfd, name, epoch1, AT_SYMLINK_NOFOLLOW) != 0)
		return err_sys(ERR_IO, "cannot set the time of symlink '%s'", name);
	return 0;
}

static int r_dir_begin(void *ctx)
{
	struct nar_restorer *t = ctx;
	const char *name;
	int dfd = here(t, &name), fd;

	if (t->depth > NAR_MAX_DEPTH)
		return err_set(ERR_TOOBIG, "'%s': directories nested deeper than %d", name,
			       NAR_MAX_DEPTH);
	if (mkdirat(dfd, name, (t->flags & NAR_CANONICAL) ? 0700 : 0777) != 0)
		return r_fail(t, "directory");
	r_created(t);
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_sys(ERR_IO, "cannot open directory '%s'", name);
	t->dirs[t->depth++] = fd;
	return 0;
}

static int r_entry_begin(void *ctx, const char *name, size_t len)
{
	struct nar_restorer *t = ctx;

	if (len == 0 || len > NAR_MAX_NAME || memchr(name, '/', len) || memchr(name, '\0', len) ||
	    (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return err_set(ERR_FORMAT, "bad entry name '%.*s'", (int)len, name);
	memcpy(t->entry, name, len);
	t->entry[len] = '\0';
	return 0;
}

static int r_entry_end(void *ctx)
{
	return 0;
}

static int r_dir_end(void *ctx)
{
	struct nar_restorer *t = ctx;
	int fd = t->dirs[--t->depth], r = 0;

	if (t->flags & NAR_CANONICAL) {
		if (fchmod(fd, 0555) != 0 || futimens(fd, epoch1) != 0)
			r = err_sys(ERR_IO, "cannot set the mode or time of a directory");
	}
	close(fd);
	return r;
}

void nar_restorer_init(struct nar_restorer *t, int dirfd, const char *name, unsigned flags)
{
	t->rootfd = dirfd;
	t->name = name;
	t->flags = flags;
	t->depth = 0;
	t->filefd = -1;
	t->created = false;
	t->entry[0] = '\0';
	t->v = (struct nar_visitor){
	    .ctx = t,
	    .file_begin = r_file_begin,
	    .file_data = r_file_data,
	    .file_end = r_file_end,
	    .symlink = r_symlink,
	    .dir_begin = r_dir_begin,
	    .entry_begin = r_entry_begin,
	    .entry_end = r_entry_end,
	    .dir_end = r_dir_end,
	};
}

void nar_restorer_release(struct nar_restorer *t)
{
	if (t->filefd >= 0)
		close(t->filefd);
	t->filefd = -1;
	while (t->depth > 0)
		close(t->dirs[--t->depth]);
}

/* ---- conveniences -------------------------------------------------------- */

int nar_dump_to_fd(const char *path, int fd)
{
	struct fd_sink *s = malloc(sizeof(*s));
	struct nar_writer w;
	int r;

	if (!s)
		return err_set(ERR_NOMEM, "out of memory");
	fd_sink_init(s, fd, "output");
	nar_writer_init(&w, &s->sink);
	r = nar_walk(AT_FDCWD, path, &w.v);
	if (r == 0)
		r = fd_sink_flush(s);
	free(s);
	return r;
}

/* Small NAR tokens would cost one EVP call each; batch them. */
struct buffered_hash {
	struct sink sink;
	struct hash_sink *h;
	size_t len;
	unsigned char buf[16384];
};

static int bh_write(struct sink *sk, const void *p, size_t n)
{
	struct buffered_hash *b = (struct buffered_hash *)sk;

	if (b->len + n > sizeof(b->buf)) {
		b->h->sink.write(&b->h->sink, b->buf, b->len);
		b->len = 0;
	}
	if (n >= sizeof(b->buf))
		return b->h->sink.write(&b->h->sink, p, n);
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	return 0;
}

int nar_hash_path(int dirfd, const char *path, uint8_t hash[SHA256_LEN], uint64_t *size)
{
	struct buffered_hash *b = malloc(sizeof(*b));
	struct hash_sink hs;
	struct nar_writer w;
	int r;

	if (!b)
		return err_set(ERR_NOMEM, "out of memory");
	if ((r = hash_sink_init(&hs)) != 0) {
		free(b);
		return r;
	}
	b->sink.write = bh_write;
	b->h = &hs;
	b->len = 0;
	nar_writer_init(&w, &b->sink);
	r = nar_walk(dirfd, path, &w.v);
	if (r == 0) {
		hs.sink.write(&hs.sink, b->buf, b->len);
		hash_sink_finish(&hs, hash);
		if (size)
			*size = hs.size;
	} else {
		hash_sink_release(&hs);
	}
	free(b);
	return r;
}

int nar_restore(struct reader *r, const char *dest, unsigned flags)
{
	struct nar_restorer *t = malloc(sizeof(*t));
	int e, eof;

	if (!t)
		return err_set(ERR_NOMEM, "out of memory");
	nar_restorer_init(t, AT_FDCWD, dest, flags);
	e = nar_parse(r, &t->v);
	if (e == 0) {
		eof = reader_at_eof(r);
		if (eof < 0)
			e = eof;
		else if (!eof)
			e = err_set(ERR_FORMAT,
				    "%s: NAR byte %llu: trailing bytes after the end of the NAR",
				    r->what, (unsigned long long)r->offset);
	}
	nar_restorer_release(t);
	if (e != 0 && t->created) {
		char saved[2048];

		snprintf(saved, sizeof(saved), "%s", err_msg());
		rm_rf_at(AT_FDCWD, dest);
		err_set(e, "%s", saved);
	}
	free(t);
	return e;
}
