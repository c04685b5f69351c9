#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "io.h"
#include "nar.h"
#include "storepath.h"

#define TMP_PREFIX  ".tmp-"
#define LOCK_SUFFIX ".lock"
#define COPY_BUF    (1024 * 1024)

struct store {
	char *dir;
	char *state;
	int dirfd;
	int lockfd; /* state/locks */
	struct db *db;
};

static const struct timespec epoch1[2] = {{1, 0}, {1, 0}};

int store_state_dir(const char **out)
{
	static _Thread_local char dir[4096];
	const char *env = getenv("YONDER_STATE_DIR");
	size_t len;

	if (!env || !*env)
		env = STORE_DEFAULT_STATE_DIR;
	len = strlen(env);
	while (len > 1 && env[len - 1] == '/')
		len--;
	if (env[0] != '/')
		return err_set(ERR_INVALID, "state directory '%s' is not an absolute path", env);
	if (len >= sizeof(dir))
		return err_set(ERR_INVALID, "state directory '%s' is too long", env);
	memcpy(dir, env, len);
	dir[len] = '\0';
	*out = dir;
	return 0;
}

static int open_dir(const char *path, int *fd)
{
	*fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0)
		return err_sys(ERR_IO, "cannot open directory '%s'", path);
	return 0;
}

int store_open_at(struct store **out, const char *store_dir, const char *state_dir)
{
	struct store *s;
	struct buf locks = BUF_INIT(8192);
	int r;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))))
		return err_set(ERR_NOMEM, "out of memory");
	s->dirfd = s->lockfd = -1;
	if (!(s->dir = strdup(store_dir)) || !(s->state = strdup(state_dir))) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	/* The database first: it refuses another store's state before we
	 * create anything for this store. */
	if ((r = db_open(&s->db, state_dir, store_dir)) != 0 ||
	    (r = buf_printf(&locks, "%s/locks", state_dir)) != 0 ||
	    (r = mkdir_p(store_dir, 0755)) != 0 || (r = mkdir_p(locks.data, 0755)) != 0 ||
	    (r = open_dir(store_dir, &s->dirfd)) != 0 ||
	    (r = open_dir(locks.data, &s->lockfd)) != 0)
		goto out;
	*out = s;
	s = NULL;
out:
	buf_release(&locks);
	store_free(s);
	return r;
}

int store_open(struct store **out)
{
	const char *dir, *state;
	int r;

	*out = NULL;
	if ((r = storedir_get(&dir)) != 0 || (r = store_state_dir(&state)) != 0)
		return r;
	return store_open_at(out, dir, state);
}

void store_free(struct store *s)
{
	if (!s)
		return;
	db_free(s->db);
	if (s->dirfd >= 0)
		close(s->dirfd);
	if (s->lockfd >= 0)
		close(s->lockfd);
	free(s->dir);
	free(s->state);
	free(s);
}

const char *store_dir(const struct store *s)
{
	return s->dir;
}

struct db *store_db(const struct store *s)
{
	return s->db;
}

int store_check_path(const struct store *s, const char *path)
{
	return storepath_check(s->dir, path);
}

/* ---- locks ----------------------------------------------------------- */

/* Takes the lock NAME in locks/: 0 when held (*FD set), 1 when busy and
 * !WAIT, or an error.  With !CREATE a missing lock file counts as busy
 * (nothing to clean). */
