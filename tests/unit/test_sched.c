/* test_sched.c — the scheduler's decisions: readiness, slots, priority,
 * failures with and without --keep-going, stopping. */
#include <stdlib.h>

#include "err.h"
#include "sched.h"
#include "tap.h"

static size_t add(struct sched *s, const size_t *deps, size_t n)
{
	size_t id = (size_t)-1;
	int r = sched_add(s, deps, n, &id);

	if (r != 0)
		ok(0, "sched_add: %s", err_msg());
	return id;
}

static size_t next(struct sched *s)
{
	size_t id;

	return sched_next(s, &id) == 1 ? id : (size_t)-1;
}

#define NONE ((size_t)-1)

static void test_new(void)
{
	struct sched *s = NULL;

	is_int(sched_new(&s, 0, false), ERR_INVALID, "max-jobs 0 is refused");
	ok(s == NULL, "and nothing is returned");
	is_int(sched_new(&s, 1, false), 0, "max-jobs 1");
	ok(sched_finished(s), "an empty scheduler is finished");
	is_int((long long)next(s), (long long)NONE, "and has nothing to start");
	sched_free(s);
	sched_free(NULL);
}

static void test_chain(void)
{
	struct sched *s;
	size_t a, b, c, bad = 7, id;

	sched_new(&s, 4, false);
	a = add(s, NULL, 0);
	b = add(s, &a, 1);
	c = add(s, &b, 1);
	is_int(sched_state(s, a), SCHED_READY, "a leaf is ready at once");
	is_int(sched_state(s, b), SCHED_WAITING, "its user waits");
	is_int(sched_add(s, &bad, 1, &id), ERR_INVALID, "an unknown dependency is refused");
	is_int((long long)sched_size(s), 3, "and not added");
	is_int((long long)next(s), (long long)a, "the leaf starts");
	is_int((long long)next(s), (long long)NONE, "nothing else is ready, though slots are free");
	ok(!sched_finished(s), "not finished while a runs");
	sched_done(s, a, true);
	is_int(sched_state(s, b), SCHED_READY, "b is ready once a is done");
	is_int(sched_state(s, c), SCHED_WAITING, "c still waits");
	is_int((long long)next(s), (long long)b, "b starts");
	sched_done(s, b, true);
	is_int((long long)next(s), (long long)c, "then c");
	sched_done(s, c, true);
	sched_done(s, c, true); /* ignored: not running */
	ok(sched_finished(s), "finished");
	is_int((long long)sched_count(s, SCHED_DONE), 3, "three done");
	/* A node added on top of finished ones is ready at once. */
	{
		size_t deps[2] = {a, c};

		id = add(s, deps, 2);
		is_int(sched_state(s, id), SCHED_READY, "a node on done nodes is ready at once");
		ok(!sched_finished(s), "and the scheduler has work again");
	}
	sched_free(s);
}

static void test_slots(void)
{
	struct sched *s;
	size_t got[3];

	sched_new(&s, 2, false);
	for (int i = 0; i < 5; i++)
		add(s, NULL, 0);
	got[0] = next(s);
	got[1] = next(s);
	got[2] = next(s);
	is_int((long long)got[0], 0, "first slot: node 0 (ties go by id)");
	is_int((long long)got[1], 1, "second slot: node 1");
	is_int((long long)got[2], (long long)NONE, "no third slot with max-jobs 2");
	is_int((long long)sched_count(s, SCHED_RUNNING), 2, "two running");
	sched_done(s, got[1], true);
	is_int((long long)next(s), 2, "a slot freed: node 2 starts");
	is_int((long long)next(s), (long long)NONE, "and only one");
	sched_free(s);
}

static void test_priority(void)
{
	struct sched *s;
	size_t leaf[3], c0, c1, c2;

	sched_new(&s, 1, false);
	for (int i = 0; i < 3; i++)
		leaf[i] = add(s, NULL, 0);
	c0 = add(s, NULL, 0);
	c1 = add(s, &c0, 1);
	c2 = add(s, &c1, 1);
	is_int((long long)sched_height(s, c0), 3, "the chain's bottom has height 3");
	is_int((long long)sched_height(s, c2), 1, "its top height 1");
	is_int((long long)sched_height(s, leaf[0]), 1, "a leaf height 1");
	is_int((long long)next(s), (long long)c0, "the chain goes before earlier leaves");
	sched_done(s, c0, true);
	is_int((long long)next(s), (long long)c1, "and keeps going first");
	sched_done(s, c1, true);
	is_int((long long)next(s), (long long)leaf[0],
	       "then ties by id: leaf 0 before the chain's top");
	sched_done(s, leaf[0], true);
	is_int((long long)next(s), (long long)leaf[1], "leaf 1");
	sched_free(s);
}

