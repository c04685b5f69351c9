/* Unit tests for machines.c: Guix's form (the .scm files of tests/data/machines,
 * every field and default), Nix's line format (the example file, `--builders`
 * strings, every '-' default, the base64 host key, includes), telling
 * the formats apart, the default private key, host-key shapes, the fit
 * predicate with its reasons, limits, and every bad file of
 * tests/data/bad-machines with its exact message. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "machines.h"
#include "tap.h"

static char home[1024], keydir[1100];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
}

static void setup(const char *argv0)
{
	const char *top = getenv("YONDER_TOP");
	char path[1200];

	if (!top && access("tests/data/machines", R_OK) != 0) {
		/* <top>/build/tests/unit/test_machines */
		static char t[4096];
		const char *s = strrchr(argv0, '/');

		snprintf(t, sizeof(t), "%.*s/../../..", s ? (int)(s - argv0) : 1, s ? argv0 : ".");
		top = t;
	}
	if (top && chdir(top) != 0) {
		perror(top);
		exit(2);
	}
	snprintf(home, sizeof(home), "%s/home", tap_tmpdir());
	snprintf(keydir, sizeof(keydir), "%s/.ssh", home);
	if (mkdir(home, 0700) != 0 || mkdir(keydir, 0700) != 0) {
		perror(home);
		exit(2);
	}
	/* Only their readability matters here. */
	snprintf(path, sizeof(path), "%s/id_ed25519", keydir);
	write_file(path, "not a real key\n");
	snprintf(path, sizeof(path), "%s/id_rsa", keydir);
	write_file(path, "not a real key\n");
	setenv("HOME", home, 1);
	unsetenv("YONDER_TEST_UNSET");
}

static const char *key(const char *name)
{
	static char p[1200];

	snprintf(p, sizeof(p), "%s/%s", keydir, name);
	return p;
}

static struct machines *load(const char *path)
{
	struct machines *ms = NULL;
	int r = machines_load(path, &ms);

	if (!ok(r == 0, "%s loads", path))
		printf("# %s\n", err_msg());
	return r == 0 ? ms : NULL;
}

/* TEXT on one line, for test names. */
static const char *esc(const char *text)
{
	static char out[512];
	size_t o = 0;

	for (; *text && o + 3 < sizeof(out); text++) {
		if (*text == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *text;
		}
	}
	out[o] = '\0';
	return out;
}

static struct machines *parse_nix(const char *text, const struct machines_opts *o)
{
	struct machines *ms = NULL;
	int r = machines_parse_nix("--builders", text, strlen(text), o, &ms);

	if (!ok(r == 0, "builders '%s' parse", esc(text)))
		printf("# %s\n", err_msg());
	return r == 0 ? ms : NULL;
}

/* The error of loading TEXT as Nix entries (NIX) or by content. */
static void refused(const char *name, const char *text, bool nix, int code, const char *msg)
{
	struct machines *ms = NULL;
	int r = nix ? machines_parse_nix(name, text, strlen(text), NULL, &ms)
		    : machines_parse(name, text, strlen(text), NULL, &ms);

	is_int(r, code, "'%s' is refused", esc(text));
	is_str(r ? err_msg() : "(accepted)", msg, "  with its message");
	ok(ms == NULL, "  and no result");
	machines_free(ms);
}

static bool words(char *const *v, size_t n, const char *want)
{
	struct buf b = BUF_INIT(4096);
	bool same;

	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i ? "," : "", v[i]);
	same = v[n] == NULL && !strcmp(b.data ? b.data : "", want);
	if (!same)
		printf("#   got: '%s'  want: '%s'\n", b.data ? b.data : "", want);
	buf_release(&b);
	return same;
}

static void is_default(const struct machine *m, const char *what)
{
	ok(m->port == 22 && m->parallel_builds == 1 && m->speed == 1.0 && m->nfeatures == 0 &&
	       m->nmandatory == 0 && m->compression == 3 && m->overload_threshold == 0.8 &&
	       m->connect_timeout == 10.0 && !m->host_key,
	   "%s: port 22, 1 build, speed 1, no features, zstd:3, overload 0.8, 10 s, "
	   "known_hosts",
	   what);
}