static int lock_take(struct store *s, const char *name, bool wait, bool create, int *fd)
{
	for (;;) {
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		struct stat a, b;
		int f, rc;

		f = openat(s->lockfd, name,
			   O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
		if (f < 0) {
			if (!create && errno == ENOENT)
				return 1;
			return err_sys(ERR_IO, "cannot open lock file '%s/locks/%s'", s->state,
				       name);
		}
		do
			rc = fcntl(f, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
		while (rc != 0 && errno == EINTR);
		if (rc != 0) {
			int e = errno;

			close(f);
			if (!wait && (e == EAGAIN || e == EACCES))
				return 1;
			errno = e;
			return err_sys(ERR_IO, "cannot lock '%s/locks/%s'", s->state, name);
		}
		/* Whoever held it may have unlinked it before letting go. */
		if (fstat(f, &a) == 0 && fstatat(s->lockfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			*fd = f;
			return 0;
		}
		close(f);
		if (!create)
			return 1;
	}
}

static void lock_drop(struct store *s, const char *name, int *fd)
{
	if (*fd < 0)
		return;
	unlinkat(s->lockfd, name, 0);
	close(*fd);
	*fd = -1;
}

/* ---- adding ---------------------------------------------------------- */

/* The NAR hash is computed on a second thread, so that hashing (about
 * 0.55 s per GiB) overlaps reading and writing the copy instead of adding
 * to it.  Bytes are batched into slots of HP_SLOT bytes (which also turns
 * the many small NAR tokens into few SHA-256 calls); the writer waits
 * only when all HP_SLOTS slots are queued. */
#define HP_SLOTS 4
#define HP_SLOT  (1024 * 1024)

struct hpipe {
	struct sink sink;
	struct sha256 sha;
	uint64_t size;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned char *buf[HP_SLOTS];
	size_t len[HP_SLOTS];
	unsigned long head, tail; /* slots [tail, head) are queued */
	size_t fill;              /* bytes in slot head % HP_SLOTS */
	bool done;
	bool running;
};

static void *hpipe_main(void *arg)
{
	struct hpipe *h = arg;

	pthread_mutex_lock(&h->mu);
	for (;;) {
		unsigned i;

		while (h->tail == h->head && !h->done)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->tail == h->head)
			break;
		i = (unsigned)(h->tail % HP_SLOTS);
		pthread_mutex_unlock(&h->mu);
		sha256_update(&h->sha, h->buf[i], h->len[i]);
		pthread_mutex_lock(&h->mu);
		h->tail++;
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* Queues the slot being filled and waits for a free one. */
static void hpipe_push(struct hpipe *h)
{
	pthread_mutex_lock(&h->mu);
	h->len[h->head % HP_SLOTS] = h->fill;
	h->head++;
	pthread_cond_broadcast(&h->cv);
	while (h->head - h->tail == HP_SLOTS)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
	h->fill = 0;
}

static int hpipe_write(struct sink *sk, const void *p, size_t n)
{
	struct hpipe *h = (struct hpipe *)sk;
	const unsigned char *c = p;

	h->size += n;
	while (n) {
		size_t k = HP_SLOT - h->fill < n ? HP_SLOT - h->fill : n;

		memcpy(h->buf[h->head % HP_SLOTS] + h->fill, c, k);
		h->fill += k;
		c += k;
		n -= k;
		if (h->fill == HP_SLOT)
			hpipe_push(h);
	}
	return 0;
}

static void hpipe_stop(struct hpipe *h)
{
	pthread_mutex_lock(&h->mu);
	h->done = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->thread, NULL);
	h->running = false;
}

static void hpipe_free(struct hpipe *h)
{
	if (!h)
		return;
	if (h->running) {
		hpipe_stop(h);
		sha256_release(&h->sha);
	}
	for (int i = 0; i < HP_SLOTS; i++)
		free(h->buf[i]);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

static int hpipe_new(struct hpipe **out)
{
	struct hpipe *h = calloc(1, sizeof(*h));
	int r;

	*out = NULL;
	if (!h)
		return err_set(ERR_NOMEM, "out of memory");
	h->sink.write = hpipe_write;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	for (int i = 0; i < HP_SLOTS; i++) {
		if (!(h->buf[i] = malloc(HP_SLOT))) {
			hpipe_free(h);
			return err_set(ERR_NOMEM, "out of memory");
		}
	}
	if ((r = sha256_init(&h->sha)) != 0) {
		hpipe_free(h);
		return r;
	}
	if ((r = pthread_create(&h->thread, NULL, hpipe_main, h)) != 0) {
		sha256_release(&h->sha);
		hpipe_free(h);
		errno = r;
		return err_sys(ERR_INTERNAL, "cannot start a hashing thread");
	}
	h->running = true;
	*out = h;
	return 0;
}

/* Hashes what is still queued and writes the digest and byte count. */
static void hpipe_finish(struct hpipe *h, uint8_t out[SHA256_LEN], uint64_t *size)
{
	if (h->fill) {
		pthread_mutex_lock(&h->mu);
		h->len[h->head % HP_SLOTS] = h->fill;
		h->head++;
		pthread_mutex_unlock(&h->mu);
		h->fill = 0;
	}
	hpipe_stop(h);
	sha256_final(&h->sha, out);
	*size = h->size;
}

/* What one add computes. */
struct added {
	uint8_t nar_hash[SHA256_LEN];
	uint64_t nar_size;
	uint8_t flat_hash[SHA256_LEN]; /* flat adds only */
};

/* Starts the disk writes of a file's data while the copy goes on (no
 * waiting: SYNC_FILE_RANGE_WRITE), so that the one syncfs() at the end
 * finds little left to write and the kernel does not throttle the copy
 * for having too many dirty pages.  It wraps the restorer's visitor. */
#define KICK_EVERY (8u << 20)

struct kick {
	struct nar_restorer *rs;
	uint64_t off, kicked;
	struct nar_visitor v;
};

static void kick_range(int fd, uint64_t from, uint64_t to)
{
	if (fd >= 0 && to > from)
		sync_file_range(fd, (off64_t)from, (off64_t)(to - from), SYNC_FILE_RANGE_WRITE);
}

static int k_file_begin(void *ctx, bool x, uint64_t size)
{
	struct kick *k = ctx;

	k->off = k->kicked = 0;
	return k->rs->v.file_begin(k->rs->v.ctx, x, size);
}

static int k_file_data(void *ctx, const void *p, size_t n)
{
	struct kick *k = ctx;
	int r = k->rs->v.file_data(k->rs->v.ctx, p, n);

	k->off += n;
	if (r == 0 && k->off - k->kicked >= KICK_EVERY) {
		kick_range(k->rs->filefd, k->kicked, k->off);
		k->kicked = k->off;
	}
	return r;
}

static int k_file_end(void *ctx)
{
	struct kick *k = ctx;

	return k->rs->v.file_end(k->rs->v.ctx);
}

static int k_symlink(void *ctx, const char *target, size_t len)
{
	struct kick *k = ctx;

	return k->rs->v.symlink(k->rs->v.ctx, target, len);
}

static int k_dir_begin(void *ctx)
{
	struct kick *k = ctx;

	return k->rs->v.dir_begin(k->rs->v.ctx);
}

static int k_entry_begin(void *ctx, const char *name, size_t len)
{
	struct kick *k = ctx;

	return k->rs->v.entry_begin(k->rs->v.ctx, name, len);
}

static int k_entry_end(void *ctx)
{
	struct kick *k = ctx;

	return k->rs->v.entry_end(k->rs->v.ctx);
}

static int k_dir_end(void *ctx)
{
	struct kick *k = ctx;

	return k->rs->v.dir_end(k->rs->v.ctx);
}

static void kick_init(struct kick *k, struct nar_restorer *rs)
{
	k->rs = rs;
	k->off = k->kicked = 0;
	k->v = (struct nar_visitor){
	    .ctx = k,
	    .file_begin = k_file_begin,
	    .file_data = k_file_data,
	    .file_end = k_file_end,
	    .symlink = k_symlink,
	    .dir_begin = k_dir_begin,
	    .entry_begin = k_entry_begin,
	    .entry_end = k_entry_end,
	    .dir_end = k_dir_end,
	};
}

/* Copies (or only hashes, when TMP is NULL) the tree SRC. */
static int copy_tree(struct store *s, const char *src, const char *tmp, struct added *a)
{
	struct hpipe *hp;
	struct nar_restorer *rs = NULL;
	struct nar_writer w;
	struct nar_tee tee;
	struct kick kick;
	int r;

	if ((r = hpipe_new(&hp)) != 0)
		return r;
	nar_writer_init(&w, &hp->sink);
	if (!tmp) {
		r = nar_walk(AT_FDCWD, src, &w.v);
	} else if (!(rs = malloc(sizeof(*rs)))) {
		r = err_set(ERR_NOMEM, "out of memory");
	} else {
		nar_restorer_init(rs, s->dirfd, tmp, NAR_CANONICAL);
		kick_init(&kick, rs);
		nar_tee_init(&tee, &w.v, &kick.v);
		r = nar_walk(AT_FDCWD, src, &tee.v);
		nar_restorer_release(rs);
		free(rs);
	}
	if (r == 0)
		hpipe_finish(hp, a->nar_hash, &a->nar_size);
	hpipe_free(hp);
	return r;
}

/* Copies (or only hashes, when TMP is NULL) the bytes of the file SRC,
 * computing both the hash of the bytes and that of the file's NAR. */
static int copy_flat(struct store *s, const char *src, const char *tmp, struct added *a)
{
	struct hpipe *hp = NULL;
	struct sha256 flat = {NULL};
	struct nar_writer w;
	unsigned char *buf = malloc(COPY_BUF);
	struct stat st;
	uint64_t left, kicked = 0;
	int in = -1, out = -1, r;

	if (!buf) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto out0;
	}
	if ((r = hpipe_new(&hp)) != 0)
		goto out0;
	if ((r = sha256_init(&flat)) != 0)
		goto out;
	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
		r = err_sys(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "cannot open '%s'", src);
		goto out;
	}
	if (fstat(in, &st) != 0) {
		r = err_sys(ERR_IO, "cannot stat '%s'", src);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = err_set(ERR_INVALID, "'%s' is not a regular file (--flat adds one file)", src);
		goto out;
	}
	posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (tmp) {
		out = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			     0444);
		if (out < 0) {
			r = err_sys(ERR_IO, "cannot create '%s/%s'", s->dir, tmp);
			goto out;
		}
	}
	nar_writer_init(&w, &hp->sink);
	if ((r = w.v.file_begin(w.v.ctx, false, (uint64_t)st.st_size)) != 0)
		goto out;
	for (left = (uint64_t)st.st_size; left;) {
		ssize_t got = read(in, buf, left < COPY_BUF ? (size_t)left : COPY_BUF);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = err_sys(ERR_IO, "cannot read '%s'", src);
			goto out;
		}
		if (got == 0) {
			r = err_set(ERR_IO, "'%s' shrank while being read", src);
			goto out;
		}
		sha256_update(&flat, buf, (size_t)got);
		if ((r = w.v.file_data(w.v.ctx, buf, (size_t)got)) != 0)
			goto out;
		if (out >= 0 && (r = write_all(out, buf, (size_t)got, tmp)) != 0)
			goto out;
		left -= (uint64_t)got;
		if ((uint64_t)st.st_size - left - kicked >= KICK_EVERY) {
			kick_range(out, kicked, (uint64_t)st.st_size - left);
			kicked = (uint64_t)st.st_size - left;
		}
	}
	if ((r = w.v.file_end(w.v.ctx)) != 0)
		goto out;
	if (out >= 0) {
		if (futimens(out, epoch1) != 0) {
			r = err_sys(ERR_IO, "cannot set the time of '%s/%s'", s->dir, tmp);
			goto out;
		}
		r = close(out);
		out = -1;
		if (r != 0) {
			r = err_sys(ERR_IO, "cannot write '%s/%s'", s->dir, tmp);
			goto out;
		}
	}
	sha256_final(&flat, a->flat_hash);
	hpipe_finish(hp, a->nar_hash, &a->nar_size);
	r = 0;
	goto out0;
out:
	sha256_release(&flat);
out0:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	free(buf);
	hpipe_free(hp);
	return r;
}

