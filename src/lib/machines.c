/* machines.c — the build machines file (see machines.h, doc/MACHINES.md). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "eval.h"
#include "machines.h"
#include "sexp.h"

#define DEFAULT_STEPS  1000000u
#define DEFAULT_DEPTH  200u
#define DEFAULT_MEMORY (64u << 20)
#define SHOW_MAX       80 /* bytes of a Nix field echoed in a message */

/* One load: the options, the result being built, the include depth. */
struct ctx {
	const struct machines_opts *o;
	struct machines *ms;
	size_t entries; /* machines seen, duplicates included */
	unsigned depth; /* of "@FILE" includes */
	struct buf show;
	/* Where to report a value that was not written in the file (a
	 * builtin procedure, say): the clause or form that holds it. */
	struct sexp_pos fallback;
};

static int nomem(void)
{
	return err_set(ERR_NOMEM, "machines: out of memory");
}

static char *dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* A NULL-terminated array with room for N strings, all NULL. */
static char **strv_new(size_t n)
{
	return calloc(n + 1, sizeof(char *));
}

static bool strv_has(char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (!strcmp(*v, s))
			return true;
	return false;
}

static void machine_release(struct machine *m)
{
	free(m->name);
	strv_free(m->systems);
	free(m->user);
	free(m->private_key);
	free(m->host_key);
	strv_free(m->features);
	strv_free(m->mandatory_features);
	free(m->file);
	memset(m, 0, sizeof(*m));
}

void machines_free(struct machines *ms)
{
	if (!ms)
		return;
	for (size_t i = 0; i < ms->n; i++)
		machine_release(&ms->v[i]);
	free(ms->v);
	for (size_t i = 0; i < ms->nwarnings; i++)
		free(ms->warnings[i]);
	free(ms->warnings);
	free(ms);
}

static void machine_defaults(struct machine *m)
{
	memset(m, 0, sizeof(*m));
	m->port = MACHINES_DEFAULT_PORT;
	m->parallel_builds = MACHINES_DEFAULT_PARALLEL;
	m->speed = MACHINES_DEFAULT_SPEED;
	m->compression = MACHINES_DEFAULT_COMPRESSION;
	m->overload_threshold = MACHINES_DEFAULT_OVERLOAD;
	m->connect_timeout = MACHINES_DEFAULT_CONNECT_TIMEOUT;
}

const char *machines_local_system(void)
{
#if defined(__x86_64__)
	return "x86_64-linux";
#elif defined(__aarch64__)
	return "aarch64-linux";
#elif defined(__i386__)
	return "i686-linux";
#elif defined(__arm__)
	return "armv7l-linux";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64-linux";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "powerpc64le-linux";
#else
	return "unknown-linux";
#endif
}

/* Appends N bytes of S for a message: printable ASCII as is, other bytes
 * as \xHH, cut after MAX bytes with "...". */
static void put_shown(struct buf *b, const char *s, size_t n, size_t max)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (i == max) {
			buf_puts(b, "...");
			return;
		}
		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			buf_putc(b, (char)ch);
		else
			buf_printf(b, "\\x%02x", ch);
	}
}

static const char *shown(struct ctx *c, const char *s, size_t n)
{
	buf_reset(&c->show);
	put_shown(&c->show, s, n, SHOW_MAX);
	return c->show.data ? c->show.data : "";
}

/* ---- checks shared by both formats ---- */

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

/* Printable ASCII, no space. */
static bool graphic(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* Letters, digits and the characters of EXTRA, not starting with '-'. */
static bool name_ok(const char *s, size_t n, const char *extra)
{
	if (n < 1 || n > 255 || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || (ch && strchr(extra, ch))))
			return false;
	}
	return true;
}

/* A DNS name, an IPv4 address, or an IPv6 one (with a %zone). */
static bool host_ok(const char *s, size_t n)
{
	return name_ok(s, n, ".-_:%");
}

/* POSIX's portable user names, and the '$' of machine accounts. */
static bool user_ok(const char *s, size_t n)
{
	return name_ok(s, n, ".-_$");
}

/* A system type or a feature name: it must survive Nix's comma lists. */
static bool word_ok(const char *s, size_t n)
{
	return n >= 1 && n <= 255 && graphic(s, n) && !memchr(s, ',', n);
}

/* "none", "zstd", "zstd:LEVEL". */
static bool parse_compression(const char *s, int *level)
{
	if (!strcmp(s, "none")) {
		*level = 0;
		return true;
	}
	if (!strcmp(s, "zstd")) {
		*level = MACHINES_DEFAULT_COMPRESSION;
		return true;
	}
	if (strncmp(s, "zstd:", 5) != 0)
		return false;
	s += 5;
	if (s[0] < '1' || s[0] > '9' || (s[1] && (s[1] < '0' || s[1] > '9' || s[2])))
		return false;
	*level = atoi(s);
	return *level <= MACHINES_MAX_ZSTD_LEVEL;
}

#define EXPECT_COMPRESSION "\"none\", \"zstd\" or \"zstd:LEVEL\" with LEVEL from 1 to 19"

/* Strict standard base64 with padding.  OUT has room for N / 4 * 3 bytes.
 * Returns 0, or -1 with the reason in WHY. */
static int b64_decode(const char *s, size_t n, unsigned char *out, size_t *outlen, char *why,
		      size_t whysz)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	if (n == 0 || n % 4 != 0) {
		snprintf(why, whysz, "%zu characters, not a positive multiple of 4", n);
		return -1;
	}
	for (size_t i = 0; i < n; i += 4) {
		unsigned v = 0;
		int pad = 0;

		for (size_t k = 0; k < 4; k++) {
			unsigned char ch = (unsigned char)s[i + k];
			const char *p = ch ? strchr(alphabet, ch) : NULL;

			if (ch == '=' && i + 4 == n && k >= 2 && (k == 3 || s[i + 3] == '=')) {
				pad++;
				v <<= 6;
				continue;
			}
			if (!p || pad) {
				if (ch >= 0x20 && ch < 0x7f)
					snprintf(why, whysz, "bad character '%c' at offset %zu", ch,
						 i + k);
				else
					snprintf(why, whysz, "bad character \\x%02x at offset %zu",
						 ch, i + k);
				return -1;
			}
			v = v << 6 | (unsigned)(p - alphabet);
		}
		out[o++] = (unsigned char)(v >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(v >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)v;
	}
	*outlen = o;
	return 0;
}

