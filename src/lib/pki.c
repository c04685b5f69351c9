/* pki.c — Ed25519 keys and signatures in Nix's formats (see pki.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "err.h"
#include "hash.h"
#include "io.h"
#include "pki.h"

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* A byte of untrusted input as it can appear in a one-line message. */
static const char *show_char(unsigned char c, char out[8])
{
	if (c > 0x20 && c < 0x7f)
		snprintf(out, 8, "'%c'", c);
	else
		snprintf(out, 8, "0x%02x", c);
	return out;
}

static int b64_value(unsigned char c)
{
	const char *p = c ? memchr(b64_chars, c, 64) : NULL;

	return p ? (int)(p - b64_chars) : -1;
}

/* Strict base64: the standard alphabet, '=' padding to a multiple of 4, no
 * whitespace, and zero bits where the last character has more bits than
 * the data needs (so that each byte string has exactly one encoding).
 * WHAT and FIELD ("public key", "signature") name the input.  The decoded
 * bytes go straight to OUT (N bytes); nothing else holds them. */
static int b64_decode(const char *s, size_t len, uint8_t *out, size_t n, const char *what,
		      const char *field)
{
	size_t pad = 0, nbytes;
	uint32_t acc = 0;
	size_t bits = 0, o = 0;
	char show[8];

	for (size_t i = 0; i < len; i++)
		if (s[i] != '=' && b64_value((unsigned char)s[i]) < 0)
			return err_set(ERR_FORMAT,
				       "%s: %s: bad base64 character %s at position %zu", what,
				       field, show_char((unsigned char)s[i], show), i + 1);
	while (pad < 2 && pad < len && s[len - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++)
		if (s[i] == '=')
			return err_set(ERR_FORMAT,
				       "%s: %s: base64 padding '=' at position %zu, before the end",
				       what, field, i + 1);
	if (len == 0 || len % 4 != 0)
		return err_set(ERR_FORMAT,
			       "%s: %s: base64 of %zu characters, expected a multiple of 4 (%zu "
			       "for %zu bytes)",
			       what, field, len, (n + 2) / 3 * 4, n);
	nbytes = len / 4 * 3 - pad;
	if (nbytes != n)
		return err_set(ERR_FORMAT, "%s: %s is %zu bytes long, expected %zu", what, field,
			       nbytes, n);
	for (size_t i = 0; i < len - pad; i++) {
		acc = (acc << 6) | (uint32_t)b64_value((unsigned char)s[i]);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	acc = 0;
	if (bits && (b64_value((unsigned char)s[len - pad - 1]) & ((1 << bits) - 1))) {
		OPENSSL_cleanse(out, n);
		return err_set(ERR_FORMAT,
			       "%s: %s: base64 is not in canonical form (non-zero padding bits)",
			       what, field);
	}
	return 0;
}

static void b64_encode(const uint8_t *p, size_t n, char *out)
{
	size_t o = 0, i;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[o++] = b64_chars[v >> 18];
		out[o++] = b64_chars[(v >> 12) & 63];
		out[o++] = b64_chars[(v >> 6) & 63];
		out[o++] = b64_chars[v & 63];
	}
	if (n - i == 1) {
		out[o++] = b64_chars[p[i] >> 2];
		out[o++] = b64_chars[(p[i] & 3) << 4];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 8 | p[i + 1];

		out[o++] = b64_chars[v >> 10];
		out[o++] = b64_chars[(v >> 4) & 63];
		out[o++] = b64_chars[(v & 15) << 2];
		out[o++] = '=';
	}
	out[o] = '\0';
}

void pki_secret_release(struct pki_secret *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}

int pki_name_check(const char *name, size_t len)
{
	char show[8];

	if (len == 0)
		return err_set(ERR_FORMAT, "empty key name");
	if (len > PKI_NAME_MAX)
		return err_set(ERR_FORMAT, "key name of %zu characters, at most %d allowed", len,
			       PKI_NAME_MAX);
	if (name[0] == '#')
		return err_set(ERR_FORMAT, "key name '%.*s' starts with '#'", (int)len, name);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c >= 0x7f || c == ':')
			return err_set(ERR_FORMAT,
				       "key name: bad character %s at position %zu (allowed: "
				       "printable ASCII except ':' and space)",
				       show_char(c, show), i + 1);
	}
	return 0;
}

