/* log.c - key=value event lines on stderr (see log.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "bio.h"
#include "log.h"
#include "str.h"

void log_line(const char *fmt, ...)
{
	struct str line = STR_INIT;
	str_catf(&line, "prog=%s pid=%ld ", program_invocation_short_name, (long)getpid());
	size_t start = line.len;
	va_list ap;
	va_start(ap, fmt);
	str_vcatf(&line, fmt, ap);
	va_end(ap);
	for (size_t i = start; i < line.len; i++) {
		unsigned char c = (unsigned char)line.s[i];
		if (c < 0x20 || c == 0x7f)
			line.s[i] = '?';
	}
	str_catc(&line, '\n');
	(void)fd_write_all(2, line.s, line.len); /* a dead log must not stop mail */
	str_free(&line);
}
