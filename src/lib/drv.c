#include "drv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "storepath.h"

const struct drv_limits drv_default_limits = {
    .string_max = (size_t)64 << 20,
    .list_max = (size_t)1 << 20,
    .size_max = (uint64_t)256 << 20,
};

/* ---- Small helpers ---- */

static char *xstrndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (!p) {
		err_set(ERR_NOMEM, "out of memory");
		return NULL;
	}
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

void drv_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Makes room in *ARRP (N elements of SIZE bytes) for one more.  The
 * capacity is not stored: it is 4, 8, 16, … as N reaches each power of
 * two. */
static int reserve(void *arrp, size_t n, size_t size)
{
	void **a = arrp;
	size_t ncap;
	void *p;

	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return 0;
	ncap = n ? n * 2 : 4;
	if (ncap > SIZE_MAX / size)
		return err_set(ERR_NOMEM, "out of memory");
	p = realloc(*a, ncap * size);
	if (!p)
		return err_set(ERR_NOMEM, "out of memory");
	*a = p;
	return 0;
}

/* Binary search in an array whose elements (SIZE bytes) start with a
 * char * key.  Returns the index of KEY or where it would be inserted. */
static size_t find_key(const void *base, size_t n, size_t size, const char *key, bool *found)
{
	size_t lo = 0, hi = n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *k = *(char *const *)((const char *)base + mid * size);
		int c = strcmp(k, key);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int insert_at(void *arrp, size_t *n, size_t size, size_t at, const void *elem)
{
	char **a = arrp;
	int r;

	if ((r = reserve(arrp, *n, size)) != 0)
		return r;
	memmove(*a + (at + 1) * size, *a + at * size, (*n - at) * size);
	memcpy(*a + at * size, elem, size);
	(*n)++;
	return 0;
}

/* S quoted for a message: at most 60 bytes, non-printable bytes as '?'. */
static const char *shorten(const char *s, char out[80])
{
	size_t i = 0;

	for (; s[i] && i < 60; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[i]) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

static bool output_name_ok(const char *name)
{
	if (strcmp(name, "drv") == 0)
		return false;
	if (storepath_check_name(name, strlen(name)) != 0) {
		err_clear();
		return false;
	}
	return true;
}

/* The length in base16 digits of a hash algorithm's digest ("r:" allowed),
 * or 0 when the algorithm is unknown. */
static size_t algo_hex_len(const char *algo)
{
	if (strncmp(algo, "r:", 2) == 0)
		algo += 2;
	if (strcmp(algo, "md5") == 0)
		return 32;
	if (strcmp(algo, "sha1") == 0)
		return 40;
	if (strcmp(algo, "sha256") == 0)
		return 64;
	if (strcmp(algo, "sha512") == 0)
		return 128;
	return 0;
}

/* ---- Life cycle ---- */

void drv_init(struct drv *d)
{
	memset(d, 0, sizeof(*d));
}

static void input_release(struct drv_input *in)
{
	free(in->path);
	drv_strv_free(in->outputs, in->noutputs);
}

void drv_release(struct drv *d)
{
	free(d->name);
	for (size_t i = 0; i < d->noutputs; i++) {
		free(d->outputs[i].name);
		free(d->outputs[i].path);
		free(d->outputs[i].hash_algo);
		free(d->outputs[i].hash);
	}
	free(d->outputs);
	for (size_t i = 0; i < d->ninputs; i++)
		input_release(&d->inputs[i]);
	free(d->inputs);
	drv_strv_free(d->srcs, d->nsrcs);
	free(d->system);
	free(d->builder);
	drv_strv_free(d->args, d->nargs);
	for (size_t i = 0; i < d->nenv; i++) {
		free(d->env[i].name);
		free(d->env[i].value);
	}
	free(d->env);
	drv_init(d);
}

struct drv *drv_new(void)
{
	struct drv *d = calloc(1, sizeof(*d));

	if (!d)
		err_set(ERR_NOMEM, "out of memory");
	return d;
}

void drv_free(struct drv *d)
{
	if (!d)
		return;
	drv_release(d);
	free(d);
}

/* ---- Parsing ----
 *
 * The parser reads straight from the reader without a lookahead of its
 * own: peek() makes bytes available and looks at the first, take()
 * consumes it.  Every byte offset in a message is the reader's offset of
 * the byte concerned. */

struct parser {
	struct reader *r;
	const char *storedir;
	const struct drv_limits *lim;
	struct buf s;  /* the last string read */
	uint64_t soff; /* offset of its opening quote */
};

static int fail(struct parser *p, int code, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct parser *p, int code, uint64_t off, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(code, "%s: byte %llu: %s", p->r->what, (unsigned long long)off, msg);
}

static const char *describe(int c, char out[32])
{
	if (c < 0)
		snprintf(out, 32, "end of input");
	else if (c == '\'')
		snprintf(out, 32, "\"'\"");
	else if (c >= 0x20 && c < 0x7f)
		snprintf(out, 32, "'%c'", c);
	else if (c == '\n')
		snprintf(out, 32, "a newline");
	else
		snprintf(out, 32, "byte 0x%02x", c);
	return out;
}

static int syntax(struct parser *p, int got, const char *expected)
{
	char g[32];

	return fail(p, ERR_FORMAT, p->r->offset, "expected %s, got %s", expected, describe(got, g));
}

/* Makes input available: *N > 0 bytes at *Q, or *N == 0 at the end. */
static int avail(struct parser *p, const unsigned char **q, size_t *n)
{
	int e = reader_at_eof(p->r);
	uint64_t left;

	*q = NULL;
	*n = 0;
	if (e < 0)
		return e;
	if (e) {
		*n = 0;
		return 0;
	}
	if (p->r->offset >= p->lim->size_max)
		return fail(p, ERR_TOOBIG, p->r->offset,
			    "expected the end of the derivation, got more than %llu bytes",
			    (unsigned long long)p->lim->size_max);
	left = p->lim->size_max - p->r->offset;
	*q = p->r->p;
	*n = p->r->avail < left ? p->r->avail : (size_t)left;
	return 0;
}

/* The next byte, or -1 at the end of input, without consuming it. */
static int peek(struct parser *p, int *c)
{
	const unsigned char *q;
	size_t n;
	int r;

	if ((r = avail(p, &q, &n)) != 0)
		return r;
	*c = n ? q[0] : -1;
	return 0;
}

static int take(struct parser *p, size_t n)
{
	return reader_read(p->r, NULL, n);
}

static int expect(struct parser *p, int want, const char *expected)
{
	int c, r;

	if ((r = peek(p, &c)) != 0)
		return r;
	if (c != want)
		return syntax(p, c, expected);
	return take(p, 1);
}

static int expect_word(struct parser *p, const char *word, const char *expected)
{
	int r;

	for (; *word; word++)
		if ((r = expect(p, (unsigned char)*word, expected)) != 0)
			return r;
	return 0;
}

/* Bytes that end a run of plain string bytes. */
static bool special(unsigned char c)
{
	return c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\0';
}

/* Reads a string into p->s.  EXPECTED names it ("an output name"). */
static int parse_string(struct parser *p, const char *expected)
{
	char exp[128];
	int r;

	snprintf(exp, sizeof(exp), "'\"' (%s)", expected);
	p->soff = p->r->offset;
	if ((r = expect(p, '"', exp)) != 0)
		return r;
	buf_reset(&p->s);
	/* An empty string is "" too, never NULL. */
	if (!p->s.data && (r = buf_put(&p->s, "", 0)) != 0)
		return r;
	for (;;) {
		const unsigned char *q;
		size_t n, k = 0;
		uint64_t at;
		unsigned char c;

		if ((r = avail(p, &q, &n)) != 0)
			return r;
		if (n == 0) {
			snprintf(exp, sizeof(exp),
				 "'\"' (the end of the string opened at byte %llu)",
				 (unsigned long long)p->soff);
			return syntax(p, -1, exp);
		}
		while (k < n && !special(q[k]))
			k++;
		if (k) {
			if (k > p->lim->string_max - p->s.len)
				return fail(
				    p, ERR_TOOBIG, p->soff,
				    "expected a string of at most %zu bytes, got a longer one",
				    p->lim->string_max);
			if ((r = buf_put(&p->s, q, k)) != 0 || (r = take(p, k)) != 0)
				return r;
			continue;
		}
		c = q[0];
		at = p->r->offset;
		switch (c) {
		case '"': return take(p, 1);
		case '\\': {
			int e;

			if ((r = take(p, 1)) != 0 || (r = peek(p, &e)) != 0)
				return r;
			switch (e) {
			case '"': c = '"'; break;
			case '\\': c = '\\'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			default: {
				char g[32];

				return fail(p, ERR_FORMAT, at,
					    "expected an escape (\\\" \\\\ \\n \\r \\t), got '\\' "
					    "followed by %s",
					    describe(e, g));
			}
			}
			if (p->s.len >= p->lim->string_max)
				return fail(
				    p, ERR_TOOBIG, p->soff,
				    "expected a string of at most %zu bytes, got a longer one",
				    p->lim->string_max);
			if ((r = buf_putc(&p->s, (char)c)) != 0 || (r = take(p, 1)) != 0)
				return r;
			break;
		}
		case '\n': return syntax(p, c, "a string byte (a newline is written \\n)");
		case '\r': return syntax(p, c, "a string byte (a carriage return is written \\r)");
		case '\t': return syntax(p, c, "a string byte (a tab is written \\t)");
		default: return syntax(p, c, "a string byte (NUL is not allowed)");
		}
	}
}

/* A copy of the last string read. */
static char *string_dup(struct parser *p)
{
	return xstrndup(p->s.data ? p->s.data : "", p->s.len);
}

/* Parses "[e, e, …]", calling ELEM for each element.  *COUNT counts them. */
static int parse_list(struct parser *p, const char *list, size_t *count,
		      int (*elem)(struct parser *p, void *ctx), void *ctx)
{
	char exp[128];
	int c, r;

	snprintf(exp, sizeof(exp), "'[' (%s)", list);
	if ((r = expect(p, '[', exp)) != 0 || (r = peek(p, &c)) != 0)
		return r;
	if (c == ']')
		return take(p, 1);
	for (;;) {
		if (*count >= p->lim->list_max)
			return fail(p, ERR_TOOBIG, p->r->offset,
				    "expected at most %zu elements in %s, got more",
				    p->lim->list_max, list);
		if ((r = elem(p, ctx)) != 0)
			return r;
		(*count)++;
		if ((r = peek(p, &c)) != 0)
			return r;
		if (c == ']')
			return take(p, 1);
		snprintf(exp, sizeof(exp), "',' or ']' (in %s)", list);
		if (c != ',')
			return syntax(p, c, exp);
		if ((r = take(p, 1)) != 0)
			return r;
	}
}

/* Checks that the string just read comes strictly after PREV (NULL for the
 * first element). */
static int check_order(struct parser *p, const char *prev, const char *cur, const char *what)
{
	char a[80], b[80];

	if (prev && strcmp(prev, cur) >= 0)
		return fail(p, ERR_FORMAT, p->soff,
			    "expected %s in strictly increasing order, got '%s' after '%s'", what,
			    shorten(cur, a), shorten(prev, b));
	return 0;
}

static int check_path(struct parser *p, const char *path, const char *what)
{
	char a[80];

	if (storepath_check(p->storedir, path) != 0) {
		err_clear();
		return fail(p, ERR_FORMAT, p->soff, "expected %s (a store path in %s), got '%s'",
			    what, p->storedir, shorten(path, a));
	}
	return 0;
}

static int check_output_name(struct parser *p, const char *name)
{
	char a[80];

	if (!output_name_ok(name))
		return fail(p, ERR_FORMAT, p->soff,
			    "expected an output name (1 to 211 of A-Z a-z 0-9 +-._?=, not 'drv', "
			    "not starting with '.'), got '%s'",
			    shorten(name, a));
	return 0;
}

static int parse_output(struct parser *p, void *ctx)
{
	struct drv *d = ctx;
	struct drv_output o = {0};
	char a[80];
	size_t hexlen;
	int r;

	if ((r = reserve(&d->outputs, d->noutputs, sizeof(*d->outputs))) != 0 ||
	    (r = expect(p, '(', "'(' (an output)")) != 0 ||
	    (r = parse_string(p, "an output name")) != 0 ||
	    (r = check_output_name(p, p->s.data)) != 0 ||
	    (r = check_order(p, d->noutputs ? d->outputs[d->noutputs - 1].name : NULL, p->s.data,
			     "output names")) != 0)
		return r;
	if (!(o.name = string_dup(p)))
		return ERR_NOMEM;
	d->outputs[d->noutputs++] = o; /* owned by D from here */
	if ((r = expect(p, ',', "',' (after the output name)")) != 0 ||
	    (r = parse_string(p, "an output path")) != 0 ||
	    (r = check_path(p, p->s.data, "an output path")) != 0)
		return r;
	if (!(d->outputs[d->noutputs - 1].path = string_dup(p)))
		return ERR_NOMEM;
	if ((r = expect(p, ',', "',' (after the output path)")) != 0 ||
	    (r = parse_string(p, "a hash algorithm")) != 0)
		return r;
	hexlen = algo_hex_len(p->s.data);
	if (p->s.len != 0 && hexlen == 0)
		return fail(p, ERR_FORMAT, p->soff,
			    "expected a hash algorithm ('', '[r:]sha256', '[r:]sha1', '[r:]sha512' "
			    "or '[r:]md5'), got '%s'",
			    shorten(p->s.data, a));
	if (!(d->outputs[d->noutputs - 1].hash_algo = string_dup(p)))
		return ERR_NOMEM;
	if ((r = expect(p, ',', "',' (after the hash algorithm)")) != 0 ||
	    (r = parse_string(p, "a hash")) != 0)
		return r;
	if (hexlen == 0 && p->s.len != 0)
		return fail(p, ERR_FORMAT, p->soff,
			    "expected '' (no hash without a hash algorithm), got '%s'",
			    shorten(p->s.data, a));
	if (hexlen) {
		bool ok = p->s.len == hexlen;

		for (size_t i = 0; ok && i < p->s.len; i++)
			ok = (p->s.data[i] >= '0' && p->s.data[i] <= '9') ||
			     (p->s.data[i] >= 'a' && p->s.data[i] <= 'f');
		if (!ok)
			return fail(p, ERR_FORMAT, p->soff,
				    "expected a hash of %zu lowercase base16 digits, got '%s'",
				    hexlen, shorten(p->s.data, a));
	}
	if (!(d->outputs[d->noutputs - 1].hash = string_dup(p)))
		return ERR_NOMEM;
	return expect(p, ')', "')' (after the output's hash)");
}

static int parse_input_output(struct parser *p, void *ctx)
{
	struct drv_input *in = ctx;
	int r;

	if ((r = reserve(&in->outputs, in->noutputs, sizeof(*in->outputs))) != 0 ||
	    (r = parse_string(p, "an output name")) != 0 ||
	    (r = check_output_name(p, p->s.data)) != 0 ||
	    (r = check_order(p, in->noutputs ? in->outputs[in->noutputs - 1] : NULL, p->s.data,
			     "the output names of an input derivation")) != 0)
		return r;
	if (!(in->outputs[in->noutputs] = string_dup(p)))
		return ERR_NOMEM;
	in->noutputs++;
	return 0;
}

static int parse_input(struct parser *p, void *ctx)
{
	struct drv *d = ctx;
	struct drv_input *in;
	size_t n = 0;
	uint64_t list_off;
	int r;

	if ((r = reserve(&d->inputs, d->ninputs, sizeof(*d->inputs))) != 0 ||
	    (r = expect(p, '(', "'(' (an input derivation)")) != 0 ||
	    (r = parse_string(p, "an input derivation path")) != 0 ||
	    (r = check_path(p, p->s.data, "an input derivation path")) != 0 ||
	    (r = check_order(p, d->ninputs ? d->inputs[d->ninputs - 1].path : NULL, p->s.data,
			     "input derivation paths")) != 0)
		return r;
	if (p->s.len < 4 || strcmp(p->s.data + p->s.len - 4, ".drv") != 0) {
		char a[80];

		return fail(p, ERR_FORMAT, p->soff,
			    "expected an input derivation path (ending in .drv), got '%s'",
			    shorten(p->s.data, a));
	}
	in = &d->inputs[d->ninputs];
	memset(in, 0, sizeof(*in));
	if (!(in->path = string_dup(p)))
		return ERR_NOMEM;
	d->ninputs++;
	if ((r = expect(p, ',', "',' (after the input derivation path)")) != 0)
		return r;
	list_off = p->r->offset;
	if ((r = parse_list(p, "the outputs of an input derivation", &n, parse_input_output, in)) !=
	    0)
		return r;
	if (n == 0)
		return fail(p, ERR_FORMAT, list_off,
			    "expected at least one output of an input derivation, got '[]'");
	return expect(p, ')', "')' (after the outputs of an input derivation)");
}

static int parse_src(struct parser *p, void *ctx)
{
	struct drv *d = ctx;
	int r;

	if ((r = reserve(&d->srcs, d->nsrcs, sizeof(*d->srcs))) != 0 ||
	    (r = parse_string(p, "an input source path")) != 0 ||
	    (r = check_path(p, p->s.data, "an input source path")) != 0 ||
	    (r = check_order(p, d->nsrcs ? d->srcs[d->nsrcs - 1] : NULL, p->s.data,
			     "input source paths")) != 0)
		return r;
	if (!(d->srcs[d->nsrcs] = string_dup(p)))
		return ERR_NOMEM;
	d->nsrcs++;
	return 0;
}

static int parse_arg(struct parser *p, void *ctx)
{
	struct drv *d = ctx;
	int r;

	if ((r = reserve(&d->args, d->nargs, sizeof(*d->args))) != 0 ||
	    (r = parse_string(p, "an argument")) != 0)
		return r;
	if (!(d->args[d->nargs] = string_dup(p)))
		return ERR_NOMEM;
	d->nargs++;
	return 0;
}

static int parse_env(struct parser *p, void *ctx)
{
	struct drv *d = ctx;
	struct drv_env *e;
	int r;

	if ((r = reserve(&d->env, d->nenv, sizeof(*d->env))) != 0 ||
	    (r = expect(p, '(', "'(' (an environment variable)")) != 0 ||
	    (r = parse_string(p, "an environment variable name")) != 0 ||
	    (r = check_order(p, d->nenv ? d->env[d->nenv - 1].name : NULL, p->s.data,
			     "environment variable names")) != 0)
		return r;
	e = &d->env[d->nenv];
	e->value = NULL;
	if (!(e->name = string_dup(p)))
		return ERR_NOMEM;
	d->nenv++;
	if ((r = expect(p, ',', "',' (after the variable name)")) != 0 ||
	    (r = parse_string(p, "an environment variable value")) != 0)
		return r;
	if (!(e->value = string_dup(p)))
		return ERR_NOMEM;
	return expect(p, ')', "')' (after the variable value)");
}

static int parse_body(struct parser *p, struct drv *d)
{
	uint64_t list_off;
	size_t n = 0;
	int c, r;

	if ((r = expect_word(p, "Derive(", "'Derive(' (a derivation)")) != 0)
		return r;
	list_off = p->r->offset;
	if ((r = parse_list(p, "the outputs", &n, parse_output, d)) != 0)
		return r;
	if (d->noutputs == 0)
		return fail(p, ERR_FORMAT, list_off, "expected at least one output, got '[]'");
	for (size_t i = 0; i < d->noutputs; i++)
		if (d->outputs[i].hash_algo[0] &&
		    (d->noutputs != 1 || strcmp(d->outputs[i].name, "out") != 0))
			return fail(p, ERR_FORMAT, list_off,
				    "expected a fixed output to be the only output, named 'out', "
				    "got output '%s' among %zu",
				    d->outputs[i].name, d->noutputs);
	if ((r = expect(p, ',', "',' (after the outputs)")) != 0 ||
	    (n = 0, r = parse_list(p, "the input derivations", &n, parse_input, d)) != 0 ||
	    (r = expect(p, ',', "',' (after the input derivations)")) != 0 ||
	    (n = 0, r = parse_list(p, "the input sources", &n, parse_src, d)) != 0)
		return r;
	if ((r = expect(p, ',', "',' (after the input sources)")) != 0 ||
	    (r = parse_string(p, "the system")) != 0)
		return r;
	if (!(d->system = string_dup(p)))
		return ERR_NOMEM;
	if ((r = expect(p, ',', "',' (after the system)")) != 0 ||
	    (r = parse_string(p, "the builder")) != 0)
		return r;
	if (!(d->builder = string_dup(p)))
		return ERR_NOMEM;
	if ((r = expect(p, ',', "',' (after the builder)")) != 0 ||
	    (n = 0, r = parse_list(p, "the arguments", &n, parse_arg, d)) != 0 ||
	    (r = expect(p, ',', "',' (after the arguments)")) != 0 ||
	    (n = 0, r = parse_list(p, "the environment", &n, parse_env, d)) != 0 ||
	    (r = expect(p, ')', "')' (the end of the derivation)")) != 0 || (r = peek(p, &c)) != 0)
		return r;
	if (c != -1)
		return syntax(p, c, "the end of input after the derivation");
	return 0;
}

int drv_parse_limits(struct drv *out, struct reader *r, const char *storedir,
		     const struct drv_limits *lim)
{
	struct parser p = {.r = r, .storedir = storedir, .lim = lim};
	const char *name;
	int e;

	drv_init(out);
	buf_init(&p.s, lim->string_max);
	e = parse_body(&p, out);
	buf_release(&p.s);
	if (e == 0 && (name = drv_env_get(out, "name")) && !(out->name = xstrdup(name)))
		e = ERR_NOMEM;
	if (e != 0)
		drv_release(out);
	return e;
}

int drv_parse(struct drv *out, struct reader *r, const char *storedir)
{
	return drv_parse_limits(out, r, storedir, &drv_default_limits);
}

int drv_parse_mem(struct drv *out, const void *p, size_t n, const char *what, const char *storedir)
{
	struct reader r;
	int e;

	reader_init_mem(&r, p, n, what);
	e = drv_parse(out, &r, storedir);
	reader_release(&r);
	return e;
}

int drv_parse_file(struct drv *out, const char *path, const char *storedir)
{
	struct reader r;
	int fd, e;

	drv_init(out);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "cannot open '%s'", path);
	if ((e = reader_init_fd(&r, fd, path)) == 0) {
		e = drv_parse(out, &r, storedir);
		reader_release(&r);
	}
	close(fd); /* read-only: nothing to lose */
	return e;
}

/* ---- Printing ---- */

static int put_string(struct buf *b, const char *s)
{
	int r;

	if ((r = buf_putc(b, '"')) != 0)
		return r;
	for (;;) {
		size_t k = strcspn(s, "\"\\\n\r\t");
		const char *esc = NULL;

		if (k && (r = buf_put(b, s, k)) != 0)
			return r;
		s += k;
		switch (*s) {
		case '\0': return buf_putc(b, '"');
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		}
		if ((r = buf_put(b, esc, 2)) != 0)
			return r;
		s++;
	}
}

static int put_strings(struct buf *b, char *const *v, size_t n)
{
	int r = buf_putc(b, '[');

	for (size_t i = 0; r == 0 && i < n; i++) {
		if (i)
			r = buf_putc(b, ',');
		if (r == 0)
			r = put_string(b, v[i]);
	}
	return r ? r : buf_putc(b, ']');
}

/* D's ATerm, with the input derivations INPUTS instead of D's own, and
 * when MASK, empty output paths and empty values for output variables. */
static int print_view(struct buf *b, const struct drv *d, bool mask, const struct drv_input *inputs,
		      size_t ninputs)
{
	int r = buf_puts(b, "Derive([");

	for (size_t i = 0; r == 0 && i < d->noutputs; i++) {
		const struct drv_output *o = &d->outputs[i];

		if ((i && (r = buf_putc(b, ',')) != 0) || (r = buf_putc(b, '(')) != 0 ||
		    (r = put_string(b, o->name)) != 0 || (r = buf_putc(b, ',')) != 0 ||
		    (r = put_string(b, mask ? "" : o->path)) != 0 || (r = buf_putc(b, ',')) != 0 ||
		    (r = put_string(b, o->hash_algo)) != 0 || (r = buf_putc(b, ',')) != 0 ||
		    (r = put_string(b, o->hash)) != 0)
			return r;
		r = buf_putc(b, ')');
	}
	if (r == 0)
		r = buf_puts(b, "],[");
	for (size_t i = 0; r == 0 && i < ninputs; i++) {
		if ((i && (r = buf_putc(b, ',')) != 0) || (r = buf_putc(b, '(')) != 0 ||
		    (r = put_string(b, inputs[i].path)) != 0 || (r = buf_putc(b, ',')) != 0 ||
		    (r = put_strings(b, inputs[i].outputs, inputs[i].noutputs)) != 0)
			return r;
		r = buf_putc(b, ')');
	}
	if (r == 0 && (r = buf_puts(b, "],")) == 0 &&
	    (r = put_strings(b, d->srcs, d->nsrcs)) == 0 && (r = buf_putc(b, ',')) == 0 &&
	    (r = put_string(b, d->system)) == 0 && (r = buf_putc(b, ',')) == 0 &&
	    (r = put_string(b, d->builder)) == 0 && (r = buf_putc(b, ',')) == 0 &&
	    (r = put_strings(b, d->args, d->nargs)) == 0)
		r = buf_puts(b, ",[");
	for (size_t i = 0; r == 0 && i < d->nenv; i++) {
		const struct drv_env *e = &d->env[i];
		bool blank = mask && drv_output_index(d, e->name) >= 0;

		if ((i && (r = buf_putc(b, ',')) != 0) || (r = buf_putc(b, '(')) != 0 ||
		    (r = put_string(b, e->name)) != 0 || (r = buf_putc(b, ',')) != 0 ||
		    (r = put_string(b, blank ? "" : e->value)) != 0)
			return r;
		r = buf_putc(b, ')');
	}
	return r ? r : buf_puts(b, "])");
}

int drv_print(const struct drv *d, struct buf *b)
{
	if (!d->system || !d->builder)
		return err_set(ERR_INVALID, "derivation '%s' has no %s", d->name ? d->name : "?",
			       d->system ? "builder" : "system");
	return print_view(b, d, false, d->inputs, d->ninputs);
}

/* ---- Building ---- */

static int set_str(char **dst, const char *s)
{
	char *p = xstrdup(s);

	if (!p)
		return ERR_NOMEM;
	free(*dst);
	*dst = p;
	return 0;
}

int drv_set_name(struct drv *d, const char *name)
{
	return set_str(&d->name, name);
}

int drv_set_system(struct drv *d, const char *system)
{
	return set_str(&d->system, system);
}

int drv_set_builder(struct drv *d, const char *builder)
{
	return set_str(&d->builder, builder);
}

int drv_add_arg(struct drv *d, const char *arg)
{
	char *p;
	int r;

	if ((r = reserve(&d->args, d->nargs, sizeof(*d->args))) != 0)
		return r;
	if (!(p = xstrdup(arg)))
		return ERR_NOMEM;
	d->args[d->nargs++] = p;
	return 0;
}

int drv_set_env(struct drv *d, const char *name, const char *value)
{
	bool found;
	size_t at = find_key(d->env, d->nenv, sizeof(*d->env), name, &found);
	struct drv_env e;
	int r;

	if (found)
		return set_str(&d->env[at].value, value);
	e.name = xstrdup(name);
	e.value = xstrdup(value);
	r = e.name && e.value ? insert_at(&d->env, &d->nenv, sizeof(e), at, &e) : ERR_NOMEM;
	if (r != 0) {
		free(e.name);
		free(e.value);
	}
	return r;
}

const char *drv_env_get(const struct drv *d, const char *name)
{
	bool found;
	size_t at = find_key(d->env, d->nenv, sizeof(*d->env), name, &found);

	return found ? d->env[at].value : NULL;
}

long drv_output_index(const struct drv *d, const char *name)
{
	bool found;
	size_t at = find_key(d->outputs, d->noutputs, sizeof(*d->outputs), name, &found);

	return found ? (long)at : -1;
}

bool drv_is_fixed(const struct drv *d)
{
	return d->noutputs == 1 && d->outputs[0].hash_algo[0] != '\0';
}

static int add_output(struct drv *d, const char *name, const char *algo, const char *hash)
{
	bool found;
	size_t at = find_key(d->outputs, d->noutputs, sizeof(*d->outputs), name, &found);
	struct drv_output o;
	int r = ERR_NOMEM;

	if (!output_name_ok(name))
		return err_set(ERR_INVALID, "'%s' is not a valid output name", name);
	if (found)
		return err_set(ERR_EXISTS, "output '%s' is given twice", name);
	o.name = xstrdup(name);
	o.path = xstrdup("");
	o.hash_algo = xstrdup(algo);
	o.hash = xstrdup(hash);
	if (o.name && o.path && o.hash_algo && o.hash &&
	    (r = insert_at(&d->outputs, &d->noutputs, sizeof(o), at, &o)) == 0)
		return 0;
	free(o.name);
	free(o.path);
	free(o.hash_algo);
	free(o.hash);
	return r;
}

int drv_add_output(struct drv *d, const char *name)
{
	if (drv_is_fixed(d))
		return err_set(ERR_INVALID, "a fixed-output derivation has only the output 'out'");
	return add_output(d, name, "", "");
}

int drv_set_fixed(struct drv *d, bool recursive, const uint8_t h[SHA256_LEN])
{
	char hex[SHA256_B16_LEN + 1];

	if (d->noutputs > 1 || (d->noutputs == 1 && strcmp(d->outputs[0].name, "out") != 0))
		return err_set(ERR_INVALID, "a fixed-output derivation has only the output 'out'");
	hash_to_base16(h, SHA256_LEN, hex);
	if (d->noutputs == 1) {
		int r = set_str(&d->outputs[0].hash_algo, recursive ? "r:sha256" : "sha256");

		return r ? r : set_str(&d->outputs[0].hash, hex);
	}
	return add_output(d, "out", recursive ? "r:sha256" : "sha256", hex);
}

static int set_add(char ***v, size_t *n, const char *s)
{
	bool found;
	size_t at = find_key(*v, *n, sizeof(**v), s, &found);
	char *p;
	int r;

	if (found)
		return 0;
	if (!(p = xstrdup(s)))
		return ERR_NOMEM;
	if ((r = insert_at(v, n, sizeof(p), at, &p)) != 0)
		free(p);
	return r;
}

int drv_add_input(struct drv *d, const char *drv_path, const char *output)
{
	bool found;
	size_t at = find_key(d->inputs, d->ninputs, sizeof(*d->inputs), drv_path, &found);
	struct drv_input in = {0};
	int r;

	if (!output_name_ok(output))
		return err_set(ERR_INVALID, "'%s' is not a valid output name", output);
	if (!found) {
		if (!(in.path = xstrdup(drv_path)))
			return ERR_NOMEM;
		if ((r = insert_at(&d->inputs, &d->ninputs, sizeof(in), at, &in)) != 0) {
			free(in.path);
			return r;
		}
	}
	return set_add(&d->inputs[at].outputs, &d->inputs[at].noutputs, output);
}

int drv_add_src(struct drv *d, const char *path)
{
	return set_add(&d->srcs, &d->nsrcs, path);
}

/* ---- Hashes ---- */

enum { MEMO_UNKNOWN, MEMO_BUSY, MEMO_DONE };

struct memo {
	char *path; /* NULL: free slot */
	int state;
	uint8_t hash[SHA256_LEN];
};

struct drv_hasher {
	char *storedir;
	drv_load_fn load;
	void *ctx;
	struct memo *tab;
	size_t cap; /* a power of two */
	size_t used;
};

int drv_hasher_new(struct drv_hasher **out, const char *storedir, drv_load_fn load, void *ctx)
{
	struct drv_hasher *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h || !(h->storedir = xstrdup(storedir))) {
		free(h);
		return err_set(ERR_NOMEM, "out of memory");
	}
	h->load = load;
	h->ctx = ctx;
	*out = h;
	return 0;
}

