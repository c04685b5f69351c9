/* fuzz_machines.c — libFuzzer target for the machines file (machines.c).
 *
 * Every input is loaded three ways — by content as "fuzz.scm" (Scheme
 * forced by the name), by content as "fuzz", and as Nix entries (the
 * `--builders` string) — with a small evaluation budget and a scratch
 * home whose .ssh/id_ed25519 is the default key.  Each load must return;
 * a failure must carry one of the documented codes and a message; a
 * success must give machines that keep every invariant machines.h states
 * (fields in range, NULL-terminated lists, a host key of a good shape,
 * no two machines with the same name and port, each machine fitting a
 * build of its own first system that requires its mandatory features).
 * The input is also checked as a host-key line.  A broken property
 * abort()s, which libFuzzer and the replay driver (standalone.c) report.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "machines.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char home[256], ssh_dir[300], key_path[320];

static void fail(const char *what, size_t size)
{
	fprintf(stderr, "fuzz_machines: %s (input of %zu bytes; last message: %s)\n", what, size,
		err_msg());
	abort();
}

static void cleanup(void)
{
	unlink(key_path);
	rmdir(ssh_dir);
	rmdir(home);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	FILE *f;

	if (home[0])
		return;
	snprintf(home, sizeof(home), "%s/yonder-fuzz-machines-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(home))
		fail("cannot make a scratch home", 0);
	snprintf(ssh_dir, sizeof(ssh_dir), "%s/.ssh", home);
	snprintf(key_path, sizeof(key_path), "%s/id_ed25519", ssh_dir);
	if (mkdir(ssh_dir, 0700) != 0 || !(f = fopen(key_path, "w")) || fputs("k\n", f) < 0 ||
	    fclose(f) != 0)
		fail("cannot make the default key", 0);
	atexit(cleanup);
}

static void check_list(char **v, size_t n, bool nonempty, size_t size)
{
	if (!v || v[n] != NULL || (nonempty && n == 0))
		fail("a malformed list", size);
	for (size_t i = 0; i < n; i++)
		if (!v[i] || !v[i][0] || strchr(v[i], ',') || strchr(v[i], ' '))
			fail("a malformed word in a list", size);
}

static void check(const struct machines *ms, size_t size)
{
	struct buf why = BUF_INIT(1 << 16);

	if (ms->n > MACHINES_MAX)
		fail("more machines than the cap", size);
	for (size_t i = 0; i < ms->nwarnings; i++)
		if (!ms->warnings[i] || !strstr(ms->warnings[i], "is listed twice"))
			fail("a strange warning", size);
	for (size_t i = 0; i < ms->n; i++) {
		const struct machine *m = &ms->v[i];
		const char **req;

		if (!m->name || !m->name[0] || strpbrk(m->name, " \t\n@/") || !m->user ||
		    !m->user[0] || !m->private_key || !m->file || m->line < 1 || m->col < 1)
			fail("a machine without name, user, key or position", size);
		if (m->port < 1 || m->port > 65535 || m->parallel_builds < 1 ||
		    m->parallel_builds > MACHINES_MAX_PARALLEL || !(m->speed > 0) ||
		    !isfinite(m->speed) || m->compression < 0 ||
		    m->compression > MACHINES_MAX_ZSTD_LEVEL || !(m->overload_threshold >= 0) ||
		    !(m->connect_timeout > 0) || m->connect_timeout > MACHINES_MAX_CONNECT_TIMEOUT)
			fail("a field out of range", size);
		check_list(m->systems, m->nsystems, true, size);
		check_list(m->features, m->nfeatures, false, size);
		check_list(m->mandatory_features, m->nmandatory, false, size);
		if (m->host_key &&
		    machines_check_host_key(m->host_key, strlen(m->host_key), &why) != 0)
			fail("a host key that does not check", size);
		for (size_t j = 0; j < i; j++)
			if (ms->v[j].port == m->port && !strcasecmp(ms->v[j].name, m->name))
				fail("a duplicate machine kept", size);
		if (!(req = calloc(m->nmandatory + 1, sizeof(*req))))
			fail("out of memory", size);
		memcpy(req, m->mandatory_features, m->nmandatory * sizeof(*req));
		if (machine_fits(m, m->systems[0], req, &why) != MACHINE_FITS)
			fail("a machine does not fit a build made for it", size);
		req[0] = NULL;
		if (machine_fits(m, m->systems[0], req, NULL) !=
		    (m->nmandatory ? MACHINE_MISFIT_MANDATORY : MACHINE_FITS))
			fail("mandatory features not enforced", size);
		free(req);
	}
	buf_release(&why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct machines_opts o = {.home = NULL,
				  .user = "fuzzer",
				  .max_steps = 20000,
				  .max_depth = 100,
				  .max_memory = 8u << 20};
	static const char *const names[] = {"fuzz.scm", "fuzz", "--builders"};
	struct buf why = BUF_INIT(1 << 16);

	setup();
	o.home = home;
	for (int k = 0; k < 3; k++) {
		struct machines *ms = NULL;
		int r = k < 2 ? machines_parse(names[k], (const char *)data, size, &o, &ms)
			      : machines_parse_nix(names[k], (const char *)data, size, &o, &ms);

		if (r == 0) {
			if (!ms)
				fail("success without a result", size);
			check(ms, size);
			machines_free(ms);
			continue;
		}
		if (ms)
			fail("a result on failure", size);
		if (r != ERR_INVALID && r != ERR_FORMAT && r != ERR_TOOBIG && r != ERR_NOTFOUND &&
		    r != ERR_IO)
			fail("an unexpected error code", size);
		if (!err_msg()[0])
			fail("an error without a message", size);
		/* Without includes, every message starts with the position. */
		if ((!size || !memchr(data, '@', size)) &&
		    (strncmp(err_msg(), names[k], strlen(names[k])) ||
		     err_msg()[strlen(names[k])] != ':'))
			fail("an error without its position", size);
	}
	machines_check_host_key((const char *)data, size, &why);
	buf_release(&why);
	return 0;
}
