#include "progress.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "engine.h"

struct pline {
	char *drv;
	char *machine;
	uint64_t since; /* started (ms), 0 when not running */
	struct buf b;   /* a partial log line */
};

struct progress {
	FILE *out;
	enum progress_mode mode;
	bool quiet, verbose;
	struct pline *v;
	size_t n;
	uint64_t done, total, running, waiting, failed;
	size_t nbuilt, nvalid, nfailed;
	uint64_t t0;
	bool status_shown;
	char *current; /* the build the status line names */
	struct by_machine {
		char *name;
		size_t n;
	} * bym; /* builds done, per machine */
	size_t nbym;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct progress *progress_new(FILE *out, enum progress_mode mode, bool quiet, bool verbose)
{
	struct progress *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->out = out;
	p->mode = mode;
	p->quiet = quiet;
	p->verbose = verbose;
	p->t0 = now_ms();
	return p;
}

static struct pline *line_of(struct progress *p, const char *drv, bool create)
{
	struct pline *v;

	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->v[i].drv, drv))
			return &p->v[i];
	if (!create || !(v = realloc(p->v, (p->n + 1) * sizeof(*v))))
		return NULL;
	p->v = v;
	v = &p->v[p->n];
	memset(v, 0, sizeof(*v));
	if (!(v->drv = strdup(drv)))
		return NULL;
	buf_init(&v->b, 1 << 20);
	p->n++;
	return v;
}

/* "hello" for /store/<hash>-hello.drv */
static const char *short_name(const char *drv, char *tmp, size_t cap)
{
	const char *base = strrchr(drv, '/');
	size_t n;

	base = base ? base + 1 : drv;
	if (strlen(base) > 33 && base[32] == '-')
		base += 33;
	n = strlen(base);
	if (n > 4 && !strcmp(base + n - 4, ".drv"))
		n -= 4;
	if (n >= cap)
		n = cap - 1;
	memcpy(tmp, base, n);
	tmp[n] = '\0';
	return tmp;
}

