/* drv.h — Nix derivations: the ATerm `.drv` format, output paths as Nix
 * computes them (hashDerivationModulo), and the store path of a `.drv`.
 *
 * The format (doc/DRV.md has the rules):
 *
 *   Derive([("out","/nix/store/…-x","",""),…],
 *          [("/nix/store/…-y.drv",["out"]),…],
 *          ["/nix/store/…-src",…],
 *          "x86_64-linux","/bin/sh",["-c","…"],
 *          [("name","x"),…])
 *
 * on one line, no whitespace, no trailing newline.  Parsing is strict: only
 * the bytes Nix itself prints are accepted, so that drv_print() of a parsed
 * derivation gives back exactly the input bytes (and so the same hashes).
 */
#ifndef YONDER_DRV_H
#define YONDER_DRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hash.h"
#include "io.h"

struct drv_output {
	char *name;
	char *path;      /* "" until computed (drv_fill_outputs) */
	char *hash_algo; /* "" (input-addressed), or "sha256", "r:sha256", … */
	char *hash;      /* "" or the lowercase base16 of the fixed hash */
};

struct drv_input {
	char *path;     /* an input derivation's store path, ending in .drv */
	char **outputs; /* the outputs used: sorted, no duplicates, not empty */
	size_t noutputs;
};

struct drv_env {
	char *name;
	char *value;
};

/* Every array is sorted strictly by its key (bytewise), as Nix prints it;
 * args keep their order.  Every string is NUL-free and owned by the drv. */
struct drv {
	char *name; /* not in the ATerm: the derivation's name (see drv_parse) */
	struct drv_output *outputs;
	size_t noutputs;
	struct drv_input *inputs;
	size_t ninputs;
	char **srcs;
	size_t nsrcs;
	char *system;
	char *builder;
	char **args;
	size_t nargs;
	struct drv_env *env;
	size_t nenv;
};

#define DRV_INIT                                                                                   \
	{                                                                                          \
		0                                                                                  \
	}

/* Caps on what a parser accepts, each checked before allocating. */
struct drv_limits {
	size_t string_max; /* bytes of one string, after unescaping */
	size_t list_max;   /* elements of one list */
	uint64_t size_max; /* bytes of the whole .drv */
};
/* 64 MiB, 1 Mi elements, 256 MiB. */
extern const struct drv_limits drv_default_limits;

void drv_init(struct drv *d);
/* Frees everything D holds; D is empty (DRV_INIT) afterwards. */
void drv_release(struct drv *d);
/* A heap drv: drv_new() gives an empty one (NULL when out of memory);
 * drv_free() releases and frees it (NULL is a no-op). */
struct drv *drv_new(void);
void drv_free(struct drv *d);

/* Parses one derivation from R, which must end right after its closing
 * parenthesis.  Store paths must be in STOREDIR.  On success *OUT (which is
 * overwritten, not released) holds it, with OUT->name set from the "name"
 * environment variable when there is one (NULL otherwise; Nix takes the
 * name from the .drv's store path — set it with drv_set_name()).  On error
 * *OUT is empty and the message is "<R->what>: byte N: expected …, got …"
 * (ERR_FORMAT), "…: byte N: … longer than …" (ERR_TOOBIG), or a read
 * error. */
int drv_parse(struct drv *out, struct reader *r, const char *storedir);
int drv_parse_limits(struct drv *out, struct reader *r, const char *storedir,
		     const struct drv_limits *lim);
/* The same over N bytes at P; WHAT names them in messages. */
int drv_parse_mem(struct drv *out, const void *p, size_t n, const char *what, const char *storedir);
/* The same over the file at PATH (named PATH in messages). */
int drv_parse_file(struct drv *out, const char *path, const char *storedir);

/* Appends D's ATerm to B, exactly as Nix prints it. */
int drv_print(const struct drv *d, struct buf *b);

/* ---- Building a derivation (recipes).  Each keeps the arrays sorted and
 * copies its arguments.  ERR_EXISTS for a duplicate output, ERR_INVALID
 * for a bad name, ERR_NOMEM. */
