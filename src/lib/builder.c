#include "builder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "buf.h"
#include "db.h"
#include "err.h"
#include "io.h"
#include "nar.h"
#include "pki.h"
#include "store.h"
#include "storepath.h"

#define READ_CHUNK  65536
#define LOG_MEM_MAX (1024 * 1024) /* log bytes kept before compressing as a stream */
#define LOG_LEVEL   3
#define ENV_MAX     (64u << 20) /* bytes of one environment string */

static const struct timespec epoch1[2] = {{1, 0}, {1, 0}};

int64_t builder_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool builder_extra_system(const char *sys)
{
	const char *dir;
	char path[PATH_MAX], word[256];
	bool found = false;
	FILE *f;

	if (pki_config_dir(&dir) != 0)
		return false;
	snprintf(path, sizeof(path), "%s/extra-systems", dir);
	if (!(f = fopen(path, "re")))
		return false;
	while (!found && fscanf(f, "%255s", word) == 1)
		found = !strcmp(word, sys);
	fclose(f);
	return found;
}

const char *builder_system(void)
{
	static char sys[80];
	struct utsname u;

	if (!sys[0]) {
		if (uname(&u) != 0)
			snprintf(sys, sizeof(sys), "unknown-linux");
		else
			snprintf(sys, sizeof(sys), "%.60s-linux", u.machine);
	}
	return sys;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		err_set(ERR_NOMEM, "out of memory");
	return p;
}

/* ---- the log: zstd, in memory until it grows, then streamed ----------- */

struct zlog {
	int fd;
	char *tmp;   /* its temporary name until closed */
	char *final; /* $STATE/log/<drv base>.zst */
	struct buf mem;
	ZSTD_CCtx *z; /* set once the log outgrew LOG_MEM_MAX */
	unsigned char *zout;
	size_t zout_cap;
	int err; /* the first write error: the build then fails */
	char errmsg[512];
};

static void zlog_fail(struct zlog *l, int r)
{
	if (!l->err) {
		l->err = r;
		snprintf(l->errmsg, sizeof(l->errmsg), "%s", err_msg());
	}
}

int builder_log_file(const char *state_dir, const char *drv_path, char **out)
{
	const char *base = strrchr(drv_path, '/');
	struct buf b = BUF_INIT(PATH_MAX);
	int r;

	base = base ? base + 1 : drv_path;
	*out = NULL;
	if ((r = buf_printf(&b, "%s/log/%s.zst", state_dir, base)) != 0)
		return r;
	*out = buf_detach(&b, NULL);
	return 0;
}

static int mkdir_mode(const char *path, mode_t mode)
{
	if (mkdir(path, mode) != 0 && errno != EEXIST)
		return err_sys(ERR_IO, "cannot create directory '%s'", path);
	return 0;
}

/* The state directory whose builds/ and log/ this thread has checked (so
 * that each build does not ask again). */
static _Thread_local char dirs_checked[PATH_MAX];

static bool dirs_known(const char *state)
{
	return !strcmp(dirs_checked, state);
}

static int zlog_open(struct zlog *l, const char *state, const char *drv_path)
{
	struct buf b = BUF_INIT(PATH_MAX);
	int r;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	buf_init(&l->mem, LOG_MEM_MAX);
	if ((r = buf_printf(&b, "%s/log", state)) != 0 ||
	    (!dirs_known(state) && (r = mkdir_mode(b.data, 0755)) != 0))
		goto out;
	if ((r = builder_log_file(state, drv_path, &l->final)) != 0)
		goto out;
	buf_reset(&b);
	if ((r = buf_printf(&b, "%s/log/.%s.XXXXXX", state, strrchr(l->final, '/') + 1)) != 0)
		goto out;
	if ((l->fd = mkostemp(b.data, O_CLOEXEC)) < 0) {
		r = err_sys(ERR_IO, "cannot create a log file '%s'", b.data);
		goto out;
	}
	fchmod(l->fd, 0644);
	l->tmp = buf_detach(&b, NULL);
out:
	buf_release(&b);
	if (r != 0) {
		free(l->final);
		l->final = NULL;
	}
	return r;
}

static int zlog_stream(struct zlog *l, const void *p, size_t n, ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = {p, n, 0};

	for (;;) {
		ZSTD_outBuffer out = {l->zout, l->zout_cap, 0};
		size_t rem = ZSTD_compressStream2(l->z, &out, &in, mode);
		int r;

		if (ZSTD_isError(rem))
			return err_set(ERR_INTERNAL, "log '%s': zstd: %s", l->final,
				       ZSTD_getErrorName(rem));
		if (out.pos && (r = write_all(l->fd, l->zout, out.pos, l->tmp)) != 0)
			return r;
		if (mode == ZSTD_e_continue ? in.pos == in.size : rem == 0)
			return 0;
	}
}

static void zlog_write(struct zlog *l, const void *p, size_t n)
{
	int r;

	if (l->err || l->fd < 0)
		return;
	if (!l->z && l->mem.len + n <= LOG_MEM_MAX) {
		if ((r = buf_put(&l->mem, p, n)) != 0)
			zlog_fail(l, r);
		return;
	}
	if (!l->z) {
		l->zout_cap = ZSTD_CStreamOutSize();
		if (!(l->z = ZSTD_createCCtx()) || !(l->zout = malloc(l->zout_cap))) {
			zlog_fail(l, err_set(ERR_NOMEM, "out of memory"));
			return;
		}
		ZSTD_CCtx_setParameter(l->z, ZSTD_c_compressionLevel, LOG_LEVEL);
		if ((r = zlog_stream(l, l->mem.data, l->mem.len, ZSTD_e_continue)) != 0) {
			zlog_fail(l, r);
			return;
		}
		buf_release(&l->mem);
	}
	if ((r = zlog_stream(l, p, n, ZSTD_e_continue)) != 0)
		zlog_fail(l, r);
}

/* Ends the log and puts it at its final name.  Returns the first error
 * (the log is then removed). */