static int path_for(const char *store_dir, const char *name, unsigned flags, const struct added *a,
		    char **out)
{
	if (flags & STORE_ADD_FLAT)
		return storepath_fixed(store_dir, false, a->flat_hash, name, out);
	return storepath_source(store_dir, a->nar_hash, name, NULL, 0, false, out);
}

int store_path_of(const char *store_dir, const char *src, const char *name, unsigned flags,
		  char **out)
{
	struct added a;
	int r;

	*out = NULL;
	if ((r = storepath_check_name(name, strlen(name))) != 0)
		return err_prefix(r, "cannot add '%s'", src);
	r = (flags & STORE_ADD_FLAT) ? copy_flat(NULL, src, NULL, &a)
				     : copy_tree(NULL, src, NULL, &a);
	if (r != 0)
		return r;
	return path_for(store_dir, name, flags, &a, out);
}

static int temp_name(char out[32])
{
	uint8_t rnd[8];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return err_sys(ERR_INTERNAL, "getrandom");
	hash_to_base16(rnd, sizeof(rnd), out + strlen(TMP_PREFIX));
	memcpy(out, TMP_PREFIX, strlen(TMP_PREFIX));
	return 0;
}

static void lock_name(char *out, size_t n, const char *base, size_t len)
{
	snprintf(out, n, "%.*s" LOCK_SUFFIX, (int)len, base);
}

