/* Unit tests for pki.c: key formats (Nix's), the fingerprint, signatures
 * byte-identical to Nix 2.8's (tests/vectors/sigs.tsv, made by
 * make-sig-vectors.sh with the committed test key sig-key.sec), every
 * forgery we can think of, the bad-key corpus (tests/data/bad-key), key
 * file permissions, and the atomic key writer. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static struct pki_secret vsec;
static struct pki_public vpub;

static void test_vector_keys(void)
{
	char *sec, *pub, out[PKI_STR_MAX + 1];
	size_t seclen, publen;
	struct pki_public derived;

	sec = tap_slurp("tests/vectors/sig-key.sec", &seclen);
	pub = tap_slurp("tests/vectors/sig-key.pub", &publen);
	if (!ok(sec && pub, "the committed Nix test key pair is readable")) {
		printf("Bail out! no tests/vectors/sig-key.{sec,pub} under '%s'\n", top);
		exit(1);
	}
	ok(pki_secret_parse(&vsec, sec, seclen, "sig-key.sec") == 0, "Nix's secret key parses: %s",
	   err_msg());
	ok(pki_public_parse(&vpub, pub, publen, "sig-key.pub") == 0, "Nix's public key parses: %s",
	   err_msg());
	is_str(vpub.name, "yonder-test-1", "key name");
	pki_secret_public(&vsec, &derived);
	ok(pki_public_equal(&derived, &vpub), "the secret key's public half is the public key");
	pki_secret_format(&vsec, out);
	is_str(out, sec, "secret key formats back to Nix's bytes");
	pki_public_format(&vpub, out);
	is_str(out, pub, "public key formats back to Nix's bytes");
	free(sec);
	free(pub);
}

/* Splits S at C in place into at most MAX fields. */
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

struct vec {
	char *path, *hash, *size, *refs, *fp, *sig, *refcopy;
	const char *refv[16];
	size_t nrefs;
	uint8_t h[SHA256_LEN];
};

static struct vec vecs[64];
static size_t nvecs;
static char *vec_text;

static void load_sig_vectors(void)
{
	char *line, *next;

	vec_text = tap_slurp("tests/vectors/sigs.tsv", NULL);
	if (!ok(vec_text != NULL, "tests/vectors/sigs.tsv is readable"))
		exit(1);
	line = strchr(vec_text, '\n'); /* the header */
	for (line = line ? line + 1 : NULL; line && *line && nvecs < 64; line = next) {
		char *f[6];
		struct vec *v = &vecs[nvecs];

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (split(line, '\t', f, 6) != 6)
			continue;
		v->path = f[0], v->hash = f[1], v->size = f[2], v->refs = f[3], v->fp = f[4],
		v->sig = f[5];
		if (strcmp(v->refs, "-") != 0) {
			char *copy = strdup(v->refs), *r[16];

			v->refcopy = copy;
			v->nrefs = split(copy, ',', r, 16);
			for (size_t i = 0; i < v->nrefs; i++)
				v->refv[i] = r[i];
		}
		if (sha256_parse(v->hash, v->h) != 0)
			continue;
		nvecs++;
	}
	ok(nvecs >= 8, "sigs.tsv has at least 8 rows (%zu)", nvecs);
}

static void fp_of(struct buf *b, const struct vec *v, const char *const *refs, size_t nrefs)
{
	buf_reset(b);
	if (pki_fingerprint(b, v->path, v->h, strtoull(v->size, NULL, 10), refs, nrefs) != 0)
		printf("# fingerprint: %s\n", err_msg());
}

