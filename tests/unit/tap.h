/* tap.h — a tiny TAP producer for the C unit tests.
 *
 *   ok(cond, "name %d", i);   is_str(got, want, "name");   is_int(...)
 *   return tap_done();        prints the plan, then "N passed, N failed"
 *                             as a comment, and returns the exit code.
 */
#ifndef YONDER_TAP_H
#define YONDER_TAP_H

#include <stdbool.h>
#include <stdint.h>

bool ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool is_str(const char *got, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool is_int(long long got, long long want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A scratch directory, created on first use, removed by tap_done(). */
const char *tap_tmpdir(void);
int tap_done(void);

#endif