/* ---- staging: temporaries made valid together ------------------------ */

struct stage_item {
	char tmp[32];
	char lock[48];
	int lockfd;  /* held while the temporary exists */
	bool placed; /* renamed to its final name, not yet valid */
	bool done;   /* valid, or dropped because it already was */
};

struct store_stage {
	struct store *s;
	struct stage_item *items;
	size_t n, cap;
};

int store_dirfd(const struct store *s)
{
	return s->dirfd;
}

int store_stage_new(struct store *s, struct store_stage **out)
{
	struct store_stage *st = calloc(1, sizeof(*st));

	if (!st)
		return err_set(ERR_NOMEM, "out of memory");
	st->s = s;
	*out = st;
	return 0;
}

int store_stage_tmp(struct store_stage *st, const char **name)
{
	struct stage_item *it;
	int r;

	if (st->n == st->cap) {
		size_t cap = st->cap ? 2 * st->cap : 8;
		struct stage_item *v = realloc(st->items, cap * sizeof(*v));

		if (!v)
			return err_set(ERR_NOMEM, "out of memory");
		st->items = v;
		st->cap = cap;
	}
	it = &st->items[st->n];
	memset(it, 0, sizeof(*it));
	it->lockfd = -1;
	if ((r = temp_name(it->tmp)) != 0)
		return r;
	lock_name(it->lock, sizeof(it->lock), it->tmp, strlen(it->tmp));
	if ((r = lock_take(st->s, it->lock, true, true, &it->lockfd)) != 0)
		return r;
	st->n++;
	*name = it->tmp;
	return 0;
}

static const struct path_info *sort_infos;

static int cmp_by_path(const void *a, const void *b)
{
	return strcmp(sort_infos[*(const size_t *)a].path, sort_infos[*(const size_t *)b].path);
}

