/* fuzz_nar_restore.c — libFuzzer target for nar_restore, through a real
 * file system.
 *
 * Each input is restored at <scratch>/d (canonical modes for odd-sized
 * inputs, plain ones for even-sized, so both paths run).  Properties,
 * abort() when one breaks:
 *   - restore succeeds exactly when the strict parser accepts the whole
 *     input (nar_parse with no visitor, ending at the last byte);
 *   - on success, nar_walk of the restored tree writes the input back byte
 *     for byte (the round trip through files, modes and symlinks is exact);
 *   - on failure, nothing is left in the scratch directory and the message
 *     names a byte offset.
 * The scratch directory is made once (under $TMPDIR or /tmp) and removed at
 * exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "io.h"
#include "nar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem_sink {
	struct sink sink;
	struct buf b;
};

static int mem_sink_write(struct sink *s, const void *p, size_t n)
{
	return buf_put(&((struct mem_sink *)s)->b, p, n);
}

static char scratch[4096], dest[4200];

static void fail(const char *what, size_t size)
{
	fprintf(stderr, "fuzz_nar_restore: %s (input of %zu bytes; last message: %s)\n", what, size,
		err_msg());
	abort();
}

static void cleanup(void)
{
	if (scratch[0])
		rm_rf_at(AT_FDCWD, scratch);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	umask(022);
	snprintf(scratch, sizeof(scratch), "%s/yonder-fuzz-restore.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(scratch)) {
		perror("fuzz_nar_restore: mkdtemp");
		abort();
	}
	snprintf(dest, sizeof(dest), "%s/d", scratch);
	atexit(cleanup);
}

static bool scratch_is_empty(void)
{
	struct stat st;

	return lstat(dest, &st) != 0 && errno == ENOENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem_sink ms = {{mem_sink_write}, BUF_INIT(0)};
	struct nar_writer w;
	struct reader r;
	bool parses;
	int e;

	if (!scratch[0])
		setup();

	reader_init_mem(&r, data, size, "fuzz input");
	parses = nar_parse(&r, NULL) == 0 && r.offset == size;

	reader_init_mem(&r, data, size, "fuzz input");
	e = nar_restore(&r, dest, (size & 1) ? NAR_CANONICAL : 0);
	if ((e == 0) != parses)
		fail(parses ? "restore refused a NAR that the parser accepts"
			    : "restore accepted a NAR that the parser refuses",
		     size);
	if (e != 0) {
		if (!strstr(err_msg(), "byte"))
			fail("an error message names no byte offset", size);
		if (!scratch_is_empty())
			fail("a failed restore left files behind", size);
		return 0;
	}

	buf_init(&ms.b, size + 4096);
	nar_writer_init(&w, &ms.sink);
	if (nar_walk(AT_FDCWD, dest, &w.v) != 0)
		fail("the restored tree cannot be walked", size);
	if (ms.b.len != size || memcmp(ms.b.data, data, size) != 0)
		fail("the restored tree does not dump back to the input", size);
	buf_release(&ms.b);
	if (rm_rf_at(AT_FDCWD, dest) != 0 || !scratch_is_empty())
		fail("cannot clean the scratch directory", size);
	return 0;
}
