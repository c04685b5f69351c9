/* tap.h — a tiny TAP producer for the C unit tests.
 *
 *   ok(cond, "name %d", i);   is_str(got, want, "name");   is_int(...)
 *   return tap_done();        prints the plan, then "N passed, N failed"
 *                             as a comment, and returns the exit code.
 */
#ifndef YONDER_TAP_H
#define YONDER_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool is_str(const char *got, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool is_int(long long got, long long want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The repository's top directory, as an absolute path: $YONDER_TOP when
 * set, else the current directory when it is the top (make check runs
 * there), else ARGV0's ../../.. (build/tests/unit/test_x). */
const char *tap_find_top(const char *argv0);
/* The whole file PATH (relative to the top found by tap_find_top, or
 * absolute), NUL-terminated, its length in *LENP (may be NULL); NULL when
 * it cannot be read.  Freed with free(). */
char *tap_slurp(const char *path, size_t *lenp);
/* A scratch directory, created on first use, removed by tap_done(). */
const char *tap_tmpdir(void);
int tap_done(void);

#endif
