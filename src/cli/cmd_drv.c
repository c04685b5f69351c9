/* yonder drv add, yonder drv show — derivations in Nix's ATerm form. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "client.h"
#include "db.h"
#include "drv.h"
#include "err.h"
#include "store.h"
#include "storepath.h"

static const char add_help[] =
    "Usage: yonder drv add FILE.drv...\n"
    "Add each derivation FILE.drv (Nix's ATerm form, as nix-instantiate\n"
    "writes it) to the store and print its store path, one line per FILE.\n"
    "Its input derivations and input sources must be valid already (add them\n"
    "first), and its output paths must be the ones Nix computes for it: a\n"
    "declared output path that differs is an error naming both paths.  The\n"
    ".drv is stored as a text path whose references are its inputs, so its\n"
    "store path is Nix's.\n\n"
    "Environment: YONDER_STORE_DIR (default /yonder/store), YONDER_STATE_DIR\n"
    "(default /var/yonder).\n\n"
    "Example: yonder drv add hello.drv\n";

static const char show_help[] =
    "Usage: yonder drv show [--recursive] DRV...\n"
    "Print the derivations DRV as JSON, in the shape (and the bytes) of\n"
    "`nix show-derivation`: one object whose keys are the .drv store paths.\n"
    "A DRV in the store directory must be valid; any other DRV is a file,\n"
    "shown under the store path it would have.\n\n"
    "  -r, --recursive  also show every input derivation, recursively (they\n"
    "                   must be in the store)\n\n"
    "Environment: YONDER_STORE_DIR (default /yonder/store), YONDER_STATE_DIR\n"
    "(default /var/yonder).\n\n"
    "Example: yonder drv show /yonder/store/…-hello.drv\n";

/* The name of the derivation in FILE when it has no "name" variable: the
 * base name without ".drv" and, for a store path, without its hash. */
static int name_from_file(struct drv *d, const char *file)
{
	const char *base = strrchr(file, '/');
	size_t len;
	char *name;
	int r;

	base = base ? base + 1 : file;
	len = strlen(base);
	if (len > 4 && !strcmp(base + len - 4, ".drv"))
		len -= 4;
	if (len > PATH_HASH_NIX32_LEN + 1 && base[PATH_HASH_NIX32_LEN] == '-') {
		base += PATH_HASH_NIX32_LEN + 1;
		len -= PATH_HASH_NIX32_LEN + 1;
	}
	if (!(name = strndup(base, len)))
		return err_set(ERR_NOMEM, "out of memory");
	r = storepath_check_name(name, len);
	if (r == 0)
		r = drv_set_name(d, name);
	free(name);
	return r;
}

/* Checks that every input of D is valid in S, and that each input
 * derivation has the outputs D uses. */
static int check_inputs(struct store *s, const struct drv *d)
{
	int r;

	for (size_t i = 0; i < d->nsrcs; i++) {
		if ((r = db_is_valid(store_db(s), d->srcs[i])) < 0)
			return r;
		if (r == 0)
			return err_set(ERR_NOTFOUND, "input source '%s' is not valid in the store",
				       d->srcs[i]);
	}
	for (size_t i = 0; i < d->ninputs; i++) {
		const struct drv_input *in = &d->inputs[i];
		struct drv dep = DRV_INIT;

		if ((r = db_is_valid(store_db(s), in->path)) < 0)
			return r;
		if (r == 0)
			return err_set(ERR_NOTFOUND,
				       "input derivation '%s' is not valid in the store (add it "
				       "first)",
				       in->path);
		if ((r = drv_parse_file(&dep, in->path, store_dir(s))) != 0)
			return r;
		for (size_t j = 0; r == 0 && j < in->noutputs; j++)
			if (drv_output_index(&dep, in->outputs[j]) < 0)
				r = err_set(ERR_INVALID, "input derivation '%s' has no output '%s'",
					    in->path, in->outputs[j]);
		drv_release(&dep);
		if (r != 0)
			return r;
	}
	return 0;
}

