#include "hash.h"

#include <openssl/evp.h>
#include <string.h>

#include "err.h"

static const char nix32_chars[] = "0123456789abcdfghijklmnpqrsvwxyz";
static const char b16_chars[] = "0123456789abcdef";

int sha256_init(struct sha256 *h)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	h->ctx = NULL;
	if (!c)
		return err_set(ERR_NOMEM, "cannot allocate a SHA-256 context");
	if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(c);
		return err_set(ERR_INTERNAL, "cannot start SHA-256");
	}
	h->ctx = c;
	return 0;
}

void sha256_update(struct sha256 *h, const void *p, size_t n)
{
	if (n)
		EVP_DigestUpdate(h->ctx, p, n);
}

void sha256_final(struct sha256 *h, uint8_t out[SHA256_LEN])
{
	unsigned int len = SHA256_LEN;

	EVP_DigestFinal_ex(h->ctx, out, &len);
	sha256_release(h);
}

void sha256_release(struct sha256 *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

int sha256_buf(const void *p, size_t n, uint8_t out[SHA256_LEN])
{
	unsigned int len = SHA256_LEN;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1)
		return err_set(ERR_INTERNAL, "SHA-256 failed");
	return 0;
}

size_t hash_base16_len(size_t n)
{
	return 2 * n;
}

size_t hash_nix32_len(size_t n)
{
	return (n * 8 - 1) / 5 + 1;
}

size_t hash_base64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void hash_to_base16(const uint8_t *h, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = b16_chars[h[i] >> 4];
		out[2 * i + 1] = b16_chars[h[i] & 15];
	}
	out[2 * n] = '\0';
}

void hash_to_nix32(const uint8_t *h, size_t n, char *out)
{
	size_t len = hash_nix32_len(n);

	for (size_t k = 0; k < len; k++) {
		size_t digit = len - 1 - k;
		size_t bit = digit * 5, i = bit / 8, j = bit % 8;
		unsigned c = h[i] >> j;

		if (i + 1 < n)
			c |= (unsigned)h[i + 1] << (8 - j);
		out[k] = nix32_chars[c & 31];
	}
	out[len] = '\0';
}

void hash_to_base64(const uint8_t *h, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, h, (int)n);
}

void sha256_format(const uint8_t h[SHA256_LEN], enum hash_base base, char *out)
{
	switch (base) {
	case HASH_BASE16: hash_to_base16(h, SHA256_LEN, out); break;
	case HASH_NIX32: hash_to_nix32(h, SHA256_LEN, out); break;
	case HASH_BASE64: hash_to_base64(h, SHA256_LEN, out); break;
	case HASH_SRI:
		memcpy(out, "sha256-", 7);
		hash_to_base64(h, SHA256_LEN, out + 7);
		break;
	}
}

int hash_from_base16(const char *s, size_t len, uint8_t *out, size_t n)
{
	if (len != 2 * n)
		return err_set(ERR_FORMAT, "base16 hash '%.*s' has %zu characters, expected %zu",
			       (int)len, s, len, 2 * n);
	for (size_t i = 0; i < len; i++) {
		/* Upper case is accepted, as Nix does; only letters are folded. */
		int c = s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i];
		const char *p = c ? memchr(b16_chars, c, 16) : NULL;

		if (!p)
			return err_set(ERR_FORMAT, "base16 hash '%.*s': bad character '%c' at %zu",
				       (int)len, s, s[i], i);
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)((p - b16_chars) << 4);
		else
			out[i / 2] |= (uint8_t)(p - b16_chars);
	}
	return 0;
}

int hash_from_nix32(const char *s, size_t len, uint8_t *out, size_t n)
{
	if (len != hash_nix32_len(n))
		return err_set(ERR_FORMAT, "nix32 hash '%.*s' has %zu characters, expected %zu",
			       (int)len, s, len, hash_nix32_len(n));
	memset(out, 0, n);
	for (size_t k = 0; k < len; k++) {
		const char *p = s[k] ? memchr(nix32_chars, s[k], 32) : NULL;
		size_t digit = len - 1 - k, bit = digit * 5, i = bit / 8, j = bit % 8;
		unsigned v;

		if (!p)
			return err_set(ERR_FORMAT, "nix32 hash '%.*s': bad character '%c' at %zu",
				       (int)len, s, s[k], k);
		v = (unsigned)(p - nix32_chars);
		out[i] |= (uint8_t)(v << j);
		if (i + 1 < n)
			out[i + 1] |= (uint8_t)(v >> (8 - j));
		else if (v >> (8 - j))
			return err_set(ERR_FORMAT, "nix32 hash '%.*s': value out of range",
				       (int)len, s);
	}
	return 0;
}

int hash_from_base64(const char *s, size_t len, uint8_t *out, size_t n)
{
	unsigned char tmp[96];
	int got;
	size_t pad = 0;

	if (len != hash_base64_len(n) || len > 128 || n > 64)
		return err_set(ERR_FORMAT, "base64 hash '%.*s' has %zu characters, expected %zu",
			       (int)len, s, len, hash_base64_len(n));
	while (pad < len && s[len - 1 - pad] == '=')
		pad++;
	if (pad != (3 - n % 3) % 3)
		return err_set(ERR_FORMAT, "base64 hash '%.*s': bad padding", (int)len, s);
	got = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)len);
	if (got < 0 || (size_t)got - pad != n)
		return err_set(ERR_FORMAT, "base64 hash '%.*s': bad character", (int)len, s);
	memcpy(out, tmp, n);
	return 0;
}

int sha256_parse(const char *s, uint8_t out[SHA256_LEN])
{
	const char *p = s;
	size_t len;
	int r;

	if (strncmp(p, "sha256-", 7) == 0) {
		p += 7;
		len = strlen(p);
		r = hash_from_base64(p, len, out, SHA256_LEN);
	} else {
		if (strncmp(p, "sha256:", 7) == 0)
			p += 7;
		len = strlen(p);
		if (len == SHA256_B16_LEN)
			r = hash_from_base16(p, len, out, SHA256_LEN);
		else if (len == SHA256_NIX32_LEN)
			r = hash_from_nix32(p, len, out, SHA256_LEN);
		else if (len == SHA256_B64_LEN)
			r = hash_from_base64(p, len, out, SHA256_LEN);
		else
			return err_set(ERR_FORMAT,
				       "hash '%s': expected a SHA-256 in base16 (64 characters), "
				       "nix32 (52), base64 (44) or SRI (sha256-…)",
				       s);
	}
	if (r != 0)
		return err_prefix(r, "hash '%s'", s);
	return 0;
}

void hash_compress(const uint8_t *in, size_t n, uint8_t *out, size_t outlen)
{
	memset(out, 0, outlen);
	for (size_t i = 0; i < n; i++)
		out[i % outlen] ^= in[i];
}
