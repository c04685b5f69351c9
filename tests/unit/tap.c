#include "tap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "io.h"

static int n_run, n_fail;
static char tmpdir[256];
static char top[4096];

static bool report(bool cond, const char *fmt, va_list ap)
{
	n_run++;
	if (!cond)
		n_fail++;
	printf("%s %d - ", cond ? "ok" : "not ok", n_run);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
	return cond;
}

bool ok(bool cond, const char *fmt, ...)
{
	va_list ap;
	bool r;

	va_start(ap, fmt);
	r = report(cond, fmt, ap);
	va_end(ap);
	return r;
}

bool is_str(const char *got, const char *want, const char *fmt, ...)
{
	va_list ap;
	bool cond = got && want && !strcmp(got, want), r;

	va_start(ap, fmt);
	r = report(cond, fmt, ap);
	va_end(ap);
	if (!cond)
		printf("#   got:  '%s'\n#   want: '%s'\n", got ? got : "(null)",
		       want ? want : "(null)");
	return r;
}

bool is_int(long long got, long long want, const char *fmt, ...)
{
	va_list ap;
	bool r;

	va_start(ap, fmt);
	r = report(got == want, fmt, ap);
	va_end(ap);
	if (got != want)
		printf("#   got:  %lld\n#   want: %lld\n", got, want);
	return r;
}

const char *tap_tmpdir(void)
{
	if (!tmpdir[0]) {
		const char *base = getenv("TMPDIR");

		snprintf(tmpdir, sizeof(tmpdir), "%s/yonder-unit-XXXXXX", base ? base : "/tmp");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			exit(2);
		}
	}
	return tmpdir;
}

int tap_done(void)
{
	if (tmpdir[0])
		rm_rf_at(-1, tmpdir);
	printf("1..%d\n# %d passed, %d failed\n", n_run, n_run - n_fail, n_fail);
	return n_fail ? 1 : 0;
}

const char *tap_find_top(const char *argv0)
{
	const char *env = getenv("YONDER_TOP"), *slash = strrchr(argv0, '/');
	char dir[4096];

	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	else if (access("tests/unit/tap.h", R_OK) == 0)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s/../../..", slash ? (int)(slash - argv0) : 1,
			 slash ? argv0 : ".");
	if (!realpath(dir, top))
		snprintf(top, sizeof(top), "%s", dir);
	return top;
}

char *tap_slurp(const char *path, size_t *lenp)
{
	struct buf b = BUF_INIT((size_t)1 << 28);
	char full[8192], chunk[65536];
	size_t n;
	FILE *f;

	if (path[0] == '/')
		snprintf(full, sizeof(full), "%s", path);
	else
		snprintf(full, sizeof(full), "%s/%s", top[0] ? top : ".", path);
	if (!(f = fopen(full, "rb")))
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_put(&b, chunk, n) != 0)
			break;
	fclose(f);
	return buf_detach(&b, lenp);
}
