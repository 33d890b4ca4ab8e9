/*
 * safeopen.h - opening mailbox paths so that a symbolic link cannot lead
 * a delivery running as root somewhere else.
 *
 * deliver-local runs as root only for a destination without an account of
 * its own on an installation without privilege separation (the mail owner
 * is root: deliver-local(8), "Privileges").  A user who can write a
 * directory on such a mailbox's path could swap it for a symbolic link to
 * /etc or /root; checking only the last component (O_NOFOLLOW) does not
 * stop that.  So, as root, a mailbox's directory is opened with openat2's
 * RESOLVE_NO_SYMLINKS (or, on a kernel without it, one component at a
 * time from "/" or the working directory with O_NOFOLLOW | O_DIRECTORY),
 * and a symbolic link anywhere in the path fails with ELOOP: nothing is followed,
 * not even a link the administrator made.  Every later step (create, link,
 * rename, unlink) is then done relative to the directory descriptor, so the
 * path is never looked up by name again.
 *
 * Any other user follows links as the kernel does: it can reach only what
 * it could reach anyway (a user's ~/Maildir may well be a link).
 */
#ifndef SLUICE_SAFEOPEN_H
#define SLUICE_SAFEOPEN_H

#include "str.h"

/* will symbolic links be refused (we are root) */
int safeopen_strict(void);

/*
 * Open the directory holding path's last component (O_RDONLY|O_DIRECTORY,
 * close-on-exec) and set name to that component (trailing slashes
 * dropped).  -1 with errno: ELOOP for a refused link, EINVAL for a path
 * with no last component ("/", "").
 */
int safeopen_parent(const char *path, struct str *name);

/*
 * Open directory name inside dirfd, creating it first (mode 0700) when
 * create is set and it is missing.  The name itself is never followed as
 * root; ENOTDIR when it is not a directory, ELOOP when it is a link.
 */
int safeopen_subdir(int dirfd, const char *name, int create);

/*
 * openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode) for a mailbox
 * file, which must be a regular file; as root it must also have exactly one
 * link (a hard link to /etc/passwd made by a user is not a mailbox).
 * -1 with errno (EINVAL when it is not a regular file, EMLINK for links).
 */
int safeopen_file(int dirfd, const char *name, int flags, int mode);

/*
 * DELIVER_TEMP with why set for a failed open of path: deliver_syserr's
 * "4.3.0 WHAT PATH: reason" ("PATH is not a regular file" for EINVAL), or,
 * for a link refused as root, a line that says so.
 */
int safeopen_syserr(struct str *why, const char *what, const char *path);

#endif
