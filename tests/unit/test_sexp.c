/* Unit tests for sexp.c: every kind of token, the position of values,
 * comments, the caps (depth, string, file, arena), the printer, and the
 * corpus of bad inputs in tests/data/bad-sexp with the message each gives. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "eval.h"
#include "sexp.h"
#include "tap.h"

static struct sexp_arena *arena;

/* Reads TEXT as file "t.scm"; returns the forms (NULL on error). */
static struct sexp **rd(const char *text, size_t *np)
{
	struct sexp **forms = NULL;

	*np = 0;
	if (sexp_read(arena, "t.scm", text, strlen(text), &forms, np) != 0)
		return NULL;
	return forms ? forms : (struct sexp **)"";
}

/* The one datum of TEXT, or NULL. */
static struct sexp *rd1(const char *text)
{
	size_t n;
	struct sexp **f = rd(text, &n);

	if (!f || n != 1) {
		printf("# reading %s: %s\n", text, f ? "not one datum" : err_msg());
		return NULL;
	}
	return f[0];
}

/* The printed form of V (a static buffer). */
static const char *pr(const struct sexp *v)
{
	static char s[4096];
	struct buf b = BUF_INIT(sizeof(s) - 1);

	if (!v || sexp_print(&b, v, 0) != 0) {
		buf_release(&b);
		return "(error)";
	}
	snprintf(s, sizeof(s), "%s", b.data);
	buf_release(&b);
	return s;
}

/* The message of reading TEXT, which must fail with CODE. */
static void read_fails(const char *text, int code, const char *want, const char *name)
{
	size_t n;
	struct sexp **f;
	int r = sexp_read(arena, "t.scm", text, strlen(text), &f, &n);

	is_int(r, code, "%s: fails with %s", name, err_str(code));
	is_str(r ? err_msg() : "(read)", want, "%s: message", name);
}

static void test_atoms(void)
{
	struct sexp *v;

	v = rd1("42");
	ok(v && v->type == SEXP_INT && v->u.i == 42, "integer");
	v = rd1("-17");
	ok(v && v->type == SEXP_INT && v->u.i == -17, "negative integer");
	v = rd1("+5");
	ok(v && v->type == SEXP_INT && v->u.i == 5, "integer with a plus sign");
	v = rd1("9223372036854775807");
	ok(v && v->type == SEXP_INT && v->u.i == INT64_MAX, "largest integer");
	v = rd1("-9223372036854775808");
	ok(v && v->type == SEXP_INT && v->u.i == INT64_MIN, "smallest integer");
	v = rd1("007");
	ok(v && v->type == SEXP_INT && v->u.i == 7, "leading zeros are decimal");
	v = rd1("1.5");
	ok(v && v->type == SEXP_REAL && v->u.d == 1.5, "real");
	v = rd1("2.");
	ok(v && v->type == SEXP_REAL && v->u.d == 2.0, "real with a trailing dot (Guile's 2.)");
	v = rd1(".25");
	ok(v && v->type == SEXP_REAL && v->u.d == 0.25, "real with a leading dot");
	v = rd1("-.5");
	ok(v && v->type == SEXP_REAL && v->u.d == -0.5, "negative real with a leading dot");
	v = rd1("1e3");
	ok(v && v->type == SEXP_REAL && v->u.d == 1000.0, "exponent makes a real");
	v = rd1("-1.5E-3");
	ok(v && v->type == SEXP_REAL && v->u.d == -0.0015, "real with a signed exponent");
	v = rd1("1e-310");
	ok(v && v->type == SEXP_REAL && v->u.d > 0 && v->u.d < 1e-300, "a subnormal real reads");
	v = rd1("1e-400");
	ok(v && v->type == SEXP_REAL && v->u.d == 0.0, "a real below the subnormals reads as 0");
	v = rd1("#t");
	ok(v && v->type == SEXP_BOOL && v->u.b, "#t");
	v = rd1("#f");
	ok(v && v->type == SEXP_BOOL && !v->u.b, "#f");
	v = rd1("#true");
	ok(v && v->type == SEXP_BOOL && v->u.b, "#true");
	v = rd1("#false");
	ok(v && v->type == SEXP_BOOL && !v->u.b, "#false");
	v = rd1("string-append");
	ok(v && v->type == SEXP_SYMBOL && !strcmp(v->u.str.s, "string-append") &&
	       v->u.str.len == 13,
	   "symbol");
	v = rd1("number->string");
	ok(v && v->type == SEXP_SYMBOL && !strcmp(v->u.str.s, "number->string"),
	   "symbol with an arrow");
	v = rd1("+");
	ok(v && v->type == SEXP_SYMBOL && !strcmp(v->u.str.s, "+"), "'+' alone is a symbol");
	v = rd1("-");
	ok(v && v->type == SEXP_SYMBOL && !strcmp(v->u.str.s, "-"), "'-' alone is a symbol");
	v = rd1("...");
	ok(v && v->type == SEXP_SYMBOL && !strcmp(v->u.str.s, "..."), "'...' is a symbol");
	v = rd1("-x");
	ok(v && v->type == SEXP_SYMBOL && !strcmp(v->u.str.s, "-x"), "'-x' is a symbol");
	v = rd1("λ-prefixé");
	ok(v && v->type == SEXP_SYMBOL && !strcmp(v->u.str.s, "λ-prefixé"), "UTF-8 symbol");
	v = rd1("#:recursive");
	ok(v && v->type == SEXP_KEYWORD && !strcmp(v->u.str.s, "recursive") && v->u.str.len == 9,
	   "keyword (name without #:)");
	ok(v && v->depth == 0, "atoms have depth 0");
}

