/* remote.c — libssh sessions and channels to build machines. */
#include "remote.h"

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <libssh/libssh.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "archive.h"
#include "err.h"
#include "io.h"
#include "machines.h"
#include "pki.h"
#include "store.h"

#define CIPHERS                                                                                    \
	"aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,"             \
	"aes128-ctr,aes256-ctr"

struct remote {
	const struct machine *m;
	ssh_session s;
	char name[600];
	char host_key[300];
	const char *command;
	int io_timeout_ms;
	/* An I/O error or a timeout happened: the socket is shut down, so
	 * that nothing libssh does later (closing a channel, disconnecting)
	 * can block on a dead link; the session is only freed. */
	bool broken;
};

struct remote_chan {
	struct remote *r;
	ssh_channel ch;
	struct proto_decoder dec;
	struct proto_welcome w;
	bool have_welcome;
	struct buf err; /* the last bytes of the command's standard error */
	int64_t open_ms;
	unsigned char tmp[65536];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "ssh-ed25519 SHA256:…" into OUT. */
static void key_desc(ssh_key k, char *out, size_t size)
{
	unsigned char *h = NULL;
	size_t hlen = 0;
	char *fp = NULL;

	snprintf(out, size, "%s (no fingerprint)", ssh_key_type_to_char(ssh_key_type(k)));
	if (ssh_get_publickey_hash(k, SSH_PUBLICKEY_HASH_SHA256, &h, &hlen) == 0 &&
	    (fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, h, hlen)) != NULL)
		snprintf(out, size, "%s %s", ssh_key_type_to_char(ssh_key_type(k)), fp);
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&h);
}

/* Checks the server's key K against the machine's host-key line. */
static int check_host_key_line(struct remote *r, ssh_key k)
{
	const struct machine *m = r->m;
	char type[128], want[300];
	const char *sp = strchr(m->host_key, ' ');
	char *b64 = NULL;
	ssh_key exp = NULL;
	int rc;

	if (!sp || (size_t)(sp - m->host_key) >= sizeof(type))
		return err_set(ERR_INVALID, "%s: host-key '%s' is not an OpenSSH public-key line",
			       r->name, m->host_key);
	memcpy(type, m->host_key, (size_t)(sp - m->host_key));
	type[sp - m->host_key] = 0;
	while (*sp == ' ' || *sp == '\t')
		sp++;
	if (!(b64 = strndup(sp, strcspn(sp, " \t"))))
		return err_set(ERR_NOMEM, "out of memory");
	if (ssh_pki_import_pubkey_base64(b64, ssh_key_type_from_name(type), &exp) != SSH_OK) {
		free(b64);
		return err_set(ERR_INVALID, "%s: cannot read its host-key '%s' (%s:%u:%u)", r->name,
			       m->host_key, m->file, m->line, m->col);
	}
	free(b64);
	rc = 0;
	if (ssh_key_cmp(k, exp, SSH_KEY_CMP_PUBLIC) != 0) {
		key_desc(exp, want, sizeof(want));
		rc = err_set(ERR_MISMATCH,
			     "%s: host key mismatch: it offered %s, expected %s (the host-key of "
			     "the machine at %s:%u:%u); refusing the machine",
			     r->name, r->host_key, want, m->file, m->line, m->col);
	}
	ssh_key_free(exp);
	return rc;
}

static int check_known_hosts(struct remote *r, const char *file)
{
	struct ssh_knownhosts_entry *e = NULL;
	enum ssh_known_hosts_e st;
	char want[300] = "";
	int rc = 0;

	st = ssh_session_get_known_hosts_entry(r->s, &e);
	if (e && e->publickey)
		key_desc(e->publickey, want, sizeof(want));
	switch (st) {
	case SSH_KNOWN_HOSTS_OK: break;
	case SSH_KNOWN_HOSTS_CHANGED:
	case SSH_KNOWN_HOSTS_OTHER:
		rc = err_set(ERR_MISMATCH,
			     "%s: host key mismatch: it offered %s, expected %s (from %s); "
			     "refusing the machine",
			     r->name, r->host_key, want[0] ? want : "another key type", file);
		break;
	case SSH_KNOWN_HOSTS_UNKNOWN:
	case SSH_KNOWN_HOSTS_NOT_FOUND:
		rc = err_set(ERR_NOTFOUND,
			     "%s: unknown host key: it offered %s, and neither the machine's "
			     "host-key nor %s names a key for it; refusing the machine (keys "
			     "are never trusted on first use)",
			     r->name, r->host_key, file);
		break;
	default:
		rc = err_set(ERR_IO, "%s: cannot check its host key against %s: %s", r->name, file,
			     ssh_get_error(r->s));
	}
	SSH_KNOWNHOSTS_ENTRY_FREE(e);
	return rc;
}