static int zlog_close(struct zlog *l)
{
	int r = 0;

	if (l->fd < 0)
		return 0;
	if (!l->err) {
		if (l->z) {
			r = zlog_stream(l, NULL, 0, ZSTD_e_end);
		} else {
			size_t cap = ZSTD_compressBound(l->mem.len), n;
			void *out = malloc(cap);

			if (!out) {
				r = err_set(ERR_NOMEM, "out of memory");
			} else {
				n = ZSTD_compress(out, cap, l->mem.data ? l->mem.data : "",
						  l->mem.len, LOG_LEVEL);
				if (ZSTD_isError(n))
					r = err_set(ERR_INTERNAL, "log '%s': zstd: %s", l->final,
						    ZSTD_getErrorName(n));
				else
					r = write_all(l->fd, out, n, l->tmp);
				free(out);
			}
		}
		if (r != 0)
			zlog_fail(l, r);
	}
	if (close(l->fd) != 0 && !l->err)
		zlog_fail(l, err_sys(ERR_IO, "cannot write the log '%s'", l->tmp));
	l->fd = -1;
	if (!l->err && rename(l->tmp, l->final) != 0)
		zlog_fail(l, err_sys(ERR_IO, "cannot rename '%s' to '%s'", l->tmp, l->final));
	if (l->err) {
		unlink(l->tmp);
		return err_set(l->err, "%s", l->errmsg);
	}
	return 0;
}

static void zlog_release(struct zlog *l)
{
	if (l->fd >= 0) {
		close(l->fd);
		unlink(l->tmp);
	}
	ZSTD_freeCCtx(l->z);
	free(l->zout);
	free(l->tmp);
	free(l->final);
	buf_release(&l->mem);
	memset(l, 0, sizeof(*l));
	l->fd = -1;
}

int builder_log_cat(const char *path, int fd)
{
	ZSTD_DCtx *z = NULL;
	size_t inc = ZSTD_DStreamInSize(), outc = ZSTD_DStreamOutSize(), last = 0;
	unsigned char *ib = malloc(inc), *ob = malloc(outc);
	int in = -1, r = 0;

	if (!ib || !ob || !(z = ZSTD_createDCtx())) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((in = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		r = err_sys(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "cannot open the log '%s'",
			    path);
		goto out;
	}
	for (;;) {
		ssize_t got = read(in, ib, inc);
		ZSTD_inBuffer zi = {ib, 0, 0};

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = err_sys(ERR_IO, "cannot read the log '%s'", path);
			goto out;
		}
		if (got == 0)
			break;
		zi.size = (size_t)got;
		while (zi.pos < zi.size) {
			ZSTD_outBuffer zo = {ob, outc, 0};

			last = ZSTD_decompressStream(z, &zo, &zi);
			if (ZSTD_isError(last)) {
				r = err_set(ERR_FORMAT, "log '%s': %s", path,
					    ZSTD_getErrorName(last));
				goto out;
			}
			if (zo.pos && (r = write_all(fd, ob, zo.pos, "standard output")) != 0)
				goto out;
		}
	}
	if (last != 0)
		r = err_set(ERR_TRUNCATED, "log '%s': the compressed data is truncated", path);
out:
	if (in >= 0)
		close(in);
	ZSTD_freeDCtx(z);
	free(ib);
	free(ob);
	return r;
}

/* ---- references: a scan for hash parts -------------------------------- */

struct cand {
	char hash[PATH_HASH_NIX32_LEN];
	const char *path;
};

struct refscan {
	struct cand *c; /* sorted by hash */
	size_t n;
	bool *found;
	unsigned char tail[PATH_HASH_NIX32_LEN - 1];
	size_t ntail;
};

static bool nix32_char[256];

static void nix32_init(void)
{
	const char *a = "0123456789abcdfghijklmnpqrsvwxyz";

	for (; *a; a++)
		nix32_char[(unsigned char)*a] = true;
}

static int cmp_cand(const void *a, const void *b)
{
	return memcmp(a, b, PATH_HASH_NIX32_LEN);
}

/* Looks at every 32-byte window of P[0..N) made only of nix32 characters;
 * a window with a bad character at k cannot match before k + 1. */
static void scan_block(struct refscan *rs, const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i + PATH_HASH_NIX32_LEN <= n) {
		size_t j = PATH_HASH_NIX32_LEN;
		struct cand *hit;

		while (j > 0 && nix32_char[p[i + j - 1]])
			j--;
		if (j > 0) {
			i += j;
			continue;
		}
		hit = bsearch(p + i, rs->c, rs->n, sizeof(*rs->c), cmp_cand);
		if (hit)
			rs->found[hit - rs->c] = true;
		i++;
	}
}

static void refscan_feed(struct refscan *rs, const void *pv, size_t n)
{
	const unsigned char *p = pv;
	unsigned char join[2 * PATH_HASH_NIX32_LEN];
	size_t k;

	if (rs->n == 0 || n == 0)
		return;
	/* Windows that start in the previous block's last 31 bytes. */
	if (rs->ntail) {
		k = n < sizeof(rs->tail) ? n : sizeof(rs->tail);
		memcpy(join, rs->tail, rs->ntail);
		memcpy(join + rs->ntail, p, k);
		scan_block(rs, join, rs->ntail + k);
	}
	scan_block(rs, p, n);
	if (n >= sizeof(rs->tail)) {
		memcpy(rs->tail, p + n - sizeof(rs->tail), sizeof(rs->tail));
		rs->ntail = sizeof(rs->tail);
	} else {
		size_t keep = rs->ntail + n > sizeof(rs->tail) ? sizeof(rs->tail) - n : rs->ntail;

		memmove(rs->tail, rs->tail + rs->ntail - keep, keep);
		memcpy(rs->tail + keep, p, n);
		rs->ntail = keep + n;
	}
}

/* ---- the environment ------------------------------------------------- */

struct env {
	char **names, **values;
	size_t n, cap;
};

