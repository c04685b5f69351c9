#include "io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

#define READER_BUF (256 * 1024)

static int fd_sink_write(struct sink *sk, const void *p, size_t n)
{
	struct fd_sink *s = (struct fd_sink *)sk;
	int r;

	if (s->len + n <= sizeof(s->buf)) {
		memcpy(s->buf + s->len, p, n);
		s->len += n;
		return 0;
	}
	if ((r = fd_sink_flush(s)) != 0)
		return r;
	if (n >= sizeof(s->buf))
		return write_all(s->fd, p, n, s->what);
	memcpy(s->buf, p, n);
	s->len = n;
	return 0;
}

void fd_sink_init(struct fd_sink *s, int fd, const char *what)
{
	s->sink.write = fd_sink_write;
	s->fd = fd;
	s->what = what;
	s->len = 0;
}

int fd_sink_flush(struct fd_sink *s)
{
	int r = write_all(s->fd, s->buf, s->len, s->what);

	s->len = 0;
	return r;
}

static int hash_sink_write(struct sink *sk, const void *p, size_t n)
{
	struct hash_sink *s = (struct hash_sink *)sk;

	sha256_update(&s->sha, p, n);
	s->size += n;
	return 0;
}

int hash_sink_init(struct hash_sink *s)
{
	s->sink.write = hash_sink_write;
	s->size = 0;
	return sha256_init(&s->sha);
}

void hash_sink_finish(struct hash_sink *s, uint8_t out[SHA256_LEN])
{
	sha256_final(&s->sha, out);
}

void hash_sink_release(struct hash_sink *s)
{
	sha256_release(&s->sha);
}

int reader_init_fd(struct reader *r, int fd, const char *what)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->what = what;
	r->bufsize = READER_BUF;
	r->buf = malloc(r->bufsize);
	if (!r->buf)
		return err_set(ERR_NOMEM, "out of memory");
	return 0;
}

void reader_init_mem(struct reader *r, const void *p, size_t n, const char *what)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->p = p;
	r->avail = n;
	r->what = what;
	r->eof = true;
}

int reader_init_pull(struct reader *r, int (*pull)(void *ctx, void *dst, size_t n, size_t *got),
		     void *ctx, size_t bufsize, const char *what)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->what = what;
	r->pull = pull;
	r->pull_ctx = ctx;
	r->bufsize = bufsize;
	r->buf = malloc(r->bufsize);
	if (!r->buf)
		return err_set(ERR_NOMEM, "out of memory");
	return 0;
}

void reader_release(struct reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* Refills when empty.  Returns 1 if bytes are available, 0 at EOF. */
static int fill(struct reader *r)
{
	ssize_t got;

	if (r->avail)
		return 1;
	if (r->eof)
		return 0;
	if (r->pull) {
		size_t n = 0;
		int e = r->pull(r->pull_ctx, r->buf, r->bufsize, &n);

		if (e < 0)
			return e;
		got = (ssize_t)n;
	} else {
		do
			got = read(r->fd, r->buf, r->bufsize);
		while (got < 0 && errno == EINTR);
		if (got < 0)
			return err_sys(ERR_IO, "%s: read error at byte %llu", r->what,
				       (unsigned long long)r->offset);
	}
	if (got == 0) {
		r->eof = true;
		return 0;
	}
	r->p = r->buf;
	r->avail = (size_t)got;
	return 1;
}

static void consume(struct reader *r, void *dst, size_t n)
{
	if (dst)
		memcpy(dst, r->p, n);
	if (r->hash)
		sha256_update(r->hash, r->p, n);
	r->p += n;
	r->avail -= n;
	r->offset += n;
}

int reader_read(struct reader *r, void *dst, size_t n)
{
	unsigned char *d = dst;

	while (n) {
		int f = fill(r);
		size_t k;

		if (f < 0)
			return f;
		if (f == 0)
			return err_set(ERR_TRUNCATED, "%s: unexpected end of input at byte %llu",
				       r->what, (unsigned long long)r->offset);
		k = r->avail < n ? r->avail : n;
		consume(r, d, k);
		if (d)
			d += k;
		n -= k;
	}
	return 0;
}

int reader_stream(struct reader *r, uint64_t n, int (*fn)(void *ctx, const void *p, size_t n),
		  void *ctx)
{
	while (n) {
		int f = fill(r), e;
		size_t k;
		const unsigned char *p;

		if (f < 0)
			return f;
		if (f == 0)
			return err_set(ERR_TRUNCATED, "%s: unexpected end of input at byte %llu",
				       r->what, (unsigned long long)r->offset);
		k = r->avail < n ? r->avail : (size_t)n;
		p = r->p;
		if ((e = fn(ctx, p, k)) != 0)
			return e;
		consume(r, NULL, k);
		n -= k;
	}
	return 0;
}

int reader_at_eof(struct reader *r)
{
	int f = fill(r);

	return f < 0 ? f : !f;
}

int write_all(int fd, const void *p, size_t n, const char *what)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(ERR_IO, "%s: write error", what);
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int rm_tree_fd(int dfd)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	int r = 0;

	if (!d) {
		close(dfd);
		return err_sys(ERR_IO, "cannot list directory");
	}
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if ((r = rm_rf_at(dirfd(d), e->d_name)) != 0)
			break;
	}
	closedir(d);
	return r;
}

int rm_rf_at(int dirfd, const char *path)
{
	struct stat st;
	int fd, r;

	if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return 0;
		return err_sys(ERR_IO, "cannot stat '%s'", path);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, path, 0) != 0 && errno != ENOENT)
			return err_sys(ERR_IO, "cannot remove '%s'", path);
		return 0;
	}
	/* Our own store directories are 0555: make them writable first. */
	if ((st.st_mode & 0700) != 0700)
		fchmodat(dirfd, path, st.st_mode | 0700, 0);
	fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_sys(ERR_IO, "cannot open directory '%s'", path);
	if ((r = rm_tree_fd(fd)) != 0)
		return err_prefix(r, "removing '%s'", path);
	if (unlinkat(dirfd, path, AT_REMOVEDIR) != 0 && errno != ENOENT)
		return err_sys(ERR_IO, "cannot remove directory '%s'", path);
	return 0;
}

int mkdir_p(const char *path, mode_t mode)
{
	char *p = strdup(path);
	int r = 0;

	if (!p)
		return err_set(ERR_NOMEM, "out of memory");
	for (char *c = p + 1;; c++) {
		if (*c == '/' || *c == '\0') {
			char saved = *c;

			*c = '\0';
			if (mkdir(p, mode) != 0 && errno != EEXIST) {
				r = err_sys(ERR_IO, "cannot create directory '%s'", p);
				break;
			}
			*c = saved;
			if (!saved)
				break;
		}
	}
	free(p);
	return r;
}
