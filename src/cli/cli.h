/* cli.h — the command table and what every command shares.
 *
 * Each command lives in src/cli/cmd_<group>_<verb>.c (or cmd_<verb>.c) as
 * `int cmd_…(int argc, char **argv)`, where argv[0] is the command's full
 * name ("store add").  It returns the exit code: EXIT_OK, EXIT_FAIL or
 * EXIT_USAGE.  Only the CLI prints and chooses exit codes.
 */
#ifndef YONDER_CLI_H
#define YONDER_CLI_H

#include <stdio.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Prints "yonder <cmd>: <message>" with err_msg() appended when the format
 * is NULL; returns EXIT_FAIL. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "yonder <cmd>: <message>" and "Try 'yonder <cmd> --help'.";
 * returns EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses ARG, the value of option OPT, as a decimal number >= MIN (0 or
 * 1) into *OUT; otherwise prints a usage error and returns EXIT_USAGE. */
int cli_parse_uint(const char *cmd, const char *opt, const char *arg, unsigned min, unsigned *out);
/* When argv has --help anywhere before "--", prints HELP to stdout and
 * returns 1 (the command then returns EXIT_OK); otherwise 0. */
int cli_help(int argc, char **argv, const char *help);

int cmd_hash(int argc, char **argv);
int cmd_store_dump(int argc, char **argv);
int cmd_store_restore(int argc, char **argv);
int cmd_store_add(int argc, char **argv);
int cmd_store_query(int argc, char **argv);
int cmd_store_verify(int argc, char **argv);
int cmd_store_delete(int argc, char **argv);
int cmd_store_gc(int argc, char **argv);
int cmd_store_sign(int argc, char **argv);
int cmd_archive(int argc, char **argv);
int cmd_drv_add(int argc, char **argv);
int cmd_drv_show(int argc, char **argv);
int cmd_derivation(int argc, char **argv);
int cmd_store_add_text(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_daemon(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_offload_test(int argc, char **argv);
int cmd_offload_build(int argc, char **argv);
int cmd_offload_status(int argc, char **argv);

#endif