static void test_strings(void)
{
	struct sexp *v;

	v = rd1("\"plain\"");
	ok(v && v->type == SEXP_STRING && !strcmp(v->u.str.s, "plain") && v->u.str.len == 5 &&
	       !v->u.str.ctx,
	   "string");
	v = rd1("\"\"");
	ok(v && v->type == SEXP_STRING && v->u.str.len == 0 && v->u.str.s[0] == '\0',
	   "empty string");
	v = rd1("\"q\\\" b\\\\ n\\n t\\t r\\r\"");
	ok(v && !strcmp(v->u.str.s, "q\" b\\ n\n t\t r\r"), "escapes \\\" \\\\ \\n \\t \\r");
	v = rd1("\"\\a\\f\\v\\b\\|\\(\"");
	ok(v && !strcmp(v->u.str.s, "\a\f\v\b|("), "escapes \\a \\f \\v \\b \\| \\(");
	v = rd1("\"\\x41;\"");
	ok(v && !strcmp(v->u.str.s, "A;"), "\\x41; is A then ';' (two hex digits, as Guile)");
	v = rd1("\"\\xe9\"");
	ok(v && !strcmp(v->u.str.s, "é"), "\\xe9 is the character U+00E9, in UTF-8");
	v = rd1("\"\\u03bb\\U01F600\"");
	ok(v && !strcmp(v->u.str.s, "λ😀"), "\\uHHHH and \\UHHHHHH");
	v = rd1("\"line\\\nnext\"");
	ok(v && !strcmp(v->u.str.s, "linenext"), "backslash-newline continues the line");
	v = rd1("\"two\nlines\"");
	ok(v && !strcmp(v->u.str.s, "two\nlines"), "a raw newline is kept");
	v = rd1("\"ünïcødé\"");
	ok(v && !strcmp(v->u.str.s, "ünïcødé"), "raw UTF-8 is kept");
}

