/* test_daemon_proto.c — the daemon's payloads (proto.h): BUILD, its OK,
 * the four events and QUERY_PATH_INFO round trip; malformed ones are
 * refused with their message; and the engine's request bookkeeping that
 * the daemon relies on (sched_cancel). */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "err.h"
#include "proto.h"
#include "sched.h"
#include "tap.h"

/* Decodes the one frame in B into *F (the decoder must outlive F). */
static int one_frame(struct proto_decoder *d, const struct buf *b, struct proto_frame *f)
{
	size_t used;

	proto_decoder_init(d, "test", 0);
	if (proto_decoder_feed(d, b->data, b->len, &used) != 0 || used != b->len)
		return -1;
	return proto_decoder_next(d, f) == 1 ? 0 : -1;
}

static void test_build(void)
{
	char *drvs[] = {"/s/aaaa-x.drv", "/s/bbbb-y.drv"};
	struct proto_build q = {.flags = PROTO_BUILD_KEEP_GOING,
				.timeout = 5,
				.max_silent = 6,
				.cores = 7,
				.drvs = drvs,
				.ndrvs = 2};
	struct proto_build g;
	struct proto_decoder d;
	struct proto_frame f;
	struct buf b = BUF_INIT(1 << 20);

	ok(proto_build_put(&b, 9, &q) == 0, "BUILD: written");
	ok(one_frame(&d, &b, &f) == 0 && f.op == PROTO_BUILD && f.id == 9, "BUILD: one frame");
	ok(proto_build_get(&g, &f) == 0, "BUILD: read back");
	ok(g.flags == 1 && g.timeout == 5 && g.max_silent == 6 && g.cores == 7 && g.ndrvs == 2 &&
	       !strcmp(g.drvs[1], drvs[1]),
	   "BUILD: every field");
	proto_build_release(&g);
	proto_decoder_release(&d);

	q.flags = 4;
	buf_reset(&b);
	proto_build_put(&b, 9, &q);
	one_frame(&d, &b, &f);
	ok(proto_build_get(&g, &f) == ERR_FORMAT && strstr(err_msg(), "unknown flags 0x4"),
	   "BUILD: unknown flags refused (%s)", err_msg());
	proto_build_release(&g);
	proto_decoder_release(&d);

	q.flags = 0;
	q.ndrvs = 0;
	buf_reset(&b);
	proto_build_put(&b, 9, &q);
	one_frame(&d, &b, &f);
	ok(proto_build_get(&g, &f) == ERR_INVALID, "BUILD: no derivation refused");
	proto_build_release(&g);
	proto_decoder_release(&d);

	buf_reset(&b);
	proto_put_frame(&b, PROTO_BUILD, 0, 3, "\1\2\3", 3);
	one_frame(&d, &b, &f);
	ok(proto_build_get(&g, &f) == ERR_FORMAT && strstr(err_msg(), "build: truncated integer"),
	   "BUILD: truncated payload (%s)", err_msg());
	proto_build_release(&g);
	proto_decoder_release(&d);
	buf_release(&b);
}

static void test_ok(void)
{
	const char *outs[] = {"out=/s/cccc-x", "doc=/s/dddd-x-doc"};
	struct proto_build_entry *v;
	struct proto_decoder d;
	struct proto_frame f;
	struct buf b = BUF_INIT(1 << 21);
	size_t start, n;

	ok(proto_build_ok_begin(&b, 4, 2, &start) == 0 &&
	       proto_build_ok_entry(&b, "/s/aaaa-x.drv", 0, "", outs, 2) == 0 &&
	       proto_build_ok_entry(&b, "/s/bbbb-y.drv", 2, "it failed", NULL, 0) == 0 &&
	       proto_build_ok_end(&b, start) == 0,
	   "OK: written entry by entry");
	ok(one_frame(&d, &b, &f) == 0 && proto_build_ok_get(&f, &v, &n) == 0 && n == 2,
	   "OK: read back");
	ok(!strcmp(v[0].drv, "/s/aaaa-x.drv") && v[0].status == 0 && v[0].noutputs == 2 &&
	       !strcmp(v[0].outputs[1], outs[1]) && v[1].status == 2 &&
	       !strcmp(v[1].msg, "it failed") && v[1].noutputs == 0,
	   "OK: every field");
	proto_build_entries_free(v, n);
	proto_decoder_release(&d);

	buf_reset(&b);
	proto_build_ok_begin(&b, 4, 1000000, &start);
	proto_build_ok_end(&b, start);
	one_frame(&d, &b, &f);
	ok(proto_build_ok_get(&f, &v, &n) == ERR_FORMAT && strstr(err_msg(), "1000000 entries"),
	   "OK: a count larger than the payload is refused before allocating (%s)", err_msg());
	proto_decoder_release(&d);

	buf_reset(&b);
	proto_build_ok_begin(&b, 4, 100000, &start);
	for (int i = 0; i < 100000; i++)
		if (proto_build_ok_entry(&b, "/s/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x.drv", 0, "",
					 outs, 1) != 0)
			break;
	ok(proto_build_ok_end(&b, start) == ERR_TOOBIG, "OK: too many entries for a frame");
	buf_release(&b);
}

