/* sexp.h — the S-expression reader shared by recipes (*.scm) and machines.scm.
 *
 * The reader turns a file into values (struct sexp), each carrying the
 * file:line:column where it was written.  The evaluator (eval.h) uses the
 * same struct for the values it computes, so a few types below exist only
 * at run time.  doc/RECIPES.md describes the syntax accepted.
 *
 * Memory: every value, string and array lives in a struct sexp_arena and is
 * freed, all at once, by sexp_arena_free().  An arena has a cap on the bytes
 * it hands out, fixed at creation; an allocation past it fails with
 * ERR_TOOBIG before anything is allocated.  Values are never modified after
 * they are made, so they may be shared freely.
 *
 * Caps, all checked before allocating: the input file (SEXP_MAX_FILE), a
 * string literal after decoding (SEXP_MAX_STRING), nesting of lists and
 * quotes (SEXP_MAX_DEPTH: the reader uses an explicit stack, never the C
 * stack, and no value — read or computed — is nested deeper, so code that
 * walks a value recursively is bounded).
 *
 * Errors (ERR_FORMAT, ERR_TOOBIG) carry messages of the form
 * "FILE:LINE:COL: what is wrong".  Lines and columns count from 1; a column
 * counts characters (UTF-8 code points), a tab being one.
 */
#ifndef YONDER_SEXP_H
#define YONDER_SEXP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SEXP_MAX_FILE   (16u << 20) /* bytes of one source file */
#define SEXP_MAX_STRING (1u << 20)  /* bytes of one string literal, decoded */
#define SEXP_MAX_DEPTH  1000        /* nesting of lists and quotes */
/* A reasonable cap for an arena that reads and evaluates one file. */
#define SEXP_ARENA_DEFAULT (256u << 20)

enum sexp_type {
	SEXP_LIST,    /* ( … ) or [ … ]; '() is the empty list */
	SEXP_SYMBOL,  /* foo, string-append, + */
	SEXP_KEYWORD, /* #:name (the name without "#:") */
	SEXP_STRING,
	SEXP_INT,  /* 64-bit signed */
	SEXP_REAL, /* double */
	SEXP_BOOL, /* #t #f #true #false */
	/* Made only by the evaluator (eval.h). */
	SEXP_PROC,   /* a procedure: a closure or a builtin written in C */
	SEXP_RECORD, /* a record made by a form written in C (build-machine, …) */
	SEXP_UNSPEC, /* the value of define, of a one-armed if whose test fails */
};

/* Where a value was written, or for a computed value, the expression that
 * computed it.  FILE points into the arena. */
struct sexp_pos {
	const char *file;
	uint32_t line, col;
};

struct eval_proc;
struct eval_record;
struct eval_strctx;

struct sexp {
	enum sexp_type type;
	uint32_t depth; /* lists and records: 1 + the deepest element; else 0 */
	struct sexp_pos pos;
	union {
		int64_t i; /* SEXP_INT */
		double d;  /* SEXP_REAL */
		bool b;    /* SEXP_BOOL */
		/* SEXP_STRING, SEXP_SYMBOL, SEXP_KEYWORD: S is NUL-terminated
		 * and holds no NUL byte; symbol and keyword names are interned
		 * (sexp_intern), so two names are equal iff their pointers
		 * are.  CTX: the records a computed string refers to (eval.h),
		 * NULL for literals. */
		struct {
			const char *s;
			size_t len;
			const struct eval_strctx *ctx;
		} str;
		struct {
			struct sexp **v;
			size_t n;
		} list;                        /* SEXP_LIST */
		const struct eval_proc *proc;  /* SEXP_PROC */
		const struct eval_record *rec; /* SEXP_RECORD */
	} u;
};

struct sexp_arena;

/* A new empty arena that hands out at most MAX bytes in all.  NULL when
 * out of memory (message recorded).  The caller frees it with
 * sexp_arena_free(). */
struct sexp_arena *sexp_arena_new(size_t max);
/* Frees the arena and everything allocated in it.  NULL is a no-op. */
void sexp_arena_free(struct sexp_arena *a);
/* N bytes, zeroed, aligned for any type, valid until the arena is freed.
 * NULL past the cap (ERR_TOOBIG, "more than MAX bytes of memory needed")
 * or when out of memory (ERR_NOMEM), with the message recorded; the code
 * is then sexp_arena_error(A). */
void *sexp_alloc(struct sexp_arena *a, size_t n);
/* The code of the last failed sexp_alloc() of A (ERR_TOOBIG or ERR_NOMEM). */
int sexp_arena_error(const struct sexp_arena *a);
/* Bytes handed out so far (plus bookkeeping). */
size_t sexp_arena_used(const struct sexp_arena *a);
/* A copy of the N bytes at S, NUL-terminated, in the arena; NULL as
 * sexp_alloc(). */
char *sexp_strndup(struct sexp_arena *a, const char *s, size_t n);
/* The one arena copy of the name S (N bytes): equal names give the same
 * pointer.  NULL as sexp_alloc(). */
const char *sexp_intern(struct sexp_arena *a, const char *s, size_t n);

/* Reads every top-level datum of the LEN bytes at DATA, which came from
 * FILE (a name for messages; it is copied).  On success *FORMSP is an
 * array of *NP values in the arena (*NP may be 0).  On failure returns
 * ERR_FORMAT or ERR_TOOBIG with "FILE:LINE:COL: …" recorded. */
int sexp_read(struct sexp_arena *a, const char *file, const char *data, size_t len,
	      struct sexp ***formsp, size_t *np);
/* sexp_read() of the file PATH (a regular file of at most SEXP_MAX_FILE
 * bytes; symlinks are followed).  ERR_IO / ERR_NOTFOUND when it cannot be
 * read, with "PATH: …" recorded. */
int sexp_read_file(struct sexp_arena *a, const char *path, struct sexp ***formsp, size_t *np);

/* Appends the external representation of V to B, as Guile's `write` would
 * ("a\"b", #:key, (1 2.5 #t), #<procedure f>).  When MAX is not 0 it writes
 * at most about MAX bytes and ends with "..." when cut (for messages).
 * Returns 0 or the buf's error. */
int sexp_print(struct buf *b, const struct sexp *v, size_t max);
/* "string", "integer", "list", … for messages. */
const char *sexp_type_name(enum sexp_type t);
/* True when V is the symbol NAME. */
bool sexp_is_symbol(const struct sexp *v, const char *name);

#endif
