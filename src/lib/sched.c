#include "sched.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

struct node {
	enum sched_state state;
	size_t missing; /* dependencies not done yet */
	size_t height;
	bool slot;     /* holds a slot */
	size_t *users; /* the nodes that need this one (higher ids) */
	size_t nusers, capusers;
};

struct sched {
	struct node *v;
	size_t n, cap;
	size_t *heap;        /* the ready nodes, best first */
	unsigned char *mark; /* scratch for fail_users, all 0 between calls */
	size_t nheap;
	size_t count[SCHED_NSTATES];
	size_t slots; /* slots in use */
	unsigned max_jobs;
	bool keep_going;
	bool stopped;
	bool heights_stale;
};

int sched_new(struct sched **out, unsigned max_jobs, bool keep_going)
{
	struct sched *s;

	*out = NULL;
	if (max_jobs == 0)
		return err_set(ERR_INVALID, "the number of build slots must be at least 1");
	if (!(s = calloc(1, sizeof(*s))))
		return err_set(ERR_NOMEM, "out of memory");
	s->max_jobs = max_jobs;
	s->keep_going = keep_going;
	*out = s;
	return 0;
}

void sched_free(struct sched *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].users);
	free(s->v);
	free(s->heap);
	free(s->mark);
	free(s);
}

/* True when A should start before B. */
static bool before(const struct sched *s, size_t a, size_t b)
{
	if (s->v[a].height != s->v[b].height)
		return s->v[a].height > s->v[b].height;
	return a < b;
}

static void sift_down(struct sched *s, size_t i)
{
	size_t *h = s->heap;

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, best = i, t;

		if (l < s->nheap && before(s, h[l], h[best]))
			best = l;
		if (r < s->nheap && before(s, h[r], h[best]))
			best = r;
		if (best == i)
			return;
		t = h[i];
		h[i] = h[best];
		h[best] = t;
		i = best;
	}
}

