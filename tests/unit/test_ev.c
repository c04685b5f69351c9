/* test_ev.c — the event loop: a pipe becoming readable wakes its callback;
 * timers fire in order and never early; a child's exit is reported with
 * its status (exit code, signal, already a zombie); a signal is delivered
 * through the loop and unblocked afterwards; watchers stopped (and their
 * descriptor numbers reused) inside callbacks are safe; a hung-up
 * descriptor asking for nothing does not spin; ev_run ends when nothing is
 * watched.  Every loop has a guard timer, and alarm() backs it up, so a
 * broken loop fails instead of hanging.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "ev.h"
#include "tap.h"

#define GUARD_MS  5000
#define TIMED_OUT (-99)

static void guard_fired(struct ev_loop *l, struct ev_timer *t)
{
	ev_stop(l, TIMED_OUT);
}

/* A loop with a guard timer. */
static struct ev_loop *loop_new(struct ev_timer *guard)
{
	struct ev_loop *l;

	if (ev_new(&l) != 0) {
		printf("Bail out! ev_new: %s\n", err_msg());
		exit(2);
	}
	memset(guard, 0, sizeof(*guard));
	ev_timer_start(l, guard, GUARD_MS, guard_fired, NULL);
	return l;
}

/* ---- a pipe wakes a callback */

struct pipe_ctx {
	int calls;
	char got[16];
	int wfd;
};

static void pipe_readable(struct ev_loop *l, struct ev_io *w, unsigned events)
{
	struct pipe_ctx *c = w->ctx;
	ssize_t n = read(w->fd, c->got, sizeof(c->got) - 1);

	c->calls++;
	if (n > 0)
		c->got[n] = '\0';
	ev_io_stop(l, w);
	ev_stop(l, 7);
}

static void write_later(struct ev_loop *l, struct ev_timer *t)
{
	struct pipe_ctx *c = t->ctx;

	if (write(c->wfd, "wake", 4) != 4)
		ev_stop(l, -1);
}

static void test_pipe(void)
{
	struct ev_timer guard, later = {0};
	struct ev_io w = {0}, w2 = {0};
	struct pipe_ctx c = {0};
	struct ev_loop *l = loop_new(&guard);
	int fds[2], r;
	uint64_t t0 = ev_now_ms();

	if (!ok(pipe(fds) == 0, "pipe"))
		return;
	c.wfd = fds[1];
	ok(ev_io_start(l, &w, fds[0], EV_READ, pipe_readable, &c) == 0, "watch the read end");
	is_int(ev_io_start(l, &w2, fds[0], EV_READ, pipe_readable, &c), ERR_EXISTS,
	       "a second watcher on the same descriptor: ERR_EXISTS");
	ev_timer_start(l, &later, 20, write_later, &c);
	r = ev_run(l);
	is_int(r, 7, "ev_run returns the code given to ev_stop");
	is_int(c.calls, 1, "the callback ran once");
	is_str(c.got, "wake", "it read what was written");
	ok(ev_now_ms() - t0 >= 20, "not before the write");
	ok(!w.active, "the watcher is inactive after ev_io_stop");
	ev_timer_stop(l, &guard);
	is_int(ev_run(l), 0, "ev_run with nothing watched returns 0 at once");
	ev_free(l);
	close(fds[0]);
	close(fds[1]);
}

/* ---- timers */

struct order {
	char seen[16];
	int n;
	uint64_t start, at[8];
};

struct tagged {
	struct ev_timer t;
	char tag;
	uint64_t ms;
	struct order *o;
};

static void tagged_fired(struct ev_loop *l, struct ev_timer *t)
{
	struct tagged *x = t->ctx;

	x->o->at[x->o->n] = ev_now_ms() - x->o->start;
	x->o->seen[x->o->n++] = x->tag;
}

