#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "io.h"

enum {
	S_GET_ID,
	S_INSERT,
	S_ADD_REF,
	S_ADD_SIG,
	S_INFO,
	S_REFS_OF,
	S_SIGS_OF,
	S_REFERRERS_OF,
	S_ALL,
	S_ONE_REFERRER,
	S_DEL_REFS_FROM,
	S_DEL_PATH,
	S_COUNT
};

static const char *const sql_text[S_COUNT] = {
    [S_GET_ID] = "SELECT id FROM ValidPaths WHERE path = ?1",
    [S_INSERT] = "INSERT INTO ValidPaths (path, hash, narSize, deriver, "
		 "registrationTime, ca, builtBy) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_ADD_REF] = "INSERT OR IGNORE INTO Refs (referrer, reference) VALUES (?1, ?2)",
    [S_ADD_SIG] = "INSERT OR IGNORE INTO Signatures (pathId, sig) VALUES (?1, ?2)",
    [S_INFO] = "SELECT id, hash, narSize, deriver, registrationTime, ca, builtBy "
	       "FROM ValidPaths WHERE path = ?1",
    [S_REFS_OF] = "SELECT v.id, v.path FROM Refs r JOIN ValidPaths v ON v.id = r.reference "
		  "WHERE r.referrer = ?1 ORDER BY v.path",
    [S_SIGS_OF] = "SELECT sig FROM Signatures WHERE pathId = ?1 ORDER BY sig",
    [S_REFERRERS_OF] = "SELECT v.path FROM Refs r JOIN ValidPaths v ON v.id = r.referrer "
		       "WHERE r.reference = ?1 ORDER BY v.path",
    [S_ALL] = "SELECT path FROM ValidPaths ORDER BY path",
    [S_ONE_REFERRER] = "SELECT v.path FROM Refs r JOIN ValidPaths v ON v.id = r.referrer "
		       "WHERE r.reference = ?1 LIMIT 1",
    [S_DEL_REFS_FROM] = "DELETE FROM Refs WHERE referrer = ?1",
    [S_DEL_PATH] = "DELETE FROM ValidPaths WHERE id = ?1",
};

static const char schema[] =
    "CREATE TABLE Config (name TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
    "CREATE TABLE ValidPaths (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  path TEXT UNIQUE NOT NULL,\n"
    "  hash TEXT NOT NULL,\n"
    "  narSize INTEGER NOT NULL,\n"
    "  deriver TEXT,\n"
    "  registrationTime INTEGER NOT NULL,\n"
    "  ca TEXT,\n"
    "  builtBy TEXT);\n"
    "CREATE TABLE Refs (\n"
    "  referrer INTEGER NOT NULL REFERENCES ValidPaths(id) ON DELETE CASCADE,\n"
    "  reference INTEGER NOT NULL REFERENCES ValidPaths(id) ON DELETE RESTRICT,\n"
    "  PRIMARY KEY (referrer, reference));\n"
    "CREATE INDEX IndexReference ON Refs(reference);\n"
    "CREATE TABLE Signatures (\n"
    "  pathId INTEGER NOT NULL REFERENCES ValidPaths(id) ON DELETE CASCADE,\n"
    "  sig TEXT NOT NULL,\n"
    "  PRIMARY KEY (pathId, sig));\n";

#define STR_(x) #x
#define STR(x)  STR_(x)

struct db {
	sqlite3 *h;
	char *file;
	sqlite3_stmt *st[S_COUNT];
};

/* ---- small things ---------------------------------------------------- */

int db_list_push_owned(struct db_list *l, char *s)
{
	if (!s)
		return err_set(ERR_NOMEM, "out of memory");
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			free(s);
			return err_set(ERR_NOMEM, "out of memory");
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = s;
	return 0;
}

int db_list_push(struct db_list *l, const char *s)
{
	return db_list_push_owned(l, strdup(s));
}

bool db_list_contains(const struct db_list *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return true;
	return false;
}