static void test_events(void)
{
	struct proto_event in[] = {
	    {.op = PROTO_EV_BUILD_STARTED, .drv = "/s/a.drv", .machine = "localhost"},
	    {.op = PROTO_EV_BUILD_FINISHED,
	     .drv = "/s/a.drv",
	     .machine = "m1",
	     .status = 3,
	     .duration_ms = 1234,
	     .msg = "timed out"},
	    {.op = PROTO_EV_LOG_LINE,
	     .drv = "/s/a.drv",
	     .machine = "m2",
	     .line = "x\0y\n",
	     .nline = 4},
	    {.op = PROTO_EV_BUILD_KEPT, .drv = "/s/a.drv", .machine = "localhost", .msg = "/b/a-1"},
	    {.op = PROTO_EV_PROGRESS,
	     .done = 1,
	     .total = 5,
	     .running = 2,
	     .waiting = 2,
	     .failed = 1},
	};

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct proto_decoder d;
		struct proto_frame f;
		struct proto_event e;
		struct buf b = BUF_INIT(1 << 20);
		bool same;

		ok(proto_event_put(&b, 7, &in[i]) == 0 && one_frame(&d, &b, &f) == 0 &&
		       proto_event_get(&e, &f) == 0,
		   "%s: round trip", proto_op_name(in[i].op));
		same = e.op == in[i].op && e.status == in[i].status &&
		       e.duration_ms == in[i].duration_ms && e.nline == in[i].nline &&
		       (!in[i].nline || !memcmp(e.line, in[i].line, in[i].nline)) &&
		       e.done == in[i].done && e.total == in[i].total && e.failed == in[i].failed &&
		       (!in[i].drv || !strcmp(e.drv, in[i].drv)) &&
		       (!in[i].machine || !strcmp(e.machine, in[i].machine)) &&
		       (!in[i].msg || !strcmp(e.msg, in[i].msg));
		ok(same, "%s: every field", proto_op_name(in[i].op));
		proto_event_release(&e);
		proto_decoder_release(&d);
		buf_release(&b);
	}
}

static void test_query(void)
{
	const char *p[] = {"/s/aaaa-x"};
	struct proto_decoder d;
	struct proto_frame f;
	struct buf b = BUF_INIT(1 << 20);
	char **v;
	size_t n;

	ok(proto_query_put(&b, 2, p, 1) == 0 && one_frame(&d, &b, &f) == 0 &&
	       proto_query_get(&f, &v, &n) == 0 && n == 1 && !strcmp(v[0], p[0]),
	   "QUERY_PATH_INFO: round trip");
	proto_strv_free(v, n);
	proto_decoder_release(&d);
	buf_release(&b);
}