/* Splits "NAME:REST": *NAMELEN and *REST. */
static int split_name(const char *s, size_t len, const char *what, const char *field,
		      size_t *namelen, const char **rest)
{
	const char *colon = memchr(s, ':', len);
	int r;

	if (!colon) {
		if (len == 0)
			return err_set(ERR_FORMAT, "%s: empty %s, expected NAME:base64", what,
				       field);
		return err_set(ERR_FORMAT, "%s: %s has no ':' between its name and its base64",
			       what, field);
	}
	if ((r = pki_name_check(s, (size_t)(colon - s))) != 0)
		return err_prefix(r, "%s: %s", what, field);
	*namelen = (size_t)(colon - s);
	*rest = colon + 1;
	return 0;
}

int pki_public_parse(struct pki_public *out, const char *s, size_t len, const char *what)
{
	const char *b64;
	size_t namelen;
	int r;

	if ((r = split_name(s, len, what, "public key", &namelen, &b64)) != 0)
		return r;
	if (len - namelen - 1 == hash_base64_len(PKI_SECRET_LEN))
		return err_set(ERR_FORMAT,
			       "%s: public key is 64 bytes long, expected 32 (this looks like a "
			       "secret key: use the .pub file, and keep the secret one secret)",
			       what);
	if ((r = b64_decode(b64, len - namelen - 1, out->key, PKI_PUBLIC_LEN, what,
			    "public key")) != 0)
		return r;
	memcpy(out->name, s, namelen);
	out->name[namelen] = '\0';
	return 0;
}

/* The public key of the 32-byte SEED. */
static int seed_public(const uint8_t seed[PKI_SEED_LEN], uint8_t pub[PKI_PUBLIC_LEN])
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, PKI_SEED_LEN);
	size_t len = PKI_PUBLIC_LEN;
	int ok;

	if (!pkey) {
		ERR_clear_error();
		return err_set(ERR_INTERNAL, "libcrypto cannot make an Ed25519 key");
	}
	ok = EVP_PKEY_get_raw_public_key(pkey, pub, &len) == 1 && len == PKI_PUBLIC_LEN;
	EVP_PKEY_free(pkey);
	if (!ok) {
		ERR_clear_error();
		return err_set(ERR_INTERNAL, "libcrypto cannot derive an Ed25519 public key");
	}
	return 0;
}

int pki_secret_parse(struct pki_secret *out, const char *s, size_t len, const char *what)
{
	uint8_t pub[PKI_PUBLIC_LEN];
	const char *b64;
	size_t namelen;
	int r;

	if ((r = split_name(s, len, what, "secret key", &namelen, &b64)) != 0)
		return r;
	if ((r = b64_decode(b64, len - namelen - 1, out->key, PKI_SECRET_LEN, what,
			    "secret key")) != 0)
		return r;
	memcpy(out->name, s, namelen);
	out->name[namelen] = '\0';
	if ((r = seed_public(out->key, pub)) != 0)
		return r;
	if (CRYPTO_memcmp(pub, out->key + PKI_SEED_LEN, PKI_PUBLIC_LEN) != 0)
		return err_set(ERR_FORMAT,
			       "%s: secret key: its second half is not the public key of its first "
			       "half (the seed)",
			       what);
	return 0;
}

int pki_keyfile_line(const char *text, size_t len, const char *what, size_t *linelen)
{
	const char *nl = memchr(text, '\n', len);

	if (len == 0)
		return err_set(ERR_FORMAT, "%s:1: empty, expected one line NAME:base64", what);
	if (nl && (size_t)(nl - text) + 1 < len)
		return err_set(ERR_FORMAT,
			       "%s:2: data after the key (a key file holds exactly one line)",
			       what);
	*linelen = nl ? (size_t)(nl - text) : len;
	if (*linelen == 0)
		return err_set(ERR_FORMAT, "%s:1: empty line, expected NAME:base64", what);
	return 0;
}

/* Reads the whole of the small file PATH into TEXT (MAX bytes of room).
 * With SECRET, refuses files open to group or others. */