static void test_timers(void)
{
	struct ev_timer guard;
	struct ev_loop *l = loop_new(&guard);
	struct order o = {.start = ev_now_ms()};
	struct tagged x[] = {{.tag = 'd', .ms = 60}, {.tag = 'a', .ms = 10}, {.tag = 'c', .ms = 30},
			     {.tag = 'b', .ms = 10}, {.tag = 'x', .ms = 20}, {.tag = 'z', .ms = 0}};
	bool early = false;

	for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++) {
		x[i].o = &o;
		ev_timer_start(l, &x[i].t, x[i].ms, tagged_fired, &x[i]);
	}
	ev_timer_stop(l, &x[4].t);
	ev_timer_stop(l, &x[4].t);
	ev_timer_start(l, &x[5].t, 45, tagged_fired, &x[5]); /* restart: moves it */
	ev_timer_stop(l, &guard);
	is_int(ev_run(l), 0, "ev_run returns when the last timer has fired");
	is_str(o.seen, "abczd", "timers fire in order, ties in start order, stopped ones never");
	for (int i = 0; i < o.n; i++) {
		uint64_t want = o.seen[i] == 'a' || o.seen[i] == 'b' ? 10
				: o.seen[i] == 'c'                   ? 30
				: o.seen[i] == 'z'                   ? 45
								     : 60;

		early |= o.at[i] < want;
	}
	ok(!early, "no timer fires early");
	ev_free(l);
}

/* A timer restarting itself with 0 ms does not starve a ready descriptor. */
struct spin {
	int ticks, wfd;
	bool io_seen;
};

/* The first tick makes the pipe readable; a loop that kept firing the
 * restarted timer would never get back to epoll to see it. */
static void spin_tick(struct ev_loop *l, struct ev_timer *t)
{
	struct spin *s = t->ctx;

	if (++s->ticks == 1 && write(s->wfd, "x", 1) != 1)
		ev_stop(l, -1);
	if (s->ticks > 100000)
		ev_stop(l, TIMED_OUT);
	else
		ev_timer_start(l, t, 0, spin_tick, s);
}

static void spin_io(struct ev_loop *l, struct ev_io *w, unsigned events)
{
	struct spin *s = w->ctx;

	s->io_seen = true;
	ev_stop(l, 0);
}

static void test_zero_timer_fairness(void)
{
	struct ev_timer guard, tick = {0};
	struct ev_loop *l = loop_new(&guard);
	struct ev_io w = {0};
	struct spin s = {0};
	int fds[2];

	if (pipe(fds) != 0)
		return;
	s.wfd = fds[1];
	ev_timer_start(l, &tick, 0, spin_tick, &s);
	ev_io_start(l, &w, fds[0], EV_READ, spin_io, &s);
	is_int(ev_run(l), 0, "0-ms timers restarting themselves");
	ok(s.io_seen && s.ticks <= 2, "the descriptor was served at the next turn (%d ticks first)",
	   s.ticks);
	ev_timer_stop(l, &tick);
	ev_io_stop(l, &w);
	ev_free(l);
	close(fds[0]);
	close(fds[1]);
}

/* ---- children */

struct child_ctx {
	int status, calls;
};

static void child_exited(struct ev_loop *l, struct ev_child *c, int status)
{
	struct child_ctx *x = c->ctx;

	x->status = status;
	x->calls++;
	ok(!c->active, "the child watcher is inactive in its callback");
}

static void test_children(void)
{
	struct ev_timer guard;
	struct ev_loop *l = loop_new(&guard);
	struct ev_child c[3] = {{0}};
	struct child_ctx x[3] = {{0}};
	pid_t pid[3];
	int r;

	/* 0: exits 7 after a moment; 1: killed by SIGTERM; 2: a zombie
	 * before the watch starts. */
	for (int i = 0; i < 3; i++) {
		if ((pid[i] = fork()) == 0) {
			if (i == 0)
				usleep(20000);
			if (i == 1)
				pause();
			_exit(i == 0 ? 7 : 3);
		}
	}
	/* Make sure child 2 is a zombie without reaping it. */
	{
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		waitid(P_PID, (id_t)pid[2], &si, WEXITED | WNOWAIT);
	}
	for (int i = 0; i < 3; i++)
		ok(ev_child_start(l, &c[i], pid[i], child_exited, &x[i]) == 0, "watch child %d", i);
	kill(pid[1], SIGTERM);
	ev_timer_stop(l, &guard);
	r = ev_run(l);
	is_int(r, 0, "ev_run returns once every child is reported");
	ok(x[0].calls == 1 && WIFEXITED(x[0].status) && WEXITSTATUS(x[0].status) == 7,
	   "exit status 7 reported");
	ok(x[1].calls == 1 && WIFSIGNALED(x[1].status) && WTERMSIG(x[1].status) == SIGTERM,
	   "death by SIGTERM reported");
	ok(x[2].calls == 1 && WIFEXITED(x[2].status) && WEXITSTATUS(x[2].status) == 3,
	   "a child that was already a zombie is reported");
	errno = 0;
	ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "the loop reaped all three");
	is_int(ev_child_start(l, &c[0], pid[0], child_exited, &x[0]), ERR_IO,
	       "watching a reaped child: ERR_IO");
	ev_free(l);
}