static int env_set(struct env *e, const char *name, const char *value)
{
	char *v;

	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->names[i], name)) {
			if (!(v = xstrdup(value)))
				return ERR_NOMEM;
			free(e->values[i]);
			e->values[i] = v;
			return 0;
		}
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 32;
		char **a = realloc(e->names, cap * sizeof(*a)), **b;

		if (!a)
			return err_set(ERR_NOMEM, "out of memory");
		e->names = a;
		if (!(b = realloc(e->values, cap * sizeof(*b))))
			return err_set(ERR_NOMEM, "out of memory");
		e->values = b;
		e->cap = cap;
	}
	if (!(e->names[e->n] = xstrdup(name)))
		return ERR_NOMEM;
	if (!(e->values[e->n] = xstrdup(value))) {
		free(e->names[e->n]);
		return ERR_NOMEM;
	}
	e->n++;
	return 0;
}

static void env_release(struct env *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->names[i]);
		free(e->values[i]);
	}
	free(e->names);
	free(e->values);
	memset(e, 0, sizeof(*e));
}

/* "NAME=VALUE" strings and a NULL, for execve. */
static int env_block(const struct env *e, char ***out)
{
	char **v = calloc(e->n + 1, sizeof(*v));

	if (!v)
		return err_set(ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < e->n; i++) {
		size_t a = strlen(e->names[i]), b = strlen(e->values[i]);

		if (!(v[i] = malloc(a + b + 2))) {
			drv_strv_free(v, i);
			return err_set(ERR_NOMEM, "out of memory");
		}
		memcpy(v[i], e->names[i], a);
		v[i][a] = '=';
		memcpy(v[i] + a + 1, e->values[i], b + 1);
	}
	*out = v;
	return 0;
}

/* Whether NAME is one of the whitespace-separated words of LIST. */
static bool word_in(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; *p;) {
		size_t k;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		k = strcspn(p, " \t\n\r");
		if (k == n && k && !memcmp(p, name, n))
			return true;
		p += k;
	}
	return false;
}

/* ---- the build ------------------------------------------------------- */

struct builder {
	struct store *s;
	const struct drv *d;
	char *drv_path;
	struct builder_opts o;
	char *dir;  /* the build directory */
	char *kept; /* DIR when kept after a failure */
	struct zlog log;
	char *log_final;
	pid_t pid;
	int pidfd, out_fd;
	int status;
	bool reaped, killed, ended, finished;
	int spawn_err; /* posix_spawn's error: the builder never ran */
	enum { TO_NONE, TO_TOTAL, TO_SILENT } timed_out;
	int64_t start_ms, last_out_ms;
	struct db_list closure; /* input closure and outputs: reference candidates */
	struct cand *cand;
	size_t ncand;
	bool outputs_touched;    /* outputs may exist: remove them on failure */
	struct path_info *infos; /* prepared, not yet registered */
	bool failed;
};

static int make_builds_dir(const char *state, char **out)
{
	struct buf b = BUF_INIT(PATH_MAX);
	struct stat st;
	int r;

	*out = NULL;
	if ((r = buf_printf(&b, "%s/builds", state)) != 0)
		return r;
	if (dirs_known(state)) {
		*out = buf_detach(&b, NULL);
		return 0;
	}
	if (mkdir(b.data, 0700) != 0 && errno != EEXIST) {
		r = err_sys(ERR_IO, "cannot create directory '%s'", b.data);
		goto out;
	}
	if (lstat(b.data, &st) != 0) {
		r = err_sys(ERR_IO, "cannot stat '%s'", b.data);
		goto out;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
		r = err_set(ERR_INVALID, "'%s' must be a directory owned by uid %u (it is not)",
			    b.data, (unsigned)geteuid());
		goto out;
	}
	if ((st.st_mode & 07777) != 0700 && chmod(b.data, 0700) != 0) {
		r = err_sys(ERR_IO, "cannot make '%s' private", b.data);
		goto out;
	}
	*out = buf_detach(&b, NULL);
out:
	buf_release(&b);
	return r;
}

/* The reference candidates: the closure of the input sources and of the
 * input derivations' outputs in use, and the outputs themselves.  Inputs
 * that PENDING knows (built, not yet registered) bring their references
 * from there; the others' closure comes from the database. */
static int find_candidates(struct builder *b, builder_pending_fn pending, void *ctx)
{
	const char *sd = store_dir(b->s);
	struct db_list in = DB_LIST_INIT, valid = DB_LIST_INIT;
	size_t sdlen = strlen(sd), m = 0;
	int r = 0;

	for (size_t i = 0; i < b->d->nsrcs && r == 0; i++)
		r = db_list_push(&in, b->d->srcs[i]);
	for (size_t i = 0; i < b->d->ninputs && r == 0; i++) {
		const struct drv_input *di = &b->d->inputs[i];
		struct drv id = DRV_INIT;

		if ((r = drv_parse_file(&id, di->path, sd)) != 0) {
			r = err_prefix(r, "input derivation");
			break;
		}
		for (size_t k = 0; k < di->noutputs && r == 0; k++) {
			long o = drv_output_index(&id, di->outputs[k]);

			if (o < 0)
				r = err_set(ERR_INVALID, "input derivation '%s' has no output '%s'",
					    di->path, di->outputs[k]);
			else
				r = db_list_push(&in, id.outputs[o].path);
		}
		drv_release(&id);
	}
	/* IN grows as pending inputs add their references. */
	for (size_t i = 0; i < in.n && r == 0; i++) {
		const struct path_info *pi = pending ? pending(ctx, in.v[i]) : NULL;

		if (!pi) {
			r = db_list_push(&valid, in.v[i]);
			continue;
		}
		r = db_list_push(&b->closure, in.v[i]);
		for (size_t k = 0; k < pi->refs.n && r == 0; k++)
			if (!db_list_contains(&in, pi->refs.v[k]))
				r = db_list_push(&in, pi->refs.v[k]);
	}
	if (r == 0 && valid.n)
		r = db_query_closure(store_db(b->s), (const char *const *)valid.v, valid.n,
				     &b->closure);
	for (size_t i = 0; i < b->d->noutputs && r == 0; i++)
		r = db_list_push(&b->closure, b->d->outputs[i].path);
	if (r == 0 && !(b->cand = calloc(b->closure.n ? b->closure.n : 1, sizeof(*b->cand))))
		r = err_set(ERR_NOMEM, "out of memory");
	for (size_t i = 0; r == 0 && i < b->closure.n; i++) {
		const char *p = b->closure.v[i];

		if (strlen(p) < sdlen + 1 + PATH_HASH_NIX32_LEN)
			continue;
		memcpy(b->cand[b->ncand].hash, p + sdlen + 1, PATH_HASH_NIX32_LEN);
		b->cand[b->ncand++].path = p;
	}
	if (r == 0) {
		qsort(b->cand, b->ncand, sizeof(*b->cand), cmp_cand);
		for (size_t i = 0; i < b->ncand; i++) /* each path once */
			if (m == 0 ||
			    memcmp(b->cand[m - 1].hash, b->cand[i].hash, PATH_HASH_NIX32_LEN) != 0)
				b->cand[m++] = b->cand[i];
		b->ncand = m;
	}
	db_list_release(&in);
	db_list_release(&valid);
	return r;
}