int store_stage_commit(struct store_stage *st, const struct path_info *infos, size_t n)
{
	struct store *s = st->s;
	size_t *order = NULL, nreg = 0;
	struct path_info *reg = NULL;
	int *pathfd = NULL;
	char(*pathlock)[48] = NULL;
	int r = 0, valid;

	if (n != st->n)
		return err_set(ERR_INTERNAL, "store stage: %zu infos for %zu temporaries", n,
			       st->n);
	if (n == 0)
		return 0;
	order = malloc(n * sizeof(*order));
	pathfd = malloc(n * sizeof(*pathfd));
	pathlock = malloc(n * sizeof(*pathlock));
	reg = malloc(n * sizeof(*reg));
	if (!order || !pathfd || !pathlock || !reg) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		order[i] = i;
		pathfd[i] = -1;
		if ((r = storepath_check(s->dir, infos[i].path)) != 0)
			goto out;
	}
	/* Path locks in one global order, so that two batches cannot deadlock. */
	sort_infos = infos;
	qsort(order, n, sizeof(*order), cmp_by_path);
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k];
		struct stage_item *it = &st->items[i];
		const char *base = storepath_base(infos[i].path);

		if (k > 0 && !strcmp(infos[order[k - 1]].path, infos[i].path)) {
			it->done = true; /* the same item twice in one batch */
			continue;
		}
		lock_name(pathlock[i], sizeof(pathlock[i]), base, PATH_HASH_NIX32_LEN);
		if ((r = lock_take(s, pathlock[i], true, true, &pathfd[i])) != 0)
			goto fail;
		if ((valid = db_is_valid(s->db, infos[i].path)) < 0) {
			r = valid;
			goto fail;
		}
		if (valid) {
			it->done = true;
			continue;
		}
		/* An unregistered leftover of a crashed add or delete. */
		if ((r = rm_rf_at(s->dirfd, base)) != 0)
			goto fail;
		if (renameat2(s->dirfd, it->tmp, s->dirfd, base, RENAME_NOREPLACE) != 0) {
			r = err_sys(ERR_IO, "cannot rename '%s/%s' to '%s'", s->dir, it->tmp,
				    infos[i].path);
			goto fail;
		}
		it->placed = true;
		lock_drop(s, it->lock, &it->lockfd);
		reg[nreg++] = infos[i];
	}
	db_test_point("renamed");
	/* One syncfs makes every file and every rename durable at once. */
	if (nreg && syncfs(s->dirfd) != 0) {
		r = err_sys(ERR_IO, "cannot sync the file system of '%s'", s->dir);
		goto fail;
	}
	db_test_point("synced");
	if (nreg && (r = db_register(s->db, reg, nreg)) != 0)
		goto fail;
	db_test_point("registered");
	for (size_t i = 0; i < n; i++) {
		st->items[i].placed = false;
		st->items[i].done = true;
	}
	goto out;
fail : {
	char saved[2048];

	/* Still under our path locks and not valid: ours to remove. */
	snprintf(saved, sizeof(saved), "%s", err_msg());
	for (size_t i = 0; i < n; i++)
		if (st->items[i].placed) {
			rm_rf_at(s->dirfd, storepath_base(infos[i].path));
			st->items[i].placed = false;
		}
	err_set(r, "%s", saved);
}
out:
	if (pathfd)
		for (size_t i = 0; i < n; i++)
			if (pathfd[i] >= 0)
				lock_drop(s, pathlock[i], &pathfd[i]);
	free(order);
	free(pathfd);
	free(pathlock);
	free(reg);
	return r;
}

void store_stage_free(struct store_stage *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++) {
		struct stage_item *it = &st->items[i];

		if (it->lockfd >= 0) {
			if (!it->placed)
				rm_rf_at(st->s->dirfd, it->tmp);
			lock_drop(st->s, it->lock, &it->lockfd);
		}
	}
	free(st->items);
	free(st);
}

/* ---- hasher and restorer for archive import (see store.h) ------------ */

struct store_hasher {
	struct hpipe *hp;
};

int store_hasher_new(struct store_hasher **out, struct sink **sink)
{
	struct store_hasher *h = calloc(1, sizeof(*h));
	int r;

	*out = NULL;
	if (!h)
		return err_set(ERR_NOMEM, "out of memory");
	if ((r = hpipe_new(&h->hp)) != 0) {
		free(h);
		return r;
	}
	*sink = &h->hp->sink;
	*out = h;
	return 0;
}

void store_hasher_finish(struct store_hasher *h, uint8_t digest[SHA256_LEN], uint64_t *size)
{
	hpipe_finish(h->hp, digest, size);
}

void store_hasher_free(struct store_hasher *h)
{
	if (!h)
		return;
	hpipe_free(h->hp);
	free(h);
}

struct store_restorer {
	struct nar_restorer rs;
	struct kick kick;
};