int drv_set_name(struct drv *d, const char *name);
int drv_set_system(struct drv *d, const char *system);
int drv_set_builder(struct drv *d, const char *builder);
int drv_add_arg(struct drv *d, const char *arg);
/* Sets (or replaces) an environment variable. */
int drv_set_env(struct drv *d, const char *name, const char *value);
/* The value of environment variable NAME, or NULL. */
const char *drv_env_get(const struct drv *d, const char *name);
/* Adds an input-addressed output with an empty path. */
int drv_add_output(struct drv *d, const char *name);
/* Makes D fixed-output: its one output "out" with the SHA-256 H, flat (the
 * file's bytes) or RECURSIVE (its NAR).  D must have no other output. */
int drv_set_fixed(struct drv *d, bool recursive, const uint8_t h[SHA256_LEN]);
/* Adds OUTPUT of the input derivation DRV_PATH (merged with earlier ones). */
int drv_add_input(struct drv *d, const char *drv_path, const char *output);
/* Adds an input source (a set: adding twice is a no-op). */
int drv_add_src(struct drv *d, const char *path);

/* Index of output NAME, or -1. */
long drv_output_index(const struct drv *d, const char *name);
/* True when D's one output has a fixed hash. */
bool drv_is_fixed(const struct drv *d);

/* ---- Hashes and paths.
 *
 * hashDerivationModulo needs the modulo hash of every input derivation,
 * recursively.  A drv_hasher memoises them by path; it gets the ones it
 * does not know from LOAD, which parses the derivation stored at PATH into
 * *OUT (an empty drv) and returns 0, or returns an error (message set).
 * LOAD may be NULL when every input hash is given with drv_hasher_put(). */
typedef int (*drv_load_fn)(void *ctx, const char *path, struct drv *out);

struct drv_hasher;

/* STOREDIR is copied.  ERR_NOMEM. */
int drv_hasher_new(struct drv_hasher **out, const char *storedir, drv_load_fn load, void *ctx);
void drv_hasher_free(struct drv_hasher *h);
/* Records the modulo hash of the derivation at PATH (a lookup table). */
int drv_hasher_put(struct drv_hasher *h, const char *path, const uint8_t hash[SHA256_LEN]);
/* The modulo hash of the derivation at PATH: memoised, else loaded with
 * LOAD (named after PATH) and computed, inputs first (no recursion depth
 * limit: it walks the graph with its own stack; a cycle is an error). */
int drv_hasher_path(struct drv_hasher *h, const char *path, uint8_t out[SHA256_LEN]);
/* A loader for drv_hasher_new(): parses the file at PATH itself, with CTX
 * the store directory (a const char *). */
int drv_load_file(void *ctx, const char *path, struct drv *out);

/* hashDerivationModulo(D, MASK): for a fixed-output D, SHA-256 of
 * "fixed:out:<algo>:<base16 hash>:<output path>"; otherwise SHA-256 of D's
 * ATerm in which each input derivation's path is replaced by the base16 of
 * its own modulo hash (inputs re-sorted by it), and, when MASK, output
 * paths and the env values of output names are printed as "".  Needs
 * D->name for a fixed output. */
int drv_hash_modulo(struct drv_hasher *h, const struct drv *d, bool mask, uint8_t out[SHA256_LEN]);

/* The paths Nix gives D's outputs: for a fixed output the fixed path of
 * its hash, else makeStorePath("output:<o>", drv_hash_modulo(D, masked),
 * "<name>" for "out" or "<name>-<o>").  *OUT gets an array of D->noutputs
 * allocated strings, in output order (free with drv_strv_free). */
int drv_output_paths(struct drv_hasher *h, const struct drv *d, char ***out);
void drv_strv_free(char **v, size_t n);

/* As builtins.derivation does: sets every output's env variable to "",
 * computes the output paths and writes them into the outputs and the env. */
int drv_fill_outputs(struct drv_hasher *h, struct drv *d);

/* Checks D's declared output paths and their env variables against the
 * computed ones.  ERR_MISMATCH naming the output, the declared path and
 * the right one. */
int drv_check_outputs(struct drv_hasher *h, const struct drv *d);

/* The store path of D's .drv: a text path of drv_print(D) named
 * "<D->name>.drv" whose references are its input derivations and input
 * sources.  *OUT is allocated. */
int drv_store_path(const struct drv *d, const char *storedir, char **out);

#endif
