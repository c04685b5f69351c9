/* test_nar.c — the NAR writer's exact bytes, the strict parser, the tee,
 * the walker, the restorer and nar_hash_path, on one small tree:
 *
 *   /            directory
 *   /dir         directory with two entries
 *   /dir/a       empty regular file
 *   /dir/b       regular "12345678" (no padding)
 *   /exe         executable "#!" (6 bytes of padding)
 *   /hello       regular "hello" (3 bytes of padding)
 *   /link        symlink to "hello"
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "hash.h"
#include "io.h"
#include "nar.h"
#include "tap.h"

/* The NAR of the tree above, computed by hand: every string is an 8-byte
 * little-endian length, the bytes, and zeros up to a multiple of 8. */
/* clang-format off */
#define Z7 "\0\0\0\0\0\0\0"
static const char expected[] =
	"\x0d" Z7 "nix-archive-1\0\0\0"
	"\x01" Z7 "(" Z7 "\x04" Z7 "type\0\0\0\0" "\x09" Z7 "directory" Z7
	/* entry dir */
	"\x05" Z7 "entry\0\0\0" "\x01" Z7 "(" Z7 "\x04" Z7 "name\0\0\0\0" "\x03" Z7 "dir\0\0\0\0\0"
	"\x04" Z7 "node\0\0\0\0"
	"\x01" Z7 "(" Z7 "\x04" Z7 "type\0\0\0\0" "\x09" Z7 "directory" Z7
	/* entry dir/a: empty file */
	"\x05" Z7 "entry\0\0\0" "\x01" Z7 "(" Z7 "\x04" Z7 "name\0\0\0\0" "\x01" Z7 "a" Z7
	"\x04" Z7 "node\0\0\0\0"
	"\x01" Z7 "(" Z7 "\x04" Z7 "type\0\0\0\0" "\x07" Z7 "regular\0"
	"\x08" Z7 "contents" "\0" Z7
	"\x01" Z7 ")" Z7 "\x01" Z7 ")" Z7
	/* entry dir/b: 8 bytes, no padding */
	"\x05" Z7 "entry\0\0\0" "\x01" Z7 "(" Z7 "\x04" Z7 "name\0\0\0\0" "\x01" Z7 "b" Z7
	"\x04" Z7 "node\0\0\0\0"
	"\x01" Z7 "(" Z7 "\x04" Z7 "type\0\0\0\0" "\x07" Z7 "regular\0"
	"\x08" Z7 "contents" "\x08" Z7 "12345678"
	"\x01" Z7 ")" Z7 "\x01" Z7 ")" Z7
	/* end of dir, end of its entry */
	"\x01" Z7 ")" Z7 "\x01" Z7 ")" Z7
	/* entry exe: executable "#!" */
	"\x05" Z7 "entry\0\0\0" "\x01" Z7 "(" Z7 "\x04" Z7 "name\0\0\0\0" "\x03" Z7 "exe\0\0\0\0\0"
	"\x04" Z7 "node\0\0\0\0"
	"\x01" Z7 "(" Z7 "\x04" Z7 "type\0\0\0\0" "\x07" Z7 "regular\0"
	"\x0a" Z7 "executable\0\0\0\0\0\0" "\0" Z7
	"\x08" Z7 "contents" "\x02" Z7 "#!\0\0\0\0\0\0"
	"\x01" Z7 ")" Z7 "\x01" Z7 ")" Z7
	/* entry hello: "hello" */
	"\x05" Z7 "entry\0\0\0" "\x01" Z7 "(" Z7 "\x04" Z7 "name\0\0\0\0" "\x05" Z7 "hello\0\0\0"
	"\x04" Z7 "node\0\0\0\0"
	"\x01" Z7 "(" Z7 "\x04" Z7 "type\0\0\0\0" "\x07" Z7 "regular\0"
	"\x08" Z7 "contents" "\x05" Z7 "hello\0\0\0"
	"\x01" Z7 ")" Z7 "\x01" Z7 ")" Z7
	/* entry link -> hello */
	"\x05" Z7 "entry\0\0\0" "\x01" Z7 "(" Z7 "\x04" Z7 "name\0\0\0\0" "\x04" Z7 "link\0\0\0\0"
	"\x04" Z7 "node\0\0\0\0"
	"\x01" Z7 "(" Z7 "\x04" Z7 "type\0\0\0\0" "\x07" Z7 "symlink\0"
	"\x06" Z7 "target\0\0" "\x05" Z7 "hello\0\0\0"
	"\x01" Z7 ")" Z7 "\x01" Z7 ")" Z7
	/* end of the root */
	"\x01" Z7 ")" Z7;
