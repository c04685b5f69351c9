#include "sexp.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "eval.h"

/* ---- arena ---- */

#define CHUNK_SIZE (64u << 10)
#define ALIGN      16u

struct chunk {
	struct chunk *next;
	size_t size, used;
	_Alignas(16) unsigned char data[];
};

struct intern_slot {
	const char *s;
	size_t len;
	uint32_t hash;
};

struct sexp_arena {
	struct chunk *head;
	size_t used, max;
	int err;
	struct intern_slot *slots; /* malloc'd: open addressing, power of 2 */
	size_t nslots, nnames;
};

struct sexp_arena *sexp_arena_new(size_t max)
{
	struct sexp_arena *a = calloc(1, sizeof(*a));

	if (!a) {
		err_set(ERR_NOMEM, "out of memory");
		return NULL;
	}
	a->max = max;
	return a;
}

void sexp_arena_free(struct sexp_arena *a)
{
	struct chunk *c, *next;

	if (!a)
		return;
	for (c = a->head; c; c = next) {
		next = c->next;
		free(c);
	}
	free(a->slots);
	free(a);
}

/* Charges N bytes to the arena's cap, before they are allocated. */
static int charge(struct sexp_arena *a, size_t n)
{
	if (n > a->max || a->used > a->max - n) {
		a->err = ERR_TOOBIG;
		return err_set(ERR_TOOBIG, "more than %zu bytes of memory needed", a->max);
	}
	a->used += n;
	return 0;
}

void *sexp_alloc(struct sexp_arena *a, size_t n)
{
	struct chunk *c;
	size_t size;
	void *p;

	if (n > SIZE_MAX - ALIGN - sizeof(struct chunk)) {
		a->err = ERR_TOOBIG;
		err_set(ERR_TOOBIG, "more than %zu bytes of memory needed", a->max);
		return NULL;
	}
	n = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	if (n == 0)
		n = ALIGN;
	c = a->head;
	if (c && c->size - c->used >= n) {
		p = c->data + c->used;
		c->used += n;
		return p;
	}
	/* Big requests get a chunk of their own, kept behind the current one
	 * so that its free room is not wasted. */
	size = n > CHUNK_SIZE / 4 ? n : CHUNK_SIZE;
	if (charge(a, sizeof(struct chunk) + size) != 0)
		return NULL;
	c = calloc(1, sizeof(struct chunk) + size);
	if (!c) {
		a->used -= sizeof(struct chunk) + size;
		a->err = ERR_NOMEM;
		err_set(ERR_NOMEM, "out of memory (%zu bytes)", size);
		return NULL;
	}
	c->size = size;
	c->used = n;
	if (size == n && a->head) {
		c->next = a->head->next;
		a->head->next = c;
	} else {
		c->next = a->head;
		a->head = c;
	}
	return c->data;
}

int sexp_arena_error(const struct sexp_arena *a)
{
	return a->err ? a->err : ERR_NOMEM;
}

size_t sexp_arena_used(const struct sexp_arena *a)
{
	return a->used;
}

