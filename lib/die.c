/*
 * die.c - fatal and warning messages in the uniform format (see die.h).
 * Each message is written with one write(2) so lines from concurrent
 * processes sharing a log never interleave.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "die.h"

static void append(char *buf, size_t *len, size_t cap, const char *s)
{
	while (*s && *len < cap)
		buf[(*len)++] = *s++;
}

static void emit(const char *kind, int with_errno, int saved, const char *fmt, va_list ap)
{
	char buf[1024], msg[900];
	size_t len = 0, cap = sizeof buf - 1; /* room for the newline */
	append(buf, &len, cap, program_invocation_short_name);
	append(buf, &len, cap, ": ");
	append(buf, &len, cap, kind);
	append(buf, &len, cap, ": ");
	if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
		msg[0] = '\0';
	append(buf, &len, cap, msg);
	if (with_errno) {
		append(buf, &len, cap, ": ");
		append(buf, &len, cap, strerror(saved));
	}
	buf[len++] = '\n';
	ssize_t w = write(2, buf, len);
	(void)w; /* nowhere left to report a failing stderr */
}

void die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit("fatal", 0, 0, fmt, ap);
	va_end(ap);
	_exit(code);
}

void die_sys(int code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	emit("fatal", 1, saved, fmt, ap);
	va_end(ap);
	_exit(code);
}

void die_nomem(void)
{
	die(EXIT_SYS, "out of memory");
}

void warn_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit("warning", 0, 0, fmt, ap);
	va_end(ap);
}

void warn_sys(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	emit("warning", 1, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}