/* A diamond a → {b, c} → d, and an independent e (with user f). */
static void diamond(struct sched *s, size_t *id)
{
	size_t deps[2];

	id[0] = add(s, NULL, 0);   /* a */
	id[1] = add(s, &id[0], 1); /* b */
	id[2] = add(s, &id[0], 1); /* c */
	deps[0] = id[1];
	deps[1] = id[2];
	id[3] = add(s, deps, 2);   /* d */
	id[4] = add(s, NULL, 0);   /* e */
	id[5] = add(s, &id[4], 1); /* f */
}

static void test_fail_stop(void)
{
	struct sched *s;
	size_t id[6], x;

	sched_new(&s, 2, false);
	diamond(s, id);
	ok(next(s) == id[0] && next(s) == id[4], "a and e start");
	sched_done(s, id[0], false);
	is_int(sched_state(s, id[0]), SCHED_FAILED, "a failed");
	is_int(sched_state(s, id[1]), SCHED_DEP_FAILED, "b depends on it");
	is_int(sched_state(s, id[3]), SCHED_DEP_FAILED, "and d, through b and c");
	is_int(sched_state(s, id[4]), SCHED_RUNNING, "e keeps running");
	is_int(sched_state(s, id[5]), SCHED_CANCELLED, "f is cancelled without --keep-going");
	ok(!sched_finished(s), "not finished while e runs");
	is_int((long long)next(s), (long long)NONE, "nothing new starts");
	sched_done(s, id[4], true);
	is_int(sched_state(s, id[5]), SCHED_CANCELLED, "f stays cancelled when e succeeds");
	is_int((long long)next(s), (long long)NONE, "and does not start");
	ok(sched_finished(s), "finished");
	x = add(s, NULL, 0);
	is_int(sched_state(s, x), SCHED_CANCELLED, "a node added after stopping is cancelled");
	ok(sched_finished(s), "still finished");
	sched_free(s);
}

static void test_fail_keep_going(void)
{
	struct sched *s;
	size_t id[6], x, y;

	sched_new(&s, 2, true);
	diamond(s, id);
	ok(next(s) == id[0] && next(s) == id[4], "a and e start");
	sched_done(s, id[0], false);
	is_int(sched_state(s, id[2]), SCHED_DEP_FAILED, "c depends on the failure");
	is_int(sched_state(s, id[3]), SCHED_DEP_FAILED, "d too");
	is_int((long long)next(s), (long long)NONE, "f is not ready yet");
	sched_done(s, id[4], true);
	is_int((long long)next(s), (long long)id[5], "with --keep-going, f still runs");
	sched_done(s, id[5], true);
	ok(sched_finished(s), "finished");
	is_int((long long)sched_count(s, SCHED_DONE), 2, "two done");
	is_int((long long)sched_count(s, SCHED_FAILED), 1, "one failed");
	is_int((long long)sched_count(s, SCHED_DEP_FAILED), 3, "three could not run");
	x = add(s, &id[3], 1);
	is_int(sched_state(s, x), SCHED_DEP_FAILED, "a node on a dep-failed node is dep-failed");
	y = add(s, &x, 1);
	is_int(sched_state(s, y), SCHED_DEP_FAILED, "and so is its user");
	sched_free(s);
}

static void test_dups_and_stop(void)
{
	struct sched *s;
	size_t a, b, deps[3];

	sched_new(&s, 1, true);
	a = add(s, NULL, 0);
	deps[0] = deps[1] = deps[2] = a;
	b = add(s, deps, 3);
	is_int((long long)next(s), (long long)a, "a starts");
	sched_done(s, a, true);
	is_int(sched_state(s, b), SCHED_READY, "a dependency listed three times counts once");
	sched_stop(s);
	is_int(sched_state(s, b), SCHED_CANCELLED, "stopping cancels what was ready");
	is_int((long long)next(s), (long long)NONE, "and nothing starts");
	ok(sched_finished(s), "finished");
	sched_free(s);
}