int store_restorer_new(struct store *s, const char *tmp, struct store_restorer **out,
		       const struct nar_visitor **v)
{
	struct store_restorer *r = malloc(sizeof(*r));

	*out = NULL;
	if (!r)
		return err_set(ERR_NOMEM, "out of memory");
	nar_restorer_init(&r->rs, s->dirfd, tmp, NAR_CANONICAL);
	kick_init(&r->kick, &r->rs);
	*v = &r->kick.v;
	*out = r;
	return 0;
}

void store_restorer_free(struct store_restorer *r)
{
	if (!r)
		return;
	nar_restorer_release(&r->rs);
	free(r);
}

/* Commits one item, staged in ST, described by PI; sets *OUT to its path. */
static int commit_one(struct store_stage *st, struct path_info *pi, char **out)
{
	int r = store_stage_commit(st, pi, 1);

	if (r == 0) {
		*out = pi->path;
		pi->path = NULL;
	}
	return r;
}

int store_add(struct store *s, const char *src, const char *name, unsigned flags, char **out)
{
	struct path_info pi = PATH_INFO_INIT;
	struct store_stage *st = NULL;
	char ca[32 + SHA256_NIX32_LEN];
	const char *tmp;
	struct added a;
	int r;

	*out = NULL;
	if ((r = storepath_check_name(name, strlen(name))) != 0)
		return err_prefix(r, "cannot add '%s'", src);
	if ((r = store_stage_new(s, &st)) != 0 || (r = store_stage_tmp(st, &tmp)) != 0)
		goto out;
	r = (flags & STORE_ADD_FLAT) ? copy_flat(s, src, tmp, &a) : copy_tree(s, src, tmp, &a);
	if (r != 0)
		goto out;
	db_test_point("copied");
	if ((r = path_for(s->dir, name, flags, &a, &pi.path)) != 0)
		goto out;
	memcpy(pi.nar_hash, a.nar_hash, SHA256_LEN);
	pi.nar_size = a.nar_size;
	if (flags & STORE_ADD_FLAT) {
		memcpy(ca, "fixed:sha256:", 13);
		hash_to_nix32(a.flat_hash, SHA256_LEN, ca + 13);
	} else {
		memcpy(ca, "fixed:r:sha256:", 15);
		hash_to_nix32(a.nar_hash, SHA256_LEN, ca + 15);
	}
	if (!(pi.ca = strdup(ca))) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	r = commit_one(st, &pi, out);
out:
	store_stage_free(st);
	path_info_release(&pi);
	return r;
}

int store_add_text(struct store *s, const char *name, const void *data, size_t len,
		   const char *const *refs, size_t nrefs, char **out)
{
	struct path_info pi = PATH_INFO_INIT;
	struct store_stage *st = NULL;
	struct hash_sink hs;
	struct nar_writer w;
	uint8_t h[SHA256_LEN];
	char ca[32 + SHA256_NIX32_LEN];
	const char *tmp;
	int fd = -1, r;

	*out = NULL;
	if ((r = sha256_buf(data, len, h)) != 0 ||
	    (r = storepath_text(s->dir, h, name, refs, nrefs, &pi.path)) != 0)
		return err_prefix(r, "cannot add text '%s'", name);
	for (size_t i = 0; i < nrefs; i++)
		if ((r = storepath_check(s->dir, refs[i])) != 0 ||
		    (r = db_list_push(&pi.refs, refs[i])) != 0)
			goto out;
	memcpy(ca, "text:sha256:", 12);
	hash_to_nix32(h, SHA256_LEN, ca + 12);
	if (!(pi.ca = strdup(ca))) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((r = hash_sink_init(&hs)) != 0)
		goto out;
	nar_writer_init(&w, &hs.sink);
	w.v.file_begin(w.v.ctx, false, len);
	w.v.file_data(w.v.ctx, data, len);
	w.v.file_end(w.v.ctx);
	hash_sink_finish(&hs, pi.nar_hash);
	pi.nar_size = hs.size;
	if ((r = db_is_valid(s->db, pi.path)) != 0) {
		if (r > 0) { /* nothing to write */
			*out = pi.path;
			pi.path = NULL;
			r = 0;
		}
		goto out;
	}
	if ((r = store_stage_new(s, &st)) != 0 || (r = store_stage_tmp(st, &tmp)) != 0)
		goto out;
	fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
	if (fd < 0) {
		r = err_sys(ERR_IO, "cannot create '%s/%s'", s->dir, tmp);
		goto out;
	}
	if ((r = write_all(fd, data, len, tmp)) != 0)
		goto out;
	if (futimens(fd, epoch1) != 0) {
		r = err_sys(ERR_IO, "cannot set the time of '%s/%s'", s->dir, tmp);
		goto out;
	}
	r = close(fd);
	fd = -1;
	if (r != 0) {
		r = err_sys(ERR_IO, "cannot write '%s/%s'", s->dir, tmp);
		goto out;
	}
	r = commit_one(st, &pi, out);
out:
	if (fd >= 0)
		close(fd);
	store_stage_free(st);
	path_info_release(&pi);
	return r;
}

