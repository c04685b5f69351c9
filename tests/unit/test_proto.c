/* test_proto.c — the framed protocol: round trips of every payload type and
 * of the handshake, every cap, the decoder fed whole and one byte at a
 * time, garbage, huge lengths, truncations, unknown ops and flags,
 * proto_recv over a pipe, and the malformed streams of tests/data/bad-proto
 * with their exact messages.  Run from the top of the repository (or set
 * YONDER_TOP).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "proto.h"
#include "tap.h"

static const char *top; /* the repository (tap_find_top) */

/* A raw frame header, for frames the writer would refuse to make. */
static void raw_header(struct buf *b, uint32_t len, unsigned op, unsigned flags, uint32_t id)
{
	unsigned char h[PROTO_HDR_LEN];

	for (int i = 0; i < 4; i++)
		h[i] = (unsigned char)(len >> (8 * i));
	h[4] = (unsigned char)op, h[5] = (unsigned char)(op >> 8);
	h[6] = (unsigned char)flags, h[7] = (unsigned char)(flags >> 8);
	for (int i = 0; i < 4; i++)
		h[8 + i] = (unsigned char)(id >> (8 * i));
	buf_put(b, h, sizeof(h));
}

/* The frames of a stream, decoded by feeding it in chunks of CHUNK bytes
 * (0: whole).  Each frame's op, id, flags and payload are appended to OUT
 * as text, so that two decodings can be compared; returns the first error
 * (decoder, or payload of a hello/welcome/error frame, prefixed with the
 * stream's name and the frame's offset) or 0. */
static int decode_stream(const char *what, const unsigned char *p, size_t n, size_t chunk,
			 uint32_t max, struct buf *out)
{
	struct proto_decoder d;
	struct proto_frame f;
	int r = 0;

	proto_decoder_init(&d, what, max);
	while (n > 0) {
		size_t give = chunk && chunk < n ? chunk : n, used;

		while (give > 0) {
			if ((r = proto_decoder_feed(&d, p, give, &used)) != 0)
				goto out;
			p += used, n -= used, give -= used;
			while ((r = proto_decoder_next(&d, &f)) == 1) {
				struct proto_hello h;
				struct proto_welcome w;
				char *msg;
				int code;

				if (out) {
					buf_printf(out,
						   "%s id=%u flags=%u len=%u:", proto_op_name(f.op),
						   (unsigned)f.id, f.flags, (unsigned)f.len);
					buf_put(out, f.payload, f.len);
					buf_putc(out, '\n');
				}
				r = 0;
				if (f.op == PROTO_HELLO && (r = proto_hello_get(&h, &f)) == 0)
					proto_hello_release(&h);
				if (f.op == PROTO_WELCOME && (r = proto_welcome_get(&w, &f)) == 0)
					proto_welcome_release(&w);
				if (f.op == PROTO_ERROR &&
				    (r = proto_error_get(&f, &code, &msg)) == 0)
					free(msg);
				if (r != 0) {
					r = err_prefix(r, "%s: byte %llu", what,
						       (unsigned long long)f.offset);
					goto out;
				}
			}
			if (r < 0)
				goto out;
		}
	}
	r = proto_decoder_finish(&d);
out:
	proto_decoder_release(&d);
	return r;
}

/* ---- payload types */