/* OpenSSH key types, with the number of SSH strings in their key blob. */
static const struct {
	const char *type;
	int nstrings;
	const char *curve; /* ECDSA: the blob's second string */
} key_types[] = {
    {"ssh-ed25519", 2, NULL},
    {"ecdsa-sha2-nistp256", 3, "nistp256"},
    {"ecdsa-sha2-nistp384", 3, "nistp384"},
    {"ecdsa-sha2-nistp521", 3, "nistp521"},
    {"ssh-rsa", 3, NULL},
    {"sk-ssh-ed25519@openssh.com", 3, NULL},
    {"sk-ecdsa-sha2-nistp256@openssh.com", 4, "nistp256"},
};
#define NKEY_TYPES (sizeof(key_types) / sizeof(key_types[0]))

static int key_type(const char *s, size_t n)
{
	for (size_t i = 0; i < NKEY_TYPES; i++)
		if (strlen(key_types[i].type) == n && !memcmp(key_types[i].type, s, n))
			return (int)i;
	return -1;
}

/* The SSH strings of a key blob: uint32 length, bytes; at most 8. */
static int blob_strings(const unsigned char *p, size_t n, const unsigned char *sv[8], size_t sn[8])
{
	int k = 0;

	while (n > 0) {
		size_t len;

		if (n < 4 || k == 8)
			return -1;
		len = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
		if (len > n - 4)
			return -1;
		sv[k] = p + 4;
		sn[k++] = len;
		p += 4 + len;
		n -= 4 + len;
	}
	return k;
}

int machines_check_host_key(const char *line, size_t len, struct buf *why)
{
	const unsigned char *sv[8];
	size_t sn[8], b, e, t, blen;
	char bad[128];
	unsigned char *blob;
	int ti, ns, r = ERR_INVALID;

	buf_reset(why);
	while (len && is_blank(line[len - 1]))
		len--;
	for (b = 0; b < len && is_blank(line[b]); b++)
		;
	if (b == len) {
		buf_puts(why, "it is empty");
		return ERR_INVALID;
	}
	for (size_t i = b; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			buf_printf(why, "control character \\x%02x at offset %zu", ch, i);
			return ERR_INVALID;
		}
	}
	for (e = b; e < len && !is_blank(line[e]); e++)
		;
	for (t = e; t < len && is_blank(line[t]); t++)
		;
	if ((ti = key_type(line + b, e - b)) < 0) {
		size_t te = t;

		while (te < len && !is_blank(line[te]))
			te++;
		buf_puts(why, "unknown key type '");
		put_shown(why, line + b, e - b, 64);
		if (key_type(line + t, te - t) >= 0) {
			buf_puts(why, "' (this looks like a known_hosts line: leave out the host "
				      "names)");
			return ERR_INVALID;
		}
		buf_puts(why, "' (expected");
		for (size_t i = 0; i < NKEY_TYPES; i++)
			buf_printf(why, "%s %s", i ? "," : "", key_types[i].type);
		buf_puts(why, ")");
		return ERR_INVALID;
	}
	if (t == len) {
		buf_printf(why, "no base64 key after '%s'", key_types[ti].type);
		return ERR_INVALID;
	}
	for (e = t; e < len && !is_blank(line[e]); e++)
		;
	if (!(blob = malloc((e - t) / 4 * 3 + 3)))
		return nomem();
	if (b64_decode(line + t, e - t, blob, &blen, bad, sizeof(bad)) != 0) {
		buf_printf(why, "bad base64 key: %s", bad);
		goto out;
	}
	sn[0] = blen >= 4
		    ? (size_t)blob[0] << 24 | (size_t)blob[1] << 16 | (size_t)blob[2] << 8 | blob[3]
		    : SIZE_MAX;
	if (sn[0] == 0 || sn[0] > blen - 4 || sn[0] > 64) {
		buf_puts(why, "the base64 key is not an SSH public key");
		goto out;
	}
	if (sn[0] != strlen(key_types[ti].type) || memcmp(blob + 4, key_types[ti].type, sn[0])) {
		buf_puts(why, "the base64 key is of type '");
		put_shown(why, (const char *)blob + 4, sn[0], 64);
		buf_printf(why, "', not '%s'", key_types[ti].type);
		goto out;
	}
	ns = blob_strings(blob, blen, sv, sn);
	if (ns != key_types[ti].nstrings || (ti == 0 && sn[1] != 32) || /* ed25519: 32 bytes */
	    (key_types[ti].curve &&
	     (sn[1] != strlen(key_types[ti].curve) || memcmp(sv[1], key_types[ti].curve, sn[1])))) {
		buf_printf(why, "malformed '%s' key (%zu bytes)", key_types[ti].type, blen);
		goto out;
	}
	r = 0;
out:
	free(blob);
	return r;
}

/* The home of the daemon user, for the default private key. */
static const char *home_dir(const struct machines_opts *o)
{
	const char *h = o->home;
	struct passwd *pw;

	if (h)
		return h;
	if ((h = getenv("HOME")) && h[0] == '/')
		return h;
	if ((pw = getpwuid(geteuid())) && pw->pw_dir && pw->pw_dir[0] == '/')
		return pw->pw_dir;
	return NULL;
}

static const char *default_user(const struct machines_opts *o)
{
	struct passwd *pw;
	const char *u;

	if (o->user)
		return o->user;
	if ((pw = getpwuid(geteuid())) && pw->pw_name && pw->pw_name[0])
		return pw->pw_name;
	if ((u = getenv("USER")) && u[0])
		return u;
	return NULL;
}

/* 0 when PATH can be opened for reading and is a regular file; otherwise
 * -1 with the reason in WHY.  O_NONBLOCK: a FIFO must not hang us. */
static int readable(const char *path, char *why, size_t n)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		snprintf(why, n, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(why, n, "%s", strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, n, "not a regular file");
		return -1;
	}
	return 0;
}

/* P (N bytes) taken relative to BASEDIR (NULL: as it is), allocated. */
static char *resolve(const char *basedir, const char *p, size_t n)
{
	size_t bl;
	char *s;

	if (p[0] == '/' || !basedir)
		return dupn(p, n);
	bl = strlen(basedir);
	if (!(s = malloc(bl + 1 + n + 1)))
		return NULL;
	memcpy(s, basedir, bl);
	s[bl] = '/';
	memcpy(s + bl + 1, p, n);
	s[bl + 1 + n] = '\0';
	return s;
}

/* The directory of PATH for relative paths in it, or NULL (the current
 * directory).  Allocated. */
static char *dir_of(const char *path, int *r)
{
	const char *slash = strrchr(path, '/');
	char *d;

	*r = 0;
	if (!slash)
		return NULL;
	if (!(d = dupn(path, slash == path ? 1 : (size_t)(slash - path))))
		*r = nomem();
	return d;
}

