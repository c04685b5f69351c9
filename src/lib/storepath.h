/* storepath.h — store paths as Nix computes them.
 *
 * A store path is "<storedir>/<hash>-<name>", where <hash> is 32 nix32
 * characters (20 bytes, the XOR-fold of a SHA-256) and <name> is 1 to 211
 * characters from [A-Za-z0-9+-._?=].  As in Nix 2.8, a leading '.' is
 * allowed (even "." and "..": the hash prefix keeps them harmless).
 */
#ifndef YONDER_STOREPATH_H
#define YONDER_STOREPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"

#define STOREPATH_NAME_MAX 211

/* The store directory: $YONDER_STORE_DIR, else /yonder/store, with trailing
 * slashes removed.  ERR_INVALID when not absolute.  Static storage. */
int storedir_get(const char **out);

/* Checks a store path name as Nix does.  ERR_FORMAT names the bad
 * character or length. */
int storepath_check_name(const char *name, size_t len);

/* Checks that PATH is "<storedir>/<32 nix32>-<valid name>" with nothing
 * after the name.  ERR_FORMAT with a message naming PATH. */
int storepath_check(const char *storedir, const char *path);

/* Nix's makeStorePath: the path for TYPE ("source", "text:…", "output:out",
 * …), inner hash H and NAME, written as a new string to *OUT (the caller
 * frees it).  Checks NAME. */
int storepath_make(const char *storedir, const char *type, const uint8_t h[SHA256_LEN],
		   const char *name, char **out);

/* The path of a source item as `nix-store --add` (recursive, SHA-256 of the
 * NAR) computes it, with REFS (NREFS store paths) and whether it refers to
 * itself. */
int storepath_source(const char *storedir, const uint8_t nar_hash[SHA256_LEN], const char *name,
		     const char *const *refs, size_t nrefs, bool self_ref, char **out);

/* A fixed-output path: RECURSIVE uses the SHA-256 of the NAR (same as
 * storepath_source without references), flat the SHA-256 of the file's
 * bytes (`nix-store --add-fixed sha256`). */
int storepath_fixed(const char *storedir, bool recursive, const uint8_t h[SHA256_LEN],
		    const char *name, char **out);

/* A text path (`builtins.toFile`, `.drv` files): SHA-256 of the contents,
 * with REFS (sorted or not: they are sorted here). */
int storepath_text(const char *storedir, const uint8_t content_hash[SHA256_LEN], const char *name,
		   const char *const *refs, size_t nrefs, char **out);

/* Pointers into PATH (which storepath_check accepted): its base name
 * "<hash>-<name>" and its name part. */
const char *storepath_base(const char *path);
const char *storepath_name(const char *path);

#endif