static void test_sig_vectors(void)
{
	struct buf fp = BUF_INIT(PKI_FINGERPRINT_MAX);
	size_t with_refs = 0, self_ref = 0;

	for (size_t i = 0; i < nvecs; i++) {
		struct vec *v = &vecs[i];
		char *sig = NULL;

		fp_of(&fp, v, v->refv, v->nrefs);
		is_str(fp.data, v->fp, "fingerprint of %s", v->path);
		ok(pki_sign(&vsec, fp.data, fp.len, &sig) == 0, "sign %s", v->path);
		is_str(sig, v->sig, "yonder's signature of %s is Nix's, byte for byte", v->path);
		free(sig);
		ok(pki_verify(&vpub, fp.data, fp.len, v->sig) == 0,
		   "Nix's signature of %s verifies: %s", v->path, err_msg());
		with_refs += v->nrefs > 0;
		for (size_t j = 0; j < v->nrefs; j++)
			self_ref += !strcmp(v->refv[j], v->path);
		if (v->nrefs >= 2) {
			const char *rev[16];

			for (size_t j = 0; j < v->nrefs; j++)
				rev[j] = v->refv[v->nrefs - 1 - j];
			fp_of(&fp, v, rev, v->nrefs);
			is_str(fp.data, v->fp, "references are sorted into the fingerprint (%s)",
			       v->path);
		}
	}
	ok(with_refs >= 3 && self_ref >= 1,
	   "the vectors cover references (%zu paths) and a self-reference", with_refs);
	buf_release(&fp);
}

/* Each way of presenting a valid signature for something else fails. */
static void test_forgeries(void)
{
	struct buf fp = BUF_INIT(PKI_FINGERPRINT_MAX), fp2 = BUF_INIT(PKI_FINGERPRINT_MAX);
	struct vec *a = &vecs[0], *b = &vecs[1], *withref = NULL;
	struct pki_secret other;
	struct pki_public otherpub;
	char sig[PKI_STR_MAX + 1], *s2 = NULL;
	const char *refs[17];
	int r;

	for (size_t i = 0; i < nvecs; i++)
		if (vecs[i].nrefs >= 1 && vecs[i].nrefs < 16)
			withref = &vecs[i];
	fp_of(&fp, a, a->refv, a->nrefs);
	fp_of(&fp2, b, b->refv, b->nrefs);
	r = pki_verify(&vpub, fp2.data, fp2.len, a->sig);
	ok(r == ERR_MISMATCH, "a signature of item A does not verify for item B (%s)", err_msg());

	/* One flipped bit of the fingerprint, of the signature. */
	fp.data[10] ^= 1;
	ok(pki_verify(&vpub, fp.data, fp.len, a->sig) == ERR_MISMATCH,
	   "a flipped bit in the fingerprint fails");
	fp.data[10] ^= 1;
	snprintf(sig, sizeof(sig), "%s", a->sig);
	sig[strlen(vpub.name) + 5] ^= 0x01; /* a base64 letter to its neighbour */
	r = pki_verify(&vpub, fp.data, fp.len, sig);
	ok(r == ERR_MISMATCH || r == ERR_FORMAT, "a changed signature character fails (%s)",
	   err_msg());

	/* The NAR size or hash changed. */
	buf_reset(&fp2);
	pki_fingerprint(&fp2, a->path, a->h, strtoull(a->size, NULL, 10) + 1, a->refv, a->nrefs);
	ok(pki_verify(&vpub, fp2.data, fp2.len, a->sig) == ERR_MISMATCH, "another NAR size fails");

	/* A reference added, a reference removed. */
	if (withref) {
		memcpy(refs, withref->refv, withref->nrefs * sizeof(*refs));
		refs[withref->nrefs] = a->path;
		fp_of(&fp2, withref, refs, withref->nrefs + 1);
		ok(pki_verify(&vpub, fp2.data, fp2.len, withref->sig) == ERR_MISMATCH,
		   "a reference added fails");
		fp_of(&fp2, withref, refs, withref->nrefs - 1);
		ok(pki_verify(&vpub, fp2.data, fp2.len, withref->sig) == ERR_MISMATCH,
		   "a reference removed fails");
	}

	/* The right name with the wrong key, a wrong name with the right key. */
	memset(&other, 0, sizeof(other));
	ok(pki_generate(&other, &otherpub, "yonder-test-1") == 0,
	   "generate a key of the same name");
	ok(pki_verify(&otherpub, fp.data, fp.len, a->sig) == ERR_MISMATCH,
	   "right key name, wrong key: fails (%s)", err_msg());
	ok(pki_sign(&other, fp.data, fp.len, &s2) == 0 &&
	       pki_verify(&vpub, fp.data, fp.len, s2) == ERR_MISMATCH,
	   "a signature by the impostor key fails with the real key");
	free(s2);
	snprintf(sig, sizeof(sig), "other%s", strchr(a->sig, ':'));
	r = pki_verify(&vpub, fp.data, fp.len, sig);
	ok(r == ERR_MISMATCH && strstr(err_msg(), "'other'"), "a renamed signature fails (%s)",
	   err_msg());
	pki_secret_release(&other);
	buf_release(&fp);
	buf_release(&fp2);
}

