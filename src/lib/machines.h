/* machines.h — the build machines file: Guix's machines.scm and Nix's
 * machines lines, and the static part of "can this machine build that".
 *
 * Two formats (doc/MACHINES.md is the reference):
 *
 *   - Guix's: a Scheme file whose value is a list of records
 *       (build-machine (name "host") (user "bob") (systems (list …)) …)
 *     evaluated by eval.h (define, list, string-append, getenv, …);
 *     (use-modules …) forms are accepted and ignored.
 *   - Nix's: one machine per line (or per ';'-separated entry),
 *       URI SYSTEMS KEY MAXJOBS SPEED FEATURES MANDATORY HOSTKEY-BASE64
 *     with '-' or a missing trailing field meaning the default, '#'
 *     comments and "@FILE" entries that include another machines file.
 *
 * machines_load() tells them apart by content: a file whose first
 * character that is not blank or in a comment line is '(', '[' or '\'' (or that
 * starts a "#|" or "#;" comment) is Scheme; so is any file whose name ends
 * in ".scm"; everything else is Nix's format.
 *
 * Every field is checked when the file is loaded, including that the
 * private key can be read (the default key is found then, too), so that a
 * machine that loads is usable as far as the file can tell.  Errors (the
 * first one stops the load) say "FILE:LINE:COL: " where the fault is, the
 * field, what was expected and what was found:
 *
 *   ERR_INVALID  a wrong machine (unknown field, missing field, wrong
 *                type or value, unreadable private key, bad host key) or
 *                a wrong Scheme program (eval.h's messages)
 *   ERR_FORMAT   Scheme syntax (sexp.h) or a malformed Nix line
 *   ERR_TOOBIG   evaluation limits, more than MACHINES_MAX entries
 *   ERR_NOTFOUND / ERR_IO  the file itself cannot be read ("PATH: …")
 *
 * A machine listed twice (same host name, compared without case, and
 * port) is not an error: the later entry is dropped and a warning kept
 * in struct machines for the caller to print.
 *
 * Memory: a struct machines and everything in it is owned by the caller,
 * freed by machines_free().  Nothing here prints or exits.
 */
#ifndef YONDER_MACHINES_H
#define YONDER_MACHINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define MACHINES_DEFAULT_PORT            22
#define MACHINES_DEFAULT_PARALLEL        1
#define MACHINES_DEFAULT_SPEED           1.0
#define MACHINES_DEFAULT_COMPRESSION     3    /* zstd level */
#define MACHINES_DEFAULT_OVERLOAD        0.8  /* load per core */
#define MACHINES_DEFAULT_CONNECT_TIMEOUT 10.0 /* seconds */

#define MACHINES_MAX                 4096 /* entries in one load, duplicates included */
#define MACHINES_MAX_PARALLEL        1024
#define MACHINES_MAX_ZSTD_LEVEL      19
#define MACHINES_MAX_CONNECT_TIMEOUT 3600.0
#define MACHINES_MAX_INCLUDE_DEPTH   4 /* nested "@FILE" entries */

struct machine {
	char *name; /* the host: a name or an address, no user, no port */
	unsigned port;
	/* Lists are NULL-terminated, with their length beside them. */
	char **systems; /* at least one ("x86_64-linux", …) */
	size_t nsystems;
	char *user;
	char *private_key; /* a path that could be read at load time */
	/* "TYPE BASE64[ COMMENT]" as written (trimmed), its shape checked;
	 * NULL: check the host against the daemon user's ~/.ssh/known_hosts. */
	char *host_key;
	unsigned parallel_builds; /* 1 … MACHINES_MAX_PARALLEL */
	double speed;             /* > 0 */
	char **features;
	size_t nfeatures;
	char **mandatory_features; /* also supported: see machine_fits() */
	size_t nmandatory;
	int compression;           /* 0: none; else a zstd level, 1 … 19 */
	double overload_threshold; /* > 0; 0 when disabled (#f) */
	double connect_timeout;    /* seconds, > 0 */
	/* Where the machine was declared: the build-machine form, or the
	 * start of the Nix entry.  FILE is owned by the machine. */
	char *file;
	unsigned line, col;
};

