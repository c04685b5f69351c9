/* store.h — the store: adding items, verifying, deleting, collecting
 * leftovers.
 *
 * Layout.  The store directory is $YONDER_STORE_DIR (storedir_get); the
 * state directory is $YONDER_STATE_DIR, default /var/yonder, holding the
 * database (db.h) at db/db.sqlite and the lock files under locks/.
 *
 * Validity lives only in the database.  An item is added thus:
 *   1. take the lock of a fresh temporary name ".tmp-<16 hex>" and keep it
 *      for as long as the temporary exists;
 *   2. one pass over the source: nar_walk → tee(NAR writer → SHA-256,
 *      canonical restorer into the temporary) — modes 0444/0555, mtime 1,
 *      no setuid/setgid/sticky, owned by us (the store owner); the hash
 *      runs on a second thread and the disk writes start as data arrives;
 *   3. compute the store path, take its lock ("<hash part>.lock");
 *   4. if the path is already valid: drop the temporary, done;
 *   5. otherwise remove any unregistered leftover at the final name,
 *      rename the temporary into place, syncfs() the store's file system
 *      once (no fsync per file: that one call makes the data and the
 *      rename durable), register in one transaction (durable on commit),
 *      unlock.
 * So a crash at any instant leaves at most an unregistered leftover — a
 * temporary whose lock is free, or a final name that is not valid — which
 * the next add of that path or store_gc() removes.  Two processes adding
 * the same item at once both copy it, but one registers it and the other
 * finds it valid and drops its copy.
 *
 * Locks are open-file-description fcntl locks (F_OFD_SETLK[W]) on files in
 * locks/, so the kernel releases them when a process dies, and two threads
 * or two handles of one process exclude each other too.  A lock file is
 * unlinked by whoever releases it; a taker checks, once it holds the lock,
 * that the file it locked is still the one at that name, and retries if
 * not.
 *
 * Every function returns 0 or a negative ERR_* code with a message.
 */
#ifndef YONDER_STORE_H
#define YONDER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "hash.h"

#define STORE_DEFAULT_STATE_DIR "/var/yonder"

/* $YONDER_STATE_DIR or /var/yonder, trailing slashes removed.  ERR_INVALID
 * when not absolute.  Static storage. */
int store_state_dir(const char **out);

struct store;

/* Opens the store of $YONDER_STORE_DIR with the state of
 * $YONDER_STATE_DIR, creating the directories and the database when
 * missing.  Free *OUT with store_free(). */
int store_open(struct store **out);
/* The same with explicit directories (both absolute). */
int store_open_at(struct store **out, const char *store_dir, const char *state_dir);
void store_free(struct store *s);

const char *store_dir(const struct store *s);
struct db *store_db(const struct store *s);

/* Checks that PATH is a store path of S's store (not a path inside one, not
 * a symlink to one): ERR_FORMAT naming PATH. */
int store_check_path(const struct store *s, const char *path);

enum {
	STORE_ADD_FLAT = 1, /* SRC is a file; its bytes are hashed, as
			     * `nix-store --add-fixed sha256` does */
};

/* The store path SRC would get under NAME in STORE_DIR, without touching
 * any store (so any STORE_DIR will do, /nix/store included).  Recursive
 * (like `nix-store --add`) unless FLAGS has STORE_ADD_FLAT.  *OUT is
 * allocated. */
int store_path_of(const char *store_dir, const char *src, const char *name, unsigned flags,
		  char **out);

/* Adds SRC (a file or tree; the root is not followed if it is a symlink,
 * except with STORE_ADD_FLAT, where SRC must lead to a regular file) to
 * the store under NAME, as described above, and sets *OUT to its store
 * path (allocated).  Adding an item that is already valid is not an
 * error. */
int store_add(struct store *s, const char *src, const char *name, unsigned flags, char **out);

/* Adds a regular file holding the LEN bytes of DATA under NAME as a text
 * path with the N references REFS (valid store paths), as Nix's
 * builtins.toFile and `.drv` files are stored.  *OUT is allocated. */
int store_add_text(struct store *s, const char *name, const void *data, size_t len,
		   const char *const *refs, size_t nrefs, char **out);

