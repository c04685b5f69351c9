#include "storepath.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

#define TYPE_MAX (1 << 20)

int storedir_get(const char **out)
{
	static _Thread_local char dir[4096];
	const char *env = getenv("YONDER_STORE_DIR");
	size_t len;

	if (!env || !*env)
		env = "/yonder/store";
	len = strlen(env);
	while (len > 1 && env[len - 1] == '/')
		len--;
	if (env[0] != '/')
		return err_set(ERR_INVALID, "store directory '%s' is not an absolute path", env);
	if (len >= sizeof(dir))
		return err_set(ERR_INVALID, "store directory '%s' is too long", env);
	memcpy(dir, env, len);
	dir[len] = '\0';
	*out = dir;
	return 0;
}

static int name_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("+-._?=", c));
}

int storepath_check_name(const char *name, size_t len)
{
	if (len == 0)
		return err_set(ERR_FORMAT, "store path name is empty");
	if (len > STOREPATH_NAME_MAX)
		return err_set(ERR_FORMAT,
			       "store path name '%.*s…' is %zu characters, more than %d", 40, name,
			       len, STOREPATH_NAME_MAX);
	for (size_t i = 0; i < len; i++)
		if (!name_char_ok((unsigned char)name[i]))
			return err_set(ERR_FORMAT,
				       "store path name '%.*s': character %zu (0x%02x) is not "
				       "allowed (only A-Z a-z 0-9 and +-._?=)",
				       (int)len, name, i, (unsigned char)name[i]);
	return 0;
}

int storepath_check(const char *storedir, const char *path)
{
	size_t dl = strlen(storedir);
	const char *base;
	uint8_t h[PATH_HASH_LEN];
	int r;

	if (strncmp(path, storedir, dl) != 0 || path[dl] != '/')
		return err_set(ERR_FORMAT, "'%s' is not in the store directory '%s'", path,
			       storedir);
	base = path + dl + 1;
	if (strlen(base) < PATH_HASH_NIX32_LEN + 2 || base[PATH_HASH_NIX32_LEN] != '-')
		return err_set(ERR_FORMAT,
			       "'%s' is not a store path (expected %s/<32-character hash>-<name>)",
			       path, storedir);
	if ((r = hash_from_nix32(base, PATH_HASH_NIX32_LEN, h, PATH_HASH_LEN)) != 0)
		return err_prefix(r, "store path '%s'", path);
	if ((r = storepath_check_name(base + PATH_HASH_NIX32_LEN + 1,
				      strlen(base + PATH_HASH_NIX32_LEN + 1))) != 0)
		return err_prefix(r, "store path '%s'", path);
	return 0;
}

int storepath_make(const char *storedir, const char *type, const uint8_t h[SHA256_LEN],
		   const char *name, char **out)
{
	struct buf b = BUF_INIT(TYPE_MAX);
	char hex[SHA256_B16_LEN + 1], part[PATH_HASH_NIX32_LEN + 1];
	uint8_t digest[SHA256_LEN], folded[PATH_HASH_LEN];
	int r;

	*out = NULL;
	if ((r = storepath_check_name(name, strlen(name))) != 0)
		return r;
	hash_to_base16(h, SHA256_LEN, hex);
	if ((r = buf_printf(&b, "%s:sha256:%s:%s:%s", type, hex, storedir, name)) != 0 ||
	    (r = sha256_buf(b.data, b.len, digest)) != 0)
		goto out;
	hash_compress(digest, SHA256_LEN, folded, PATH_HASH_LEN);
	hash_to_nix32(folded, PATH_HASH_LEN, part);
	buf_reset(&b);
	if ((r = buf_printf(&b, "%s/%s-%s", storedir, part, name)) != 0)
		goto out;
	*out = buf_detach(&b, NULL);
out:
	buf_release(&b);
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "<kind>:<ref1>:<ref2>…[:self]" with the references sorted. */
static int make_type(struct buf *b, const char *kind, const char *const *refs, size_t nrefs,
		     bool self_ref)
{
	const char **sorted = NULL;
	int r;

	if (nrefs) {
		sorted = malloc(nrefs * sizeof(*sorted));
		if (!sorted)
			return err_set(ERR_NOMEM, "out of memory");
		memcpy(sorted, refs, nrefs * sizeof(*sorted));
		qsort(sorted, nrefs, sizeof(*sorted), cmp_str);
	}
	r = buf_puts(b, kind);
	for (size_t i = 0; r == 0 && i < nrefs; i++)
		r = buf_printf(b, ":%s", sorted[i]);
	if (r == 0 && self_ref)
		r = buf_puts(b, ":self");
	free(sorted);
	return r;
}

int storepath_source(const char *storedir, const uint8_t nar_hash[SHA256_LEN], const char *name,
		     const char *const *refs, size_t nrefs, bool self_ref, char **out)
{
	struct buf type = BUF_INIT(TYPE_MAX);
	int r;

	*out = NULL;
	if ((r = make_type(&type, "source", refs, nrefs, self_ref)) == 0)
		r = storepath_make(storedir, type.data, nar_hash, name, out);
	buf_release(&type);
	return r;
}

int storepath_fixed(const char *storedir, bool recursive, const uint8_t h[SHA256_LEN],
		    const char *name, char **out)
{
	char hex[SHA256_B16_LEN + 1], inner[128];
	uint8_t ih[SHA256_LEN];
	int r;

	if (recursive)
		return storepath_source(storedir, h, name, NULL, 0, false, out);
	hash_to_base16(h, SHA256_LEN, hex);
	snprintf(inner, sizeof(inner), "fixed:out:sha256:%s:", hex);
	if ((r = sha256_buf(inner, strlen(inner), ih)) != 0)
		return r;
	return storepath_make(storedir, "output:out", ih, name, out);
}

int storepath_text(const char *storedir, const uint8_t content_hash[SHA256_LEN], const char *name,
		   const char *const *refs, size_t nrefs, char **out)
{
	struct buf type = BUF_INIT(TYPE_MAX);
	int r;

	*out = NULL;
	if ((r = make_type(&type, "text", refs, nrefs, false)) == 0)
		r = storepath_make(storedir, type.data, content_hash, name, out);
	buf_release(&type);
	return r;
}

const char *storepath_base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

const char *storepath_name(const char *path)
{
	const char *base = storepath_base(path);

	return strlen(base) > PATH_HASH_NIX32_LEN ? base + PATH_HASH_NIX32_LEN + 1 : base;
}