static int build_env(struct builder *b, struct env *e)
{
	const struct drv *d = b->d;
	const char *paf = drv_env_get(d, "passAsFile");
	char cores[32];
	struct buf path = BUF_INIT(PATH_MAX);
	int r = 0;

	static long ncpu;

	if (!b->o.cores && !ncpu)
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	snprintf(cores, sizeof(cores), "%u", b->o.cores ? b->o.cores : (unsigned)ncpu);
	if ((r = env_set(e, "PATH", "/path-not-set")) != 0 ||
	    (r = env_set(e, "HOME", "/homeless-shelter")) != 0 ||
	    (r = env_set(e, "NIX_STORE", store_dir(b->s))) != 0 ||
	    (r = env_set(e, "NIX_BUILD_CORES", cores)) != 0)
		return r;
	for (size_t i = 0; i < d->noutputs; i++)
		if ((r = env_set(e, d->outputs[i].name, d->outputs[i].path)) != 0)
			return r;
	for (size_t i = 0; i < d->nenv; i++) {
		const struct drv_env *v = &d->env[i];
		uint8_t h[SHA256_LEN];
		char h32[SHA256_NIX32_LEN + 1];
		int fd;

		if (!paf || !word_in(paf, v->name)) {
			if ((r = env_set(e, v->name, v->value)) != 0)
				return r;
			continue;
		}
		/* passAsFile: the value goes to a file named after its hash. */
		if ((r = sha256_buf(v->name, strlen(v->name), h)) != 0)
			return r;
		hash_to_nix32(h, SHA256_LEN, h32);
		buf_reset(&path);
		if ((r = buf_printf(&path, "%s/.attr-%s", b->dir, h32)) != 0)
			goto out;
		fd = open(path.data, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			r = err_sys(ERR_IO, "cannot create '%s'", path.data);
			goto out;
		}
		r = write_all(fd, v->value, strlen(v->value), path.data);
		if (close(fd) != 0 && r == 0)
			r = err_sys(ERR_IO, "cannot write '%s'", path.data);
		if (r != 0)
			goto out;
		{
			char name[256];

			if (strlen(v->name) + 5 > sizeof(name)) {
				r = err_set(ERR_INVALID, "passAsFile: name '%s' too long", v->name);
				goto out;
			}
			snprintf(name, sizeof(name), "%sPath", v->name);
			if ((r = env_set(e, name, path.data)) != 0)
				goto out;
		}
	}
	if ((r = env_set(e, "NIX_BUILD_TOP", b->dir)) != 0 ||
	    (r = env_set(e, "TMPDIR", b->dir)) != 0 || (r = env_set(e, "TEMPDIR", b->dir)) != 0 ||
	    (r = env_set(e, "TMP", b->dir)) != 0 || (r = env_set(e, "TEMP", b->dir)) != 0 ||
	    (r = env_set(e, "PWD", b->dir)) != 0 || (r = env_set(e, "NIX_LOG_FD", "2")) != 0 ||
	    (r = env_set(e, "TERM", "xterm-256color")) != 0)
		goto out;
out:
	buf_release(&path);
	return r;
}

static void note_in_log(struct builder *b, const char *msg)
{
	zlog_write(&b->log, msg, strlen(msg));
	zlog_write(&b->log, "\n", 1);
}