/* Finds the default key of M; errors are reported at FILE:LINE:COL. */
static int default_key(struct ctx *c, struct machine *m, const char *file, unsigned line,
		       unsigned col)
{
	static const char *const names[] = {"/.ssh/id_ed25519", "/.ssh/id_rsa"};
	const char *home = home_dir(c->o);
	char why[2][256], *p;

	if (!home)
		return err_set(ERR_INVALID,
			       "%s:%u:%u: machine '%s': no private key given, and the daemon "
			       "user's home directory is unknown",
			       file, line, col, m->name);
	for (size_t i = 0; i < 2; i++) {
		if (asprintf(&p, "%s%s", home, names[i]) < 0)
			return nomem();
		if (readable(p, why[i], sizeof(why[i])) == 0) {
			m->private_key = p;
			return 0;
		}
		free(p);
	}
	return err_set(ERR_INVALID,
		       "%s:%u:%u: machine '%s': no private key given, and neither %s%s (%s) nor "
		       "%s%s (%s) can be read",
		       file, line, col, m->name, home, names[0], why[0], home, names[1], why[1]);
}

/* Takes M (emptied in all cases): appends it, or drops it with a warning
 * when a machine of the same name and port is there already. */
static int add_machine(struct ctx *c, struct machine *m)
{
	struct machines *ms = c->ms;

	for (size_t i = 0; i < ms->n; i++) {
		const struct machine *o = &ms->v[i];
		char *w;
		bool same_file = !strcmp(o->file, m->file);

		if (o->port != m->port || strcasecmp(o->name, m->name) != 0)
			continue;
		if (asprintf(
			&w,
			"%s:%u:%u: machine '%s' (port %u) is listed twice (first at %s%s%u:%u); "
			"this entry is ignored",
			m->file, m->line, m->col, m->name, m->port, same_file ? "" : o->file,
			same_file ? "" : ":", o->line, o->col) < 0) {
			machine_release(m);
			return nomem();
		}
		machine_release(m);
		if (ms->nwarnings == ms->wcap) {
			size_t cap = ms->wcap ? 2 * ms->wcap : 4;
			char **v = realloc(ms->warnings, cap * sizeof(*v));

			if (!v) {
				free(w);
				return nomem();
			}
			ms->warnings = v;
			ms->wcap = cap;
		}
		ms->warnings[ms->nwarnings++] = w;
		return 0;
	}
	if (ms->n == ms->cap) {
		size_t cap = ms->cap ? 2 * ms->cap : 8;
		struct machine *v = realloc(ms->v, cap * sizeof(*v));

		if (!v) {
			machine_release(m);
			return nomem();
		}
		ms->v = v;
		ms->cap = cap;
	}
	ms->v[ms->n++] = *m;
	memset(m, 0, sizeof(*m));
	return 0;
}

static int count_entry(struct ctx *c, const char *file, unsigned line, unsigned col)
{
	if (++c->entries > MACHINES_MAX)
		return err_set(ERR_TOOBIG, "%s:%u:%u: more than %d machines", file, line, col,
			       MACHINES_MAX);
	return 0;
}

static int read_file(const char *path, char **datap, size_t *lenp);
static char *dir_of(const char *path, int *r);
static int parse_any(struct ctx *c, const char *name, const char *basedir, const char *data,
		     size_t len);

/* ---- Guix's form ---- */

static const char *const bm_fields[] = {
    "name",
    "port",
    "systems",
    "system",
    "user",
    "private-key",
    "host-key",
    "parallel-builds",
    "speed",
    "features",
    "mandatory-features",
    "compression",
    "overload-threshold",
    "connect-timeout",
    NULL,
};
static const struct eval_record_type bm_type = {"build-machine", bm_fields, NULL};

/* Edit distance up to 3 (more is "far"), for "did you mean". */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), d[32][32];

	if (la >= 32 || lb >= 32)
		return 99;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t x = d[i - 1][j] + 1, y = d[i][j - 1] + 1,
			       z = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			d[i][j] = x < y ? (x < z ? x : z) : (y < z ? y : z);
		}
	return d[la][lb];
}

/* Guix's fields that yonder has no use for, with what to do instead. */
static const struct {
	const char *field, *hint;
} guix_only[] = {
    {"compression-level", "which takes the level in 'compression': (compression \"zstd:LEVEL\")"},
    {"daemon-socket", "which runs 'yonder serve --stdio' over SSH: remove the field"},
    {"location", "remove the field"},
};

static int unknown_field(const struct sexp *clause, const char *name)
{
	const char *best = NULL;
	size_t bestd = 3;
	struct buf b = BUF_INIT(1024);
	int r;

	for (size_t i = 0; i < sizeof(guix_only) / sizeof(guix_only[0]); i++)
		if (!strcmp(name, guix_only[i].field))
			return eval_error(ERR_INVALID, clause->pos,
					  "field '%s' of Guix's 'build-machine' is not used by "
					  "yonder, %s",
					  name, guix_only[i].hint);
	for (const char *const *f = bm_fields; *f; f++) {
		size_t d = distance(name, *f);

		if (d < bestd) {
			bestd = d;
			best = *f;
		}
	}
	if (best)
		return eval_error(ERR_INVALID, clause->pos,
				  "unknown field '%s' in 'build-machine': did you mean '%s'?", name,
				  best);
	for (const char *const *f = bm_fields; *f; f++)
		buf_printf(&b, "%s%s", f == bm_fields ? "" : ", ", *f);
	r = eval_error(ERR_INVALID, clause->pos,
		       "unknown field '%s' in 'build-machine' (expected one of: %s)", name,
		       b.data ? b.data : "");
	buf_release(&b);
	return r;
}

/* (build-machine clause…): the record form, with a better message for an
 * unknown field than the evaluator's. */
static int bm_form(struct eval *ev, void *ctx, const struct sexp *form, struct eval_env *env,
		   struct sexp **outp)
{
	for (size_t i = 1; i < form->u.list.n; i++) {
		const struct sexp *c = form->u.list.v[i];
		const char *name;
		bool known = false;

		if (c->type != SEXP_LIST || c->u.list.n == 0 || c->u.list.v[0]->type != SEXP_SYMBOL)
			continue; /* the evaluator says what is wrong */
		name = c->u.list.v[0]->u.str.s;
		if (!strcmp(name, "inherit"))
			continue;
		for (const char *const *f = bm_fields; *f && !known; f++)
			known = !strcmp(*f, name);
		if (!known)
			return unknown_field(c, name);
	}
	return eval_record_fields(ev, &bm_type, form, env, outp);
}

