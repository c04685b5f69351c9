/* nar.h — the Nix ARchive: walking a file tree, writing, parsing (strictly)
 * and restoring.
 *
 * Everything is built around one event interface, struct nar_visitor.  A
 * producer (nar_walk over a real tree, nar_parse over a byte stream) calls
 * the visitor's functions in NAR order; a consumer (nar_writer serialises,
 * nar_restorer creates files, nar_tee feeds two consumers) implements them.
 * So "dump" is walk→writer, "hash" is walk→writer→hash sink, "restore" is
 * parse→restorer, and "add to store" is walk→tee(writer→hash, restorer):
 * one pass over the source, bounded memory whatever the size.
 *
 * Event order for one node: a regular file is file_begin, file_data*,
 * file_end; a symlink is one symlink call; a directory is dir_begin, then
 * per entry (in strictly increasing byte order of names) entry_begin(name),
 * the entry's node, entry_end; then dir_end.  The root node has no entry.
 * Every function returns 0 or a negative error code with a message.
 */
#ifndef YONDER_NAR_H
#define YONDER_NAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "io.h"

#define NAR_MAGIC      "nix-archive-1"
#define NAR_MAX_NAME   255  /* bytes in an entry name */
#define NAR_MAX_TARGET 4095 /* bytes in a symlink target */
#define NAR_MAX_DEPTH  256  /* directory nesting below the root */

struct nar_visitor {
	void *ctx;
	int (*file_begin)(void *ctx, bool executable, uint64_t size);
	int (*file_data)(void *ctx, const void *p, size_t n);
	int (*file_end)(void *ctx);
	int (*symlink)(void *ctx, const char *target, size_t len);
	int (*dir_begin)(void *ctx);
	int (*entry_begin)(void *ctx, const char *name, size_t len);
	int (*entry_end)(void *ctx);
	int (*dir_end)(void *ctx);
};

/* Walks the tree at PATH (relative to DIRFD, or absolute; the root itself
 * is not followed if it is a symlink) and sends its events to V.  Regular
 * files keep only the owner-execute bit; sockets, FIFOs and devices are an
 * error naming the file. */
int nar_walk(int dirfd, const char *path, const struct nar_visitor *v);

/* Serialises events as NAR bytes into a sink. */
struct nar_writer {
	struct sink *out;
	bool started;      /* the magic has been written */
	uint64_t filesize; /* of the file being written, for its padding */
	struct nar_visitor v;
};
void nar_writer_init(struct nar_writer *w, struct sink *out);

/* Feeds every event to A then B. */
struct nar_tee {
	const struct nar_visitor *a, *b;
	struct nar_visitor v;
};
void nar_tee_init(struct nar_tee *t, const struct nar_visitor *a, const struct nar_visitor *b);

/* Parses one NAR from R, strictly, sending its events to V (which may be
 * NULL to only check the NAR).  Rejects, with the byte offset and what was
 * expected: bad magic, unknown or misplaced tags, duplicate fields, bad
 * entry names (empty, ".", "..", containing '/' or NUL, longer than
 * NAR_MAX_NAME), names not strictly increasing, empty / NUL-containing /
 * over-long symlink targets, a non-empty executable marker, non-zero
 * padding, nesting deeper than NAR_MAX_DEPTH, truncation.  Does not look
 * past the NAR's last byte: the caller checks for trailing bytes. */
int nar_parse(struct reader *r, const struct nar_visitor *v);

/* Creates the tree described by the events at NAME relative to DIRFD.
 * Nothing there may exist; nothing is ever followed or overwritten
 * (O_EXCL|O_NOFOLLOW, mkdirat/symlinkat).  With NAR_CANONICAL, files get
 * modes 0444/0555, directories 0555 and every mtime is 1 (the store's
 * canonical form); otherwise files are 0666/0777 and directories 0777,
 * less the umask.  On error the caller removes NAME (rm_rf_at). */
enum { NAR_CANONICAL = 1 };
struct nar_restorer {
	int rootfd;       /* DIRFD given at init, not owned */
	const char *name; /* NAME given at init, not owned */
	unsigned flags;
	int depth; /* number of open directories in dirs[] */
	int dirs[NAR_MAX_DEPTH + 2];
	char entry[NAR_MAX_NAME + 1];
	int filefd;
	bool created; /* NAME was created by us (so ours to remove) */
	struct nar_visitor v;
};
void nar_restorer_init(struct nar_restorer *t, int dirfd, const char *name, unsigned flags);
/* Closes whatever is still open (after an error). */
void nar_restorer_release(struct nar_restorer *t);

/* Writes the NAR of PATH to FD. */
int nar_dump_to_fd(const char *path, int fd);

/* SHA-256 and size of PATH's NAR. */
int nar_hash_path(int dirfd, const char *path, uint8_t hash[SHA256_LEN], uint64_t *size);

/* Restores one NAR read from R at DEST (which must not exist), requiring the
 * input to end right after it.  On any error DEST is removed and the message
 * names the byte offset. */
int nar_restore(struct reader *r, const char *dest, unsigned flags);

#endif