static void test_payload_round_trip(void)
{
	struct buf b = BUF_INIT(1 << 20);
	static const char *const list[] = {"x86_64-linux", "", "kvm", "big-parallel"};
	static const uint64_t ints[] = {0, 1, 255, 256, UINT64_C(0x0123456789abcdef), UINT64_MAX};
	struct proto_in in;
	const void *p;
	char *s, **v;
	size_t n;
	uint64_t u;
	bool all = true;

	for (size_t i = 0; i < 6; i++)
		proto_put_u64(&b, ints[i]);
	proto_put_str(&b, "");
	proto_put_str(&b, "/nix/store/abc-hello");
	proto_put_bytes(&b, "a\0b\n\xff", 5);
	proto_put_strv(&b, list, 4);
	proto_put_strv(&b, NULL, 0);
	is_int((long long)b.len, 6 * 8 + 4 + 4 + 20 + 4 + 5 + 4 + 4 * 4 + 12 + 0 + 3 + 12 + 4,
	       "payload size: u64 are 8 bytes, strings 4 + length, lists 4 + strings");
	ok(!memcmp(b.data + 8, "\x01\0\0\0\0\0\0\0", 8), "u64 is little-endian");

	proto_in_init_mem(&in, b.data, b.len);
	for (size_t i = 0; i < 6; i++)
		all &= proto_get_u64(&in, &u) == 0 && u == ints[i];
	ok(all, "u64 round trip (0, 1, 255, 256, mixed, max)");
	ok(proto_get_str(&in, &s, 10) == 0 && !strcmp(s, ""), "empty string");
	free(s);
	ok(proto_get_str(&in, &s, 20) == 0 && !strcmp(s, "/nix/store/abc-hello"),
	   "string at exactly its cap");
	free(s);
	ok(proto_get_bytes(&in, &p, &n, 5) == 0 && n == 5 && !memcmp(p, "a\0b\n\xff", 5),
	   "bytes with NUL and high bytes, not copied");
	ok(proto_get_strv(&in, &v, &n, 4, 12) == 0 && n == 4 && !strcmp(v[0], "x86_64-linux") &&
	       !strcmp(v[1], "") && !strcmp(v[3], "big-parallel") && v[4] == NULL,
	   "list of strings, NULL-terminated");
	proto_strv_free(v, n);
	ok(proto_get_strv(&in, &v, &n, 0, 0) == 0 && n == 0 && v && !v[0], "empty list");
	proto_strv_free(v, n);
	ok(proto_get_end(&in) == 0, "payload consumed exactly");
	buf_release(&b);
}

static void test_payload_caps(void)
{
	struct buf b = BUF_INIT(1 << 22);
	static const char *const three[] = {"a", "b", "c"};
	struct proto_in in;
	const void *p;
	char *s, **v;
	size_t n;
	uint64_t u;
	int r;

	proto_put_str(&b, "hello");
	proto_in_init_mem(&in, b.data, b.len);
	r = proto_get_str(&in, &s, 4);
	is_int(r, ERR_TOOBIG, "string over its cap: ERR_TOOBIG");
	is_str(err_msg(), "string of 5 bytes at payload byte 0 exceeds the limit of 4",
	       "string over its cap: message");
	is_int((long long)in.off, 0, "a failed read does not move the cursor");

	proto_in_init_mem(&in, b.data, b.len - 1);
	is_int(proto_get_str(&in, &s, 100), ERR_FORMAT, "string longer than the payload");
	is_str(err_msg(), "bad string length at payload byte 0: 5 bytes declared, 4 left",
	       "string longer than the payload: message");
	proto_in_init_mem(&in, b.data, 3);
	is_int(proto_get_bytes(&in, &p, &n, 100), ERR_FORMAT, "length cut short");
	is_str(err_msg(), "truncated string length at payload byte 0: 4 bytes needed, 3 left",
	       "length cut short: message");
	proto_in_init_mem(&in, b.data, 7);
	is_int(proto_get_u64(&in, &u), ERR_FORMAT, "integer cut short");
	is_str(err_msg(), "truncated integer at payload byte 0: 8 bytes needed, 7 left",
	       "integer cut short: message");

	buf_reset(&b);
	proto_put_strv(&b, three, 3);
	proto_in_init_mem(&in, b.data, b.len);
	is_int(proto_get_strv(&in, &v, &n, 2, 10), ERR_TOOBIG, "list over its count cap");
	is_str(err_msg(), "list of 3 strings at payload byte 0 exceeds the limit of 2",
	       "list over its count cap: message");
	ok(v == NULL && n == 0, "nothing returned on error");
	proto_in_init_mem(&in, b.data, b.len);
	is_int(proto_get_strv(&in, &v, &n, 3, 0), ERR_TOOBIG, "list entry over its length cap");
	is_str(err_msg(), "string of 1 bytes at payload byte 4 exceeds the limit of 0",
	       "list entry over its length cap: message");
	proto_in_init_mem(&in, b.data, 4 + 4 + 1 + 4);
	is_int(proto_get_strv(&in, &v, &n, 3, 10), ERR_FORMAT,
	       "list count larger than the bytes can hold");
	is_str(err_msg(), "bad list length at payload byte 0: 3 strings declared, 9 bytes left",
	       "list count larger than the bytes can hold: message");
	proto_in_init_mem(&in, b.data, b.len - 1);
	is_int(proto_get_strv(&in, &v, &n, 3, 10), ERR_FORMAT, "last entry cut short");
	ok(v == NULL, "a partly read list is freed");

	/* NUL in text strings. */
	buf_reset(&b);
	proto_put_bytes(&b, "a\0", 2);
	proto_in_init_mem(&in, b.data, b.len);
	is_int(proto_get_str(&in, &s, 10), ERR_FORMAT, "NUL in a text string");
	is_str(err_msg(), "string at payload byte 0 contains a NUL byte", "NUL: message");

	/* Trailing bytes. */
	proto_in_init_mem(&in, b.data, b.len);
	proto_get_bytes(&in, &p, &n, 10);
	ok(proto_get_end(&in) == 0, "end after the last field");
	proto_in_init_mem(&in, b.data, b.len);
	is_int(proto_get_end(&in), ERR_FORMAT, "trailing bytes");
	is_str(err_msg(), "6 trailing bytes at payload byte 0", "trailing bytes: message");

	/* The writer's caps. */
	{
		char *big = calloc(1, PROTO_FRAME_MAX + 2);
		size_t start, before;

		memset(big, 'x', PROTO_FRAME_MAX + 1);
		buf_reset(&b);
		is_int(proto_put_str(&b, big), ERR_TOOBIG, "writer: string over the frame limit");
		is_int((long long)b.len, 0, "writer: nothing written");
		proto_put_frame(&b, PROTO_OK, 0, 7, "ok", 2);
		before = b.len;
		proto_frame_begin(&b, PROTO_DATA, PROTO_F_END, 1, &start);
		buf_put(&b, big, PROTO_FRAME_MAX + 1);
		is_int(proto_frame_end(&b, start), ERR_TOOBIG, "writer: frame over the limit");
		is_str(err_msg(), "data frame of 1048577 bytes exceeds the limit of 1048576",
		       "writer: frame over the limit: message");
		is_int((long long)b.len, (long long)before,
		       "writer: the big frame is dropped, the one before kept");
		big[PROTO_FRAME_MAX] = '\0';
		is_int(proto_put_frame(&b, PROTO_DATA, 0, 1, big, PROTO_FRAME_MAX), 0,
		       "writer: a frame of exactly the limit");
		is_int(proto_frame_begin(&b, 0x4242, 0, 0, &start), ERR_INVALID,
		       "writer: unknown op refused");
		is_int(proto_frame_begin(&b, PROTO_DATA, 0x10, 0, &start), ERR_INVALID,
		       "writer: unknown flag refused");
		free(big);
	}
	buf_release(&b);
}

