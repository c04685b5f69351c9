/* ev.h — a small epoll event loop: descriptors, timers, child processes
 * and signals, and nothing else.
 *
 * The daemon (and later the offload engine) is one thread around one
 * loop: every state change — a byte on a socket, a builder exiting, a
 * timeout, SIGTERM — wakes it, and nothing ever polls on an interval.
 *
 * Watchers are caller-owned structs (embed them in the object they serve):
 * starting one costs no allocation and stopping one never frees the
 * caller's memory.  A watcher must be stopped before its memory is freed
 * and, for descriptors, before the descriptor is closed.  Any watcher may
 * be stopped or started from inside any callback, its own included: an
 * event already collected for a watcher that was stopped meanwhile is
 * dropped, even when a new watcher took the same descriptor number.
 *
 *   child processes  a pidfd per child (pidfd_open, Linux ≥ 5.3): no
 *                    SIGCHLD handler, no global reaping; the loop reaps the
 *                    children it watches and only those.
 *   signals          one signalfd; a watched signal is blocked in the
 *                    process while watched.  Children inherit the blocked
 *                    mask across fork and exec, so a child must call
 *                    ev_child_sigmask() before exec.
 *   timers           monotonic clock, millisecond precision, never early;
 *                    timers due at the same time fire in the order they were
 *                    started.
 *
 * Nothing here prints or exits; functions that can fail return 0 or a
 * negative ERR_* code with a message (err.h).
 */
#ifndef YONDER_EV_H
#define YONDER_EV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ev_loop;

#define EV_READ  0x1u /* readable, or end of file, hang-up or error */
#define EV_WRITE 0x2u /* writable, or hang-up or error */

struct ev_io;
struct ev_timer;
struct ev_child;
struct ev_signal;
typedef void ev_io_fn(struct ev_loop *l, struct ev_io *w, unsigned events);
typedef void ev_timer_fn(struct ev_loop *l, struct ev_timer *t);
/* STATUS is a waitpid() status (WIFEXITED, WEXITSTATUS, WIFSIGNALED…), or
 * -1 when the child had already been reaped by someone else. */
typedef void ev_child_fn(struct ev_loop *l, struct ev_child *c, int status);
typedef void ev_signal_fn(struct ev_loop *l, struct ev_signal *s);

struct ev_io {
	int fd;
	unsigned events; /* EV_READ | EV_WRITE, as last set */
	ev_io_fn *fn;
	void *ctx; /* the caller's */
	bool active;
};

struct ev_timer {
	uint64_t when; /* monotonic nanoseconds */
	uint64_t seq;  /* start order, to break ties */
	size_t heap_idx;
	ev_timer_fn *fn;
	void *ctx;
	bool active;
};

struct ev_child {
	pid_t pid;
	int pidfd;
	ev_child_fn *fn;
	void *ctx;
	bool active;
};

struct ev_signal {
	int signo;
	ev_signal_fn *fn;
	void *ctx;
	bool active;
};

/* A new loop (epoll_create1 with O_CLOEXEC).  ERR_NOMEM, ERR_IO. */
int ev_new(struct ev_loop **out);
/* Closes the loop's descriptors, closes the pidfds of children still
 * watched (they are marked inactive and not reaped), and unblocks the
 * signals it blocked.  NULL is a no-op. */
void ev_free(struct ev_loop *l);

/* Runs until ev_stop() is called or nothing is watched any more (no
 * active watcher or timer).  Returns the code given to ev_stop (0 when
 * nothing was left), or a negative error if epoll itself fails. */
int ev_run(struct ev_loop *l);
/* Makes ev_run return CODE once the current callback returns. */
void ev_stop(struct ev_loop *l, int code);

/* Monotonic time in milliseconds (CLOCK_MONOTONIC), for callers that
 * measure durations. */
uint64_t ev_now_ms(void);

/* Watches FD for EVENTS (EV_READ and/or EV_WRITE; 0 keeps the watch but
 * asks for nothing); level-triggered.  One watcher per descriptor:
 * ERR_EXISTS for a descriptor already watched.  W->fn, W->ctx are set from
 * FN, CTX. */
int ev_io_start(struct ev_loop *l, struct ev_io *w, int fd, unsigned events, ev_io_fn *fn,
		void *ctx);
/* Changes what an active watcher waits for (for example, adds EV_WRITE
 * while output is queued). */
int ev_io_set(struct ev_loop *l, struct ev_io *w, unsigned events);
/* Stops W (a no-op when inactive).  Does not close the descriptor. */
void ev_io_stop(struct ev_loop *l, struct ev_io *w);

/* Fires FN once, MS milliseconds from now (0: at the next turn of the
 * loop, after the events already waiting).  Starting an active timer
 * restarts it.  ERR_NOMEM (the timer is then not active). */
int ev_timer_start(struct ev_loop *l, struct ev_timer *t, uint64_t ms, ev_timer_fn *fn, void *ctx);
void ev_timer_stop(struct ev_loop *l, struct ev_timer *t);

/* Reports the exit of child PID (a child of this process that nobody else
 * reaps) once, then stops by itself; the loop reaps it.  A child that has
 * already exited (a zombie) is reported at the next turn.  ERR_IO naming
 * PID when pidfd_open fails (ESRCH: no such process). */
int ev_child_start(struct ev_loop *l, struct ev_child *c, pid_t pid, ev_child_fn *fn, void *ctx);
/* Stops watching (the child is then not reaped by the loop). */
void ev_child_stop(struct ev_loop *l, struct ev_child *c);

/* Delivers SIGNO (SIGTERM, SIGHUP, SIGINT, …) through the loop: the
 * signal is blocked and read from a signalfd, so FN runs as an ordinary
 * callback, not in a signal handler.  Signals of the same number that
 * arrive together are delivered once.  One watcher per signal:
 * ERR_EXISTS.  ERR_INVALID for SIGKILL, SIGSTOP and numbers out of range. */
int ev_signal_start(struct ev_loop *l, struct ev_signal *s, int signo, ev_signal_fn *fn, void *ctx);
/* Stops S and unblocks its signal if the loop blocked it. */
void ev_signal_stop(struct ev_loop *l, struct ev_signal *s);

/* In a child after fork(), before exec: restores the signal mask the
 * process had when the loop was created, so that the child's SIGTERM
 * works.  Async-signal-safe (a single sigprocmask call). */
void ev_child_sigmask(const struct ev_loop *l);

#endif