static void sift_up(struct sched *s, size_t i)
{
	size_t *h = s->heap;

	while (i > 0 && before(s, h[i], h[(i - 1) / 2])) {
		size_t p = (i - 1) / 2, t = h[i];

		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

static void set_state(struct sched *s, size_t id, enum sched_state st)
{
	s->count[s->v[id].state]--;
	s->v[id].state = st;
	s->count[st]++;
}

/* The heap has room for every node (see sched_add), so this cannot fail. */
static void make_ready(struct sched *s, size_t id)
{
	set_state(s, id, SCHED_READY);
	s->heap[s->nheap++] = id;
	sift_up(s, s->nheap - 1);
}

/* Heights, recomputed only when nodes were added since the last time:
 * users have higher ids, so one pass from the last node down suffices. */
static void refresh_heights(struct sched *s)
{
	if (!s->heights_stale)
		return;
	for (size_t i = s->n; i-- > 0;) {
		struct node *nd = &s->v[i];
		size_t h = 0;

		for (size_t k = 0; k < nd->nusers; k++)
			if (s->v[nd->users[k]].height > h)
				h = s->v[nd->users[k]].height;
		nd->height = h + 1;
	}
	for (size_t i = s->nheap / 2 + 1; i-- > 0;)
		sift_down(s, i);
	s->heights_stale = false;
}

static int add_user(struct node *dep, size_t id)
{
	if (dep->nusers && dep->users[dep->nusers - 1] == id)
		return 0; /* the same dependency listed twice */
	if (dep->nusers == dep->capusers) {
		size_t cap = dep->capusers ? 2 * dep->capusers : 2;
		size_t *v = realloc(dep->users, cap * sizeof(*v));

		if (!v)
			return err_set(ERR_NOMEM, "out of memory");
		dep->users = v;
		dep->capusers = cap;
	}
	dep->users[dep->nusers++] = id;
	return 1;
}

int sched_add(struct sched *s, const size_t *deps, size_t n, size_t *id)
{
	size_t me = s->n;
	struct node *nd;
	bool dep_failed = false;
	int r;

	for (size_t i = 0; i < n; i++)
		if (deps[i] >= s->n)
			return err_set(ERR_INVALID, "scheduler: node %zu needs unknown node %zu",
				       me, deps[i]);
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct node *v = realloc(s->v, cap * sizeof(*v));
		size_t *h;
		unsigned char *m;

		if (!v)
			return err_set(ERR_NOMEM, "out of memory");
		s->v = v;
		if (!(h = realloc(s->heap, cap * sizeof(*h))))
			return err_set(ERR_NOMEM, "out of memory");
		s->heap = h;
		if (!(m = realloc(s->mark, cap)))
			return err_set(ERR_NOMEM, "out of memory");
		memset(m + s->cap, 0, cap - s->cap);
		s->mark = m;
		s->cap = cap;
	}
	nd = &s->v[me];
	memset(nd, 0, sizeof(*nd));
	nd->state = SCHED_WAITING;
	/* Edges first: on failure the node is not added (edges to it from
	 * dependencies are dropped again). */
	for (size_t i = 0; i < n; i++) {
		struct node *dep = &s->v[deps[i]];

		if ((r = add_user(dep, me)) < 0) {
			for (size_t k = 0; k < i; k++) {
				struct node *d = &s->v[deps[k]];

				if (d->nusers && d->users[d->nusers - 1] == me)
					d->nusers--;
			}
			return r;
		}
		if (r == 0)
			continue;
		if (dep->state == SCHED_FAILED || dep->state == SCHED_DEP_FAILED)
			dep_failed = true;
		else if (dep->state != SCHED_DONE)
			nd->missing++;
	}
	s->n++;
	s->count[SCHED_WAITING]++;
	s->heights_stale = true;
	if (dep_failed)
		set_state(s, me, SCHED_DEP_FAILED);
	else if (s->stopped)
		set_state(s, me, SCHED_CANCELLED);
	else if (nd->missing == 0)
		make_ready(s, me);
	*id = me;
	return 0;
}

int sched_next(struct sched *s, size_t *id)
{
	if (s->stopped || s->slots >= s->max_jobs)
		return 0;
	refresh_heights(s);
	/* Cancelled nodes are left in the heap (sched_cancel is O(1)) and
	 * dropped here. */
	while (s->nheap && s->v[s->heap[0]].state != SCHED_READY) {
		s->heap[0] = s->heap[--s->nheap];
		sift_down(s, 0);
	}
	if (s->nheap == 0)
		return 0;
	*id = s->heap[0];
	s->heap[0] = s->heap[--s->nheap];
	sift_down(s, 0);
	set_state(s, *id, SCHED_RUNNING);
	s->v[*id].slot = true;
	s->slots++;
	return 1;
}

void sched_release(struct sched *s, size_t id)
{
	if (id < s->n && s->v[id].slot) {
		s->v[id].slot = false;
		s->slots--;
	}
}

/* Marks everything that needs ID, directly or not, as dep-failed.  Users
 * have higher ids than what they need, so one forward pass over the mark
 * array finds them all without recursion. */
static void fail_users(struct sched *s, size_t id)
{
	unsigned char *mark = s->mark;

	for (size_t k = 0; k < s->v[id].nusers; k++)
		mark[s->v[id].users[k]] = 1;
	for (size_t i = id + 1; i < s->n; i++) {
		enum sched_state st;

		if (!mark[i])
			continue;
		mark[i] = 0;
		st = s->v[i].state;
		/* Running only after sched_revoke: it ran on a result taken
		 * back. */
		if (st != SCHED_WAITING && st != SCHED_READY && st != SCHED_CANCELLED &&
		    st != SCHED_RUNNING)
			continue;
		sched_release(s, i);
		set_state(s, i, SCHED_DEP_FAILED);
		for (size_t k = 0; k < s->v[i].nusers; k++)
			mark[s->v[i].users[k]] = 1;
	}
}

/* Drops nodes that are no longer READY from the heap. */
static void prune_heap(struct sched *s)
{
	size_t m = 0;

	for (size_t i = 0; i < s->nheap; i++)
		if (s->v[s->heap[i]].state == SCHED_READY)
			s->heap[m++] = s->heap[i];
	s->nheap = m;
	for (size_t i = s->nheap / 2 + 1; i-- > 0;)
		sift_down(s, i);
}

void sched_revoke(struct sched *s, size_t id)
{
	if (id >= s->n || s->v[id].state != SCHED_DONE)
		return;
	set_state(s, id, SCHED_FAILED);
	fail_users(s, id);
	if (!s->keep_going)
		sched_stop(s);
	else
		prune_heap(s);
}

void sched_stop(struct sched *s)
{
	if (s->stopped)
		return;
	s->stopped = true;
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].state == SCHED_WAITING || s->v[i].state == SCHED_READY)
			set_state(s, i, SCHED_CANCELLED);
	s->nheap = 0;
}

void sched_done(struct sched *s, size_t id, bool ok)
{
	struct node *nd;

	if (id >= s->n || s->v[id].state != SCHED_RUNNING)
		return;
	sched_release(s, id);
	nd = &s->v[id];
	if (!ok) {
		set_state(s, id, SCHED_FAILED);
		fail_users(s, id);
		if (!s->keep_going)
			sched_stop(s);
		else
			prune_heap(s);
		return;
	}
	set_state(s, id, SCHED_DONE);
	for (size_t k = 0; k < nd->nusers; k++) {
		struct node *u = &s->v[nd->users[k]];

		if (--u->missing == 0 && u->state == SCHED_WAITING)
			make_ready(s, nd->users[k]);
	}
}

void sched_cancel(struct sched *s, size_t id)
{
	enum sched_state st;

	if (id >= s->n)
		return;
	st = s->v[id].state;
	if (st != SCHED_WAITING && st != SCHED_READY && st != SCHED_RUNNING)
		return;
	sched_release(s, id);
	set_state(s, id, SCHED_CANCELLED);
}

bool sched_finished(const struct sched *s)
{
	if (s->count[SCHED_RUNNING] > 0)
		return false;
	return s->stopped || s->count[SCHED_READY] == 0;
}

size_t sched_size(const struct sched *s)
{
	return s->n;
}

enum sched_state sched_state(const struct sched *s, size_t id)
{
	return id < s->n ? s->v[id].state : SCHED_CANCELLED;
}

size_t sched_count(const struct sched *s, enum sched_state state)
{
	return state < SCHED_NSTATES ? s->count[state] : 0;
}

size_t sched_height(struct sched *s, size_t id)
{
	refresh_heights(s);
	return id < s->n ? s->v[id].height : 0;
}