/* ---- the decoder */

static void test_frames_round_trip(void)
{
	struct buf b = BUF_INIT(1 << 22), got1 = BUF_INIT(1 << 22), gotn = BUF_INIT(1 << 22);
	static const char *const features[] = {"log-json"};
	static const char *const systems[] = {"x86_64-linux", "aarch64-linux"};
	struct proto_hello h = {PROTO_VERSION, "yonder 0.1.0", (char **)features, 1}, h2;
	struct proto_welcome w = {1,
				  "yonder 0.1.0",
				  "builder-1",
				  "/yonder/store",
				  (char **)systems,
				  2,
				  (char **)features,
				  1,
				  8,
				  1250,
				  UINT64_C(1) << 40},
			     w2;
	struct proto_decoder d;
	struct proto_frame f;
	size_t used;
	char *msg, *big;
	int code, r, nframes = 0;

	ok(proto_hello_put(&b, &h) == 0, "hello written");
	ok(proto_welcome_put(&b, &w) == 0, "welcome written");
	ok(proto_error_put(&b, 42, ERR_NOTFOUND, "path '/nix/store/x' is not valid") == 0,
	   "error written");
	proto_put_frame(&b, PROTO_OK, 0, 42, NULL, 0);
	big = malloc(300000);
	for (size_t i = 0; i < 300000; i++)
		big[i] = (char)(i * 7);
	proto_put_frame(&b, PROTO_DATA, 0, 43, big, 300000);
	proto_put_frame(&b, PROTO_DATA, PROTO_F_END, 43, NULL, 0);

	/* Whole, then one byte at a time: the same frames. */
	ok(decode_stream("s", (unsigned char *)b.data, b.len, 0, 0, &got1) == 0, "decoded whole");
	ok(decode_stream("s", (unsigned char *)b.data, b.len, 1, 0, &gotn) == 0,
	   "decoded one byte at a time");
	ok(got1.len == gotn.len && !memcmp(got1.data, gotn.data, got1.len),
	   "same frames either way");
	buf_reset(&gotn);
	decode_stream("s", (unsigned char *)b.data, b.len, 4093, 0, &gotn);
	ok(got1.len == gotn.len && !memcmp(got1.data, gotn.data, got1.len),
	   "same frames in chunks of 4093");

	proto_decoder_init(&d, "s", 0);
	ok(proto_decoder_feed(&d, b.data, b.len, &used) == 0 && used < b.len,
	   "feed stops at the end of the first frame");
	ok(proto_decoder_want(&d) == 0, "nothing wanted while a frame waits");
	{
		size_t again;

		ok(proto_decoder_feed(&d, b.data + used, b.len - used, &again) == 0 && again == 0,
		   "feed takes nothing while a frame waits");
	}
	ok(proto_decoder_next(&d, &f) == 1 && f.op == PROTO_HELLO && f.offset == 0, "hello frame");
	ok(proto_hello_get(&h2, &f) == 0 && h2.version == PROTO_VERSION &&
	       !strcmp(h2.name, "yonder 0.1.0") && h2.nfeatures == 1 &&
	       !strcmp(h2.features[0], "log-json"),
	   "hello round trip");
	proto_hello_release(&h2);
	is_int(proto_welcome_get(&w2, &f), ERR_FORMAT, "a hello is not a welcome");
	is_str(err_msg(), "welcome: expected a welcome frame, got hello (0x0001)",
	       "wrong op: message");
	ok(proto_decoder_next(&d, &f) == 0, "next again: no frame");
	is_int((long long)proto_decoder_want(&d), PROTO_HDR_LEN, "a header is wanted");
	for (const char *p = b.data + used; p < b.data + b.len;) {
		size_t u;

		if ((r = proto_decoder_feed(&d, p, (size_t)(b.data + b.len - p), &u)) != 0)
			break;
		p += u;
		while (proto_decoder_next(&d, &f) == 1) {
			nframes++;
			if (f.op == PROTO_WELCOME) {
				ok(proto_welcome_get(&w2, &f) == 0 && w2.version == 1 &&
				       !strcmp(w2.host, "builder-1") &&
				       !strcmp(w2.store_dir, "/yonder/store") && w2.nsystems == 2 &&
				       !strcmp(w2.systems[1], "aarch64-linux") &&
				       w2.nfeatures == 1 && w2.cores == 8 &&
				       w2.load_milli == 1250 && w2.free_bytes == UINT64_C(1) << 40,
				   "welcome round trip");
				proto_welcome_release(&w2);
			} else if (f.op == PROTO_ERROR) {
				ok(f.id == 42 && proto_error_get(&f, &code, &msg) == 0 &&
				       code == ERR_NOTFOUND &&
				       !strcmp(msg, "path '/nix/store/x' is not valid"),
				   "error round trip (id, code, message)");
				free(msg);
			} else if (f.op == PROTO_DATA && f.len) {
				ok(f.id == 43 && f.len == 300000 &&
				       !memcmp(f.payload, big, 300000) && f.flags == 0,
				   "data frame of 300000 bytes");
			} else if (f.op == PROTO_DATA) {
				ok(f.flags == PROTO_F_END && f.len == 0, "empty end-of-data frame");
			}
		}
	}
	is_int(nframes, 5, "five more frames");
	ok(proto_decoder_finish(&d) == 0, "stream ends between frames");
	ok(d.buf.cap <= 65536, "the buffer shrinks after a big frame");
	proto_decoder_release(&d);

	/* An error message over the cap is cut, so an error can always be sent. */
	buf_reset(&b);
	{
		char *longmsg = malloc(PROTO_MSG_MAX + 100);

		memset(longmsg, 'e', PROTO_MSG_MAX + 99);
		longmsg[PROTO_MSG_MAX + 99] = '\0';
		ok(proto_error_put(&b, 1, ERR_IO, longmsg) == 0, "long error message sent");
		proto_decoder_init(&d, "s", 0);
		proto_decoder_feed(&d, b.data, b.len, &used);
		ok(proto_decoder_next(&d, &f) == 1 && proto_error_get(&f, &code, &msg) == 0 &&
		       strlen(msg) == PROTO_MSG_MAX && code == ERR_IO,
		   "long error message cut to PROTO_MSG_MAX");
		free(msg);
		proto_decoder_release(&d);
		free(longmsg);
	}
	/* An error code this side does not know. */
	buf_reset(&b);
	proto_error_put(&b, 1, -500, "from the future");
	proto_decoder_init(&d, "s", 0);
	proto_decoder_feed(&d, b.data, b.len, &used);
	ok(proto_decoder_next(&d, &f) == 1 && proto_error_get(&f, &code, &msg) == 0 &&
	       code == ERR_INTERNAL,
	   "unknown error code read as ERR_INTERNAL");
	free(msg);
	proto_decoder_release(&d);

	free(big);
	buf_release(&b);
	buf_release(&got1);
	buf_release(&gotn);
}