static void json_str(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else if (c >= 0x80)
			/* Builders' output is bytes: each byte above ASCII as
			 * its code point, so that the JSON is always valid. */
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void clear_status(struct progress *p)
{
	if (p->status_shown) {
		fputs("\r\033[K", p->out);
		p->status_shown = false;
	}
}

static void draw_status(struct progress *p)
{
	char name[128];
	uint64_t now = now_ms();

	if (p->mode != PROGRESS_TTY)
		return;
	clear_status(p);
	fprintf(p->out, "[%llu/%llu]", (unsigned long long)p->done, (unsigned long long)p->total);
	if (p->current) {
		struct pline *l = line_of(p, p->current, false);
		uint64_t t = l && l->since ? (now - l->since) / 1000 : 0;

		fprintf(p->out, " building %s", short_name(p->current, name, sizeof(name)));
		if (l && l->machine)
			fprintf(p->out, " on %s", l->machine);
		fprintf(p->out, " (%llus)", (unsigned long long)t);
	}
	fprintf(p->out, " \xc2\xb7 %llu running \xc2\xb7 %llu waiting",
		(unsigned long long)p->running, (unsigned long long)p->waiting);
	if (p->failed)
		fprintf(p->out, " \xc2\xb7 %llu failed", (unsigned long long)p->failed);
	p->status_shown = true;
	fflush(p->out);
}

/* Prints a plain line above the status line. */
static void say(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct progress *p, const char *fmt, ...)
{
	va_list ap;

	clear_status(p);
	va_start(ap, fmt);
	vfprintf(p->out, fmt, ap);
	va_end(ap);
	fputc('\n', p->out);
}

static void flush_line(struct progress *p, struct pline *l, bool all)
{
	while (l->b.len) {
		char *nl = memchr(l->b.data, '\n', l->b.len);
		size_t n = nl ? (size_t)(nl - l->b.data) : l->b.len;

		if (!nl && !all && l->b.len < (1 << 19))
			return;
		if (p->mode == PROGRESS_JSON) {
			fputs("{\"event\":\"log\",\"drv\":", p->out);
			json_str(p->out, l->drv, strlen(l->drv));
			fputs(",\"machine\":", p->out);
			json_str(p->out, l->machine ? l->machine : "localhost",
				 strlen(l->machine ? l->machine : "localhost"));
			fputs(",\"line\":", p->out);
			json_str(p->out, l->b.data, n);
			fputs("}\n", p->out);
		} else {
			clear_status(p);
			fwrite(l->b.data, 1, n, p->out);
			fputc('\n', p->out);
		}
		n += nl ? 1 : 0;
		memmove(l->b.data, l->b.data + n, l->b.len - n);
		l->b.len -= n;
	}
}

void progress_log(struct progress *p, const char *drv, const char *machine, const void *data,
		  size_t n)
{
	struct pline *l;

	if (p->quiet)
		return;
	if (!(l = line_of(p, drv, true)))
		return;
	if (!l->machine && machine)
		l->machine = strdup(machine);
	if (buf_put(&l->b, data, n) != 0) {
		flush_line(p, l, true);
		if (buf_put(&l->b, data, n) != 0)
			return;
	}
	flush_line(p, l, false);
	draw_status(p);
	fflush(p->out);
}

void progress_started(struct progress *p, const char *drv, const char *machine)
{
	struct pline *l = line_of(p, drv, true);

	if (l) {
		l->since = now_ms();
		free(l->machine);
		l->machine = machine ? strdup(machine) : NULL;
	}
	free(p->current);
	p->current = strdup(drv);
	if (p->mode == PROGRESS_JSON) {
		fputs("{\"event\":\"build-started\",\"drv\":", p->out);
		json_str(p->out, drv, strlen(drv));
		fputs(",\"machine\":", p->out);
		json_str(p->out, machine, strlen(machine));
		fputs("}\n", p->out);
	} else if (!p->quiet) {
		say(p, "building '%s' on %s...", drv, machine);
	}
	draw_status(p);
	fflush(p->out);
}

void progress_waiting(struct progress *p, const char *drv)
{
	if (p->mode != PROGRESS_JSON && !p->quiet)
		say(p, "waiting for another build of '%s'...", drv);
	draw_status(p);
	fflush(p->out);
}

static const char *status_name(int st)
{
	switch (st) {
	case ENGINE_ST_BUILT: return "built";
	case ENGINE_ST_VALID: return "valid";
	case ENGINE_ST_FAILED: return "failed";
	case ENGINE_ST_TIMED_OUT: return "timed-out";
	case ENGINE_ST_DEP_FAILED: return "dependency-failed";
	default: return "cancelled";
	}
}

/* One more build done on MACHINE (for the summary; memory short: not
 * counted). */
static void count_machine(struct progress *p, const char *machine)
{
	struct by_machine *v;
	size_t i;

	if (!machine || !*machine)
		return;
	for (i = 0; i < p->nbym; i++)
		if (!strcmp(p->bym[i].name, machine)) {
			p->bym[i].n++;
			return;
		}
	if (!(v = realloc(p->bym, (p->nbym + 1) * sizeof(*v))))
		return;
	p->bym = v;
	if (!(v[p->nbym].name = strdup(machine)))
		return;
	v[p->nbym++].n = 1;
}

void progress_finished(struct progress *p, const char *drv, const char *machine, int status,
		       uint64_t duration_ms, const char *msg)
{
	struct pline *l = line_of(p, drv, false);

	if (l) {
		flush_line(p, l, true);
		if (duration_ms == UINT64_MAX)
			duration_ms = l->since ? now_ms() - l->since : 0;
		l->since = 0;
	}
	if (duration_ms == UINT64_MAX)
		duration_ms = 0;
	if (p->current && !strcmp(p->current, drv)) {
		free(p->current);
		p->current = NULL;
		for (size_t i = p->n; i-- > 0;)
			if (p->v[i].since) {
				p->current = strdup(p->v[i].drv);
				break;
			}
	}
	if (status == ENGINE_ST_BUILT)
		count_machine(p, machine);
	if (status == ENGINE_ST_BUILT)
		p->nbuilt++;
	else if (status == ENGINE_ST_VALID)
		p->nvalid++;
	else if (status != ENGINE_ST_CANCELLED)
		p->nfailed++;
	if (p->mode == PROGRESS_JSON) {
		fputs("{\"event\":\"build-finished\",\"drv\":", p->out);
		json_str(p->out, drv, strlen(drv));
		fputs(",\"machine\":", p->out);
		json_str(p->out, machine, strlen(machine));
		fprintf(p->out,
			",\"status\":\"%s\",\"duration_ms\":%llu,\"message\":", status_name(status),
			(unsigned long long)duration_ms);
		json_str(p->out, msg ? msg : "", msg ? strlen(msg) : 0);
		fputs("}\n", p->out);
	} else if (status == ENGINE_ST_FAILED || status == ENGINE_ST_TIMED_OUT) {
		say(p, "error: %s", msg && *msg ? msg : "build failed");
	} else if (status == ENGINE_ST_DEP_FAILED) {
		say(p, "error: cannot build '%s': one of its dependencies failed", drv);
	} else if (p->verbose && status == ENGINE_ST_BUILT) {
		say(p, "built '%s' on %s in %.1fs", drv, machine, (double)duration_ms / 1000);
	}
	draw_status(p);
	fflush(p->out);
}

void progress_kept(struct progress *p, const char *drv, const char *dir)
{
	if (p->mode == PROGRESS_JSON) {
		fputs("{\"event\":\"kept\",\"drv\":", p->out);
		json_str(p->out, drv, strlen(drv));
		fputs(",\"directory\":", p->out);
		json_str(p->out, dir, strlen(dir));
		fputs("}\n", p->out);
	} else {
		say(p, "note: keeping build directory '%s'", dir);
	}
	draw_status(p);
	fflush(p->out);
}

void progress_counts(struct progress *p, uint64_t done, uint64_t total, uint64_t running,
		     uint64_t waiting, uint64_t failed)
{
	if (p->done == done && p->total == total && p->running == running &&
	    p->waiting == waiting && p->failed == failed)
		return;
	p->done = done;
	p->total = total;
	p->running = running;
	p->waiting = waiting;
	p->failed = failed;
	if (p->mode == PROGRESS_JSON)
		fprintf(p->out,
			"{\"event\":\"progress\",\"done\":%llu,\"total\":%llu,\"running\":%llu,"
			"\"waiting\":%llu,\"failed\":%llu}\n",
			(unsigned long long)done, (unsigned long long)total,
			(unsigned long long)running, (unsigned long long)waiting,
			(unsigned long long)failed);
	draw_status(p);
	fflush(p->out);
}

uint64_t progress_tick(struct progress *p)
{
	struct pline *l = p->current ? line_of(p, p->current, false) : NULL;
	uint64_t ms = 1000;

	if (p->mode == PROGRESS_TTY && p->status_shown)
		draw_status(p);
	if (l && l->since)
		ms = 1000 - (now_ms() - l->since) % 1000;
	return ms < 20 ? 20 : ms;
}

void progress_final(struct progress *p, size_t built, size_t valid, size_t failed)
{
	p->nbuilt = built;
	p->nvalid = valid;
	p->nfailed = failed;
}

void progress_summary(struct progress *p)
{
	double secs = (double)(now_ms() - p->t0) / 1000;

	for (size_t i = 0; i < p->n; i++)
		flush_line(p, &p->v[i], true);
	clear_status(p);
	if (p->mode == PROGRESS_JSON) {
		fprintf(p->out, "{\"event\":\"summary\",\"built\":%zu,\"built_on\":{", p->nbuilt);
		for (size_t i = 0; i < p->nbym; i++) {
			if (i)
				fputc(',', p->out);
			json_str(p->out, p->bym[i].name, strlen(p->bym[i].name));
			fprintf(p->out, ":%zu", p->bym[i].n);
		}
		fprintf(p->out, "},\"valid\":%zu,\"failed\":%zu,\"seconds\":%.3f}\n", p->nvalid,
			p->nfailed, secs);
	} else if (p->mode == PROGRESS_TTY || p->verbose) {
		fprintf(p->out, "%zu built", p->nbuilt);
		for (size_t i = 0; i < p->nbym; i++)
			fprintf(p->out, "%s%s: %zu", i ? ", " : " (", p->bym[i].name, p->bym[i].n);
		fprintf(p->out, "%s, %zu already valid, %zu failed, in %.1fs\n", p->nbym ? ")" : "",
			p->nvalid, p->nfailed, secs);
	}
	fflush(p->out);
}

void progress_free(struct progress *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		flush_line(p, &p->v[i], true);
		free(p->v[i].drv);
		free(p->v[i].machine);
		buf_release(&p->v[i].b);
	}
	clear_status(p);
	fflush(p->out);
	for (size_t i = 0; i < p->nbym; i++)
		free(p->bym[i].name);
	free(p->bym);
	free(p->v);
	free(p->current);
	free(p);
}