/* clang-format on */
#define EXPECTED_LEN (sizeof(expected) - 1)

struct mem_sink {
	struct sink sink;
	struct buf b;
};

static int mem_write(struct sink *s, const void *p, size_t n)
{
	return buf_put(&((struct mem_sink *)s)->b, p, n);
}

static void mem_sink_init(struct mem_sink *m)
{
	m->sink.write = mem_write;
	buf_init(&m->b, 1 << 26);
}

static bool same_bytes(const struct buf *b, const void *want, size_t n)
{
	if (b->len != n) {
		printf("# length %zu, want %zu\n", b->len, n);
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)b->data[i] != ((const unsigned char *)want)[i]) {
			printf("# first difference at byte %zu: %02x, want %02x\n", i,
			       (unsigned char)b->data[i], ((const unsigned char *)want)[i]);
			return false;
		}
	return true;
}

/* Sends the tree's events to V, as a producer would. */
static int send_tree(const struct nar_visitor *v)
{
	void *c = v->ctx;
	int r = 0;

#define DO(call)                                                                                   \
	do {                                                                                       \
		if ((r = (call)) != 0)                                                             \
			return r;                                                                  \
	} while (0)
	DO(v->dir_begin(c));
	DO(v->entry_begin(c, "dir", 3));
	DO(v->dir_begin(c));
	DO(v->entry_begin(c, "a", 1));
	DO(v->file_begin(c, false, 0));
	DO(v->file_end(c));
	DO(v->entry_end(c));
	DO(v->entry_begin(c, "b", 1));
	DO(v->file_begin(c, false, 8));
	DO(v->file_data(c, "1234", 4)); /* in two chunks */
	DO(v->file_data(c, "5678", 4));
	DO(v->file_end(c));
	DO(v->entry_end(c));
	DO(v->dir_end(c));
	DO(v->entry_end(c));
	DO(v->entry_begin(c, "exe", 3));
	DO(v->file_begin(c, true, 2));
	DO(v->file_data(c, "#!", 2));
	DO(v->file_end(c));
	DO(v->entry_end(c));
	DO(v->entry_begin(c, "hello", 5));
	DO(v->file_begin(c, false, 5));
	DO(v->file_data(c, "hello", 5));
	DO(v->file_end(c));
	DO(v->entry_end(c));
	DO(v->entry_begin(c, "link", 4));
	DO(v->symlink(c, "hello", 5));
	DO(v->entry_end(c));
	DO(v->dir_end(c));
#undef DO
	return r;
}

static int write_file(const char *path, const char *s, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	if (fd < 0)
		return -1;
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s) || fchmod(fd, mode) != 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static bool make_tree(const char *root)
{
	char p[4096];

#define PATH(s) (snprintf(p, sizeof(p), "%s%s", root, s), p)
	return mkdir(PATH(""), 0755) == 0 && mkdir(PATH("/dir"), 0755) == 0 &&
	       write_file(PATH("/dir/a"), "", 0644) == 0 &&
	       write_file(PATH("/dir/b"), "12345678", 0644) == 0 &&
	       write_file(PATH("/exe"), "#!", 0755) == 0 &&
	       write_file(PATH("/hello"), "hello", 0644) == 0 &&
	       symlink("hello", PATH("/link")) == 0;
#undef PATH
}

static int parse_mem(const void *p, size_t n, const struct nar_visitor *v, uint64_t *offset)
{
	struct reader r;
	int e;

	reader_init_mem(&r, p, n, "test");
	e = nar_parse(&r, v);
	if (offset)
		*offset = r.offset;
	return e;
}

/* ---- writer, parser, tee ---------------------------------------------------- */

static void test_writer(void)
{
	struct mem_sink m;
	struct nar_writer w;

	mem_sink_init(&m);
	nar_writer_init(&w, &m.sink);
	ok(send_tree(&w.v) == 0, "writer: the events are accepted");
	ok(same_bytes(&m.b, expected, EXPECTED_LEN),
	   "writer: exact bytes of the hand-computed NAR (%zu)", EXPECTED_LEN);
	buf_release(&m.b);
}