/* ---- verify, delete, gc ---------------------------------------------- */

int store_verify(struct store *s, const char *path, bool check_contents)
{
	struct path_info pi = PATH_INFO_INIT;
	struct stat st;
	uint8_t h[SHA256_LEN];
	uint64_t size;
	int r;

	if ((r = store_check_path(s, path)) != 0 || (r = db_query_info(s->db, path, &pi)) != 0)
		goto out;
	if (fstatat(s->dirfd, storepath_base(path), &st, AT_SYMLINK_NOFOLLOW) != 0) {
		r = errno == ENOENT
			? err_set(ERR_NOTFOUND, "'%s': valid, but its files are missing", path)
			: err_sys(ERR_IO, "cannot stat '%s'", path);
		goto out;
	}
	if (!check_contents)
		goto out;
	if ((r = nar_hash_path(s->dirfd, storepath_base(path), h, &size)) != 0) {
		r = err_prefix(r, "'%s'", path);
		goto out;
	}
	if (memcmp(h, pi.nar_hash, SHA256_LEN) != 0 || size != pi.nar_size) {
		char want[SHA256_NIX32_LEN + 1], got[SHA256_NIX32_LEN + 1];

		hash_to_nix32(pi.nar_hash, SHA256_LEN, want);
		hash_to_nix32(h, SHA256_LEN, got);
		r = err_set(ERR_MISMATCH,
			    "'%s': contents changed: expected NAR sha256:%s (%llu bytes), got "
			    "sha256:%s (%llu bytes)",
			    path, want, (unsigned long long)pi.nar_size, got,
			    (unsigned long long)size);
	}
out:
	path_info_release(&pi);
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Refuses to delete any of the M sorted paths that a live process lists
 * as a temporary root ($YONDER_STATE_DIR/temproots/PID, a path per line:
 * `yonder serve` names there what it imported and what its builds use). */
static int check_temproots(struct store *s, const char *const *sorted, size_t m)
{
	char dir[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int r = 0;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/temproots", store_state_path(s)) >=
	    sizeof(dir) - 32)
		return err_set(ERR_TOOBIG, "state directory %s: name too long",
			       store_state_path(s));
	if (!(d = opendir(dir)))
		return errno == ENOENT ? 0 : err_sys(ERR_IO, "cannot list '%s'", dir);
	while (r == 0 && (e = readdir(d)) != NULL) {
		char *end, file[PATH_MAX + 300], *line = NULL;
		long pid = strtol(e->d_name, &end, 10);
		size_t cap = 0;
		ssize_t len;
		FILE *f;
		int fd;

		if (e->d_name[0] == '.' || *end || pid <= 0 ||
		    (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
			continue; /* not a root file, or its process is gone */
		snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
		if ((fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			continue; /* removed meanwhile: its process ended */
		if (!(f = fdopen(fd, "r"))) {
			close(fd);
			r = err_sys(ERR_IO, "cannot read the temporary roots in '%s'", file);
			break;
		}
		/* A line at a time: a root file may be long. */
		errno = 0;
		while (r == 0 && (len = getline(&line, &cap, f)) > 0) {
			if (line[len - 1] == '\n')
				line[len - 1] = '\0';
			if (bsearch(&line, sorted, m, sizeof(*sorted), cmp_str))
				r = err_set(ERR_REFERENCED,
					    "cannot delete '%s': process %ld uses it (a temporary "
					    "root in %s)",
					    line, pid, file);
		}
		/* Unsure what is rooted: delete nothing. */
		if (r == 0 && ferror(f))
			r = err_sys(ERR_IO, "cannot read the temporary roots in '%s'", file);
		free(line);
		fclose(f);
	}
	closedir(d);
	return r;
}

int store_delete(struct store *s, const char *const *paths, size_t n)
{
	const char **sorted = NULL;
	int *fds = NULL, r = 0;
	size_t m = 0;
	char name[48];

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((r = store_check_path(s, paths[i])) != 0)
			return r;
	sorted = malloc(n * sizeof(*sorted));
	fds = malloc(n * sizeof(*fds));
	if (!sorted || !fds) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(sorted, paths, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_str);
	for (size_t i = 0; i < n; i++)
		if (m == 0 || strcmp(sorted[m - 1], sorted[i]) != 0)
			sorted[m++] = sorted[i];
	for (size_t i = 0; i < m; i++)
		fds[i] = -1;
	/* Locks in sorted order, so that two deleters cannot deadlock. */
	for (size_t i = 0; i < m; i++) {
		lock_name(name, sizeof(name), storepath_base(sorted[i]), PATH_HASH_NIX32_LEN);
		if ((r = lock_take(s, name, true, true, &fds[i])) != 0)
			goto out;
	}
	if ((r = check_temproots(s, sorted, m)) != 0 || (r = db_delete(s->db, sorted, m)) != 0)
		goto out;
	for (size_t i = 0; i < m && r == 0; i++)
		if ((r = rm_rf_at(s->dirfd, storepath_base(sorted[i]))) != 0)
			r = err_prefix(r, "deleting '%s'", sorted[i]);
out:
	for (size_t i = 0; fds && i < m; i++) {
		lock_name(name, sizeof(name), storepath_base(sorted[i]), PATH_HASH_NIX32_LEN);
		lock_drop(s, name, &fds[i]);
	}
	free(fds);
	free(sorted);
	return r;
}

/* Lists the entries of the directory FD (not "." and ".."), sorted. */
static int list_dir(int fd, const char *what, struct db_list *out)
{
	int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *e;
	DIR *d;
	int r = 0;

	if (dup_fd < 0 || !(d = fdopendir(dup_fd))) {
		r = err_sys(ERR_IO, "cannot list '%s'", what);
		if (dup_fd >= 0)
			close(dup_fd);
		return r;
	}
	while ((e = readdir(d)) != NULL && r == 0)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			r = db_list_push(out, e->d_name);
	closedir(d);
	if (r == 0 && out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_str);
	return r;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

int store_gc(struct store *s, struct db_list *removed)
{
	struct db_list names = DB_LIST_INIT, locks = DB_LIST_INIT;
	struct buf full = BUF_INIT(8192);
	char name[300];
	int r, fd;

	if ((r = list_dir(s->dirfd, s->dir, &names)) != 0)
		goto out;
	for (size_t i = 0; i < names.n; i++) {
		const char *e = names.v[i];
		size_t lock_len;
		int v;

		buf_reset(&full);
		if ((r = buf_printf(&full, "%s/%s", s->dir, e)) != 0)
			goto out;
		if (!strncmp(e, TMP_PREFIX, strlen(TMP_PREFIX))) {
			lock_len = strlen(e);
			if (lock_len + sizeof(LOCK_SUFFIX) > sizeof(name))
				continue; /* not one of our names */
		} else if (storepath_check(s->dir, full.data) == 0) {
			if ((v = db_is_valid(s->db, full.data)) != 0) {
				if (v < 0) {
					r = v;
					goto out;
				}
				continue;
			}
			lock_len = PATH_HASH_NIX32_LEN;
		} else {
			continue; /* not ours */
		}
		lock_name(name, sizeof(name), e, lock_len);
		if ((v = lock_take(s, name, false, true, &fd)) != 0) {
			if (v < 0) {
				r = v;
				goto out;
			}
			continue; /* busy: a live add or delete */
		}
		/* Under the path lock, validity cannot change under us. */
		v = lock_len == PATH_HASH_NIX32_LEN ? db_is_valid(s->db, full.data) : 0;
		if (v == 0 && (v = rm_rf_at(s->dirfd, e)) == 0)
			v = db_list_push(removed, full.data);
		lock_drop(s, name, &fd);
		if (v < 0) {
			r = v;
			goto out;
		}
	}
	/* Lock files left by killed processes. */
	if ((r = list_dir(s->lockfd, "locks", &locks)) != 0)
		goto out;
	for (size_t i = 0; i < locks.n; i++) {
		if (!has_suffix(locks.v[i], LOCK_SUFFIX))
			continue;
		if ((r = lock_take(s, locks.v[i], false, false, &fd)) < 0)
			goto out;
		if (r == 0)
			lock_drop(s, locks.v[i], &fd);
		r = 0;
	}
out:
	buf_release(&full);
	db_list_release(&names);
	db_list_release(&locks);
	return r;
}

/* ---- path locks for builders (builder.c, engine.c) -------------------- */

int store_path_lock(struct store *s, const char *path, bool wait, int *fd)
{
	char name[48];
	int r;

	*fd = -1;
	if ((r = store_check_path(s, path)) != 0)
		return r;
	lock_name(name, sizeof(name), storepath_base(path), PATH_HASH_NIX32_LEN);
	return lock_take(s, name, wait, true, fd);
}

void store_path_unlock(struct store *s, const char *path, int *fd)
{
	char name[48];

	if (*fd < 0)
		return;
	lock_name(name, sizeof(name), storepath_base(path), PATH_HASH_NIX32_LEN);
	lock_drop(s, name, fd);
}

const char *store_state_path(const struct store *s)
{
	return s->state;
}

int store_lock_dirfd(const struct store *s)
{
	return s->lockfd;
}