void drv_hasher_free(struct drv_hasher *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->cap; i++)
		free(h->tab[i].path);
	free(h->tab);
	free(h->storedir);
	free(h);
}

static size_t hash_str(const char *s)
{
	uint64_t x = 14695981039346656037ull;

	for (; *s; s++)
		x = (x ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)x;
}

/* The entry for PATH, created (MEMO_UNKNOWN) when missing.  Pointers into
 * the table are valid until the next call. */
static int memo_get(struct drv_hasher *h, const char *path, struct memo **out)
{
	size_t i;

	if (h->used + 1 > h->cap / 4 * 3) {
		size_t ncap = h->cap ? h->cap * 2 : 64;
		struct memo *nt = calloc(ncap, sizeof(*nt));

		if (!nt)
			return err_set(ERR_NOMEM, "out of memory");
		for (size_t j = 0; j < h->cap; j++) {
			if (!h->tab[j].path)
				continue;
			for (i = hash_str(h->tab[j].path) & (ncap - 1); nt[i].path;
			     i = (i + 1) & (ncap - 1))
				;
			nt[i] = h->tab[j];
		}
		free(h->tab);
		h->tab = nt;
		h->cap = ncap;
	}
	for (i = hash_str(path) & (h->cap - 1); h->tab[i].path; i = (i + 1) & (h->cap - 1))
		if (strcmp(h->tab[i].path, path) == 0) {
			*out = &h->tab[i];
			return 0;
		}
	if (!(h->tab[i].path = xstrdup(path)))
		return ERR_NOMEM;
	h->tab[i].state = MEMO_UNKNOWN;
	h->used++;
	*out = &h->tab[i];
	return 0;
}