static int read_keyfile(const char *path, char *text, size_t max, size_t *lenp, bool secret)
{
	struct stat st;
	size_t len = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		if (errno == ELOOP)
			return err_set(ERR_INVALID,
				       "key file '%s' is a symbolic link (key files are not "
				       "followed through links)",
				       path);
		return err_sys(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "cannot open key file '%s'",
			       path);
	}
	if (fstat(fd, &st) != 0) {
		r = err_sys(ERR_IO, "cannot stat key file '%s'", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = err_set(ERR_INVALID, "key file '%s' is not a regular file", path);
		goto out;
	}
	if (secret && (st.st_mode & 077)) {
		r = err_set(ERR_INVALID,
			    "secret key file '%s' has mode %04o: group or others may access it; "
			    "refusing to use it (chmod 0400 it)",
			    path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, text + len, max - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = err_sys(ERR_IO, "cannot read key file '%s'", path);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == max) {
			r = err_set(ERR_FORMAT, "%s: longer than %zu bytes: not a key file", path,
				    max - 1);
			goto out;
		}
	}
	*lenp = len;
out:
	close(fd);
	return r;
}

int pki_public_load(struct pki_public *out, const char *path)
{
	char text[PKI_KEYFILE_MAX + 1], what[4096 + 8];
	size_t len, linelen;
	int r;

	if ((r = read_keyfile(path, text, sizeof(text), &len, false)) != 0)
		return r;
	if ((r = pki_keyfile_line(text, len, path, &linelen)) != 0)
		return r;
	snprintf(what, sizeof(what), "%s:1", path);
	return pki_public_parse(out, text, linelen, what);
}

int pki_secret_load(struct pki_secret *out, const char *path)
{
	char text[PKI_KEYFILE_MAX + 1], what[4096 + 8];
	size_t len = 0, linelen;
	int r;

	if ((r = read_keyfile(path, text, sizeof(text), &len, true)) == 0 &&
	    (r = pki_keyfile_line(text, len, path, &linelen)) == 0) {
		snprintf(what, sizeof(what), "%s:1", path);
		r = pki_secret_parse(out, text, linelen, what);
	}
	OPENSSL_cleanse(text, sizeof(text));
	return r;
}

void pki_secret_public(const struct pki_secret *sec, struct pki_public *out)
{
	memcpy(out->name, sec->name, sizeof(out->name));
	memcpy(out->key, sec->key + PKI_SEED_LEN, PKI_PUBLIC_LEN);
}

int pki_generate(struct pki_secret *sec, struct pki_public *pub, const char *name)
{
	size_t len = strlen(name);
	int r;

	if ((r = pki_name_check(name, len)) != 0)
		return err_prefix(r, "key name '%s'", name);
	memset(sec, 0, sizeof(*sec));
	memcpy(sec->name, name, len + 1);
	if (RAND_priv_bytes(sec->key, PKI_SEED_LEN) != 1) {
		ERR_clear_error();
		return err_set(ERR_INTERNAL, "libcrypto's random generator failed");
	}
	if ((r = seed_public(sec->key, sec->key + PKI_SEED_LEN)) != 0)
		return r;
	pki_secret_public(sec, pub);
	return 0;
}

void pki_public_format(const struct pki_public *k, char out[PKI_STR_MAX + 1])
{
	size_t n = strlen(k->name);

	memcpy(out, k->name, n);
	out[n] = ':';
	b64_encode(k->key, PKI_PUBLIC_LEN, out + n + 1);
}

void pki_secret_format(const struct pki_secret *k, char out[PKI_STR_MAX + 1])
{
	size_t n = strlen(k->name);

	memcpy(out, k->name, n);
	out[n] = ':';
	b64_encode(k->key, PKI_SECRET_LEN, out + n + 1);
}