static void test_guix_example(void)
{
	static const char path[] = "tests/data/machines/guix-example.scm";
	struct machines *ms = load(path);
	const struct machine *m;

	if (!ms)
		return;
	is_int((long long)ms->n, 2, "guix-example: two machines");
	is_int((long long)ms->nwarnings, 0, "guix-example: no warning");
	if (ms->n != 2)
		goto out;
	m = &ms->v[0];
	is_str(m->name, "eightysix.example.org", "1: name");
	is_str(m->user, "offload", "1: user");
	ok(words(m->systems, m->nsystems, "x86_64-linux,i686-linux"), "1: systems");
	is_str(m->private_key, key("id_ed25519"), "1: private key from HOME");
	ok(m->speed == 2.0, "1: speed 2.");
	ok(m->port == 22 && m->parallel_builds == 1 && !m->host_key && m->compression == 3,
	   "1: port, parallel builds, host key, compression");
	ok(!strcmp(m->file, path) && m->line == 13 && m->col == 3,
	   "1: declared at the build-machine form in the procedure (%u:%u)", m->line, m->col);
	m = &ms->v[1];
	is_str(m->name, "armeight.example.org", "2: name");
	is_str(m->user, "alice", "2: user");
	ok(words(m->systems, m->nsystems, "aarch64-linux"), "2: quoted systems");
	is_str(m->host_key,
	       "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOmJ2JZ7mYkB8Z9yQ0f3Uu1bQx9n0jWmQe9XyZrjL2pA "
	       "root@armeight",
	       "2: host key");
	is_int(m->parallel_builds, 4, "2: parallel builds");
	ok(words(m->features, m->nfeatures, "kvm,big-parallel"), "2: features");
	ok(m->speed == 1.0, "2: the speed behind #; is the default");
	is_str(m->private_key, key("id_rsa"), "2: private key");
	ok(m->line == 25 && m->col == 7, "2: position %u:%u", m->line, m->col);
out:
	machines_free(ms);
}

static void test_full(void)
{
	struct machines *ms = load("tests/data/machines/full.scm");
	const struct machine *m;

	if (!ms)
		return;
	is_int((long long)ms->n, 3, "full: three machines (the template is not listed)");
	if (ms->n != 3)
		goto out;
	m = &ms->v[0];
	is_str(m->name, "big.example.org", "big: name");
	is_int(m->port, 2222, "big: port");
	ok(words(m->systems, m->nsystems, "x86_64-linux,i686-linux"), "big: systems");
	is_str(m->user, "bob", "big: user");
	is_str(m->private_key, key("id_rsa"), "big: private key");
	is_str(m->host_key,
	       "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIONOqR2+oVJnBtsIK0vm6R1aLjpvmxGPPygfZbD7z+Yh  "
	       "root@big",
	       "big: host key, trimmed");
	is_int(m->parallel_builds, 8, "big: parallel builds");
	ok(m->speed == 2.5, "big: speed");
	ok(words(m->features, m->nfeatures, "kvm,big-parallel"), "big: features");
	ok(words(m->mandatory_features, m->nmandatory, "benchmark"), "big: mandatory features");
	is_int(m->compression, 9, "big: zstd:9");
	ok(m->overload_threshold == 0.95, "big: overload threshold");
	ok(m->connect_timeout == 3.0, "big: connect timeout");
	ok(m->line == 17 && m->col == 7, "big: position %u:%u", m->line, m->col);

	m = &ms->v[1];
	is_str(m->name, "pi.example.org", "pi: name over the inherited one");
	ok(!strcmp(m->user, "offload") && words(m->systems, m->nsystems, "aarch64-linux") &&
	       m->parallel_builds == 2,
	   "pi: user, systems, parallel builds inherited");
	ok(m->speed == 1.0, "pi: integer speed");
	is_int(m->compression, 0, "pi: no compression");
	ok(m->overload_threshold == 0, "pi: overload threshold disabled by #f");
	ok(m->connect_timeout == 2.5, "pi: connect timeout 2.5");
	is_str(m->private_key, key("id_ed25519"), "pi: default private key");

	m = &ms->v[2];
	is_str(m->name, "fe80::1", "v6: an address as name");
	ok(words(m->systems, m->nsystems, "armv7l-linux"), "v6: (system …) replaces systems");
	ok(!m->host_key, "v6: host key #f");
	is_int(m->compression, 3, "v6: \"zstd\" is level 3");
	ok(m->overload_threshold == 0.8 && m->connect_timeout == 10.0, "v6: defaults");
out:
	machines_free(ms);
}

static void test_minimal(void)
{
	struct machines *ms = load("tests/data/machines/minimal.scm");
	const struct machine *m;

	if (!ms)
		return;
	if (!ok(ms->n == 1, "minimal: one machine"))
		goto out;
	m = &ms->v[0];
	ok(!strcmp(m->name, "minimal.example.org") && !strcmp(m->user, "nix"), "name, user");
	ok(words(m->systems, m->nsystems, machines_local_system()),
	   "systems default to the local system");
	is_str(m->private_key, key("id_ed25519"), "private key: ~/.ssh/id_ed25519");
	is_default(m, "minimal");
	ok(m->features && m->mandatory_features, "empty lists are lists");
out:
	machines_free(ms);
}

