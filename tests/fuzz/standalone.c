/* standalone.c — replays files through a libFuzzer target without libFuzzer
 * (plain gcc), so that `make check` runs every fuzz target over its corpus
 * and the malformed inputs of tests/data.
 *
 *   replay_fuzz_nar [FILE|DIR]...
 *
 * Directories are walked recursively, in byte order.  Without arguments,
 * replay_fuzz_X replays tests/fuzz/corpus/X, tests/data/X and tests/data/bad-X (see
 * replay_defaults) under the repository: $YONDER_TOP if set, else the
 * current directory if it holds tests/fuzz, else the directory four levels
 * above the executable (<top>/build/tests/fuzz/replay_fuzz_X).  Prints TAP: "ok N - FILE" per input
 * (a crash or abort() in the target stops the run, which prove reports),
 * then the plan.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int n_run, n_fail;

static void report(int good, const char *path, const char *why)
{
	n_run++;
	if (!good)
		n_fail++;
	printf("%s %d - %s%s%s\n", good ? "ok" : "not ok", n_run, path, why ? ": " : "",
	       why ? why : "");
	fflush(stdout);
}

static void replay_file(const char *path)
{
	struct stat st;
	uint8_t *data = NULL;
	size_t len = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		report(0, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	/* An exact-size copy, so that ASan catches a read past the end. */
	data = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!data) {
		report(0, path, "out of memory");
		close(fd);
		return;
	}
	while (len < (size_t)st.st_size) {
		ssize_t got = read(fd, data + len, (size_t)st.st_size - len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	if (len != (size_t)st.st_size) {
		report(0, path, "short read");
		free(data);
		return;
	}
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	report(1, path, NULL);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay(const char *path)
{
	struct stat st;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d;

	if (stat(path, &st) != 0) {
		report(0, path, strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		replay_file(path);
		return;
	}
	if (!(d = opendir(path))) {
		report(0, path, strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(path) + strlen(e->d_name) + 2;

		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*names));

			if (!nn)
				abort();
			names = nn;
		}
		if (!(names[n] = malloc(l)))
			abort();
		snprintf(names[n++], l, "%s/%s", path, e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		replay(names[i]);
		free(names[i]);
	}
	free(names);
}

/* The repository's top directory, for the default inputs. */
static void find_top(const char *argv0, char *top, size_t size)
{
	const char *env = getenv("YONDER_TOP");
	struct stat st;
	char exe[PATH_MAX];

	if (env && *env) {
		snprintf(top, size, "%s", env);
		return;
	}
	if (stat("tests/fuzz", &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(top, size, ".");
		return;
	}
	if (!realpath(argv0, exe)) {
		snprintf(top, size, ".");
		return;
	}
	for (int i = 0; i < 4; i++) {
		char *slash = strrchr(exe, '/');

		if (slash)
			*slash = '\0';
	}
	snprintf(top, size, "%s", exe[0] ? exe : "/");
}

/* The default inputs of target X (from the executable's name,
 * replay_fuzz_X): tests/fuzz/corpus/X, the good examples in tests/data/X
 * and the bad ones in tests/data/bad-X, those that exist; when neither does, the same for X cut at
 * its last '_' (replay_fuzz_nar_restore replays the NAR inputs). */
static void replay_defaults(const char *argv0)
{
	char top[PATH_MAX], x[256], path[PATH_MAX + 600];
	const char *base = strrchr(argv0, '/');
	static const char *const fmt[] = {"%s/tests/fuzz/corpus/%s", "%s/tests/data/%s",
					  "%s/tests/data/bad-%s"};
	struct stat st;
	char *cut;

	base = base ? base + 1 : argv0;
	if (!strncmp(base, "replay_", 7))
		base += 7;
	if (!strncmp(base, "fuzz_", 5))
		base += 5;
	snprintf(x, sizeof(x), "%s", base);
	find_top(argv0, top, sizeof(top));
	for (;;) {
		int found = 0;

		for (size_t i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
			snprintf(path, sizeof(path), fmt[i], top, x);
			if (stat(path, &st) == 0) {
				/* "./tests/..." reads worse than "tests/..." in TAP. */
				replay(strncmp(path, "./", 2) ? path : path + 2);
				found = 1;
			}
		}
		if (found || !(cut = strrchr(x, '_')))
			return;
		*cut = '\0';
	}
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			replay(argv[i]);
	} else {
		replay_defaults(argv[0]);
	}
	printf("1..%d\n", n_run);
	if (n_run == 0) {
		printf("# no input found\n");
		return 1;
	}
	return n_fail ? 1 : 0;
}