/* Staging: the general way to make new items valid.  A stage holds
 * temporaries (".tmp-<16 hex>" in the store directory, each under its own
 * lock for as long as it exists); the caller creates each item at its
 * temporary name, relative to store_dirfd(), in canonical form (modes
 * 0444/0555, mtime 1: nar_restorer with NAR_CANONICAL does that), then
 * commits them all at once.  store_add, store_add_text and archive import
 * are built on it. */
struct store_stage;
int store_dirfd(const struct store *s);
/* *OUT is freed with store_stage_free(). */
int store_stage_new(struct store *s, struct store_stage **out);
/* Reserves a new temporary and takes its lock; *NAME (owned by the stage,
 * valid until store_stage_free) is relative to store_dirfd(). */
int store_stage_tmp(struct store_stage *st, const char **name);
/* Makes the items valid: INFOS[i] describes the item created at the i-th
 * temporary (N must be the number of temporaries).  Takes the path locks
 * in sorted order, drops items already valid, removes unregistered
 * leftovers at the final names, renames, syncfs() once, and registers the
 * rest in one transaction (so references among them are fine).  On error
 * nothing of the batch is valid and nothing of it is left at a final
 * name. */
int store_stage_commit(struct store_stage *st, const struct path_info *infos, size_t n);
/* Removes the temporaries not committed and releases their locks. */
void store_stage_free(struct store_stage *st);

/* ---- For archive import (archive.c): restoring a NAR that arrives as a
 * stream into a stage's temporary, as fast as store_add copies a tree.
 * A hasher is a sink that hashes what it is given on a second thread (and
 * counts it), so that hashing overlaps the writes; store_hasher_finish
 * waits for it and writes the digest and the byte count.  A restorer is
 * nar_restorer with NAR_CANONICAL at TMP (relative to store_dirfd(S)) that
 * also starts the disk writes of file data as it goes, so that the
 * commit's syncfs() finds little left to write; *V is its visitor.  Both
 * are freed with their _free (NULL is a no-op); after an error the caller
 * frees the stage, which removes TMP. */
struct sink;
struct nar_visitor;
struct store_hasher;
struct store_restorer;
int store_hasher_new(struct store_hasher **out, struct sink **sink);
void store_hasher_finish(struct store_hasher *h, uint8_t digest[SHA256_LEN], uint64_t *size);
void store_hasher_free(struct store_hasher *h);
int store_restorer_new(struct store *s, const char *tmp, struct store_restorer **out,
		       const struct nar_visitor **v);
void store_restorer_free(struct store_restorer *r);

/* Checks one valid path: ERR_NOTFOUND when it is not valid or its files
 * are missing; with CHECK_CONTENTS, ERR_MISMATCH when its NAR hash or size
 * differs from the database (the message gives expected and got). */
int store_verify(struct store *s, const char *path, bool check_contents);

/* Deletes the N paths (files and database rows) together; refused
 * (ERR_REFERENCED, naming a referrer) when a valid path outside them
 * refers to one of them.  Rows go first, then files: a crash in between
 * leaves unregistered leftovers for store_gc(). */
int store_delete(struct store *s, const char *const *paths, size_t n);

/* Removes unregistered leftovers: temporaries whose lock is free, and
 * entries named like store paths that are not valid and whose path lock
 * is free; then stale lock files.  Appends what it removed (full names in
 * the store) to REMOVED.  Entries that look like neither are left alone. */
int store_gc(struct store *s, struct db_list *removed);

/* ---- Path locks, for builds that create items in place (builder.h).
 * The lock of PATH (a store path of S) is the one store_stage_commit and
 * store_delete take: while it is held nobody else adds, deletes or
 * collects PATH.  store_path_lock: 0 when taken (*FD set), 1 when busy and
 * !WAIT (*FD is -1), or an error.  Take several in sorted path order.  A
 * holder must not call store_stage_commit or store_delete on PATH itself
 * (they would wait for it).  store_path_unlock drops it (FD -1 is a no-op;
 * *FD becomes -1). */
int store_path_lock(struct store *s, const char *path, bool wait, int *fd);
void store_path_unlock(struct store *s, const char *path, int *fd);
/* The state directory S was opened with. */
const char *store_state_path(const struct store *s);
/* The descriptor of the locks directory (a forked child that only waits
 * for locks keeps it and closes everything else). */
int store_lock_dirfd(const struct store *s);

#endif