int remote_connect(struct remote **out, const struct machine *m, const struct remote_opts *o)
{
	struct remote *r = calloc(1, sizeof(*r));
	ssh_key k = NULL, priv = NULL;
	char kh[4096];
	const char *home;
	int port = (int)m->port, rc;
	long secs, usecs;
	bool no = false;
	int nodelay = 1;

	*out = NULL;
	if (!r || !(r->s = ssh_new())) {
		free(r);
		return err_set(ERR_NOMEM, "out of memory");
	}
	/* Writing to a connection the peer closed (or remote_abort shut
	 * down) must fail, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	r->m = m;
	r->command = o && o->command ? o->command : REMOTE_COMMAND;
	r->io_timeout_ms = o && o->io_timeout_ms > 0 ? o->io_timeout_ms : REMOTE_IO_TIMEOUT_MS;
	if (m->port == 22)
		snprintf(r->name, sizeof(r->name), "%s@%s", m->user, m->name);
	else
		snprintf(r->name, sizeof(r->name), "%s@%s:%u", m->user, m->name, m->port);
	if (o && o->known_hosts)
		snprintf(kh, sizeof(kh), "%s", o->known_hosts);
	else if ((home = getenv("HOME")) && home[0] == '/')
		snprintf(kh, sizeof(kh), "%s/.ssh/known_hosts", home);
	else
		snprintf(kh, sizeof(kh), "~/.ssh/known_hosts");
	secs = (long)m->connect_timeout;
	usecs = (long)((m->connect_timeout - (double)secs) * 1e6);
	if (ssh_options_set(r->s, SSH_OPTIONS_HOST, m->name) < 0 ||
	    ssh_options_set(r->s, SSH_OPTIONS_PORT, &port) < 0 ||
	    ssh_options_set(r->s, SSH_OPTIONS_USER, m->user) < 0 ||
	    ssh_options_set(r->s, SSH_OPTIONS_PROCESS_CONFIG, &no) < 0 ||
	    /* Requests are small and answered at once: no Nagle delay. */
	    ssh_options_set(r->s, SSH_OPTIONS_NODELAY, &nodelay) < 0 ||
	    ssh_options_set(r->s, SSH_OPTIONS_KNOWNHOSTS, kh) < 0 ||
	    ssh_options_set(r->s, SSH_OPTIONS_TIMEOUT, &secs) < 0 ||
	    ssh_options_set(r->s, SSH_OPTIONS_TIMEOUT_USEC, &usecs) < 0 ||
	    /* AES-GCM first: with AES instructions it moves bulk uploads
	     * faster and with less CPU than chacha20-poly1305 (bench/). */
	    ssh_options_set(r->s, SSH_OPTIONS_CIPHERS_C_S, CIPHERS) < 0 ||
	    ssh_options_set(r->s, SSH_OPTIONS_CIPHERS_S_C, CIPHERS) < 0) {
		rc = err_set(ERR_INVALID, "%s: %s", r->name, ssh_get_error(r->s));
		goto fail;
	}
	if (ssh_connect(r->s) != SSH_OK) {
		rc = err_set(ERR_IO, "cannot connect to %s: %s", r->name, ssh_get_error(r->s));
		goto fail;
	}
	{
		/* Data sent and not acknowledged for this long (a link cut
		 * while we send) fails the socket, and so every libssh call
		 * blocked on it: libssh's own timeouts apply per wait and
		 * may add up. */
		unsigned ut = (unsigned)(r->io_timeout_ms > 10000 ? r->io_timeout_ms - 5000
								  : r->io_timeout_ms);
		int fd = ssh_get_fd(r->s);

		if (fd >= 0)
			setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof(ut));
	}
	if (ssh_get_server_publickey(r->s, &k) != SSH_OK) {
		rc = err_set(ERR_IO, "%s: no host key: %s", r->name, ssh_get_error(r->s));
		goto fail;
	}
	key_desc(k, r->host_key, sizeof(r->host_key));
	rc = m->host_key ? check_host_key_line(r, k) : check_known_hosts(r, kh);
	ssh_key_free(k);
	if (rc != 0)
		goto fail;
	if (ssh_pki_import_privkey_file(m->private_key, NULL, NULL, NULL, &priv) != SSH_OK) {
		rc = err_set(ERR_INVALID, "%s: cannot read the private key %s", r->name,
			     m->private_key);
		goto fail;
	}
	rc = ssh_userauth_publickey(r->s, NULL, priv);
	ssh_key_free(priv);
	if (rc != SSH_AUTH_SUCCESS) {
		rc = err_set(rc == SSH_AUTH_ERROR ? ERR_IO : ERR_INVALID,
			     "%s refused our key %s: %s", r->name, m->private_key,
			     rc == SSH_AUTH_ERROR ? ssh_get_error(r->s)
						  : "public-key authentication denied");
		goto fail;
	}
	/* From now on the timeout bounds every blocking read and write. */
	secs = r->io_timeout_ms / 1000;
	usecs = (r->io_timeout_ms % 1000) * 1000;
	ssh_options_set(r->s, SSH_OPTIONS_TIMEOUT, &secs);
	ssh_options_set(r->s, SSH_OPTIONS_TIMEOUT_USEC, &usecs);
	*out = r;
	return 0;
