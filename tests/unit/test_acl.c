/* Unit tests for acl.c: the line format, the bad-ACL corpus
 * (tests/data/bad-acl, each refused naming FILE:LINE), a missing ACL
 * trusting nothing, permissions, checking signatures against the ACL with
 * Nix's vectors, and acl_update: idempotent, atomic, comment-keeping,
 * unchanged on error, and safe under concurrent updates. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acl.h"
#include "buf.h"
#include "err.h"
#include "hash.h"
#include "pki.h"
#include "tap.h"

static const char *top; /* the repository (tap_find_top) */

static void write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, p, n) != (ssize_t)n || fchmod(fd, mode) != 0 || close(fd) != 0) {
		perror(path);
		exit(2);
	}
}

static size_t split(char *s, char c, char **f, size_t max)
{
	size_t n = 0;

	if (!*s)
		return 0;
	f[n++] = s;
	for (; *s && n < max; s++)
		if (*s == c) {
			*s = '\0';
			f[n++] = s + 1;
		}
	return n;
}

static const char pub1[] = "yonder-test-1:DZFmmfMnQ3jsbiufKhqdv/zFsV6p5CABKnvWAjNgmZk=";
static const char pub2[] = "other:AwoRGB8mLTQ7QklQV15lbHN6gYiPlp2kq7K5wMfO1dw=";

static void key(struct pki_public *k, const char *s)
{
	if (pki_public_parse(k, s, strlen(s), "test") != 0) {
		printf("Bail out! %s\n", err_msg());
		exit(1);
	}
}

static void test_parse(void)
{
	static const char text[] =
	    "# comment\n"
	    "\n"
	    "   \t\n"
	    "  yonder-test-1:DZFmmfMnQ3jsbiufKhqdv/zFsV6p5CABKnvWAjNgmZk=\t \n"
	    "    # indented comment with : and = and junk !!\n"
	    "yonder-test-1:DZFmmfMnQ3jsbiufKhqdv/zFsV6p5CABKnvWAjNgmZk=\n"
	    "other:AwoRGB8mLTQ7QklQV15lbHN6gYiPlp2kq7K5wMfO1dw=";
	struct acl acl = ACL_INIT;
	struct pki_public k1, k2, k3;

	key(&k1, pub1);
	key(&k2, pub2);
	ok(acl_parse(&acl, text, strlen(text), "t") == 0, "a good ACL parses: %s", err_msg());
	is_int((long long)acl.n, 2, "two keys (the repeated one kept once)");
	ok(acl_contains(&acl, &k1) && acl_contains(&acl, &k2), "both are there");
	ok(acl_find(&acl, "other") != NULL && acl_find(&acl, "nobody") == NULL, "acl_find by name");
	k3 = k1;
	k3.key[0] ^= 1;
	ok(!acl_contains(&acl, &k3), "same name, other bytes: not contained");
	ok(acl_add(&acl, &k3) == 1 && acl.n == 3, "a second key of the same name is added");
	ok(acl_add(&acl, &k3) == 0 && acl.n == 3, "the same key again is not");
	acl_release(&acl);

	ok(acl_parse(&acl, "", 0, "t") == 0 && acl.n == 0, "an empty ACL trusts nothing");
	acl_release(&acl);
	ok(acl_parse(&acl, "# only\n# comments\n", 18, "t") == 0 && acl.n == 0,
	   "comments only: nothing");
	acl_release(&acl);
}

static void test_bad_acls(void)
{
	char *manifest = tap_slurp("tests/data/bad-acl/MANIFEST", NULL), *line, *next;
	size_t n = 0;

	if (!ok(manifest != NULL, "tests/data/bad-acl/MANIFEST is readable"))
		return;
	for (line = manifest; line && *line; line = next) {
		char *f[3], rel[512], path[4096], want[4200], *data;
		struct acl acl = ACL_INIT;
		size_t len;
		int r;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (line[0] == '#' || split(line, '\t', f, 3) != 3)
			continue;
		/* A private copy, 0644 whatever the checkout's umask was. */
		snprintf(rel, sizeof(rel), "tests/data/bad-acl/%s", f[0]);
		if (!ok((data = tap_slurp(rel, &len)) != NULL, "%s is readable", rel))
			continue;
		snprintf(path, sizeof(path), "%s/%s", tap_tmpdir(), f[0]);
		write_file(path, data, len, 0644);
		free(data);
		r = acl_load(&acl, path);
		snprintf(want, sizeof(want), "%s:%s: ", path, f[1]);
		ok(r == ERR_FORMAT && !strncmp(err_msg(), want, strlen(want)) &&
		       strstr(err_msg(), f[2]),
		   "%s refused at line %s (%s): %s", f[0], f[1], f[2], err_msg());
		acl_release(&acl);
		n++;
	}
	ok(n >= 20, "the bad-ACL corpus has %zu cases", n);
	free(manifest);
}