static void test_decoder_errors(void)
{
	struct buf b = BUF_INIT(1 << 22);
	struct proto_decoder d;
	struct proto_frame f;
	size_t used;
	int r;

	/* A huge length prefix: refused from the header, nothing allocated. */
	raw_header(&b, 0xffffffffu, PROTO_DATA, 0, 1);
	proto_decoder_init(&d, "client 3", 0);
	r = proto_decoder_feed(&d, b.data, b.len, &used);
	is_int(r, ERR_TOOBIG, "huge length prefix: ERR_TOOBIG");
	is_str(err_msg(),
	       "client 3: byte 0: frame of 4294967295 bytes exceeds the limit of 1048576",
	       "huge length prefix: message");
	ok(d.buf.cap <= 64, "huge length prefix: nothing allocated for the payload");
	is_int(proto_decoder_next(&d, &f), ERR_TOOBIG, "the error is sticky (next)");
	is_int(proto_decoder_feed(&d, "x", 1, &used), ERR_TOOBIG, "the error is sticky (feed)");
	is_str(err_msg(), "client 3: byte 0: the stream is unusable after an earlier error",
	       "sticky: message");
	proto_decoder_release(&d);

	/* The limit is the decoder's: exactly MAX passes, MAX + 1 does not. */
	buf_reset(&b);
	raw_header(&b, 100, PROTO_DATA, 0, 1);
	for (int i = 0; i < 100; i++)
		buf_putc(&b, 'y');
	raw_header(&b, 101, PROTO_DATA, 0, 1);
	proto_decoder_init(&d, "s", 100);
	proto_decoder_feed(&d, b.data, b.len, &used);
	ok(proto_decoder_next(&d, &f) == 1 && f.len == 100, "a frame of exactly the limit");
	is_int(proto_decoder_feed(&d, b.data + used, b.len - used, &used), ERR_TOOBIG,
	       "a frame one byte over the limit");
	is_str(err_msg(), "s: byte 112: frame of 101 bytes exceeds the limit of 100",
	       "over the limit: message names the frame's offset");
	proto_decoder_release(&d);

	/* Garbage. */
	{
		static const char junk[] = "\x01\x00\x00\x00\x99\x99\x00\x00\x00\x00\x00\x00zzz";

		proto_decoder_init(&d, "s", 0);
		r = proto_decoder_feed(&d, junk, sizeof(junk) - 1, &used);
		is_int(r, ERR_FORMAT, "unknown op: ERR_FORMAT");
		is_str(err_msg(), "s: byte 0: unknown operation 0x9999", "unknown op: message");
		is_int((long long)used, PROTO_HDR_LEN, "unknown op: refused at its header");
		proto_decoder_release(&d);
	}
	/* Truncations. */
	buf_reset(&b);
	proto_put_frame(&b, PROTO_CANCEL, 0, 3, NULL, 0);
	proto_put_frame(&b, PROTO_OK, 0, 3, "12345", 5);
	for (size_t cut = 0; cut <= b.len; cut++) {
		int want = (cut == 0 || cut == PROTO_HDR_LEN || cut == b.len) ? 0 : ERR_TRUNCATED;

		r = decode_stream("cut", (unsigned char *)b.data, cut, 1, 0, NULL);
		if (r != want) {
			ok(0, "cut at %zu: got %d (%s), want %d", cut, r, err_msg(), want);
			break;
		}
		if (cut == b.len)
			ok(1, "every truncation of a two-frame stream is refused, every frame "
			      "boundary accepted");
	}
	decode_stream("cut", (unsigned char *)b.data, PROTO_HDR_LEN + 3, 0, 0, NULL);
	is_str(err_msg(), "cut: byte 12: truncated frame: 3 of 12 header bytes",
	       "truncated header: message");
	decode_stream("cut", (unsigned char *)b.data, b.len - 1, 0, 0, NULL);
	is_str(err_msg(), "cut: byte 12: truncated frame: ok frame of 5 bytes, got 4",
	       "truncated payload: message");
	buf_release(&b);
}