fail:
	remote_free(r);
	return rc;
}

void remote_free(struct remote *r)
{
	if (!r)
		return;
	if (!r->broken && ssh_is_connected(r->s))
		ssh_disconnect(r->s);
	ssh_free(r->s);
	free(r);
}

const char *remote_name(const struct remote *r)
{
	return r->name;
}

const char *remote_host_key(const struct remote *r)
{
	return r->host_key;
}

bool remote_connected(const struct remote *r)
{
	return !r->broken && ssh_is_connected(r->s) != 0;
}

/* The connection failed: no more I/O on it (libssh would flush what it
 * still holds, for its whole timeout per packet, on a link that is gone). */
static void set_broken(struct remote *r)
{
	int fd = ssh_get_fd(r->s);

	r->broken = true;
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

/* ERR_IO with a message, the session marked broken. */
#define LOST(r, ...) (set_broken(r), err_set(ERR_IO, __VA_ARGS__))

int remote_keepalive(struct remote *r)
{
	int fd = ssh_get_fd(r->s), soerr = 0;
	socklen_t len = sizeof(soerr);
	struct pollfd p;

	if (!remote_connected(r))
		return LOST(r, "connection to %s lost", r->name);
	if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr)
		return LOST(r, "connection to %s lost: %s", r->name, strerror(soerr));
	p = (struct pollfd){.fd = fd, .events = 0};
	if (fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)))
		return LOST(r, "connection to %s lost (idle, found by a keepalive)", r->name);
	if (ssh_send_ignore(r->s, "") != SSH_OK)
		return LOST(r, "connection to %s lost: %s", r->name, ssh_get_error(r->s));
	return 0;
}