static int add_one(struct store *s, struct client_conn *conn, struct drv_hasher *h,
		   const char *file, char **out)
{
	struct drv d = DRV_INIT;
	struct buf b = BUF_INIT(2 * drv_default_limits.size_max);
	char **refs = NULL, *path = NULL, *name = NULL;
	size_t nrefs = 0;
	int r;

	*out = NULL;
	if ((r = drv_parse_file(&d, file, store_dir(s))) != 0)
		return r;
	if (!d.name && (r = name_from_file(&d, file)) != 0)
		goto out;
	if ((r = check_inputs(s, &d)) != 0 || (r = drv_check_outputs(h, &d)) != 0 ||
	    (r = drv_store_path(&d, store_dir(s), &path)) != 0 || (r = drv_print(&d, &b)) != 0)
		goto out;
	if (!(refs = calloc(d.ninputs + d.nsrcs + 1, sizeof(*refs))) ||
	    !(name = malloc(strlen(d.name) + 5))) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < d.ninputs; i++)
		refs[nrefs++] = d.inputs[i].path;
	for (size_t i = 0; i < d.nsrcs; i++)
		refs[nrefs++] = d.srcs[i];
	strcpy(name, d.name);
	strcat(name, ".drv");
	r = conn ? client_add_text(conn, name, b.data, b.len, (const char *const *)refs, nrefs, out)
		 : store_add_text(s, name, b.data, b.len, (const char *const *)refs, nrefs, out);
	if (r != 0)
		goto out;
	if (strcmp(*out, path) != 0) {
		r = err_set(ERR_INTERNAL, "added as '%s', expected '%s'", *out, path);
		free(*out);
		*out = NULL;
	}
out:
	if (r != 0)
		err_prefix(r, "%s", file);
	free(name);
	free(refs);
	free(path);
	buf_release(&b);
	drv_release(&d);
	return r;
}

int cmd_drv_add(int argc, char **argv)
{
	struct store *s = NULL;
	struct client_conn *conn = NULL;
	struct drv_hasher *h = NULL;
	int status = EXIT_OK, first = 1;

	if (cli_help(argc, argv, add_help))
		return EXIT_OK;
	if (argc > 1 && !strcmp(argv[1], "--"))
		first = 2;
	else if (argc > 1 && argv[1][0] == '-' && argv[1][1])
		return cli_usage(argv[0], "unknown option '%s'", argv[1]);
	if (first >= argc)
		return cli_usage(argv[0], "no FILE.drv given");
	if (store_open(&s) != 0)
		return cli_fail(argv[0], NULL);
	/* With a daemon running, it writes the store; we only read it. */
	if (client_connect_auto(&conn) != 0 ||
	    drv_hasher_new(&h, store_dir(s), drv_load_file, (void *)store_dir(s)) != 0) {
		client_free(conn);
		store_free(s);
		return cli_fail(argv[0], NULL);
	}
	for (int i = first; i < argc && status == EXIT_OK; i++) {
		char *out;

		if (add_one(s, conn, h, argv[i], &out) != 0) {
			status = cli_fail(argv[0], NULL);
			break;
		}
		puts(out);
		free(out);
	}
	drv_hasher_free(h);
	client_free(conn);
	store_free(s);
	return status;
}

/* ---- show ---- */

/* A JSON string as Nix 2.8 writes it: '"' and '\' escaped, \n \r \t, other
 * bytes below 0x20 as \u00XX, everything else as it is. */
static int json_str(struct buf *b, const char *s)
{
	int r = buf_putc(b, '"');

	for (; r == 0 && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			r = buf_putc(b, '\\') || buf_putc(b, (char)c) ? ERR_TOOBIG : 0;
		else if (c == '\n')
			r = buf_puts(b, "\\n");
		else if (c == '\r')
			r = buf_puts(b, "\\r");
		else if (c == '\t')
			r = buf_puts(b, "\\t");
		else if (c < 0x20)
			r = buf_printf(b, "\\u%04x", c);
		else
			r = buf_putc(b, (char)c);
	}
	return r ? r : buf_putc(b, '"');
}

/* "KEY": at INDENT spaces. */
static int json_key(struct buf *b, int indent, const char *key)
{
	int r = buf_printf(b, "%*s", indent, "");

	if (r == 0)
		r = json_str(b, key);
	return r ? r : buf_puts(b, ": ");
}

