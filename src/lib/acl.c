/* acl.c — the ACL file (see acl.h and doc/ACL.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acl.h"
#include "buf.h"
#include "err.h"
#include "io.h"

static const char acl_header[] =
    "# yonder ACL: the public keys whose signatures this machine accepts.\n"
    "# One NAME:base64 key per line; '#' starts a comment line.  See doc/ACL.md.\n";

void acl_init(struct acl *acl)
{
	acl->keys = NULL;
	acl->n = acl->cap = 0;
}

void acl_release(struct acl *acl)
{
	free(acl->keys);
	acl_init(acl);
}

const struct pki_public *acl_find(const struct acl *acl, const char *name)
{
	for (size_t i = 0; i < acl->n; i++)
		if (!strcmp(acl->keys[i].name, name))
			return &acl->keys[i];
	return NULL;
}

bool acl_contains(const struct acl *acl, const struct pki_public *k)
{
	for (size_t i = 0; i < acl->n; i++)
		if (pki_public_equal(&acl->keys[i], k))
			return true;
	return false;
}

int acl_add(struct acl *acl, const struct pki_public *k)
{
	if (acl_contains(acl, k))
		return 0;
	if (acl->n == acl->cap) {
		size_t cap = acl->cap ? 2 * acl->cap : 8;
		struct pki_public *p = realloc(acl->keys, cap * sizeof(*p));

		if (!p)
			return err_set(ERR_NOMEM, "ACL: out of memory");
		acl->keys = p;
		acl->cap = cap;
	}
	acl->keys[acl->n++] = *k;
	return 1;
}

/* One line of an ACL text: [START, START+LEN) without its newline, and
 * the offset of the next line. */
struct acl_line {
	const char *start;
	size_t len, next, lineno;
};

static bool next_line(const char *text, size_t len, size_t pos, size_t lineno, struct acl_line *l)
{
	const char *nl;

	if (pos >= len)
		return false;
	nl = memchr(text + pos, '\n', len - pos);
	l->start = text + pos;
	l->len = nl ? (size_t)(nl - (text + pos)) : len - pos;
	l->next = nl ? (size_t)(nl - text) + 1 : len;
	l->lineno = lineno;
	return true;
}

/* Classifies a line: 0 blank or comment, 1 a key (in *K), or ERR_FORMAT. */
static int parse_line(const struct acl_line *l, const char *what, struct pki_public *k)
{
	const char *s = l->start;
	size_t n = l->len;
	char where[4200];

	snprintf(where, sizeof(where), "%s:%zu", what, l->lineno);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r')
			return err_set(
			    ERR_FORMAT,
			    "%s: carriage return (0x0d) in the ACL: lines end with \\n only",
			    where);
		if (s[i] == '\0')
			return err_set(ERR_FORMAT, "%s: NUL byte in the ACL", where);
	}
	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0 || s[0] == '#')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == ' ' || s[i] == '\t')
			return err_set(ERR_FORMAT,
				       "%s: space inside a key line (one NAME:base64 key per line, "
				       "nothing else)",
				       where);
	if (pki_public_parse(k, s, n, where) != 0)
		return ERR_FORMAT;
	return 1;
}

int acl_parse(struct acl *acl, const char *text, size_t len, const char *what)
{
	struct acl_line l;
	size_t pos = 0, lineno = 1;
	int r;

	while (next_line(text, len, pos, lineno, &l)) {
		struct pki_public k;

		if ((r = parse_line(&l, what, &k)) < 0)
			return r;
		if (r == 1 && (r = acl_add(acl, &k)) < 0)
			return r;
		pos = l.next;
		lineno++;
	}
	return 0;
}

/* Reads the ACL file at PATH (relative to DIRFD) into OUT; *MISSING tells
 * whether it does not exist.  Follows a symlink unless NOFOLLOW. */