void remote_abort(struct remote *r)
{
	int fd = ssh_get_fd(r->s);

	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

/* Keeps the last 4 KiB of the command's standard error, for messages. */
static void drain_stderr(struct remote_chan *c)
{
	char b[4096];
	int n;

	while ((n = ssh_channel_read_nonblocking(c->ch, b, sizeof(b), 1)) > 0) {
		if (c->err.len + (size_t)n > 4096)
			buf_reset(&c->err);
		buf_put(&c->err, b, (size_t)n);
	}
}

/* The command ended before or during the conversation: say why. */
static int ended(struct remote_chan *c)
{
	int st;
	char *e;

	drain_stderr(c);
	st = ssh_channel_get_exit_status(c->ch);
	e = c->err.data ? c->err.data : "";
	while (c->err.len > 0 && (e[c->err.len - 1] == '\n' || e[c->err.len - 1] == '\r'))
		e[--c->err.len] = 0;
	if (!c->have_welcome && st == 127)
		return err_set(ERR_NOTFOUND,
			       "yonder is not on the PATH of %s ('%s' exited with status 127%s%s)",
			       c->r->name, c->r->command, e[0] ? ": " : "", e);
	return err_set(ERR_TRUNCATED, "%s: '%s' ended (exit status %d)%s%s", c->r->name,
		       c->r->command, st, e[0] ? ": " : "", e);
}

/* The decoder refused what came (its message names the machine).  Before
 * the welcome, that is something else speaking first: say what to check. */
static int undecodable(struct remote_chan *c, int r)
{
	char what[1024];

	if (c->have_welcome)
		return r;
	snprintf(what, sizeof(what), "%s", err_msg());
	return err_set(r,
		       "%s: what '%s' sent is not yonder's protocol (%s); does a shell startup "
		       "file there (such as ~/.bashrc) print text even when there is no terminal?",
		       c->r->name, c->r->command, what);
}

int remote_recv(struct remote_chan *c, struct proto_frame *f)
{
	int r, n;
	size_t want;

	for (;;) {
		while ((r = proto_decoder_next(&c->dec, f)) == 1) {
			if (f->op == PROTO_R_PING)
				continue;
			return 1;
		}
		if (r < 0)
			return undecodable(c, r);
		want = proto_decoder_want(&c->dec);
		if (want > sizeof(c->tmp))
			want = sizeof(c->tmp);
		/* Short polls, so that the end of the command (which libssh
		 * may not wake a long read for) is seen at once. */
		for (int64_t deadline = now_ms() + c->r->io_timeout_ms;;) {
			int p = ssh_channel_poll_timeout(c->ch, 200, 0);

			if (p == SSH_ERROR || !ssh_is_connected(c->r->s))
				return LOST(c->r, "connection to %s lost: %s", c->r->name,
					    ssh_get_error(c->r->s));
			if (p > 0) {
				n = ssh_channel_read_nonblocking(c->ch, c->tmp, (uint32_t)want, 0);
				if (n == SSH_ERROR)
					return LOST(c->r, "connection to %s lost: %s", c->r->name,
						    ssh_get_error(c->r->s));
				if (n > 0)
					break;
			}
			drain_stderr(c);
			if (p == SSH_EOF || ssh_channel_is_eof(c->ch) ||
			    ssh_channel_is_closed(c->ch))
				return ended(c);
			if (now_ms() >= deadline)
				return LOST(c->r,
					    "connection to %s lost: nothing received for %d ms",
					    c->r->name, c->r->io_timeout_ms);
		}
		for (size_t off = 0, used; off < (size_t)n; off += used) {
			if ((r = proto_decoder_feed(&c->dec, c->tmp + off, (size_t)n - off,
						    &used)) != 0)
				return undecodable(c, r);
			if (used == 0)
				break; /* cannot happen: we read at most what the frame wants */
		}
	}
}

int remote_pending(struct remote_chan *c)
{
	return ssh_channel_poll(c->ch, 0) > 0 ? 1 : 0;
}

static int chan_write(struct remote_chan *c, const void *p, size_t n)
{
	const char *q = p;

	while (n > 0) {
		uint32_t k = n > (1u << 20) ? (1u << 20) : (uint32_t)n;
		int w = ssh_channel_write(c->ch, q, k);

		/* The command there ended (yonder missing, or it failed):
		 * its exit status and standard error say why, and the
		 * connection itself is fine.  (A channel closed by the
		 * other side with standard error still unread is not yet
		 * "closed" for libssh: before the welcome, a failed write
		 * on a live connection means that.) */
		if (w == SSH_ERROR && ssh_is_connected(c->r->s) &&
		    (!c->have_welcome || ssh_channel_is_closed(c->ch) || ssh_channel_is_eof(c->ch)))
			return ended(c);
		if (w == SSH_ERROR || !ssh_is_connected(c->r->s))
			return LOST(c->r, "connection to %s lost while sending: %s", c->r->name,
				    ssh_get_error(c->r->s));
		if (w == 0)
			return LOST(c->r, "connection to %s lost: nothing could be sent for %d ms",
				    c->r->name, c->r->io_timeout_ms);
		q += w;
		n -= (size_t)w;
	}
	return 0;
}

int remote_send(struct remote_chan *c, struct buf *b)
{
	int r = chan_write(c, b->data, b->len);

	buf_reset(b);
	return r;
}

int remote_send_fd(struct remote_chan *c, uint32_t id, int fd, uint64_t *sent)
{
	/* Not static: every slot of every machine uploads from its thread. */
	enum { CHUNK = 256 * 1024 };
	unsigned char *chunk = malloc(CHUNK);
	struct buf b = BUF_INIT(PROTO_FRAME_MAX + PROTO_HDR_LEN);
	bool stop = false;
	int r = 0;

	*sent = 0;
	if (!chunk) {
		r = err_set(ERR_NOMEM, "out of memory");
		goto drain;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = err_sys(ERR_IO, "reading the archive for %s", c->r->name);
			break;
		}
		if (stop) {
			if (n == 0)
				break;
			continue;
		}
		if ((r = proto_put_frame(&b, PROTO_DATA, n == 0 ? PROTO_F_END : 0, id, chunk,
					 (size_t)n)) != 0 ||
		    (r = remote_send(c, &b)) != 0)
			break;
		*sent += (uint64_t)n;
		if (n == 0)
			break;
		if (remote_pending(c))
			stop = true; /* the peer answered early: an error */
	}
drain:
	buf_release(&b);
	if (r != 0) {
		/* Let the writer end: read and discard the rest. */
		char tmp[4096];

		while (read(fd, tmp, sizeof(tmp)) > 0)
			;
	}
	free(chunk);
	return r != 0 ? r : stop ? 1 : 0;
}

