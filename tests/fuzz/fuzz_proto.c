/* fuzz_proto.c — libFuzzer target for the protocol decoder and payloads.
 *
 * The input's first byte picks the decoder's limit (64 bytes, 4 KiB or
 * PROTO_FRAME_MAX) and seeds the chunking; the rest is the stream.  It is
 * decoded twice — whole, then in pseudo-random chunks of 1 to 300 bytes
 * derived from the seed — and both runs must see the same frames and end
 * with the same result.  Every frame must respect the limit and the
 * decoder's buffer must never exceed it; handshake and error payloads are
 * parsed, re-encoded and parsed again to the same values; other payloads
 * are walked with every cursor function.  abort() otherwise.
 * Seeds: tests/fuzz/corpus/proto, tests/data/bad-proto.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond)
{
	if (!cond)
		abort();
}

static int same_strv(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return 0;
	return 1;
}

/* Parses F again from its own re-encoding. */
static struct proto_frame reparse(struct buf *b, struct proto_decoder *d)
{
	struct proto_frame f;
	size_t used;

	proto_decoder_init(d, "again", 0);
	must(proto_decoder_feed(d, b->data, b->len, &used) == 0 && used == b->len);
	must(proto_decoder_next(d, &f) == 1);
	return f;
}

static void check_hello(const struct proto_frame *f)
{
	struct proto_hello h, h2;
	struct proto_decoder d;
	struct buf b = BUF_INIT(PROTO_HDR_LEN + PROTO_FRAME_MAX);
	struct proto_frame g;

	if (proto_hello_get(&h, f) != 0) {
		must(err_msg()[0] != '\0' && h.name == NULL && h.features == NULL);
		return;
	}
	must(h.name && strlen(h.name) <= PROTO_NAME_MAX);
	must(proto_hello_put(&b, &h) == 0);
	must(b.len == PROTO_HDR_LEN + f->len &&
	     !memcmp(b.data + PROTO_HDR_LEN, f->payload, f->len));
	g = reparse(&b, &d);
	must(proto_hello_get(&h2, &g) == 0 && h2.version == h.version && !strcmp(h2.name, h.name) &&
	     same_strv(h.features, h.nfeatures, h2.features, h2.nfeatures));
	proto_hello_release(&h2);
	proto_hello_release(&h);
	proto_decoder_release(&d);
	buf_release(&b);
}

static void check_welcome(const struct proto_frame *f)
{
	struct proto_welcome w, w2;
	struct proto_decoder d;
	struct buf b = BUF_INIT(PROTO_HDR_LEN + PROTO_FRAME_MAX);
	struct proto_frame g;

	if (proto_welcome_get(&w, f) != 0) {
		must(err_msg()[0] != '\0' && w.name == NULL && w.systems == NULL);
		return;
	}
	must(proto_welcome_put(&b, &w) == 0);
	must(b.len == PROTO_HDR_LEN + f->len &&
	     !memcmp(b.data + PROTO_HDR_LEN, f->payload, f->len));
	g = reparse(&b, &d);
	must(proto_welcome_get(&w2, &g) == 0 && w2.cores == w.cores &&
	     w2.free_bytes == w.free_bytes && !strcmp(w2.store_dir, w.store_dir) &&
	     same_strv(w.systems, w.nsystems, w2.systems, w2.nsystems));
	proto_welcome_release(&w2);
	proto_welcome_release(&w);
	proto_decoder_release(&d);
	buf_release(&b);
}

static void check_error(const struct proto_frame *f)
{
	char *msg;
	int code;

	if (proto_error_get(f, &code, &msg) != 0) {
		must(msg == NULL);
		return;
	}
	must(code < 0 && strlen(msg) <= PROTO_MSG_MAX);
	free(msg);
}