static int spawn(struct builder *b, char **argv, char **envp)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int p[2], rc;

	if (pipe2(p, O_CLOEXEC) != 0)
		return err_sys(ERR_IO, "cannot make a pipe");
	/* Handlers are reset by exec anyway; what survives it is an ignored
	 * signal, so these are the ones a caller may have set to ignore. */
	static const int reset[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGPIPE, SIGTERM, SIGCHLD,
				    SIGUSR1, SIGUSR2, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU};

	sigemptyset(&none);
	sigemptyset(&all);
	for (size_t i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
		sigaddset(&all, reset[i]);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	posix_spawn_file_actions_addchdir_np(&fa, b->dir);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					  POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	rc = posix_spawn(&b->pid, b->d->builder, &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(p[1]);
	if (rc != 0) {
		char msg[PATH_MAX + 128];

		close(p[0]);
		b->spawn_err = rc;
		snprintf(msg, sizeof(msg), "cannot run the builder '%s': %s", b->d->builder,
			 strerror(rc));
		note_in_log(b, msg);
		return 0;
	}
	b->out_fd = p[0];
	fcntl(b->out_fd, F_SETFL, O_NONBLOCK);
	b->pidfd = (int)syscall(SYS_pidfd_open, b->pid, 0);
	if (b->pidfd < 0) {
		int e = errno;

		kill(-b->pid, SIGKILL);
		waitpid(b->pid, NULL, 0);
		b->reaped = true;
		errno = e;
		return err_sys(ERR_INTERNAL, "pidfd_open");
	}
	b->start_ms = b->last_out_ms = builder_now_ms();
	return 0;
}

static void remove_outputs(struct builder *b)
{
	if (!b->outputs_touched)
		return;
	for (size_t i = 0; i < b->d->noutputs; i++)
		rm_rf_at(store_dirfd(b->s), storepath_base(b->d->outputs[i].path));
	b->outputs_touched = false;
}

int builder_start(struct builder **out, struct store *s, const char *drv_path, const struct drv *d,
		  const struct builder_opts *o)
{
	static bool inited;
	struct builder *b;
	struct env e = {0};
	char **argv = NULL, **envp = NULL, *builds = NULL;
	struct buf tmpl = BUF_INIT(PATH_MAX);
	const char *bn, *name;
	int r;

	*out = NULL;
	if (!inited) {
		nix32_init();
		inited = true;
	}
	if (strcmp(d->system, builder_system()) != 0 && !builder_extra_system(d->system))
		return err_set(ERR_INVALID,
			       "a '%s' system is required to build '%s', but this machine is a "
			       "'%s'",
			       d->system, drv_path, builder_system());
	if (!strncmp(d->builder, "builtin:", 8))
		return err_set(ERR_INVALID,
			       "cannot build '%s': builtin builder '%s' is not supported", drv_path,
			       d->builder);
	if (!(b = calloc(1, sizeof(*b))))
		return err_set(ERR_NOMEM, "out of memory");
	b->s = s;
	b->d = d;
	b->o = *o;
	b->pidfd = b->out_fd = -1;
	b->log.fd = -1;
	if (!(b->drv_path = xstrdup(drv_path))) {
		r = ERR_NOMEM;
		goto fail;
	}
	/* Unregistered leftovers: the caller holds the locks and found the
	 * outputs invalid. */
	b->outputs_touched = true;
	for (size_t i = 0; i < d->noutputs; i++)
		if ((r = rm_rf_at(store_dirfd(s), storepath_base(d->outputs[i].path))) != 0)
			goto fail;
	if ((r = make_builds_dir(store_state_path(s), &builds)) != 0)
		goto fail;
	name = storepath_name(drv_path);
	if ((r = buf_printf(&tmpl, "%s/%.*s-XXXXXX", builds, (int)(strlen(name) - 4), name)) != 0)
		goto fail;
	if (!mkdtemp(tmpl.data)) {
		r = err_sys(ERR_IO, "cannot create a build directory '%s'", tmpl.data);
		goto fail;
	}
	b->dir = buf_detach(&tmpl, NULL);
	if ((r = zlog_open(&b->log, store_state_path(s), drv_path)) != 0)
		goto fail;
	snprintf(dirs_checked, sizeof(dirs_checked), "%s", store_state_path(s));
	if (!(b->log_final = xstrdup(b->log.final))) {
		r = ERR_NOMEM;
		goto fail;
	}
	if ((r = build_env(b, &e)) != 0 || (r = env_block(&e, &envp)) != 0)
		goto fail;
	if (!(argv = calloc(d->nargs + 2, sizeof(*argv)))) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto fail;
	}
	bn = strrchr(d->builder, '/');
	argv[0] = (char *)(bn ? bn + 1 : d->builder);
	for (size_t i = 0; i < d->nargs; i++)
		argv[i + 1] = d->args[i];
	if ((r = spawn(b, argv, envp)) != 0)
		goto fail;
	*out = b;
	b = NULL;
fail:
	free(argv);
	if (envp) {
		size_t n = 0;

		while (envp[n])
			n++;
		drv_strv_free(envp, n);
	}
	env_release(&e);
	free(builds);
	buf_release(&tmpl);
	if (b) {
		char saved[2048];

		dirs_checked[0] = '\0'; /* look again next time */
		snprintf(saved, sizeof(saved), "%s", err_msg());
		remove_outputs(b);
		if (b->dir)
			rm_rf_at(AT_FDCWD, b->dir);
		zlog_release(&b->log);
		b->reaped = true;
		builder_free(b);
		err_set(r, "%s", saved);
	}
	return r;
}

size_t builder_pollfds(const struct builder *b, struct pollfd *fds)
{
	size_t n = 0;

	if (b->out_fd >= 0)
		fds[n++] = (struct pollfd){.fd = b->out_fd, .events = POLLIN};
	if (b->pidfd >= 0 && !b->reaped)
		fds[n++] = (struct pollfd){.fd = b->pidfd, .events = POLLIN};
	return n;
}

int64_t builder_deadline(const struct builder *b)
{
	int64_t t = -1;

	if (b->ended || b->spawn_err || b->reaped)
		return 0;
	if (b->killed)
		return -1;
	if (b->o.timeout)
		t = b->start_ms + (int64_t)b->o.timeout * 1000;
	if (b->o.max_silent) {
		int64_t u = b->last_out_ms + (int64_t)b->o.max_silent * 1000;

		if (t < 0 || u < t)
			t = u;
	}
	return t;
}

/* Reads what is there; at most a few chunks, so one chatty builder does
 * not starve the others.  UNTIL_EMPTY: read until the pipe is empty. */
static int read_output(struct builder *b, builder_log_fn log, void *ctx, bool until_empty)
{
	char buf[READ_CHUNK];

	for (int i = 0; b->out_fd >= 0 && (until_empty || i < 8); i++) {
		ssize_t n = read(b->out_fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			int e = errno;

			close(b->out_fd);
			b->out_fd = -1;
			if (n < 0) {
				errno = e;
				return err_sys(ERR_IO, "reading the output of the builder of '%s'",
					       b->drv_path);
			}
			return 0;
		}
		b->last_out_ms = builder_now_ms();
		zlog_write(&b->log, buf, (size_t)n);
		if (log)
			log(ctx, buf, (size_t)n);
	}
	return 0;
}

static void kill_group(struct builder *b)
{
	if (b->pid > 0 && !b->killed) {
		kill(-b->pid, SIGKILL);
		b->killed = true;
	}
}