int remote_open(struct remote *r, const char *store_dir, struct remote_chan **out)
{
	struct remote_chan *c = calloc(1, sizeof(*c));
	struct proto_hello h = {PROTO_VERSION, "yonder " YONDER_VERSION, NULL, 0};
	struct buf b = BUF_INIT(PROTO_FRAME_MAX + PROTO_HDR_LEN);
	struct proto_frame f;
	int64_t t0 = now_ms();
	int rc;

	*out = NULL;
	if (!c)
		return err_set(ERR_NOMEM, "out of memory");
	c->r = r;
	buf_init(&c->err, 8192);
	proto_decoder_init(&c->dec, r->name, 0);
	if (!(c->ch = ssh_channel_new(r->s)) || ssh_channel_open_session(c->ch) != SSH_OK) {
		rc = LOST(r, "%s: cannot open a channel: %s", r->name, ssh_get_error(r->s));
		goto fail;
	}
	if (ssh_channel_request_exec(c->ch, r->command) != SSH_OK) {
		rc = err_set(ERR_IO, "%s: cannot run '%s': %s", r->name, r->command,
			     ssh_get_error(r->s));
		goto fail;
	}
	if ((rc = proto_hello_put(&b, &h)) != 0 || (rc = remote_send(c, &b)) != 0)
		goto fail;
	if ((rc = remote_recv(c, &f)) < 0)
		goto fail;
	if (f.op == PROTO_ERROR) {
		int code;
		char *msg;

		if ((rc = proto_error_get(&f, &code, &msg)) == 0) {
			rc = err_set(code, "%s refused the handshake: %s", r->name, msg);
			free(msg);
		}
		goto fail;
	}
	if ((rc = proto_welcome_get(&c->w, &f)) != 0) {
		rc = err_prefix(rc, "%s", r->name);
		goto fail;
	}
	c->have_welcome = true;
	if (strcmp(c->w.store_dir, store_dir) != 0) {
		rc = err_set(ERR_INVALID,
			     "%s: its store is %s but ours is %s: refusing the machine (outputs "
			     "built there would not be valid here)",
			     r->name, c->w.store_dir, store_dir);
		goto fail;
	}
	buf_release(&b);
	c->open_ms = now_ms() - t0;
	*out = c;
	return 0;
fail:
	buf_release(&b);
	remote_chan_free(c);
	return rc;
}

void remote_chan_free(struct remote_chan *c)
{
	if (!c)
		return;
	if (c->ch) {
		if (!c->r->broken && ssh_channel_is_open(c->ch)) {
			ssh_channel_send_eof(c->ch);
			ssh_channel_close(c->ch);
		}
		ssh_channel_free(c->ch);
	}
	if (c->have_welcome)
		proto_welcome_release(&c->w);
	proto_decoder_release(&c->dec);
	buf_release(&c->err);
	free(c);
}

const struct proto_welcome *remote_welcome(const struct remote_chan *c)
{
	return &c->w;
}

int64_t remote_open_ms(const struct remote_chan *c)
{
	return c->open_ms;
}

/* ---- DATA frames as a reader */

