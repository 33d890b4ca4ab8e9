/*
 * die.h - the one error vocabulary every sluice program speaks.
 *
 * Messages go to stderr as "prog: fatal: unable to X: reason" (s6 style);
 * exit 100 means the caller used us wrongly, 111 a system failure.  The
 * program name comes from libc (program_invocation_short_name), so the
 * library keeps no state of its own.
 */
#ifndef SLUICE_DIE_H
#define SLUICE_DIE_H

#define EXIT_USAGE 100
#define EXIT_SYS   111

__attribute__((noreturn, format(printf, 2, 3)))
void die(int code, const char *fmt, ...);
/* as die, with ": strerror(errno)" appended */
__attribute__((noreturn, format(printf, 2, 3)))
void die_sys(int code, const char *fmt, ...);
__attribute__((noreturn))
void die_nomem(void);
__attribute__((format(printf, 1, 2)))
void warn_msg(const char *fmt, ...);
__attribute__((format(printf, 1, 2)))
void warn_sys(const char *fmt, ...);

#endif