static void test_nix_example(void)
{
	static const char path[] = "tests/data/machines/nix-example.nix-machines";
	struct machines *ms = load(path);
	const struct machine *m;

	if (!ms)
		return;
	is_int((long long)ms->n, 5, "nix-example: five machines");
	if (ms->n != 5)
		goto out;
	m = &ms->v[0];
	ok(!strcmp(m->user, "alice") && !strcmp(m->name, "eightysix.example.org") && m->port == 22,
	   "1: ssh://USER@HOST");
	ok(words(m->systems, m->nsystems, "x86_64-linux,i686-linux"), "1: systems");
	is_str(m->private_key, key("id_ed25519"), "1: KEY '-'");
	ok(m->parallel_builds == 4 && m->speed == 2.0, "1: MAXJOBS, SPEED");
	ok(words(m->features, m->nfeatures, "kvm,big-parallel") && m->nmandatory == 0,
	   "1: FEATURES, MANDATORY '-'");
	is_str(m->host_key,
	       "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOmJ2JZ7mYkB8Z9yQ0f3Uu1bQx9n0jWmQe9XyZrjL2pA "
	       "root@eightysix",
	       "1: HOSTKEY decoded, newline dropped");
	ok(m->line == 6 && m->col == 1 && !strcmp(m->file, path), "1: position");
	m = &ms->v[1];
	ok(!strcmp(m->user, "bob") && !strcmp(m->name, "fe80::1") && m->port == 2222,
	   "2: ssh-ng://USER@[V6]:PORT");
	ok(m->speed == 0.5 && m->parallel_builds == 1 && !m->host_key, "2: fractional speed");
	ok(m->nfeatures == 0 && words(m->mandatory_features, m->nmandatory, "benchmark"),
	   "2: mandatory features");
	ok(m->line == 7 && m->col == 2, "2: position after a tab (%u:%u)", m->line, m->col);
	m = &ms->v[2];
	is_str(m->name, "armeight.example.org", "3: a bare host");
	ok(m->user && m->user[0], "3: the daemon user's name (%s)", m->user);
	ok(words(m->systems, m->nsystems, machines_local_system()), "3: local system");
	is_default(m, "3");
	m = &ms->v[3];
	ok(!strcmp(m->user, "carol") && !strcmp(m->name, "one.example.org") && m->port == 22,
	   "4: USER@HOST:PORT without a scheme");
	m = &ms->v[4];
	ok(!strcmp(m->name, "two.example.org") && m->line == 9 && m->col == 33,
	   "5: the second entry of a line, at its column (%u)", m->col);
out:
	machines_free(ms);
}