static void test_parser(void)
{
	struct mem_sink m;
	struct nar_writer w;
	uint64_t off;
	int e;

	e = parse_mem(expected, EXPECTED_LEN, NULL, &off);
	ok(e == 0, "parser: accepts the hand-computed NAR (%s)", e ? err_msg() : "ok");
	is_int((long long)off, (long long)EXPECTED_LEN, "parser: consumes exactly the NAR");

	mem_sink_init(&m);
	nar_writer_init(&w, &m.sink);
	ok(parse_mem(expected, EXPECTED_LEN, &w.v, NULL) == 0, "parser → writer: accepted");
	ok(same_bytes(&m.b, expected, EXPECTED_LEN), "parser → writer: same bytes");
	buf_release(&m.b);

	/* Trailing bytes are the caller's business: the parser stops at the end. */
	{
		char more[EXPECTED_LEN + 8];

		memcpy(more, expected, EXPECTED_LEN);
		memset(more + EXPECTED_LEN, 'x', 8);
		ok(parse_mem(more, sizeof(more), NULL, &off) == 0 && off == EXPECTED_LEN,
		   "parser: stops right after the NAR, leaving trailing bytes unread");
	}

	/* Every proper prefix is truncated, and says so at its own length. */
	{
		bool all = true;
		char want[64];

		for (size_t n = 0; n < EXPECTED_LEN; n++) {
			e = parse_mem(expected, n, NULL, NULL);
			snprintf(want, sizeof(want), "test: unexpected end of input at byte %zu",
				 n);
			if (e != ERR_TRUNCATED || strcmp(err_msg(), want) != 0) {
				printf("# prefix %zu: %d %s\n", n, e, err_msg());
				all = false;
				break;
			}
		}
		ok(all, "parser: each of the %zu proper prefixes is ERR_TRUNCATED at its length",
		   EXPECTED_LEN);
	}

	/* Canonical form: flip one bit anywhere; the result is either refused
	 * or it is a NAR whose re-serialisation is exactly its own bytes (a
	 * content, name or target byte changed into another valid one). */
	{
		char *copy = malloc(EXPECTED_LEN);
		int refused = 0, accepted_same = 0, bad = 0;

		for (size_t i = 0; copy && i < EXPECTED_LEN; i++) {
			memcpy(copy, expected, EXPECTED_LEN);
			copy[i] ^= 0x01;
			mem_sink_init(&m);
			nar_writer_init(&w, &m.sink);
			e = parse_mem(copy, EXPECTED_LEN, &w.v, &off);
			if (e != 0)
				refused++;
			else if (off == EXPECTED_LEN && same_bytes(&m.b, copy, EXPECTED_LEN))
				accepted_same++;
			else
				bad++;
			buf_release(&m.b);
		}
		free(copy);
		is_int(bad, 0,
		       "parser: a flipped bit never yields a NAR that re-serialises differently");
		/* Contents (15 bytes) and the target (5) always stay valid. */
		ok(accepted_same >= 20 && refused > accepted_same,
		   "parser: of %zu flips, %d refused, %d still canonical NARs", EXPECTED_LEN,
		   refused, accepted_same);
	}
}

/* Counts events, and fails on one of them, to check the tee. */
struct log {
	char tag;
	int fail_at; /* fail on this event number (1-based), 0 never */
	int n;
	struct nar_visitor v;
};

static int log_ev(struct log *l)
{
	if (++l->n == l->fail_at)
		return err_set(ERR_IO, "log %c fails at event %d", l->tag, l->n);
	return 0;
}
static int l_fb(void *c, bool x, uint64_t n)
{
	return log_ev(c);
}
static int l_fd(void *c, const void *p, size_t n)
{
	return log_ev(c);
}
static int l_fe(void *c)
{
	return log_ev(c);
}
static int l_sl(void *c, const char *t, size_t n)
{
	return log_ev(c);
}
static int l_db(void *c)
{
	return log_ev(c);
}
static int l_eb(void *c, const char *s, size_t n)
{
	return log_ev(c);
}
static int l_ee(void *c)
{
	return log_ev(c);
}
static int l_de(void *c)
{
	return log_ev(c);
}