int drv_hasher_put(struct drv_hasher *h, const char *path, const uint8_t hash[SHA256_LEN])
{
	struct memo *m;
	int r;

	if ((r = memo_get(h, path, &m)) != 0)
		return r;
	m->state = MEMO_DONE;
	memcpy(m->hash, hash, SHA256_LEN);
	return 0;
}

int drv_load_file(void *ctx, const char *path, struct drv *out)
{
	return drv_parse_file(out, path, ctx);
}

/* The output path of a fixed-output derivation named NAME. */
static int fixed_path(const char *storedir, const struct drv *d, const char *name, char **out)
{
	const struct drv_output *o = &d->outputs[0];
	bool rec = strncmp(o->hash_algo, "r:", 2) == 0;
	const char *algo = o->hash_algo + (rec ? 2 : 0);
	uint8_t h[SHA256_LEN];
	struct buf b = BUF_INIT(4096);
	int r;

	*out = NULL;
	if (strcmp(algo, "sha256") == 0) {
		if ((r = hash_from_base16(o->hash, strlen(o->hash), h, SHA256_LEN)) != 0)
			return r;
		return storepath_fixed(storedir, rec, h, name, out);
	}
	/* Other algorithms: "fixed:out:[r:]<algo>:<hex>:" hashed again. */
	if ((r = buf_printf(&b, "fixed:out:%s:%s:", o->hash_algo, o->hash)) == 0 &&
	    (r = sha256_buf(b.data, b.len, h)) == 0)
		r = storepath_make(storedir, "output:out", h, name, out);
	buf_release(&b);
	return r;
}

