/* proto.h — yonder's framed protocol: frames, typed payloads, handshake.
 *
 * The same framing carries the daemon protocol (client ↔ `yonder daemon`
 * over a Unix socket) and the remote protocol (`yonder serve --stdio` over
 * SSH).  doc/PROTOCOL.md is the specification; this is the code.
 *
 * A frame is a 12-byte header and a payload:
 *
 *   u32 length   payload bytes, at most the decoder's limit (1 MiB)
 *   u16 op       the operation (enum proto_op)
 *   u16 flags    PROTO_F_* bits; the others must be zero
 *   u32 id       the request the frame belongs to (0: the connection)
 *
 * all little-endian.  Payloads are built from u64 (8 bytes LE), byte
 * strings (u32 length LE, then the bytes; no padding) and lists of strings
 * (u32 count, then the strings).  Bulk data (NARs, archives) goes as a
 * sequence of DATA frames, never as one big frame.
 *
 * Receiving is incremental, for a non-blocking event loop: feed the bytes
 * as they arrive to a struct proto_decoder and take whole frames out.  The
 * decoder checks each header as soon as its 12 bytes are in — size, op,
 * flags — before it allocates anything for the payload, and never holds
 * more than one frame.  Payloads are read with a bounded cursor (struct
 * proto_in) whose every length is checked against a cap and against the
 * bytes left before anything is allocated.
 */
#ifndef YONDER_PROTO_H
#define YONDER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PROTO_HDR_LEN     12
#define PROTO_FRAME_MAX   (1u << 20)                   /* payload bytes of any frame */
#define PROTO_MAGIC       UINT64_C(0x000a7265646e6f79) /* "yonder\n\0" as LE bytes */
#define PROTO_VERSION     1                            /* the version this code speaks */
#define PROTO_VERSION_MIN 1                            /* the oldest version it still accepts */

/* Caps on payload fields (bytes, or entries of a list). */
#define PROTO_NAME_MAX  256   /* program names, host names, systems, features */
#define PROTO_PATH_MAX  4096  /* store paths, directories */
#define PROTO_MSG_MAX   16384 /* error messages */
#define PROTO_LIST_MAX  65536 /* entries of a list (also bounded by the frame) */
#define PROTO_LINE_MAX  65536 /* a log line; a longer one is split */
#define PROTO_QUERY_MAX 1024  /* paths in one QUERY_PATH_INFO */

enum proto_op {
	/* the connection (implemented) */
	PROTO_HELLO = 0x0001,   /* client → server: first frame of a connection */
	PROTO_WELCOME = 0x0002, /* server → client: answer to HELLO */
	PROTO_ERROR = 0x0003,   /* a request failed (id 0: the connection is closed) */
	PROTO_OK = 0x0004,      /* a request finished; payload depends on the request */
	PROTO_DATA = 0x0005,    /* a chunk of a request's bulk data; PROTO_F_END on the last */
	PROTO_CANCEL = 0x0006,  /* client → server: cancel request `id` */
	/* daemon requests (specified in doc/PROTOCOL.md, served by the daemon) */
	PROTO_BUILD = 0x0101,
	PROTO_ADD_NAR = 0x0102,
	PROTO_QUERY_PATH_INFO = 0x0103,
	PROTO_FOLLOW_LOG = 0x0104,
	PROTO_STATUS = 0x0105,   /* the build machines' state (yonder offload status) */
	PROTO_DELETE = 0x0106,   /* strv paths → OK (empty) */
	PROTO_GC = 0x0107,       /* empty → OK strv (what was removed) */
	PROTO_ADD_SIGS = 0x0108, /* struct proto_add_sigs → OK (empty) */
	PROTO_IMPORT = 0x0109,   /* u64 flags, then DATA: an archive → OK strv (its paths) */
	/* daemon events, server → client, id = the request they belong to */
	PROTO_EV_BUILD_STARTED = 0x0201,
	PROTO_EV_BUILD_FINISHED = 0x0202,
	PROTO_EV_LOG_LINE = 0x0203,
	PROTO_EV_PROGRESS = 0x0204,
	PROTO_EV_BUILD_KEPT = 0x0205, /* a failed build's directory was kept */
};

#define PROTO_F_END   0x0001u /* the last DATA frame of a stream */
#define PROTO_F_KNOWN PROTO_F_END

/* The name of OP ("hello", "build", …), or NULL when OP is not an
 * operation of this protocol version.  The decoder refuses unknown ops. */