static void test_query_ok(void)
{
	struct path_info pi = PATH_INFO_INIT, *v = NULL;
	struct proto_decoder d;
	struct proto_frame f;
	struct buf b = BUF_INIT(1 << 20);
	size_t start, n = 0;

	pi.path = "/s/aaaa-x";
	pi.nar_hash[0] = 7;
	pi.nar_size = 120;
	pi.deriver = "/s/bbbb-x.drv";
	db_list_push(&pi.refs, "/s/cccc-y");
	db_list_push(&pi.sigs, "k:c2ln");
	pi.built_by = "m1";
	pi.registration_time = 1700000000;
	ok(proto_query_ok_begin(&b, 3, 2, &start) == 0 && proto_query_ok_entry(&b, &pi) == 0 &&
	       proto_query_ok_entry(&b, NULL) == 0 && proto_query_ok_end(&b, start) == 0 &&
	       one_frame(&d, &b, &f) == 0 && proto_query_ok_get(&f, &v, &n) == 0 && n == 2,
	   "QUERY_PATH_INFO's OK: round trip (%s)", err_msg());
	ok(v && !strcmp(v[0].path, pi.path) && v[0].nar_hash[0] == 7 && v[0].nar_size == 120 &&
	       !strcmp(v[0].deriver, pi.deriver) && v[0].refs.n == 1 &&
	       !strcmp(v[0].refs.v[0], "/s/cccc-y") && v[0].sigs.n == 1 && !v[0].ca &&
	       !strcmp(v[0].built_by, "m1") && v[0].registration_time == 1700000000 && !v[1].path,
	   "…every field, and the path that is not valid");
	proto_query_ok_free(v, n);
	proto_decoder_release(&d);
	/* A count that the payload cannot hold is refused before allocating. */
	buf_reset(&b);
	proto_query_ok_begin(&b, 3, UINT64_C(1) << 40, &start);
	proto_query_ok_end(&b, start);
	ok(one_frame(&d, &b, &f) == 0 && proto_query_ok_get(&f, &v, &n) == ERR_FORMAT && !v,
	   "…a huge count is refused (%s)", err_msg());
	proto_decoder_release(&d);
	db_list_release(&pi.refs);
	db_list_release(&pi.sigs);
	buf_release(&b);
}

static void test_add_follow(void)
{
	char *refs[] = {"/s/cccc-y"}, *sigs[] = {"k:c2ln"};
	struct proto_add_nar q = {.path = "/s/aaaa-x",
				  .nar_hash = "sha256:0",
				  .nar_size = 9,
				  .deriver = "",
				  .refs = refs,
				  .nrefs = 1,
				  .sigs = sigs,
				  .nsigs = 1,
				  .ca = "text:sha256:1"},
			     g;
	struct proto_decoder d;
	struct proto_frame f;
	struct buf b = BUF_INIT(1 << 20);
	uint64_t flags, st;
	char *drv = NULL;

	ok(proto_add_nar_put(&b, 4, &q) == 0 && one_frame(&d, &b, &f) == 0 &&
	       proto_add_nar_get(&g, &f) == 0 && !strcmp(g.path, q.path) &&
	       !strcmp(g.nar_hash, q.nar_hash) && g.nar_size == 9 && !*g.deriver && g.nrefs == 1 &&
	       !strcmp(g.refs[0], refs[0]) && g.nsigs == 1 && !strcmp(g.ca, q.ca),
	   "ADD_NAR: round trip, every field");
	proto_add_nar_release(&g);
	proto_decoder_release(&d);
	buf_reset(&b);
	proto_put_frame(&b, PROTO_ADD_NAR, 0, 4, "\x03\0\0\0ab", 6);
	ok(one_frame(&d, &b, &f) == 0 && proto_add_nar_get(&g, &f) == ERR_FORMAT &&
	       strstr(err_msg(), "add nar: bad string length at payload byte 0"),
	   "ADD_NAR: a truncated payload is refused (%s)", err_msg());
	proto_add_nar_release(&g);
	proto_decoder_release(&d);
	buf_reset(&b);
	ok(proto_follow_put(&b, 5, "/s/a.drv", PROTO_FOLLOW_REPLAY) == 0 &&
	       one_frame(&d, &b, &f) == 0 && proto_follow_get(&f, &drv, &flags) == 0 &&
	       !strcmp(drv, "/s/a.drv") && flags == 1,
	   "FOLLOW_LOG: round trip");
	free(drv);
	proto_decoder_release(&d);
	buf_reset(&b);
	proto_follow_put(&b, 5, "/s/a.drv", 2);
	ok(one_frame(&d, &b, &f) == 0 && proto_follow_get(&f, &drv, &flags) == ERR_FORMAT &&
	       strstr(err_msg(), "unknown flags 0x2"),
	   "FOLLOW_LOG: unknown flags refused");
	free(drv);
	proto_decoder_release(&d);
	buf_reset(&b);
	ok(proto_ok_u64_put(&b, 5, 2) == 0 && one_frame(&d, &b, &f) == 0 &&
	       proto_ok_u64_get(&f, &st) == 0 && st == 2,
	   "FOLLOW_LOG's OK: its status");
	proto_decoder_release(&d);
	buf_release(&b);
}

