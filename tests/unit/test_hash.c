/* Unit tests for hash.c: SHA-256, base16/nix32/base64 both ways, every form
 * sha256_parse accepts and the ones it must reject, hash_compress.  The
 * expected values come from tests/vectors/vectors.tsv (Nix 2.8). */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "hash.h"
#include "tap.h"

/* kind=conv rows of vectors.tsv: nix-hash --to-base32, nix hash to-base64. */
static const struct {
	const char *b16, *nix32, *b64;
} conv[] = {
    {"0000000000000000000000000000000000000000000000000000000000000000",
     "0000000000000000000000000000000000000000000000000000",
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
    {"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "1zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
     "//////////////////////////////////////////8="},
    {"0100000000000000000000000000000000000000000000000000000000000000",
     "0000000000000000000000000000000000000000000000000001",
     "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
    {"0000000000000000000000000000000000000000000000000000000000000080",
     "1000000000000000000000000000000000000000000000000000",
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIA="},
    {"0123456789abcdeffedcba987654321000112233445566778899aabbccddeeff",
     "1zzfvp6bpalri1vncma46ci1200h69a7d65svkzfzkdbi5kla8q1",
     "ASNFZ4mrze/+3LqYdlQyEAARIjNEVWZ3iJmqu8zd7v8="},
    {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
     "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
    /* tree file-13: NAR hash (nix-hash --type sha256 [--base32]) */
    {"e1fc03261627558a72a1114b25c5008a2e95815baa8e411af67a88642514ca5b", NULL, NULL},
};
#define NCONV (sizeof(conv) / sizeof(conv[0]))

/* SHA-256 of no bytes: tree empty-file, flat_sha256_base16. */
static const char empty_b16[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static void unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static void test_lengths(void)
{
	is_int((long long)hash_base16_len(32), 64, "base16 length of 32 bytes");
	is_int((long long)hash_nix32_len(32), 52, "nix32 length of 32 bytes");
	is_int((long long)hash_nix32_len(20), 32, "nix32 length of 20 bytes");
	is_int((long long)hash_base64_len(32), 44, "base64 length of 32 bytes");
}

static void test_sha256(void)
{
	uint8_t h[SHA256_LEN], h2[SHA256_LEN];
	char s[80];
	struct sha256 ctx;
	static uint8_t big[1 << 20];

	ok(sha256_buf("", 0, h) == 0, "sha256_buf of nothing");
	hash_to_base16(h, SHA256_LEN, s);
	is_str(s, empty_b16, "sha256 of the empty string");
	ok(sha256_buf("abc", 3, h) == 0, "sha256_buf of abc");
	hash_to_base16(h, SHA256_LEN, s);
	is_str(s, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	       "sha256 of abc (FIPS 180-2)");
	ok(sha256_buf("hello, world\n", 13, h) == 0, "sha256_buf of file-13's bytes");
	hash_to_nix32(h, SHA256_LEN, s);
	/* tree file-13, flat_sha256_nix32 */
	is_str(s, "0830jxydl86c7qf54zx9mvfn73vdsvfyksy44bvxnvd0c8vzjgw5",
	       "flat hash of file-13 as nix-hash --flat --base32");

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 2654435761u >> 13);
	ok(sha256_buf(big, sizeof(big), h) == 0, "one-shot SHA-256 of 1 MiB");
	ok(sha256_init(&ctx) == 0, "sha256_init");
	for (size_t off = 0, step = 1; off < sizeof(big); off += step, step = step * 3 + 1) {
		size_t n = step < sizeof(big) - off ? step : sizeof(big) - off;

		sha256_update(&ctx, big + off, n);
	}
	sha256_update(&ctx, big, 0);
	sha256_final(&ctx, h2);
	ok(!memcmp(h, h2, SHA256_LEN), "streaming in uneven pieces equals one-shot");
	ok(ctx.ctx == NULL, "sha256_final releases the context");
	ok(sha256_init(&ctx) == 0, "sha256_init again");
	sha256_release(&ctx);
	sha256_release(&ctx);
	ok(ctx.ctx == NULL, "sha256_release twice is harmless");
}

static void test_encode_decode(void)
{
	for (size_t i = 0; i < NCONV; i++) {
		uint8_t h[SHA256_LEN], back[SHA256_LEN];
		char s[80], sri[90];

		if (!conv[i].nix32)
			continue;
		ok(hash_from_base16(conv[i].b16, 64, h, SHA256_LEN) == 0, "base16 decode %s",
		   conv[i].b16);
		hash_to_base16(h, SHA256_LEN, s);
		is_str(s, conv[i].b16, "base16 round trip %zu", i);
		hash_to_nix32(h, SHA256_LEN, s);
		is_str(s, conv[i].nix32, "nix32 of %s", conv[i].b16);
		hash_to_base64(h, SHA256_LEN, s);
		is_str(s, conv[i].b64, "base64 of %s", conv[i].b16);
		sha256_format(h, HASH_SRI, sri);
		snprintf(s, sizeof(s), "sha256-%s", conv[i].b64);
		is_str(sri, s, "SRI of %s", conv[i].b16);
		sha256_format(h, HASH_NIX32, sri);
		is_str(sri, conv[i].nix32, "sha256_format nix32 %zu", i);
		sha256_format(h, HASH_BASE16, sri);
		is_str(sri, conv[i].b16, "sha256_format base16 %zu", i);
		sha256_format(h, HASH_BASE64, sri);
		is_str(sri, conv[i].b64, "sha256_format base64 %zu", i);

		memset(back, 0xa5, sizeof(back));
		ok(hash_from_nix32(conv[i].nix32, 52, back, SHA256_LEN) == 0 &&
		       !memcmp(back, h, SHA256_LEN),
		   "nix32 decode %s", conv[i].nix32);
		memset(back, 0xa5, sizeof(back));
		ok(hash_from_base64(conv[i].b64, 44, back, SHA256_LEN) == 0 &&
		       !memcmp(back, h, SHA256_LEN),
		   "base64 decode %s", conv[i].b64);
	}
}

/* Every form sha256_parse accepts, for the NAR hash of tree file-13. */
static void test_parse_forms(void)
{
	static const char *const forms[] = {
	    "e1fc03261627558a72a1114b25c5008a2e95815baa8e411af67a88642514ca5b",
	    "sha256:e1fc03261627558a72a1114b25c5008a2e95815baa8e411af67a88642514ca5b",
	    "E1FC03261627558A72A1114B25C5008A2E95815BAA8E411AF67A88642514CA5B", /* as Nix */
	    "0nya2hjn923syqd433mabf0rabla032jajqil5r8lm972qk07z71",
	    "sha256:0nya2hjn923syqd433mabf0rabla032jajqil5r8lm972qk07z71",
	    "4fwDJhYnVYpyoRFLJcUAii6VgVuqjkEa9nqIZCUUyls=",
	    "sha256:4fwDJhYnVYpyoRFLJcUAii6VgVuqjkEa9nqIZCUUyls=",
	    "sha256-4fwDJhYnVYpyoRFLJcUAii6VgVuqjkEa9nqIZCUUyls=",
	};
	uint8_t want[SHA256_LEN];

	unhex(conv[NCONV - 1].b16, want, SHA256_LEN);
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		uint8_t h[SHA256_LEN];
		int r;

		memset(h, 0, sizeof(h));
		r = sha256_parse(forms[i], h);
		ok(r == 0 && !memcmp(h, want, SHA256_LEN), "sha256_parse accepts %s", forms[i]);
		if (r)
			printf("#   %s\n", err_msg());
	}
}

static void test_parse_rejects(void)
{
	static const struct {
		const char *s, *why;
	} bad[] = {
	    {"", "empty"},
	    {"sha256:", "prefix only"},
	    {"sha256-", "SRI prefix only"},
	    {"e1fc03261627558a72a1114b25c5008a2e95815baa8e411af67a88642514ca5", "63 hex digits"},
	    {"e1fc03261627558a72a1114b25c5008a2e95815baa8e411af67a88642514ca5b0", "65 hex digits"},
	    {"e1fc03261627558a72a1114b25c5008a2e95815baa8e411af67a88642514ca5g", "hex 'g'"},
	    {"e1fc03261627558a72a1114b25c5008a2e95815baa8e411af67a88642514ca5 ", "hex space"},
	    {"0nya2hjn923syqd433mabf0rabla032jajqil5r8lm972qk07z7", "51 nix32 chars"},
	    {"0nya2hjn923syqd433mabf0rabla032jajqil5r8lm972qk07z7e", "nix32 'e'"},
	    {"0nya2hjn923syqd433mabf0rabla032jajqil5r8lm972qk07z7o", "nix32 'o'"},
	    {"0nya2hjn923syqd433mabf0rabla032jajqil5r8lm972qk07z7u", "nix32 'u'"},
	    {"0nya2hjn923syqd433mabf0rabla032jajqil5r8lm972qk07z7t", "nix32 't'"},
	    {"0nya2hjn923syqd433mabf0rabla032jajqil5r8lm972qk07z7Y", "nix32 upper case"},
	    {"z000000000000000000000000000000000000000000000000000", "nix32 'z' first: over 2^256"},
	    {"2000000000000000000000000000000000000000000000000000", "nix32 '2' first: 2^256"},
	    {"4fwDJhYnVYpyoRFLJcUAii6VgVuqjkEa9nqIZCUUyls", "43 base64 chars"},
	    {"4fwDJhYnVYpyoRFLJcUAii6VgVuqjkEa9nqIZCUUyl==", "base64 two pads"},
	    {"4fwDJhYnVYpyoRFLJcUAii6VgVuqjkEa9nqIZCUUylsA", "base64 no pad"},
	    {"4fwDJhYnVYpyoRFL*cUAii6VgVuqjkEa9nqIZCUUyls=", "base64 '*'"},
	    {"sha256-4fwDJhYnVYpyoRFLJcUAii6VgVuqjkEa9nqIZCUUyls", "SRI without pad"},
	    {"sha256-e1fc03261627558a72a1114b25c5008a2e95815baa8e411af67a88642514ca5b",
	     "SRI with hex"},
	    {"sha512-4fwDJhYnVYpyoRFLJcUAii6VgVuqjkEa9nqIZCUUyls=", "SRI of another algorithm"},
	    {"md5:e1fc03261627558a72a1114b25c5008a2e95815baa8e411af67a88642514ca5b", "md5: prefix"},
	    {"sha1:e1fc03261627558a72a1114b25c5008a2e95815baa8e411af67a88642514ca5b",
	     "sha1: prefix"},
	    {"SHA256:e1fc03261627558a72a1114b25c5008a2e95815baa8e411af67a88642514ca5b",
	     "upper-case prefix"},
	    {"sha256:sha256:e1fc03261627558a72a1114b25c5008a2e95815baa8e411af67a88642514ca5b",
	     "prefix twice"},
	    {" e1fc03261627558a72a1114b25c5008a2e95815baa8e411af67a88642514ca5b", "leading space"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t h[SHA256_LEN];
		int r = sha256_parse(bad[i].s, h);

		ok(r == ERR_FORMAT, "sha256_parse rejects %s: '%s'", bad[i].why, bad[i].s);
		if (r == ERR_FORMAT)
			ok(strstr(err_msg(), bad[i].s) != NULL, "message names the input (%s)",
			   bad[i].why);
	}
}

static void test_decoder_rejects(void)
{
	uint8_t h[SHA256_LEN], p[PATH_HASH_LEN];
	char s[64];

	/* A NUL inside the span the caller gives. */
	memcpy(s, conv[0].b16, 64);
	s[10] = '\0';
	ok(hash_from_base16(s, 64, h, SHA256_LEN) == ERR_FORMAT, "base16 with a NUL inside");
	memcpy(s, conv[0].nix32, 52);
	s[51] = '\0';
	ok(hash_from_nix32(s, 52, h, SHA256_LEN) == ERR_FORMAT, "nix32 with a NUL inside");
	/* Control characters 0x10-0x19 become digits when case is folded. */
	memcpy(s, conv[0].b16, 64);
	s[5] = 0x11;
	ok(hash_from_base16(s, 64, h, SHA256_LEN) == ERR_FORMAT, "base16 with a 0x11 byte");
	s[5] = 'G';
	ok(hash_from_base16(s, 64, h, SHA256_LEN) == ERR_FORMAT, "base16 with a 'G'");
	ok(hash_from_base16(conv[0].b16, 64, h, 20) == ERR_FORMAT, "base16 of the wrong length");
	ok(hash_from_nix32(conv[0].nix32, 52, p, PATH_HASH_LEN) == ERR_FORMAT,
	   "52 nix32 chars are not a 20-byte hash");
	/* 20 bytes: 160 bits in 32 digits exactly, so every digit value fits. */
	ok(hash_from_nix32("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", 32, p, PATH_HASH_LEN) == 0,
	   "32 z's are a valid 20-byte nix32 hash");
	memset(s, 0, sizeof(s));
	hash_to_nix32(p, PATH_HASH_LEN, s);
	is_str(s, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "20 bytes of 0xff in nix32");
	ok(hash_from_nix32("1zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", 52, h,
			   SHA256_LEN) == 0,
	   "largest 32-byte nix32 value accepted");
	ok(hash_from_nix32("3zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", 52, h,
			   SHA256_LEN) == ERR_FORMAT,
	   "nix32 value with bit 257 set rejected");
}

static void test_compress(void)
{
	uint8_t in[SHA256_LEN], out[PATH_HASH_LEN], want[PATH_HASH_LEN];
	uint8_t one[3] = {1, 2, 4}, o2[2];

	for (size_t i = 0; i < SHA256_LEN; i++)
		in[i] = (uint8_t)(i * 37 + 5);
	for (size_t i = 0; i < PATH_HASH_LEN; i++)
		want[i] =
		    (uint8_t)(in[i] ^ (i + PATH_HASH_LEN < SHA256_LEN ? in[i + PATH_HASH_LEN] : 0));
	memset(out, 0xee, sizeof(out));
	hash_compress(in, SHA256_LEN, out, PATH_HASH_LEN);
	ok(!memcmp(out, want, PATH_HASH_LEN), "32 → 20 bytes: out[i] = in[i] ^ in[i+20]");
	hash_compress(one, 3, o2, 2);
	ok(o2[0] == 5 && o2[1] == 2, "3 → 2 bytes wraps around");
}

/* The store path of the source item "empty-file" with store dir
 * /nix/store, worked out by hand from its NAR hash: the compression and
 * nix32 of a path hash, independently of storepath.c. */
static void test_compress_vector(void)
{
	const char *pre = "source:sha256:"
			  "77ac62e2629d8e45f624589c0c8bf99e24b3a722349bf1e79bc186008534e246"
			  ":/nix/store:empty-file";
	uint8_t d[SHA256_LEN], c[PATH_HASH_LEN];
	char s[PATH_HASH_NIX32_LEN + 1];

	ok(sha256_buf(pre, strlen(pre), d) == 0, "hash of the fingerprint");
	hash_compress(d, SHA256_LEN, c, PATH_HASH_LEN);
	hash_to_nix32(c, PATH_HASH_LEN, s);
	/* tree empty-file, source_path in /nix/store */
	is_str(s, "ij3gw72f4n5z4dz6nnzl1731p9kmjbwr", "path hash of empty-file");
}

int main(void)
{
	test_lengths();
	test_sha256();
	test_encode_decode();
	test_parse_forms();
	test_parse_rejects();
	test_decoder_rejects();
	test_compress();
	test_compress_vector();
	return tap_done();
}
