/* err.h — error codes and the last error message.
 *
 * Every library function that can fail returns 0 or one of the negative
 * codes below.  Before returning a code it records a one-line message with
 * context ("store path '/x': hash mismatch: expected …, got …") with
 * err_set(); the caller (in the end, the CLI) prints err_msg().  Nothing in
 * src/lib prints or exits.  The message is per thread.
 */
#ifndef YONDER_ERR_H
#define YONDER_ERR_H

enum {
	ERR_OK = 0,
	ERR_INTERNAL = -1,    /* a bug or an unexpected system failure */
	ERR_NOMEM = -2,       /* allocation failed */
	ERR_IO = -3,          /* a system call on a file failed */
	ERR_FORMAT = -4,      /* malformed input (NAR, hash, path, …) */
	ERR_NOTFOUND = -5,    /* a named thing does not exist */
	ERR_EXISTS = -6,      /* a thing that must not exist does */
	ERR_INVALID = -7,     /* a bad argument from the caller or the user */
	ERR_MISMATCH = -8,    /* content does not match its declared hash/size */
	ERR_TOOBIG = -9,      /* a length over a fixed cap */
	ERR_DB = -10,         /* the SQLite database failed */
	ERR_REFERENCED = -11, /* a path that others still refer to */
	ERR_TRUNCATED = -12,  /* input ended early */
};

/* Returns a static description of CODE ("malformed input", …). */
const char *err_str(int code);

/* Records the printf-style message and returns CODE, so that callers can
 * write `return err_set(ERR_FORMAT, "…", …);`. */
int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like err_set(), with ": <strerror(errno)>" appended (errno as on entry). */
int err_sys(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Puts "<context>: " in front of the recorded message; returns CODE.  Used
 * when a caller knows which file or path a lower-level failure concerns. */
int err_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last recorded message of this thread ("" if none).  Valid until the
 * next err_* call of the same thread. */
const char *err_msg(void);

/* Forgets the recorded message. */
void err_clear(void);

#endif