static void test_sched_cancel(void)
{
	struct sched *s;
	size_t a, b, c, id;

	sched_new(&s, 1, true);
	sched_add(s, NULL, 0, &a);
	sched_add(s, &a, 1, &b);
	sched_add(s, NULL, 0, &c);
	sched_cancel(s, c);
	ok(sched_state(s, c) == SCHED_CANCELLED, "sched_cancel: a ready node is cancelled");
	ok(sched_next(s, &id) == 1 && id == a, "…and skipped by sched_next");
	sched_cancel(s, a);
	ok(sched_state(s, a) == SCHED_CANCELLED && sched_next(s, &id) == 0,
	   "a running node cancelled gives back its slot; its user waits");
	sched_cancel(s, b);
	ok(sched_finished(s), "once its user is cancelled too, the scheduler is finished");
	sched_free(s);
}

/* DELETE, GC, ADD_SIGS and IMPORT. */
static void test_writes(void)
{
	char *sigs[] = {"k:c2ln"}, *keys[] = {"k:a2V5"};
	struct proto_add_sigs q = {"/s/aaaa-x", sigs, 1, keys, 1}, g;
	struct proto_decoder d;
	struct proto_frame f;
	struct buf b = BUF_INIT(1 << 20);
	uint64_t flags;

	ok(proto_add_sigs_put(&b, 3, &q) == 0 && one_frame(&d, &b, &f) == 0 &&
	       f.op == PROTO_ADD_SIGS && proto_add_sigs_get(&g, &f) == 0 &&
	       !strcmp(g.path, q.path) && g.nsigs == 1 && !strcmp(g.sigs[0], sigs[0]) &&
	       g.nkeys == 1 && !strcmp(g.keys[0], keys[0]),
	   "ADD_SIGS: round trip");
	proto_add_sigs_release(&g);
	proto_decoder_release(&d);
	buf_reset(&b);
	q.nsigs = 0;
	ok(proto_add_sigs_put(&b, 3, &q) == 0 && one_frame(&d, &b, &f) == 0 &&
	       proto_add_sigs_get(&g, &f) == ERR_FORMAT &&
	       !strcmp(err_msg(), "add sigs: no signature given") && !g.path && !g.keys,
	   "ADD_SIGS: no signature is refused, nothing kept (%s)", err_msg());
	proto_decoder_release(&d);
	buf_reset(&b);
	proto_put_frame(&b, PROTO_ADD_SIGS, 0, 3, "\x02\0\0\0ab\x20\0\0\0", 10);
	ok(one_frame(&d, &b, &f) == 0 && proto_add_sigs_get(&g, &f) == ERR_FORMAT &&
	       strstr(err_msg(), "add sigs: bad list length at payload byte 6"),
	   "ADD_SIGS: a list longer than the payload is refused (%s)", err_msg());
	proto_decoder_release(&d);
	buf_reset(&b);
	ok(proto_u64_frame_put(&b, PROTO_IMPORT, 4, PROTO_IMPORT_NIX) == 0 &&
	       one_frame(&d, &b, &f) == 0 && proto_u64_frame_get(&f, PROTO_IMPORT, &flags) == 0 &&
	       flags == PROTO_IMPORT_NIX,
	   "IMPORT: round trip of its flags");
	ok(proto_u64_frame_get(&f, PROTO_GC, &flags) == ERR_FORMAT &&
	       strstr(err_msg(), "expected a gc frame, got import-archive (0x0109)"),
	   "…read as another op: refused (%s)", err_msg());
	proto_decoder_release(&d);
	buf_reset(&b);
	proto_put_frame(&b, PROTO_IMPORT, 0, 4, "\1\0\0", 3);
	ok(one_frame(&d, &b, &f) == 0 &&
	       proto_u64_frame_get(&f, PROTO_IMPORT, &flags) == ERR_FORMAT &&
	       strstr(err_msg(), "import-archive: truncated integer at payload byte 0"),
	   "IMPORT: truncated flags refused (%s)", err_msg());
	proto_decoder_release(&d);
	buf_release(&b);
	ok(proto_op_name(PROTO_DELETE) && proto_op_name(PROTO_GC) &&
	       proto_op_name(PROTO_ADD_SIGS) && proto_op_name(PROTO_IMPORT) &&
	       !proto_op_name(0x01ff),
	   "the four new ops are known to the decoder, 0x01ff is not");
}

int main(void)
{
	test_build();
	test_ok();
	test_events();
	test_query();
	test_query_ok();
	test_add_follow();
	test_sched_cancel();
	test_writes();
	return tap_done();
}