static void test_nix_strings(void)
{
	struct machines_opts o = {.user = "daemon-user"};
	struct machines *ms;
	char text[4096], path[1200];

	ms = parse_nix("ssh://h1 - - - - - - -", &o);
	if (ms && ok(ms->n == 1, "every field '-'")) {
		const struct machine *m = &ms->v[0];

		is_str(m->user, "daemon-user", "'-': the daemon user");
		ok(words(m->systems, m->nsystems, machines_local_system()), "'-': local system");
		is_str(m->private_key, key("id_ed25519"), "'-': default key");
		is_default(m, "'-'");
		ok(m->line == 1 && m->col == 1 && !strcmp(m->file, "--builders"), "position");
	}
	machines_free(ms);

	snprintf(text, sizeof(text),
		 "  ssh://u@h1 x86_64-linux %s 3 1.5 a,b c \n\n;; ;h2\n# only a comment; here\n"
		 "h3:2200 - - - - - -   ",
		 key("id_rsa"));
	ms = parse_nix(text, NULL);
	if (ms && ok(ms->n == 3, "';' and newlines separate entries; blank entries skipped")) {
		const struct machine *m = &ms->v[0];

		is_str(m->private_key, key("id_rsa"), "explicit KEY");
		ok(m->parallel_builds == 3 && m->speed == 1.5, "MAXJOBS 3, SPEED 1.5");
		ok(words(m->features, m->nfeatures, "a,b") &&
		       words(m->mandatory_features, m->nmandatory, "c"),
		   "FEATURES, MANDATORY");
		ok(m->col == 3, "entry column");
		ok(!strcmp(ms->v[1].name, "h2") && ms->v[1].line == 3 && ms->v[1].col == 5,
		   "h2 after ';' at 3:5 (%u:%u)", ms->v[1].line, ms->v[1].col);
		ok(ms->v[2].port == 2200 && ms->v[2].line == 5, "h3: port");
	}
	machines_free(ms);

	/* "@FILE" includes another machines file, of either format. */
	snprintf(path, sizeof(path), "%s/included.scm", tap_tmpdir());
	write_file(path, "(list (build-machine (name \"inc\") (user \"u\")))\n");
	snprintf(text, sizeof(text), "h0; @%s ;h4", path);
	ms = parse_nix(text, NULL);
	if (ms && ok(ms->n == 3, "an @FILE entry includes its machines")) {
		ok(!strcmp(ms->v[1].name, "inc") && !strcmp(ms->v[1].file, path),
		   "the included machine keeps its file");
		is_str(ms->v[2].name, "h4", "and the entries after it follow");
	}
	machines_free(ms);
	snprintf(path, sizeof(path), "%s/loop.machines", tap_tmpdir());
	write_file(path, "@loop.machines\n");
	{
		struct machines *r = NULL;
		char want[2048];

		ok(machines_load(path, &r) == ERR_TOOBIG && !r, "an include loop is refused");
		snprintf(want, sizeof(want), "%s/loop.machines:1:1: includes nested deeper than 4",
			 tap_tmpdir());
		is_str(err_msg(), want, "  at the fifth level, relative names from the file's dir");
	}

	refused("--builders", "h1;h2 x86_64-linux - 1 1 - - - extra", true, ERR_FORMAT,
		"--builders:1:32: more than 8 fields (URI SYSTEMS KEY MAXJOBS SPEED FEATURES "
		"MANDATORY HOSTKEY-BASE64)");
	refused("--builders", "ssh://u@h:0", true, ERR_FORMAT,
		"--builders:1:1: URI: expected [ssh://|ssh-ng://][USER@]HOST[:PORT] with PORT from "
		"1 to 65535, got 'ssh://u@h:0'");
	refused("--builders", "ssh://u@h/path", true, ERR_FORMAT,
		"--builders:1:1: URI: expected [ssh://|ssh-ng://][USER@]HOST[:PORT] (no path, no "
		"parameters), got 'ssh://u@h/path'");
	refused("--builders", "ssh://@h", true, ERR_FORMAT,
		"--builders:1:1: URI: expected [ssh://|ssh-ng://][USER@]HOST[:PORT], got "
		"'ssh://@h'");
	refused("--builders", "ssh://u@[::1 x", true, ERR_FORMAT,
		"--builders:1:1: URI: expected [ssh://|ssh-ng://][USER@]HOST[:PORT], got "
		"'ssh://u@[::1'");
	refused("--builders", "h - - 1025", true, ERR_FORMAT,
		"--builders:1:7: MAXJOBS: expected '-' or an integer from 1 to 1024, got '1025'");
	refused("--builders", "h - - 99999999999999999999999", true, ERR_FORMAT,
		"--builders:1:7: MAXJOBS: expected '-' or an integer from 1 to 1024, got "
		"'99999999999999999999999'");
	refused("--builders", "h - - - nan", true, ERR_FORMAT,
		"--builders:1:9: SPEED: expected '-' or a number greater than 0, got 'nan'");
	refused("--builders", "h - - - 0", true, ERR_FORMAT,
		"--builders:1:9: SPEED: expected '-' or a number greater than 0, got '0'");
	refused(
	    "--builders", "h - - - - kvm,", true, ERR_FORMAT,
	    "--builders:1:11: FEATURES: expected '-' or a comma-separated list of feature names "
	    "like kvm, got 'kvm,'");
	refused("--builders", "h - - - - - - c3NoLWVkMjU1MTk=", true, ERR_FORMAT,
		"--builders:1:15: HOSTKEY: the decoded text is not an OpenSSH public-key line "
		"(TYPE BASE64 [COMMENT]): no base64 key after 'ssh-ed25519'");
	refused("--builders", "h - - - - - - abc", true, ERR_FORMAT,
		"--builders:1:15: HOSTKEY: expected the base64 of an OpenSSH public-key line: bad "
		"base64: 3 characters, not a positive multiple of 4");
	refused("--builders", "h - - - - - - ab=c", true, ERR_FORMAT,
		"--builders:1:15: HOSTKEY: expected the base64 of an OpenSSH public-key line: bad "
		"base64: bad character '=' at offset 2");
	refused("--builders", "h\n  @", true, ERR_FORMAT,
		"--builders:2:3: expected a file name after '@'");
	refused("--builders", "h x86_64-linux,\xc3\xa9\x01", true, ERR_FORMAT,
		"--builders:1:3: SYSTEMS: expected '-' or a comma-separated list of system types "
		"like x86_64-linux, got 'x86_64-linux,\\xc3\\xa9\\x01'");
	refused("--builders", "h - /nonexistent/k", true, ERR_INVALID,
		"--builders:1:5: KEY: cannot read '/nonexistent/k': No such file or directory");
	/* Columns count characters: the 'é' of the key's name is one. */
	snprintf(path, sizeof(path), "%s/k\xc3\xa9", tap_tmpdir());
	write_file(path, "key\n");
	snprintf(text, sizeof(text), "h - %s 0", path);
	{
		char want[2048];

		snprintf(
		    want, sizeof(want),
		    "--builders:1:%zu: MAXJOBS: expected '-' or an integer from 1 to 1024, got "
		    "'0'",
		    strlen(path) + 5);
		refused("--builders", text, true, ERR_FORMAT, want);
	}
}