/* proto_recv over a pipe: blocking reads that never go past a frame. */
static void test_recv(void)
{
	struct buf b = BUF_INIT(1 << 22);
	struct proto_decoder d;
	struct proto_frame f;
	int fds[2], r;
	char rest[8];

	if (!ok(pipe(fds) == 0, "pipe"))
		return;
	proto_put_frame(&b, PROTO_OK, 0, 1, "one", 3);
	proto_put_frame(&b, PROTO_OK, 0, 2, "two!", 4);
	ok(write(fds[1], b.data, b.len) == (ssize_t)b.len && write(fds[1], "tail", 4) == 4,
	   "two frames and 4 more bytes in a pipe");
	proto_decoder_init(&d, "pipe", 0);
	ok(proto_recv(fds[0], &d, &f) == 1 && f.id == 1 && f.len == 3 &&
	       !memcmp(f.payload, "one", 3),
	   "recv: first frame");
	ok(proto_recv(fds[0], &d, &f) == 1 && f.id == 2 && f.len == 4, "recv: second frame");
	ok(read(fds[0], rest, 4) == 4 && !memcmp(rest, "tail", 4),
	   "recv reads nothing past the frame");
	close(fds[1]);
	is_int(proto_recv(fds[0], &d, &f), 0, "recv: clean end of input");
	close(fds[0]);
	proto_decoder_release(&d);

	if (!ok(pipe(fds) == 0 && write(fds[1], b.data, 20) == 20, "a frame and 5 bytes in a pipe"))
		return;
	close(fds[1]);
	proto_decoder_init(&d, "pipe", 0);
	ok(proto_recv(fds[0], &d, &f) == 1, "recv: the whole first frame");
	r = proto_recv(fds[0], &d, &f);
	is_int(r, ERR_TRUNCATED, "recv: end of input inside a frame");
	is_str(err_msg(), "pipe: byte 15: truncated frame: 5 of 12 header bytes",
	       "recv: truncated: message");
	close(fds[0]);
	proto_decoder_release(&d);
	buf_release(&b);
}

