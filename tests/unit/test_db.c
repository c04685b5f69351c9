/* test_db — the store database: registration, references, deletion. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "tap.h"

#define STORE "/yonder/store"
#define A     STORE "/00000000000000000000000000000000-a"
#define B     STORE "/11111111111111111111111111111111-b"
#define C     STORE "/22222222222222222222222222222222-c"
#define D     STORE "/33333333333333333333333333333333-d"
#define S     STORE "/44444444444444444444444444444444-self"

static void info(struct path_info *pi, const char *path, uint8_t seed, const char *ref1,
		 const char *ref2)
{
	path_info_init(pi);
	pi->path = strdup(path);
	memset(pi->nar_hash, seed, sizeof(pi->nar_hash));
	pi->nar_size = 100u + seed;
	if (ref1)
		db_list_push(&pi->refs, ref1);
	if (ref2)
		db_list_push(&pi->refs, ref2);
}

static char *joined(const struct db_list *l)
{
	static char s[4096];

	s[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, strrchr(l->v[i], '-') + 1);
	}
	return s;
}

int main(void)
{
	char state[512];
	struct db *db = NULL, *db2 = NULL;
	struct path_info pis[3], got = PATH_INFO_INIT;
	struct db_list l = DB_LIST_INIT;
	int r;

	snprintf(state, sizeof(state), "%s/state", tap_tmpdir());
	r = db_open(&db, state, STORE);
	if (!ok(r == 0, "open a new database")) {
		printf("# %s\n", err_msg());
		return tap_done();
	}

	/* A missing reference fails the whole batch. */
	info(&pis[0], A, 1, NULL, NULL);
	info(&pis[1], B, 2, A, D); /* D is neither valid nor in the batch */
	r = db_register(db, pis, 2);
	is_int(r, ERR_NOTFOUND, "a batch with an invalid reference is refused");
	ok(strstr(err_msg(), B) && strstr(err_msg(), D), "the message names both paths: %s",
	   err_msg());
	is_int(db_is_valid(db, A), 0, "nothing of the failed batch is registered");
	is_int(db_is_valid(db, B), 0, "nor its second path");
	path_info_release(&pis[0]);
	path_info_release(&pis[1]);

	/* References resolved inside the same batch, in any order. */
	info(&pis[0], C, 3, B, A); /* C -> B, A */
	info(&pis[1], B, 2, A, NULL);
	info(&pis[2], A, 1, NULL, NULL);
	db_list_push(&pis[2].sigs, "key-1:c2lnbmF0dXJl");
	pis[2].deriver = strdup(STORE "/55555555555555555555555555555555-a.drv");
	pis[2].built_by = strdup("builder-1");
	pis[2].ca = strdup("fixed:r:sha256:xyz");
	r = db_register(db, pis, 3);
	if (!ok(r == 0, "a batch whose references are in the batch registers"))
		printf("# %s\n", err_msg());
	is_int(db_is_valid(db, A), 1, "A valid");
	is_int(db_is_valid(db, C), 1, "C valid");
	is_int(db_is_valid(db, D), 0, "D not valid");
	for (int i = 0; i < 3; i++)
		path_info_release(&pis[i]);

	r = db_query_info(db, A, &got);
	ok(r == 0, "query A");
	is_int((long long)got.nar_size, 101, "A's size");
	ok(got.nar_hash[0] == 1 && got.nar_hash[31] == 1, "A's hash");
	is_str(got.deriver, STORE "/55555555555555555555555555555555-a.drv", "A's deriver");
	is_str(got.built_by, "builder-1", "A's builder");
	is_str(got.ca, "fixed:r:sha256:xyz", "A's content address");
	ok(got.sigs.n == 1 && !strcmp(got.sigs.v[0], "key-1:c2lnbmF0dXJl"), "A's signature");
	ok(got.registration_time > 1600000000, "A's registration time is now");
	path_info_release(&got);
	r = db_query_info(db, C, &got);
	is_str(joined(&got.refs), "a b", "C's references, sorted");
	ok(got.deriver == NULL && got.built_by == NULL, "C has no deriver nor builder");
	path_info_release(&got);
	r = db_query_info(db, D, &got);
	is_int(r, ERR_NOTFOUND, "query of an invalid path");
	ok(strstr(err_msg(), D) != NULL, "names it: %s", err_msg());
	path_info_release(&got);

	r = db_query_referrers(db, A, &l);
	is_str(joined(&l), "b c", "referrers of A");
	db_list_release(&l);
	r = db_query_referrers(db, C, &l);
	ok(r == 0 && l.n == 0, "C has no referrers");
	db_list_release(&l);
	{
		const char *roots[] = {C};

		r = db_query_closure(db, roots, 1, &l);
		is_str(joined(&l), "a b c", "closure of C, references first");
		db_list_release(&l);
	}

	/* Registering again adds what is new and keeps the row. */
	info(&pis[0], A, 9, NULL, NULL);
	db_list_push(&pis[0].sigs, "key-2:b3RoZXI=");
	ok(db_register(db, pis, 1) == 0, "registering a valid path again");
	path_info_release(&pis[0]);
	db_query_info(db, A, &got);
	ok(got.nar_hash[0] == 1 && got.sigs.n == 2, "keeps its row, adds the signature");
	path_info_release(&got);

	{
		const char *sigs[] = {"key-3:dGhyZWU=", "key-1:c2lnbmF0dXJl"};

		ok(db_add_signatures(db, A, sigs, 2) == 0, "add signatures to a valid path");
		db_query_info(db, A, &got);
		is_int((long long)got.sigs.n, 3, "only the new one is added");
		path_info_release(&got);
		is_int(db_add_signatures(db, D, sigs, 1), ERR_NOTFOUND,
		       "adding a signature to an invalid path fails");
	}

	/* Deletion. */
	{
		const char *del_a[] = {A}, *del_cb[] = {C, B}, *del_b[] = {B};

		r = db_delete(db, del_a, 1);
		is_int(r, ERR_REFERENCED, "delete of a referenced path is refused");
		ok(strstr(err_msg(), A) && (strstr(err_msg(), B) || strstr(err_msg(), C)),
		   "the message names it and a referrer: %s", err_msg());
		is_int(db_is_valid(db, A), 1, "A still valid");
		r = db_delete(db, del_b, 1);
		is_int(r, ERR_REFERENCED, "B is referenced by C");
		r = db_delete(db, del_cb, 2);
		ok(r == 0, "C and B deleted together (B referred to only by C)");
		is_int(db_is_valid(db, B), 0, "B gone");
		is_int(db_is_valid(db, C), 0, "C gone");
		r = db_delete(db, del_b, 1);
		is_int(r, ERR_NOTFOUND, "delete of an invalid path");
		r = db_delete(db, del_a, 1);
		ok(r == 0, "A deletable once nothing refers to it");
	}
	info(&pis[0], S, 4, S, NULL);
	ok(db_register(db, pis, 1) == 0, "register a self-referring path");
	path_info_release(&pis[0]);
	{
		const char *del_s[] = {S}, *roots[] = {S};

		db_query_referrers(db, S, &l);
		is_str(joined(&l), "self", "it is its own referrer");
		db_list_release(&l);
		db_query_closure(db, roots, 1, &l);
		is_str(joined(&l), "self", "its closure is itself");
		db_list_release(&l);
		r = db_delete(db, del_s, 1);
		if (!ok(r == 0, "a self-referring path is deletable"))
			printf("# %s\n", err_msg());
		is_int(db_is_valid(db, S), 0, "and gone");
	}

	/* Reopen: same store dir fine, another refused. */
	r = db_open(&db2, state, STORE);
	ok(r == 0, "reopen for the same store");
	db_free(db2);
	db2 = NULL;
	r = db_open(&db2, state, "/gnu/store");
	is_int(r, ERR_INVALID, "reopen for another store is refused");
	ok(strstr(err_msg(), STORE) && strstr(err_msg(), "/gnu/store"),
	   "the message names both: %s", err_msg());
	ok(db2 == NULL, "no handle returned");
	db_free(db);
	return tap_done();
}
