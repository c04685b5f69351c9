/* hash.h — SHA-256 and its printed forms (base16, nix32, base64/SRI).
 *
 * nix32 is Nix's base-32: alphabet 0123456789abcdfghijklmnpqrsvwxyz, the
 * digest read as one little-endian number, most significant 5 bits first.
 */
#ifndef YONDER_HASH_H
#define YONDER_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN       32
#define SHA256_B16_LEN   64
#define SHA256_NIX32_LEN 52
#define SHA256_B64_LEN   44
/* A store path's hash part: 20 bytes, 32 nix32 characters. */
#define PATH_HASH_LEN       20
#define PATH_HASH_NIX32_LEN 32

struct sha256 {
	void *ctx; /* EVP_MD_CTX */
};

/* Starts a SHA-256 computation.  ERR_NOMEM/ERR_INTERNAL on failure. */
int sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *p, size_t n);
/* Writes the digest and releases the context. */
void sha256_final(struct sha256 *h, uint8_t out[SHA256_LEN]);
/* Releases a context that will not be finalised (no-op when released). */
void sha256_release(struct sha256 *h);
/* One-shot SHA-256 of N bytes. */
int sha256_buf(const void *p, size_t n, uint8_t out[SHA256_LEN]);

enum hash_base { HASH_BASE16, HASH_NIX32, HASH_BASE64, HASH_SRI };

/* Length of the printed form of an N-byte digest (without the NUL). */
size_t hash_base16_len(size_t n);
size_t hash_nix32_len(size_t n);
size_t hash_base64_len(size_t n);

/* These write the printed form of the N-byte digest H and a NUL into OUT,
 * which has room for the length above plus one. */
void hash_to_base16(const uint8_t *h, size_t n, char *out);
void hash_to_nix32(const uint8_t *h, size_t n, char *out);
void hash_to_base64(const uint8_t *h, size_t n, char *out);

/* Formats a SHA-256 digest in BASE into OUT (at least 80 bytes): HASH_SRI
 * gives "sha256-<base64>", the others the bare encoding. */
void sha256_format(const uint8_t h[SHA256_LEN], enum hash_base base, char *out);

/* Decoders: S (LEN chars) must be exactly the encoding of an N-byte digest.
 * ERR_FORMAT (with a message naming the bad character) otherwise. */
int hash_from_base16(const char *s, size_t len, uint8_t *out, size_t n);
int hash_from_nix32(const char *s, size_t len, uint8_t *out, size_t n);
int hash_from_base64(const char *s, size_t len, uint8_t *out, size_t n);

/* Parses a SHA-256 in any form Nix accepts: base16 (64), nix32 (52),
 * base64 (44), each optionally prefixed by "sha256:", or SRI
 * "sha256-<base64>".  ERR_FORMAT names S on failure. */
int sha256_parse(const char *s, uint8_t out[SHA256_LEN]);

/* XOR-folds IN (N bytes) into OUT (OUTLEN bytes), as Nix compresses a
 * SHA-256 to a store path's 20-byte hash. */
void hash_compress(const uint8_t *in, size_t n, uint8_t *out, size_t outlen);

#endif