int builder_step(struct builder *b, builder_log_fn log, void *ctx)
{
	int r;

	if (b->ended)
		return 1;
	if (b->spawn_err) {
		b->ended = true;
		return 1;
	}
	if ((r = read_output(b, log, ctx, false)) != 0)
		return r;
	if (!b->reaped) {
		pid_t w;

		do
			w = waitpid(b->pid, &b->status, WNOHANG);
		while (w < 0 && errno == EINTR);
		if (w == b->pid) {
			b->reaped = true;
			/* What the builder left running dies with it. */
			kill(-b->pid, SIGKILL);
			b->killed = true;
			close(b->pidfd);
			b->pidfd = -1;
			if ((r = read_output(b, log, ctx, true)) != 0)
				return r;
			if (b->out_fd >= 0) {
				close(b->out_fd);
				b->out_fd = -1;
			}
		} else if (w < 0) {
			return err_sys(ERR_INTERNAL, "waitpid");
		}
	}
	if (!b->reaped && !b->killed) {
		int64_t now = builder_now_ms();

		if (b->o.timeout && now >= b->start_ms + (int64_t)b->o.timeout * 1000) {
			b->timed_out = TO_TOTAL;
			kill_group(b);
		} else if (b->o.max_silent &&
			   now >= b->last_out_ms + (int64_t)b->o.max_silent * 1000) {
			b->timed_out = TO_SILENT;
			kill_group(b);
		}
	}
	if (b->reaped) {
		b->ended = true;
		return 1;
	}
	return 0;
}

/* Canonical form, bottom up; directories are opened (and so made
 * readable) before their entries are visited. */
static int canon_at(int at, const char *name, const char *what, int depth)
{
	struct stat st;
	int r = 0, fd;

	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return err_sys(ERR_IO, "cannot stat '%s'", what);
	if (S_ISLNK(st.st_mode)) {
		/* Symlinks have no mode of their own. */
		if (utimensat(at, name, epoch1, AT_SYMLINK_NOFOLLOW) != 0)
			return err_sys(ERR_IO, "cannot set the time of '%s'", what);
		return 0;
	}
	if (S_ISREG(st.st_mode)) {
		fd = openat(at, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return err_sys(ERR_IO, "cannot open '%s'", what);
		if (fchmod(fd, (st.st_mode & S_IXUSR) ? 0555 : 0444) != 0)
			r = err_sys(ERR_IO, "cannot change the mode of '%s'", what);
		else if (futimens(fd, epoch1) != 0)
			r = err_sys(ERR_IO, "cannot set the time of '%s'", what);
		close(fd);
		return r;
	}
	if (S_ISDIR(st.st_mode)) {
		DIR *dir;
		struct dirent *e;

		if (depth > NAR_MAX_DEPTH)
			return err_set(ERR_TOOBIG, "'%s': directories nested deeper than %d", what,
				       NAR_MAX_DEPTH);
		if ((st.st_mode & 0700) != 0700 && fchmodat(at, name, 0700, 0) != 0)
			return err_sys(ERR_IO, "cannot change the mode of '%s'", what);
		fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return err_sys(ERR_IO, "cannot open directory '%s'", what);
		if (!(dir = fdopendir(fd))) {
			close(fd);
			return err_sys(ERR_IO, "cannot open directory '%s'", what);
		}
		while (r == 0 && (errno = 0, e = readdir(dir)) != NULL) {
			struct buf sub = BUF_INIT(PATH_MAX * 4);

			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if ((r = buf_printf(&sub, "%s/%s", what, e->d_name)) == 0)
				r = canon_at(dirfd(dir), e->d_name, sub.data, depth + 1);
			buf_release(&sub);
		}
		if (r == 0 && errno != 0)
			r = err_sys(ERR_IO, "cannot list '%s'", what);
		if (r == 0 && fchmod(dirfd(dir), 0555) != 0)
			r = err_sys(ERR_IO, "cannot change the mode of '%s'", what);
		if (r == 0 && futimens(dirfd(dir), epoch1) != 0)
			r = err_sys(ERR_IO, "cannot set the time of '%s'", what);
		closedir(dir);
		return r;
	}
	return err_set(ERR_INVALID, "'%s' is not a regular file, directory or symlink", what);
}

/* The NAR of an output goes through SHA-256 (its NAR hash), the reference
 * scanner and, for a recursive fixed output with another algorithm, that
 * algorithm. */
struct out_sink {
	struct sink sink;
	struct sha256 sha;
	uint64_t size;
	struct refscan *rs;
	EVP_MD_CTX *alt;
};

static int out_sink_write(struct sink *sk, const void *p, size_t n)
{
	struct out_sink *o = (struct out_sink *)sk;

	sha256_update(&o->sha, p, n);
	o->size += n;
	refscan_feed(o->rs, p, n);
	if (o->alt)
		EVP_DigestUpdate(o->alt, p, n);
	return 0;
}

/* The hash of a file's bytes with MD. */
static int hash_file(const char *path, const EVP_MD *md, unsigned char *out)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char buf[READ_CHUNK];
	int fd = -1, r = 0;

	if (!c)
		return err_set(ERR_NOMEM, "out of memory");
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		r = err_sys(ERR_IO, "cannot open '%s'", path);
		goto out;
	}
	EVP_DigestInit_ex(c, md, NULL);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = err_sys(ERR_IO, "cannot read '%s'", path);
			goto out;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(c, buf, (size_t)n);
	}
	EVP_DigestFinal_ex(c, out, NULL);
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(c);
	return r;
}

static void sri(const char *algo, const unsigned char *h, size_t n, char *out, size_t cap)
{
	char b64[128];

	hash_to_base64(h, n, b64);
	snprintf(out, cap, "%s-%s", algo, b64);
}