void db_list_release(struct db_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

void path_info_init(struct path_info *pi)
{
	memset(pi, 0, sizeof(*pi));
}

void path_info_release(struct path_info *pi)
{
	free(pi->path);
	free(pi->deriver);
	free(pi->ca);
	free(pi->built_by);
	db_list_release(&pi->refs);
	db_list_release(&pi->sigs);
	path_info_init(pi);
}

void db_test_point(const char *point)
{
	const char *crash = getenv("YONDER_TEST_CRASH_AT");
	const char *stop = getenv("YONDER_TEST_STOP_AT");

	if (crash && !strcmp(crash, point))
		raise(SIGKILL);
	if (stop && !strcmp(stop, point))
		raise(SIGSTOP);
}

static int dberr(struct db *db, const char *what)
{
	return err_set(ERR_DB, "database '%s': %s: %s", db->file, what, sqlite3_errmsg(db->h));
}

static int exec(struct db *db, const char *sql)
{
	if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
		return dberr(db, sql);
	return 0;
}

static void rollback(struct db *db)
{
	sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

/* The prepared statement I, reset and with its bindings cleared. */
static int stmt(struct db *db, int i, sqlite3_stmt **out)
{
	if (!db->st[i]) {
		if (sqlite3_prepare_v3(db->h, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &db->st[i], NULL) != SQLITE_OK)
			return dberr(db, "preparing a statement");
	} else {
		sqlite3_reset(db->st[i]);
		sqlite3_clear_bindings(db->st[i]);
	}
	*out = db->st[i];
	return 0;
}

static int bind_text(struct db *db, sqlite3_stmt *s, int col, const char *t)
{
	int rc = t ? sqlite3_bind_text(s, col, t, -1, SQLITE_STATIC) : sqlite3_bind_null(s, col);

	return rc == SQLITE_OK ? 0 : dberr(db, "binding a value");
}

/* Runs S to completion (for statements that return no row). */
static int step_done(struct db *db, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : dberr(db, what);
}

static char *col_strdup(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t ? strdup((const char *)t) : NULL;
}

/* *ID of PATH: 1 when found, 0 when not valid, or an error. */
static int get_id(struct db *db, const char *path, int64_t *id)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	if ((r = stmt(db, S_GET_ID, &s)) != 0 || (r = bind_text(db, s, 1, path)) != 0)
		return r;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
		return 1;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : dberr(db, "looking up a path");
}

/* ---- open ------------------------------------------------------------ */

static int pragma_int(struct db *db, const char *sql, int *out)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(db->h, sql, -1, &s, NULL) != SQLITE_OK)
		return dberr(db, sql);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : dberr(db, sql);
}

/* Reads the recorded store directory into *OUT (NULL when none). */
static int get_store_dir(struct db *db, char **out)
{
	sqlite3_stmt *s = NULL;
	int rc;

	*out = NULL;
	if (sqlite3_prepare_v2(db->h, "SELECT value FROM Config WHERE name = 'storeDir'", -1, &s,
			       NULL) != SQLITE_OK)
		return dberr(db, "reading the store directory");
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && !(*out = col_strdup(s, 0))) {
		sqlite3_finalize(s);
		return err_set(ERR_NOMEM, "out of memory");
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : dberr(db, "reading the store directory");
}

static int create_schema(struct db *db, const char *store_dir)
{
	sqlite3_stmt *s = NULL;
	int version, r, rc;

	/* Two processes may create the database at once: decide under the
	 * write lock. */
	if ((r = exec(db, "BEGIN IMMEDIATE")) != 0)
		return r;
	if ((r = pragma_int(db, "PRAGMA user_version", &version)) != 0)
		goto fail;
	if (version != 0) {
		rollback(db);
		return 0;
	}
	if ((r = exec(db, schema)) != 0)
		goto fail;
	if (sqlite3_prepare_v2(db->h, "INSERT INTO Config (name, value) VALUES ('storeDir', ?1)",
			       -1, &s, NULL) != SQLITE_OK) {
		r = dberr(db, "recording the store directory");
		goto fail;
	}
	sqlite3_bind_text(s, 1, store_dir, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		r = dberr(db, "recording the store directory");
		goto fail;
	}
	if ((r = exec(db, "PRAGMA user_version = " STR(DB_SCHEMA_VERSION))) != 0 ||
	    (r = exec(db, "COMMIT")) != 0)
		goto fail;
	return 0;
fail:
	rollback(db);
	return r;
}

/* Takes the lock file next to the database (F_OFD_SETLKW: released by the
 * kernel if we die). */
static int init_lock(struct db *db, int *fd)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	struct buf name = BUF_INIT(4096);
	int f, rc, r = 0;

	if ((r = buf_printf(&name, "%s.lock", db->file)) != 0)
		return r;
	f = open(name.data, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (f < 0) {
		r = err_sys(ERR_IO, "cannot open '%s'", name.data);
		goto out;
	}
	do
		rc = fcntl(f, F_OFD_SETLKW, &fl);
	while (rc != 0 && errno == EINTR);
	if (rc != 0) {
		r = err_sys(ERR_IO, "cannot lock '%s'", name.data);
		close(f);
		goto out;
	}
	*fd = f;
out:
	buf_release(&name);
	return r;
}