static void test_lists(void)
{
	struct sexp *v;
	size_t n;
	struct sexp **f;

	v = rd1("(a (b \"c\") 1)");
	ok(v && v->type == SEXP_LIST && v->u.list.n == 3, "list of three");
	is_str(pr(v), "(a (b \"c\") 1)", "prints back");
	is_int(v ? (long long)v->depth : -1, 2, "depth of a nested list");
	v = rd1("()");
	ok(v && v->type == SEXP_LIST && v->u.list.n == 0 && v->depth == 1, "empty list");
	v = rd1("[a [b] (c)]");
	ok(v && v->type == SEXP_LIST && v->u.list.n == 3 && v->u.list.v[1]->type == SEXP_LIST,
	   "square brackets are lists too");
	v = rd1("'x");
	is_str(pr(v), "(quote x)", "'x is (quote x)");
	v = rd1("''(a 'b)");
	is_str(pr(v), "(quote (quote (a (quote b))))", "quotes nest");
	v = rd1("(list #;(ignored (form)) kept)");
	is_str(pr(v), "(list kept)", "#; drops the next datum");
	v = rd1("(#;#;a b c)");
	is_str(pr(v), "(c)", "#; #; drops two");
	v = rd1("('#;a b)");
	is_str(pr(v), "((quote b))", "quote then #;: the quote takes the datum after");
	v = rd1("(#;'a b)");
	is_str(pr(v), "(b)", "#; then quote: the quoted datum is dropped");
	v = rd1("; line comment\n(a ; more\n b) ; end");
	is_str(pr(v), "(a b)", "; comments");
	v = rd1("#| block #| nested |# still |# (a #|x|# b)");
	is_str(pr(v), "(a b)", "#| |# comments nest");
	v = rd1("(a#b c'd)");
	is_str(pr(v), "(a#b c'd)", "# and ' inside symbols");

	f = rd("(define a 1) (define b 2)\n\"three\" 4", &n);
	ok(f && n == 4, "several top-level forms");
	f = rd("", &n);
	ok(f && n == 0, "empty input: no form");
	f = rd("  ; only a comment\n#| and |#\n#;(this)", &n);
	ok(f && n == 0, "only comments: no form");
	f = rd("a\r\nb\r\n", &n);
	ok(f && n == 2 && f[1]->pos.line == 2 && f[1]->pos.col == 1, "CRLF line ends");
}

static void test_positions(void)
{
	size_t n;
	struct sexp **f = rd("(define x\n  \"é\"\t42)\n'q\n  #:k", &n);
	struct sexp *def, *s, *i;

	if (!ok(f && n == 3, "three forms for positions"))
		return;
	def = f[0];
	is_str(def->pos.file, "t.scm", "file name of a value");
	ok(def->pos.line == 1 && def->pos.col == 1, "list at 1:1");
	ok(def->u.list.v[1]->pos.line == 1 && def->u.list.v[1]->pos.col == 9, "symbol at 1:9");
	s = def->u.list.v[2];
	ok(s->pos.line == 2 && s->pos.col == 3, "string at 2:3");
	i = def->u.list.v[3];
	ok(i->pos.line == 2 && i->pos.col == 7,
	   "columns count characters, a tab is one: integer at 2:7 (got %u:%u)", i->pos.line,
	   i->pos.col);
	ok(f[1]->pos.line == 3 && f[1]->pos.col == 1, "quote form at the quote: 3:1");
	ok(f[1]->u.list.v[1]->pos.line == 3 && f[1]->u.list.v[1]->pos.col == 2,
	   "quoted datum at 3:2");
	ok(f[2]->pos.line == 4 && f[2]->pos.col == 3, "keyword at 4:3");
}

static void test_interning(void)
{
	size_t n;
	struct sexp **f = rd("(foo bar foo #:foo)", &n);
	const char *x = sexp_intern(arena, "foo", 3);

	if (!ok(f && n == 1, "read for interning"))
		return;
	ok(f[0]->u.list.v[0]->u.str.s == f[0]->u.list.v[2]->u.str.s,
	   "the same symbol twice is one name");
	ok(f[0]->u.list.v[0]->u.str.s == x, "sexp_intern gives the reader's name");
	ok(f[0]->u.list.v[0]->u.str.s != f[0]->u.list.v[1]->u.str.s, "different names differ");
	ok(f[0]->u.list.v[3]->u.str.s == x, "keywords share the name table");
	ok(sexp_is_symbol(f[0]->u.list.v[1], "bar") && !sexp_is_symbol(f[0]->u.list.v[3], "foo"),
	   "sexp_is_symbol");
}

