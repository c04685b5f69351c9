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

/* Receives EV (owned by the caller only during the call). */
typedef void (*client_event_fn)(void *ctx, const struct proto_event *ev);

/* The daemon to use, if any: $YONDER_DAEMON_SOCKET when set (then it
 * must answer), else the default socket when it exists and answers.  0
 * with *OUT NULL when there is no daemon: the caller works in-process.
 * *OUT is freed with client_free. */
int client_connect_auto(struct client_conn **out);

/* The store directory of the daemon (from its WELCOME). */
const char *client_store_dir(const struct client_conn *c);

/* Writes a NAR into OUT (a sink that sends it in DATA frames). */
struct sink;
typedef int (*client_nar_fn)(void *ctx, struct sink *out);

/* ADD_NAR: sends Q, then the NAR that FN writes, and waits for the
 * daemon's answer.  0 when it registered the path (or had it already);
 * its error (code and message) when it refused it — as soon as it does,
 * FN's sink fails and the rest is not sent; FN's own error after a
 * CANCEL.  ERR_IO or ERR_TRUNCATED when the connection broke. */
int client_add_nar(struct client_conn *c, const struct proto_add_nar *q, client_nar_fn fn,
		   void *ctx);
/* store_add through the daemon: the NAR of SRC is hashed here (to name
 * the path), then sent and checked there.  *OUT is allocated. */
int client_add_path(struct client_conn *c, const char *src, const char *name, unsigned flags,
		    char **out);
/* store_add_text through the daemon.  *OUT is allocated. */
int client_add_text(struct client_conn *c, const char *name, const void *data, size_t len,
		    const char *const *refs, size_t nrefs, char **out);

/* DELETE of the N PATHS (at most PROTO_LIST_MAX): 0 when the daemon
 * deleted them all, else its error (nothing deleted). */
int client_delete(struct client_conn *c, const char *const *paths, size_t n);
/* GC: appends to REMOVED (initialised by the caller) what the daemon
 * removed. */
struct db_list;
int client_gc(struct client_conn *c, struct db_list *removed);
/* ADD_SIGS: the daemon checks Q's signatures against Q's keys and the
 * path's fingerprint, and records them; its error when one does not
 * verify (nothing recorded). */
int client_add_sigs(struct client_conn *c, const struct proto_add_sigs *q);
/* IMPORT with FLAGS (PROTO_IMPORT_*): sends the archive that FN writes
 * (FN gets CTX), in DATA frames, and appends to PATHS (initialised by the
 * caller) the paths of the stream, as the daemon answers.  The daemon's
 * error (nothing imported) as soon as it refuses the stream. */
int client_import(struct client_conn *c, uint64_t flags, client_nar_fn fn, void *ctx,
		  struct db_list *paths);
/* recipe_write through the daemon: adds the items of RES (evaluated for
 * the daemon's store directory) that the daemon does not have, in order,
 * each checked to get the path computed at evaluation (ERR_MISMATCH when
 * a local-file changed since, naming both paths). */
struct recipe_result;
int client_recipe_write(struct client_conn *c, const struct recipe_result *res);
/* QUERY_PATH_INFO for the N PATHS (any number: sent in batches).  *V
 * gets N path_info (db.h), in order, an entry with path NULL for a path
 * that is not valid; freed with proto_query_ok_free(*V, N). */
struct path_info;
int client_query(struct client_conn *c, const char *const *paths, size_t n, struct path_info **v);

/* FOLLOW_LOG: writes DRV's log to FD as it comes (with REPLAY, what was
 * logged so far first) until its build ends; *STATUS is how it ended
 * (enum engine_status).  The daemon's ERR_NOTFOUND when it neither runs
 * nor waits (nor, with REPLAY, has a saved log). */
int client_follow_log(struct client_conn *c, const char *drv, bool replay, int fd,
		      uint64_t *status);

/* A build through the daemon, in steps, for a caller with its own event
 * loop (a status line redrawn on a timer): client_build_begin sends Q
 * (*ID is its request); whenever client_fd() is readable,
 * client_build_step reads one frame, hands an event to FN and, at the
 * final frame, sets *DONE and *V, *N (the OK's entries, freed with
 * proto_build_entries_free), or returns the daemon's error (its code and
 * message), or ERR_IO / ERR_TRUNCATED when the connection broke.  client_cancel
 * sends CANCEL for ID (its final frame still comes). */
int client_build_begin(struct client_conn *c, const struct proto_build *q, uint32_t *id);
int client_fd(const struct client_conn *c);
int client_build_step(struct client_conn *c, uint32_t id, client_event_fn fn, void *ctx, bool *done,
		      struct proto_build_entry **v, size_t *n);
int client_cancel(struct client_conn *c, uint32_t id);

/* Sends STATUS (JSON or text) and puts the daemon's report, allocated and
 * NUL-terminated, in *TEXT. */
int client_status(struct client_conn *c, bool json, char **text);

#endif
