#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERR_MSG_MAX 2048

static _Thread_local char msg[ERR_MSG_MAX];

const char *err_str(int code)
{
	switch (code) {
	case ERR_OK: return "success";
	case ERR_INTERNAL: return "internal error";
	case ERR_NOMEM: return "out of memory";
	case ERR_IO: return "input/output error";
	case ERR_FORMAT: return "malformed input";
	case ERR_NOTFOUND: return "not found";
	case ERR_EXISTS: return "already exists";
	case ERR_INVALID: return "invalid argument";
	case ERR_MISMATCH: return "content mismatch";
	case ERR_TOOBIG: return "too big";
	case ERR_DB: return "database error";
	case ERR_REFERENCED: return "still referenced";
	case ERR_TRUNCATED: return "truncated input";
	}
	return "unknown error";
}

int err_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return code;
}

int err_sys(int code, const char *fmt, ...)
{
	int saved = errno;
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = strlen(msg);
	snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	errno = saved;
	return code;
}

int err_prefix(int code, const char *fmt, ...)
{
	char old[ERR_MSG_MAX];
	size_t n;
	va_list ap;

	memcpy(old, msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = strlen(msg);
	snprintf(msg + n, sizeof(msg) - n, ": %s", old);
	return code;
}

const char *err_msg(void)
{
	return msg;
}

void err_clear(void)
{
	msg[0] = '\0';
}
