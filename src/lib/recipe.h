/* recipe.h — recipes: *.scm files whose value is one derivation or a list
 * of derivations.
 *
 * A recipe is evaluated by eval.h with these forms and builtins added
 * (doc/RECIPES.md, "Recipe forms", has the full reference):
 *
 *   (derivation (name "hello") (system "x86_64-linux") (builder "/bin/sh")
 *               (args "-c" "…") (outputs "out" "dev") (env ("K" "V") …)
 *               (features "kvm") (prefer-local #t)
 *               (hash ["sha256"] "…" [#:recursive #t]))
 *   (local-file "path" [#:name "name"])   a file or tree, as `nix-store --add`
 *   (plain-file "name" "content")         a text path, as builtins.toFile
 *   (output drv "dev")                    the path of another output
 *
 * A derivation is made exactly as Nix's builtins.derivation makes it from
 * the same attributes, so that the same derivation written in Nix and as a
 * recipe gives the same .drv bytes and paths.  A derivation, local-file or
 * plain-file used where a string is expected stands for its path (a
 * derivation: its first output) and is remembered in the string's context;
 * every string a derivation is made from brings its inputs along (input
 * derivations and input sources).
 *
 * Evaluating computes everything — the .drv texts, their paths, the paths
 * local-files will have — without touching any store; recipe_write() then
 * adds what the value needs.  So a recipe with an error registers nothing.
 *
 * Errors: the evaluator's (eval.h: "FILE:LINE:COL: …", ERR_INVALID for a
 * wrong recipe, ERR_FORMAT for syntax, ERR_TOOBIG for limits), ERR_IO /
 * ERR_NOTFOUND for a local-file that cannot be read (with its position).
 */
#ifndef YONDER_RECIPE_H
#define YONDER_RECIPE_H

#include <stddef.h>

#include "drv.h"
#include "eval.h"

struct store;

enum recipe_kind {
	RECIPE_DRV,   /* a .drv file: a text path */
	RECIPE_TEXT,  /* a plain-file: a text path */
	RECIPE_LOCAL, /* a local-file: a file or tree added as a source path */
};

/* One store item that the recipe's value needs. */
struct recipe_item {
	enum recipe_kind kind;
	char *path; /* its store path */
	char *name; /* its name part ("hello.drv", "builder.sh") */
	/* RECIPE_DRV, RECIPE_TEXT: the file's bytes and its references
	 * (sorted store paths, each an earlier item). */
	char *text;
	size_t len;
	char **refs;
	size_t nrefs;
	char *src;             /* RECIPE_LOCAL: the file or tree it is made of */
	const struct drv *drv; /* RECIPE_DRV: the derivation (owned by the result) */
};

/* What a recipe evaluates to.  Everything is owned by the result. */
struct recipe_result {
	char **drvs; /* the value: .drv paths, in the order of the value */
	size_t ndrvs;
	/* Every item the value needs, each once, references first (so they
	 * can be added in this order). */
	struct recipe_item *items;
	size_t nitems;
	struct drv **owned; /* the derivations (the items point into these) */
	size_t nowned;
};

#define RECIPE_RESULT_INIT                                                                         \
	{                                                                                          \
		0                                                                                  \
	}

void recipe_result_release(struct recipe_result *r);

/* Evaluates the recipe file PATH for the store directory STOREDIR.
 * Relative local-file paths are relative to PATH's directory.  LIM may be
 * NULL (the defaults).  The evaluation runs on its own thread with a stack
 * big enough for the evaluator's depth limit, so it is safe from any
 * thread.  On success *OUT (initialised by the caller; released by the
 * caller, also on failure) holds the result. */
int recipe_eval_file(struct recipe_result *out, const char *storedir, const char *path,
		     const struct eval_limits *lim);
/* The same over the LEN bytes at DATA, named FILE in messages (local-file
 * paths are relative to FILE's directory). */
int recipe_eval_mem(struct recipe_result *out, const char *storedir, const char *file,
		    const char *data, size_t len, const struct eval_limits *lim);

/* Adds R's items to the store S, in order (local-files with store_add,
 * the rest with store_add_text), each checked to get the path computed at
 * evaluation: ERR_MISMATCH when a local-file changed since (naming both
 * paths).  Items already valid are left as they are. */
int recipe_write(struct store *s, const struct recipe_result *r);

/* Where recipe_write_via puts items: into a store, or through the
 * daemon.  Each returns 0 and the path it made in *OUT (allocated), or a
 * negative code. */
struct recipe_sink {
	int (*add_local)(void *ctx, const char *src, const char *name, char **out);
	int (*add_text)(void *ctx, const char *name, const void *text, size_t len,
			const char *const *refs, size_t nrefs, char **out);
	void *ctx;
};

/* Adds R's items through SINK, in order, skipping item I when SKIP is not
 * NULL and SKIP[I] is true (valid already), with recipe_write's check. */
int recipe_write_via(const struct recipe_result *r, const struct recipe_sink *sink,
		     const bool *skip);

/* recipe_eval_file() then recipe_write() into S's store; *DRVSP gets the
 * value's .drv paths (an array of *NP allocated strings; free with
 * drv_strv_free). */
int recipe_instantiate(struct store *s, const char *path, char ***drvsp, size_t *np);

#endif