/* An array of strings; its elements at INDENT + 2. */
static int json_strv(struct buf *b, int indent, char *const *v, size_t n)
{
	int r;

	if (n == 0)
		return buf_puts(b, "[]");
	r = buf_puts(b, "[\n");
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = buf_printf(b, "%*s", indent + 2, "");
		if (r == 0)
			r = json_str(b, v[i]);
		if (r == 0)
			r = buf_puts(b, i + 1 < n ? ",\n" : "\n");
	}
	return r ? r : buf_printf(b, "%*s]", indent, "");
}

/* One derivation's object, its key at 2 spaces. */
static int json_drv(struct buf *b, const char *path, const struct drv *d)
{
	int r = json_key(b, 2, path);

	if (r == 0)
		r = buf_puts(b, "{\n");
	if (r == 0 && (r = json_key(b, 4, "outputs")) == 0)
		r = buf_puts(b, d->noutputs ? "{\n" : "{}");
	for (size_t i = 0; r == 0 && i < d->noutputs; i++) {
		const struct drv_output *o = &d->outputs[i];

		if ((r = json_key(b, 6, o->name)) != 0 || (r = buf_puts(b, "{\n")) != 0 ||
		    (r = json_key(b, 8, "path")) != 0 || (r = json_str(b, o->path)) != 0)
			break;
		if (o->hash_algo[0] &&
		    ((r = buf_puts(b, ",\n")) != 0 || (r = json_key(b, 8, "hashAlgo")) != 0 ||
		     (r = json_str(b, o->hash_algo)) != 0 || (r = buf_puts(b, ",\n")) != 0 ||
		     (r = json_key(b, 8, "hash")) != 0 || (r = json_str(b, o->hash)) != 0))
			break;
		r = buf_puts(b, i + 1 < d->noutputs ? "\n      },\n" : "\n      }\n    }");
	}
	if (r == 0 && (r = buf_puts(b, ",\n")) == 0 && (r = json_key(b, 4, "inputSrcs")) == 0 &&
	    (r = json_strv(b, 4, d->srcs, d->nsrcs)) == 0 && (r = buf_puts(b, ",\n")) == 0 &&
	    (r = json_key(b, 4, "inputDrvs")) == 0)
		r = buf_puts(b, d->ninputs ? "{\n" : "{}");
	for (size_t i = 0; r == 0 && i < d->ninputs; i++) {
		if ((r = json_key(b, 6, d->inputs[i].path)) != 0 ||
		    (r = json_strv(b, 6, d->inputs[i].outputs, d->inputs[i].noutputs)) != 0)
			break;
		r = buf_puts(b, i + 1 < d->ninputs ? ",\n" : "\n    }");
	}
	if (r == 0 && (r = buf_puts(b, ",\n")) == 0 && (r = json_key(b, 4, "system")) == 0 &&
	    (r = json_str(b, d->system)) == 0 && (r = buf_puts(b, ",\n")) == 0 &&
	    (r = json_key(b, 4, "builder")) == 0 && (r = json_str(b, d->builder)) == 0 &&
	    (r = buf_puts(b, ",\n")) == 0 && (r = json_key(b, 4, "args")) == 0 &&
	    (r = json_strv(b, 4, d->args, d->nargs)) == 0 && (r = buf_puts(b, ",\n")) == 0 &&
	    (r = json_key(b, 4, "env")) == 0)
		r = buf_puts(b, d->nenv ? "{\n" : "{}");
	for (size_t i = 0; r == 0 && i < d->nenv; i++) {
		if ((r = json_key(b, 6, d->env[i].name)) != 0 ||
		    (r = json_str(b, d->env[i].value)) != 0)
			break;
		r = buf_puts(b, i + 1 < d->nenv ? ",\n" : "\n    }");
	}
	return r ? r : buf_puts(b, "\n  }");
}

struct shown {
	char *path;
	struct drv *d;
};

static int cmp_shown(const void *a, const void *b)
{
	return strcmp(((const struct shown *)a)->path, ((const struct shown *)b)->path);
}