static void log_init(struct log *l, char tag, int fail_at)
{
	memset(l, 0, sizeof(*l));
	l->tag = tag;
	l->fail_at = fail_at;
	l->v = (struct nar_visitor){l, l_fb, l_fd, l_fe, l_sl, l_db, l_eb, l_ee, l_de};
}

static void test_tee(void)
{
	struct mem_sink m1, m2;
	struct nar_writer w1, w2;
	struct nar_tee t;
	struct log a, b;
	int e;

	mem_sink_init(&m1);
	mem_sink_init(&m2);
	nar_writer_init(&w1, &m1.sink);
	nar_writer_init(&w2, &m2.sink);
	nar_tee_init(&t, &w1.v, &w2.v);
	ok(send_tree(&t.v) == 0, "tee: the events are accepted");
	ok(same_bytes(&m1.b, expected, EXPECTED_LEN), "tee: the first writer got the NAR");
	ok(same_bytes(&m2.b, expected, EXPECTED_LEN), "tee: the second writer got the NAR");
	buf_release(&m1.b);
	buf_release(&m2.b);

	log_init(&a, 'a', 0);
	log_init(&b, 'b', 0);
	nar_tee_init(&t, &a.v, &b.v);
	send_tree(&t.v);
	ok(a.n == 29 && b.n == 29, "tee: both sides see all 29 events (%d, %d)", a.n, b.n);

	/* A failure on the first side stops the event before the second. */
	log_init(&a, 'a', 5);
	log_init(&b, 'b', 0);
	nar_tee_init(&t, &a.v, &b.v);
	e = send_tree(&t.v);
	ok(e == ERR_IO && a.n == 5 && b.n == 4,
	   "tee: the first side's error stops the event before the second side (%d, %d)", a.n, b.n);
	is_str(err_msg(), "log a fails at event 5", "tee: the failing side's message is kept");
	/* A failure on the second side is returned too. */
	log_init(&a, 'a', 0);
	log_init(&b, 'b', 3);
	nar_tee_init(&t, &a.v, &b.v);
	ok(send_tree(&t.v) == ERR_IO && a.n == 3 && b.n == 3,
	   "tee: the second side's error is returned");
}

/* ---- walking, dumping, hashing ---------------------------------------------- */

