/* offload.h — carry ONE build to ONE build machine (doc/OFFLOAD-PROTOCOL.md).
 *
 * offload_build() on an authenticated session (remote.h):
 *   1. opens a channel running `yonder serve --stdio` (handshake, store
 *      directory checked);
 *   2. asks in one request which of the needed paths are valid there: the
 *      .drv's closure and the closure of the input derivations' outputs;
 *   3. uploads the missing ones as one signed zstd archive, in dependency
 *      order (the machine checks each against its ACL before registering
 *      anything, all or none);
 *   4. builds there with the given timeout, max-silent-time and cores; the
 *      log comes back live (LOG) and is saved here as yonder log reads it;
 *   5. downloads the outputs missing here as one archive signed by the
 *      machine, verified against our ACL and registered (all or none)
 *      with the machine's signature and built-by name.
 *
 * Return value: 0 built (or the outputs were valid already);
 * OFFLOAD_PERMANENT when the builder failed or timed out there (reported
 * like a local failure, not to be retried; RES->timed_out says which;
 * the message is the machine's); a negative ERR_* code for a transient
 * failure (cannot open the channel, the connection lost in any phase, the
 * upload or download refused, the machine's disk full, its yonder ended):
 * the build may be retried elsewhere.  Nothing partial is registered on
 * either side in any case.
 */
#ifndef YONDER_OFFLOAD_H
#define YONDER_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct remote;
struct store;
struct acl;
struct pki_secret;

#define OFFLOAD_PERMANENT 1

struct offload_opts {
	unsigned timeout, max_silent, cores; /* 0: no limit / the machine's CPUs */
	int compression;                     /* zstd level of the upload, 0: none */
	const struct pki_secret *key;        /* signs the upload */
	const struct acl *acl;               /* checks the download */
	const char *acl_file;                /* for messages */
	/* The log as it comes, in chunks (may be NULL). */
	void (*log)(void *ctx, const void *p, size_t n);
	void *ctx;
};

struct offload_result {
	bool timed_out;
	bool was_valid;      /* the outputs were valid there already */
	size_t uploaded;     /* paths sent */
	size_t downloaded;   /* paths received */
	uint64_t up_bytes;   /* archive bytes sent */
	uint64_t down_bytes; /* archive bytes received */
	int64_t open_ms, query_ms, upload_ms, build_ms, download_ms;
	char host[256]; /* the machine's name from its WELCOME */
	/* Its WELCOME's report (when WELCOMED): for sched_machine_report. */
	bool welcomed;
	unsigned cores;
	double load;
	uint64_t free;
};

int offload_build(struct remote *r, struct store *s, const char *drv_path,
		  const struct offload_opts *o, struct offload_result *res);

/* On an open channel (remote_open): sends the closure of the N PATHS
 * minus what is valid there, as offload_build's step 3 does (RES counts
 * it).  0, or a negative code (the machine's refusal, prefixed). */
struct remote_chan;
struct db_list;
int offload_copy_to(struct remote_chan *c, struct store *s, const char *const *paths, size_t n,
		    const struct offload_opts *o, struct offload_result *res);
/* Appends to MISSING those of the N PATHS not valid on the machine. */
int offload_query_valid(struct remote_chan *c, const char *const *paths, size_t n,
			struct db_list *missing);

#endif