static int read_acl(int dirfd, const char *path, const char *what, bool nofollow, struct buf *out,
		    bool *missing)
{
	struct stat st;
	int fd, r = 0;

	*missing = false;
	fd = openat(dirfd, path,
		    O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0) {
		if (errno == ENOENT) {
			*missing = true;
			return 0;
		}
		if (errno == ELOOP && nofollow)
			return err_set(ERR_INVALID,
				       "ACL '%s' is a symbolic link: it is managed elsewhere; not "
				       "replacing it",
				       what);
		return err_sys(ERR_IO, "cannot open ACL '%s'", what);
	}
	if (fstat(fd, &st) != 0) {
		r = err_sys(ERR_IO, "cannot stat ACL '%s'", what);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = err_set(ERR_INVALID, "ACL '%s' is not a regular file", what);
		goto out;
	}
	if (st.st_mode & 022) {
		r = err_set(ERR_INVALID,
			    "ACL '%s' has mode %04o: group or others may change it; refusing to "
			    "trust it (chmod go-w it)",
			    what, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size > ACL_MAX_BYTES) {
		r = err_set(ERR_TOOBIG, "ACL '%s' is larger than %d bytes", what, ACL_MAX_BYTES);
		goto out;
	}
	/* OUT's cap leaves room past ACL_MAX_BYTES, so that a file that grew
	 * since the fstat is seen to be too big rather than cut short. */
	for (;;) {
		ssize_t n;

		if ((r = buf_grow(out, 4096)) != 0)
			goto out;
		n = read(fd, out->data + out->len, out->cap - out->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = err_sys(ERR_IO, "cannot read ACL '%s'", what);
			goto out;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->data[out->len] = '\0';
		if (out->len > ACL_MAX_BYTES) {
			r = err_set(ERR_TOOBIG, "ACL '%s' is larger than %d bytes", what,
				    ACL_MAX_BYTES);
			goto out;
		}
	}
out:
	close(fd);
	return r;
}

int acl_load(struct acl *acl, const char *path)
{
	struct buf text = BUF_INIT(ACL_MAX_BYTES + 4096);
	bool missing;
	int r;

	if ((r = read_acl(AT_FDCWD, path, path, false, &text, &missing)) == 0 && !missing)
		r = acl_parse(acl, text.data ? text.data : "", text.len, path);
	buf_release(&text);
	return r;
}

int acl_check_sig(const struct acl *acl, const char *fp, size_t fplen, const char *sig)
{
	char name[PKI_NAME_MAX + 1];
	uint8_t bytes[PKI_SIG_LEN];
	bool named = false;
	int r;

	if ((r = pki_sig_parse(sig, name, bytes)) != 0)
		return r;
	for (size_t i = 0; i < acl->n; i++) {
		if (strcmp(acl->keys[i].name, name) != 0)
			continue;
		named = true;
		if ((r = pki_verify(&acl->keys[i], fp, fplen, sig)) == 0)
			return 0;
		if (r != ERR_MISMATCH)
			return r;
	}
	if (!named)
		return err_set(ERR_NOTFOUND,
			       "signature by key '%s': no key of that name in the ACL", name);
	return err_set(ERR_MISMATCH,
		       "signature by key '%s' does not verify with the ACL's key of that name",
		       name);
}

int acl_verify(const struct acl *acl, const char *fp, size_t fplen, const char *const *sigs,
	       size_t n, size_t *which)
{
	struct buf why = BUF_INIT(2048);
	int r;

	if (n == 0)
		return err_set(ERR_NOTFOUND, "no signature (unsigned)");
	for (size_t i = 0; i < n; i++) {
		if ((r = acl_check_sig(acl, fp, fplen, sigs[i])) == 0) {
			*which = i;
			buf_release(&why);
			return 0;
		}
		if (r != ERR_NOTFOUND && r != ERR_MISMATCH && r != ERR_FORMAT) {
			buf_release(&why);
			return r;
		}
		/* A full buffer only shortens the explanation. */
		if (buf_printf(&why, "%s%s", why.len ? "; " : "", err_msg()) != 0)
			break;
	}
	r = err_set(ERR_MISMATCH, "no valid signature by a key in the ACL: %s",
		    why.data ? why.data : "");
	buf_release(&why);
	return r;
}

/* The ACL text with K added (OUT gets the old text, then K's line) or
 * removed (OUT gets every line but those holding K).  *FOUND tells
 * whether K was in the old text. */
static int edit_text(const char *text, size_t len, const char *what, const struct pki_public *k,
		     enum acl_op op, struct buf *out, bool *found)
{
	char line[PKI_STR_MAX + 1];
	struct acl_line l;
	size_t pos = 0, lineno = 1;
	int r;

	*found = false;
	while (next_line(text, len, pos, lineno, &l)) {
		struct pki_public lk;
		bool drop;

		if ((r = parse_line(&l, what, &lk)) < 0)
			return r;
		drop = r == 1 && pki_public_equal(&lk, k);
		*found = *found || drop;
		if (!(drop && op == ACL_DEAUTHORIZE)) {
			if ((r = buf_put(out, l.start, l.next - pos)) != 0)
				return r;
			if (l.next == len && len > 0 && text[len - 1] != '\n' &&
			    (r = buf_putc(out, '\n')) != 0)
				return r;
		}
		pos = l.next;
		lineno++;
	}
	if (op == ACL_AUTHORIZE && !*found) {
		if (len == 0 && (r = buf_puts(out, acl_header)) != 0)
			return r;
		pki_public_format(k, line);
		if ((r = buf_printf(out, "%s\n", line)) != 0)
			return r;
	}
	return 0;
}

int acl_update(const char *dir, const struct pki_public *k, enum acl_op op, bool *changed)
{
	struct buf old = BUF_INIT(ACL_MAX_BYTES + 4096), new = BUF_INIT(ACL_MAX_BYTES + 4096);
	struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	char what[4200], key[PKI_STR_MAX + 1];
	int dfd = -1, lockfd = -1, r;
	bool missing, found;

	if (changed)
		*changed = false;
	snprintf(what, sizeof(what), "%s/%s", dir, ACL_FILE);
	if ((r = mkdir_p(dir, 0755)) != 0)
		return r;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_sys(ERR_IO, "cannot open directory '%s'", dir);
	/* The lock file stays: removing it would let a waiting process lock
	 * a file that a newcomer no longer sees. */
	lockfd = openat(dfd, ACL_LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (lockfd < 0) {
		r = err_sys(ERR_IO, "cannot open lock file '%s/%s'", dir, ACL_LOCK_FILE);
		goto out;
	}
	while (fcntl(lockfd, F_SETLKW, &lk) != 0) {
		if (errno != EINTR) {
			r = err_sys(ERR_IO, "cannot lock '%s/%s'", dir, ACL_LOCK_FILE);
			goto out;
		}
	}
	if ((r = read_acl(dfd, ACL_FILE, what, true, &old, &missing)) != 0)
		goto out;
	if (missing && op == ACL_DEAUTHORIZE) {
		pki_public_format(k, key);
		r = err_set(ERR_NOTFOUND, "key '%s' is not in the ACL '%s' (there is no ACL)", key,
			    what);
		goto out;
	}
	if ((r = edit_text(old.data ? old.data : "", old.len, what, k, op, &new, &found)) != 0)
		goto out;
	if (op == ACL_DEAUTHORIZE && !found) {
		pki_public_format(k, key);
		r = err_set(ERR_NOTFOUND, "key '%s' is not in the ACL '%s'", key, what);
		goto out;
	}
	if (op == ACL_AUTHORIZE && found)
		goto out;
	if ((r = pki_write_file(dfd, dir, ACL_FILE, new.data ? new.data : "", new.len, 0644,
				PKI_WRITE_REPLACE)) != 0)
		goto out;
	if (changed)
		*changed = true;
out:
	if (lockfd >= 0)
		close(lockfd); /* releases the lock */
	if (dfd >= 0)
		close(dfd);
	buf_release(&old);
	buf_release(&new);
	return r;
}