int db_open(struct db **out, const char *state_dir, const char *store_dir)
{
	struct db *db = NULL;
	struct buf dir = BUF_INIT(4096);
	char *recorded = NULL, *mode = NULL;
	int version, r, initfd = -1;

	*out = NULL;
	if ((r = buf_printf(&dir, "%s/db", state_dir)) != 0 || (r = mkdir_p(dir.data, 0755)) != 0)
		goto out;
	if (!(db = calloc(1, sizeof(*db)))) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((r = buf_puts(&dir, "/db.sqlite")) != 0)
		goto out;
	db->file = buf_detach(&dir, NULL);
	if (sqlite3_open_v2(db->file, &db->h,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
				SQLITE_OPEN_NOFOLLOW,
			    NULL) != SQLITE_OK) {
		r = db->h ? dberr(db, "cannot open")
			  : err_set(ERR_NOMEM, "database '%s': out of memory", db->file);
		goto out;
	}
	sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(db->h, 1);
	/* Switching to WAL and creating the schema do not wait on SQLite's busy
	 * handler: processes opening a new database at once take turns here. */
	if ((r = init_lock(db, &initfd)) != 0)
		goto out;
	{
		sqlite3_stmt *s = NULL;

		if (sqlite3_prepare_v2(db->h, "PRAGMA journal_mode = WAL", -1, &s, NULL) !=
		    SQLITE_OK) {
			r = dberr(db, "setting WAL mode");
			goto out;
		}
		if (sqlite3_step(s) == SQLITE_ROW)
			mode = col_strdup(s, 0);
		sqlite3_finalize(s);
		if (!mode || strcmp(mode, "wal") != 0) {
			r = dberr(db, "cannot switch to WAL mode");
			goto out;
		}
	}
	if ((r = exec(db, "PRAGMA foreign_keys = ON")) != 0 ||
	    (r = exec(db, "PRAGMA synchronous = FULL")) != 0)
		goto out;
	if ((r = pragma_int(db, "PRAGMA user_version", &version)) != 0)
		goto out;
	if (version == 0) {
		if ((r = create_schema(db, store_dir)) != 0)
			goto out;
		if ((r = pragma_int(db, "PRAGMA user_version", &version)) != 0)
			goto out;
	}
	if (version != DB_SCHEMA_VERSION) {
		r = err_set(ERR_INVALID,
			    "database '%s' has schema version %d; this yonder knows %d", db->file,
			    version, DB_SCHEMA_VERSION);
		goto out;
	}
	close(initfd);
	initfd = -1;
	if ((r = get_store_dir(db, &recorded)) != 0)
		goto out;
	if (!recorded || strcmp(recorded, store_dir) != 0) {
		r = err_set(ERR_INVALID, "database '%s' belongs to store '%s', not to store '%s'",
			    db->file, recorded ? recorded : "(none)", store_dir);
		goto out;
	}
	*out = db;
	db = NULL;
out:
	if (initfd >= 0)
		close(initfd);
	free(mode);
	free(recorded);
	buf_release(&dir);
	db_free(db);
	return r;
}

void db_free(struct db *db)
{
	if (!db)
		return;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(db->st[i]);
	sqlite3_close(db->h);
	free(db->file);
	free(db);
}

/* ---- writes ---------------------------------------------------------- */

static int insert_path(struct db *db, const struct path_info *pi, int64_t now, int64_t *id)
{
	char hash[8 + SHA256_NIX32_LEN + 1];
	sqlite3_stmt *s = NULL;
	int r;

	memcpy(hash, "sha256:", 7);
	hash_to_nix32(pi->nar_hash, SHA256_LEN, hash + 7);
	if ((r = stmt(db, S_INSERT, &s)) != 0 || (r = bind_text(db, s, 1, pi->path)) != 0 ||
	    (r = bind_text(db, s, 2, hash)) != 0 || (r = bind_text(db, s, 4, pi->deriver)) != 0 ||
	    (r = bind_text(db, s, 6, pi->ca)) != 0 || (r = bind_text(db, s, 7, pi->built_by)) != 0)
		return r;
	if (pi->nar_size > INT64_MAX)
		return err_set(ERR_INVALID, "cannot register '%s': NAR size %llu is too big",
			       pi->path, (unsigned long long)pi->nar_size);
	sqlite3_bind_int64(s, 3, (int64_t)pi->nar_size);
	sqlite3_bind_int64(s, 5, pi->registration_time ? pi->registration_time : now);
	if ((r = step_done(db, s, "registering a path")) != 0)
		return err_prefix(r, "cannot register '%s'", pi->path);
	*id = sqlite3_last_insert_rowid(db->h);
	return 0;
}