static void test_load(void)
{
	const char *tmp = tap_tmpdir();
	char path[4096], text[256];
	struct acl acl = ACL_INIT;
	int r;

	snprintf(path, sizeof(path), "%s/missing-acl", tmp);
	ok(acl_load(&acl, path) == 0 && acl.n == 0, "a missing ACL is no error and trusts nothing");
	snprintf(path, sizeof(path), "%s/acl", tmp);
	snprintf(text, sizeof(text), "%s\n", pub1);
	write_file(path, text, strlen(text), 0644);
	ok(acl_load(&acl, path) == 0 && acl.n == 1, "a one-key ACL loads");
	acl_release(&acl);
	write_file(path, text, strlen(text), 0664);
	r = acl_load(&acl, path);
	ok(r == ERR_INVALID && strstr(err_msg(), path) && strstr(err_msg(), "0664"),
	   "a group-writable ACL is refused: %s", err_msg());
	acl_release(&acl);
	write_file(path, text, strlen(text), 0646);
	ok(acl_load(&acl, path) == ERR_INVALID, "a world-writable ACL is refused");
	acl_release(&acl);
	ok(acl_load(&acl, tmp) == ERR_INVALID, "a directory is refused: %s", err_msg());
	acl_release(&acl);
	{
		struct buf big = BUF_INIT(ACL_MAX_BYTES + 100);

		while (big.len <= ACL_MAX_BYTES)
			buf_puts(&big, "# padding padding padding padding padding padding\n");
		write_file(path, big.data, big.len, 0644);
		ok(acl_load(&acl, path) == ERR_TOOBIG, "an ACL over %d bytes is refused: %s",
		   ACL_MAX_BYTES, err_msg());
		acl_release(&acl);
		buf_release(&big);
	}
}

/* Signatures from Nix's vectors against ACLs. */
static void test_verify(void)
{
	char *tsv = tap_slurp("tests/vectors/sigs.tsv", NULL), *line, *f[6];
	struct acl acl = ACL_INIT, empty = ACL_INIT;
	struct pki_public k1, k2, impostor;
	const char *sigs[3];
	char stranger[9 + 88 + 1];
	size_t which = 99;
	int r;

	if (!ok(tsv != NULL, "sigs.tsv is readable"))
		return;
	line = strchr(tsv, '\n') + 1;
	*strchr(line, '\n') = '\0';
	if (split(line, '\t', f, 6) != 6) {
		ok(0, "sigs.tsv row");
		free(tsv);
		return;
	}
	key(&k1, pub1);
	key(&k2, pub2);
	acl_add(&acl, &k2);
	acl_add(&acl, &k1);
	/* f[4] is the fingerprint, f[5] Nix's signature. */
	ok(acl_check_sig(&acl, f[4], strlen(f[4]), f[5]) == 0, "Nix's signature is trusted: %s",
	   err_msg());
	r = acl_check_sig(&empty, f[4], strlen(f[4]), f[5]);
	ok(r == ERR_NOTFOUND && strstr(err_msg(), "yonder-test-1"), "not with an empty ACL: %s",
	   err_msg());
	r = acl_check_sig(&acl, "1;/x;sha256:0;0;", 16, f[5]);
	ok(r == ERR_MISMATCH, "nor over another fingerprint: %s", err_msg());
	ok(acl_check_sig(&acl, f[4], strlen(f[4]), "yonder-test-1:AAAA") == ERR_FORMAT,
	   "a malformed signature: ERR_FORMAT");

	memcpy(stranger, "stranger:", 9);
	memset(stranger + 9, 'A', 86);
	memcpy(stranger + 95, "==", 3);
	sigs[0] = stranger; /* well-formed, by a key not in the ACL */
	sigs[1] = "garbage";
	sigs[2] = f[5];
	ok(acl_verify(&acl, f[4], strlen(f[4]), sigs, 3, &which) == 0 && which == 2,
	   "acl_verify finds the valid signature among bad ones (index %zu)", which);
	r = acl_verify(&acl, f[4], strlen(f[4]), sigs, 2, &which);
	ok(r == ERR_MISMATCH && strstr(err_msg(), "'stranger': no key of that name") &&
	       strstr(err_msg(), "garbage"),
	   "without it, every reason is given: %s", err_msg());
	r = acl_verify(&acl, f[4], strlen(f[4]), sigs, 0, &which);
	ok(r == ERR_NOTFOUND && strstr(err_msg(), "unsigned"), "no signature at all: %s",
	   err_msg());

	/* The right name with the wrong key: the ACL holds an impostor. */
	impostor = k1;
	impostor.key[5] ^= 0x40;
	acl_release(&acl);
	acl_add(&acl, &impostor);
	r = acl_check_sig(&acl, f[4], strlen(f[4]), f[5]);
	ok(r == ERR_MISMATCH, "right key name, wrong key in the ACL: refused: %s", err_msg());
	acl_add(&acl, &k1);
	ok(acl_check_sig(&acl, f[4], strlen(f[4]), f[5]) == 0,
	   "with both keys of that name, the right one is found");
	acl_release(&acl);
	free(tsv);
}

