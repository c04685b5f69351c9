/* io.h — byte sinks, a buffered reader that counts offsets, and small file
 * helpers shared by every module.
 */
#ifndef YONDER_IO_H
#define YONDER_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hash.h"

/* A sink takes bytes.  write returns 0 or a negative error code (with a
 * message recorded).  Sinks are embedded as the first member of a bigger
 * struct that holds their state. */
struct sink {
	int (*write)(struct sink *s, const void *p, size_t n);
};

static inline int sink_write(struct sink *s, const void *p, size_t n)
{
	return s->write(s, p, n);
}

/* A sink that writes to a file descriptor through a 64 KiB buffer.  WHAT
 * names the destination in error messages.  Call fd_sink_flush() at the end. */
struct fd_sink {
	struct sink sink;
	int fd;
	const char *what;
	size_t len;
	unsigned char buf[65536];
};
void fd_sink_init(struct fd_sink *s, int fd, const char *what);
int fd_sink_flush(struct fd_sink *s);

/* A sink that feeds SHA-256 and counts bytes.  hash_sink_init starts the
 * hash; hash_sink_finish writes the digest (and releases it). */
struct hash_sink {
	struct sink sink;
	struct sha256 sha;
	uint64_t size;
};
int hash_sink_init(struct hash_sink *s);
void hash_sink_finish(struct hash_sink *s, uint8_t out[SHA256_LEN]);
void hash_sink_release(struct hash_sink *s);

/* A buffered reader over a file descriptor or a memory block that counts
 * the offset of every byte consumed (for error messages) and can hash what
 * it consumes.  WHAT names the input in messages. */
struct reader {
	int fd;                 /* -1 for a memory reader */
	const unsigned char *p; /* unread bytes */
	size_t avail;
	uint64_t offset;     /* bytes consumed so far */
	struct sha256 *hash; /* when set, consumed bytes are hashed */
	const char *what;
	unsigned char *buf; /* owned, fd and pull readers only */
	size_t bufsize;
	bool eof;
	/* Pull readers: fill the buffer from this instead of read(2) (see
	 * reader_init_pull); NULL otherwise. */
	int (*pull)(void *ctx, void *dst, size_t n, size_t *got);
	void *pull_ctx;
};
/* Returns ERR_NOMEM when the buffer cannot be allocated. */
int reader_init_fd(struct reader *r, int fd, const char *what);
void reader_init_mem(struct reader *r, const void *p, size_t n, const char *what);
/* A reader whose bytes come from PULL: it writes up to N (> 0) bytes at
 * DST and sets *GOT, 0 meaning the end of input, or returns a negative
 * error code with a message.  Used to layer a reader over another source
 * (a decompressor, a length-limited part of another reader).  BUFSIZE is
 * the size of the reader's buffer.  ERR_NOMEM. */
int reader_init_pull(struct reader *r, int (*pull)(void *ctx, void *dst, size_t n, size_t *got),
		     void *ctx, size_t bufsize, const char *what);
void reader_release(struct reader *r);
/* Reads exactly N bytes into DST (DST may be NULL to skip them).  At end of
 * input: ERR_TRUNCATED, "WHAT: unexpected end of input at byte OFFSET". */
int reader_read(struct reader *r, void *dst, size_t n);
/* Calls FN on the next N bytes, in chunks as they arrive (no copy). */
int reader_stream(struct reader *r, uint64_t n, int (*fn)(void *ctx, const void *p, size_t n),
		  void *ctx);
/* 1 when no byte is left, 0 when one is, <0 on a read error. */
int reader_at_eof(struct reader *r);

/* write(2) all of N bytes; WHAT names the file in the message. */
int write_all(int fd, const void *p, size_t n, const char *what);

/* Removes PATH (relative to DIRFD, or absolute) and everything under it,
 * never following a symlink.  Makes read-only directories writable as it
 * goes.  A missing PATH is not an error. */
int rm_rf_at(int dirfd, const char *path);

/* Creates PATH and its missing parents with MODE (less the umask); an
 * existing directory is fine. */
int mkdir_p(const char *path, mode_t mode);

#endif