static void test_errors(void)
{
	read_fails("(a \"bc", ERR_FORMAT, "t.scm:1:4: unterminated string", "unterminated string");
	read_fails("(a))", ERR_FORMAT, "t.scm:1:4: unexpected ')'", "unexpected ')'");
	read_fails("\n ]", ERR_FORMAT, "t.scm:2:2: unexpected ']'", "unexpected ']'");
	read_fails("(a\n (b)", ERR_FORMAT, "t.scm:1:1: unterminated list: missing ')'",
		   "unterminated list");
	read_fails("[a)", ERR_FORMAT, "t.scm:1:3: ')' does not close the '[' at 1:1",
		   "mismatched brackets");
	read_fails("(1x)", ERR_FORMAT, "t.scm:1:2: bad number '1x'", "bad number");
	read_fails("1.2.3", ERR_FORMAT, "t.scm:1:1: bad number '1.2.3'", "two dots");
	read_fails("1e", ERR_FORMAT, "t.scm:1:1: bad number '1e'", "exponent without digits");
	read_fails("+5a", ERR_FORMAT, "t.scm:1:1: bad number '+5a'", "signed bad number");
	read_fails("9223372036854775808", ERR_FORMAT,
		   "t.scm:1:1: integer out of range '9223372036854775808'", "integer overflow");
	read_fails("-9223372036854775809", ERR_FORMAT,
		   "t.scm:1:1: integer out of range '-9223372036854775809'", "integer underflow");
	read_fails("1e309", ERR_FORMAT, "t.scm:1:1: number out of range '1e309'", "real overflow");
	read_fails("\"\\q\"", ERR_FORMAT, "t.scm:1:2: unknown escape '\\q' in string",
		   "unknown escape");
	read_fails("\"\\x4g\"", ERR_FORMAT, "t.scm:1:2: '\\x' needs 2 hexadecimal digits",
		   "short \\x");
	read_fails("\"ab\\x00\"", ERR_FORMAT, "t.scm:1:4: NUL character in string", "\\x00");
	read_fails("\"\\U110000\"", ERR_FORMAT, "t.scm:1:2: '\\U' names no Unicode character",
		   "\\U past U+10FFFF");
	read_fails("#| a #| b |#", ERR_FORMAT, "t.scm:1:1: unterminated block comment",
		   "unterminated nested block comment");
	read_fails("(a '", ERR_FORMAT, "t.scm:1:4: quote not followed by a datum",
		   "quote at the end");
	read_fails("#;", ERR_FORMAT, "t.scm:1:1: '#;' not followed by a datum",
		   "datum comment at the end");
	read_fails("#:", ERR_FORMAT, "t.scm:1:1: empty keyword '#:'", "empty keyword");
	read_fails("(a . b)", ERR_FORMAT, "t.scm:1:4: dotted pairs are not supported",
		   "dotted pair");
	read_fails("#x1F", ERR_FORMAT, "t.scm:1:1: unknown syntax '#x1F'", "#x prefix");
	read_fails(",a", ERR_FORMAT, "t.scm:1:1: unquote (,) is not supported", "unquote");
	read_fails("(a \x01)", ERR_FORMAT, "t.scm:1:4: control character in symbol",
		   "control character");
	read_fails("é\xff", ERR_FORMAT, "t.scm:1:2: invalid UTF-8", "invalid UTF-8 after é");
	read_fails("\"\xed\xa0\x80\"", ERR_FORMAT, "t.scm:1:2: invalid UTF-8", "encoded surrogate");
}