const char *proto_op_name(unsigned op);

/* ---- Writing frames into a struct buf (the connection's output buffer) */

/* Starts a frame at the end of B (writes its header with length 0) and
 * sets *START to its offset in B, for proto_frame_end.  ERR_INVALID for an
 * unknown op or flag. */
int proto_frame_begin(struct buf *b, unsigned op, unsigned flags, uint32_t id, size_t *start);
/* Fills in the length of the frame begun at START.  When the payload is
 * over PROTO_FRAME_MAX the frame is removed from B and ERR_TOOBIG names
 * the op and both sizes. */
int proto_frame_end(struct buf *b, size_t start);
/* A whole frame with the N bytes at P as its payload. */
int proto_put_frame(struct buf *b, unsigned op, unsigned flags, uint32_t id, const void *p,
		    size_t n);

int proto_put_u64(struct buf *b, uint64_t v);
/* A byte string (any bytes, NUL included); ERR_TOOBIG over PROTO_FRAME_MAX. */
int proto_put_bytes(struct buf *b, const void *p, size_t n);
int proto_put_str(struct buf *b, const char *s);
/* A list of N strings. */
int proto_put_strv(struct buf *b, const char *const *v, size_t n);

/* ---- Receiving frames */

/* One frame.  PAYLOAD points into the decoder and stays valid until the
 * next call of proto_decoder_feed/next/release on it. */
struct proto_frame {
	unsigned op, flags;
	uint32_t id;
	uint32_t len;
	const unsigned char *payload;
	uint64_t offset; /* of the frame's header in the stream, for messages */
};

struct proto_decoder {
	const char *what; /* names the stream in messages ("client 3") */
	uint32_t max;     /* payload limit */
	struct buf buf;   /* the current frame: header, then payload */
	size_t need;      /* bytes of the current frame (header + payload) */
	uint64_t offset;  /* stream offset of the current frame */
	int state;        /* see proto.c; < 0: the sticky error */
};

/* MAX is the payload limit (0: PROTO_FRAME_MAX); WHAT is kept, not copied. */
void proto_decoder_init(struct proto_decoder *d, const char *what, uint32_t max);
void proto_decoder_release(struct proto_decoder *d);

/* Takes up to N bytes at P, stopping at the end of the current frame: *USED
 * is the number taken (0 while a complete frame waits to be taken).  Call
 * proto_decoder_next() after every feed and feed the rest again:
 *
 *	while (n > 0) {
 *		if ((r = proto_decoder_feed(d, p, n, &used)) != 0) goto fail;
 *		p += used, n -= used;
 *		while ((r = proto_decoder_next(d, &f)) == 1) handle(&f);
 *		if (r < 0) goto fail;
 *	}
 *
 * Errors, found as soon as a header is complete and before the payload is
 * allocated: ERR_TOOBIG "WHAT: byte OFFSET: frame of N bytes exceeds the
 * limit of M"; ERR_FORMAT "…: unknown operation 0x…" or "…: unknown flags
 * 0x…".  An error is sticky: the stream cannot be resynchronised, and
 * every later call returns the same code. */
int proto_decoder_feed(struct proto_decoder *d, const void *p, size_t n, size_t *used);
/* 1 and *F when a whole frame is in, 0 when more bytes are needed, or the
 * sticky error. */
int proto_decoder_next(struct proto_decoder *d, struct proto_frame *f);
/* The number of bytes that would complete the current frame (its header
 * first); 0 while a complete frame waits to be taken. */
size_t proto_decoder_want(const struct proto_decoder *d);
/* At the end of the stream: 0 when it ended between frames, ERR_TRUNCATED
 * "WHAT: byte OFFSET: truncated frame: …" when it ended inside one. */
int proto_decoder_finish(struct proto_decoder *d);

/* For blocking descriptors (clients, `serve --stdio`): reads from FD, never
 * past the end of the frame, until D has a whole frame.  1 and *F; 0 at a
 * clean end of input (between frames); a negative error otherwise
 * (ERR_IO naming WHAT, ERR_TRUNCATED, or the decoder's error). */
int proto_recv(int fd, struct proto_decoder *d, struct proto_frame *f);

/* ---- Reading payloads */

/* A bounded cursor over one payload.  OFF is the payload byte offset,
 * quoted in every message.  A read that fails leaves OFF where it was. */