static int data_pull(void *ctx, void *dst, size_t n, size_t *got)
{
	struct remote_data_src *src = ctx;
	struct proto_frame f;
	int r;

	*got = 0;
	while (src->left == 0) {
		if (src->end || src->failed)
			return src->failed ? err_set(src->code, "%s", src->msg) : 0;
		if ((r = src->next(src->ctx, &f)) < 0)
			return r;
		if (r == 0)
			return err_set(ERR_TRUNCATED, "%s: the connection ended inside the stream",
				       src->what);
		if (f.op == PROTO_R_PING)
			continue;
		if (f.op == PROTO_ERROR && f.id == src->id) {
			src->failed = true;
			if ((r = proto_error_get(&f, &src->code, &src->msg)) != 0)
				return r;
			return err_set(src->code, "%s", src->msg);
		}
		if (f.op != PROTO_DATA || f.id != src->id)
			return err_set(ERR_FORMAT,
				       "%s: expected data of request %u, got %s (0x%04x) of %u",
				       src->what, src->id,
				       proto_op_name(f.op) ? proto_op_name(f.op) : "?", f.op, f.id);
		src->p = f.payload;
		src->left = f.len;
		src->bytes += f.len;
		src->end = (f.flags & PROTO_F_END) != 0;
	}
	if (n > src->left)
		n = src->left;
	memcpy(dst, src->p, n);
	src->p += n;
	src->left -= n;
	*got = n;
	return 0;
}

int remote_data_reader(struct reader *r, struct remote_data_src *src)
{
	return reader_init_pull(r, data_pull, src, 256 * 1024, src->what);
}

/* ---- Exporting from a thread */

struct remote_export {
	pthread_t th;
	struct store *s;
	char **paths;
	size_t n;
	const struct pki_secret *key;
	int level;
	int wfd;
	int rfd;
	bool started;
	int r;
	char msg[16384];
};

static void *export_main(void *arg)
{
	struct remote_export *x = arg;
	struct archive_writer *w = NULL;

	x->r = archive_writer_new(&w, x->wfd, "the archive pipe", ARCHIVE_YONDER, x->level);
	if (x->r == 0)
		x->r = archive_export(x->s, w, (const char *const *)x->paths, x->n, false, x->key,
				      NULL);
	if (x->r == 0)
		x->r = archive_writer_finish(w);
	archive_writer_free(w);
	if (x->r != 0)
		snprintf(x->msg, sizeof(x->msg), "%s", err_msg());
	if (close(x->wfd) != 0 && x->r == 0) {
		x->r = ERR_IO;
		snprintf(x->msg, sizeof(x->msg), "closing the archive pipe: %s", strerror(errno));
	}
	return NULL;
}

int remote_export_start(struct remote_export **out, struct store *s, const char *const *paths,
			size_t n, const struct pki_secret *key, int level, int *fd)
{
	struct remote_export *x = calloc(1, sizeof(*x));
	int p[2];

	*out = NULL;
	if (!x || !(x->paths = calloc(n + 1, sizeof(char *)))) {
		free(x);
		return err_set(ERR_NOMEM, "out of memory");
	}
	x->rfd = x->wfd = -1;
	for (size_t i = 0; i < n; i++)
		if (!(x->paths[x->n++] = strdup(paths[i]))) {
			remote_export_finish(x);
			return err_set(ERR_NOMEM, "out of memory");
		}
	if (pipe2(p, O_CLOEXEC) != 0) {
		remote_export_finish(x);
		return err_sys(ERR_IO, "pipe");
	}
	/* A reader that stops early must not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	x->s = s;
	x->key = key;
	x->level = level;
	x->rfd = p[0];
	x->wfd = p[1];
	if (pthread_create(&x->th, NULL, export_main, x) != 0) {
		close(p[1]);
		remote_export_finish(x);
		return err_set(ERR_INTERNAL, "cannot start the export thread");
	}
	x->started = true;
	*fd = x->rfd;
	*out = x;
	return 0;
}

int remote_export_finish(struct remote_export *x)
{
	int r;

	if (!x)
		return 0;
	if (x->started)
		pthread_join(x->th, NULL);
	else
		x->r = ERR_INTERNAL;
	if (x->rfd >= 0)
		close(x->rfd);
	for (size_t i = 0; i < x->n; i++)
		free(x->paths[i]);
	free(x->paths);
	r = x->r;
	if (r != 0 && x->msg[0])
		err_set(r, "%s", x->msg);
	free(x);
	return r;
}