bool pki_public_equal(const struct pki_public *a, const struct pki_public *b)
{
	return !strcmp(a->name, b->name) && !memcmp(a->key, b->key, PKI_PUBLIC_LEN);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int fp_check(const char *what, const char *s)
{
	if (!*s || strpbrk(s, ";,"))
		return err_set(ERR_INVALID, "fingerprint: %s '%s' is empty or contains ';' or ','",
			       what, s);
	return 0;
}

int pki_fingerprint(struct buf *out, const char *path, const uint8_t nar_hash[SHA256_LEN],
		    uint64_t nar_size, const char *const *refs, size_t nrefs)
{
	char h[SHA256_NIX32_LEN + 1];
	const char **sorted = NULL;
	int r;

	if ((r = fp_check("store path", path)) != 0)
		return r;
	for (size_t i = 0; i < nrefs; i++)
		if ((r = fp_check("reference", refs[i])) != 0)
			return r;
	if (nrefs) {
		if (!(sorted = malloc(nrefs * sizeof(*sorted))))
			return err_set(ERR_NOMEM, "fingerprint: out of memory");
		memcpy(sorted, refs, nrefs * sizeof(*sorted));
		qsort(sorted, nrefs, sizeof(*sorted), cmp_str);
	}
	hash_to_nix32(nar_hash, SHA256_LEN, h);
	r = buf_printf(out, "1;%s;sha256:%s;%llu;", path, h, (unsigned long long)nar_size);
	/* References are a set: a repeated one is written once. */
	for (size_t i = 0; r == 0 && i < nrefs; i++) {
		if (i > 0 && !strcmp(sorted[i], sorted[i - 1]))
			continue;
		if (i > 0)
			r = buf_putc(out, ',');
		if (r == 0)
			r = buf_puts(out, sorted[i]);
	}
	free(sorted);
	if (r != 0)
		return err_prefix(r, "fingerprint of '%s'", path);
	return 0;
}

int pki_sign(const struct pki_secret *k, const char *fp, size_t fplen, char **out)
{
	uint8_t sig[PKI_SIG_LEN];
	size_t siglen = sizeof(sig), n = strlen(k->name);
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx = NULL;
	char *s;
	int r = ERR_INTERNAL;

	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, k->key, PKI_SEED_LEN);
	if (!pkey || !(ctx = EVP_MD_CTX_new()) ||
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)fp, fplen) != 1 ||
	    siglen != PKI_SIG_LEN) {
		ERR_clear_error();
		r = err_set(ERR_INTERNAL, "libcrypto cannot sign with key '%s'", k->name);
		goto out;
	}
	if (!(s = malloc(n + 1 + hash_base64_len(PKI_SIG_LEN) + 1))) {
		r = err_set(ERR_NOMEM, "signing: out of memory");
		goto out;
	}
	memcpy(s, k->name, n);
	s[n] = ':';
	b64_encode(sig, PKI_SIG_LEN, s + n + 1);
	*out = s;
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return r;
}

int pki_sig_parse(const char *sig, char name[PKI_NAME_MAX + 1], uint8_t bytes[PKI_SIG_LEN])
{
	char what[64];
	size_t len = strlen(sig), namelen;
	const char *b64;
	int r;

	snprintf(what, sizeof(what), "signature '%.40s%s'", sig, len > 40 ? "..." : "");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)sig[i] < 0x20 || (unsigned char)sig[i] >= 0x7f) {
			snprintf(what, sizeof(what), "signature '%.*s...'", (int)(i < 40 ? i : 40),
				 sig);
			break;
		}
	if ((r = split_name(sig, len, what, "signature", &namelen, &b64)) != 0)
		return r;
	if ((r = b64_decode(b64, len - namelen - 1, bytes, PKI_SIG_LEN, what, "signature")) != 0)
		return r;
	memcpy(name, sig, namelen);
	name[namelen] = '\0';
	return 0;
}

int pki_verify(const struct pki_public *k, const char *fp, size_t fplen, const char *sig)
{
	char name[PKI_NAME_MAX + 1];
	uint8_t bytes[PKI_SIG_LEN];
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx = NULL;
	bool ready = false;
	int r, v = -1;

	if ((r = pki_sig_parse(sig, name, bytes)) != 0)
		return r;
	if (strcmp(name, k->name) != 0)
		return err_set(ERR_MISMATCH, "signature by key '%s', not by key '%s'", name,
			       k->name);
	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->key, PKI_PUBLIC_LEN);
	if (pkey && (ctx = EVP_MD_CTX_new()) &&
	    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1) {
		ready = true;
		v = EVP_DigestVerify(ctx, bytes, PKI_SIG_LEN, (const unsigned char *)fp, fplen);
	}
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	if (v == 1)
		return 0;
	if (ready)
		return err_set(ERR_MISMATCH, "signature by key '%s' does not verify with that key",
			       name);
	return err_set(ERR_INTERNAL, "libcrypto cannot verify with key '%s'", name);
}

