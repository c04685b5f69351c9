/* fuzz_drv.c — libFuzzer target for the .drv parser.
 *
 * Whatever parses must print back to exactly the input bytes, and must
 * come out the same when rebuilt with the drv_add_* calls in reverse
 * order; the hashing and path functions must not crash on it.  abort()
 * otherwise.  Seeds: tests/fuzz/corpus/drv, tests/vectors/drv/nix,
 * tests/data/bad-drv.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drv.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond)
{
	if (!cond)
		abort();
}

/* D again, built with the calls recipes use, in reverse order. */
static void rebuild(const struct drv *d, const struct buf *want)
{
	struct drv e = DRV_INIT;
	struct buf b = BUF_INIT((size_t)1 << 30);
	size_t i;

	must(drv_set_system(&e, d->system) == 0 && drv_set_builder(&e, d->builder) == 0);
	for (i = 0; i < d->nargs; i++)
		must(drv_add_arg(&e, d->args[i]) == 0);
	for (i = d->nenv; i-- > 0;)
		must(drv_set_env(&e, d->env[i].name, d->env[i].value) == 0);
	for (i = d->nsrcs; i-- > 0;)
		must(drv_add_src(&e, d->srcs[i]) == 0);
	for (i = d->ninputs; i-- > 0;)
		for (size_t j = d->inputs[i].noutputs; j-- > 0;)
			must(drv_add_input(&e, d->inputs[i].path, d->inputs[i].outputs[j]) == 0);
	if (drv_is_fixed(d)) {
		const struct drv_output *o = &d->outputs[0];
		uint8_t h[SHA256_LEN];

		if (strcmp(o->hash_algo, "sha256") && strcmp(o->hash_algo, "r:sha256"))
			goto out; /* drv_set_fixed makes SHA-256 only */
		must(hash_from_base16(o->hash, strlen(o->hash), h, SHA256_LEN) == 0);
		must(drv_set_fixed(&e, o->hash_algo[0] == 'r', h) == 0);
	} else {
		for (i = d->noutputs; i-- > 0;)
			must(drv_add_output(&e, d->outputs[i].name) == 0);
	}
	for (i = 0; i < d->noutputs; i++) {
		free(e.outputs[i].path);
		must((e.outputs[i].path = strdup(d->outputs[i].path)) != NULL);
	}
	must(drv_print(&e, &b) == 0 && b.len == want->len && !memcmp(b.data, want->data, b.len));
out:
	buf_release(&b);
	drv_release(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drv d;
	struct buf b = BUF_INIT((size_t)1 << 30);
	struct drv_hasher *h = NULL;
	char **paths = NULL, *p = NULL;

	if (drv_parse_mem(&d, data, size, "fuzz", "/nix/store") != 0) {
		must(err_msg()[0] != '\0');
		return 0;
	}
	must(drv_print(&d, &b) == 0);
	must(b.len == size && memcmp(b.data, data, size) == 0);
	rebuild(&d, &b);

	/* Hashes: made-up modulo hashes for the inputs. */
	must(drv_hasher_new(&h, "/nix/store", NULL, NULL) == 0);
	for (size_t i = 0; i < d.ninputs; i++) {
		uint8_t hm[SHA256_LEN];

		must(sha256_buf(d.inputs[i].path, strlen(d.inputs[i].path), hm) == 0);
		must(drv_hasher_put(h, d.inputs[i].path, hm) == 0);
	}
	if (drv_output_paths(h, &d, &paths) == 0)
		drv_strv_free(paths, d.noutputs);
	(void)drv_check_outputs(h, &d);
	if (drv_store_path(&d, "/nix/store", &p) == 0)
		free(p);
	drv_hasher_free(h);
	buf_release(&b);
	drv_release(&d);
	return 0;
}