struct proto_in {
	const unsigned char *p;
	size_t len, off;
};
void proto_in_init(struct proto_in *in, const struct proto_frame *f);
void proto_in_init_mem(struct proto_in *in, const void *p, size_t len);

/* ERR_FORMAT "truncated integer at payload byte N: …" */
int proto_get_u64(struct proto_in *in, uint64_t *v);
/* A byte string of at most MAX bytes, not copied: *P points into the
 * payload.  ERR_TOOBIG "string of N bytes at payload byte M exceeds the
 * limit of MAX"; ERR_FORMAT "bad string length at payload byte M: N bytes
 * declared, K left". */
int proto_get_bytes(struct proto_in *in, const void **p, size_t *n, size_t max);
/* A text string (no NUL byte) of at most MAX bytes, copied into an
 * allocated, NUL-terminated *S that the caller frees. */
int proto_get_str(struct proto_in *in, char **s, size_t max);
/* A list of at most MAX_COUNT strings of at most MAX_LEN bytes each.  *V
 * is allocated (N entries and a NULL), freed with proto_strv_free().  The
 * count is checked against MAX_COUNT and against the bytes left before
 * the array is allocated. */
int proto_get_strv(struct proto_in *in, char ***v, size_t *n, size_t max_count, size_t max_len);
/* 0 when the payload is consumed; ERR_FORMAT "N trailing bytes at payload
 * byte M" otherwise. */
int proto_get_end(const struct proto_in *in);

void proto_strv_free(char **v, size_t n);

/* ---- The handshake (the only messages implemented here so far; the
 * payloads of the daemon's requests and events are specified in
 * doc/PROTOCOL.md) */

/* HELLO: u64 magic, u64 version, str name, strv features. */
struct proto_hello {
	uint64_t version;
	char *name;      /* "yonder 0.1.0" */
	char **features; /* optional protocol features the client speaks */
	size_t nfeatures;
};
/* WELCOME: u64 magic, u64 version (the one agreed), str name, str host,
 * str store_dir, strv systems, strv features, u64 cores, u64 load (the
 * 1-minute load average × 1000), u64 free (bytes free in the store). */
struct proto_welcome {
	uint64_t version;
	char *name;
	char *host; /* the machine's name, shown in build logs */
	char *store_dir;
	char **systems;
	size_t nsystems;
	char **features;
	size_t nfeatures;
	uint64_t cores;
	uint64_t load_milli;
	uint64_t free_bytes;
};

/* Appends the whole HELLO frame (id 0) to B. */
int proto_hello_put(struct buf *b, const struct proto_hello *h);
/* Parses a HELLO frame into *H (released with proto_hello_release, also
 * on error).  ERR_FORMAT "hello: …" for a wrong op, bad magic, malformed
 * or trailing bytes; ERR_TOOBIG for a field over its cap. */
int proto_hello_get(struct proto_hello *h, const struct proto_frame *f);
void proto_hello_release(struct proto_hello *h);

int proto_welcome_put(struct buf *b, const struct proto_welcome *w);
int proto_welcome_get(struct proto_welcome *w, const struct proto_frame *f);
void proto_welcome_release(struct proto_welcome *w);

/* The version both sides speak, given the peer's: min(PEER, PROTO_VERSION).
 * ERR_INVALID "protocol version N is not supported (this side speaks
 * PROTO_VERSION_MIN to PROTO_VERSION)" when PEER is too old (or 0). */
int proto_negotiate(uint64_t peer, uint64_t *agreed);

/* ERROR: u64 code (the positive value of an ERR_* code), str message. */
int proto_error_put(struct buf *b, uint32_t id, int code, const char *msg);
/* *CODE is the negative ERR_* code (ERR_INTERNAL for one this side does
 * not know); *MSG is allocated. */
int proto_error_get(const struct proto_frame *f, int *code, char **msg);

/* ---- The daemon's requests and events (doc/PROTOCOL.md, "Daemon
 * requests").  Each _get parses a whole frame (and checks its op), each
 * _put appends one; what _get allocates is freed by the _release, also
 * after an error. */

#define PROTO_BUILD_KEEP_GOING  0x1u
#define PROTO_BUILD_KEEP_FAILED 0x2u /* keep the build directory of a failure */

/* BUILD: u64 flags, u64 timeout, u64 max_silent, u64 cores, strv drvs
 * (1 to PROTO_LIST_MAX). */
