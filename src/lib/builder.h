/* builder.h — runs one derivation's builder on this machine and makes its
 * outputs valid.
 *
 * What a build is (doc/BUILD.md has the user's view):
 *
 *   - The caller holds the path locks (store_path_lock) of every output
 *     and has found none of them valid.  builder_start removes whatever
 *     unregistered leftover sits at an output path, then runs the builder
 *     in place: the builder writes the outputs at their final store paths,
 *     as Nix does with `sandbox = false`.
 *   - A fresh build directory $YONDER_STATE_DIR/builds/<name>-XXXXXX
 *     (0700, inside builds/, itself 0700 and ours: no other user can reach
 *     a build directory, as the Nix and Guix security fixes for builds in
 *     world-writable directories require) is the builder's working
 *     directory.
 *   - Standard input is /dev/null; standard output and error go to one
 *     pipe, read by the caller's poll loop, and from there to a
 *     zstd-compressed log file $YONDER_STATE_DIR/log/<drv base name>.zst
 *     (written under a temporary name, renamed when the build ends,
 *     whatever the outcome) and to the caller's LOG function.
 *   - The builder runs as `builder args…` (argv[0] the builder's base name)
 *     in its own process group with Nix's environment: PATH=/path-not-set,
 *     HOME=/homeless-shelter, NIX_STORE, NIX_BUILD_CORES, each output name
 *     set to its path, then the derivation's own environment (which may
 *     override those), then NIX_BUILD_TOP, TMPDIR, TEMPDIR, TMP, TEMP and
 *     PWD set to the build directory, NIX_LOG_FD=2, TERM=xterm-256color.
 *     Variables named in passAsFile are written to files in the build
 *     directory, "<name>Path" naming them, as Nix does.
 *   - A timeout (total, or without output) kills the whole process group.
 *     When the builder exits, whatever is left of its process group is
 *     killed too.
 *   - After an exit with status 0: every output must exist; outputs are
 *     canonicalised (mtime 1, files 0444 or 0555, directories 0555, so no
 *     setuid/setgid/sticky bit and no write bit); each output's NAR is
 *     hashed and scanned for the 32-character hash parts of the input
 *     closure's paths and of the outputs themselves (its references); a
 *     fixed output's hash is checked and it may refer to nothing; then all
 *     outputs are registered in one transaction with the .drv as deriver,
 *     after one syncfs of the store, so a crash cannot leave a valid path
 *     whose data is not on disk.
 *   - A failed build registers nothing and removes its outputs; its log is
 *     kept; its build directory is removed unless KEEP_FAILED.
 *
 * There is no sandbox: the builder runs with our user and sees the whole
 * file system and network.  Impure environment variables of fixed-output
 * derivations (impureEnvVars) and structured attributes (__json) are not
 * supported.
 *
 * Every function returns 0 or a negative ERR_* code with a message.
 */
#ifndef YONDER_BUILDER_H
#define YONDER_BUILDER_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "drv.h"

struct store;

struct builder_opts {
	unsigned timeout;    /* seconds the build may take; 0: no limit */
	unsigned max_silent; /* seconds without output; 0: no limit */
	bool keep_failed;    /* keep the build directory of a failed build */
	unsigned cores;      /* NIX_BUILD_CORES; 0: the number of CPUs */
};

/* Receives the builder's output as it arrives. */
typedef void (*builder_log_fn)(void *ctx, const void *p, size_t n);

/* The system this machine builds for ("x86_64-linux"); static storage. */
const char *builder_system(void);
/* Whether SYS is listed in $YONDER_CONFIG_DIR/extra-systems (system
 * names separated by white space): this machine builds for it too, as
 * Nix's extra-platforms (emulation, or a label in the test cluster). */
bool builder_extra_system(const char *sys);

struct builder;

/* Starts building D, whose .drv is the valid store path DRV_PATH, in S's
 * store (see the top of this file for what the caller must hold).  D and
 * S must outlive the build.  The inputs' files must be in place; they
 * must be valid by the time the build ends (builder_prepare scans for
 * references then), which lets a caller start a build while its inputs
 * are being registered.  On success *OUT is a running build (free
 * with builder_free); a builder that cannot be executed still gives a
 * build, which ends at the next builder_step with that failure in its log.
 * On error nothing runs and nothing is left behind. */
