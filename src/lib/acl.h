/* acl.h — the ACL: the public keys whose signatures this machine accepts.
 *
 * The file is $YONDER_CONFIG_DIR/acl, in the line format of doc/ACL.md:
 * one "NAME:base64" public key per line, '#' comment lines, blank lines;
 * spaces and tabs around a line are ignored, anything else on a key line
 * is an error.  A missing file is an empty ACL (no key trusted); a
 * malformed one is an error naming "FILE:LINE", never an empty ACL.
 *
 * Several keys may carry the same name (a key being replaced); a
 * signature named NAME is checked against each of them.  The same key
 * (name and bytes) is held once.
 *
 * Every function returns 0 or a negative ERR_* code with a message.
 */
#ifndef YONDER_ACL_H
#define YONDER_ACL_H

#include <stdbool.h>
#include <stddef.h>

#include "pki.h"

#define ACL_FILE      "acl"
#define ACL_LOCK_FILE "acl.lock"
/* An ACL file larger than this is refused (ERR_TOOBIG). */
#define ACL_MAX_BYTES (1024 * 1024)

struct acl {
	struct pki_public *keys;
	size_t n, cap;
};
#define ACL_INIT                                                                                   \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void acl_init(struct acl *acl);
void acl_release(struct acl *acl);

/* Adds the keys of the ACL text (LEN bytes at TEXT) to ACL.  WHAT names
 * the file: messages say "WHAT:LINE: …".  On ERR_FORMAT the ACL may hold
 * some of the keys; the caller releases it and must not use it. */
int acl_parse(struct acl *acl, const char *text, size_t len, const char *what);

/* Reads the ACL file PATH into ACL (initialised by the caller, released by
 * the caller, also on failure).  A missing PATH leaves ACL empty and
 * returns 0.  A PATH that is not a regular file, or that group or others
 * may write to, is refused (ERR_INVALID, naming it and its mode); a
 * malformed one is ERR_FORMAT naming "PATH:LINE"; ERR_TOOBIG past
 * ACL_MAX_BYTES. */
int acl_load(struct acl *acl, const char *path);

/* The first key named NAME, or NULL. */
const struct pki_public *acl_find(const struct acl *acl, const char *name);

/* true when K (name and bytes) is in ACL. */
bool acl_contains(const struct acl *acl, const struct pki_public *k);

/* Adds K unless it is there: 1 when added, 0 when already there, ERR_NOMEM. */
int acl_add(struct acl *acl, const struct pki_public *k);

/* Checks one signature string SIG over the FPLEN bytes at FP against the
 * keys of ACL: 0 when it is valid by a key of the ACL; ERR_NOTFOUND when
 * no key of the ACL carries its name; ERR_MISMATCH when keys of that name
 * are in the ACL but none verifies it; ERR_FORMAT when SIG is malformed.
 * The message says which. */
int acl_check_sig(const struct acl *acl, const char *fp, size_t fplen, const char *sig);

/* Finds a signature among the N of SIGS that is valid by a key of ACL:
 * 0 with *WHICH its index (the first such).  Otherwise ERR_NOTFOUND when
 * N is 0 ("no signature"), else ERR_MISMATCH with a message that gives
 * each signature's reason (not in the ACL, does not verify, malformed). */
int acl_verify(const struct acl *acl, const char *fp, size_t fplen, const char *const *sigs,
	       size_t n, size_t *which);

enum acl_op { ACL_AUTHORIZE, ACL_DEAUTHORIZE };

/* Adds K to (ACL_AUTHORIZE) or removes it from (ACL_DEAUTHORIZE) the ACL
 * file DIR/acl, under an fcntl lock on DIR/acl.lock so that concurrent
 * updates do not lose each other's changes, by writing the new file
 * beside it and renaming it into place (pki_write_file): readers see the
 * old or the new file, never a mix.  DIR is created when missing; so is
 * the ACL, on authorize.  Comments and other lines are kept.  *CHANGED
 * (when not NULL) is false when K was already there.  Removing a key that
 * is not there is ERR_NOTFOUND.  A malformed ACL is not touched (the
 * ERR_FORMAT of acl_load); neither is an ACL that is a symbolic link
 * (ERR_INVALID: it is managed by something else). */
int acl_update(const char *dir, const struct pki_public *k, enum acl_op op, bool *changed);

#endif