/* ---- signals */

struct sig_ctx {
	int hup, term;
};

static void on_signal(struct ev_loop *l, struct ev_signal *s)
{
	struct sig_ctx *x = s->ctx;

	if (s->signo == SIGHUP)
		x->hup++;
	if (s->signo == SIGTERM) {
		x->term++;
		ev_stop(l, 0);
	}
}

static void send_term(struct ev_loop *l, struct ev_timer *t)
{
	pid_t pid = fork();

	/* From another process, as `kill` would. */
	if (pid == 0) {
		kill(getppid(), SIGTERM);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

static void test_signals(void)
{
	struct ev_timer guard, later = {0};
	struct ev_loop *l = loop_new(&guard);
	struct ev_signal hup = {0}, term = {0}, other = {0}, kill9 = {0};
	struct sig_ctx x = {0};
	sigset_t now;
	pid_t pid;
	int st = -1, r;

	ok(ev_signal_start(l, &hup, SIGHUP, on_signal, &x) == 0, "watch SIGHUP");
	ok(ev_signal_start(l, &term, SIGTERM, on_signal, &x) == 0, "watch SIGTERM");
	is_int(ev_signal_start(l, &other, SIGHUP, on_signal, &x), ERR_EXISTS,
	       "a second SIGHUP watcher: ERR_EXISTS");
	is_int(ev_signal_start(l, &kill9, SIGKILL, on_signal, &x), ERR_INVALID,
	       "SIGKILL cannot be watched");
	raise(SIGHUP);
	ok(x.hup == 0, "not delivered before the loop runs (blocked, not handled)");
	ev_timer_start(l, &later, 10, send_term, NULL);
	r = ev_run(l);
	is_int(r, 0, "SIGTERM's callback stopped the loop");
	ok(x.hup == 1 && x.term == 1, "SIGHUP and SIGTERM delivered once each");

	/* A child restores the original mask before exec. */
	if ((pid = fork()) == 0) {
		sigset_t m;

		ev_child_sigmask(l);
		sigprocmask(SIG_SETMASK, NULL, &m);
		_exit(sigismember(&m, SIGTERM) ? 1 : 0);
	}
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ev_child_sigmask unblocks SIGTERM in a child");

	raise(SIGHUP); /* pending when the watch stops: must not kill us */
	ev_signal_stop(l, &hup);
	ev_signal_stop(l, &term);
	sigprocmask(SIG_SETMASK, NULL, &now);
	ok(!sigismember(&now, SIGHUP) && !sigismember(&now, SIGTERM),
	   "stopping the watches unblocks the signals (a pending one is dropped)");
	ev_free(l);
}

/* ---- stopping watchers inside callbacks */

struct reuse {
	struct ev_io a, b, c;
	int fa[2], fb[2], fc[2];
	int a_calls, b_calls, c_calls;
	struct ev_loop *l;
};

static void reuse_c(struct ev_loop *l, struct ev_io *w, unsigned events)
{
	struct reuse *r = w->ctx;

	r->c_calls++;
}

/* Whichever of a and b runs first stops the other, closes its descriptor
 * and puts a new watcher on a fresh pipe that reuses the number: the
 * event already collected for the old one must not reach anyone. */
static void reuse_first(struct ev_loop *l, struct ev_io *w, unsigned events)
{
	struct reuse *r = w->ctx;
	struct ev_io *other = w == &r->a ? &r->b : &r->a;
	int *ofds = w == &r->a ? r->fb : r->fa, old;

	if (w == &r->a)
		r->a_calls++;
	else
		r->b_calls++;
	ev_io_stop(l, w);
	if (!other->active)
		return;
	old = ofds[0];
	ev_io_stop(l, other);
	close(ofds[0]);
	close(ofds[1]);
	ofds[0] = ofds[1] = -1;
	if (pipe(r->fc) != 0)
		return;
	if (r->fc[0] != old) {
		dup2(r->fc[0], old);
		close(r->fc[0]);
		r->fc[0] = old;
	}
	ok(ev_io_start(l, &r->c, r->fc[0], EV_READ, reuse_c, r) == 0,
	   "a new watcher on the stopped one's descriptor number");
}

static void stop_soon(struct ev_loop *l, struct ev_timer *t)
{
	ev_stop(l, 0);
}

static void test_stop_in_callback(void)
{
	struct ev_timer guard, soon = {0};
	struct ev_loop *l = loop_new(&guard);
	struct reuse r;

	memset(&r, 0, sizeof(r));
	r.l = l;
	if (pipe(r.fa) != 0 || pipe(r.fb) != 0)
		return;
	/* Both readable before the loop runs: one epoll_wait returns both. */
	if (write(r.fa[1], "a", 1) != 1 || write(r.fb[1], "b", 1) != 1)
		return;
	ev_io_start(l, &r.a, r.fa[0], EV_READ, reuse_first, &r);
	ev_io_start(l, &r.b, r.fb[0], EV_READ, reuse_first, &r);
	ev_timer_start(l, &soon, 30, stop_soon, NULL);
	is_int(ev_run(l), 0, "loop ran");
	is_int(r.a_calls + r.b_calls, 1, "only the first of two ready watchers ran");
	is_int(r.c_calls, 0, "the new watcher on the reused number got no stale event");
	ev_io_stop(l, &r.c);
	ev_free(l);
	for (int i = 0; i < 2; i++) {
		if (r.fa[i] >= 0)
			close(r.fa[i]);
		if (r.fb[i] >= 0)
			close(r.fb[i]);
		close(r.fc[i]);
	}
}

/* ---- hang-ups, writability */

struct hup_ctx {
	int calls;
	unsigned events;
};

static void hup_cb(struct ev_loop *l, struct ev_io *w, unsigned events)
{
	struct hup_ctx *h = w->ctx;

	h->calls++;
	h->events = events;
	ev_io_set(l, w, 0); /* keep the watch, ask for nothing */
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_hangup(void)
{
	struct ev_timer guard, soon = {0};
	struct ev_loop *l = loop_new(&guard);
	struct ev_io r = {0}, w = {0};
	struct hup_ctx hr = {0}, hw = {0};
	int fds[2], fds2[2];
	double cpu0;

	if (pipe(fds) != 0 || pipe(fds2) != 0)
		return;
	close(fds[1]);
	ev_io_start(l, &r, fds[0], EV_READ, hup_cb, &hr);
	ev_io_start(l, &w, fds2[1], EV_WRITE, hup_cb, &hw);
	ev_timer_start(l, &soon, 100, stop_soon, NULL);
	cpu0 = cpu_ms();
	is_int(ev_run(l), 0, "loop ran");
	ok(hr.calls == 1 && hr.events == EV_READ, "a hung-up pipe reads as EV_READ, once");
	/* A loop woken over and over by the hang-up would burn the 100 ms. */
	ok(cpu_ms() - cpu0 < 40, "asking for nothing does not spin (%.1f ms of CPU in 100 ms)",
	   cpu_ms() - cpu0);
	ok(hw.calls == 1 && hw.events == EV_WRITE, "an empty pipe is writable");
	ok(ev_io_set(l, &w, EV_WRITE) == 0, "asking again");
	hw.calls = 0;
	ev_timer_start(l, &soon, 10, stop_soon, NULL);
	ev_run(l);
	is_int(hw.calls, 1, "writable again after ev_io_set");
	ev_io_stop(l, &r);
	ev_io_stop(l, &w);
	ev_free(l);
	close(fds[0]);
	close(fds2[0]);
	close(fds2[1]);
}

int main(void)
{
	alarm(60);
	test_pipe();
	test_timers();
	test_zero_timer_fairness();
	test_children();
	test_signals();
	test_stop_in_callback();
	test_hangup();
	return tap_done();
}