int builder_start(struct builder **out, struct store *s, const char *drv_path, const struct drv *d,
		  const struct builder_opts *o);

#define BUILDER_NFDS 2
/* Fills FDS (room for BUILDER_NFDS) with what to poll for B; returns the
 * count (0 once the process has ended). */
size_t builder_pollfds(const struct builder *b, struct pollfd *fds);

/* The CLOCK_MONOTONIC time in milliseconds at which builder_step must run
 * even if none of B's descriptors is ready (a timeout, or at once when B
 * has already ended), or -1 for none. */
int64_t builder_deadline(const struct builder *b);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t builder_now_ms(void);

/* Reads what the builder wrote (to the log and to LOG, which may be NULL),
 * reaps it when it has exited, and enforces the timeouts.  Returns 1 when
 * the build has ended (call builder_finish), 0 when it goes on, or an
 * error. */
int builder_step(struct builder *b, builder_log_fn log, void *ctx);

/* Ends an ended build: builder_prepare, then builder_commit of B alone.
 * 0 when the outputs are valid.  Otherwise a negative code and a message
 * that says why ("builder for '…' failed with exit code 1", "building of
 * '…' timed out after 5 seconds", "hash mismatch in fixed-output
 * derivation '…': specified sha256-…, got sha256-…", …); the outputs are
 * gone, the log is kept. */
int builder_finish(struct builder *b);

/* The two halves of builder_finish, so that a caller with several builds
 * ending makes them valid together (one sync, one transaction), and may
 * let the users of a build run before it is registered.
 *
 * builder_prepare checks how the builder ended, closes the log, and
 * checks, canonicalises, hashes and scans the outputs; on failure it
 * cleans up as builder_finish does.  The reference candidates come from
 * the database, except for inputs that PENDING (may be NULL) knows: it
 * returns the prepared, not yet registered path_info of such a path (whose
 * references then count), or NULL.
 *
 * builder_commit makes the outputs of the N prepared builds BS durable
 * (one syncfs of the store) and registers them all in one transaction, so
 * references among them are fine; on failure every one of them fails
 * (outputs removed). */
typedef const struct path_info *(*builder_pending_fn)(void *ctx, const char *path);
int builder_prepare(struct builder *b, builder_pending_fn pending, void *ctx);
int builder_commit(struct store *s, struct builder *const *bs, size_t n);
/* What a prepared build will register: an array of *N infos (owned by B,
 * valid until builder_commit or builder_free), or NULL. */
const struct path_info *builder_infos(const struct builder *b, size_t *n);

/* After builder_step returned 1: whether the builder exited with status 0
 * (its outputs may still fail the checks of builder_prepare). */
bool builder_exited_ok(const struct builder *b);
/* After builder_finish: whether the build was killed for a timeout. */
bool builder_timed_out(const struct builder *b);
/* After a failed builder_finish with KEEP_FAILED: the kept build
 * directory (owned by B), else NULL. */
const char *builder_kept_dir(const struct builder *b);
/* The log file (final name), owned by B. */
const char *builder_log_path(const struct builder *b);

/* Frees B.  A build still running is killed (its whole process group),
 * its outputs removed and its log kept.  NULL is a no-op. */
void builder_free(struct builder *b);

/* Runs a whole build: builder_start, a poll loop, builder_finish. */
int builder_run(struct store *s, const char *drv_path, const struct drv *d,
		const struct builder_opts *o, builder_log_fn log, void *ctx);

/* The log of the derivation DRV_PATH (its file's name is all that is
 * used): $YONDER_STATE_DIR/log/<base name>.zst, allocated into *OUT. */
int builder_log_file(const char *state_dir, const char *drv_path, char **out);

/* Writes the decompressed log file PATH to FD.  ERR_NOTFOUND when there is
 * no such log. */
int builder_log_cat(const char *path, int fd);

#endif
