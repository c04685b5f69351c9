/* buf.h — a growable byte buffer with a size cap.
 *
 * Every parser and every string builder in yonder uses this one type.  The
 * cap is fixed at init: a put that would grow the buffer past it fails with
 * ERR_TOOBIG before allocating anything, so a length read from untrusted
 * input can never make us allocate more than the cap.
 *
 * The data is always NUL-terminated (the NUL is not counted in len), so a
 * buffer holding text can be used as a C string.
 */
#ifndef YONDER_BUF_H
#define YONDER_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data; /* NULL until the first put; then len+1 bytes valid */
	size_t len;
	size_t cap; /* allocated bytes */
	size_t max; /* the cap on len */
};

#define BUF_INIT(max_)                                                                             \
	{                                                                                          \
		NULL, 0, 0, (max_)                                                                 \
	}

void buf_init(struct buf *b, size_t max);
/* Frees the data; the buffer may be used again (empty, same cap). */
void buf_release(struct buf *b);
/* Empties the buffer, keeping its allocation. */
void buf_reset(struct buf *b);
/* Makes room for N more bytes.  ERR_TOOBIG past the cap, ERR_NOMEM. */
int buf_grow(struct buf *b, size_t n);
int buf_put(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Appends N as 8 little-endian bytes (the NAR and protocol integer). */
int buf_put_u64le(struct buf *b, uint64_t n);
/* Hands the data to the caller (who frees it) and empties the buffer.
 * Returns an allocated "" when the buffer never held anything. */
char *buf_detach(struct buf *b, size_t *lenp);

#endif