static char *read_acl(const char *dir)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/acl", dir);
	return tap_slurp(path, NULL);
}

static void test_update(void)
{
	const char *tmp = tap_tmpdir();
	char dir[2048], path[4200], *a, *b;
	struct pki_public k1, k2;
	struct acl acl = ACL_INIT;
	struct stat st;
	bool changed = true;
	int r;

	key(&k1, pub1);
	key(&k2, pub2);
	snprintf(dir, sizeof(dir), "%s/cfg/nested", tmp);
	snprintf(path, sizeof(path), "%s/acl", dir);
	r = acl_update(dir, &k1, ACL_DEAUTHORIZE, &changed);
	ok(r == ERR_NOTFOUND && !changed, "deauthorize with no ACL: ERR_NOTFOUND: %s", err_msg());
	ok(acl_update(dir, &k1, ACL_AUTHORIZE, &changed) == 0 && changed,
	   "authorize creates the directory and the ACL: %s", err_msg());
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0644, "the ACL is 0644");
	ok(acl_load(&acl, path) == 0 && acl.n == 1 && acl_contains(&acl, &k1), "and holds the key");
	acl_release(&acl);
	a = read_acl(dir);
	ok(acl_update(dir, &k1, ACL_AUTHORIZE, &changed) == 0 && !changed,
	   "authorizing it again changes nothing");
	b = read_acl(dir);
	is_str(b, a, "the file is byte for byte the same");
	free(a);
	free(b);
	ok(acl_update(dir, &k2, ACL_AUTHORIZE, &changed) == 0 && changed, "authorize a second key");
	ok(acl_load(&acl, path) == 0 && acl.n == 2, "two keys");
	acl_release(&acl);
	ok(acl_update(dir, &k1, ACL_DEAUTHORIZE, &changed) == 0 && changed,
	   "deauthorize the first");
	ok(acl_load(&acl, path) == 0 && acl.n == 1 && acl_contains(&acl, &k2) &&
	       !acl_contains(&acl, &k1),
	   "only the second is left");
	acl_release(&acl);
	a = read_acl(dir);
	r = acl_update(dir, &k1, ACL_DEAUTHORIZE, &changed);
	ok(r == ERR_NOTFOUND && strstr(err_msg(), "yonder-test-1") && strstr(err_msg(), path),
	   "deauthorizing it again: ERR_NOTFOUND naming key and ACL: %s", err_msg());
	b = read_acl(dir);
	is_str(b, a, "and the ACL is unchanged");
	free(a);
	free(b);

	/* Comments, blank lines and a missing final newline are kept. */
	{
		char text[512];

		snprintf(text, sizeof(text), "# mine\n\n  %s  # no: that is a space error\n", pub2);
		write_file(path, text, strlen(text), 0644);
		a = read_acl(dir);
		r = acl_update(dir, &k1, ACL_AUTHORIZE, &changed);
		ok(r == ERR_FORMAT && strstr(err_msg(), ":3: "),
		   "a malformed ACL is not updated: %s", err_msg());
		b = read_acl(dir);
		is_str(b, a, "and stays as it was");
		free(a);
		free(b);
		r = acl_update(dir, &k2, ACL_DEAUTHORIZE, &changed);
		ok(r == ERR_FORMAT, "neither by deauthorize");

		snprintf(text, sizeof(text), "# mine\n\n  %s", pub2);
		write_file(path, text, strlen(text), 0644);
		ok(acl_update(dir, &k1, ACL_AUTHORIZE, &changed) == 0,
		   "authorize into a hand-written ACL");
		a = read_acl(dir);
		snprintf(text, sizeof(text), "# mine\n\n  %s\n%s\n", pub2, pub1);
		is_str(a, text, "comments and layout are kept, a newline added before the new key");
		free(a);
		ok(acl_update(dir, &k2, ACL_DEAUTHORIZE, &changed) == 0, "deauthorize from it");
		a = read_acl(dir);
		snprintf(text, sizeof(text), "# mine\n\n%s\n", pub1);
		is_str(a, text, "only that key's line goes");
		free(a);
	}

	/* An ACL that is a symbolic link is not replaced. */
	{
		char target[4200];

		snprintf(target, sizeof(target), "%s/elsewhere", dir);
		rename(path, target);
		ok(symlink("elsewhere", path) == 0, "make the ACL a symlink");
		ok(acl_load(&acl, path) == 0 && acl.n == 1, "a symlinked ACL is read");
		acl_release(&acl);
		r = acl_update(dir, &k2, ACL_AUTHORIZE, &changed);
		ok(r == ERR_INVALID && strstr(err_msg(), "symbolic link"), "but not replaced: %s",
		   err_msg());
		ok(lstat(path, &st) == 0 && S_ISLNK(st.st_mode), "it is still a symlink");
		unlink(path);
		rename(target, path);
	}

	/* No temporary left behind; the lock file stays. */
	{
		char cmd[4300];

		snprintf(cmd, sizeof(cmd),
			 "test \"$(ls -A '%s' | tr '\\n' ' ')\" = 'acl acl.lock '", dir);
		ok(system(cmd) == 0, "the directory holds acl and acl.lock only");
	}
}

