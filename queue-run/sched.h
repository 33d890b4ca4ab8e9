/*
 * sched.h - queue-run's parts: the scheduler's state (struct sched) and
 * the functions one part of queue-run calls in another.
 *   queue-run.c  the loop, signals, configuration, taking messages in
 *   index.c      known messages: a hash by id, a heap by due time
 *   round.c      active messages: delivery jobs, results, rounds
 *   report.c     bounces, double bounces and delay warnings
 * All mutable state lives in one struct sched owned by main().
 */
#ifndef QUEUE_RUN_SCHED_H
#define QUEUE_RUN_SCHED_H
#include <poll.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "conf.h"
#include "envelope.h"
#include "qid.h"
#include "qstate.h"
#include "str.h"

#define OUT_MAX (64u << 10) /* delivery program output kept */
#define OUT_CAP (1u << 20)  /* what a delivery program may write to its memory file */
#define LOCAL_BATCH_MAX 32  /* local-batch's ceiling: each recipient is an fd (CHILD_MAP_MAX) */
#define REMOTE_BATCH_MAX 32 /* remote-batch's: each message is an fd; deliver-remote -b's own limit */

struct cfg {
	char **local_argv, **remote_argv;
	struct conf_list locals;
	struct str me, bounce_to;
	unsigned long long conc_local, conc_remote, conc_domain, retry_min, retry_max, lifetime,
		delay_warning, timeout, remote_rcpts, max_active, shutdown_timeout;
	size_t local_batch; /* recipients per local delivery program (deliver-local -b) */
	size_t remote_batch; /* messages per remote delivery program (deliver-remote -b) */
};

struct msg;

/* a message known to the scheduler: waiting in the heap, or active */
struct entry {
	char id[QID_SIZE];
	time_t due;
	size_t hpos;     /* index in the heap, when inheap */
	int inheap;
	struct msg *m;   /* non-NULL while active */
};

struct msg {
	struct entry *e;
	struct envelope env;
	off_t body;
	time_t arrival;
	struct qstate st;
	int statefd;          /* state/ID, open only from a record to its flush, else -1 */
	unsigned char *tried; /* per recipient: attempted in this round */
	unsigned char *local; /* per recipient: in a local domain (decided once, at load) */
	size_t todo_local, todo_remote; /* pending recipients not yet tried this round */
	size_t running;       /* its recipients in running (or starting) jobs */
	int gone;             /* msg/ID vanished (deleted or held) */
	int dirty;            /* records written to statefd, not yet flushed */
	int has_state;        /* state/ID exists (none until the first result kept) */
	struct str stash;     /* results of a message about to be removed (record) */
	struct msg *prev, *next;
};

/* one recipient of a delivery job: its message and its index there */
struct jitem {
	struct msg *m;
	size_t i;
};

/*
 * A delivery program run.  A remote job's recipients are of one domain
 * and one message, or of several (remote-batch); a local job's may be of
 * several messages (local-batch); the items of each message are next to
 * each other.
 */
struct job {
	pid_t pid;
	int out;         /* read end of its stdout pipe, -1 once at EOF or when mem is used */
	int mem;         /* its stdout as a memory file, read once it exits; else -1 */
	int exited, status, killed;
	struct str buf;
	time_t start, deadline;
	int remote;
	int batched;     /* -b: deliver-local's, a report per recipient; deliver-remote's, a message's reports each */
	char *domain;
	struct jitem *it;
	size_t n;
};

struct sched {
	struct cfg c;
	struct str qdir;
	int oneshot, force;
	int sigr;        /* self-pipe read end */
	int trigger;
	struct entry **hash;
	size_t hcap, hcount;
	struct entry **heap;
	size_t hn, hmax;
	struct msg *head, *tail;
	size_t nactive;
	struct job *jobs;
	size_t njobs, jobcap, nlocal, nremote;
	size_t todo_local, todo_remote; /* the active messages' sums: is a scan worth it */
	struct pollfd *pfd;
	size_t pollcap;
	int stopping;
	time_t stop_at, pass_start, next_rescan, next_cleanup;
	char lastid[QID_SIZE];
	int removed;     /* finished messages unlinked, not yet flushed */
	size_t ndirty;   /* active messages with records not yet flushed */
	int removed_state; /* and state files among them */
	/*
	 * Deliveries finished since the last sync_records, by kind: a crash
	 * would repeat them, so they count against the concurrency limits
	 * until flushed (round.c, "Flushes").
	 */
	size_t unsynced_local, unsynced_remote;
	long long sync_by; /* clock_ms() by which records_pending must be flushed, or 0 */
	long long local_hold_until; /* clock_ms() until which a few local recipients wait (round.c), or 0 */
	int ordered;     /* the queue's file system journals in order (lib/fsjournal.h) */
	int crc_hw;      /* the CPU's CRC-32C instruction: -1 not asked yet (queue_body_check) */
};

/* fsync QUEUE/sub, or die */
void sync_dir(struct sched *s, const char *sub);

/* queue-run.c */
time_t now(void);
void qpath(struct sched *s, struct str *out, const char *sub, const char *id);

/* index.c */
struct entry *hash_find(struct sched *s, const char *id);
void heap_push(struct sched *s, struct entry *e);
void heap_remove(struct sched *s, struct entry *e);
struct entry *entry_get(struct sched *s, const char *id);
void entry_forget(struct sched *s, struct entry *e);
void flush_all(struct sched *s);
void index_free(struct sched *s);

/* round.c */
int open_msg(struct sched *s, const char *id);
void record(struct sched *s, struct msg *m, const struct str *lines);
void sync_msg(struct sched *s, struct msg *m);
void unstash(struct sched *s, struct msg *m, off_t end);
void sync_records(struct sched *s);
/* would a flush let a waiting delivery start? (the limits count unsynced ones) */
int marks_block(const struct sched *s);
/* anything recorded or removed that sync_records would flush */
int records_pending(const struct sched *s);
/* how long a result may wait for others to share its flush */
#define SYNC_DELAY_MS 20
/* local recipients wait for company while this many local calls run, for at most LOCAL_HOLD_MS (round.c) */
#define LOCAL_HOLD_RUNNING 2
#define LOCAL_HOLD_MS 50
void start_jobs(struct sched *s);
void promote(struct sched *s);
void drain(struct job *j);
void reap(struct sched *s);
void kill_overdue(struct sched *s, time_t t);
void round_free(struct sched *s);

/* report.c */
char **env_with_id(const char *id);
void env_free(char **envp);
int report(struct sched *s, struct msg *m, int delayed);

#endif
