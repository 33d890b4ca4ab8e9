/*
 * fsjournal.h - whether one flush can stand for another: two files on the
 * same file system whose journal commits metadata changes in the order
 * they were made (ext4 or ext3 with its internal jbd2 journal, XFS).
 *
 * There, a change made after another (a directory entry removed after one
 * was added) cannot survive a crash unless the earlier one does: the
 * journal replays whole transactions, oldest first, and stops at the first
 * that was not completely written.  doc/durability.md, "Local delivery",
 * says where sluice relies on it.  Anything else (ext2, ext4 without a
 * journal or with an external one, btrfs, tmpfs, NFS, overlayfs, or a
 * /proc that cannot be read) answers no, so the caller keeps its flush.
 */
#ifndef SLUICE_FSJOURNAL_H
#define SLUICE_FSJOURNAL_H

/* 1 when fd and other are on one such file system, else 0 */
int fs_journal_orders(int fd, int other);

#endif
