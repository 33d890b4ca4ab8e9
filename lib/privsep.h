/*
 * privsep.h - what a set-id program (queue-inject set-uid to the queue
 * owner, deliver-local set-uid root) does before it trusts anything: the
 * caller chose its environment, its open descriptors and its real ids.
 */
#ifndef SLUICE_PRIVSEP_H
#define SLUICE_PRIVSEP_H
#include <sys/types.h>

/* 1 when the kernel marked this exec as set-id (AT_SECURE) */
int privsep_setid(void);

/*
 * Make sure fds 0, 1 and 2 are open (on /dev/null when the caller closed
 * them), so that no file this program opens later becomes its stderr.
 * 0, or -1 with errno set.
 */
int privsep_std_fds(void);

/*
 * Empty the environment but for the names in keep (NULL-terminated);
 * their values are copied back as the caller gave them, for the program
 * to validate.  0, or -1 with errno set.
 */
int privsep_env_keep(const char *const *keep);

/*
 * As root, become uid/gid for good (supplementary groups = gid only);
 * 0, or -1 with errno set.  Checks that the switch took.
 */
int privsep_become(uid_t uid, gid_t gid);
#endif