static void test_caps(void)
{
	size_t big = 200000, n;
	char *s = malloc(big + SEXP_MAX_STRING + 16);
	struct sexp **f;
	int r;

	if (!s)
		return;
	/* Depth: 1000 is fine, 1001 is not, 200000 neither (and no crash). */
	memset(s, '(', 1000);
	memset(s + 1000, ')', 1000);
	r = sexp_read(arena, "t.scm", s, 2000, &f, &n);
	ok(r == 0 && n == 1 && f[0]->depth == 1000, "nesting of 1000 lists reads");
	memset(s, '(', 1001);
	memset(s + 1001, ')', 1001);
	s[2002] = '\0';
	read_fails(s, ERR_TOOBIG, "t.scm:1:1001: nesting deeper than 1000",
		   "nesting of 1001 lists");
	memset(s, '(', big);
	r = sexp_read(arena, "t.scm", s, big, &f, &n);
	is_int(r, ERR_TOOBIG, "200000 open lists: refused, no stack overflow");
	memset(s, '\'', big);
	s[big] = 'a';
	r = sexp_read(arena, "t.scm", s, big + 1, &f, &n);
	is_int(r, ERR_TOOBIG, "200000 quotes: refused");
	memset(s, '[', 999);
	s[999] = '\'';
	s[1000] = '\'';
	r = sexp_read(arena, "t.scm", s, 1001, &f, &n);
	is_str(r ? err_msg() : "", "t.scm:1:1001: nesting deeper than 1000",
	       "quotes count as nesting");
	{
		struct sexp *v;

		memcpy(s, "(#;#;#;", 7);
		memset(s + 7, '\'', 990);
		memcpy(s + 997, "a b c d)", 9);
		v = rd1(s);
		is_str(pr(v), "(d)", "990 quotes then datum comments: dropped as they should be");
	}

	/* String length, checked as it grows. */
	s[0] = '"';
	memset(s + 1, 'x', SEXP_MAX_STRING);
	s[SEXP_MAX_STRING + 1] = '"';
	r = sexp_read(arena, "t.scm", s, SEXP_MAX_STRING + 2, &f, &n);
	ok(r == 0 && n == 1 && f[0]->u.str.len == SEXP_MAX_STRING,
	   "a string of exactly SEXP_MAX_STRING bytes reads");
	s[SEXP_MAX_STRING + 1] = 'y';
	s[SEXP_MAX_STRING + 2] = '"';
	r = sexp_read(arena, "t.scm", s, SEXP_MAX_STRING + 3, &f, &n);
	is_int(r, ERR_TOOBIG, "one byte more is refused");
	is_str(r ? err_msg() : "", "t.scm:1:1: string longer than 1048576 bytes",
	       "message of a long string");
	free(s);

	/* The size of the input. */
	{
		char *huge = calloc(1, (size_t)SEXP_MAX_FILE + 1);

		if (huge) {
			memset(huge, ' ', (size_t)SEXP_MAX_FILE + 1);
			r = sexp_read(arena, "huge.scm", huge, (size_t)SEXP_MAX_FILE + 1, &f, &n);
			is_int(r, ERR_TOOBIG, "input over SEXP_MAX_FILE is refused");
			is_str(r ? err_msg() : "", "huge.scm: larger than 16777216 bytes",
			       "message of a big input");
			free(huge);
		}
	}

	/* The arena's cap. */
	{
		struct sexp_arena *small = sexp_arena_new(256 << 10);
		char *many = malloc(400000);

		for (size_t i = 0; i < 200000; i++) {
			many[2 * i] = 'x';
			many[2 * i + 1] = ' ';
		}
		r = sexp_read(small, "t.scm", many, 400000, &f, &n);
		is_int(r, ERR_TOOBIG, "reading past the arena's cap fails");
		ok(r && !strncmp(err_msg(), "t.scm:1:", 8) &&
		       strstr(err_msg(), "more than 262144 bytes of memory needed"),
		   "with the position and the cap: %s", err_msg());
		ok(sexp_arena_used(small) <= 256 << 10, "the arena stayed under its cap");
		free(many);
		sexp_arena_free(small);
	}
}

static void test_files(void)
{
	char path[512];
	struct sexp **f;
	size_t n;
	int fd, r;

	snprintf(path, sizeof(path), "%s/m.scm", tap_tmpdir());
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)!write(fd, "(a)\n  b", 7);
		close(fd);
	}
	r = sexp_read_file(arena, path, &f, &n);
	ok(r == 0 && n == 2 && f[1]->pos.line == 2 && f[1]->pos.col == 3 &&
	       !strcmp(f[1]->pos.file, path),
	   "sexp_read_file: forms with the path in their positions");

	snprintf(path, sizeof(path), "%s/missing.scm", tap_tmpdir());
	r = sexp_read_file(arena, path, &f, &n);
	is_int(r, ERR_NOTFOUND, "missing file: ERR_NOTFOUND");
	ok(strstr(err_msg(), "missing.scm") != NULL, "message names the file: %s", err_msg());
	r = sexp_read_file(arena, tap_tmpdir(), &f, &n);
	is_int(r, ERR_IO, "a directory: ERR_IO");
	ok(strstr(err_msg(), "not a regular file") != NULL, "message: %s", err_msg());

	snprintf(path, sizeof(path), "%s/big.scm", tap_tmpdir());
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)!ftruncate(fd, (off_t)SEXP_MAX_FILE + 1);
		close(fd);
	}
	r = sexp_read_file(arena, path, &f, &n);
	is_int(r, ERR_TOOBIG, "a file over SEXP_MAX_FILE is refused before reading");
}