/* Checks output I, canonical and hashed into PI, against its fixed hash. */
static int check_fixed(struct builder *b, size_t i, const EVP_MD *md, bool rec,
		       const unsigned char *got_rec, struct path_info *pi)
{
	const struct drv_output *o = &b->d->outputs[i];
	const char *algo = o->hash_algo + (rec ? 2 : 0);
	unsigned char want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
	size_t n = (size_t)EVP_MD_size(md);
	char a[200], g[200], ca[200], n32[128];
	int r;

	if ((r = hash_from_base16(o->hash, strlen(o->hash), want, n)) != 0)
		return err_prefix(r, "derivation '%s': output hash", b->drv_path);
	if (rec) {
		memcpy(got, got_rec, n);
	} else {
		struct stat st;

		if (lstat(o->path, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & S_IXUSR))
			return err_set(ERR_INVALID,
				       "output path '%s' should be a non-executable regular file "
				       "since recursive hashing is not enabled "
				       "(outputHashMode=flat)",
				       o->path);
		if ((r = hash_file(o->path, md, got)) != 0)
			return r;
	}
	if (memcmp(want, got, n) != 0) {
		sri(algo, want, n, a, sizeof(a));
		sri(algo, got, n, g, sizeof(g));
		return err_set(
		    ERR_MISMATCH,
		    "hash mismatch in fixed-output derivation '%s': specified %s, got %s",
		    b->drv_path, a, g);
	}
	if (pi->refs.n)
		return err_set(ERR_INVALID,
			       "the fixed-output derivation '%s' must not reference store paths: "
			       "'%s' refers to '%s'",
			       b->drv_path, o->path, pi->refs.v[0]);
	hash_to_nix32(got, n, n32);
	snprintf(ca, sizeof(ca), "fixed:%s%s:%s", rec ? "r:" : "", algo, n32);
	if (!(pi->ca = xstrdup(ca)))
		return ERR_NOMEM;
	return 0;
}

/* Checks, canonicalises, hashes and scans the outputs into B->infos. */
static int prepare_outputs(struct builder *b)
{
	const struct drv *d = b->d;
	int dirfd = store_dirfd(b->s);
	struct path_info *infos = calloc(d->noutputs, sizeof(*infos));
	struct refscan rs = {0};
	int r = 0;

	if (!infos || !(rs.found = calloc(b->ncand ? b->ncand : 1, sizeof(bool)))) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	rs.c = b->cand;
	rs.n = b->ncand;
	for (size_t i = 0; i < d->noutputs; i++) {
		const struct drv_output *o = &d->outputs[i];
		struct stat st;

		if (fstatat(dirfd, storepath_base(o->path), &st, AT_SYMLINK_NOFOLLOW) != 0) {
			r = errno == ENOENT
				? err_set(
				      ERR_NOTFOUND,
				      "builder for '%s' failed to produce output path for output "
				      "'%s' at '%s'",
				      b->drv_path, o->name, o->path)
				: err_sys(ERR_IO, "cannot stat '%s'", o->path);
			goto out;
		}
	}
	for (size_t i = 0; i < d->noutputs; i++) {
		const struct drv_output *o = &d->outputs[i];
		struct path_info *pi = &infos[i];
		bool fixed = o->hash_algo[0] != '\0';
		bool rec = fixed && !strncmp(o->hash_algo, "r:", 2);
		const EVP_MD *md = NULL;
		unsigned char alt[EVP_MAX_MD_SIZE];
		struct out_sink os = {.sink.write = out_sink_write, .rs = &rs};
		struct nar_writer w;

		if (fixed) {
			const char *algo = o->hash_algo + (rec ? 2 : 0);

			if (strcmp(algo, "md5") && strcmp(algo, "sha1") && strcmp(algo, "sha256") &&
			    strcmp(algo, "sha512")) {
				r = err_set(ERR_INVALID,
					    "derivation '%s': unknown hash algorithm '%s'",
					    b->drv_path, algo);
				goto out;
			}
			md = EVP_get_digestbyname(algo);
			if (!md) {
				r = err_set(ERR_INTERNAL, "no %s digest in OpenSSL", algo);
				goto out;
			}
		}
		if ((r = canon_at(dirfd, storepath_base(o->path), o->path, 0)) != 0)
			goto out;
		memset(rs.found, 0, rs.n * sizeof(bool));
		rs.ntail = 0;
		if ((r = sha256_init(&os.sha)) != 0)
			goto out;
		if (rec && strcmp(o->hash_algo, "r:sha256") != 0) {
			if (!(os.alt = EVP_MD_CTX_new())) {
				sha256_release(&os.sha);
				r = err_set(ERR_NOMEM, "out of memory");
				goto out;
			}
			EVP_DigestInit_ex(os.alt, md, NULL);
		}
		nar_writer_init(&w, &os.sink);
		r = nar_walk(dirfd, storepath_base(o->path), &w.v);
		if (r != 0) {
			sha256_release(&os.sha);
			EVP_MD_CTX_free(os.alt);
			r = err_prefix(r, "output '%s'", o->path);
			goto out;
		}
		sha256_final(&os.sha, pi->nar_hash);
		pi->nar_size = os.size;
		if (os.alt) {
			EVP_DigestFinal_ex(os.alt, alt, NULL);
			EVP_MD_CTX_free(os.alt);
		} else if (rec) {
			memcpy(alt, pi->nar_hash, SHA256_LEN);
		}
		if (!(pi->path = xstrdup(o->path)) || !(pi->deriver = xstrdup(b->drv_path))) {
			r = ERR_NOMEM;
			goto out;
		}
		for (size_t k = 0; k < rs.n; k++)
			if (rs.found[k] && (r = db_list_push(&pi->refs, rs.c[k].path)) != 0)
				goto out;
		if (fixed && (r = check_fixed(b, i, md, rec, alt, pi)) != 0)
			goto out;
	}
	b->infos = infos;
	infos = NULL;
out:
	if (infos)
		for (size_t i = 0; i < d->noutputs; i++)
			path_info_release(&infos[i]);
	free(infos);
	free(rs.found);
	return r;
}

static void free_infos(struct builder *b)
{
	if (!b->infos)
		return;
	for (size_t i = 0; i < b->d->noutputs; i++)
		path_info_release(&b->infos[i]);
	free(b->infos);
	b->infos = NULL;
}

/* A failed build: outputs removed, build directory kept or removed;
 * returns R with MSG as the message. */
static int fail_build(struct builder *b, int r, const char *msg)
{
	char saved[PATH_MAX + 2048];

	snprintf(saved, sizeof(saved), "%s", msg);
	b->failed = true;
	free_infos(b);
	remove_outputs(b);
	if (b->o.keep_failed)
		b->kept = b->dir;
	else
		rm_rf_at(AT_FDCWD, b->dir);
	return err_set(r, "%s", saved);
}