/* (use-modules …) as Guix files start: nothing to do. */
static int use_modules_form(struct eval *ev, void *ctx, const struct sexp *form,
			    struct eval_env *env, struct sexp **outp)
{
	return eval_mk_unspec(ev, form->pos, outp);
}

static struct sexp_pos at(struct ctx *c, const struct sexp *v)
{
	return v->pos.line > 0 ? v->pos : c->fallback;
}

static int expected(struct ctx *c, const struct sexp *v, const char *field, const char *what)
{
	return eval_error(ERR_INVALID, at(c, v), "field '%s': expected %s, got %s", field, what,
			  eval_show(&c->show, v));
}

static bool number(const struct sexp *v, double *d)
{
	if (v->type == SEXP_INT)
		*d = (double)v->u.i;
	else if (v->type == SEXP_REAL)
		*d = v->u.d;
	else
		return false;
	return isfinite(*d);
}

/* A list of words (systems, features) into *OUT. */
static int scm_words(struct ctx *c, const struct sexp *v, const char *field, const char *list_what,
		     const char *elem_what, bool nonempty, char ***out, size_t *np)
{
	char **w;

	if (v->type != SEXP_LIST) {
		if (v->type == SEXP_STRING && !strcmp(field, "systems"))
			return eval_error(ERR_INVALID, at(c, v),
					  "field 'systems': expected %s, got %s (for one system, "
					  "(system \"…\") also works)",
					  list_what, eval_show(&c->show, v));
		return expected(c, v, field, list_what);
	}
	if (nonempty && v->u.list.n == 0)
		return eval_error(ERR_INVALID, at(c, v),
				  "field '%s': expected at least one system type, got ()", field);
	if (!(w = strv_new(v->u.list.n)))
		return nomem();
	for (size_t i = 0; i < v->u.list.n; i++) {
		const struct sexp *e = v->u.list.v[i];

		if (e->type != SEXP_STRING || !word_ok(e->u.str.s, e->u.str.len)) {
			strv_free(w);
			return expected(c, e, field, elem_what);
		}
		if (!(w[i] = dupn(e->u.str.s, e->u.str.len))) {
			strv_free(w);
			return nomem();
		}
	}
	strv_free(*out);
	*out = w;
	*np = v->u.list.n;
	return 0;
}

#define EXPECT_SYSTEM      "a system type like \"x86_64-linux\""
#define EXPECT_SYSTEMS     "a list of system types like (list \"x86_64-linux\")"
#define EXPECT_FEATURE     "a feature name like \"kvm\""
#define EXPECT_FEATURES    "a list of feature names like (list \"kvm\")"
#define EXPECT_HOST_KEY_TY "an OpenSSH public-key line (a string), or #f"

static int scm_field(struct ctx *c, struct machine *m, const struct eval_field *f,
		     const char *basedir)
{
	const struct sexp *v = f->v[0];
	const char *n = f->name;
	double d;

	c->fallback = f->pos;
	if (!strcmp(n, "name")) {
		if (v->type != SEXP_STRING || !host_ok(v->u.str.s, v->u.str.len))
			return expected(c, v, n, "a host name or address (a string)");
		free(m->name);
		return (m->name = dupn(v->u.str.s, v->u.str.len)) ? 0 : nomem();
	}
	if (!strcmp(n, "port")) {
		if (v->type != SEXP_INT || v->u.i < 1 || v->u.i > 65535)
			return expected(c, v, n, "an integer from 1 to 65535");
		m->port = (unsigned)v->u.i;
		return 0;
	}
	if (!strcmp(n, "systems"))
		return scm_words(c, v, n, EXPECT_SYSTEMS, EXPECT_SYSTEM, true, &m->systems,
				 &m->nsystems);
	if (!strcmp(n, "system")) {
		char **w;

		if (v->type != SEXP_STRING || !word_ok(v->u.str.s, v->u.str.len))
			return expected(c, v, n, EXPECT_SYSTEM);
		if (!(w = strv_new(1)) || !(w[0] = dupn(v->u.str.s, v->u.str.len))) {
			strv_free(w);
			return nomem();
		}
		strv_free(m->systems);
		m->systems = w;
		m->nsystems = 1;
		return 0;
	}
	if (!strcmp(n, "user")) {
		if (v->type != SEXP_STRING || !user_ok(v->u.str.s, v->u.str.len))
			return expected(c, v, n, "a user name (a string)");
		free(m->user);
		return (m->user = dupn(v->u.str.s, v->u.str.len)) ? 0 : nomem();
	}
	if (!strcmp(n, "private-key")) {
		char why[256], *p;

		if (v->type != SEXP_STRING || v->u.str.len == 0)
			return expected(c, v, n, "the path of a private key file (a string)");
		if (!(p = resolve(basedir, v->u.str.s, v->u.str.len)))
			return nomem();
		if (readable(p, why, sizeof(why)) != 0) {
			int r = eval_error(ERR_INVALID, at(c, v),
					   "field '%s': cannot read '%s': %s", n, p, why);

			free(p);
			return r;
		}
		free(m->private_key);
		m->private_key = p;
		return 0;
	}
	if (!strcmp(n, "host-key")) {
		struct buf why = BUF_INIT(1024);
		int r;

		free(m->host_key);
		m->host_key = NULL;
		if (v->type == SEXP_BOOL && !v->u.b)
			return 0;
		if (v->type != SEXP_STRING)
			return expected(c, v, n, EXPECT_HOST_KEY_TY);
		r = machines_check_host_key(v->u.str.s, v->u.str.len, &why);
		if (r == ERR_INVALID)
			r = eval_error(ERR_INVALID, at(c, v),
				       "field '%s': not an OpenSSH public-key line (TYPE BASE64 "
				       "[COMMENT]): %s",
				       n, why.data ? why.data : "?");
		buf_release(&why);
		if (r == 0) {
			size_t b = 0, e = v->u.str.len;

			while (b < e && is_blank(v->u.str.s[b]))
				b++;
			while (e > b && is_blank(v->u.str.s[e - 1]))
				e--;
			if (!(m->host_key = dupn(v->u.str.s + b, e - b)))
				r = nomem();
		}
		return r;
	}
	if (!strcmp(n, "parallel-builds")) {
		if (v->type != SEXP_INT || v->u.i < 1 || v->u.i > MACHINES_MAX_PARALLEL)
			return expected(c, v, n, "an integer from 1 to 1024");
		m->parallel_builds = (unsigned)v->u.i;
		return 0;
	}
	if (!strcmp(n, "speed")) {
		if (!number(v, &d) || d <= 0)
			return expected(c, v, n, "a number greater than 0");
		m->speed = d;
		return 0;
	}
	if (!strcmp(n, "features"))
		return scm_words(c, v, n, EXPECT_FEATURES, EXPECT_FEATURE, false, &m->features,
				 &m->nfeatures);
	if (!strcmp(n, "mandatory-features"))
		return scm_words(c, v, n, EXPECT_FEATURES, EXPECT_FEATURE, false,
				 &m->mandatory_features, &m->nmandatory);
	if (!strcmp(n, "compression")) {
		if (v->type != SEXP_STRING || !parse_compression(v->u.str.s, &m->compression))
			return expected(c, v, n, EXPECT_COMPRESSION);
		return 0;
	}
	if (!strcmp(n, "overload-threshold")) {
		if (v->type == SEXP_BOOL && !v->u.b) {
			m->overload_threshold = 0;
			return 0;
		}
		if (!number(v, &d) || d <= 0)
			return expected(c, v, n, "a number greater than 0, or #f");
		m->overload_threshold = d;
		return 0;
	}
	if (!strcmp(n, "connect-timeout")) {
		if (!number(v, &d) || d <= 0 || d > MACHINES_MAX_CONNECT_TIMEOUT)
			return expected(c, v, n,
					"a number of seconds greater than 0, at most 3600");
		m->connect_timeout = d;
		return 0;
	}
	return eval_error(ERR_INTERNAL, f->pos, "field '%s': not handled", n);
}