static void test_fingerprint(void)
{
	struct buf fp = BUF_INIT(1024);
	uint8_t h[SHA256_LEN] = {0};
	const char *refs[] = {"/s/b", "/s/a", "/s/b"};
	const char *bad[] = {"/s/a;x"};

	ok(pki_fingerprint(&fp, "/s/p", h, 0, NULL, 0) == 0, "fingerprint without references");
	is_str(fp.data, "1;/s/p;sha256:0000000000000000000000000000000000000000000000000000;0;",
	       "a path without references ends in ';'");
	buf_reset(&fp);
	ok(pki_fingerprint(&fp, "/s/p", h, 18446744073709551615ull, refs, 3) == 0,
	   "fingerprint with references");
	is_str(fp.data,
	       "1;/s/"
	       "p;sha256:0000000000000000000000000000000000000000000000000000;18446744073709551615;"
	       "/s/a,/s/b",
	       "references sorted, each once; the largest size printed in full");
	is_str(refs[0], "/s/b", "the caller's reference array is left alone");
	buf_reset(&fp);
	ok(pki_fingerprint(&fp, "/s/p", h, 1, bad, 1) == ERR_INVALID,
	   "a ';' in a reference is refused");
	ok(pki_fingerprint(&fp, "/s/p,q", h, 1, NULL, 0) == ERR_INVALID,
	   "a ',' in the path is refused");
	ok(pki_fingerprint(&fp, "", h, 1, NULL, 0) == ERR_INVALID, "an empty path is refused");
	buf_release(&fp);
}