/* Eight processes each authorize their own key at once: none is lost. */
static void test_concurrent(void)
{
	const char *tmp = tap_tmpdir();
	char dir[2048], path[4200];
	struct acl acl = ACL_INIT;
	enum { N = 8, ROUNDS = 5 };
	pid_t pids[N];
	int failed = 0;

	snprintf(dir, sizeof(dir), "%s/concurrent", tmp);
	snprintf(path, sizeof(path), "%s/acl", dir);
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			for (int j = 0; j < ROUNDS; j++) {
				struct pki_public k;

				snprintf(k.name, sizeof(k.name), "proc-%d-%d", i, j);
				memset(k.key, i * ROUNDS + j, sizeof(k.key));
				if (acl_update(dir, &k, ACL_AUTHORIZE, NULL) != 0) {
					fprintf(stderr, "%s\n", err_msg());
					_exit(1);
				}
			}
			_exit(0);
		}
	}
	for (int i = 0; i < N; i++) {
		int status;

		if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			failed++;
	}
	is_int(failed, 0, "every concurrent authorize succeeded");
	ok(acl_load(&acl, path) == 0, "the ACL parses after concurrent updates");
	is_int((long long)acl.n, N * ROUNDS, "and holds every key");
	acl_release(&acl);
}

int main(int argc, char **argv)
{
	(void)argc;
	top = tap_find_top(argv[0]);
	test_parse();
	test_bad_acls();
	test_load();
	test_verify();
	test_update();
	test_concurrent();
	return tap_done();
}
