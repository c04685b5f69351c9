/* remote.h — the SSH side of offloading: one libssh session per build
 * machine slot, persistent, with a new exec channel running `yonder serve
 * --stdio` per conversation (doc/OFFLOAD-PROTOCOL.md).
 *
 *   - remote_connect: TCP connect within the machine's connect-timeout, key
 *     exchange, the host key checked against the machine's `host-key` line
 *     or else the known_hosts file (never trusted on first use: an unknown
 *     or different key refuses the machine, naming the key offered and the
 *     one expected by their SHA256 fingerprints), then public-key
 *     authentication with the machine's private key.
 *   - remote_open: a new channel on the authenticated session (a few ms,
 *     no new handshake), `yonder serve --stdio` run in it, HELLO/WELCOME;
 *     the machine is refused when its store directory is not ours.
 *   - Frames go both ways on the channel (proto.h); every blocking read
 *     gives up after REMOTE_IO_TIMEOUT_MS without a byte (the server sends
 *     PING frames while it builds silently), and data sent that stays
 *     unacknowledged for 5 s less fails the socket (TCP_USER_TIMEOUT), so
 *     a cut link or a half-open connection is found within 30 s in every
 *     phase.  After such a failure the session is broken: its socket is
 *     shut down, remote_connected() is false, and freeing it or its
 *     channels sends nothing.
 *
 * A struct remote is used by one thread at a time.  Every function
 * returns 0 (or 1 where said) or a negative ERR_* code with a message that
 * names the machine as USER@HOST[:PORT].
 */
#ifndef YONDER_REMOTE_H
#define YONDER_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "proto.h"

struct machine;
struct store;
struct pki_secret;
struct reader;

#define REMOTE_IO_TIMEOUT_MS 30000
#define REMOTE_COMMAND       "yonder serve --stdio"

struct remote_opts {
	/* The known_hosts file used when the machine has no host-key; NULL:
	 * $HOME/.ssh/known_hosts. */
	const char *known_hosts;
	/* The command run on the machine; NULL: REMOTE_COMMAND. */
	const char *command;
	/* Milliseconds a read or write may wait; 0: REMOTE_IO_TIMEOUT_MS. */
	int io_timeout_ms;
};

struct remote;
struct remote_chan;

/* Connects to M (which must outlive *OUT), checks its host key and logs
 * in.  O may be NULL.  Errors: ERR_IO (cannot connect, the connection
 * failed), ERR_MISMATCH (a different host key: "…: host key mismatch: it
 * offered ssh-ed25519 SHA256:…, expected ssh-ed25519 SHA256:… (FROM)"),
 * ERR_NOTFOUND (an unknown host key), ERR_INVALID (authentication
 * refused, an unreadable private key).  *OUT is freed with remote_free. */
int remote_connect(struct remote **out, const struct machine *m, const struct remote_opts *o);
void remote_free(struct remote *r);
/* "user@host" or "user@host:port", for messages. */
const char *remote_name(const struct remote *r);
/* "ssh-ed25519 SHA256:…" of the host key the machine offered. */
const char *remote_host_key(const struct remote *r);
/* Whether the session is still connected (no I/O is done). */
bool remote_connected(const struct remote *r);

/* An idle session's keepalive: sends an SSH "ignore" message (so that a
 * link gone silent has unacknowledged data, which the kernel gives up on
 * after the socket's user timeout) and checks the socket for an error or
 * hang-up.  0, or ERR_IO with the session marked broken. */
int remote_keepalive(struct remote *r);

/* How often an idle session sends its keepalive. */
#define REMOTE_KEEPALIVE_MS 10000
/* Shuts the session's socket down, so that whatever uses it in another
 * thread fails at once (the only call allowed from another thread; the
 * session is then freed by its owner as usual). */
void remote_abort(struct remote *r);

/* Opens a channel, runs the command and does the handshake.  STORE_DIR
 * is ours: a machine whose store directory differs is refused
 * (ERR_INVALID naming both).  When the command cannot run because yonder
 * is not installed there: ERR_NOTFOUND "yonder is not on the PATH of
 * USER@HOST (…)".  *OUT is freed with remote_chan_free (which closes the
 * channel; the session stays). */
int remote_open(struct remote *r, const char *store_dir, struct remote_chan **out);
void remote_chan_free(struct remote_chan *c);
/* The machine's WELCOME, owned by C. */
const struct proto_welcome *remote_welcome(const struct remote_chan *c);
/* Milliseconds the last remote_open took (channel + handshake). */
int64_t remote_open_ms(const struct remote_chan *c);

/* Writes the frames in B to the channel, then empties B. */
int remote_send(struct remote_chan *c, struct buf *b);
/* The next frame from the machine (PING frames are skipped).  *F is valid
 * until the next call.  ERR_IO when the connection is lost or nothing
 * came for the I/O timeout; ERR_TRUNCATED when the server ended. */
int remote_recv(struct remote_chan *c, struct proto_frame *f);
/* 1 when a frame (or its start) is waiting to be read, 0 when not. */
int remote_pending(struct remote_chan *c);

/* Sends what can be read from FD until its end as DATA frames of request
 * ID (the last with END).  When the peer answers meanwhile
 * (remote_pending), stops sending, reads FD to its end, and returns 1
 * (the caller reads the answer); else 0.  *SENT counts the bytes sent. */
int remote_send_fd(struct remote_chan *c, uint32_t id, int fd, uint64_t *sent);

/* ---- Helpers shared with serve.c */

/* Where a stream of DATA frames comes from: NEXT gives the next frame of
 * the connection (1 and *F, 0 at the end, or an error). */
struct remote_data_src {
	int (*next)(void *ctx, struct proto_frame *f);
	void *ctx;
	uint32_t id;      /* the request whose DATA frames are read */
	const char *what; /* names the stream in messages */
	bool end;         /* the END frame was read */
	bool failed;      /* an ERROR frame of ID came instead: see code/msg */
	int code;
	char *msg; /* the ERROR's message, allocated */
	const unsigned char *p;
	size_t left;
	uint64_t bytes; /* payload bytes read */
};
/* A pull reader (io.h) over SRC's DATA frames, for archive_import.  A PING
 * is skipped; an ERROR of SRC->id ends the stream with its code and
 * message; any other frame is an error.  Release R with reader_release and
 * free SRC->msg. */
int remote_data_reader(struct reader *r, struct remote_data_src *src);

/* Writes an archive of the N PATHS of S (closure=false, references first,
 * signed by KEY, zstd at LEVEL) into a pipe from a thread, so that the
 * caller can frame what comes out of *FD.  remote_export_finish joins it,
 * closes *FD and returns the export's result (with its message). */
struct remote_export;
int remote_export_start(struct remote_export **out, struct store *s, const char *const *paths,
			size_t n, const struct pki_secret *key, int level, int *fd);
int remote_export_finish(struct remote_export *x);

#endif
