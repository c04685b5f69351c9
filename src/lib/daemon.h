/* daemon.h — `yonder daemon`: one build engine for every client of a
 * Unix socket.
 *
 * The daemon is one thread around one event loop (ev.h): the listening
 * socket, every client's socket, the builders' pipes and process
 * descriptors (through engine_watch), one timer for the engine's nearest
 * deadline, and SIGTERM, SIGINT and SIGHUP.  Clients speak the framed
 * protocol of doc/PROTOCOL.md.  All their BUILD requests go into one
 * engine (engine.h), so a derivation wanted by several clients is built
 * once and reported to each; --max-jobs bounds the builds of all of them.
 *
 * Access control is the socket's permissions: the default socket's
 * directory ($YONDER_STATE_DIR/daemon-socket) is created 0700 and must be
 * owned by the daemon's user, and the socket itself is 0600.  Whoever can
 * connect may use every request.
 *
 * Malformed input from a client (garbage, a frame over the limit, an
 * unknown operation, a truncated frame) ends that connection with an
 * ERROR frame; a malformed or refused request (a path outside the store)
 * ends that request with an ERROR.  The daemon serves the others as
 * before.
 */
#ifndef YONDER_DAEMON_H
#define YONDER_DAEMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct store;

struct daemon_opts {
	const char *socket; /* NULL: daemon_default_socket() */
	unsigned max_jobs;  /* local builds at once; 0 only with build machines */
	double speed;       /* the local machine's, for sched_pick (0: 1.0) */
	unsigned max_tries; /* of a build that fails transiently on machines; 0: 3 */
	/* The machines file; NULL: $YONDER_CONFIG_DIR/machines.scm, where a
	 * missing file means every build is local. */
	const char *machines;
	unsigned cores; /* NIX_BUILD_CORES by default; 0: the CPUs */
	/* Where the daemon's own messages go (one line each, no newline);
	 * may be NULL. */
	void (*log)(void *ctx, const char *fmt, va_list ap);
	void *ctx;
	/* Called once the socket listens (tests wait for the socket file). */
	void (*ready)(void *ctx, const char *socket);
};

/* $YONDER_DAEMON_SOCKET when set, else
 * $YONDER_STATE_DIR/daemon-socket/socket, allocated into *OUT.  *EXPLICIT
 * tells which. */
int daemon_socket_path(char **out, bool *explicit_);

/* Serves until SIGTERM or SIGINT: then stops accepting, kills the running
 * builders (their outputs are removed, nothing of them is registered),
 * ends every open request, removes the socket and returns 0.  SIGHUP
 * rereads the configuration.  A negative code when the socket cannot be
 * set up (another daemon listening on it: ERR_EXISTS). */
int daemon_run(struct store *s, const struct daemon_opts *o);

#endif
