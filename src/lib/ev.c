#include "ev.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* What a descriptor registered in epoll stands for. */
enum { SLOT_NONE, SLOT_IO, SLOT_CHILD, SLOT_SIGNAL };

/* Each descriptor's registration carries a generation number in the
 * epoll data next to the descriptor: an event collected for a watcher
 * that a callback stopped — and perhaps replaced by a new one on the same
 * descriptor number — no longer matches its slot and is dropped. */
struct slot {
	unsigned kind;
	uint32_t gen;
	bool in_epoll; /* an io watcher asking for nothing is taken out of epoll */
	void *w;
};

#define MAX_EVENTS 64

struct ev_loop {
	int epfd;
	struct slot *slots; /* indexed by descriptor */
	size_t nslots;
	uint32_t gen;
	size_t nactive; /* active io, child and signal watchers */

	struct ev_timer **heap; /* min-heap on (when, seq) */
	size_t nheap, heapcap;
	uint64_t seq;

	int sigfd;
	sigset_t watched;   /* signals routed to sigfd */
	sigset_t orig_mask; /* the process's mask when the loop was made */
	struct ev_signal *sigs[NSIG];

	bool stop;
	int stop_code;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ev_now_ms(void)
{
	return now_ns() / 1000000u;
}

int ev_new(struct ev_loop **out)
{
	struct ev_loop *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (!l)
		return err_set(ERR_NOMEM, "out of memory (event loop)");
	l->sigfd = -1;
	sigemptyset(&l->watched);
	sigprocmask(SIG_SETMASK, NULL, &l->orig_mask);
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		free(l);
		return err_sys(ERR_IO, "epoll_create1");
	}
	*out = l;
	return 0;
}

/* ---- Descriptor slots */

static uint64_t slot_data(int fd, uint32_t gen)
{
	return ((uint64_t)gen << 32) | (uint32_t)fd;
}

static uint32_t epoll_events(unsigned events)
{
	uint32_t e = 0;

	if (events & EV_READ)
		e |= EPOLLIN | EPOLLRDHUP;
	if (events & EV_WRITE)
		e |= EPOLLOUT;
	return e;
}

/* Registers FD as KIND for W, asking epoll for EVENTS (0: not in epoll
 * yet). */
static int slot_add(struct ev_loop *l, int fd, unsigned kind, void *w, uint32_t events)
{
	struct epoll_event ev;

	if (fd < 0)
		return err_set(ERR_INVALID, "event loop: bad descriptor %d", fd);
	if ((size_t)fd >= l->nslots) {
		size_t n = l->nslots ? l->nslots : 64;
		struct slot *s;

		while (n <= (size_t)fd)
			n *= 2;
		if (!(s = realloc(l->slots, n * sizeof(*s))))
			return err_set(ERR_NOMEM, "out of memory (event loop slots)");
		memset(s + l->nslots, 0, (n - l->nslots) * sizeof(*s));
		l->slots = s;
		l->nslots = n;
	}
	if (l->slots[fd].kind != SLOT_NONE)
		return err_set(ERR_EXISTS, "event loop: descriptor %d is already watched", fd);
	if (++l->gen == 0)
		l->gen = 1;
	if (events) {
		memset(&ev, 0, sizeof(ev));
		ev.events = events;
		ev.data.u64 = slot_data(fd, l->gen);
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
			return err_sys(ERR_IO, "epoll_ctl(ADD, %d)", fd);
	}
	l->slots[fd] = (struct slot){kind, l->gen, events != 0, w};
	return 0;
}

static void slot_del(struct ev_loop *l, int fd)
{
	struct slot *s = &l->slots[fd];

	/* The descriptor may already be closed: nothing to do then. */
	if (s->in_epoll)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	memset(s, 0, sizeof(*s));
}

/* ---- Descriptors */