static int parse_text(const char *name, const char *text, struct machines **outp)
{
	return machines_parse(name, text, strlen(text), NULL, outp);
}

/* Telling the formats apart, and reading files. */
static void test_detect(void)
{
	struct machines *ms = NULL;
	char path[1200];

	ok(parse_text("machines", "; comment\n  #| block |#\n(list)", &ms) == 0 && ms->n == 0,
	   "'(' after comments: Scheme, an empty list");
	machines_free(ms);
	ms = NULL;
	ok(parse_text("machines", "# only\n\n  # comments\n", &ms) == 0 && ms->n == 0,
	   "only comments: no machines");
	machines_free(ms);
	ms = NULL;
	ok(parse_text("x.scm", ";; nothing\n", &ms) == 0 && ms->n == 0,
	   "a Scheme file without forms: no machines");
	machines_free(ms);
	refused("x.scm", "ssh://u@h x86_64-linux", false, ERR_INVALID,
		"x.scm:1:1: unbound variable 'ssh://u@h'");
	refused("machines", "ssh://u@h\n(list)", false, ERR_FORMAT,
		"machines:2:1: URI: expected [ssh://|ssh-ng://][USER@]HOST[:PORT], got '(list)'");
	refused("m", "#;(x) (list 1)", false, ERR_INVALID,
		"m:1:13: expected a build-machine record in the list of machines, got 1");
	refused("m", "(list (build-machine (name \"h\") (user \"u\") (port)))", false, ERR_INVALID,
		"m:1:44: field 'port': expected one value, got 0");

	ok(machines_load("/nonexistent/yonder/machines.scm", &ms) == ERR_NOTFOUND,
	   "a missing file is ERR_NOTFOUND");
	is_str(err_msg(),
	       "/nonexistent/yonder/machines.scm: cannot open: No such file or directory",
	       "  with its message");
	ok(machines_load(tap_tmpdir(), &ms) == ERR_IO, "a directory is refused");

	/* Relative paths are taken from the machines file's directory. */
	snprintf(path, sizeof(path), "%s/conf", tap_tmpdir());
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/conf/k", tap_tmpdir());
	write_file(path, "key\n");
	snprintf(path, sizeof(path), "%s/conf/machines.scm", tap_tmpdir());
	write_file(path, "(list (build-machine (name \"h\") (user \"u\") (private-key \"k\")))");
	ms = NULL;
	ok(machines_load(path, &ms) == 0 && ms->n == 1, "relative private key");
	if (ms && ms->n == 1) {
		char want[1200];

		snprintf(want, sizeof(want), "%s/conf/k", tap_tmpdir());
		is_str(ms->v[0].private_key, want, "  found beside the machines file");
	}
	machines_free(ms);
}

static void test_default_key(void)
{
	struct machines_opts o = {0};
	struct machines *ms = NULL;
	char dir[1200], p[1300], want[4096];
	static const char text[] = "(list (build-machine (name \"h\") (user \"u\")))";

	snprintf(dir, sizeof(dir), "%s/empty-home", tap_tmpdir());
	mkdir(dir, 0700);
	o.home = dir;
	is_int(machines_parse("m.scm", text, strlen(text), &o, &ms), ERR_INVALID,
	       "no key in the home: refused");
	snprintf(want, sizeof(want),
		 "m.scm:1:7: machine 'h': no private key given, and neither "
		 "%s/.ssh/id_ed25519 (No such file or directory) nor %s/.ssh/id_rsa (No such "
		 "file or directory) can be read",
		 dir, dir);
	is_str(err_msg(), want, "  naming both defaults");
	is_int(machines_parse_nix("--builders", "u@h", 3, &o, &ms), ERR_INVALID,
	       "the same for a Nix entry");

	snprintf(p, sizeof(p), "%s/.ssh", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/.ssh/id_rsa", dir);
	write_file(p, "k\n");
	ok(machines_parse("m.scm", text, strlen(text), &o, &ms) == 0 && ms->n == 1 &&
	       !strcmp(ms->v[0].private_key, p),
	   "id_rsa when there is no id_ed25519");
	machines_free(ms);
	ms = NULL;
	snprintf(p, sizeof(p), "%s/.ssh/id_ed25519", dir);
	mkdir(p, 0700); /* a directory is not a key */
	ok(machines_parse("m.scm", text, strlen(text), &o, &ms) == 0 &&
	       !strstr(ms->v[0].private_key, "id_ed25519"),
	   "an id_ed25519 that is not a file is passed over");
	machines_free(ms);
}

/* Standard base64 of N bytes, for building key blobs. */
static void b64(const unsigned char *p, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);

		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? a[v & 63] : '=';
	}
	out[o] = '\0';
}

/* A key line of TYPE whose blob holds the N strings S (each given as a
 * length and a fill byte; a NULL text means LEN bytes of 'x'). */
