/*
 * log.h - one line per event on stderr, as key=value pairs:
 *   prog=smtp-recv pid=4242 event=rcpt id=... rcpt=<a@b> result=accepted
 * log_line prefixes prog= and pid=; the caller writes the rest.
 *
 * The format is trusted, its arguments are not: a log line's fields cannot
 * be forged by a value (an address with a quoted local part, a HELO name,
 * an AUTH user).  Fields are separated by the format's spaces, and a
 * field's value is what follows its first '='.  When a string argument
 * (%s, %c) puts a space, '=', '"', '\', a control byte or DEL into a
 * value, the whole value is written in double quotes, with \" for '"',
 * \\ for '\' and \xHH for control bytes:
 *   rcpt=<"a id=FAKE \"x"@example.com>  ->  rcpt="<\"a id=FAKE \\\"x\"@example.com>"
 * Arguments inside double quotes the format writes itself (reason="%s")
 * are escaped the same way.  So a line never has more fields than its
 * format, and undoing the escapes gives the value back byte for byte.
 * Splice no field into a value through %s (" reason=..."): it is quoted
 * as part of the value.  Conversions: d i u x X o c s p with flags, width,
 * precision and the h hh l ll z j t modifiers (no '*').
 *
 * Never log a password or a message body.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H
#include <stdarg.h>

#include "str.h"

__attribute__((format(printf, 1, 2)))
void log_line(const char *fmt, ...);

/* what log_line writes after prog= and pid=, appended to line (no newline) */
__attribute__((format(printf, 2, 0)))
void log_vformat(struct str *line, const char *fmt, va_list ap);

#endif