/* One element of the file's list: a build-machine record, into M. */
static int scm_machine(struct ctx *c, const struct sexp *v, const char *basedir, struct machine *m)
{
	const struct eval_record *rec = eval_record_of(v, &bm_type);
	int r;

	if (!rec)
		return eval_error(ERR_INVALID, at(c, v),
				  "expected a build-machine record in the list of machines, got %s",
				  eval_show(&c->show, v));
	machine_defaults(m);
	if (!(m->file = strdup(v->pos.file ? v->pos.file : "?")))
		return nomem();
	m->line = v->pos.line;
	m->col = v->pos.col;
	for (size_t i = 0; i < rec->nfields; i++) {
		const struct eval_field *f = &rec->fields[i];

		if (f->n != 1)
			return eval_error(ERR_INVALID, f->pos,
					  "field '%s': expected one value, got %zu", f->name, f->n);
		if ((r = scm_field(c, m, f, basedir)) != 0)
			return r;
	}
	if (!m->name)
		return eval_error(ERR_INVALID, v->pos,
				  "missing field 'name' in 'build-machine': expected the host name "
				  "or address to connect to");
	if (!m->user)
		return eval_error(ERR_INVALID, v->pos,
				  "missing field 'user' in 'build-machine' for '%s': expected the "
				  "user name to log in as",
				  m->name);
	if (!m->systems) {
		if (!(m->systems = strv_new(1)) ||
		    !(m->systems[0] = strdup(machines_local_system())))
			return nomem();
		m->nsystems = 1;
	}
	if (!m->features && !(m->features = strv_new(0)))
		return nomem();
	if (!m->mandatory_features && !(m->mandatory_features = strv_new(0)))
		return nomem();
	if (!m->private_key)
		return default_key(c, m, m->file, m->line, m->col);
	return 0;
}

static int scm_load(struct ctx *c, const char *name, const char *basedir, const char *data,
		    size_t len)
{
	const struct machines_opts *o = c->o;
	struct eval_limits lim = {o->max_steps ? o->max_steps : DEFAULT_STEPS,
				  o->max_depth ? o->max_depth : DEFAULT_DEPTH};
	struct sexp_arena *a = sexp_arena_new(o->max_memory ? o->max_memory : DEFAULT_MEMORY);
	struct eval *ev = NULL;
	struct sexp **forms, *v;
	struct machine m;
	size_t n;
	int r;

	memset(&m, 0, sizeof(m));
	if (!a)
		return nomem();
	if ((r = sexp_read(a, name, data, len, &forms, &n)) != 0 || n == 0)
		goto out;
	if (!(ev = eval_new(a, &lim))) {
		r = nomem();
		goto out;
	}
	if ((r = eval_register_form(ev, "build-machine", bm_form, NULL)) != 0 ||
	    (r = eval_register_form(ev, "use-modules", use_modules_form, NULL)) != 0 ||
	    (r = eval_body(ev, forms, n, &v)) != 0)
		goto out;
	c->fallback = forms[n - 1]->pos;
	if (v->type != SEXP_LIST) {
		r = eval_error(ERR_INVALID, at(c, v),
			       "the file's value must be a list of build-machine records, got %s",
			       eval_show(&c->show, v));
		goto out;
	}
	for (size_t i = 0; i < v->u.list.n; i++) {
		const struct sexp *e = v->u.list.v[i];
		struct sexp_pos p;

		c->fallback = at(c, v);
		p = at(c, e);
		if ((r = count_entry(c, p.file, p.line, p.col)) != 0 ||
		    (r = scm_machine(c, e, basedir, &m)) != 0 || (r = add_machine(c, &m)) != 0)
			goto out;
	}
out:
	machine_release(&m);
	eval_free(ev);
	sexp_arena_free(a);
	return r;
}

/* ---- Nix's line format ---- */

enum { F_URI, F_SYSTEMS, F_KEY, F_MAXJOBS, F_SPEED, F_FEATURES, F_MANDATORY, F_HOSTKEY, NFIELDS };
static const char *const nix_field[NFIELDS] = {"URI",   "SYSTEMS",  "KEY",       "MAXJOBS",
					       "SPEED", "FEATURES", "MANDATORY", "HOSTKEY"};

/* One entry being read, for messages. */
struct nixent {
	const char *file;
	unsigned line;
	const char *text;  /* the whole input */
	size_t line_start; /* offset of the entry's line */
	const char *tok[NFIELDS];
	size_t len[NFIELDS];
	size_t ntok;
};

/* The column of the byte at P: characters from the start of its line. */
static unsigned col_of(const struct nixent *e, const char *p)
{
	unsigned col = 1;

	for (const char *q = e->text + e->line_start; q < p; q++)
		if (((unsigned char)*q & 0xc0) != 0x80)
			col++;
	return col;
}