static void test_negotiate(void)
{
	uint64_t v = 99;

	ok(proto_negotiate(PROTO_VERSION, &v) == 0 && v == PROTO_VERSION, "same version");
	ok(proto_negotiate(PROTO_VERSION + 5, &v) == 0 && v == PROTO_VERSION, "a newer peer: ours");
	is_int(proto_negotiate(0, &v), ERR_INVALID, "version 0 refused");
	is_str(err_msg(), "protocol version 0 is not supported (this side speaks 1 to 1)",
	       "version 0: message");
	ok(proto_op_name(PROTO_BUILD) && !strcmp(proto_op_name(PROTO_BUILD), "build") &&
	       proto_op_name(0) == NULL,
	   "op names");
}

/* ---- tests/data/bad-proto */

static void test_bad_corpus(void)
{
	char *expect = tap_slurp("tests/data/bad-proto/EXPECT", NULL), *line, *save = NULL;
	size_t n = 0;

	if (!ok(expect != NULL, "read tests/data/bad-proto/EXPECT"))
		return;
	for (line = strtok_r(expect, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *msg = strchr(line, '\t'), rel[512], *data, *whole;
		size_t len;
		int r1, r2;

		if (line[0] == '#' || !msg)
			continue;
		*msg++ = '\0';
		snprintf(rel, sizeof(rel), "tests/data/bad-proto/%s", line);
		if (!ok((data = tap_slurp(rel, &len)) != NULL, "read %s", rel))
			continue;
		r1 = decode_stream(line, (unsigned char *)data, len, 0, 0, NULL);
		ok(r1 < 0, "%s: refused", line);
		is_str(err_msg(), msg, "%s: message", line);
		whole = strdup(err_msg());
		r2 = decode_stream(line, (unsigned char *)data, len, 1, 0, NULL);
		ok(r2 == r1 && !strcmp(err_msg(), whole), "%s: same error one byte at a time",
		   line);
		free(whole);
		free(data);
		n++;
	}
	ok(n >= 10, "%zu malformed streams", n);
	free(expect);
}

int main(int argc, char **argv)
{
	top = tap_find_top(argv[0]);
	test_payload_round_trip();
	test_payload_caps();
	test_frames_round_trip();
	test_decoder_errors();
	test_recv();
	test_negotiate();
	test_bad_corpus();
	return tap_done();
}