int ev_io_start(struct ev_loop *l, struct ev_io *w, int fd, unsigned events, ev_io_fn *fn,
		void *ctx)
{
	int r;

	if (w->active)
		return err_set(ERR_INVALID, "event loop: watcher of descriptor %d already active",
			       w->fd);
	if ((r = slot_add(l, fd, SLOT_IO, w, epoll_events(events))) != 0)
		return r;
	w->fd = fd;
	w->events = events & (EV_READ | EV_WRITE);
	w->fn = fn;
	w->ctx = ctx;
	w->active = true;
	l->nactive++;
	return 0;
}

int ev_io_set(struct ev_loop *l, struct ev_io *w, unsigned events)
{
	struct slot *s;
	struct epoll_event ev;
	int op;

	events &= EV_READ | EV_WRITE;
	if (!w->active)
		return err_set(ERR_INVALID, "event loop: watcher of descriptor %d is not active",
			       w->fd);
	s = &l->slots[w->fd];
	if (events == w->events)
		return 0;
	/* epoll reports hang-ups even to a registration that asks for
	 * nothing, which would wake a level-triggered loop forever. */
	if (!events) {
		if (s->in_epoll && epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL) != 0)
			return err_sys(ERR_IO, "epoll_ctl(DEL, %d)", w->fd);
		s->in_epoll = false;
		w->events = 0;
		return 0;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = epoll_events(events);
	ev.data.u64 = slot_data(w->fd, s->gen);
	op = s->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(l->epfd, op, w->fd, &ev) != 0)
		return err_sys(ERR_IO, "epoll_ctl(%s, %d)", s->in_epoll ? "MOD" : "ADD", w->fd);
	s->in_epoll = true;
	w->events = events;
	return 0;
}

void ev_io_stop(struct ev_loop *l, struct ev_io *w)
{
	if (!w->active)
		return;
	slot_del(l, w->fd);
	w->active = false;
	l->nactive--;
}

/* ---- Timers */

static bool timer_before(const struct ev_timer *a, const struct ev_timer *b)
{
	return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void heap_set(struct ev_loop *l, size_t i, struct ev_timer *t)
{
	l->heap[i] = t;
	t->heap_idx = i;
}

static void sift_up(struct ev_loop *l, size_t i)
{
	struct ev_timer *t = l->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_before(t, l->heap[parent]))
			break;
		heap_set(l, i, l->heap[parent]);
		i = parent;
	}
	heap_set(l, i, t);
}

static void sift_down(struct ev_loop *l, size_t i)
{
	struct ev_timer *t = l->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= l->nheap)
			break;
		if (c + 1 < l->nheap && timer_before(l->heap[c + 1], l->heap[c]))
			c++;
		if (!timer_before(l->heap[c], t))
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, t);
}

static void heap_remove(struct ev_loop *l, size_t i)
{
	struct ev_timer *last = l->heap[--l->nheap];

	if (i == l->nheap)
		return;
	heap_set(l, i, last);
	sift_down(l, i);
	sift_up(l, last->heap_idx);
}

void ev_timer_stop(struct ev_loop *l, struct ev_timer *t)
{
	if (!t->active)
		return;
	heap_remove(l, t->heap_idx);
	t->active = false;
}

int ev_timer_start(struct ev_loop *l, struct ev_timer *t, uint64_t ms, ev_timer_fn *fn, void *ctx)
{
	/* Far enough to be never, small enough not to overflow. */
	const uint64_t max_ms = UINT64_C(1) << 40;

	ev_timer_stop(l, t);
	if (l->nheap == l->heapcap) {
		size_t n = l->heapcap ? 2 * l->heapcap : 16;
		struct ev_timer **h = realloc(l->heap, n * sizeof(*h));

		if (!h)
			return err_set(ERR_NOMEM, "out of memory (%zu timers)", n);
		l->heap = h;
		l->heapcap = n;
	}
	t->when = now_ns() + (ms > max_ms ? max_ms : ms) * 1000000u;
	t->seq = ++l->seq;
	t->fn = fn;
	t->ctx = ctx;
	t->active = true;
	heap_set(l, l->nheap++, t);
	sift_up(l, t->heap_idx);
	return 0;
}

