/* serve.h — the build machine's side of offloading: `yonder serve
 * --stdio`, run by the daemon of another machine through an SSH channel.
 *
 * It speaks the remote protocol (doc/OFFLOAD-PROTOCOL.md) on IN/OUT: the
 * handshake (WELCOME with version, host name, store directory, systems,
 * features, cores, load, free space), then one request at a time:
 * QUERY_VALID, IMPORT (a signed archive, checked against this machine's
 * ACL before anything is registered), BUILD (log streamed back as R_LOG
 * frames, PING every SERVE_PING_MS of silence), EXPORT (an archive signed
 * by this machine's key).
 *
 * Paths imported or built for the client are listed, one per line, in
 * $YONDER_STATE_DIR/temproots/<pid> while the conversation lasts, so that
 * a garbage collector that honours temporary roots leaves them alone; the
 * file is removed at the end.
 */
#ifndef YONDER_SERVE_H
#define YONDER_SERVE_H

#define SERVE_PING_MS 10000
/* A read or write of the client that waits this long fails: the client is
 * gone (a half-open connection ends this process, which releases its
 * locks and temporary roots; anything half-imported is dropped). */
#define SERVE_IO_TIMEOUT_MS 60000

struct serve_opts {
	/* Reported in WELCOME; NULL: this system (builder_system()) and no
	 * features. */
	const char *const *systems;
	const char *const *features;
};

/* Serves one client on IN/OUT until it closes IN.  0 at a clean end; a
 * negative code when the connection failed (the client was sent a fatal
 * ERROR when possible).  O may be NULL. */
int serve_stdio(int in, int out, const struct serve_opts *o);

#endif
