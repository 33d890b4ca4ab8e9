/*
 * durable.h - the steps that make a write survive a crash or power cut.
 * A rename is durable only once its directory is fsync'd; a file's data
 * only once the file is.  These helpers keep that order in one place.
 */
#ifndef SLUICE_DURABLE_H
#define SLUICE_DURABLE_H
#include <stddef.h>

/* fsync a directory by path; 0 or -1 */
int fsync_dir(const char *dir);
/* fsync the directory holding path (everything before its last '/') */
int fsync_parent(const char *path);
/*
 * Make a file durable under the name it was just renamed or linked to,
 * with one flush: fsync(fd), fd open on the file.  On ext4 and XFS a
 * rename or link changes the file's inode (its ctime, or its link count),
 * so fsync of the file commits the journal (log) up to that change, and
 * with it the new directory entry, the data and the size: no fsync of the
 * directory is needed.  (fdatasync is not enough: a ctime change alone
 * does not make either commit.)  Until it returns, the new name may be on
 * disk before the data, so a reader must be able to tell a whole file from
 * a cut one (doc/durability.md).  On any other file system (fsjournal.h)
 * the plain way: dir, where the new name is, is fsync'd too, and its
 * parent when dir_is_new (dir was just made).  0 or -1 with errno.
 */
int sync_renamed(int fd, const char *dir, int dir_is_new);
/*
 * rename(2) that never replaces: -1 with EEXIST when to exists (the check
 * and the rename are one atomic step, renameat2 RENAME_NOREPLACE).
 */
int rename_noreplace(const char *from, const char *to);
/* the same, relative to directory fds (renameat2's form) */
int rename_noreplace_at(int fromdir, const char *from, int todir, const char *to);
/*
 * An unnamed file for scratch data in dir (O_TMPFILE, else a name unlinked
 * at once), read-write; the fd, or -1 with errno.
 */
int tmpfile_in(const char *dir);
/*
 * Replace dir/name with data atomically and durably: write dir/.name.tmp,
 * fsync, rename over dir/name, fsync dir.  0 or -1 (nothing replaced).
 */
int atomic_write(const char *dir, const char *name, const void *data, size_t len);

#endif