int db_register(struct db *db, const struct path_info *infos, size_t n)
{
	int64_t *ids = NULL, now = (int64_t)time(NULL);
	int r;

	if (n == 0)
		return 0;
	if (!(ids = calloc(n, sizeof(*ids))))
		return err_set(ERR_NOMEM, "out of memory");
	if ((r = exec(db, "BEGIN IMMEDIATE")) != 0)
		goto out;
	/* Rows first, so that references among INFOS resolve whatever their
	 * order. */
	for (size_t i = 0; i < n; i++) {
		if (!infos[i].path) {
			r = err_set(ERR_INVALID, "cannot register a path without a name");
			goto fail;
		}
		if ((r = get_id(db, infos[i].path, &ids[i])) < 0)
			goto fail;
		if (r == 0 && (r = insert_path(db, &infos[i], now, &ids[i])) != 0)
			goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		const struct path_info *pi = &infos[i];
		sqlite3_stmt *s = NULL;

		for (size_t j = 0; j < pi->refs.n; j++) {
			int64_t ref;

			if ((r = get_id(db, pi->refs.v[j], &ref)) < 0)
				goto fail;
			if (r == 0) {
				r = err_set(ERR_NOTFOUND,
					    "cannot register '%s': its reference '%s' is not valid",
					    pi->path, pi->refs.v[j]);
				goto fail;
			}
			if ((r = stmt(db, S_ADD_REF, &s)) != 0)
				goto fail;
			sqlite3_bind_int64(s, 1, ids[i]);
			sqlite3_bind_int64(s, 2, ref);
			if ((r = step_done(db, s, "registering a reference")) != 0)
				goto fail;
		}
		for (size_t j = 0; j < pi->sigs.n; j++) {
			if ((r = stmt(db, S_ADD_SIG, &s)) != 0 ||
			    (r = bind_text(db, s, 2, pi->sigs.v[j])) != 0)
				goto fail;
			sqlite3_bind_int64(s, 1, ids[i]);
			if ((r = step_done(db, s, "registering a signature")) != 0)
				goto fail;
		}
	}
	db_test_point("registered-before-commit");
	if ((r = exec(db, "COMMIT")) != 0)
		goto fail;
	goto out;
fail:
	rollback(db);
out:
	free(ids);
	return r;
}

int db_add_signatures(struct db *db, const char *path, const char *const *sigs, size_t n)
{
	sqlite3_stmt *s = NULL;
	int64_t id;
	int r;

	if ((r = exec(db, "BEGIN IMMEDIATE")) != 0)
		return r;
	if ((r = get_id(db, path, &id)) < 0)
		goto fail;
	if (r == 0) {
		r = err_set(ERR_NOTFOUND, "'%s' is not a valid store path", path);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		if ((r = stmt(db, S_ADD_SIG, &s)) != 0 || (r = bind_text(db, s, 2, sigs[i])) != 0)
			goto fail;
		sqlite3_bind_int64(s, 1, id);
		if ((r = step_done(db, s, "adding a signature")) != 0)
			goto fail;
	}
	if ((r = exec(db, "COMMIT")) != 0)
		goto fail;
	return 0;
fail:
	rollback(db);
	return r;
}