static const char *blob_line(const char *type, int n, const char *const *s, const size_t *lens)
{
	static char line[4096];
	unsigned char blob[1024];
	size_t o = 0;
	int k;

	for (int i = 0; i < n; i++) {
		size_t l = s[i] ? strlen(s[i]) : lens[i];

		blob[o++] = (unsigned char)(l >> 24);
		blob[o++] = (unsigned char)(l >> 16);
		blob[o++] = (unsigned char)(l >> 8);
		blob[o++] = (unsigned char)l;
		if (s[i])
			memcpy(blob + o, s[i], l);
		else
			memset(blob + o, 'x', l);
		o += l;
	}
	k = snprintf(line, sizeof(line), "%s ", type);
	b64(blob, o, line + k);
	return line;
}

static void host_key(const char *line, const char *want_why, const char *what)
{
	struct buf why = BUF_INIT(2048);
	int r = machines_check_host_key(line, strlen(line), &why);

	if (!want_why)
		ok(r == 0, "host key %s accepted%s%s", what, r ? ": " : "", r ? why.data : "");
	else
		is_str(r == ERR_INVALID ? why.data : "(accepted)", want_why, "host key %s refused",
		       what);
	buf_release(&why);
}

static void test_host_keys(void)
{
	const char *s[4];
	size_t l[4] = {0, 0, 0, 0};

	host_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIONOqR2+oVJnBtsIK0vm6R1aLjpvmxGPPygfZbD7z+Yh",
		 NULL, "ed25519 (ssh-keygen)");
	host_key("ecdsa-sha2-nistp256 "
		 "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBClmu/"
		 "XlyTcNc7VmZkBQktNzBAMa5wEix1P+dM3nkjzuKYbpHPZOM5pev/"
		 "OFHgBTyzLDNhJ831yNBiFiOtMf5BQ= test@ecdsa",
		 NULL, "ecdsa-256 (ssh-keygen)");
	host_key("ecdsa-sha2-nistp384 "
		 "AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBDf5VVA7EvI9uVAEU2cVw1nu8qvbm"
		 "dDp/4chCWOWFAsaDA22Q3G7Z5SmIR0XpQLcX0f3V6USQnnKU6SrkgLILmgh/"
		 "pjBsuF4z1nreYHDXC22JYofMOgQh5ogmIrbVL5IKg== t384",
		 NULL, "ecdsa-384 (ssh-keygen)");
	host_key("ssh-rsa "
		 "AAAAB3NzaC1yc2EAAAADAQABAAABgQCnayYZ97s+"
		 "uWUiyt4JcqANMlanI8JJZRjrfPviyPvXiKK3fhY7GHmBPsQEgvJBLX7Anma8i9+kGr9zapwcc4kxtVIC+"
		 "Dv8YcVUnWcCpWSLGV4Nplmr/"
		 "tDJxEPUH2tRiEvegFTTV9812EmmEYJ+jQMQdNZd4QEOAThyVGYvPCMifjkGuWGOo/"
		 "oa1UetVGaqGqMcI7yL2SLJlR9AGh4Dvti8bOmZNcRgP1MNtIomHSvCTduDkKVea+X+"
		 "ts9aToetFgCR5HrgzPrIw6IDHcib7Cfz+B+Km4ZcZwQqXPP3n+ow7+"
		 "FzBiGWzZo2p5Alq9zHD8aOgNqUDcR1ir4V/"
		 "ro0R6Tw5vSL5MNKpt87afW0HK5jdiajXSAjk+CP6acM8FLck4aCaezlsAmrTB+"
		 "s2o6rc0Q7lISTU9TbJDEaOQEzwEFDd0vv68LW0XA5tnURCKPXXNHNvCtLZtrD2tdiT6NU1l6499MmCJJQ"
		 "GZcISVAIb7GiISJ0zUniYrXYHNbGT7eKDXM= test@rsa",
		 NULL, "rsa-3072 (ssh-keygen)");
	s[0] = "sk-ssh-ed25519@openssh.com";
	s[1] = NULL;
	l[1] = 32;
	s[2] = "ssh:";
	host_key(blob_line(s[0], 3, s, l), NULL, "sk-ed25519");
	s[0] = "sk-ecdsa-sha2-nistp256@openssh.com";
	s[1] = "nistp256";
	s[2] = NULL;
	l[2] = 65;
	s[3] = "ssh:";
	host_key(blob_line(s[0], 4, s, l), NULL, "sk-ecdsa");
	host_key(blob_line(s[0], 3, s, l),
		 "malformed 'sk-ecdsa-sha2-nistp256@openssh.com' key (119 bytes)",
		 "sk-ecdsa without its application");
	s[0] = "ecdsa-sha2-nistp256";
	s[1] = "nistp384";
	host_key(blob_line(s[0], 3, s, l), "malformed 'ecdsa-sha2-nistp256' key (104 bytes)",
		 "ecdsa with the wrong curve");
	s[0] = "ssh-ed25519";
	s[1] = NULL;
	l[1] = 31;
	host_key(blob_line(s[0], 2, s, l), "malformed 'ssh-ed25519' key (50 bytes)",
		 "ed25519 of 31 bytes");
	l[1] = 32;
	s[2] = "x";
	host_key(blob_line(s[0], 3, s, l), "malformed 'ssh-ed25519' key (56 bytes)",
		 "ed25519 with a string too many");
	host_key("ssh-ed25519 AAAAAA==", "the base64 key is not an SSH public key",
		 "a blob too short for its type");
	host_key("   \t ", "it is empty", "blank");
	host_key("ssh-ed25519 AAAA\x01", "control character \\x01 at offset 16", "with a control");
	host_key("ssh-ed25519-cert-v01@openssh.com AAAA",
		 "unknown key type 'ssh-ed25519-cert-v01@openssh.com' (expected ssh-ed25519, "
		 "ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, ssh-rsa, "
		 "sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com)",
		 "a certificate");
	host_key(
	    "  ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIONOqR2+oVJnBtsIK0vm6R1aLjpvmxGPPygfZbD7z+Yh"
	    "\tcomment with spaces\n",
	    NULL, "with blanks around and a comment");
}