static void test_printer(void)
{
	struct sexp *v;
	struct buf b = BUF_INIT(1 << 16);

	v = rd1("(\"a\\\"b\\\\c\\n\\x01\\x7f\" #:k #t #f 1.5 -3 2. 0.1 1e21 1.5e-7 sym ())");
	is_str(pr(v),
	       "(\"a\\\"b\\\\c\\n\\x01\\x7f\" #:k #t #f 1.5 -3 2.0 0.1 1.0e21 1.5e-7 sym ())",
	       "printer: strings escaped, reals in Scheme's form");
	v = rd1("(aaaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd)");
	if (v)
		sexp_print(&b, v, 20);
	is_str(b.data, "(aaaaaaaaaa bbbbbbbb...", "printer: cut at MAX with ...");
	buf_reset(&b);
	v = rd1("\"ééééééééééé\"");
	if (v)
		sexp_print(&b, v, 6);
	is_str(b.data, "\"éé...", "printer: never cuts a character in two");
	buf_release(&b);
	is_str(sexp_type_name(SEXP_STRING), "string", "type names");
	is_str(sexp_type_name(SEXP_INT), "integer", "type names: integer");
}

/* tests/data/bad-sexp: each file must give the message EXPECT names. */
static const struct eval_record_type machine_type = {"build-machine", NULL, NULL};

static void test_corpus(void)
{
	const char *dir = "tests/data/bad-sexp";
	char line[1024], path[1200];
	FILE *exp;
	size_t nlines = 0, nfiles = 0;
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "%s/EXPECT", dir);
	if (!ok((exp = fopen(path, "r")) != NULL, "open %s", path))
		return;
	while (fgets(line, sizeof(line), exp)) {
		char *tab = strchr(line, '\t'), *nl = strchr(line, '\n');
		struct sexp_arena *a = sexp_arena_new(SEXP_ARENA_DEFAULT);
		struct eval *ev = NULL;
		struct sexp **forms, *v;
		struct buf content = BUF_INIT(SEXP_MAX_FILE);
		size_t n;
		int fd, r;

		if (line[0] == '#' || !tab) {
			sexp_arena_free(a);
			continue;
		}
		*tab = '\0';
		if (nl)
			*nl = '\0';
		nlines++;
		snprintf(path, sizeof(path), "%s/%s", dir, line);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			char chunk[65536];
			ssize_t got;

			while ((got = read(fd, chunk, sizeof(chunk))) > 0)
				buf_put(&content, chunk, (size_t)got);
			close(fd);
		}
		r = sexp_read(a, line, content.data ? content.data : "", content.len, &forms, &n);
		if (r == 0) {
			ev = eval_new(a, NULL);
			eval_register_record(ev, &machine_type);
			r = eval_body(ev, forms, n, &v);
		}
		ok(r == ERR_FORMAT || r == ERR_INVALID || r == ERR_TOOBIG, "%s is refused", line);
		is_str(r ? err_msg() : "(accepted)", tab + 1, "%s: message", line);
		buf_release(&content);
		eval_free(ev);
		sexp_arena_free(a);
	}
	fclose(exp);
	if ((d = opendir(dir))) {
		while ((e = readdir(d)))
			if (strlen(e->d_name) > 4 &&
			    !strcmp(e->d_name + strlen(e->d_name) - 4, ".scm"))
				nfiles++;
		closedir(d);
	}
	is_int((long long)nlines, (long long)nfiles, "every .scm of %s has a line in EXPECT", dir);
	ok(nlines >= 15, "at least 15 bad inputs (%zu)", nlines);
}

int main(void)
{
	arena = sexp_arena_new(SEXP_ARENA_DEFAULT);
	test_atoms();
	test_strings();
	test_lists();
	test_positions();
	test_interning();
	test_errors();
	test_caps();
	test_files();
	test_printer();
	test_corpus();
	sexp_arena_free(arena);
	return tap_done();
}