static void test_walk_dump_hash(const char *tmp)
{
	char root[1024], out[1024];
	struct mem_sink m;
	struct nar_writer w;
	uint8_t h[SHA256_LEN], want[SHA256_LEN];
	uint64_t size = 0;
	int fd, e;

	snprintf(root, sizeof(root), "%s/tree", tmp);
	if (!ok(make_tree(root), "walk: made the tree on disk (%s)", strerror(errno)))
		return;
	mem_sink_init(&m);
	nar_writer_init(&w, &m.sink);
	e = nar_walk(AT_FDCWD, root, &w.v);
	ok(e == 0, "walk: succeeds (%s)", e ? err_msg() : "ok");
	ok(same_bytes(&m.b, expected, EXPECTED_LEN), "walk → writer: the hand-computed bytes");
	buf_release(&m.b);

	snprintf(out, sizeof(out), "%s/dump.nar", tmp);
	fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	e = nar_dump_to_fd(root, fd);
	close(fd);
	ok(e == 0, "nar_dump_to_fd: succeeds");
	{
		char *got = malloc(EXPECTED_LEN + 16);
		ssize_t n = -1;

		fd = open(out, O_RDONLY | O_CLOEXEC);
		if (got && fd >= 0)
			n = read(fd, got, EXPECTED_LEN + 16);
		if (fd >= 0)
			close(fd);
		ok(n == (ssize_t)EXPECTED_LEN && !memcmp(got, expected, EXPECTED_LEN),
		   "nar_dump_to_fd: the file holds the hand-computed bytes");
		free(got);
	}

	e = nar_hash_path(AT_FDCWD, root, h, &size);
	sha256_buf(expected, EXPECTED_LEN, want);
	ok(e == 0 && !memcmp(h, want, SHA256_LEN), "nar_hash_path: SHA-256 of the dump");
	is_int((long long)size, (long long)EXPECTED_LEN, "nar_hash_path: the NAR's size");

	/* Relative to a directory descriptor, as the store calls it. */
	fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	memset(h, 0, sizeof(h));
	e = nar_hash_path(fd, "tree", h, NULL);
	close(fd);
	ok(e == 0 && !memcmp(h, want, SHA256_LEN), "nar_hash_path: same hash relative to a dirfd");

	/* A big file: the hash is batched, the result must not change. */
	{
		char big[4096];
		unsigned char *bytes = malloc(3 << 20);
		struct hash_sink hs;
		struct nar_writer hw;
		uint8_t via_sink[SHA256_LEN];

		snprintf(big, sizeof(big), "%s/big", tmp);
		fd = open(big, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		for (size_t i = 0; bytes && i < (3u << 20); i++)
			bytes[i] = (unsigned char)(i * 2654435761u >> 13);
		if (bytes && fd >= 0)
			write_all(fd, bytes, (3u << 20) - 3, "big");
		close(fd);
		hash_sink_init(&hs);
		nar_writer_init(&hw, &hs.sink);
		e = nar_walk(AT_FDCWD, big, &hw.v);
		hash_sink_finish(&hs, via_sink);
		ok(e == 0 && nar_hash_path(AT_FDCWD, big, h, &size) == 0 &&
		       !memcmp(h, via_sink, SHA256_LEN) && size == hs.size,
		   "nar_hash_path of a 3 MiB file equals walk → writer → hash sink");
		free(bytes);
	}
}

/* ---- restoring ------------------------------------------------------------------ */

static void test_restore(const char *tmp)
{
	char dest[1024], p[2048];
	struct reader r;
	struct stat st;
	uint8_t h[SHA256_LEN], want[SHA256_LEN];
	int e;

	snprintf(dest, sizeof(dest), "%s/restored", tmp);
	reader_init_mem(&r, expected, EXPECTED_LEN, "test");
	e = nar_restore(&r, dest, 0);
	ok(e == 0, "restore: succeeds (%s)", e ? err_msg() : "ok");
	sha256_buf(expected, EXPECTED_LEN, want);
	ok(nar_hash_path(AT_FDCWD, dest, h, NULL) == 0 && !memcmp(h, want, SHA256_LEN),
	   "restore: the restored tree hashes to the NAR's hash");
	snprintf(p, sizeof(p), "%s/exe", dest);
	ok(stat(p, &st) == 0 && (st.st_mode & 0100), "restore: exe is executable");

	/* Canonical: 0444/0555, directories 0555, mtime 1. */
	snprintf(dest, sizeof(dest), "%s/canonical", tmp);
	reader_init_mem(&r, expected, EXPECTED_LEN, "test");
	ok(nar_restore(&r, dest, NAR_CANONICAL) == 0, "restore canonical: succeeds");
	ok(lstat(dest, &st) == 0 && (st.st_mode & 07777) == 0555 && st.st_mtime == 1,
	   "restore canonical: the root directory is 0555, mtime 1");
	snprintf(p, sizeof(p), "%s/exe", dest);
	ok(lstat(p, &st) == 0 && (st.st_mode & 07777) == 0555 && st.st_mtime == 1,
	   "restore canonical: exe is 0555, mtime 1");
	snprintf(p, sizeof(p), "%s/dir/b", dest);
	ok(lstat(p, &st) == 0 && (st.st_mode & 07777) == 0444 && st.st_mtime == 1,
	   "restore canonical: dir/b is 0444, mtime 1");
	snprintf(p, sizeof(p), "%s/link", dest);
	ok(lstat(p, &st) == 0 && S_ISLNK(st.st_mode) && st.st_mtime == 1,
	   "restore canonical: the symlink's own mtime is 1");
	rm_rf_at(AT_FDCWD, dest);

	/* An existing destination is refused and left alone. */
	snprintf(dest, sizeof(dest), "%s/restored", tmp);
	reader_init_mem(&r, expected, EXPECTED_LEN, "test");
	e = nar_restore(&r, dest, 0);
	is_int(e, ERR_EXISTS, "restore: an existing destination is ERR_EXISTS");
	ok(strstr(err_msg(), "NAR byte") != NULL,
	   "restore: that message names the byte offset (%s)", err_msg());
	snprintf(p, sizeof(p), "%s/hello", dest);
	ok(access(p, F_OK) == 0, "restore: the existing destination is untouched");

	/* Trailing bytes: refused and removed. */
	{
		char more[EXPECTED_LEN + 1];

		memcpy(more, expected, EXPECTED_LEN);
		more[EXPECTED_LEN] = 0;
		snprintf(dest, sizeof(dest), "%s/trailing", tmp);
		reader_init_mem(&r, more, sizeof(more), "test");
		e = nar_restore(&r, dest, 0);
		ok(e == ERR_FORMAT && strstr(err_msg(), "trailing bytes"),
		   "restore: a trailing byte is refused (%s)", err_msg());
		ok(access(dest, F_OK) != 0 && errno == ENOENT, "restore: and the tree is removed");
	}

	/* A canonical (read-only) tree half restored is removed too. */
	snprintf(dest, sizeof(dest), "%s/half", tmp);
	reader_init_mem(&r, expected, EXPECTED_LEN - 40, "test");
	e = nar_restore(&r, dest, NAR_CANONICAL);
	ok(e == ERR_TRUNCATED && access(dest, F_OK) != 0,
	   "restore canonical: a truncated NAR leaves nothing (%s)", err_msg());
}

/* ---- nesting --------------------------------------------------------------------- */

/* The events of DEPTH nested directories "d" with a file "f" at the bottom. */
static int send_deep(const struct nar_visitor *v, int depth)
{
	int r = v->dir_begin(v->ctx);

	for (int i = 0; r == 0 && i < depth; i++)
		if ((r = v->entry_begin(v->ctx, "d", 1)) == 0)
			r = v->dir_begin(v->ctx);
	if (r == 0 && (r = v->entry_begin(v->ctx, "f", 1)) == 0 &&
	    (r = v->file_begin(v->ctx, false, 1)) == 0 && (r = v->file_data(v->ctx, "z", 1)) == 0 &&
	    (r = v->file_end(v->ctx)) == 0)
		r = v->entry_end(v->ctx);
	for (int i = 0; r == 0 && i < depth; i++)
		if ((r = v->dir_end(v->ctx)) == 0)
			r = v->entry_end(v->ctx);
	return r == 0 ? v->dir_end(v->ctx) : r;
}

static void test_depth(const char *tmp)
{
	struct mem_sink m;
	struct nar_writer w;
	struct reader r;
	char dest[4096];
	int e;

	mem_sink_init(&m);
	nar_writer_init(&w, &m.sink);
	send_deep(&w.v, NAR_MAX_DEPTH);
	e = parse_mem(m.b.data, m.b.len, NULL, NULL);
	ok(e == 0, "depth: %d nested directories with a file in the last parse (%s)", NAR_MAX_DEPTH,
	   e ? err_msg() : "ok");
	snprintf(dest, sizeof(dest), "%s/deep", tmp);
	reader_init_mem(&r, m.b.data, m.b.len, "test");
	e = nar_restore(&r, dest, 0);
	ok(e == 0, "depth: and restore (%s)", e ? err_msg() : "ok");
	{
		struct mem_sink m2;
		struct nar_writer w2;

		mem_sink_init(&m2);
		nar_writer_init(&w2, &m2.sink);
		e = nar_walk(AT_FDCWD, dest, &w2.v);
		ok(e == 0 && same_bytes(&m2.b, m.b.data, m.b.len),
		   "depth: and the walker dumps them back to the same bytes (%s)",
		   e ? err_msg() : "ok");
		buf_release(&m2.b);
	}
	buf_release(&m.b);

	mem_sink_init(&m);
	nar_writer_init(&w, &m.sink);
	send_deep(&w.v, NAR_MAX_DEPTH + 1);
	e = parse_mem(m.b.data, m.b.len, NULL, NULL);
	ok(e == ERR_TOOBIG && strstr(err_msg(), "nested deeper than 256"),
	   "depth: %d nested directories are ERR_TOOBIG (%s)", NAR_MAX_DEPTH + 1, err_msg());
	buf_release(&m.b);
}

int main(void)
{
	const char *tmp = tap_tmpdir();

	umask(022);
	test_writer();
	test_parser();
	test_tee();
	if (tmp) {
		test_walk_dump_hash(tmp);
		test_restore(tmp);
		test_depth(tmp);
	}
	return tap_done();
}