int builder_prepare(struct builder *b, builder_pending_fn pending, void *ctx)
{
	int r, st = b->status;
	char msg[PATH_MAX + 256];

	if (!b->ended)
		return err_set(ERR_INTERNAL, "builder_prepare: the build of '%s' has not ended",
			       b->drv_path);
	if (b->finished)
		return err_set(ERR_INTERNAL, "the build of '%s' was already prepared", b->drv_path);
	b->finished = true;
	msg[0] = '\0';
	if (b->spawn_err) {
		snprintf(msg, sizeof(msg), "builder for '%s' failed: cannot run '%s': %s",
			 b->drv_path, b->d->builder, strerror(b->spawn_err));
	} else if (b->timed_out) {
		snprintf(msg, sizeof(msg), "building of '%s' timed out after %u seconds%s",
			 b->drv_path, b->timed_out == TO_TOTAL ? b->o.timeout : b->o.max_silent,
			 b->timed_out == TO_TOTAL ? "" : " of silence");
		note_in_log(b, msg);
	} else if (WIFSIGNALED(st)) {
		snprintf(msg, sizeof(msg), "builder for '%s' failed due to signal %d (%s)",
			 b->drv_path, WTERMSIG(st), strsignal(WTERMSIG(st)));
	} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(msg, sizeof(msg), "builder for '%s' failed with exit code %d", b->drv_path,
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	/* The log is complete: close it first, so that a log that cannot be
	 * written fails the build before anything is registered. */
	r = zlog_close(&b->log);
	if (msg[0])
		return fail_build(b, ERR_INVALID, msg);
	/* The inputs are valid by now, even those whose users the caller let
	 * start before they were registered (see engine.c). */
	if (r == 0 && (r = find_candidates(b, pending, ctx)) != 0)
		r = err_prefix(r, "cannot register the outputs of '%s'", b->drv_path);
	if (r == 0)
		r = prepare_outputs(b);
	if (r != 0)
		return fail_build(b, r, err_msg());
	return 0;
}

int builder_commit(struct store *s, struct builder *const *bs, size_t n)
{
	struct path_info *all = NULL;
	size_t total = 0, k = 0;
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		if (!bs[i]->infos || bs[i]->failed)
			return err_set(ERR_INTERNAL, "builder_commit: '%s' is not prepared",
				       bs[i]->drv_path);
		total += bs[i]->d->noutputs;
	}
	if (n == 0)
		return 0;
	if (!(all = malloc(total * sizeof(*all)))) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < bs[i]->d->noutputs; j++)
			all[k++] = bs[i]->infos[j]; /* shallow: owned by bs[i] */
	/* One syncfs for the whole batch: the outputs' data and names are
	 * durable before they are valid. */
	if (syncfs(store_dirfd(s)) != 0) {
		r = err_sys(ERR_IO, "cannot sync the file system of '%s'", store_dir(s));
		goto fail;
	}
	if ((r = db_register(store_db(s), all, total)) != 0)
		goto fail;
	free(all);
	for (size_t i = 0; i < n; i++) {
		struct builder *b = bs[i];

		free_infos(b);
		b->outputs_touched = false;
		rm_rf_at(AT_FDCWD, b->dir);
	}
	return 0;
fail:
	free(all);
	{
		char msg[2048];

		snprintf(msg, sizeof(msg), "%s", err_msg());
		for (size_t i = 0; i < n; i++)
			fail_build(bs[i], r, msg);
		return err_set(r, "%s", msg);
	}
}

int builder_finish(struct builder *b)
{
	int r = builder_prepare(b, NULL, NULL);

	return r != 0 ? r : builder_commit(b->s, &b, 1);
}

const struct path_info *builder_infos(const struct builder *b, size_t *n)
{
	*n = b->infos ? b->d->noutputs : 0;
	return b->infos;
}

bool builder_exited_ok(const struct builder *b)
{
	return b->ended && !b->spawn_err && !b->timed_out && WIFEXITED(b->status) &&
	       WEXITSTATUS(b->status) == 0;
}

bool builder_timed_out(const struct builder *b)
{
	return b->timed_out != TO_NONE;
}

const char *builder_kept_dir(const struct builder *b)
{
	return b->kept;
}

const char *builder_log_path(const struct builder *b)
{
	return b->log_final;
}

void builder_free(struct builder *b)
{
	if (!b)
		return;
	if (!b->reaped && b->pid > 0) {
		kill(-b->pid, SIGKILL);
		while (waitpid(b->pid, NULL, 0) < 0 && errno == EINTR)
			;
		b->reaped = true;
	}
	if (b->pidfd >= 0)
		close(b->pidfd);
	if (b->out_fd >= 0)
		close(b->out_fd);
	if (!b->finished || b->infos) {
		/* Still running, or prepared and never registered. */
		zlog_close(&b->log);
		remove_outputs(b);
		if (b->dir && !b->o.keep_failed)
			rm_rf_at(AT_FDCWD, b->dir);
	}
	free_infos(b);
	zlog_release(&b->log);
	db_list_release(&b->closure);
	free(b->cand);
	free(b->dir);
	free(b->log_final);
	free(b->drv_path);
	free(b);
}

int builder_run(struct store *s, const char *drv_path, const struct drv *d,
		const struct builder_opts *o, builder_log_fn log, void *ctx)
{
	struct builder *b;
	int r;

	if ((r = builder_start(&b, s, drv_path, d, o)) != 0)
		return r;
	for (;;) {
		struct pollfd fds[BUILDER_NFDS];
		size_t n = builder_pollfds(b, fds);
		int64_t dl = builder_deadline(b), now = builder_now_ms();
		int tmo = dl < 0               ? -1
			  : dl <= now          ? 0
			  : dl - now > INT_MAX ? INT_MAX
					       : (int)(dl - now);

		if ((n || tmo >= 0) && poll(fds, n, tmo) < 0 && errno != EINTR) {
			r = err_sys(ERR_INTERNAL, "poll");
			break;
		}
		if ((r = builder_step(b, log, ctx)) != 0)
			break;
	}
	if (r == 1)
		r = builder_finish(b);
	builder_free(b);
	return r;
}