static const char *name_of(const struct drv *d)
{
	return d->name ? d->name : "?";
}

static int need_name(const struct drv *d)
{
	if (!d->name)
		return err_set(ERR_INVALID,
			       "derivation has no name (no \"name\" environment variable)");
	return 0;
}

static int cmp_input(const void *a, const void *b)
{
	return strcmp(((const struct drv_input *)a)->path, ((const struct drv_input *)b)->path);
}

/* The union of two sorted sets of strings, borrowed (not copied). */
static int merge_sets(char *const *a, size_t na, char *const *b, size_t nb, char ***out,
		      size_t *nout)
{
	char **v = malloc((na + nb + 1) * sizeof(*v));
	size_t i = 0, j = 0, n = 0;

	if (!v)
		return err_set(ERR_NOMEM, "out of memory");
	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 : strcmp(a[i], b[j]);

		if (c <= 0)
			v[n++] = a[i++];
		else
			v[n++] = b[j++];
		if (c == 0)
			j++;
	}
	*out = v;
	*nout = n;
	return 0;
}

int drv_hash_modulo(struct drv_hasher *h, const struct drv *d, bool mask, uint8_t out[SHA256_LEN])
{
	struct drv_input *in2 = NULL;
	char(*hex)[SHA256_B16_LEN + 1] = NULL;
	bool *merged = NULL;
	size_t n2 = 0;
	struct buf b = BUF_INIT(2 * drv_default_limits.size_max);
	int r = ERR_NOMEM;

	if (d->noutputs == 0)
		return err_set(ERR_INVALID, "derivation '%s' has no outputs", name_of(d));
	if (drv_is_fixed(d)) {
		char *path;

		if ((r = need_name(d)) != 0 ||
		    (r = fixed_path(h->storedir, d, d->name, &path)) != 0)
			return r;
		r = buf_printf(&b, "fixed:out:%s:%s:%s", d->outputs[0].hash_algo,
			       d->outputs[0].hash, path);
		free(path);
		if (r == 0)
			r = sha256_buf(b.data, b.len, out);
		buf_release(&b);
		return r;
	}
	if (d->ninputs) {
		in2 = calloc(d->ninputs, sizeof(*in2));
		hex = calloc(d->ninputs, sizeof(*hex));
		merged = calloc(d->ninputs, sizeof(*merged));
		if (!in2 || !hex || !merged) {
			err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < d->ninputs; i++) {
		uint8_t ih[SHA256_LEN];

		if ((r = drv_hasher_path(h, d->inputs[i].path, ih)) != 0)
			goto out;
		hash_to_base16(ih, SHA256_LEN, hex[i]);
		in2[i].path = hex[i];
		in2[i].outputs = d->inputs[i].outputs;
		in2[i].noutputs = d->inputs[i].noutputs;
	}
	if (d->ninputs)
		qsort(in2, d->ninputs, sizeof(*in2), cmp_input);
	/* Two inputs with the same modulo hash (two fixed-output derivations
	 * with the same output) become one entry with the union of their
	 * outputs, as a map keyed by the hash would. */
	for (size_t i = 0; i < d->ninputs; i++) {
		if (n2 && strcmp(in2[n2 - 1].path, in2[i].path) == 0) {
			char **v;
			size_t nv;

			if ((r = merge_sets(in2[n2 - 1].outputs, in2[n2 - 1].noutputs,
					    in2[i].outputs, in2[i].noutputs, &v, &nv)) != 0)
				goto out;
			if (merged[n2 - 1])
				free(in2[n2 - 1].outputs);
			in2[n2 - 1].outputs = v;
			in2[n2 - 1].noutputs = nv;
			merged[n2 - 1] = true;
			continue;
		}
		in2[n2++] = in2[i];
	}
	if ((r = print_view(&b, d, mask, in2, n2)) == 0)
		r = sha256_buf(b.data, b.len, out);
out:
	for (size_t i = 0; merged && i < n2; i++)
		if (merged[i])
			free(in2[i].outputs);
	free(merged);
	free(hex);
	free(in2);
	buf_release(&b);
	return r;
}

/* The name of the derivation at PATH: its store name without ".drv". */
static int name_from_path(const char *path, char **out)
{
	const char *n = storepath_name(path);
	size_t len = strlen(n);

	if (len > 4 && strcmp(n + len - 4, ".drv") == 0)
		len -= 4;
	*out = xstrndup(n, len);
	return *out ? 0 : ERR_NOMEM;
}

struct frame {
	char *path;
	struct drv d;
	size_t next; /* the next input to visit */
};

static struct memo *memo_find(struct drv_hasher *h, const char *path)
{
	for (size_t i = h->cap ? hash_str(path) & (h->cap - 1) : 0; h->cap && h->tab[i].path;
	     i = (i + 1) & (h->cap - 1))
		if (strcmp(h->tab[i].path, path) == 0)
			return &h->tab[i];
	return NULL;
}

static void frames_unwind(struct drv_hasher *h, struct frame *st, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct memo *m = memo_find(h, st[i].path);

		/* Forget the unfinished ones, so that a later call starts over. */
		if (m && m->state == MEMO_BUSY)
			m->state = MEMO_UNKNOWN;
		free(st[i].path);
		drv_release(&st[i].d);
	}
	free(st);
}