struct proto_build {
	uint64_t flags, timeout, max_silent, cores;
	char **drvs;
	size_t ndrvs;
};
int proto_build_put(struct buf *b, uint32_t id, const struct proto_build *q);
int proto_build_get(struct proto_build *q, const struct proto_frame *f);
void proto_build_release(struct proto_build *q);

/* BUILD's OK: u64 n, then n × (str drv, u64 status, str msg, strv
 * outputs "name=path").  Written entry by entry: begin, entries, end
 * (ERR_TOOBIG from the end when it does not fit one frame). */
struct proto_build_entry {
	char *drv;
	uint64_t status;
	char *msg;
	char **outputs;
	size_t noutputs;
};
int proto_build_ok_begin(struct buf *b, uint32_t id, uint64_t n, size_t *start);
int proto_build_ok_entry(struct buf *b, const char *drv, uint64_t status, const char *msg,
			 const char *const *outputs, size_t noutputs);
int proto_build_ok_end(struct buf *b, size_t start);
/* *V (*N entries) is freed with proto_build_entries_free. */
int proto_build_ok_get(const struct proto_frame *f, struct proto_build_entry **v, size_t *n);
void proto_build_entries_free(struct proto_build_entry *v, size_t n);

/* The events: BUILD_STARTED (drv, machine), BUILD_FINISHED (drv,
 * machine, status, duration_ms, msg), LOG_LINE (drv, machine, line),
 * PROGRESS (done, total, running, waiting, failed), BUILD_KEPT (drv,
 * machine, msg: the build directory kept). */
struct proto_event {
	unsigned op;
	char *drv, *machine, *msg;
	uint64_t status, duration_ms;
	const void *line; /* LOG_LINE: points into the frame (or the caller's) */
	size_t nline;
	uint64_t done, total, running, waiting, failed;
};
int proto_event_put(struct buf *b, uint32_t id, const struct proto_event *ev);
int proto_event_get(struct proto_event *ev, const struct proto_frame *f);
void proto_event_release(struct proto_event *ev);

/* QUERY_PATH_INFO: strv paths (1 to PROTO_QUERY_MAX). */
int proto_query_put(struct buf *b, uint32_t id, const char *const *paths, size_t n);
int proto_query_get(const struct proto_frame *f, char ***paths, size_t *n);

/* QUERY_PATH_INFO's OK: u64 n, then per path u64 valid and, when valid,
 * str path, str nar_hash ("sha256:<nix32>"), u64 nar_size, str deriver
 * ("" when unknown), strv references, strv sigs, str ca, str built_by,
 * u64 registration_time.  Written entry by entry (PI NULL: not valid);
 * ERR_TOOBIG from the end when it does not fit one frame. */
struct path_info;
int proto_query_ok_begin(struct buf *b, uint32_t id, uint64_t n, size_t *start);
int proto_query_ok_entry(struct buf *b, const struct path_info *pi);
int proto_query_ok_end(struct buf *b, size_t start);
/* *V is an array of *N path_info (db.h), one per path asked, in order;
 * an entry whose path is NULL is not valid.  Freed with
 * proto_query_ok_free (also after an error). */
int proto_query_ok_get(const struct proto_frame *f, struct path_info **v, size_t *n);
void proto_query_ok_free(struct path_info *v, size_t n);

/* ADD_NAR: str path, str nar_hash ("sha256:<nix32>", or "" to let the
 * server compute it), u64 nar_size (0: not checked), str deriver (""),
 * strv references, strv sigs, str ca ("").  The NAR follows in DATA
 * frames with the same id. */
#define PROTO_SIG_MAX 1024 /* bytes of one signature */
struct proto_add_nar {
	char *path, *nar_hash, *deriver, *ca;
	uint64_t nar_size;
	char **refs;
	size_t nrefs;
	char **sigs;
	size_t nsigs;
};
int proto_add_nar_put(struct buf *b, uint32_t id, const struct proto_add_nar *q);
int proto_add_nar_get(struct proto_add_nar *q, const struct proto_frame *f);
void proto_add_nar_release(struct proto_add_nar *q);

/* FOLLOW_LOG: str drv, u64 flags (PROTO_FOLLOW_REPLAY: from the
 * beginning).  Its OK: u64 status (enum engine_status). */