int db_delete(struct db *db, const char *const *paths, size_t n)
{
	int64_t *ids = NULL;
	sqlite3_stmt *s = NULL;
	int r;

	if (n == 0)
		return 0;
	if (!(ids = calloc(n, sizeof(*ids))))
		return err_set(ERR_NOMEM, "out of memory");
	if ((r = exec(db, "BEGIN IMMEDIATE")) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if ((r = get_id(db, paths[i], &ids[i])) < 0)
			goto fail;
		if (r == 0) {
			r = err_set(ERR_NOTFOUND, "'%s' is not a valid store path", paths[i]);
			goto fail;
		}
	}
	/* The references of the paths being deleted go with them (self-
	 * references included); any reference left points from outside. */
	for (size_t i = 0; i < n; i++) {
		if ((r = stmt(db, S_DEL_REFS_FROM, &s)) != 0)
			goto fail;
		sqlite3_bind_int64(s, 1, ids[i]);
		if ((r = step_done(db, s, "deleting references")) != 0)
			goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		int rc;

		if ((r = stmt(db, S_ONE_REFERRER, &s)) != 0)
			goto fail;
		sqlite3_bind_int64(s, 1, ids[i]);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			r = err_set(ERR_REFERENCED, "cannot delete '%s': '%s' refers to it",
				    paths[i], (const char *)sqlite3_column_text(s, 0));
			sqlite3_reset(s);
			goto fail;
		}
		sqlite3_reset(s);
		if (rc != SQLITE_DONE) {
			r = dberr(db, "looking up referrers");
			goto fail;
		}
		if ((r = stmt(db, S_DEL_PATH, &s)) != 0)
			goto fail;
		sqlite3_bind_int64(s, 1, ids[i]);
		if ((r = step_done(db, s, "deleting a path")) != 0)
			goto fail;
	}
	if ((r = exec(db, "COMMIT")) != 0)
		goto fail;
	goto out;
fail:
	rollback(db);
out:
	free(ids);
	return r;
}

/* ---- reads ----------------------------------------------------------- */

int db_is_valid(struct db *db, const char *path)
{
	int64_t id;

	return get_id(db, path, &id);
}

/* Appends column COL of every row of S to OUT. */
static int collect(struct db *db, sqlite3_stmt *s, int col, struct db_list *out)
{
	int rc, r;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((r = db_list_push_owned(out, col_strdup(s, col))) != 0) {
			sqlite3_reset(s);
			return r;
		}
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : dberr(db, "reading rows");
}

static int not_valid(const char *path)
{
	return err_set(ERR_NOTFOUND, "'%s' is not a valid store path", path);
}

int db_query_info(struct db *db, const char *path, struct path_info *out)
{
	sqlite3_stmt *s = NULL;
	int64_t id;
	int r, rc;
	bool nomem;

	if ((r = stmt(db, S_INFO, &s)) != 0 || (r = bind_text(db, s, 1, path)) != 0)
		return r;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return rc == SQLITE_DONE ? not_valid(path) : dberr(db, "reading a path");
	}
	id = sqlite3_column_int64(s, 0);
	r = sha256_parse((const char *)sqlite3_column_text(s, 1), out->nar_hash);
	if (r != 0) {
		sqlite3_reset(s);
		return err_prefix(r, "database '%s': path '%s'", db->file, path);
	}
	out->nar_size = (uint64_t)sqlite3_column_int64(s, 2);
	out->registration_time = sqlite3_column_int64(s, 4);
	out->path = strdup(path);
	nomem = !out->path;
	if (sqlite3_column_type(s, 3) != SQLITE_NULL)
		nomem |= !(out->deriver = col_strdup(s, 3));
	if (sqlite3_column_type(s, 5) != SQLITE_NULL)
		nomem |= !(out->ca = col_strdup(s, 5));
	if (sqlite3_column_type(s, 6) != SQLITE_NULL)
		nomem |= !(out->built_by = col_strdup(s, 6));
	sqlite3_reset(s);
	if (nomem)
		return err_set(ERR_NOMEM, "out of memory");
	if ((r = stmt(db, S_REFS_OF, &s)) != 0)
		return r;
	sqlite3_bind_int64(s, 1, id);
	if ((r = collect(db, s, 1, &out->refs)) != 0)
		return r;
	if ((r = stmt(db, S_SIGS_OF, &s)) != 0)
		return r;
	sqlite3_bind_int64(s, 1, id);
	return collect(db, s, 0, &out->sigs);
}

int db_query_referrers(struct db *db, const char *path, struct db_list *out)
{
	sqlite3_stmt *s = NULL;
	int64_t id;
	int r;

	if ((r = get_id(db, path, &id)) < 0)
		return r;
	if (r == 0)
		return not_valid(path);
	if ((r = stmt(db, S_REFERRERS_OF, &s)) != 0)
		return r;
	sqlite3_bind_int64(s, 1, id);
	return collect(db, s, 0, out);
}

int db_list_valid(struct db *db, struct db_list *out)
{
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = stmt(db, S_ALL, &s)) != 0)
		return r;
	return collect(db, s, 0, out);
}

/* The closure walk: an iterative depth-first search that emits a node
 * after all its references (post-order), which is a topological order
 * since store paths cannot form cycles other than self-references. */

