/*
 * checkpw.h - asking a checkpassword program (the qmail/vpopmail
 * interface: user\0password\0timestamp\0 on its fd 3; it execs the rest of
 * its argv on success, exits 1 for a wrong password, anything else is a
 * failure of the checker).  Only an exit 0 means success: a missing
 * program, a crash, a timeout or any other code never authenticates.
 */
#ifndef SLUICE_CHECKPW_H
#define SLUICE_CHECKPW_H
#include <stddef.h>

enum { CHECKPW_OK = 0, CHECKPW_BAD = 1, CHECKPW_TEMP = 2 };

/*
 * argv: the checker and its arguments, the last being the program it runs
 * on success (e.g. {"auth-check", "true", NULL}).  pass may hold any bytes
 * but NUL.  Waits at most timeout_ms.
 */
int checkpw_run(char *const argv[], const char *user, const char *pass, int timeout_ms);

#endif
