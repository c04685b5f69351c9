/* archive.h — streams of store items: yonder's signed archive format and
 * `nix-store --export`'s format, written and read.
 *
 * The formats are specified in doc/ARCHIVE.md.  In short, a yonder archive
 * is a header ("yonder-archive", version 1), then per item its path,
 * references, deriver, content address, NAR hash, NAR size, signatures,
 * the name of the machine that built it, and its NAR, then an end marker;
 * the whole optionally compressed as zstd frames, which the reader detects
 * from the first bytes.  The Nix format is the same items without hashes,
 * sizes or signatures, each NAR first.
 *
 * Reading is strict and bounded: every length is checked against a cap
 * before anything is allocated, every string is framed as in a NAR (u64
 * length, bytes, zero padding), and every error names the item (its store
 * path, or its position when the path is not known yet) and the reason.
 *
 * Every function returns 0 or a negative ERR_* code with a message.
 */
#ifndef YONDER_ARCHIVE_H
#define YONDER_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acl.h"
#include "db.h"
#include "io.h"
#include "pki.h"

struct store;

#define ARCHIVE_MAGIC   "yonder-archive"
#define ARCHIVE_VERSION 1
/* Caps on what one item may declare (checked before allocating). */
#define ARCHIVE_MAX_PATH     4096  /* bytes in a store path (or deriver) */
#define ARCHIVE_MAX_REFS     16384 /* references of one item */
#define ARCHIVE_MAX_SIGS     64    /* signatures of one item */
#define ARCHIVE_MAX_CA       1024  /* bytes in a content address */
#define ARCHIVE_MAX_BUILT_BY 255   /* bytes in a machine name */
/* Items in one stream: they are all held (and their temporaries locked)
 * until the one commit at the end. */
#define ARCHIVE_MAX_ITEMS 100000
/* The largest zstd window the reader accepts (2^27 = 128 MiB, zstd's own
 * default limit), which bounds its memory. */
#define ARCHIVE_ZSTD_WINDOW_LOG_MAX 27
#define ARCHIVE_ZSTD_DEFAULT_LEVEL  3

enum archive_format {
	ARCHIVE_YONDER, /* doc/ARCHIVE.md */
	ARCHIVE_NIX,    /* `nix-store --export` of Nix 2.8: no signatures */
};

/* ---- writing --------------------------------------------------------- */

struct archive_writer;

/* Starts a stream in FORMAT on FD (WHAT names it in messages), compressed
 * with zstd at ZSTD_LEVEL (1 to 19; 0: not compressed), and writes the
 * header.  *OUT is freed with archive_writer_free(). */
int archive_writer_new(struct archive_writer **out, int fd, const char *what,
		       enum archive_format format, int zstd_level);

/* Writes one item: INFO's metadata (the yonder format writes INFO->refs
 * and INFO->sigs in the order given; the exporter sorts them), then the
 * NAR of the tree PATH (relative to DIRFD, or absolute), which must come
 * out INFO->nar_size bytes long (ERR_MISMATCH naming PATH otherwise: the
 * stream is then unusable). */
int archive_write_item(struct archive_writer *w, const struct path_info *info, int dirfd,
		       const char *path);

/* Writes one item whose NAR is the LEN bytes at NAR, as given: nothing is
 * checked, so that tests can write streams that lie (a NAR size or hash
 * that is not the NAR's, a NAR that is not one). */
int archive_write_item_nar(struct archive_writer *w, const struct path_info *info, const void *nar,
			   size_t len);

/* Writes the end marker, ends the zstd frame and flushes.  Nothing may be
 * written afterwards. */
int archive_writer_finish(struct archive_writer *w);
void archive_writer_free(struct archive_writer *w);

/* Writes the N PATHS of S (valid store paths) to W: with CLOSURE, their
 * closure; in both cases references before referrers.  In the yonder
 * format each item carries the signatures recorded for it and, unless one
 * is by KEY already, a new signature by KEY (which is not recorded); its
 * built-by name is the recorded one, or KEY's name when none is recorded
 * (the item was made here).  KEY may be NULL only for the Nix format.
 * Each exported path is appended to EXPORTED when it is not NULL. */
int archive_export(struct store *s, struct archive_writer *w, const char *const *paths, size_t n,
		   bool closure, const struct pki_secret *key, struct db_list *exported);

/* ---- reading --------------------------------------------------------- */

struct archive_import_opts {
	enum archive_format format;
	/* The keys trusted; each item of a yonder archive needs a valid
	 * signature by one of them over its fingerprint (pki_fingerprint). */
	const struct acl *acl;
	/* Named in messages when ACL holds no key ("… (the ACL FILE holds no
	 * key)"); may be NULL. */
	const char *acl_file;
	/* Accept items without signatures: required for the Nix format
	 * (which carries none), refused for the yonder format. */
	bool trusted;
};

/* Reads a whole stream from IN (compressed or not) and makes its items
 * valid in S, all in one transaction or none: before anything becomes
 * valid, each item's signature is checked against O->acl, its NAR is
 * restored under a temporary name while being hashed, its hash and size
 * are checked against the signed values, and each of its references must
 * be valid already, itself, or an earlier item of the stream.  An item
 * that is valid already is checked the same way but not written (its
 * record is left as it is).  On any error the store is as before and the
 * message names the item and the reason.  Appends every path of the
 * stream, in stream order, to PATHS (initialised and released by the
 * caller). */
int archive_import(struct store *s, struct reader *in, const struct archive_import_opts *o,
		   struct db_list *paths);

/* Checks a stream exactly as archive_import would for a store at
 * STORE_DIR in which no path is valid, without touching any store: the
 * NARs are parsed and hashed, not restored.  For the fuzz target and the
 * tests.  Appends the stream's paths to PATHS. */
int archive_check(const char *store_dir, struct reader *in, const struct archive_import_opts *o,
		  struct db_list *paths);

#endif