static void test_fits(void)
{
	struct machines *ms = NULL;
	struct buf why = BUF_INIT(4096);
	static const char text[] = "a x86_64-linux,i686-linux - - - kvm,big-parallel\n"
				   "b aarch64-linux - - - - benchmark\n"
				   "c x86_64-linux - - - kvm benchmark,gpu\n";
	const char *none[] = {NULL}, *kvm[] = {"kvm", NULL},
		   *kvm_nixos[] = {"kvm", "nixos-test", NULL}, *bench[] = {"benchmark", NULL},
		   *kvm_bench[] = {"kvm", "benchmark", NULL},
		   *all[] = {"gpu", "benchmark", "kvm", NULL};
	struct {
		int m;
		const char *system;
		const char *const *req;
		enum machine_misfit want;
		const char *why;
	} cases[] = {
	    {0, "x86_64-linux", none, MACHINE_FITS, ""},
	    {0, "i686-linux", NULL, MACHINE_FITS, ""},
	    {0, "x86_64-linux", kvm, MACHINE_FITS, ""},
	    {0, "aarch64-linux", none, MACHINE_MISFIT_SYSTEM,
	     "does not build for aarch64-linux (its systems: x86_64-linux, i686-linux)"},
	    {0, "x86_64-linux", kvm_nixos, MACHINE_MISFIT_FEATURES,
	     "lacks the feature nixos-test that the build requires (it has: kvm, big-parallel)"},
	    {0, "x86_64-linux", bench, MACHINE_MISFIT_FEATURES,
	     "lacks the feature benchmark that the build requires (it has: kvm, big-parallel)"},
	    {1, "aarch64-linux", none, MACHINE_MISFIT_MANDATORY,
	     "takes only builds that require its mandatory feature benchmark"},
	    {1, "aarch64-linux", bench, MACHINE_FITS, ""},
	    {1, "aarch64-linux", kvm_bench, MACHINE_MISFIT_FEATURES,
	     "lacks the feature kvm that the build requires (it has: benchmark)"},
	    {1, "x86_64-linux", bench, MACHINE_MISFIT_SYSTEM,
	     "does not build for x86_64-linux (its systems: aarch64-linux)"},
	    {2, "x86_64-linux", kvm, MACHINE_MISFIT_MANDATORY,
	     "takes only builds that require its mandatory features benchmark, gpu"},
	    {2, "x86_64-linux", kvm_bench, MACHINE_MISFIT_MANDATORY,
	     "takes only builds that require its mandatory feature gpu"},
	    {2, "x86_64-linux", all, MACHINE_FITS, ""},
	    {2, "x86_64-linux", kvm_nixos, MACHINE_MISFIT_FEATURES,
	     "lacks the feature nixos-test that the build requires (it has: kvm, benchmark, gpu)"},
	    {0, NULL, none, MACHINE_MISFIT_SYSTEM,
	     "does not build for (none) (its systems: x86_64-linux, i686-linux)"},
	};

	if (!ok(machines_parse_nix("fits", text, strlen(text), NULL, &ms) == 0 && ms->n == 3,
		"three machines to fit"))
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&why);
		is_int(machine_fits(&ms->v[cases[i].m], cases[i].system, cases[i].req, &why),
		       cases[i].want, "fit %zu: machine %c, %s", i, 'a' + cases[i].m,
		       cases[i].system ? cases[i].system : "(null)");
		is_str(why.data ? why.data : "", cases[i].why, "fit %zu: reason", i);
	}
	is_int(machine_fits(&ms->v[0], "aarch64-linux", none, NULL), MACHINE_MISFIT_SYSTEM,
	       "WHY may be NULL");
	{
		const char *two[] = {"x", "y", NULL};

		buf_reset(&why);
		machine_fits(&ms->v[1], "aarch64-linux", two, &why);
		is_str(why.data,
		       "lacks the features x, y that the build requires (it has: "
		       "benchmark)",
		       "plural");
	}
	buf_release(&why);
	machines_free(ms);
}

