/* fsjournal.c - same file system, ordered metadata journal (see fsjournal.h). */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fsjournal.h"

#define EXT4_MAGIC 0xEF53     /* ext2, ext3 and ext4 alike: the journal decides */
#define XFS_MAGIC 0x58465342  /* XFS always has its log */
#define JBD2_INTERNAL "-8"    /* jbd2 names an internal journal DEVICE-<inode 8> */

/* ext2/3/4 on st_dev: does jbd2 list an internal journal for that device */
static int ext_has_journal(dev_t dev)
{
	char link[64], target[PATH_MAX], jbd[PATH_MAX];
	snprintf(link, sizeof link, "/sys/dev/block/%u:%u", major(dev), minor(dev));
	ssize_t n = readlink(link, target, sizeof target - 1);
	if (n <= 0)
		return 0;
	target[n] = '\0';
	const char *name = strrchr(target, '/');
	name = name ? name + 1 : target;
	if (snprintf(jbd, sizeof jbd, "/proc/fs/jbd2/%s" JBD2_INTERNAL, name) >= (int)sizeof jbd)
		return 0;
	return access(jbd, F_OK) == 0;
}

int fs_journal_orders(int fd, int other)
{
	struct stat a, b;
	struct statfs fs;
	if (fstat(fd, &a) < 0 || fstat(other, &b) < 0 || a.st_dev != b.st_dev ||
	    fstatfs(fd, &fs) < 0)
		return 0;
	if ((unsigned long)fs.f_type == XFS_MAGIC)
		return 1;
	return (unsigned long)fs.f_type == EXT4_MAGIC && ext_has_journal(a.st_dev);
}