int pki_config_dir(const char **out)
{
	const char *d = getenv("YONDER_CONFIG_DIR");

	if (!d) {
		*out = "/etc/yonder";
		return 0;
	}
	if (d[0] != '/')
		return err_set(ERR_INVALID, "YONDER_CONFIG_DIR '%s' is not an absolute path", d);
	*out = d;
	return 0;
}

int pki_write_file(int dirfd, const char *dirname, const char *name, const void *data, size_t len,
		   unsigned mode, int flags)
{
	static unsigned counter;
	char tmp[512];
	int fd = -1, r;

	for (int tries = 0;; tries++) {
		uint32_t rnd = 0;

		if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
			ERR_clear_error();
		snprintf(tmp, sizeof(tmp), ".%.200s.tmp-%ld-%u-%08x", name, (long)getpid(),
			 counter++, (unsigned)rnd);
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			break;
		if (errno != EEXIST || tries >= 100)
			return err_sys(ERR_IO, "cannot create '%s/%s'", dirname, tmp);
	}
	if ((r = write_all(fd, data, len, tmp)) != 0)
		goto fail;
	/* fchmod, not the open mode, so that the umask cannot change it. */
	if (fchmod(fd, mode) != 0) {
		r = err_sys(ERR_IO, "cannot chmod '%s/%s'", dirname, tmp);
		goto fail;
	}
	if (fsync(fd) != 0) {
		r = err_sys(ERR_IO, "cannot fsync '%s/%s'", dirname, tmp);
		goto fail;
	}
	r = close(fd);
	fd = -1;
	if (r != 0) {
		r = err_sys(ERR_IO, "cannot close '%s/%s'", dirname, tmp);
		goto fail;
	}
	if (flags & PKI_WRITE_REPLACE) {
		if (renameat(dirfd, tmp, dirfd, name) != 0) {
			r = err_sys(ERR_IO, "cannot rename '%s/%s' to '%s'", dirname, tmp, name);
			goto fail;
		}
	} else if (renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) != 0) {
		/* Some file systems lack RENAME_NOREPLACE; link(2) never
		 * replaces either. */
		if ((errno == EINVAL || errno == ENOSYS) &&
		    linkat(dirfd, tmp, dirfd, name, 0) == 0) {
			unlinkat(dirfd, tmp, 0);
		} else {
			r = err_sys(errno == EEXIST ? ERR_EXISTS : ERR_IO,
				    "cannot create '%s/%s'%s", dirname, name,
				    errno == EEXIST ? " (it exists; not replacing it)" : "");
			goto fail;
		}
	}
	if (fsync(dirfd) != 0)
		return err_sys(ERR_IO, "cannot fsync directory '%s'", dirname);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	return r;
}

int pki_generate_files(const char *dir, const char *name, struct pki_public *pub)
{
	static const char *const files[] = {PKI_SECRET_FILE, PKI_PUBLIC_FILE};
	struct pki_secret sec;
	struct pki_public p;
	char text[PKI_STR_MAX + 1];
	struct stat st;
	int dfd, r;

	memset(&sec, 0, sizeof(sec));
	if ((r = mkdir_p(dir, 0755)) != 0)
		return r;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_sys(ERR_IO, "cannot open directory '%s'", dir);
	for (size_t i = 0; i < 2; i++) {
		if (fstatat(dfd, files[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
			r = err_set(ERR_EXISTS,
				    "'%s/%s' exists: refusing to replace a key (remove both key "
				    "files first to make a new pair)",
				    dir, files[i]);
			goto out;
		}
		if (errno != ENOENT) {
			r = err_sys(ERR_IO, "cannot stat '%s/%s'", dir, files[i]);
			goto out;
		}
	}
	if ((r = pki_generate(&sec, &p, name)) != 0)
		goto out;
	pki_secret_format(&sec, text);
	r = pki_write_file(dfd, dir, PKI_SECRET_FILE, text, strlen(text), 0400, 0);
	OPENSSL_cleanse(text, sizeof(text));
	if (r != 0)
		goto out;
	pki_public_format(&p, text);
	if ((r = pki_write_file(dfd, dir, PKI_PUBLIC_FILE, text, strlen(text), 0444, 0)) != 0) {
		/* No half pair: the secret key just written goes too. */
		unlinkat(dfd, PKI_SECRET_FILE, 0);
		goto out;
	}
	if (pub)
		*pub = p;
out:
	pki_secret_release(&sec);
	close(dfd);
	return r;
}