/* Fires the timers that are due, in order.  NOW is read once: a timer
 * started by one of them, even with 0 ms, is due after NOW and waits for
 * the next turn, so a callback restarting itself cannot starve the
 * descriptors. */
static void run_timers(struct ev_loop *l)
{
	uint64_t now = now_ns();

	while (l->nheap && !l->stop) {
		struct ev_timer *t = l->heap[0];

		if (t->when > now)
			break;
		heap_remove(l, 0);
		t->active = false;
		t->fn(l, t);
	}
}

/* ---- Children */

int ev_child_start(struct ev_loop *l, struct ev_child *c, pid_t pid, ev_child_fn *fn, void *ctx)
{
	int fd, r;

	if (c->active)
		return err_set(ERR_INVALID, "event loop: child watcher of %d already active",
			       (int)c->pid);
	if ((fd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0)
		return err_sys(ERR_IO, "pidfd_open(%d)", (int)pid);
	if ((r = slot_add(l, fd, SLOT_CHILD, c, EPOLLIN)) != 0) {
		close(fd);
		return r;
	}
	c->pid = pid;
	c->pidfd = fd;
	c->fn = fn;
	c->ctx = ctx;
	c->active = true;
	l->nactive++;
	return 0;
}

void ev_child_stop(struct ev_loop *l, struct ev_child *c)
{
	if (!c->active)
		return;
	slot_del(l, c->pidfd);
	close(c->pidfd);
	c->pidfd = -1;
	c->active = false;
	l->nactive--;
}

static void child_ready(struct ev_loop *l, struct ev_child *c)
{
	int status = 0;
	pid_t r;

	do
		r = waitpid(c->pid, &status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return; /* not exited after all (a stopped child, say) */
	if (r < 0)
		status = -1;
	ev_child_stop(l, c);
	c->fn(l, c, status);
}

/* ---- Signals */

/* Consumes a pending SIGNO, so that unblocking it does not run its
 * default action (terminating the process, for SIGTERM). */
static void drain_signal(int signo)
{
	struct timespec zero = {0, 0};
	sigset_t one;

	sigemptyset(&one);
	sigaddset(&one, signo);
	while (sigtimedwait(&one, NULL, &zero) == signo)
		;
}

int ev_signal_start(struct ev_loop *l, struct ev_signal *s, int signo, ev_signal_fn *fn, void *ctx)
{
	sigset_t one;
	int fd, r;

	if (signo <= 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP)
		return err_set(ERR_INVALID, "event loop: signal %d cannot be watched", signo);
	if (s->active)
		return err_set(ERR_INVALID, "event loop: signal watcher %d already active",
			       s->signo);
	if (l->sigs[signo])
		return err_set(ERR_EXISTS, "event loop: signal %d is already watched", signo);
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (sigprocmask(SIG_BLOCK, &one, NULL) != 0)
		return err_sys(ERR_INTERNAL, "sigprocmask");
	sigaddset(&l->watched, signo);
	if ((fd = signalfd(l->sigfd, &l->watched, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		r = err_sys(ERR_IO, "signalfd");
		goto fail;
	}
	if (l->sigfd < 0) {
		if ((r = slot_add(l, fd, SLOT_SIGNAL, NULL, EPOLLIN)) != 0) {
			close(fd);
			goto fail;
		}
		l->sigfd = fd;
	}
	s->signo = signo;
	s->fn = fn;
	s->ctx = ctx;
	s->active = true;
	l->sigs[signo] = s;
	l->nactive++;
	return 0;
fail:
	sigdelset(&l->watched, signo);
	if (!sigismember(&l->orig_mask, signo))
		sigprocmask(SIG_UNBLOCK, &one, NULL);
	return r;
}

static void signal_unwatch(struct ev_loop *l, int signo)
{
	sigset_t one;

	sigdelset(&l->watched, signo);
	if (l->sigfd >= 0)
		signalfd(l->sigfd, &l->watched, SFD_NONBLOCK | SFD_CLOEXEC);
	if (!sigismember(&l->orig_mask, signo)) {
		drain_signal(signo);
		sigemptyset(&one);
		sigaddset(&one, signo);
		sigprocmask(SIG_UNBLOCK, &one, NULL);
	}
	l->sigs[signo] = NULL;
}

void ev_signal_stop(struct ev_loop *l, struct ev_signal *s)
{
	if (!s->active)
		return;
	signal_unwatch(l, s->signo);
	s->active = false;
	l->nactive--;
}

static void signals_ready(struct ev_loop *l)
{
	struct signalfd_siginfo si;

	while (!l->stop) {
		ssize_t n = read(l->sigfd, &si, sizeof(si));
		struct ev_signal *s;

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			return;
		if (si.ssi_signo < NSIG && (s = l->sigs[si.ssi_signo]) && s->active)
			s->fn(l, s);
	}
}

void ev_child_sigmask(const struct ev_loop *l)
{
	sigprocmask(SIG_SETMASK, &l->orig_mask, NULL);
}

/* ---- The loop */

void ev_stop(struct ev_loop *l, int code)
{
	l->stop = true;
	l->stop_code = code;
}

static void dispatch(struct ev_loop *l, const struct epoll_event *e)
{
	int fd = (int)(uint32_t)e->data.u64;
	uint32_t gen = (uint32_t)(e->data.u64 >> 32);
	struct slot *s;
	struct ev_io *w;
	unsigned got = 0;

	if ((size_t)fd >= l->nslots || (s = &l->slots[fd])->gen != gen || s->kind == SLOT_NONE)
		return;
	switch (s->kind) {
	case SLOT_IO:
		w = s->w;
		if ((w->events & EV_READ) &&
		    (e->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
			got |= EV_READ;
		if ((w->events & EV_WRITE) && (e->events & (EPOLLOUT | EPOLLHUP | EPOLLERR)))
			got |= EV_WRITE;
		if (got)
			w->fn(l, w, got);
		break;
	case SLOT_CHILD: child_ready(l, s->w); break;
	case SLOT_SIGNAL: signals_ready(l); break;
	}
}

int ev_run(struct ev_loop *l)
{
	struct epoll_event evs[MAX_EVENTS];

	l->stop = false;
	l->stop_code = 0;
	while (!l->stop) {
		int timeout = -1, n;

		if (l->nactive == 0 && l->nheap == 0)
			return 0;
		if (l->nheap) {
			uint64_t now = now_ns(), when = l->heap[0]->when;
			/* Rounded up: a timer never fires early. */
			uint64_t ms = when <= now ? 0 : (when - now + 999999) / 1000000;

			timeout = ms > INT_MAX ? INT_MAX : (int)ms;
		}
		n = epoll_wait(l->epfd, evs, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(ERR_IO, "epoll_wait");
		}
		for (int i = 0; i < n && !l->stop; i++)
			dispatch(l, &evs[i]);
		if (!l->stop)
			run_timers(l);
	}
	return l->stop_code;
}

void ev_free(struct ev_loop *l)
{
	if (!l)
		return;
	for (size_t fd = 0; fd < l->nslots; fd++) {
		struct slot *s = &l->slots[fd];

		if (s->kind == SLOT_IO) {
			((struct ev_io *)s->w)->active = false;
		} else if (s->kind == SLOT_CHILD) {
			struct ev_child *c = s->w;

			close(c->pidfd);
			c->pidfd = -1;
			c->active = false;
		}
	}
	for (int signo = 1; signo < NSIG; signo++) {
		if (l->sigs[signo]) {
			l->sigs[signo]->active = false;
			signal_unwatch(l, signo);
		}
	}
	for (size_t i = 0; i < l->nheap; i++)
		l->heap[i]->active = false;
	if (l->sigfd >= 0)
		close(l->sigfd);
	close(l->epfd);
	free(l->heap);
	free(l->slots);
	free(l);
}