static int nix_error(struct ctx *c, const struct nixent *e, size_t i, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "FILE:LINE:COL: FIELD: …" at token I. */
static int nix_error(struct ctx *c, const struct nixent *e, size_t i, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(ERR_FORMAT, "%s:%u:%u: %s: %s", e->file, e->line, col_of(e, e->tok[i]),
		       nix_field[i], msg);
}

static int nix_expected(struct ctx *c, const struct nixent *e, size_t i, const char *what)
{
	return nix_error(c, e, i, "expected %s, got '%s'", what, shown(c, e->tok[i], e->len[i]));
}

static bool is_set(const struct nixent *e, size_t i)
{
	return i < e->ntok && !(e->len[i] == 1 && e->tok[i][0] == '-');
}

#define EXPECT_URI "[ssh://|ssh-ng://][USER@]HOST[:PORT]"

static int nix_uri(struct ctx *c, const struct nixent *e, struct machine *m)
{
	const char *s = e->tok[F_URI], *end = s + e->len[F_URI], *at, *host, *hend, *colon;
	const char *sep = memmem(s, e->len[F_URI], "://", 3);
	unsigned long port = MACHINES_DEFAULT_PORT;
	const char *user;

	if (sep) {
		size_t sl = (size_t)(sep - s);

		if (!((sl == 3 && !memcmp(s, "ssh", 3)) || (sl == 6 && !memcmp(s, "ssh-ng", 6))))
			return nix_error(c, e, F_URI,
					 "unsupported scheme '%s' (expected ssh:// or ssh-ng://)",
					 shown(c, s, sl));
		s = sep + 3;
	}
	if (memchr(s, '?', (size_t)(end - s)) || memchr(s, '/', (size_t)(end - s)))
		return nix_expected(c, e, F_URI, EXPECT_URI " (no path, no parameters)");
	at = memrchr(s, '@', (size_t)(end - s));
	host = at ? at + 1 : s;
	if (at && !user_ok(s, (size_t)(at - s)))
		return nix_expected(c, e, F_URI, EXPECT_URI);
	hend = end;
	if (host < end && *host == '[') {
		const char *rb = memchr(host, ']', (size_t)(end - host));

		if (!rb || (rb + 1 != end && rb[1] != ':'))
			return nix_expected(c, e, F_URI, EXPECT_URI);
		colon = rb + 1 != end ? rb + 1 : NULL;
		hend = rb;
		host++;
	} else {
		colon = memchr(host, ':', (size_t)(end - host));
		if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
			colon = NULL; /* an IPv6 address without brackets: no port */
		if (colon)
			hend = colon;
	}
	if (colon) {
		const char *p = colon + 1;

		port = 0;
		if (p == end || end - p > 5)
			return nix_expected(c, e, F_URI, EXPECT_URI " with PORT from 1 to 65535");
		for (; p < end; p++) {
			if (*p < '0' || *p > '9')
				return nix_expected(c, e, F_URI,
						    EXPECT_URI " with PORT from 1 to 65535");
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (port < 1 || port > 65535)
			return nix_expected(c, e, F_URI, EXPECT_URI " with PORT from 1 to 65535");
	}
	if (!host_ok(host, (size_t)(hend - host)))
		return nix_expected(c, e, F_URI, EXPECT_URI);
	m->port = (unsigned)port;
	if (!(m->name = dupn(host, (size_t)(hend - host))))
		return nomem();
	if (at)
		m->user = dupn(s, (size_t)(at - s));
	else if ((user = default_user(c->o)))
		m->user = strdup(user);
	else
		return nix_error(c, e, F_URI,
				 "no USER@ given, and the daemon user's name is "
				 "unknown");
	return m->user ? 0 : nomem();
}

/* A comma-separated list of words, or '-' for DEFAULT (NULL: none). */
static int nix_words(struct ctx *c, const struct nixent *e, size_t i, const char *elem_what,
		     const char *dflt, char ***out, size_t *np)
{
	const char *s = e->tok[i], *end = s + (i < e->ntok ? e->len[i] : 0);
	size_t n = 1, k = 0;
	char **w;

	if (!is_set(e, i)) {
		if (!(w = strv_new(dflt ? 1 : 0)) || (dflt && !(w[0] = strdup(dflt)))) {
			strv_free(w);
			return nomem();
		}
		*out = w;
		*np = dflt ? 1 : 0;
		return 0;
	}
	for (const char *p = s; p < end; p++)
		n += *p == ',';
	if (!(w = strv_new(n)))
		return nomem();
	while (s <= end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *we = comma ? comma : end;

		if (!word_ok(s, (size_t)(we - s))) {
			char what[128];

			strv_free(w);
			snprintf(what, sizeof(what), "'-' or a comma-separated list of %s",
				 elem_what);
			return nix_expected(c, e, i, what);
		}
		if (!(w[k++] = dupn(s, (size_t)(we - s)))) {
			strv_free(w);
			return nomem();
		}
		s = we + 1;
	}
	*out = w;
	*np = k;
	return 0;
}

static int nix_hostkey(struct ctx *c, const struct nixent *e, struct machine *m)
{
	const char *s = e->tok[F_HOSTKEY];
	size_t n = e->len[F_HOSTKEY], len;
	struct buf why = BUF_INIT(1024);
	unsigned char *text;
	char bad[128];
	int r;

	if (!(text = malloc(n / 4 * 3 + 3)))
		return nomem();
	if (b64_decode(s, n, text, &len, bad, sizeof(bad)) != 0) {
		r = nix_error(c, e, F_HOSTKEY,
			      "expected the base64 of an OpenSSH public-key line: bad base64: %s",
			      bad);
		goto out;
	}
	if (memchr(text, 0, len)) {
		r = nix_error(c, e, F_HOSTKEY, "the decoded host key holds a NUL byte");
		goto out;
	}
	if ((r = machines_check_host_key((const char *)text, len, &why)) == ERR_INVALID) {
		r = nix_error(c, e, F_HOSTKEY,
			      "the decoded text is not an OpenSSH public-key line (TYPE BASE64 "
			      "[COMMENT]): %s",
			      why.data ? why.data : "?");
		goto out;
	}
	if (r != 0)
		goto out;
	while (len && is_blank((char)text[len - 1]))
		len--;
	{
		size_t b = 0;

		while (b < len && is_blank((char)text[b]))
			b++;
		if (!(m->host_key = dupn((const char *)text + b, len - b)))
			r = nomem();
	}
out:
	buf_release(&why);
	free(text);
	return r;
}

static int nix_machine(struct ctx *c, const struct nixent *e, const char *basedir,
		       struct machine *m)
{
	int r;

	machine_defaults(m);
	if (!(m->file = strdup(e->file)))
		return nomem();
	m->line = e->line;
	m->col = col_of(e, e->tok[F_URI]);
	if ((r = nix_uri(c, e, m)) != 0 ||
	    (r = nix_words(c, e, F_SYSTEMS, "system types like x86_64-linux",
			   machines_local_system(), &m->systems, &m->nsystems)) != 0)
		return r;
	if (is_set(e, F_KEY)) {
		char why[256];

		if (!(m->private_key = resolve(basedir, e->tok[F_KEY], e->len[F_KEY])))
			return nomem();
		if (readable(m->private_key, why, sizeof(why)) != 0)
			return err_set(ERR_INVALID, "%s:%u:%u: KEY: cannot read '%s': %s", e->file,
				       e->line, col_of(e, e->tok[F_KEY]), m->private_key, why);
	}
	if (is_set(e, F_MAXJOBS)) {
		const char *s = e->tok[F_MAXJOBS];
		size_t n = e->len[F_MAXJOBS];
		unsigned long v = 0;

		for (size_t i = 0; i < n && v <= MACHINES_MAX_PARALLEL; i++)
			v = s[i] >= '0' && s[i] <= '9' ? v * 10 + (unsigned long)(s[i] - '0')
						       : MACHINES_MAX_PARALLEL + 1;
		if (v < 1 || v > MACHINES_MAX_PARALLEL)
			return nix_expected(c, e, F_MAXJOBS, "'-' or an integer from 1 to 1024");
		m->parallel_builds = (unsigned)v;
	}
	if (is_set(e, F_SPEED)) {
		const char *s = e->tok[F_SPEED];
		size_t n = e->len[F_SPEED];
		char num[64], *endp;
		double d = 0;
		bool numeric = n < sizeof(num);

		for (size_t i = 0; numeric && i < n; i++)
			numeric = strchr("0123456789.eE+-", s[i]) && s[i];
		if (numeric) {
			memcpy(num, s, n);
			num[n] = '\0';
			errno = 0;
			d = strtod(num, &endp);
			if (*endp || errno || !isfinite(d))
				d = 0;
		}
		if (!(d > 0))
			return nix_expected(c, e, F_SPEED, "'-' or a number greater than 0");
		m->speed = d;
	}
	if ((r = nix_words(c, e, F_FEATURES, "feature names like kvm", NULL, &m->features,
			   &m->nfeatures)) != 0 ||
	    (r = nix_words(c, e, F_MANDATORY, "feature names like kvm", NULL,
			   &m->mandatory_features, &m->nmandatory)) != 0)
		return r;
	if (is_set(e, F_HOSTKEY) && (r = nix_hostkey(c, e, m)) != 0)
		return r;
	if (!m->private_key)
		return default_key(c, m, m->file, m->line, m->col);
	return 0;
}

/* The entry of TEXT from B to END (a comment already cut off). */
static int nix_entry(struct ctx *c, struct nixent *e, const char *basedir, size_t b, size_t end)
{
	const char *t = e->text;
	struct machine m;
	size_t i = b;
	int r;

	while (i < end && is_blank(t[i]))
		i++;
	while (end > i && is_blank(t[end - 1]))
		end--;
	if (i == end)
		return 0;
	if (t[i] == '@') {
		unsigned col = col_of(e, t + i);
		char *p, *data, *dir;
		size_t len;

		if (i + 1 == end)
			return err_set(ERR_FORMAT, "%s:%u:%u: expected a file name after '@'",
				       e->file, e->line, col);
		if (c->depth >= MACHINES_MAX_INCLUDE_DEPTH)
			return err_set(ERR_TOOBIG, "%s:%u:%u: includes nested deeper than %d",
				       e->file, e->line, col, MACHINES_MAX_INCLUDE_DEPTH);
		if (!(p = resolve(basedir, t + i + 1, end - i - 1)))
			return nomem();
		if ((r = read_file(p, &data, &len)) != 0) {
			free(p);
			return err_prefix(r, "%s:%u:%u: cannot include", e->file, e->line, col);
		}
		dir = dir_of(p, &r);
		c->depth++;
		if (r == 0)
			r = parse_any(c, p, dir, data, len);
		c->depth--;
		free(dir);
		free(data);
		free(p);
		return r;
	}
	e->ntok = 0;
	while (i < end) {
		size_t s = i;

		while (i < end && !is_blank(t[i]))
			i++;
		if (e->ntok == NFIELDS && key_type(e->tok[F_HOSTKEY], e->len[F_HOSTKEY]) >= 0)
			return nix_error(c, e, F_HOSTKEY,
					 "expected the base64 of an OpenSSH public-key line, got "
					 "the line itself (encode it with base64 -w0)");
		if (e->ntok == NFIELDS)
			return err_set(
			    ERR_FORMAT,
			    "%s:%u:%u: more than %d fields (URI SYSTEMS KEY MAXJOBS SPEED "
			    "FEATURES MANDATORY HOSTKEY-BASE64)",
			    e->file, e->line, col_of(e, t + s), NFIELDS);
		e->tok[e->ntok] = t + s;
		e->len[e->ntok++] = i - s;
		while (i < end && is_blank(t[i]))
			i++;
	}
	for (size_t k = e->ntok; k < NFIELDS; k++) {
		e->tok[k] = t + end;
		e->len[k] = 0;
	}
	if ((r = count_entry(c, e->file, e->line, col_of(e, e->tok[0]))) != 0)
		return r;
	r = nix_machine(c, e, basedir, &m);
	if (r == 0)
		return add_machine(c, &m);
	machine_release(&m);
	return r;
}

static int nix_load(struct ctx *c, const char *name, const char *basedir, const char *text,
		    size_t len)
{
	struct nixent e;
	const char *nul = memchr(text, '\0', len);
	size_t i = 0;

	memset(&e, 0, sizeof(e));
	e.file = name;
	e.text = text;
	e.line = 1;
	if (nul) {
		e.line_start = 0;
		for (const char *p = text; p < nul; p++)
			if (*p == '\n') {
				e.line++;
				e.line_start = (size_t)(p - text) + 1;
			}
		return err_set(ERR_FORMAT, "%s:%u:%u: NUL byte", name, e.line, col_of(&e, nul));
	}
	/* A '#' comment runs to the end of its line, ';' included; then
	 * ';' separates entries as newlines do. */
	while (i <= len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t eol = nl ? (size_t)(nl - text) : len, stop = eol;
		const char *hash = memchr(text + i, '#', eol - i);

		if (hash)
			stop = (size_t)(hash - text);
		while (i <= stop) {
			const char *semi = memchr(text + i, ';', stop - i);
			size_t end = semi ? (size_t)(semi - text) : stop;
			int r;

			if ((r = nix_entry(c, &e, basedir, i, end)) != 0)
				return r;
			i = end + 1;
		}
		e.line++;
		e.line_start = eol + 1;
		i = eol + 1;
	}
	return 0;
}

/* ---- files and formats ---- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

static bool looks_scheme(const char *name, const char *d, size_t n)
{
	size_t i = 0;

	while (i < n) {
		char ch = d[i];

		if (is_blank(ch)) {
			i++;
			continue;
		}
		if (ch == '#' && i + 1 < n && (d[i + 1] == '|' || d[i + 1] == ';'))
			return true;
		if (ch == ';' || ch == '#') {
			while (i < n && d[i] != '\n')
				i++;
			continue;
		}
		return ch == '(' || ch == '[' || ch == '\'' || ends_with(name, ".scm");
	}
	return ends_with(name, ".scm");
}

static int parse_any(struct ctx *c, const char *name, const char *basedir, const char *data,
		     size_t len)
{
	if (looks_scheme(name, data, len))
		return scm_load(c, name, basedir, data, len);
	return nix_load(c, name, basedir, data, len);
}

/* Reads PATH whole (a regular file of at most SEXP_MAX_FILE bytes). */
static int read_file(const char *path, char **datap, size_t *lenp)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	size_t len = 0;
	char *data = NULL;
	int r = 0;

	if (fd < 0)
		return err_sys(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "%s: cannot open", path);
	if (fstat(fd, &st) != 0) {
		r = err_sys(ERR_IO, "%s: cannot stat", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = err_set(ERR_IO, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > (off_t)SEXP_MAX_FILE) {
		r = err_set(ERR_TOOBIG, "%s: larger than %u bytes", path, SEXP_MAX_FILE);
		goto out;
	}
	if (!(data = malloc((size_t)st.st_size + 1))) {
		r = nomem();
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t got = read(fd, data + len, (size_t)st.st_size - len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = err_sys(ERR_IO, "%s: cannot read", path);
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	data[len] = '\0';
	*datap = data;
	*lenp = len;
	data = NULL;
out:
	free(data);
	close(fd);
	return r;
}

static int load_path(struct ctx *c, const char *path)
{
	char *data = NULL, *dir;
	size_t len;
	int r;

	if ((r = read_file(path, &data, &len)) != 0)
		return r;
	dir = dir_of(path, &r);
	if (r == 0)
		r = parse_any(c, path, dir, data, len);
	free(dir);
	free(data);
	return r;
}

struct text_arg {
	const char *name, *data;
	size_t len;
	bool nix;
};

static int run(const struct machines_opts *o, int (*fn)(struct ctx *, const void *),
	       const void *arg, struct machines **outp)
{
	static const struct machines_opts none;
	struct ctx c;
	int r;

	memset(&c, 0, sizeof(c));
	c.o = o ? o : &none;
	buf_init(&c.show, 1024);
	if (!(c.ms = calloc(1, sizeof(*c.ms))))
		return nomem();
	r = fn(&c, arg);
	buf_release(&c.show);
	if (r != 0) {
		machines_free(c.ms);
		return r;
	}
	*outp = c.ms;
	return 0;
}

static int run_path(struct ctx *c, const void *arg)
{
	return load_path(c, arg);
}

static int run_text(struct ctx *c, const void *arg)
{
	const struct text_arg *t = arg;

	if (t->nix)
		return nix_load(c, t->name, NULL, t->data, t->len);
	return parse_any(c, t->name, NULL, t->data, t->len);
}

int machines_load_opts(const char *path, const struct machines_opts *o, struct machines **outp)
{
	return run(o, run_path, path, outp);
}

int machines_load(const char *path, struct machines **outp)
{
	return machines_load_opts(path, NULL, outp);
}

int machines_parse(const char *name, const char *data, size_t len, const struct machines_opts *o,
		   struct machines **outp)
{
	struct text_arg t = {name, data, len, false};

	return run(o, run_text, &t, outp);
}

int machines_parse_nix(const char *name, const char *text, size_t len,
		       const struct machines_opts *o, struct machines **outp)
{
	struct text_arg t = {name, text, len, true};

	return run(o, run_text, &t, outp);
}

/* ---- fitting ---- */

static void put_list(struct buf *b, char *const *v, char *const *w)
{
	bool any = false;

	for (; v && *v; v++, any = true)
		buf_printf(b, "%s%s", any ? ", " : "", *v);
	for (; w && *w; w++, any = true)
		buf_printf(b, "%s%s", any ? ", " : "", *w);
	if (!any)
		buf_puts(b, "none");
}

enum machine_misfit machine_fits(const struct machine *m, const char *system,
				 const char *const *required, struct buf *why)
{
	size_t nmiss = 0, nextra = 0;

	if (!system || !strv_has(m->systems, system)) {
		if (why) {
			buf_printf(why, "does not build for %s (its systems: ",
				   system ? system : "(none)");
			put_list(why, m->systems, NULL);
			buf_puts(why, ")");
		}
		return MACHINE_MISFIT_SYSTEM;
	}
	for (const char *const *r = required; r && *r; r++)
		if (!strv_has(m->features, *r) && !strv_has(m->mandatory_features, *r))
			nmiss++;
	if (nmiss) {
		if (why) {
			size_t k = 0;

			buf_printf(why, "lacks the feature%s ", nmiss == 1 ? "" : "s");
			for (const char *const *r = required; *r; r++)
				if (!strv_has(m->features, *r) &&
				    !strv_has(m->mandatory_features, *r))
					buf_printf(why, "%s%s", k++ ? ", " : "", *r);
			buf_puts(why, " that the build requires (it has: ");
			put_list(why, m->features, m->mandatory_features);
			buf_puts(why, ")");
		}
		return MACHINE_MISFIT_FEATURES;
	}
	for (char *const *f = m->mandatory_features; f && *f; f++)
		if (!strv_has((char *const *)required, *f))
			nextra++;
	if (nextra) {
		if (why) {
			size_t k = 0;

			buf_printf(why, "takes only builds that require its mandatory feature%s ",
				   nextra == 1 ? "" : "s");
			for (char *const *f = m->mandatory_features; *f; f++)
				if (!strv_has((char *const *)required, *f))
					buf_printf(why, "%s%s", k++ ? ", " : "", *f);
		}
		return MACHINE_MISFIT_MANDATORY;
	}
	return MACHINE_FITS;
}
