/* pki.h — Ed25519 keys, Nix's fingerprint of a store item, signatures.
 *
 * Formats (doc/KEYS.md): a public key is "NAME:base64(32-byte key)", a
 * secret key "NAME:base64(32-byte seed, then the 32-byte public key)", as
 * `nix-store --generate-binary-cache-key` writes them; a signature is
 * "NAME:base64(64-byte Ed25519 signature)".  A key file holds one such line,
 * with or without a final newline, and nothing else.
 *
 * NAME is 1 to PKI_NAME_MAX printable ASCII characters (0x21-0x7e) other
 * than ':', not starting with '#'.  Base64 is the standard alphabet with
 * padding, in its one canonical form.
 *
 * Secret key bytes live only in struct pki_secret and in buffers this
 * module wipes (OPENSSL_cleanse) before freeing; pki_secret_release wipes
 * the struct.  Every function returns 0 or a negative ERR_* code with a
 * message (err.h).
 */
#ifndef YONDER_PKI_H
#define YONDER_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hash.h"

#define PKI_NAME_MAX   128
#define PKI_PUBLIC_LEN 32
#define PKI_SEED_LEN   32
#define PKI_SECRET_LEN 64 /* seed followed by the public key */
#define PKI_SIG_LEN    64
/* Longest "NAME:base64" of a key or signature, without the NUL. */
#define PKI_STR_MAX (PKI_NAME_MAX + 1 + 88)
/* Key files are read up to this many bytes; a longer file is malformed. */
#define PKI_KEYFILE_MAX 4096

struct pki_public {
	char name[PKI_NAME_MAX + 1];
	uint8_t key[PKI_PUBLIC_LEN];
};

struct pki_secret {
	char name[PKI_NAME_MAX + 1];
	uint8_t key[PKI_SECRET_LEN];
};

/* Wipes K (safe on a zeroed or already wiped struct). */
void pki_secret_release(struct pki_secret *k);

/* Checks a key name (LEN bytes at NAME).  ERR_FORMAT saying what is wrong
 * (empty, too long, the bad character and its position). */
int pki_name_check(const char *name, size_t len);

/* Parses "NAME:base64" (LEN bytes at S, no newline) into *OUT.  WHAT names
 * the input in messages ("FILE:LINE", "standard input").  ERR_FORMAT. */
int pki_public_parse(struct pki_public *out, const char *s, size_t len, const char *what);

/* Parses a secret key string as above; also checks that its public half is
 * the public key of its seed.  *OUT must be wiped by the caller
 * (pki_secret_release), also on failure. */
int pki_secret_parse(struct pki_secret *out, const char *s, size_t len, const char *what);

/* Splits the text of a key file (LEN bytes at TEXT): one line, an optional
 * final "\n", nothing else.  Sets *LINELEN to the length of the line.
 * ERR_FORMAT naming "WHAT:LINE" (an empty file, a NUL or CR, a second
 * line). */
int pki_keyfile_line(const char *text, size_t len, const char *what, size_t *linelen);

/* Reads the public key file PATH (not following a final symlink, at most
 * PKI_KEYFILE_MAX bytes).  ERR_NOTFOUND/ERR_IO name PATH; ERR_FORMAT
 * names "PATH:LINE". */
int pki_public_load(struct pki_public *out, const char *path);

/* Reads the secret key file PATH like pki_public_load, and first refuses
 * (ERR_INVALID, naming PATH and its mode) a file that is not a regular file
 * or that grants any permission to group or others.  The file's bytes are
 * wiped after parsing; *OUT must be wiped by the caller, also on failure. */
int pki_secret_load(struct pki_secret *out, const char *path);

/* The public key of a secret key. */
void pki_secret_public(const struct pki_secret *sec, struct pki_public *out);

/* Makes a new key pair named NAME from the system's random source.  *SEC
 * must be wiped by the caller, also on failure. */
int pki_generate(struct pki_secret *sec, struct pki_public *pub, const char *name);

/* Writes "NAME:base64" of the key and a NUL to OUT.  The caller wipes OUT
 * after using the secret form (OPENSSL_cleanse). */
void pki_public_format(const struct pki_public *k, char out[PKI_STR_MAX + 1]);
void pki_secret_format(const struct pki_secret *k, char out[PKI_STR_MAX + 1]);

/* true when A and B are the same key (name and bytes). */
bool pki_public_equal(const struct pki_public *a, const struct pki_public *b);

/* A cap for fingerprint buffers (a path with some 50,000 references). */
#define PKI_FINGERPRINT_MAX (16u << 20)

/* Appends to OUT Nix's fingerprint of a store item:
 * "1;<path>;sha256:<nix32 nar hash>;<nar size>;<refs sorted by bytes,
 * joined by ','>".  The NREFS references need not be sorted (a sorted copy
 * is used; REFS is not changed).  ERR_INVALID when PATH or a reference is
 * empty or contains ';' or ','. */
int pki_fingerprint(struct buf *out, const char *path, const uint8_t nar_hash[SHA256_LEN],
		    uint64_t nar_size, const char *const *refs, size_t nrefs);

/* Signs the FPLEN bytes at FP: *OUT is a new string "NAME:base64" (the
 * caller frees it). */
int pki_sign(const struct pki_secret *k, const char *fp, size_t fplen, char **out);

/* Splits a signature string SIG into its name (copied to NAME, which has
 * room for PKI_NAME_MAX + 1 bytes) and its 64 bytes.  ERR_FORMAT naming
 * SIG (shortened if long) when malformed. */
int pki_sig_parse(const char *sig, char name[PKI_NAME_MAX + 1], uint8_t bytes[PKI_SIG_LEN]);

/* Checks the signature string SIG over the FPLEN bytes at FP with K:
 * 0 when SIG is named K->name and is a valid signature by K; ERR_FORMAT
 * when SIG is malformed; ERR_MISMATCH when it is named otherwise or does
 * not verify. */
int pki_verify(const struct pki_public *k, const char *fp, size_t fplen, const char *sig);

/* The configuration directory: $YONDER_CONFIG_DIR, else /etc/yonder.
 * ERR_INVALID when it is set but empty or not absolute. */
int pki_config_dir(const char **out);

/* Flags of pki_write_file. */
enum {
	PKI_WRITE_REPLACE = 1, /* replace an existing file (else ERR_EXISTS) */
};

/* Writes the LEN bytes at DATA to the file NAME in the directory DIRFD
 * (DIRNAME names it in messages) with MODE, atomically: a new temporary
 * file in the same directory (O_EXCL|O_NOFOLLOW|O_CLOEXEC), fsync, then a
 * rename that replaces NAME only with PKI_WRITE_REPLACE (otherwise an
 * existing NAME is ERR_EXISTS, naming it, and is left alone), then an fsync
 * of the directory.  The temporary file is removed on failure.  Shared by
 * the key and ACL writers. */
int pki_write_file(int dirfd, const char *dirname, const char *name, const void *data, size_t len,
		   unsigned mode, int flags);

/* Writes a new key pair named NAME to DIR/signing-key.sec (0400) and
 * DIR/signing-key.pub (0444), creating DIR (0755) if missing.  Refuses
 * (ERR_EXISTS, naming the file) when either file exists; never replaces
 * one.  On success *PUB (when not NULL) is the new public key. */
int pki_generate_files(const char *dir, const char *name, struct pki_public *pub);

#define PKI_SECRET_FILE "signing-key.sec"
#define PKI_PUBLIC_FILE "signing-key.pub"

#endif