static void test_names_and_strings(void)
{
	static const char *good[] = {"a", "cache.nixos.org-1", "host_1+x@y/z=~", "a#b"};
	static const char *bad[] = {"", "a b", "a:b", "#a", "caf\xc3\xa9", "a\tb", "a\x7f"};
	char longname[PKI_NAME_MAX + 2];
	struct pki_public k;
	char name[PKI_NAME_MAX + 1];
	uint8_t bytes[PKI_SIG_LEN];
	int r;

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		ok(pki_name_check(good[i], strlen(good[i])) == 0, "name '%s' is fine", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ok(pki_name_check(bad[i], strlen(bad[i])) == ERR_FORMAT, "name #%zu refused: %s", i,
		   err_msg());
	memset(longname, 'n', sizeof(longname));
	ok(pki_name_check(longname, PKI_NAME_MAX) == 0, "a name of %d characters is fine",
	   PKI_NAME_MAX);
	ok(pki_name_check(longname, PKI_NAME_MAX + 1) == ERR_FORMAT, "one more is refused");

	/* Strict base64. */
	ok(pki_public_parse(&k, "k:DZFmmfMnQ3jsbiufKhqdv/zFsV6p5CABKnvWAjNgmZk=", 46, "t") == 0,
	   "canonical base64 parses");
	ok(pki_public_parse(&k, "k:DZFmmfMnQ3jsbiufKhqdv/zFsV6p5CABKnvWAjNgmZl=", 46, "t") ==
	       ERR_FORMAT,
	   "non-zero spare bits are refused: %s", err_msg());
	ok(pki_public_parse(&k, "k:DZFmmfMnQ3jsbiufKhqdv/zFsV6p5CABKnvWAjNgmZk", 45, "t") ==
	       ERR_FORMAT,
	   "missing padding is refused");
	ok(pki_public_parse(&k, "k:DZFmmfMnQ3jsbiufK hqdv/zFsV6p5CABKnvWAjNgmZ=", 46, "t") ==
	       ERR_FORMAT,
	   "a space is refused");
	r = pki_public_parse(&k, "k:DZFmmfMnQ3jsbiufKhqdv/zFsV6p5CABKnvWAjNgmZk=", 40, "where:7");
	ok(r == ERR_FORMAT && !strncmp(err_msg(), "where:7: ", 9), "messages start with WHAT: %s",
	   err_msg());

	/* Signatures. */
	ok(pki_sig_parse("k:AAAA", name, bytes) == ERR_FORMAT, "short signature refused: %s",
	   err_msg());
	ok(pki_sig_parse("nocolon", name, bytes) == ERR_FORMAT, "signature without ':' refused");
	ok(pki_sig_parse("k:\x01\x02\n", name, bytes) == ERR_FORMAT &&
	       !strpbrk(err_msg(), "\x01\x02\n"),
	   "control characters never reach the message: %s", err_msg());
	ok(pki_sig_parse(vecs[0].sig, name, bytes) == 0 && !strcmp(name, "yonder-test-1"),
	   "a vector signature parses");
}

static void test_keyfile_line(void)
{
	size_t n = 99;

	ok(pki_keyfile_line("k:x", 3, "f", &n) == 0 && n == 3, "no final newline");
	ok(pki_keyfile_line("k:x\n", 4, "f", &n) == 0 && n == 3, "one final newline");
	ok(pki_keyfile_line("k:x\n\n", 5, "f", &n) == ERR_FORMAT && strstr(err_msg(), "f:2:"),
	   "a second (empty) line is refused: %s", err_msg());
	ok(pki_keyfile_line("", 0, "f", &n) == ERR_FORMAT && strstr(err_msg(), "f:1:"),
	   "an empty file is refused");
	ok(pki_keyfile_line("\n", 1, "f", &n) == ERR_FORMAT, "a lone newline is refused");
}

static void test_generate(void)
{
	struct pki_secret s1, s2, parsed;
	struct pki_public p1, p2;
	char text[PKI_STR_MAX + 1], *sig = NULL;

	memset(&s1, 0, sizeof(s1));
	memset(&s2, 0, sizeof(s2));
	memset(&parsed, 0, sizeof(parsed));
	ok(pki_generate(&s1, &p1, "gen") == 0 && pki_generate(&s2, &p2, "gen") == 0,
	   "generate two keys");
	ok(!pki_public_equal(&p1, &p2), "they differ");
	pki_secret_format(&s1, text);
	ok(pki_secret_parse(&parsed, text, strlen(text), "t") == 0 &&
	       !memcmp(parsed.key, s1.key, PKI_SECRET_LEN),
	   "a generated secret key round-trips through its text form");
	ok(pki_sign(&s1, "hello", 5, &sig) == 0 && pki_verify(&p1, "hello", 5, sig) == 0,
	   "sign and verify with a generated key");
	ok(pki_verify(&p2, "hello", 5, sig) == ERR_MISMATCH, "the other key of that name fails");
	ok(pki_generate(&s2, &p2, "bad name") == ERR_FORMAT, "generate checks the name");
	free(sig);
	pki_secret_release(&s1);
	pki_secret_release(&s2);
	pki_secret_release(&parsed);
	{
		static const uint8_t zero[sizeof(s1)];

		ok(!memcmp(&s1, zero, sizeof(s1)), "pki_secret_release wipes the key");
	}
}

/* The bad-key corpus: each file refused with FILE:LINE and the reason. */
static void test_bad_keys(void)
{
	char *manifest = tap_slurp("tests/data/bad-key/MANIFEST", NULL), *line, *next;
	const char *tmp = tap_tmpdir();
	size_t n = 0;

	if (!ok(manifest != NULL, "tests/data/bad-key/MANIFEST is readable"))
		return;
	for (line = manifest; line && *line; line = next) {
		char *f[3], rel[512], path[4096], want[4200], *data;
		size_t len;
		int r;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (line[0] == '#' || split(line, '\t', f, 3) != 3)
			continue;
		snprintf(rel, sizeof(rel), "tests/data/bad-key/%s", f[0]);
		data = tap_slurp(rel, &len);
		if (!ok(data != NULL, "%s is readable", rel))
			continue;
		/* A private copy: secret keys must be 0600 to get to parsing. */
		snprintf(path, sizeof(path), "%s/%s", tmp, f[0]);
		write_file(path, data, len, 0600);
		free(data);
		if (strstr(f[0], ".sec")) {
			struct pki_secret k;

			r = pki_secret_load(&k, path);
			pki_secret_release(&k);
		} else {
			struct pki_public k;

			r = pki_public_load(&k, path);
		}
		snprintf(want, sizeof(want), "%s:%s: ", path, f[1]);
		ok(r == ERR_FORMAT && !strncmp(err_msg(), want, strlen(want)) &&
		       strstr(err_msg(), f[2]),
		   "%s refused at line %s (%s): %s", f[0], f[1], f[2], err_msg());
		n++;
	}
	ok(n >= 25, "the bad-key corpus has %zu cases", n);
	free(manifest);
}

static void test_key_files(void)
{
	const char *tmp = tap_tmpdir();
	char path[4096], link[4096], *sec = tap_slurp("tests/vectors/sig-key.sec", NULL);
	char *pub = tap_slurp("tests/vectors/sig-key.pub", NULL);
	char big[PKI_KEYFILE_MAX + 10];
	struct pki_secret k;
	struct pki_public p;
	int r;

	memset(&k, 0, sizeof(k));
	snprintf(path, sizeof(path), "%s/k.sec", tmp);
	write_file(path, sec, strlen(sec), 0600);
	ok(pki_secret_load(&k, path) == 0 && !memcmp(k.key, vsec.key, PKI_SECRET_LEN),
	   "a 0600 secret key file loads: %s", err_msg());
	pki_secret_release(&k);
	write_file(path, sec, strlen(sec), 0400);
	ok(pki_secret_load(&k, path) == 0, "0400 too");
	pki_secret_release(&k);
	for (mode_t m = 0; m < 6; m++) {
		static const mode_t modes[] = {0640, 0604, 0644, 0620, 0602, 0610};
		char want[64];

		write_file(path, sec, strlen(sec), modes[m]);
		r = pki_secret_load(&k, path);
		snprintf(want, sizeof(want), "mode %04o", (unsigned)modes[m]);
		ok(r == ERR_INVALID && strstr(err_msg(), path) && strstr(err_msg(), want),
		   "a secret key file with mode %04o is refused: %s", (unsigned)modes[m],
		   err_msg());
		pki_secret_release(&k);
	}
	write_file(path, sec, strlen(sec), 0600);
	snprintf(link, sizeof(link), "%s/link.sec", tmp);
	ok(symlink(path, link) == 0, "symlink to the key");
	ok(pki_secret_load(&k, link) == ERR_INVALID, "a symlinked key file is refused: %s",
	   err_msg());
	pki_secret_release(&k);
	snprintf(link, sizeof(link), "%s/missing.sec", tmp);
	ok(pki_secret_load(&k, link) == ERR_NOTFOUND && strstr(err_msg(), link),
	   "a missing key file is ERR_NOTFOUND naming it");
	pki_secret_release(&k);
	ok(pki_secret_load(&k, tmp) == ERR_INVALID || pki_secret_load(&k, tmp) == ERR_IO,
	   "a directory is refused");
	pki_secret_release(&k);
	memset(big, 'A', sizeof(big));
	write_file(path, big, sizeof(big), 0600);
	ok(pki_secret_load(&k, path) == ERR_FORMAT, "an oversized key file is refused: %s",
	   err_msg());
	pki_secret_release(&k);

	snprintf(path, sizeof(path), "%s/k.pub", tmp);
	write_file(path, pub, strlen(pub), 0644);
	ok(pki_public_load(&p, path) == 0 && pki_public_equal(&p, &vpub),
	   "a public key file without a final newline loads");
	{
		char nl[PKI_STR_MAX + 2];

		snprintf(nl, sizeof(nl), "%s\n", pub);
		write_file(path, nl, strlen(nl), 0644);
		ok(pki_public_load(&p, path) == 0 && pki_public_equal(&p, &vpub),
		   "and one with a final newline");
	}
	free(sec);
	free(pub);
}

static void test_write_and_generate_files(void)
{
	const char *tmp = tap_tmpdir();
	char dir[2048], path[4096];
	struct pki_public pub, loaded;
	struct pki_secret sec;
	struct stat st;
	mode_t old;
	int dfd;

	snprintf(dir, sizeof(dir), "%s/w", tmp);
	mkdir(dir, 0755);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	old = umask(077);
	ok(pki_write_file(dfd, dir, "f", "one", 3, 0444, 0) == 0, "write a new file");
	snprintf(path, sizeof(path), "%s/f", dir);
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0444,
	   "its mode is exact despite the umask");
	ok(pki_write_file(dfd, dir, "f", "two", 3, 0444, 0) == ERR_EXISTS &&
	       strstr(err_msg(), path),
	   "an existing file is not replaced: %s", err_msg());
	ok(pki_write_file(dfd, dir, "f", "three", 5, 0644, PKI_WRITE_REPLACE) == 0 &&
	       stat(path, &st) == 0 && st.st_size == 5,
	   "unless asked to");
	umask(old);
	{
		char cmd[8300];

		snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", dir);
		ok(system(cmd) == 0, "no temporary file is left behind");
	}
	close(dfd);

	snprintf(dir, sizeof(dir), "%s/cfg/sub", tmp);
	ok(pki_generate_files(dir, "host-1", &pub) == 0, "generate a pair into a new directory: %s",
	   err_msg());
	snprintf(path, sizeof(path), "%s/signing-key.sec", dir);
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0400, "secret key mode 0400");
	memset(&sec, 0, sizeof(sec));
	ok(pki_secret_load(&sec, path) == 0 && !strcmp(sec.name, "host-1"), "it loads");
	pki_secret_public(&sec, &loaded);
	ok(pki_public_equal(&loaded, &pub), "its public half is the returned public key");
	pki_secret_release(&sec);
	snprintf(path, sizeof(path), "%s/signing-key.pub", dir);
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0444, "public key mode 0444");
	ok(pki_public_load(&loaded, path) == 0 && pki_public_equal(&loaded, &pub), "it loads too");
	ok(pki_generate_files(dir, "host-1", NULL) == ERR_EXISTS &&
	       strstr(err_msg(), "signing-key"),
	   "a second generation is refused: %s", err_msg());
	ok(pki_public_load(&loaded, path) == 0 && pki_public_equal(&loaded, &pub),
	   "and the first pair is intact");
	unlink(path);
	ok(pki_generate_files(dir, "host-1", NULL) == ERR_EXISTS,
	   "refused also with the secret key alone");
}

int main(int argc, char **argv)
{
	(void)argc;
	top = tap_find_top(argv[0]);
	test_vector_keys();
	load_sig_vectors();
	test_sig_vectors();
	test_forgeries();
	test_fingerprint();
	test_names_and_strings();
	test_keyfile_line();
	test_generate();
	test_bad_keys();
	test_key_files();
	test_write_and_generate_files();
	pki_secret_release(&vsec);
	for (size_t i = 0; i < nvecs; i++)
		free(vecs[i].refcopy);
	free(vec_text);
	return tap_done();
}