struct show_state {
	const char *cmd;
	const char *storedir;
	struct store *s; /* opened when a DRV is in the store */
	struct shown *v;
	size_t n, cap;
};

static bool have(const struct show_state *st, const char *path)
{
	for (size_t i = 0; i < st->n; i++)
		if (!strcmp(st->v[i].path, path))
			return true;
	return false;
}

/* Reads ARG (a store path or a file) into ST, unless it is there. */
static int load(struct show_state *st, const char *arg, bool in_store)
{
	size_t dl = strlen(st->storedir);
	struct drv *d = NULL;
	char *path = NULL;
	int r;

	if (!in_store && !strncmp(arg, st->storedir, dl) && arg[dl] == '/')
		in_store = true;
	if (in_store && have(st, arg))
		return 0;
	if (in_store) {
		if (!st->s && (r = store_open(&st->s)) != 0)
			return r;
		if ((r = store_check_path(st->s, arg)) != 0)
			return r;
		if ((r = db_is_valid(store_db(st->s), arg)) < 0)
			return r;
		if (r == 0)
			return err_set(ERR_NOTFOUND, "'%s' is not valid in the store", arg);
	}
	if (!(d = drv_new()))
		return err_set(ERR_NOMEM, "out of memory");
	if ((r = drv_parse_file(d, arg, st->storedir)) != 0)
		goto fail;
	if (in_store) {
		path = strdup(arg);
	} else {
		if (!d->name && (r = name_from_file(d, arg)) != 0)
			goto fail;
		if ((r = drv_store_path(d, st->storedir, &path)) != 0)
			goto fail;
		if (have(st, path)) {
			free(path);
			drv_free(d);
			return 0;
		}
	}
	if (!path || (st->n == st->cap &&
		      !(st->v = realloc(st->v, (st->cap = 2 * st->cap + 8) * sizeof(*st->v))))) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto fail;
	}
	st->v[st->n].path = path;
	st->v[st->n++].d = d;
	return 0;
fail:
	free(path);
	drv_free(d);
	return r;
}

int cmd_drv_show(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"recursive", no_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	struct show_state st = {argv[0], NULL, NULL, NULL, 0, 0};
	struct buf b = BUF_INIT(SIZE_MAX / 2);
	int c, recursive = 0, status = EXIT_FAIL;

	if (cli_help(argc, argv, show_help))
		return EXIT_OK;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":r", opts, NULL)) != -1) {
		switch (c) {
		case 'r': recursive = 1; break;
		default: return cli_usage(argv[0], "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage(argv[0], "no DRV given");
	if (storedir_get(&st.storedir) != 0)
		return cli_fail(argv[0], NULL);
	for (int i = optind; i < argc; i++)
		if (load(&st, argv[i], false) != 0) {
			cli_fail(argv[0], NULL);
			goto out;
		}
	/* The inputs of each derivation, as the array grows: a walk of the
	 * closure without recursion. */
	for (size_t i = 0; recursive && i < st.n; i++)
		for (size_t j = 0; j < st.v[i].d->ninputs; j++)
			if (load(&st, st.v[i].d->inputs[j].path, true) != 0) {
				cli_fail(argv[0], NULL);
				goto out;
			}
	qsort(st.v, st.n, sizeof(*st.v), cmp_shown);
	if (buf_puts(&b, "{\n") != 0)
		goto nomem;
	for (size_t i = 0; i < st.n; i++)
		if (json_drv(&b, st.v[i].path, st.v[i].d) != 0 ||
		    buf_puts(&b, i + 1 < st.n ? ",\n" : "\n") != 0)
			goto nomem;
	if (buf_puts(&b, "}\n") != 0)
		goto nomem;
	fwrite(b.data, 1, b.len, stdout);
	status = EXIT_OK;
	goto out;
nomem:
	cli_fail(argv[0], "out of memory");
out:
	for (size_t i = 0; i < st.n; i++) {
		free(st.v[i].path);
		drv_free(st.v[i].d);
	}
	free(st.v);
	store_free(st.s);
	buf_release(&b);
	return status;
}