static int push(struct drv_hasher *h, struct frame **st, size_t *n, const char *path)
{
	struct frame *f;
	struct memo *m;
	int r;

	if ((r = reserve(st, *n, sizeof(**st))) != 0)
		return r;
	f = &(*st)[*n];
	memset(f, 0, sizeof(*f));
	if (!(f->path = xstrdup(path)))
		return ERR_NOMEM;
	(*n)++;
	if ((r = memo_get(h, path, &m)) != 0)
		return r;
	m->state = MEMO_BUSY;
	if (!h->load)
		return err_set(ERR_NOTFOUND, "no modulo hash known for input derivation '%s'",
			       path);
	if ((r = h->load(h->ctx, path, &f->d)) != 0)
		return r;
	free(f->d.name);
	return name_from_path(path, &f->d.name);
}

int drv_hasher_path(struct drv_hasher *h, const char *path, uint8_t out[SHA256_LEN])
{
	struct frame *st = NULL;
	size_t n = 0;
	struct memo *m;
	int r;

	if ((r = memo_get(h, path, &m)) != 0)
		return r;
	if (m->state == MEMO_DONE) {
		memcpy(out, m->hash, SHA256_LEN);
		return 0;
	}
	if (m->state == MEMO_BUSY)
		return err_set(ERR_FORMAT, "input derivation '%s' depends on itself", path);
	if ((r = push(h, &st, &n, path)) != 0)
		goto fail;
	while (n) {
		struct frame *f = &st[n - 1];
		uint8_t hm[SHA256_LEN];

		if (f->next < f->d.ninputs && !drv_is_fixed(&f->d)) {
			const char *ip = f->d.inputs[f->next++].path;

			if ((r = memo_get(h, ip, &m)) != 0)
				goto fail;
			if (m->state == MEMO_DONE)
				continue;
			if (m->state == MEMO_BUSY) {
				r = err_set(ERR_FORMAT, "input derivation '%s' depends on itself",
					    ip);
				goto fail;
			}
			if ((r = push(h, &st, &n, ip)) != 0)
				goto fail;
			continue;
		}
		if ((r = drv_hash_modulo(h, &f->d, false, hm)) != 0) {
			err_prefix(r, "input derivation '%s'", f->path);
			goto fail;
		}
		if ((r = drv_hasher_put(h, f->path, hm)) != 0)
			goto fail;
		free(f->path);
		drv_release(&f->d);
		n--;
	}
	free(st);
	return drv_hasher_path(h, path, out);
fail:
	frames_unwind(h, st, n);
	return r;
}

