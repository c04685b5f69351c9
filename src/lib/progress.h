/* progress.h — how `yonder build` shows builds: a live status line on a
 * terminal, plain lines otherwise, or JSON objects for tools.
 *
 * Fed with the same events whether the builds run in-process (engine.h)
 * or in the daemon (its BUILD_STARTED, BUILD_FINISHED, LOG_LINE and
 * PROGRESS events), so both look the same.  It writes to the stream it is
 * given (the CLI's standard error); nothing else here touches a terminal.
 *
 *   PROGRESS_PLAIN  one line per event: "building '…drv' on localhost...",
 *                   the builders' output, "error: …" for failures; with
 *                   verbose also "built '…' on localhost in 1.2s" and a
 *                   summary.
 *   PROGRESS_TTY    the same lines, and under them one status line,
 *                   redrawn in place:
 *                   "[done/total] building NAME (12s) · 3 running · 5 waiting";
 *                   a summary at the end (built, already valid, failed,
 *                   time).
 *   PROGRESS_JSON   one JSON object per line and per event:
 *                   {"event":"build-started","drv":…,"machine":…},
 *                   {"event":"build-finished","drv":…,"machine":…,
 *                    "status":"built"|"valid"|"failed"|"timed-out"|
 *                    "dependency-failed"|"cancelled","duration_ms":N,
 *                    "message":…}, {"event":"log","drv":…,"machine":…,
 *                   "line":…}, {"event":"progress","done":N,"total":N,
 *                   "running":N,"waiting":N,"failed":N}, and
 *                   {"event":"summary",…} at the end.
 * QUIET drops the builders' output and the "building" lines (not errors).
 */
#ifndef YONDER_PROGRESS_H
#define YONDER_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum progress_mode { PROGRESS_PLAIN, PROGRESS_TTY, PROGRESS_JSON };

struct progress;

/* NULL when out of memory. */
struct progress *progress_new(FILE *out, enum progress_mode mode, bool quiet, bool verbose);
/* Flushes partial log lines and clears the status line; NULL is a no-op. */
void progress_free(struct progress *p);

void progress_started(struct progress *p, const char *drv, const char *machine);
void progress_waiting(struct progress *p, const char *drv);
/* STATUS as enum engine_status; DURATION_MS UINT64_MAX: measured here
 * from progress_started. */
void progress_finished(struct progress *p, const char *drv, const char *machine, int status,
		       uint64_t duration_ms, const char *msg);
void progress_kept(struct progress *p, const char *drv, const char *dir);
/* Output of DRV's builder, in any pieces: shown line by line. */
void progress_log(struct progress *p, const char *drv, const char *machine, const void *data,
		  size_t n);
void progress_counts(struct progress *p, uint64_t done, uint64_t total, uint64_t running,
		     uint64_t waiting, uint64_t failed);
/* Redraws the status line (PROGRESS_TTY; a no-op otherwise), so that
 * the running build's time goes on while nothing else happens.  Returns
 * the milliseconds until the seconds shown change (at most 1000): the
 * caller's event loop calls it again then, from a timer. */
uint64_t progress_tick(struct progress *p);
/* The counts of the summary, from the final status of every derivation
 * considered (the events do not tell of those that were valid before
 * anything ran).  Without this call the summary counts the events. */
void progress_final(struct progress *p, size_t built, size_t valid, size_t failed);
/* The final summary (PROGRESS_TTY, PROGRESS_JSON, or verbose):
 * "N built, N already valid, N failed, in 1.2s". */
void progress_summary(struct progress *p);

#endif