struct machines {
	struct machine *v;
	size_t n, cap;
	char **warnings; /* "FILE:LINE:COL: …", one line each */
	size_t nwarnings, wcap;
};

/* Knobs, all optional: a zeroed struct (or NULL) means the defaults. */
struct machines_opts {
	/* The daemon user's home, for the default private key: NULL means
	 * $HOME when it is an absolute path, else the passwd entry of the
	 * effective user. */
	const char *home;
	/* The user of a Nix entry whose URI names none: NULL means the
	 * passwd entry of the effective user, else $USER. */
	const char *user;
	uint64_t max_steps; /* 0: 1,000,000 evaluation steps */
	unsigned max_depth; /* 0: 200 nested evaluations */
	size_t max_memory;  /* 0: 64 MiB for one evaluation */
};

/* Reads the machines file PATH (symlinks followed; a regular file of at
 * most SEXP_MAX_FILE bytes) in either format and puts a new struct
 * machines in *OUTP (the caller frees it with machines_free).  A relative
 * private key or "@FILE" path is taken relative to PATH's directory.
 * ERR_NOTFOUND when PATH does not exist (the caller may treat it as no
 * machines); other errors as above, *OUTP untouched. */
int machines_load(const char *path, struct machines **outp);
int machines_load_opts(const char *path, const struct machines_opts *o, struct machines **outp);

/* The same from the LEN bytes at DATA, which NAME names in messages
 * (format chosen as machines_load() does, NAME's suffix included).
 * Relative paths are taken relative to the current directory. */
int machines_parse(const char *name, const char *data, size_t len, const struct machines_opts *o,
		   struct machines **outp);

/* Nix's format only, from the LEN bytes at TEXT: for `--builders '…'`,
 * whose entries are separated by ';' or newlines.  NAME names the text in
 * messages ("--builders").  Relative paths as machines_parse(). */
int machines_parse_nix(const char *name, const char *text, size_t len,
		       const struct machines_opts *o, struct machines **outp);

/* Frees MS and everything it holds.  NULL is a no-op. */
void machines_free(struct machines *ms);

/* The system type of this build of yonder ("x86_64-linux"): the default
 * of a Nix entry's SYSTEMS. */
const char *machines_local_system(void);

/* Checks that the LEN bytes at LINE are an OpenSSH public-key line
 * "TYPE BASE64 [COMMENT]" of a known TYPE whose decoded key blob is of
 * that type and well formed.  0, or ERR_INVALID with the reason put in
 * WHY (emptied first; no position). */
int machines_check_host_key(const char *line, size_t len, struct buf *why);

enum machine_misfit {
	MACHINE_FITS = 0,
	MACHINE_MISFIT_SYSTEM,    /* the build's system is not among its systems */
	MACHINE_MISFIT_FEATURES,  /* a required feature is neither a feature nor mandatory */
	MACHINE_MISFIT_MANDATORY, /* a mandatory feature the build does not require */
};

/* Whether M can ever build a derivation for SYSTEM that requires the
 * NULL-terminated REQUIRED features (NULL: none), as far as its
 * declaration goes (health, free slots, load and disk are the
 * scheduler's).  M fits when SYSTEM is among its systems, every required
 * feature is among its features or mandatory features, and every
 * mandatory feature is required.  When it does not fit, the first failed
 * rule is returned and, when WHY is not NULL, a sentence saying why is
 * appended to it ("does not build for aarch64-linux (its systems:
 * x86_64-linux)"). */
enum machine_misfit machine_fits(const struct machine *m, const char *system,
				 const char *const *required, struct buf *why);

#endif