struct idset { /* open addressing over row ids (> 0) */
	int64_t *v;
	size_t cap, n;
};

static int idset_add(struct idset *s, int64_t id) /* 1: added, 0: was there */
{
	if (2 * (s->n + 1) > s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		int64_t *v = calloc(cap, sizeof(*v));

		if (!v)
			return err_set(ERR_NOMEM, "out of memory");
		for (size_t i = 0; i < s->cap; i++) {
			if (s->v[i]) {
				size_t j = (size_t)s->v[i] * 0x9E3779B97F4A7C15ull & (cap - 1);

				while (v[j])
					j = (j + 1) & (cap - 1);
				v[j] = s->v[i];
			}
		}
		free(s->v);
		s->v = v;
		s->cap = cap;
	}
	for (size_t j = (size_t)id * 0x9E3779B97F4A7C15ull & (s->cap - 1);;
	     j = (j + 1) & (s->cap - 1)) {
		if (s->v[j] == id)
			return 0;
		if (!s->v[j]) {
			s->v[j] = id;
			s->n++;
			return 1;
		}
	}
}

struct frame {
	int64_t id;
	char *path;
	int64_t *kid_ids;
	struct db_list kids;
	size_t next;
};

static void frame_release(struct frame *f)
{
	free(f->path);
	free(f->kid_ids);
	db_list_release(&f->kids);
}

static int frame_load(struct db *db, struct frame *f)
{
	sqlite3_stmt *s = NULL;
	size_t cap = 0;
	int rc, r;

	if ((r = stmt(db, S_REFS_OF, &s)) != 0)
		return r;
	sqlite3_bind_int64(s, 1, f->id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);

		if (id == f->id)
			continue;
		if (f->kids.n == cap) {
			int64_t *v;

			cap = cap ? 2 * cap : 8;
			if (!(v = realloc(f->kid_ids, cap * sizeof(*v)))) {
				sqlite3_reset(s);
				return err_set(ERR_NOMEM, "out of memory");
			}
			f->kid_ids = v;
		}
		f->kid_ids[f->kids.n] = id;
		if ((r = db_list_push_owned(&f->kids, col_strdup(s, 1))) != 0) {
			sqlite3_reset(s);
			return r;
		}
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : dberr(db, "reading references");
}

int db_query_closure(struct db *db, const char *const *paths, size_t n, struct db_list *out)
{
	struct idset seen = {NULL, 0, 0};
	struct frame *stack = NULL;
	size_t depth = 0, stack_cap = 0;
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++) {
		int64_t root;

		if ((r = get_id(db, paths[i], &root)) < 0)
			break;
		if (r == 0) {
			r = not_valid(paths[i]);
			break;
		}
		if ((r = idset_add(&seen, root)) <= 0)
			continue; /* already emitted, or an error */
		r = 0;
		stack_cap = stack_cap ? stack_cap : 16;
		if (!stack && !(stack = calloc(stack_cap, sizeof(*stack)))) {
			r = err_set(ERR_NOMEM, "out of memory");
			break;
		}
		stack[0] = (struct frame){.id = root, .path = strdup(paths[i])};
		depth = 1;
		if (!stack[0].path || (r = frame_load(db, &stack[0])) != 0) {
			r = r ? r : err_set(ERR_NOMEM, "out of memory");
			break;
		}
		while (depth > 0 && r == 0) {
			struct frame *f = &stack[depth - 1];
			struct frame *k;
			int64_t kid;

			if (f->next == f->kids.n) {
				r = db_list_push_owned(out, f->path);
				f->path = NULL;
				frame_release(f);
				depth--;
				continue;
			}
			kid = f->kid_ids[f->next++];
			if ((r = idset_add(&seen, kid)) <= 0)
				continue;
			r = 0;
			if (depth == stack_cap) {
				struct frame *v = realloc(stack, 2 * stack_cap * sizeof(*v));

				if (!v) {
					r = err_set(ERR_NOMEM, "out of memory");
					break;
				}
				stack = v;
				stack_cap *= 2;
				f = &stack[depth - 1];
			}
			k = &stack[depth++];
			*k = (struct frame){.id = kid, .path = strdup(f->kids.v[f->next - 1])};
			if (!k->path)
				r = err_set(ERR_NOMEM, "out of memory");
			else
				r = frame_load(db, k);
		}
	}
	while (depth > 0)
		frame_release(&stack[--depth]);
	free(stack);
	free(seen.v);
	return r;
}
