/* client.h — the client side of the daemon protocol (doc/PROTOCOL.md):
 * connect to `yonder daemon`, shake hands, send requests, and receive
 * their events and final frames.  Blocking I/O: a client is one command
 * waiting for its answer.
 */
#ifndef YONDER_CLIENT_H
#define YONDER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "proto.h"

struct client_conn;

/* Connects to the daemon's socket PATH and shakes hands.  ERR_NOTFOUND
 * when nobody listens there (no socket, or a stale one: the caller may
 * then work in-process); ERR_IO, ERR_FORMAT, … otherwise.  *OUT is freed
 * with client_free. */
int client_connect(struct client_conn **out, const char *path);
void client_free(struct client_conn *c);
/* The daemon's WELCOME (owned by C). */
const struct proto_welcome *client_welcome(const struct client_conn *c);

/* Receives EV (owned by the caller of client_build only during the call). */
typedef void (*client_event_fn)(void *ctx, const struct proto_event *ev);

/* Sends BUILD Q and waits for its end, handing every event to FN.  When
 * CANCEL_FD (>= 0) becomes readable, sends CANCEL once and goes on waiting
 * for the final frame (*CANCELLED is then set).  0 and *V, *N (the OK's
 * entries, freed with proto_build_entries_free) when the daemon answered
 * OK; the daemon's error (its code and message) when it refused the
 * request; ERR_IO or ERR_TRUNCATED when the connection broke. */
int client_build(struct client_conn *c, const struct proto_build *q, int cancel_fd,
		 client_event_fn fn, void *ctx, struct proto_build_entry **v, size_t *n,
		 bool *cancelled);

/* Sends STATUS (JSON or text) and puts the daemon's report, allocated and
 * NUL-terminated, in *TEXT. */
int client_status(struct client_conn *c, bool json, char **text);

#endif
