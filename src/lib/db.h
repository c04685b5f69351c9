/* db.h — the store database: which store paths are valid, and what is
 * known about each.
 *
 * The database is SQLite at $YONDER_STATE_DIR/db/db.sqlite (the caller
 * passes the state directory), in WAL mode with foreign keys on,
 * synchronous=FULL (a commit is durable) and a busy timeout of 60 s, so
 * that concurrent processes wait for each other instead of failing.  Every
 * write is one "BEGIN IMMEDIATE" transaction, so a writer never has to
 * upgrade a read lock (which SQLite cannot wait for in WAL mode).
 *
 * Schema (PRAGMA user_version = DB_SCHEMA_VERSION):
 *
 *   Config(name TEXT PRIMARY KEY, value TEXT NOT NULL)
 *     -- "storeDir": the store directory the database was created for; a
 *     -- database is never opened for another store directory.
 *   ValidPaths(id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL,
 *              hash TEXT NOT NULL,            -- "sha256:<nix32>" of the NAR
 *              narSize INTEGER NOT NULL, deriver TEXT,
 *              registrationTime INTEGER NOT NULL, ca TEXT, builtBy TEXT)
 *   Refs(referrer  -> ValidPaths ON DELETE CASCADE,
 *        reference -> ValidPaths ON DELETE RESTRICT,
 *        PRIMARY KEY(referrer, reference))
 *   Signatures(pathId -> ValidPaths ON DELETE CASCADE, sig TEXT,
 *              PRIMARY KEY(pathId, sig))
 *
 * Validity lives only here: a store path is valid exactly when it has a
 * ValidPaths row.  A path may refer to itself; a path that another valid
 * path refers to cannot be deleted.
 *
 * All functions return 0 or a negative ERR_* code with a message (err.h).
 */
#ifndef YONDER_DB_H
#define YONDER_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"

#define DB_SCHEMA_VERSION  1
#define DB_BUSY_TIMEOUT_MS 60000

/* A growable list of strings (store paths, signatures).  The list owns its
 * strings. */
struct db_list {
	char **v;
	size_t n, cap;
};
#define DB_LIST_INIT                                                                               \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}
/* Appends a copy of S.  ERR_NOMEM. */
int db_list_push(struct db_list *l, const char *s);
/* Appends S itself (taking ownership; S is freed on failure). */
int db_list_push_owned(struct db_list *l, char *s);
bool db_list_contains(const struct db_list *l, const char *s);
void db_list_release(struct db_list *l);

/* What the database knows about one store path.  Every string is owned by
 * the struct (path_info_release frees them). */
struct path_info {
	char *path;
	uint8_t nar_hash[SHA256_LEN];
	uint64_t nar_size;
	char *deriver;             /* NULL when unknown */
	struct db_list refs;       /* store paths it refers to (itself included) */
	struct db_list sigs;       /* "<key name>:<base64>" */
	char *ca;                  /* content address ("fixed:r:sha256:…"), or NULL */
	char *built_by;            /* the machine that built it, or NULL */
	int64_t registration_time; /* seconds since the epoch; 0: now */
};
#define PATH_INFO_INIT                                                                             \
	{                                                                                          \
		NULL, {0}, 0, NULL, DB_LIST_INIT, DB_LIST_INIT, NULL, NULL, 0                      \
	}
void path_info_init(struct path_info *pi);
void path_info_release(struct path_info *pi);

struct db;

/* Opens (creating if needed) the database under STATE_DIR for the store
 * directory STORE_DIR: creates STATE_DIR and STATE_DIR/db when missing, the
 * schema when the database is new, and records STORE_DIR in it.  Refuses
 * (ERR_INVALID, naming both directories) a database created for another
 * store directory, and one with a newer schema.  *OUT is freed with
 * db_free(). */
int db_open(struct db **out, const char *state_dir, const char *store_dir);
void db_free(struct db *db);

/* Registers the N paths of INFOS as valid in one transaction.  Each
 * reference must be valid already or be one of INFOS; otherwise nothing
 * is registered and the message names the path and its reference.  A path
 * that is already valid keeps its row; only signatures and references it
 * lacks are added. */
int db_register(struct db *db, const struct path_info *infos, size_t n);

/* Adds the N signatures SIGS to the valid PATH in one transaction (a
 * signature already recorded is kept once).  ERR_NOTFOUND names PATH when
 * it is not valid: unlike db_register, this never makes a path valid (a
 * path deleted meanwhile stays deleted). */
int db_add_signatures(struct db *db, const char *path, const char *const *sigs, size_t n);

/* 1 when PATH is valid, 0 when not, or a negative error code. */
int db_is_valid(struct db *db, const char *path);

/* Fills OUT (initialised by the caller, released by the caller also on
 * failure) with what is known about PATH.  ERR_NOTFOUND names PATH when it
 * is not valid. */
int db_query_info(struct db *db, const char *path, struct path_info *out);

/* Appends to OUT the valid paths that refer to PATH (itself included when
 * it refers to itself), sorted.  ERR_NOTFOUND when PATH is not valid. */
int db_query_referrers(struct db *db, const char *path, struct db_list *out);

/* Appends to OUT the closure of the N paths (the paths and everything they
 * refer to, directly or not), each once, references before their
 * referrers: a depth-first walk from each of PATHS in turn, visiting
 * references in path order.  ERR_NOTFOUND names the first path of
 * PATHS that is not valid. */
int db_query_closure(struct db *db, const char *const *paths, size_t n, struct db_list *out);

/* Appends every valid path to OUT, sorted. */
int db_list_valid(struct db *db, struct db_list *out);

/* Makes the N paths invalid in one transaction.  References among the N
 * themselves (and self-references) do not count; if any other valid path
 * refers to one of them, nothing changes and ERR_REFERENCED names both.
 * ERR_NOTFOUND names a path that is not valid. */
int db_delete(struct db *db, const char *const *paths, size_t n);

/* Test hooks for the crash-safety and concurrency tests, honest and tiny:
 * when $YONDER_TEST_CRASH_AT equals POINT the process kills itself with
 * SIGKILL right here; when $YONDER_TEST_STOP_AT equals POINT it stops
 * itself with SIGSTOP (the test continues it with SIGCONT).  Points, in
 * the order of an add: "copied" (the temporary is complete), "renamed"
 * (in place, not synced, not registered), "synced",
 * "registered-before-commit" (inside the transaction), "registered". */
void db_test_point(const char *point);

#endif