/* Every cursor function over the payload, driven by its own bytes. */
static void walk(const struct proto_frame *f)
{
	struct proto_in in;

	proto_in_init(&in, f);
	for (unsigned step = 0; step < 64; step++) {
		uint64_t u;
		const void *p;
		char *s, **v;
		size_t n, before = in.off;
		int r;

		switch ((f->id + step) % 4) {
		case 0: r = proto_get_u64(&in, &u); break;
		case 1:
			r = proto_get_bytes(&in, &p, &n, 1000);
			must(r != 0 ||
			     (n <= 1000 && (const unsigned char *)p + n <= f->payload + f->len));
			break;
		case 2:
			if ((r = proto_get_str(&in, &s, 300)) == 0) {
				must(strlen(s) <= 300);
				free(s);
			}
			break;
		default:
			if ((r = proto_get_strv(&in, &v, &n, 50, 100)) == 0) {
				must(n <= 50 && v[n] == NULL);
				proto_strv_free(v, n);
			} else {
				must(v == NULL);
			}
		}
		must(in.off <= in.len);
		if (r != 0) {
			must(in.off == before && err_msg()[0] != '\0');
			break;
		}
	}
	(void)proto_get_end(&in);
}

/* Decodes P in chunks chosen by SEED (0: whole); appends "op id len
 * crc;" per frame to LOG; returns the decoder's final result. */
static int run(const uint8_t *p, size_t n, uint32_t max, uint32_t seed, struct buf *log, int check)
{
	struct proto_decoder d;
	struct proto_frame f;
	int r = 0;

	proto_decoder_init(&d, "fuzz", max);
	while (n > 0) {
		size_t give = n, used;

		if (seed) {
			seed = seed * 1103515245u + 12345u;
			give = 1 + (seed >> 16) % 300;
			if (give > n)
				give = n;
		}
		while (give > 0) {
			if ((r = proto_decoder_feed(&d, p, give, &used)) != 0)
				goto out;
			must(used <= give);
			p += used, n -= used, give -= used;
			must(d.buf.len <= PROTO_HDR_LEN + (size_t)max &&
			     d.buf.cap <= PROTO_HDR_LEN + (size_t)max + 1);
			while ((r = proto_decoder_next(&d, &f)) == 1) {
				uint32_t crc = 0;

				must(f.len <= max && proto_op_name(f.op) &&
				     !(f.flags & ~PROTO_F_KNOWN));
				for (uint32_t i = 0; i < f.len; i++)
					crc = crc * 31 + f.payload[i];
				buf_printf(log, "%x %x %x %x;", f.op, (unsigned)f.id,
					   (unsigned)f.len, crc);
				if (!check)
					continue;
				switch (f.op) {
				case PROTO_HELLO: check_hello(&f); break;
				case PROTO_WELCOME: check_welcome(&f); break;
				case PROTO_ERROR: check_error(&f); break;
				default: walk(&f);
				}
			}
			if (r < 0)
				goto out;
			/* A feed that took nothing must have left a frame to take. */
			must(used > 0 || give == 0);
		}
	}
	r = proto_decoder_finish(&d);
out:
	proto_decoder_release(&d);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t limits[] = {64, 4096, PROTO_FRAME_MAX};
	struct buf a = BUF_INIT((size_t)1 << 28), b = BUF_INIT((size_t)1 << 28);
	uint32_t max, seed;
	int ra, rb;

	if (size < 1)
		return 0;
	/* A stream that starts with a frame header (the seeds) keeps it:
	 * only a first byte of 0xf0 or more selects a limit and a seed. */
	if (data[0] >= 0xf0) {
		max = limits[data[0] % 3];
		seed = data[0] * 2654435761u;
		data++, size--;
	} else {
		max = PROTO_FRAME_MAX;
		seed = (uint32_t)size * 2654435761u | 1;
	}
	ra = run(data, size, max, 0, &a, 1);
	rb = run(data, size, max, seed ? seed : 1, &b, 0);
	must(ra == rb && a.len == b.len && (a.len == 0 || !memcmp(a.data, b.data, a.len)));
	buf_release(&a);
	buf_release(&b);
	return 0;
}