#define PROTO_FOLLOW_REPLAY 0x1u
int proto_follow_put(struct buf *b, uint32_t id, const char *drv, uint64_t flags);
int proto_follow_get(const struct proto_frame *f, char **drv, uint64_t *flags);
/* An OK whose payload is one u64 (FOLLOW_LOG's status). */
int proto_ok_u64_put(struct buf *b, uint32_t id, uint64_t v);
int proto_ok_u64_get(const struct proto_frame *f, uint64_t *v);
/* A frame of op OP whose payload is one u64 (IMPORT's flags). */
int proto_u64_frame_put(struct buf *b, unsigned op, uint32_t id, uint64_t v);
int proto_u64_frame_get(const struct proto_frame *f, unsigned op, uint64_t *v);
/* DELETE's request and GC's and IMPORT's OK are one strv of store paths:
 * proto_r_paths_put / proto_r_paths_get below. */
/* ADD_SIGS: str path, strv sigs ("keyname:base64", 1 to PROTO_SIGS_MAX),
 * strv keys (public keys "keyname:base64", 1 to PROTO_SIGS_MAX): each
 * signature must verify, with the key of its name among KEYS, over the
 * path's fingerprint. */
#define PROTO_SIGS_MAX 64
struct proto_add_sigs {
	char *path;
	char **sigs;
	size_t nsigs;
	char **keys;
	size_t nkeys;
};
int proto_add_sigs_put(struct buf *b, uint32_t id, const struct proto_add_sigs *q);
int proto_add_sigs_get(struct proto_add_sigs *q, const struct proto_frame *f);
void proto_add_sigs_release(struct proto_add_sigs *q);
/* IMPORT's flags: the stream is `nix-store --export`'s format (else
 * yonder's); its items are accepted unsigned (only with the Nix format). */
#define PROTO_IMPORT_NIX     0x1u
#define PROTO_IMPORT_TRUSTED 0x2u

/* ---- The remote protocol (issue 6): the daemon (client) and `yonder
 * serve --stdio` on a build machine (server).  doc/PROTOCOL.md, section
 * "Remote protocol", is the specification.  Maintained with remote.c,
 * serve.c and offload.c. */

enum proto_remote_op {
	PROTO_R_QUERY_VALID = 0x0301, /* strv paths → OK strv (those valid there) */
	PROTO_R_IMPORT = 0x0302,      /* empty, then DATA: an archive → OK strv (imported) */
	PROTO_R_BUILD = 0x0303,  /* struct proto_r_build → R_LOG…, OK u64 status, str msg */
	PROTO_R_EXPORT = 0x0304, /* strv paths → DATA: an archive signed there, then OK */
	PROTO_R_LOG = 0x0305,    /* server → client: bytes of a build's log */
	PROTO_R_PING = 0x0306,   /* either way, empty, any id: a keepalive, ignored */
};

/* The name of a remote op, or NULL (proto_op_name falls back on it). */
const char *proto_remote_op_name(unsigned op);

/* A frame whose payload is one strv of store paths (at most
 * PROTO_LIST_MAX, each at most PROTO_PATH_MAX): QUERY_VALID and EXPORT
 * requests, the OK of QUERY_VALID and IMPORT.  *V is freed with
 * proto_strv_free. */
int proto_r_paths_put(struct buf *b, unsigned op, uint32_t id, const char *const *v, size_t n);
int proto_r_paths_get(const struct proto_frame *f, char ***v, size_t *n);

/* BUILD: str drv, u64 timeout, u64 max_silent, u64 cores (0: no limit /
 * the machine's CPUs). */
struct proto_r_build {
	char *drv;
	uint64_t timeout, max_silent, cores;
};
int proto_r_build_put(struct buf *b, uint32_t id, const struct proto_r_build *q);
int proto_r_build_get(struct proto_r_build *q, const struct proto_frame *f);
void proto_r_build_release(struct proto_r_build *q);

/* The statuses of BUILD's OK (the daemon's numbers). */
enum { PROTO_R_BUILT = 0, PROTO_R_VALID = 1, PROTO_R_FAILED = 2, PROTO_R_TIMED_OUT = 3 };
/* BUILD's OK: u64 status, str message ("" when built). */
int proto_r_result_put(struct buf *b, uint32_t id, uint64_t status, const char *msg);
int proto_r_result_get(const struct proto_frame *f, uint64_t *status, char **msg);

/* R_LOG: bytes (at most PROTO_LINE_MAX); *P points into the frame. */
int proto_r_log_put(struct buf *b, uint32_t id, const void *p, size_t n);
int proto_r_log_get(const struct proto_frame *f, const void **p, size_t *n);

#endif