/* ---- Paths ---- */

int drv_output_paths(struct drv_hasher *h, const struct drv *d, char ***out)
{
	char **v = NULL;
	uint8_t hm[SHA256_LEN];
	struct buf b = BUF_INIT(4096);
	int r;

	*out = NULL;
	if ((r = need_name(d)) != 0)
		return r;
	if (d->noutputs == 0)
		return err_set(ERR_INVALID, "derivation '%s' has no outputs", d->name);
	if (!(v = calloc(d->noutputs, sizeof(*v))))
		return err_set(ERR_NOMEM, "out of memory");
	if (drv_is_fixed(d)) {
		if ((r = fixed_path(h->storedir, d, d->name, &v[0])) != 0)
			goto out;
	} else {
		if ((r = drv_hash_modulo(h, d, true, hm)) != 0)
			goto out;
		for (size_t i = 0; i < d->noutputs; i++) {
			const char *o = d->outputs[i].name;
			char type[STOREPATH_NAME_MAX + 16];

			buf_reset(&b);
			snprintf(type, sizeof(type), "output:%s", o);
			if ((r = strcmp(o, "out") == 0
				     ? buf_puts(&b, d->name)
				     : buf_printf(&b, "%s-%s", d->name, o)) != 0 ||
			    (r = storepath_make(h->storedir, type, hm, b.data, &v[i])) != 0)
				goto out;
		}
	}
	*out = v;
	v = NULL;
out:
	if (r)
		err_prefix(r, "derivation '%s'", d->name);
	drv_strv_free(v, d->noutputs);
	buf_release(&b);
	return r;
}

