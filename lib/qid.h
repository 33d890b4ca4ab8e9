/*
 * qid.h - queue ids: unique on this host and sorting by arrival time.
 *   <seconds, 10 digits>.<microseconds, 6>.<pid, 7>   e.g. 1795312345.004211.0031337
 * Fixed width so `ls` order is arrival order; the pid separates two
 * processes in the same microsecond, and the queue's O_EXCL create
 * catches anything else (a pid reused within one microsecond).
 */
#ifndef SLUICE_QID_H
#define SLUICE_QID_H
#include <time.h>

#define QID_LEN 25
#define QID_SIZE (QID_LEN + 1)

void qid_make(char out[QID_SIZE]);
/* is s a well-formed id (so it can be used as a file name safely) */
int qid_valid(const char *s);
/* the commit time an id carries (its leading seconds); 0 if not an id */
time_t qid_time(const char *id);

#endif
