/* fuzz_nar.c — libFuzzer target for the strict NAR reader (nar_parse).
 *
 * For every input:
 *   1. nar_parse over a memory reader with no visitor must return (no crash,
 *      no leak, no undefined behaviour); a failure's message must name the
 *      byte offset.
 *   2. nar_parse again, this time feeding a nar_writer into a memory sink,
 *      must give the same verdict at the same offset.
 *   3. When the input parses, the writer's bytes must equal the bytes the
 *      parser consumed: the reader is canonical — a NAR it accepts has
 *      exactly one serialisation, the one yonder writes.
 * A broken property abort()s, which libFuzzer and the replay driver
 * (standalone.c) both report.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void fail(const char *what, size_t size)
{
	fprintf(stderr, "fuzz_nar: %s (input of %zu bytes; last message: %s)\n", what, size,
		err_msg());
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem_sink ms = {{mem_sink_write}, BUF_INIT(0)};
	struct nar_writer w;
	struct reader r;
	uint64_t consumed;
	int e1, e2;

	reader_init_mem(&r, data, size, "fuzz input");
	e1 = nar_parse(&r, NULL);
	consumed = r.offset;
	if (consumed > size)
		fail("the reader consumed more than its input", size);
	if (e1 != 0 && !strstr(err_msg(), "byte"))
		fail("an error message names no byte offset", size);
	if (e1 == 0 && consumed < 8 + 16 + 3 * 16)
		fail("a NAR shorter than the shortest possible one was accepted", size);

	/* For an accepted NAR the writer writes exactly what was read; on a
	 * rejected one it may be ahead of the reader by a file's padding and
	 * one closing token (the visitor hears file_end before the parser
	 * reads the ')').  The cap makes more than that an error, hence an
	 * abort below. */
	buf_init(&ms.b, size + 64);
	nar_writer_init(&w, &ms.sink);
	reader_init_mem(&r, data, size, "fuzz input");
	e2 = nar_parse(&r, &w.v);
	if (e2 != e1)
		fail("parsing with and without a visitor disagree", size);
	if (r.offset != consumed)
		fail("parsing with and without a visitor stop at different offsets", size);
	if (e1 == 0 && (ms.b.len != consumed || memcmp(ms.b.data, data, ms.b.len) != 0))
		fail("an accepted NAR does not re-serialise to its own bytes", size);
	buf_release(&ms.b);
	return 0;
}