char *sexp_strndup(struct sexp_arena *a, const char *s, size_t n)
{
	char *p;

	if (n == SIZE_MAX || !(p = sexp_alloc(a, n + 1)))
		return NULL;
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static uint32_t fnv1a(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static int intern_grow(struct sexp_arena *a)
{
	size_t n = a->nslots ? a->nslots * 2 : 256;
	struct intern_slot *slots;

	if (n > SIZE_MAX / sizeof(*slots) || charge(a, n * sizeof(*slots)) != 0)
		return ERR_TOOBIG;
	slots = calloc(n, sizeof(*slots));
	if (!slots) {
		a->err = ERR_NOMEM;
		return err_set(ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < a->nslots; i++) {
		struct intern_slot *o = &a->slots[i];
		size_t j;

		if (!o->s)
			continue;
		for (j = o->hash & (n - 1); slots[j].s; j = (j + 1) & (n - 1))
			;
		slots[j] = *o;
	}
	free(a->slots);
	a->slots = slots;
	a->nslots = n;
	return 0;
}

const char *sexp_intern(struct sexp_arena *a, const char *s, size_t n)
{
	uint32_t h = fnv1a(s, n);
	struct intern_slot *sl;
	size_t j;
	char *p;

	if ((a->nnames + 1) * 2 > a->nslots && intern_grow(a) != 0)
		return NULL;
	for (j = h & (a->nslots - 1);; j = (j + 1) & (a->nslots - 1)) {
		sl = &a->slots[j];
		if (!sl->s)
			break;
		if (sl->hash == h && sl->len == n && !memcmp(sl->s, s, n))
			return sl->s;
	}
	if (!(p = sexp_strndup(a, s, n)))
		return NULL;
	sl->s = p;
	sl->len = n;
	sl->hash = h;
	a->nnames++;
	return p;
}

/* ---- reader ---- */

enum frame_kind { F_LIST, F_QUOTE, F_DISCARD };

struct frame {
	enum frame_kind kind;
	char close; /* F_LIST: ')' or ']' */
	struct sexp_pos pos;
	size_t start; /* F_LIST: index of its first element in vals */
};

struct rd {
	struct sexp_arena *a;
	const char *file;
	const char *p, *end;
	uint32_t line, col;
	struct buf sbuf;    /* decodes one string literal at a time */
	struct sexp **vals; /* the elements of the open lists, then the forms */
	size_t nvals, capvals;
	struct frame *frames;
	size_t nframes;
	const char *sym_quote;
};

static struct sexp_pos here(const struct rd *r)
{
	struct sexp_pos pos = {r->file, r->line, r->col};

	return pos;
}

static int rd_err(int code, struct sexp_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int rd_err(int code, struct sexp_pos pos, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(code, "%s:%" PRIu32 ":%" PRIu32 ": %s", pos.file, pos.line, pos.col, msg);
}

/* The code of a failed arena allocation, with the position in front. */
static int rd_nomem(struct rd *r)
{
	return err_prefix(sexp_arena_error(r->a), "%s:%" PRIu32 ":%" PRIu32, r->file, r->line,
			  r->col);
}

static void adv(struct rd *r)
{
	unsigned char c = (unsigned char)*r->p++;

	if (c == '\n') {
		r->line++;
		r->col = 1;
	} else if ((c & 0xC0) != 0x80) {
		r->col++;
	}
}

/* Length of the well-formed UTF-8 sequence at P (1–4), 0 if malformed. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2, cp = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/* The whole input must be UTF-8 without NUL bytes: checked once, so that
 * the reader proper can take any byte >= 0x80 as part of a character. */
static int check_text(struct rd *r)
{
	const unsigned char *p = (const unsigned char *)r->p, *end = (const unsigned char *)r->end;
	uint32_t line = 1, col = 1;

	while (p < end) {
		size_t n;

		if (*p == '\0') {
			struct sexp_pos pos = {r->file, line, col};

			return rd_err(ERR_FORMAT, pos, "NUL byte in source");
		}
		if (!(n = utf8_len(p, end))) {
			struct sexp_pos pos = {r->file, line, col};

			return rd_err(ERR_FORMAT, pos, "invalid UTF-8");
		}
		if (*p == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
		p += n;
	}
	return 0;
}

static bool is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_delim(int c)
{
	return is_space(c) || c == '(' || c == ')' || c == '[' || c == ']' || c == '"' || c == ';';
}

/* Skips white space, `;` comments and `#| … |#` comments (which nest). */
static int skip_atmosphere(struct rd *r)
{
	while (r->p < r->end) {
		char c = *r->p;

		if (is_space(c)) {
			adv(r);
		} else if (c == ';') {
			while (r->p < r->end && *r->p != '\n')
				adv(r);
		} else if (c == '#' && r->end - r->p >= 2 && r->p[1] == '|') {
			struct sexp_pos pos = here(r);
			size_t level = 1;

			adv(r), adv(r);
			while (level > 0) {
				if (r->p >= r->end)
					return rd_err(ERR_FORMAT, pos,
						      "unterminated block comment");
				if (r->end - r->p >= 2 && r->p[0] == '|' && r->p[1] == '#') {
					level--;
					adv(r), adv(r);
				} else if (r->end - r->p >= 2 && r->p[0] == '#' && r->p[1] == '|') {
					level++;
					adv(r), adv(r);
				} else {
					adv(r);
				}
			}
		} else {
			break;
		}
	}
	return 0;
}

static struct sexp *new_val(struct rd *r, enum sexp_type t, struct sexp_pos pos)
{
	struct sexp *v = sexp_alloc(r->a, sizeof(*v));

	if (v) {
		v->type = t;
		v->pos = pos;
	}
	return v;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int put_utf8(struct buf *b, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return buf_put(b, u, n);
}

/* Escapes as Guile reads them by default: \xHH takes exactly two hex
 * digits (so "\x41;" is "A;"), \uHHHH four, \UHHHHHH six. */
static int read_escape(struct rd *r, struct sexp_pos spos)
{
	struct sexp_pos epos = here(r); /* at the backslash */
	int ndig = 0, r2;
	uint32_t cp = 0;
	char c;

	adv(r);
	if (r->p >= r->end)
		return rd_err(ERR_FORMAT, spos, "unterminated string");
	c = *r->p;
	switch (c) {
	case '"':
	case '\\':
	case '|':
	case '(': adv(r); return buf_putc(&r->sbuf, c);
	case 'n': adv(r); return buf_putc(&r->sbuf, '\n');
	case 't': adv(r); return buf_putc(&r->sbuf, '\t');
	case 'r': adv(r); return buf_putc(&r->sbuf, '\r');
	case 'a': adv(r); return buf_putc(&r->sbuf, '\a');
	case 'f': adv(r); return buf_putc(&r->sbuf, '\f');
	case 'v': adv(r); return buf_putc(&r->sbuf, '\v');
	case 'b': adv(r); return buf_putc(&r->sbuf, '\b');
	case '\n': adv(r); return 0; /* line continuation */
	case '0': return rd_err(ERR_FORMAT, epos, "NUL character in string");
	case 'x': ndig = 2; break;
	case 'u': ndig = 4; break;
	case 'U': ndig = 6; break;
	default:
		if ((unsigned char)c < 0x80 && c > ' ')
			return rd_err(ERR_FORMAT, epos, "unknown escape '\\%c' in string", c);
		return rd_err(ERR_FORMAT, epos, "unknown escape in string");
	}
	adv(r);
	for (int i = 0; i < ndig; i++) {
		int h = r->p < r->end ? hexval(*r->p) : -1;

		if (h < 0)
			return rd_err(ERR_FORMAT, epos, "'\\%c' needs %d hexadecimal digits", c,
				      ndig);
		cp = cp * 16 + (uint32_t)h;
		adv(r);
	}
	if (cp == 0)
		return rd_err(ERR_FORMAT, epos, "NUL character in string");
	if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return rd_err(ERR_FORMAT, epos, "'\\%c' names no Unicode character", c);
	if ((r2 = put_utf8(&r->sbuf, cp)) != 0)
		return r2;
	return 0;
}

static int read_string(struct rd *r, struct sexp **outp)
{
	struct sexp_pos pos = here(r);
	struct sexp *v;
	int rc;

	buf_reset(&r->sbuf);
	adv(r); /* the opening quote */
	for (;;) {
		const char *run;

		if (r->p >= r->end)
			return rd_err(ERR_FORMAT, pos, "unterminated string");
		if (*r->p == '"')
			break;
		if (*r->p == '\\') {
			rc = read_escape(r, pos);
		} else {
			/* A run of plain bytes at once. */
			run = r->p;
			while (r->p < r->end && *r->p != '"' && *r->p != '\\')
				adv(r);
			rc = buf_put(&r->sbuf, run, (size_t)(r->p - run));
		}
		if (rc == ERR_TOOBIG)
			return rd_err(ERR_TOOBIG, pos, "string longer than %u bytes",
				      SEXP_MAX_STRING);
		if (rc != 0)
			return rc;
	}
	adv(r); /* the closing quote */
	if (!(v = new_val(r, SEXP_STRING, pos)) ||
	    !(v->u.str.s = sexp_strndup(r->a, r->sbuf.data ? r->sbuf.data : "", r->sbuf.len)))
		return rd_nomem(r);
	v->u.str.len = r->sbuf.len;
	*outp = v;
	return 0;
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Whether the token S (N bytes) is meant as a number: it starts with a
 * digit, or with a sign or a dot followed by a digit. */
static bool looks_numeric(const char *s, size_t n)
{
	size_t i = 0;

	if (n > 0 && (s[0] == '+' || s[0] == '-'))
		i++;
	if (i < n && s[i] == '.')
		i++;
	return i < n && is_digit(s[i]);
}

/* Parses the token S (N bytes) as [+-]digits or a decimal real
 * ([+-] digits [. digits] | [+-] . digits, then [eE][+-]digits). */
static int parse_number(struct rd *r, struct sexp_pos pos, const char *s, size_t n,
			struct sexp **outp)
{
	size_t i = 0, intdig = 0, fracdig = 0;
	bool real = false;
	char tmp[128];
	struct sexp *v;

	if (s[0] == '+' || s[0] == '-')
		i++;
	while (i < n && is_digit(s[i]))
		i++, intdig++;
	if (i < n && s[i] == '.') {
		real = true;
		i++;
		while (i < n && is_digit(s[i]))
			i++, fracdig++;
	}
	if (intdig + fracdig > 0 && i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t expdig = 0;

		real = true;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < n && is_digit(s[i]))
			i++, expdig++;
		if (!expdig)
			i = n + 1; /* force the error below */
	}
	if (i != n || intdig + fracdig == 0 || n >= sizeof(tmp))
		return rd_err(ERR_FORMAT, pos, "bad number '%.*s'", (int)(n > 64 ? 64 : n), s);
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (!(v = new_val(r, real ? SEXP_REAL : SEXP_INT, pos)))
		return rd_nomem(r);
	errno = 0;
	if (real) {
		v->u.d = strtod(tmp, NULL);
		if (errno == ERANGE && isinf(v->u.d)) /* underflow gives 0 or a subnormal */
			return rd_err(ERR_FORMAT, pos, "number out of range '%s'", tmp);
	} else {
		v->u.i = strtoll(tmp, NULL, 10);
		if (errno == ERANGE)
			return rd_err(ERR_FORMAT, pos, "integer out of range '%s'", tmp);
	}
	*outp = v;
	return 0;
}

/* A token: the bytes up to the next delimiter. */
static size_t token_len(const struct rd *r)
{
	const char *q = r->p;

	while (q < r->end && !is_delim((unsigned char)*q))
		q++;
	return (size_t)(q - r->p);
}

static void skip_bytes(struct rd *r, size_t n)
{
	while (n--)
		adv(r);
}

static int read_atom(struct rd *r, struct sexp **outp)
{
	struct sexp_pos pos = here(r);
	const char *s = r->p;
	size_t n = token_len(r);
	struct sexp *v = NULL;
	int rc;

	if (n == 0)
		return rd_err(ERR_FORMAT, pos, "unexpected character '%c'", *s);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7F)
			return rd_err(ERR_FORMAT, pos, "control character in symbol");
	}
	if (s[0] == '#') {
		if (n >= 2 && s[1] == ':') {
			if (n == 2)
				return rd_err(ERR_FORMAT, pos, "empty keyword '#:'");
			if (!(v = new_val(r, SEXP_KEYWORD, pos)) ||
			    !(v->u.str.s = sexp_intern(r->a, s + 2, n - 2)))
				return rd_nomem(r);
			v->u.str.len = n - 2;
		} else if ((n == 2 && s[1] == 't') || (n == 5 && !memcmp(s, "#true", 5))) {
			if (!(v = new_val(r, SEXP_BOOL, pos)))
				return rd_nomem(r);
			v->u.b = true;
		} else if ((n == 2 && s[1] == 'f') || (n == 6 && !memcmp(s, "#false", 6))) {
			if (!(v = new_val(r, SEXP_BOOL, pos)))
				return rd_nomem(r);
			v->u.b = false;
		} else if (n >= 2 && s[1] == '\\') {
			return rd_err(ERR_FORMAT, pos, "characters (#\\…) are not supported");
		} else if (n == 1 && r->end - r->p >= 2 && r->p[1] == '(') {
			return rd_err(ERR_FORMAT, pos, "vectors (#(…)) are not supported");
		} else {
			return rd_err(ERR_FORMAT, pos, "unknown syntax '%.*s'",
				      (int)(n > 32 ? 32 : n), s);
		}
		skip_bytes(r, n);
		*outp = v;
		return 0;
	}
	if (looks_numeric(s, n)) {
		if ((rc = parse_number(r, pos, s, n, &v)) != 0)
			return rc;
		skip_bytes(r, n);
		*outp = v;
		return 0;
	}
	if (n == 1 && s[0] == '.')
		return rd_err(ERR_FORMAT, pos, "dotted pairs are not supported");
	if (s[0] == '|')
		return rd_err(ERR_FORMAT, pos, "symbols in |…| are not supported");
	if (!(v = new_val(r, SEXP_SYMBOL, pos)) || !(v->u.str.s = sexp_intern(r->a, s, n)))
		return rd_nomem(r);
	v->u.str.len = n;
	skip_bytes(r, n);
	*outp = v;
	return 0;
}

static int push_val(struct rd *r, struct sexp *v)
{
	if (r->nvals == r->capvals) {
		size_t ncap = r->capvals ? r->capvals * 2 : 64;
		struct sexp **nv = realloc(r->vals, ncap * sizeof(*nv));

		if (!nv)
			return err_set(ERR_NOMEM, "out of memory");
		r->vals = nv;
		r->capvals = ncap;
	}
	r->vals[r->nvals++] = v;
	return 0;
}

static int push_frame(struct rd *r, enum frame_kind kind, char close)
{
	struct frame *f;

	if (r->nframes >= SEXP_MAX_DEPTH)
		return rd_err(ERR_TOOBIG, here(r), "nesting deeper than %d", SEXP_MAX_DEPTH);
	f = &r->frames[r->nframes++];
	f->kind = kind;
	f->close = close;
	f->pos = here(r);
	f->start = r->nvals;
	return 0;
}

/* A datum V is complete: wrap it in the quotes that precede it, drop it
 * if a `#;` precedes it, else add it to the open list (or the forms). */
static int complete(struct rd *r, struct sexp *v)
{
	while (r->nframes > 0) {
		struct frame *f = &r->frames[r->nframes - 1];
		struct sexp *q, *sym;

		if (f->kind == F_DISCARD) {
			r->nframes--;
			return 0;
		}
		if (f->kind != F_QUOTE)
			break;
		if (!(sym = new_val(r, SEXP_SYMBOL, f->pos)) ||
		    !(q = new_val(r, SEXP_LIST, f->pos)) ||
		    !(q->u.list.v = sexp_alloc(r->a, 2 * sizeof(struct sexp *))))
			return rd_nomem(r);
		sym->u.str.s = r->sym_quote;
		sym->u.str.len = 5;
		q->u.list.v[0] = sym;
		q->u.list.v[1] = v;
		q->u.list.n = 2;
		q->depth = v->depth + 1;
		v = q;
		r->nframes--;
	}
	return push_val(r, v);
}

static int close_list(struct rd *r)
{
	struct sexp_pos pos = here(r);
	char c = *r->p;
	struct frame *f;
	struct sexp *v;
	size_t n;

	if (r->nframes == 0)
		return rd_err(ERR_FORMAT, pos, "unexpected '%c'", c);
	f = &r->frames[r->nframes - 1];
	if (f->kind == F_QUOTE)
		return rd_err(ERR_FORMAT, pos,
			      "unexpected '%c' after the quote at %" PRIu32 ":%" PRIu32, c,
			      f->pos.line, f->pos.col);
	if (f->kind == F_DISCARD)
		return rd_err(ERR_FORMAT, pos,
			      "unexpected '%c' after the '#;' at %" PRIu32 ":%" PRIu32, c,
			      f->pos.line, f->pos.col);
	if (f->close != c)
		return rd_err(ERR_FORMAT, pos,
			      "'%c' does not close the '%c' at %" PRIu32 ":%" PRIu32, c,
			      f->close == ')' ? '(' : '[', f->pos.line, f->pos.col);
	adv(r);
	n = r->nvals - f->start;
	if (!(v = new_val(r, SEXP_LIST, f->pos)))
		return rd_nomem(r);
	if (n) {
		if (!(v->u.list.v = sexp_alloc(r->a, n * sizeof(struct sexp *))))
			return rd_nomem(r);
		memcpy(v->u.list.v, r->vals + f->start, n * sizeof(struct sexp *));
	}
	v->u.list.n = n;
	v->depth = 1;
	for (size_t i = 0; i < n; i++)
		if (v->u.list.v[i]->depth + 1 > v->depth)
			v->depth = v->u.list.v[i]->depth + 1;
	r->nvals = f->start;
	r->nframes--;
	return complete(r, v);
}

static int read_all(struct rd *r)
{
	struct sexp *v;
	int rc;

	for (;;) {
		if ((rc = skip_atmosphere(r)) != 0)
			return rc;
		if (r->p >= r->end)
			break;
		switch (*r->p) {
		case '(':
		case '[':
			if ((rc = push_frame(r, F_LIST, *r->p == '(' ? ')' : ']')) != 0)
				return rc;
			adv(r);
			continue;
		case ')':
		case ']':
			if ((rc = close_list(r)) != 0)
				return rc;
			continue;
		case '\'':
			if ((rc = push_frame(r, F_QUOTE, 0)) != 0)
				return rc;
			adv(r);
			continue;
		case '`': return rd_err(ERR_FORMAT, here(r), "quasiquote (`) is not supported");
		case ',': return rd_err(ERR_FORMAT, here(r), "unquote (,) is not supported");
		case '"': rc = read_string(r, &v); break;
		case '#':
			if (r->end - r->p >= 2 && r->p[1] == ';') {
				if ((rc = push_frame(r, F_DISCARD, 0)) != 0)
					return rc;
				adv(r), adv(r);
				continue;
			}
			rc = read_atom(r, &v);
			break;
		default: rc = read_atom(r, &v); break;
		}
		if (rc != 0)
			return rc;
		if ((rc = complete(r, v)) != 0)
			return rc;
	}
	if (r->nframes > 0) {
		struct frame *f = &r->frames[r->nframes - 1];

		if (f->kind == F_QUOTE)
			return rd_err(ERR_FORMAT, f->pos, "quote not followed by a datum");
		if (f->kind == F_DISCARD)
			return rd_err(ERR_FORMAT, f->pos, "'#;' not followed by a datum");
		return rd_err(ERR_FORMAT, f->pos, "unterminated list: missing '%c'", f->close);
	}
	return 0;
}

int sexp_read(struct sexp_arena *a, const char *file, const char *data, size_t len,
	      struct sexp ***formsp, size_t *np)
{
	struct rd r;
	struct sexp **forms = NULL;
	int rc = ERR_INTERNAL;

	memset(&r, 0, sizeof(r));
	if (!data)
		data = "";
	r.a = a;
	r.p = data;
	r.end = data + len;
	r.line = r.col = 1;
	buf_init(&r.sbuf, SEXP_MAX_STRING);
	if (!(r.file = sexp_strndup(a, file, strlen(file))) ||
	    !(r.sym_quote = sexp_intern(a, "quote", 5))) {
		rc = err_prefix(sexp_arena_error(a), "%s", file);
		goto out;
	}
	if (len > SEXP_MAX_FILE) {
		rc = err_set(ERR_TOOBIG, "%s: larger than %u bytes", file, SEXP_MAX_FILE);
		goto out;
	}
	if ((rc = check_text(&r)) != 0)
		goto out;
	if (!(r.frames = malloc(SEXP_MAX_DEPTH * sizeof(*r.frames)))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = read_all(&r)) != 0)
		goto out;
	if (r.nvals && !(forms = sexp_alloc(a, r.nvals * sizeof(*forms)))) {
		rc = err_prefix(sexp_arena_error(a), "%s", file);
		goto out;
	}
	if (r.nvals)
		memcpy(forms, r.vals, r.nvals * sizeof(*forms));
	*formsp = forms;
	*np = r.nvals;
	rc = 0;
out:
	buf_release(&r.sbuf);
	free(r.vals);
	free(r.frames);
	return rc;
}

int sexp_read_file(struct sexp_arena *a, const char *path, struct sexp ***formsp, size_t *np)
{
	struct buf b = BUF_INIT(SEXP_MAX_FILE);
	struct stat st;
	int fd, rc = ERR_INTERNAL;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_sys(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "%s", path);
	if (fstat(fd, &st) != 0) {
		rc = err_sys(ERR_IO, "%s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = err_set(ERR_IO, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > SEXP_MAX_FILE) {
		rc = err_set(ERR_TOOBIG, "%s: larger than %u bytes", path, SEXP_MAX_FILE);
		goto out;
	}
	for (;;) {
		ssize_t got;

		/* One byte past the cap, to see a file that grew. */
		if ((rc = buf_grow(&b, 65536 < b.max + 1 - b.len ? 65536 : b.max + 1 - b.len)) !=
		    0) {
			if (rc == ERR_TOOBIG)
				rc = err_set(ERR_TOOBIG, "%s: larger than %u bytes", path,
					     SEXP_MAX_FILE);
			goto out;
		}
		got = read(fd, b.data + b.len, b.cap - 1 - b.len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = err_sys(ERR_IO, "%s", path);
			goto out;
		}
		if (got == 0)
			break;
		b.len += (size_t)got;
		b.data[b.len] = '\0';
	}
	rc = sexp_read(a, path, b.data ? b.data : "", b.len, formsp, np);
out:
	buf_release(&b);
	close(fd); /* read-only: nothing to lose */
	return rc;
}

/* ---- printer ---- */

const char *sexp_type_name(enum sexp_type t)
{
	switch (t) {
	case SEXP_LIST: return "list";
	case SEXP_SYMBOL: return "symbol";
	case SEXP_KEYWORD: return "keyword";
	case SEXP_STRING: return "string";
	case SEXP_INT: return "integer";
	case SEXP_REAL: return "real";
	case SEXP_BOOL: return "boolean";
	case SEXP_PROC: return "procedure";
	case SEXP_RECORD: return "record";
	case SEXP_UNSPEC: return "unspecified";
	}
	return "?";
}

bool sexp_is_symbol(const struct sexp *v, const char *name)
{
	return v && v->type == SEXP_SYMBOL && !strcmp(v->u.str.s, name);
}

/* The shortest decimal that reads back as D, in Scheme's form: "2.0",
 * "0.1", "1.0e21", "+inf.0". */
static int print_real(struct buf *b, double d)
{
	char s[64], *e;
	int prec;

	if (isnan(d))
		return buf_puts(b, "+nan.0");
	if (isinf(d))
		return buf_puts(b, d > 0 ? "+inf.0" : "-inf.0");
	for (prec = 1; prec <= 17; prec++) {
		snprintf(s, sizeof(s), "%.*g", prec, d);
		if (strtod(s, NULL) == d)
			break;
	}
	e = strchr(s, 'e');
	if (e) {
		char mant[40], *x = e + 1;
		int rc;

		snprintf(mant, sizeof(mant), "%.*s", (int)(e - s), s);
		if (*x == '+')
			x++;
		bool neg = *x == '-';

		if ((rc = buf_puts(b, mant)) != 0 ||
		    (!strchr(mant, '.') && (rc = buf_puts(b, ".0")) != 0))
			return rc;
		if (neg)
			x++;
		while (*x == '0' && x[1])
			x++;
		return buf_printf(b, "e%s%s", neg ? "-" : "", x);
	}
	if (!strchr(s, '.'))
		return buf_printf(b, "%s.0", s);
	return buf_puts(b, s);
}

static int print_string(struct buf *b, const char *s, size_t n, size_t max)
{
	int rc;

	if ((rc = buf_putc(b, '"')) != 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];

		if (max && b->len >= max)
			return 0;
		switch (c) {
		case '"': rc = buf_puts(b, "\\\""); break;
		case '\\': rc = buf_puts(b, "\\\\"); break;
		case '\n': rc = buf_puts(b, "\\n"); break;
		case '\t': rc = buf_puts(b, "\\t"); break;
		case '\r': rc = buf_puts(b, "\\r"); break;
		default:
			if (c < 0x20 || c == 0x7F)
				rc = buf_printf(b, "\\x%02x", c);
			else
				rc = buf_putc(b, (char)c);
		}
	}
	return rc ? rc : buf_putc(b, '"');
}

/* Recursion is bounded: no value is nested deeper than SEXP_MAX_DEPTH. */
static int print1(struct buf *b, const struct sexp *v, size_t max)
{
	int rc = 0;

	if (max && b->len >= max)
		return 0;
	switch (v->type) {
	case SEXP_LIST:
		if ((rc = buf_putc(b, '(')) != 0)
			return rc;
		for (size_t i = 0; i < v->u.list.n; i++) {
			if (max && b->len >= max)
				return 0;
			if ((i && (rc = buf_putc(b, ' ')) != 0) ||
			    (rc = print1(b, v->u.list.v[i], max)) != 0)
				return rc;
		}
		return buf_putc(b, ')');
	case SEXP_SYMBOL: return buf_puts(b, v->u.str.s);
	case SEXP_KEYWORD: return buf_printf(b, "#:%s", v->u.str.s);
	case SEXP_STRING: return print_string(b, v->u.str.s, v->u.str.len, max);
	case SEXP_INT: return buf_printf(b, "%" PRId64, v->u.i);
	case SEXP_REAL: return print_real(b, v->u.d);
	case SEXP_BOOL: return buf_puts(b, v->u.b ? "#t" : "#f");
	case SEXP_PROC:
		if (v->u.proc->name)
			return buf_printf(b, "#<procedure %s>", v->u.proc->name);
		return buf_puts(b, "#<procedure>");
	case SEXP_RECORD: return buf_printf(b, "#<%s>", v->u.rec->type->name);
	case SEXP_UNSPEC: return buf_puts(b, "#<unspecified>");
	}
	return rc;
}

int sexp_print(struct buf *b, const struct sexp *v, size_t max)
{
	size_t start = b->len;
	int rc;

	if ((rc = print1(b, v, max ? start + max : 0)) != 0)
		return rc;
	if (max && b->len >= start + max) {
		size_t i;

		b->len = start + max;
		/* Not in the middle of a character: drop an incomplete last one. */
		for (i = b->len; i > start && ((unsigned char)b->data[i - 1] & 0xC0) == 0x80; i--)
			;
		if (i > start && (unsigned char)b->data[i - 1] >= 0xC0) {
			unsigned char lead = (unsigned char)b->data[i - 1];
			size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;

			if (i - 1 + need > b->len)
				b->len = i - 1;
		}
		b->data[b->len] = '\0';
		return buf_puts(b, "...");
	}
	return 0;
}