static void test_release(void)
{
	struct sched *s;
	size_t a, b, c;

	sched_new(&s, 1, false);
	a = add(s, NULL, 0);
	b = add(s, NULL, 0);
	c = add(s, &a, 1);
	is_int((long long)next(s), (long long)a, "a takes the one slot");
	is_int((long long)next(s), (long long)NONE, "b waits for the slot");
	sched_release(s, a);
	is_int(sched_state(s, a), SCHED_RUNNING, "a released its slot but still runs");
	is_int(sched_state(s, c), SCHED_WAITING, "so what needs a still waits");
	is_int((long long)next(s), (long long)b, "b takes the freed slot");
	sched_release(s, a); /* a no-op: a holds no slot */
	is_int((long long)next(s), (long long)NONE, "releasing twice frees nothing more");
	ok(!sched_finished(s), "not finished: a and b run");
	sched_done(s, a, true);
	is_int(sched_state(s, c), SCHED_READY, "a done: c is ready");
	is_int((long long)next(s), (long long)NONE, "but b holds the slot");
	sched_done(s, b, true);
	is_int((long long)next(s), (long long)c, "then c runs");
	sched_done(s, c, true);
	ok(sched_finished(s), "finished");
	sched_free(s);
}

static void test_revoke(void)
{
	struct sched *s;
	size_t id[6], x;

	/* With --keep-going: a → {b, c} → d; e → f. */
	sched_new(&s, 3, true);
	diamond(s, id);
	ok(next(s) == id[0] && next(s) == id[4], "a and e start");
	sched_done(s, id[0], true);
	ok(next(s) == id[1] && next(s) == id[2], "b and c start on a's success");
	sched_revoke(s, id[0]);
	is_int(sched_state(s, id[0]), SCHED_FAILED, "a's success taken back: failed");
	is_int(sched_state(s, id[1]), SCHED_DEP_FAILED, "running b is dep-failed");
	is_int(sched_state(s, id[2]), SCHED_DEP_FAILED, "running c too");
	is_int(sched_state(s, id[3]), SCHED_DEP_FAILED, "and d");
	is_int((long long)sched_count(s, SCHED_RUNNING), 1, "only e still runs");
	sched_done(s, id[1], true); /* the caller's late report: ignored */
	is_int(sched_state(s, id[1]), SCHED_DEP_FAILED, "a late sched_done changes nothing");
	sched_revoke(s, id[0]); /* not done any more: a no-op */
	is_int(sched_state(s, id[0]), SCHED_FAILED, "revoking twice is a no-op");
	x = next(s);
	is_int((long long)x, (long long)NONE, "f waits for e; the freed slots find nothing ready");
	sched_done(s, id[4], true);
	is_int((long long)next(s), (long long)id[5], "f runs: it does not need a");
	sched_done(s, id[5], true);
	ok(sched_finished(s), "finished");
	sched_free(s);

	/* Without --keep-going: revoking stops everything not started. */
	sched_new(&s, 1, false);
	diamond(s, id);
	is_int((long long)next(s), (long long)id[0], "a starts");
	sched_done(s, id[0], true);
	is_int((long long)next(s), (long long)id[1], "b starts");
	sched_revoke(s, id[0]);
	is_int(sched_state(s, id[4]), SCHED_CANCELLED, "e is cancelled");
	is_int((long long)next(s), (long long)NONE, "nothing starts");
	ok(sched_finished(s), "finished: b gave its slot back");
	sched_free(s);
}

/* A long chain and many leaves: every node runs exactly once, in an
 * order that respects the edges, with never more than max-jobs at once. */
static void test_big(void)
{
	enum { CHAIN = 10000, LEAVES = 5000 };
	struct sched *s;
	size_t prev = 0, id, running[3], nrun = 0;
	unsigned char *seen = calloc(CHAIN + LEAVES, 1);
	bool order_ok = true, slots_ok = true;
	size_t count = 0;

	sched_new(&s, 3, false);
	for (size_t i = 0; i < CHAIN; i++)
		prev = add(s, i ? &prev : NULL, i ? 1 : 0);
	for (size_t i = 0; i < LEAVES; i++)
		add(s, NULL, 0);
	while (!sched_finished(s)) {
		while (sched_next(s, &id) == 1) {
			if (id > 0 && id < CHAIN && !seen[id - 1])
				order_ok = false;
			if (nrun == 3)
				slots_ok = false;
			else
				running[nrun++] = id;
			count++;
		}
		if (nrun == 0)
			break;
		/* Finish the oldest. */
		seen[running[0]] = 1;
		sched_done(s, running[0], true);
		running[0] = running[--nrun];
	}
	is_int((long long)count, CHAIN + LEAVES, "every node ran once");
	ok(order_ok, "each chain link ran after the one it needs");
	ok(slots_ok, "never more than 3 at once");
	is_int((long long)sched_count(s, SCHED_DONE), CHAIN + LEAVES, "all done");
	free(seen);
	sched_free(s);
}

int main(void)
{
	test_new();
	test_chain();
	test_slots();
	test_priority();
	test_fail_stop();
	test_fail_keep_going();
	test_dups_and_stop();
	test_release();
	test_revoke();
	test_big();
	return tap_done();
}