static void test_limits(void)
{
	struct machines_opts o = {.max_steps = 1000, .max_depth = 50};
	struct buf b = BUF_INIT(1 << 20);
	struct machines *ms = NULL;
	static const char loop[] = "(define (f x) (f x))\n(f 1)";
	static const char deep[] = "(define (f x) (list (f x)))\n(f 1)";
	int r;

	for (int i = 0; i < MACHINES_MAX; i++)
		buf_printf(&b, "h%d\n", i);
	r = machines_parse_nix("many", b.data, b.len, NULL, &ms);
	ok(r == 0 && ms->n == MACHINES_MAX, "%d machines load", MACHINES_MAX);
	machines_free(ms);
	ms = NULL;
	buf_puts(&b, "one-more\n");
	is_int(machines_parse_nix("many", b.data, b.len, NULL, &ms), ERR_TOOBIG,
	       "one more is refused");
	is_str(err_msg(), "many:4097:1: more than 4096 machines", "  with its message");
	buf_reset(&b);
	for (int i = 0; i <= MACHINES_MAX; i++)
		buf_printf(&b, "h\n");
	ms = NULL;
	is_int(machines_parse_nix("dups", b.data, b.len, NULL, &ms), ERR_TOOBIG,
	       "duplicates count against the cap too");
	buf_release(&b);

	o.max_depth = 1000;
	is_int(machines_parse("loop.scm", loop, strlen(loop), &o, &ms), ERR_TOOBIG,
	       "an endless machines.scm stops at the step budget");
	is_str(err_msg(), "loop.scm:1:15: evaluation takes more than 1000 steps", "  message");
	o.max_depth = 50;
	is_int(machines_parse("deep.scm", deep, strlen(deep), &o, &ms), ERR_TOOBIG,
	       "deep recursion stops at the depth limit");
	is_str(err_msg(), "deep.scm:1:21: evaluation nested deeper than 50", "  message");
}

/* tests/data/bad-machines: each file gives the message EXPECT names. */
static void test_corpus(void)
{
	static const char dir[] = "tests/data/bad-machines";
	char line[4096];
	size_t nlines = 0, nfiles = 0, nwarn = 0;
	struct dirent *e;
	FILE *exp;
	DIR *d;
	int top = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (!ok(top >= 0 && chdir(dir) == 0, "cd %s", dir))
		return;
	if (!ok((exp = fopen("EXPECT", "r")) != NULL, "open EXPECT"))
		goto out;
	while (fgets(line, sizeof(line), exp)) {
		char *tab = strchr(line, '\t'), *nl = strchr(line, '\n');
		struct machines *ms = NULL;
		int r;

		if (line[0] == '#' || !tab)
			continue;
		*tab = '\0';
		if (nl)
			*nl = '\0';
		nlines++;
		r = machines_load(line, &ms);
		if (!strncmp(tab + 1, "warning: ", 9)) {
			nwarn++;
			ok(r == 0 && ms->nwarnings == 1, "%s loads with one warning", line);
			is_str(r == 0 && ms->nwarnings ? ms->warnings[0] : err_msg(), tab + 10,
			       "%s: warning", line);
		} else {
			ok(r == ERR_INVALID || r == ERR_FORMAT || r == ERR_NOTFOUND,
			   "%s is refused", line);
			is_str(r ? err_msg() : "(accepted)", tab + 1, "%s: message", line);
		}
		machines_free(ms);
	}
	fclose(exp);
	if ((d = opendir("."))) {
		while ((e = readdir(d)))
			nfiles += e->d_name[0] != '.' && strcmp(e->d_name, "EXPECT") != 0;
		closedir(d);
	}
	is_int((long long)nlines, (long long)nfiles, "every file of %s has a line in EXPECT", dir);
	ok(nlines - nwarn >= 15, "at least 15 bad files (%zu)", nlines - nwarn);
out:
	if (top >= 0) {
		if (fchdir(top) != 0)
			perror("fchdir");
		close(top);
	}
}

int main(int argc, char **argv)
{
	setup(argv[0]);
	test_guix_example();
	test_full();
	test_minimal();
	test_nix_example();
	test_nix_strings();
	test_detect();
	test_default_key();
	test_host_keys();
	test_fits();
	test_limits();
	test_corpus();
	return tap_done();
}