int drv_fill_outputs(struct drv_hasher *h, struct drv *d)
{
	char **v = NULL;
	int r;

	for (size_t i = 0; i < d->noutputs; i++)
		if ((r = set_str(&d->outputs[i].path, "")) != 0 ||
		    (r = drv_set_env(d, d->outputs[i].name, "")) != 0)
			return r;
	if ((r = drv_output_paths(h, d, &v)) != 0)
		return r;
	for (size_t i = 0; r == 0 && i < d->noutputs; i++)
		if ((r = drv_set_env(d, d->outputs[i].name, v[i])) == 0) {
			free(d->outputs[i].path);
			d->outputs[i].path = v[i];
			v[i] = NULL;
		}
	drv_strv_free(v, d->noutputs);
	return r;
}

int drv_check_outputs(struct drv_hasher *h, const struct drv *d)
{
	char **v = NULL;
	int r;

	if ((r = drv_output_paths(h, d, &v)) != 0)
		return r;
	for (size_t i = 0; r == 0 && i < d->noutputs; i++) {
		const struct drv_output *o = &d->outputs[i];
		const char *e = drv_env_get(d, o->name);

		if (strcmp(o->path, v[i]) != 0)
			r = err_set(ERR_MISMATCH,
				    "derivation '%s': output '%s' is declared as '%s', but its "
				    "path is '%s'",
				    d->name, o->name, o->path, v[i]);
		else if (!e)
			r = err_set(ERR_MISMATCH,
				    "derivation '%s': no environment variable '%s' (expected '%s')",
				    d->name, o->name, v[i]);
		else if (strcmp(e, v[i]) != 0) {
			char a[80];

			r = err_set(ERR_MISMATCH,
				    "derivation '%s': environment variable '%s' is '%s', but the "
				    "output path is '%s'",
				    d->name, o->name, shorten(e, a), v[i]);
		}
	}
	drv_strv_free(v, d->noutputs);
	return r;
}

int drv_store_path(const struct drv *d, const char *storedir, char **out)
{
	struct buf b = BUF_INIT(2 * drv_default_limits.size_max);
	char **refs = NULL, **ins = NULL, *name = NULL;
	size_t nrefs = 0;
	uint8_t h[SHA256_LEN];
	int r;

	*out = NULL;
	if ((r = need_name(d)) != 0)
		return r;
	if (d->ninputs && !(ins = malloc(d->ninputs * sizeof(*ins)))) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < d->ninputs; i++)
		ins[i] = d->inputs[i].path;
	if ((r = merge_sets(ins, d->ninputs, d->srcs, d->nsrcs, &refs, &nrefs)) != 0 ||
	    (r = drv_print(d, &b)) != 0 || (r = sha256_buf(b.data, b.len, h)) != 0)
		goto out;
	buf_reset(&b);
	if ((r = buf_printf(&b, "%s.drv", d->name)) != 0)
		goto out;
	name = b.data;
	r = storepath_text(storedir, h, name, (const char *const *)refs, nrefs, out);
	if (r)
		err_prefix(r, "derivation '%s'", d->name);
out:
	free(ins);
	free(refs);
	buf_release(&b);
	return r;
}
