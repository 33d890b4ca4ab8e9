/*
 * queue-run - the queue's scheduler: takes committed messages in, runs the
 * delivery programs, records every recipient's result durably, retries
 * with exponential backoff, and bounces (RFC 3464) what cannot be
 * delivered.  See queue-run(8); the state file is described in qstate.h.
 *
 * One process, one poll loop: the trigger FIFO, a self-pipe for signals
 * (SIGCHLD, SIGTERM, SIGHUP) and the delivery programs' output pipes.
 * Messages waiting for a retry are only an id and a due time in a heap;
 * a message is read from disk when it is due ("active") and forgotten
 * again after its delivery round.
 *
 * Crash safety: a recipient's result is appended to state/ID and
 * fdatasync'd before anything depends on it; a bounce is injected (and
 * queue-inject has made it durable) before its recipients are marked
 * "bounced"; a finished message's msg/ID is removed before its state/ID.
 * So a crash at any point repeats at most the deliveries that were running
 * (or one bounce), and loses nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "bio.h"
#include "child.h"
#include "conf.h"
#include "die.h"
#include "dsn.h"
#include "durable.h"
#include "envelope.h"
#include "log.h"
#include "qid.h"
#include "qstate.h"
#include "queue.h"
#include "str.h"

#define OUT_MAX (64u << 10)          /* delivery program output kept */
#define TMP_MAX_AGE (36 * 3600)      /* tmp/ files older than this are debris */
#define ORPHAN_AGE (24 * 3600)       /* state/ files without a message */
#define RESCAN_EVERY 300             /* look at new/ even without a trigger */
#define CLEANUP_EVERY 3600

extern char **environ;

struct cfg {
	char **local_argv, **remote_argv;
	struct conf_list locals;
	struct str me, bounce_to;
	unsigned long long conc_local, conc_remote, conc_domain, retry_min, retry_max, lifetime,
		delay_warning, timeout, remote_rcpts, max_active, shutdown_timeout;
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
	int statefd;
	unsigned char *tried; /* per recipient: attempted in this round */
	size_t running;       /* jobs running for it */
	int gone;             /* msg/ID vanished (deleted or held) */
	struct msg *prev, *next;
};

struct job {
	pid_t pid;
	int out;         /* read end of its stdout, -1 once at EOF */
	int exited, status, killed;
	struct str buf;
	time_t start, deadline;
	struct msg *m;
	int remote;
	char *domain;
	size_t *idx;     /* recipients (indices into m->env.rcpt) */
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
	struct pollfd *pfd;
	size_t pollcap;
	int stopping;
	time_t stop_at, pass_start, next_rescan, next_cleanup;
	char lastid[QID_SIZE];
};

/* the self-pipe's write end: signal handlers may only touch this */
static int sig_wfd = -1;

static void on_signal(int sig)
{
	int e = errno;
	char c = sig == SIGCHLD ? 'C' : sig == SIGHUP ? 'H' : 'T';
	ssize_t w = write(sig_wfd, &c, 1);
	(void)w; /* a full pipe already holds a wake-up */
	errno = e;
}

static time_t now(void)
{
	return time(NULL);
}

/* ---- configuration ---- */

static void cfg_free(struct cfg *c)
{
	child_argv_free(c->local_argv);
	child_argv_free(c->remote_argv);
	conf_list_free(&c->locals);
	str_free(&c->me);
	str_free(&c->bounce_to);
	memset(c, 0, sizeof *c);
}

static char **command(const char *file, const char *def)
{
	struct str v = STR_INIT;
	int r = conf_line(file, &v);
	char **argv = r == 0 ? child_argv_split(v.s) : NULL;
	str_free(&v);
	if (r < 0)
		return NULL;
	if (!argv || !argv[0]) {
		child_argv_free(argv);
		argv = child_argv_split(def);
	}
	return argv;
}

/*
 * 0, or -1 when a file cannot be read (the old configuration stays).
 * *bad counts limits that are not numbers (warned about; defaults used).
 */
static int cfg_load(struct cfg *c, int *bad)
{
	struct cfg n;
	memset(&n, 0, sizeof n);
	struct conf_list lim = CONF_LIST_INIT;
	if (conf_list_read("limits", &lim) < 0 || conf_list_read("locals", &n.locals) < 0)
		goto fail;
	*bad += conf_limit(&lim, "concurrency-local", 10, &n.conc_local) < 0;
	*bad += conf_limit(&lim, "concurrency-remote", 20, &n.conc_remote) < 0;
	*bad += conf_limit(&lim, "concurrency-domain", 5, &n.conc_domain) < 0;
	*bad += conf_limit(&lim, "retry-min", 300, &n.retry_min) < 0;
	*bad += conf_limit(&lim, "retry-max", 14400, &n.retry_max) < 0;
	*bad += conf_limit(&lim, "queue-lifetime", 432000, &n.lifetime) < 0;
	*bad += conf_limit(&lim, "delay-warning", 0, &n.delay_warning) < 0;
	*bad += conf_limit(&lim, "delivery-timeout", 3600, &n.timeout) < 0;
	*bad += conf_limit(&lim, "remote-recipients", 100, &n.remote_rcpts) < 0;
	*bad += conf_limit(&lim, "active-messages", 10000, &n.max_active) < 0;
	*bad += conf_limit(&lim, "shutdown-timeout", 60, &n.shutdown_timeout) < 0;
	conf_list_free(&lim);
	if (!n.conc_local)
		n.conc_local = 1;
	if (!n.conc_remote)
		n.conc_remote = 1;
	if (!n.conc_domain)
		n.conc_domain = 1;
	if (!n.remote_rcpts)
		n.remote_rcpts = 1;
	if (!n.max_active)
		n.max_active = 1;
	if (n.retry_max < n.retry_min)
		n.retry_max = n.retry_min;
	int r = conf_line("me", &n.me);
	if (r < 0)
		goto fail;
	if (r == 1) {
		char host[256];
		if (gethostname(host, sizeof host - 1) < 0)
			goto fail;
		host[sizeof host - 1] = '\0';
		str_copys(&n.me, host);
	}
	n.local_argv = command("local-delivery", "deliver-local");
	n.remote_argv = command("remote-delivery", "deliver-remote");
	if (!n.local_argv || !n.remote_argv)
		goto fail;
	r = conf_line("bounce-to", &n.bounce_to);
	if (r < 0)
		goto fail;
	if (r == 1) {
		/* postmaster of the first local domain that is a name, not a suffix */
		const char *d = n.me.s;
		for (size_t i = 0; i < n.locals.n; i++)
			if (n.locals.item[i][0] != '.') {
				d = n.locals.item[i];
				break;
			}
		str_copys(&n.bounce_to, "postmaster@");
		str_cats(&n.bounce_to, d);
	}
	cfg_free(c);
	*c = n;
	return 0;
fail:
	conf_list_free(&lim);
	cfg_free(&n);
	return -1;
}

/* ---- the set of known messages: a hash by id and a heap by due time ---- */

static size_t id_hash(const char *id)
{
	size_t h = 14695981039346656037ull & SIZE_MAX;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * (1099511628211ull & SIZE_MAX);
	return h;
}

static struct entry *hash_find(struct sched *s, const char *id)
{
	if (!s->hcap)
		return NULL;
	for (size_t i = id_hash(id) & (s->hcap - 1);; i = (i + 1) & (s->hcap - 1)) {
		if (!s->hash[i])
			return NULL;
		if (strcmp(s->hash[i]->id, id) == 0)
			return s->hash[i];
	}
}

static void hash_put(struct entry **tab, size_t cap, struct entry *e)
{
	size_t i = id_hash(e->id) & (cap - 1);
	while (tab[i])
		i = (i + 1) & (cap - 1);
	tab[i] = e;
}

static void hash_add(struct sched *s, struct entry *e)
{
	if ((s->hcount + 1) * 2 > s->hcap) {
		size_t cap = s->hcap ? s->hcap * 2 : 1024;
		struct entry **t = xcalloc(cap, sizeof *t);
		for (size_t i = 0; i < s->hcap; i++)
			if (s->hash[i])
				hash_put(t, cap, s->hash[i]);
		free(s->hash);
		s->hash = t;
		s->hcap = cap;
	}
	hash_put(s->hash, s->hcap, e);
	s->hcount++;
}

/* linear probing deletion: shift later members of the cluster back */
static void hash_del(struct sched *s, struct entry *e)
{
	size_t mask = s->hcap - 1, i = id_hash(e->id) & mask;
	while (s->hash[i] != e)
		i = (i + 1) & mask;
	s->hash[i] = NULL;
	s->hcount--;
	for (size_t j = (i + 1) & mask; s->hash[j]; j = (j + 1) & mask) {
		struct entry *x = s->hash[j];
		s->hash[j] = NULL;
		hash_put(s->hash, s->hcap, x);
	}
}

static int earlier(const struct entry *a, const struct entry *b)
{
	return a->due != b->due ? a->due < b->due : strcmp(a->id, b->id) < 0;
}

static void heap_set(struct sched *s, size_t i, struct entry *e)
{
	s->heap[i] = e;
	e->hpos = i;
}

static void heap_up(struct sched *s, size_t i)
{
	struct entry *e = s->heap[i];
	while (i > 0 && earlier(e, s->heap[(i - 1) / 2])) {
		heap_set(s, i, s->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(s, i, e);
}

static void heap_down(struct sched *s, size_t i)
{
	struct entry *e = s->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->hn)
			break;
		if (c + 1 < s->hn && earlier(s->heap[c + 1], s->heap[c]))
			c++;
		if (!earlier(s->heap[c], e))
			break;
		heap_set(s, i, s->heap[c]);
		i = c;
	}
	heap_set(s, i, e);
}

static void heap_push(struct sched *s, struct entry *e)
{
	if (e->inheap) {
		heap_up(s, e->hpos);
		heap_down(s, e->hpos);
		return;
	}
	if (s->hn == s->hmax) {
		s->hmax = s->hmax ? s->hmax * 2 : 1024;
		s->heap = xreallocarray(s->heap, s->hmax, sizeof *s->heap);
	}
	e->inheap = 1;
	heap_set(s, s->hn++, e);
	heap_up(s, e->hpos);
}

static void heap_remove(struct sched *s, struct entry *e)
{
	if (!e->inheap)
		return;
	size_t i = e->hpos;
	e->inheap = 0;
	struct entry *last = s->heap[--s->hn];
	if (i == s->hn)
		return;
	heap_set(s, i, last);
	heap_up(s, i);
	heap_down(s, last->hpos);
}

static struct entry *entry_get(struct sched *s, const char *id)
{
	struct entry *e = hash_find(s, id);
	if (!e) {
		e = xcalloc(1, sizeof *e);
		memcpy(e->id, id, QID_SIZE);
		hash_add(s, e);
	}
	return e;
}

static void entry_forget(struct sched *s, struct entry *e)
{
	heap_remove(s, e);
	hash_del(s, e);
	free(e);
}

/* ---- paths and the queue directories ---- */

static void qpath(struct sched *s, struct str *out, const char *sub, const char *id)
{
	queue_path(out, s->qdir.s, sub, id);
}

static void make_dirs(struct sched *s)
{
	static const char *const sub[] = { "tmp", "new", "msg", "state", "hold", "quarantine" };
	struct str p = STR_INIT;
	if (mkdir(s->qdir.s, 0750) < 0 && errno != EEXIST)
		die_sys(EXIT_SYS, "unable to create %s", s->qdir.s);
	for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
		qpath(s, &p, sub[i], NULL);
		if (mkdir(p.s, 0750) < 0 && errno != EEXIST)
			die_sys(EXIT_SYS, "unable to create %s", p.s);
	}
	qpath(s, &p, "trigger", NULL);
	if (mkfifo(p.s, 0620) < 0 && errno != EEXIST)
		die_sys(EXIT_SYS, "unable to create %s", p.s);
	struct stat sb;
	if (stat(p.s, &sb) < 0 || !S_ISFIFO(sb.st_mode))
		die(EXIT_SYS, "unable to use %s: not a FIFO", p.s);
	str_free(&p);
}

static void lock_queue(struct sched *s)
{
	struct str p = STR_INIT;
	qpath(s, &p, "lock", NULL);
	/* O_CLOEXEC: a delivery program outliving us must not keep the lock */
	int fd = open(p.s, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		die_sys(EXIT_SYS, "unable to open %s", p.s);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			die(EXIT_SYS, "unable to lock %s: another queue-run is running", p.s);
		die_sys(EXIT_SYS, "unable to lock %s", p.s);
	}
	str_free(&p);
	/* fd stays open (and locked) until we exit */
}

/*
 * Remove tmp/ debris and state/ files whose message is gone (a crash
 * between removing msg/ID and state/ID leaves one), unchanged for
 * orphan_age seconds.  A message moves msg -> hold -> new -> msg while we
 * look (queue-ctl), so hold/ is looked at first and again last: any
 * single move is seen.
 */
static void cleanup(struct sched *s, time_t orphan_age)
{
	struct str p = STR_INIT, q = STR_INIT;
	time_t t = now();
	const char *subs[] = { "tmp", "state" };
	for (int k = 0; k < 2; k++) {
		qpath(s, &p, subs[k], NULL);
		DIR *d = opendir(p.s);
		if (!d) {
			warn_sys("unable to open %s", p.s);
			continue;
		}
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			struct stat sb;
			if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			/* tmp/ files, and state/.ID.tmp left by a compaction's crash */
			if (k == 0 || de->d_name[0] == '.') {
				if (t - sb.st_mtime <= TMP_MAX_AGE)
					continue;
			} else {
				if (t - sb.st_mtime < orphan_age || !qid_valid(de->d_name) ||
				    hash_find(s, de->d_name))
					continue;
				int found = 0;
				const char *homes[] = { "hold", "new", "msg", "hold" };
				for (int h = 0; h < 4 && !found; h++) {
					qpath(s, &q, homes[h], de->d_name);
					found = access(q.s, F_OK) == 0 || errno != ENOENT;
				}
				if (found)
					continue;
			}
			if (unlinkat(dirfd(d), de->d_name, 0) == 0)
				log_line("event=cleanup file=%s/%s", subs[k], de->d_name);
		}
		closedir(d);
	}
	str_free(&p);
	str_free(&q);
}

/* ---- taking messages in ---- */

static void sync_dir(struct sched *s, const char *sub)
{
	struct str p = STR_INIT;
	qpath(s, &p, sub, NULL);
	if (fsync_dir(p.s) < 0)
		die_sys(EXIT_SYS, "unable to sync %s", p.s);
	str_free(&p);
}

/* read a message's state file far enough to know when it is due */
static time_t due_from_state(struct sched *s, const char *id)
{
	struct str p = STR_INIT;
	qpath(s, &p, "state", id);
	time_t due = 0;
	int fd = open(p.s, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		struct qstate st;
		qstate_init(&st, 0);
		if (qstate_read(fd, &st) == 0)
			due = st.next;
		qstate_free(&st);
		close(fd);
	}
	str_free(&p);
	return due;
}

/* msg/ at start: everything queue-run already owns */
static void scan_msg(struct sched *s)
{
	struct str p = STR_INIT;
	qpath(s, &p, "msg", NULL);
	DIR *d = opendir(p.s);
	if (!d)
		die_sys(EXIT_SYS, "unable to open %s", p.s);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!qid_valid(de->d_name))
			continue;
		struct entry *e = entry_get(s, de->d_name);
		e->due = s->force ? 0 : due_from_state(s, de->d_name);
		heap_push(s, e);
	}
	closedir(d);
	str_free(&p);
}

/*
 * new/ -> msg/: create state/ID, rename, then one fsync per directory for
 * the whole batch, before any delivery of these messages starts.
 */
static void takein(struct sched *s)
{
	struct str p = STR_INIT, from = STR_INIT, to = STR_INIT;
	qpath(s, &p, "new", NULL);
	DIR *d = opendir(p.s);
	if (!d) {
		warn_sys("unable to open %s", p.s);
		str_free(&p);
		return;
	}
	char (*ids)[QID_SIZE] = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!qid_valid(de->d_name))
			continue;
		qpath(s, &to, "state", de->d_name);
		int fd = open(to.s, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0) {
			warn_sys("unable to create %s", to.s);
			continue;
		}
		close(fd);
		qpath(s, &from, "new", de->d_name);
		qpath(s, &to, "msg", de->d_name);
		if (renameat2(AT_FDCWD, from.s, AT_FDCWD, to.s, RENAME_NOREPLACE) < 0) {
			if (errno != ENOENT) /* ENOENT: held or deleted meanwhile */
				warn_sys("unable to move %s to msg/", from.s);
			continue;
		}
		ids = xreallocarray(ids, n + 1, sizeof *ids);
		memcpy(ids[n++], de->d_name, QID_SIZE);
	}
	closedir(d);
	if (n) {
		sync_dir(s, "state");
		sync_dir(s, "msg");
		sync_dir(s, "new");
	}
	for (size_t i = 0; i < n; i++) {
		struct entry *e = entry_get(s, ids[i]);
		e->due = 0;
		if (!e->m)
			heap_push(s, e);
	}
	free(ids);
	str_free(&p);
	str_free(&from);
	str_free(&to);
}

/* flush: everything waiting is due now */
static void flush_all(struct sched *s)
{
	for (size_t i = 0; i < s->hn; i++)
		s->heap[i]->due = 0;
	for (size_t i = s->hn / 2 + 1; i-- > 0;)
		if (i < s->hn)
			heap_down(s, i);
}

/* ---- active messages ---- */

static void msg_free(struct msg *m)
{
	envelope_free(&m->env);
	qstate_free(&m->st);
	if (m->statefd >= 0)
		close(m->statefd);
	free(m->tried);
	free(m);
}

/* drop an active message from memory (the files are not touched) */
static void msg_forget(struct sched *s, struct msg *m, int keep_entry)
{
	if (m->prev)
		m->prev->next = m->next;
	else
		s->head = m->next;
	if (m->next)
		m->next->prev = m->prev;
	else
		s->tail = m->prev;
	s->nactive--;
	struct entry *e = m->e;
	e->m = NULL;
	msg_free(m);
	if (keep_entry && !s->oneshot)
		heap_push(s, e);
	else
		entry_forget(s, e);
}

static int open_msg(struct sched *s, const char *id)
{
	struct str p = STR_INIT;
	qpath(s, &p, "msg", id);
	int fd = open(p.s, O_RDONLY | O_CLOEXEC);
	str_free(&p);
	return fd;
}

/* the message becomes active; NULL when it is gone or unreadable */
static struct msg *msg_load(struct sched *s, struct entry *e)
{
	int fd = open_msg(s, e->id);
	if (fd < 0) {
		if (errno != ENOENT)
			log_line("event=error id=%s reason=\"unable to open msg/%s: %s\"", e->id, e->id,
				 strerror(errno));
		return NULL;
	}
	struct msg *m = xcalloc(1, sizeof *m);
	m->statefd = -1;
	int r = queue_header_read(fd, &m->env, &m->body);
	close(fd);
	if (r != 0) {
		log_line("event=error id=%s reason=\"%s\"", e->id,
			 r < 0 ? "unable to read queue file" : "malformed queue file");
		msg_free(m);
		return NULL;
	}
	struct str p = STR_INIT;
	qpath(s, &p, "state", e->id);
	m->statefd = open(p.s, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	qstate_init(&m->st, m->env.nrcpt);
	if (m->statefd < 0 || qstate_read(m->statefd, &m->st) < 0) {
		log_line("event=error id=%s reason=\"unable to read %s: %s\"", e->id, p.s,
			 strerror(errno));
		str_free(&p);
		msg_free(m);
		return NULL;
	}
	str_free(&p);
	m->tried = xcalloc(m->env.nrcpt ? m->env.nrcpt : 1, 1);
	m->arrival = qid_time(e->id);
	m->e = e;
	e->m = m;
	m->prev = s->tail;
	if (s->tail)
		s->tail->next = m;
	else
		s->head = m;
	s->tail = m;
	s->nactive++;
	return m;
}

static void record(struct msg *m, const struct str *lines)
{
	if (qstate_append(m->statefd, &m->st, lines) < 0)
		die_sys(EXIT_SYS, "unable to write state/%s", m->e->id);
}

/*
 * A state file grows by a few lines per recipient and round; past
 * QSTATE_COMPACT_AT it is replaced (atomic_write) by its summary.
 */
static void compact(struct sched *s, struct msg *m)
{
	if (m->st.valid < (off_t)QSTATE_COMPACT_AT)
		return;
	struct str sum = STR_INIT, dir = STR_INIT, p = STR_INIT;
	qstate_summary(&m->st, &sum);
	qpath(s, &dir, "state", NULL);
	qpath(s, &p, "state", m->e->id);
	if (atomic_write(dir.s, m->e->id, sum.s, sum.len) < 0)
		warn_sys("unable to compact %s", p.s);
	else {
		int fd = open(p.s, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			die_sys(EXIT_SYS, "unable to reopen %s", p.s);
		close(m->statefd);
		m->statefd = fd;
		m->st.valid = (off_t)sum.len;
		log_line("event=compact id=%s size=%zu", m->e->id, sum.len);
	}
	str_free(&sum);
	str_free(&dir);
	str_free(&p);
}

/* ---- reports: bounces, double bounces, delay warnings ---- */

static char **env_with_id(const char *id)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = xreallocarray(NULL, n + 2, sizeof *envp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "QUEUE_ID=", 9) != 0)
			envp[k++] = environ[i];
	size_t len = strlen("QUEUE_ID=") + strlen(id) + 1;
	envp[k] = xmalloc(len);
	snprintf(envp[k], len, "QUEUE_ID=%s", id);
	envp[k + 1] = NULL;
	return envp;
}

static void env_free(char **envp)
{
	size_t k = 0;
	while (envp[k + 1])
		k++;
	free(envp[k]); /* only the QUEUE_ID string is ours */
	free(envp);
}

static int memfd_with(const char *name, const void *data, size_t len)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fd_write_all(fd, data, len) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* a fresh id for a report, distinct from the previous one */
static void fresh_id(struct sched *s, char id[QID_SIZE])
{
	do
		qid_make(id);
	while (strcmp(id, s->lastid) == 0);
	memcpy(s->lastid, id, QID_SIZE);
}

/* inject msg from the null sender to rcpt through the queue program; 0 ok */
static int inject(struct sched *s, const struct str *msg, const char *rcpt, char id[QID_SIZE])
{
	struct str env = STR_INIT;
	str_catb(&env, "F\0T", 3);
	str_cats(&env, rcpt);
	str_catb(&env, "\0\0", 2);
	int mfd = memfd_with("report", msg->s, msg->len);
	int efd = memfd_with("envelope", env.s, env.len);
	str_free(&env);
	int ok = -1;
	if (mfd < 0 || efd < 0) {
		warn_sys("unable to create a report");
		goto out;
	}
	const char *qp = getenv("QMAILQUEUE");
	char *argv[] = { (char *)(qp && *qp ? qp : "queue-inject"), NULL };
	fresh_id(s, id);
	char **envp = env_with_id(id);
	struct child_fd map[] = { { mfd, 0 }, { efd, 1 } };
	pid_t pid = child_spawn(argv, map, 2, envp);
	env_free(envp);
	if (pid < 0) {
		warn_sys("unable to run %s", argv[0]);
		goto out;
	}
	int st = child_wait(pid);
	if (st < 0)
		warn_sys("unable to wait for %s", argv[0]);
	else if (child_exit_code(st) != 0)
		warn_msg("%s exited %d", argv[0], child_exit_code(st));
	else
		ok = 0;
out:
	if (mfd >= 0)
		close(mfd);
	if (efd >= 0)
		close(efd);
	return ok;
}

/* the original header section, for the report's third part */
static void read_headers(struct sched *s, struct msg *m, struct str *out)
{
	int fd = open_msg(s, m->e->id);
	if (fd < 0)
		return;
	off_t off = m->body;
	while (out->len <= DSN_HEADERS_MAX) {
		str_ready(out, 65536);
		ssize_t r = pread(fd, out->s + out->len, 65536, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		out->len += (size_t)r;
		off += r;
		if (dsn_header_len(out->s, out->len) < out->len)
			break; /* the blank line has come */
	}
	out->len = dsn_header_len(out->s ? out->s : "", out->len);
	close(fd);
}

static void log_text(struct str *out, const char *t)
{
	for (; t && *t; t++)
		str_catc(out, *t == '"' ? '\'' : *t);
}

/*
 * Send what is owed: a bounce for the recipients marked "fail" (to the
 * sender; for the null sender a double bounce to bounce-to; a failed double
 * bounce is dropped), or with delayed set, a warning for those pending.
 * The report is in the queue before its recipients are marked.  0 ok.
 */
static int report(struct sched *s, struct msg *m, int delayed)
{
	time_t t = now();
	const char *to = m->env.sender;
	int dbl = !delayed && !*to;
	struct str lines = STR_INIT;
	struct dsn_rcpt *r = xcalloc(m->env.nrcpt ? m->env.nrcpt : 1, sizeof *r);
	size_t n = 0;
	if (dbl)
		to = s->c.bounce_to.s;
	for (size_t i = 0; i < m->env.nrcpt; i++) {
		const struct qstate_rcpt *x = &m->st.r[i];
		if (x->state != (delayed ? QR_PENDING : QR_FAILED))
			continue;
		if (dbl && strcasecmp(m->env.rcpt[i], s->c.bounce_to.s) == 0) {
			/* a bounce to bounce-to itself failed: nobody is left to tell */
			qstate_rcpt_line(&lines, "bounced", i, t, "dropped");
			log_line("event=drop id=%s rcpt=<%s> reason=\"double bounce failed\"", m->e->id,
				 m->env.rcpt[i]);
			continue;
		}
		r[n].addr = m->env.rcpt[i];
		r[n].diag = x->text ? x->text : "";
		r[n].last = x->when;
		n++;
	}
	int ok = 0;
	if (n) {
		struct str hdr = STR_INIT, msg = STR_INIT;
		read_headers(s, m, &hdr);
		struct dsn_report rep = {
			.delayed = delayed, .me = s->c.me.s, .id = m->e->id, .to = to,
			.arrival = m->arrival, .now = t, .rcpt = r, .nrcpt = n,
			.headers = hdr.s, .hlen = hdr.len,
		};
		dsn_build(&rep, &msg);
		char rid[QID_SIZE];
		ok = inject(s, &msg, to, rid);
		if (ok == 0) {
			log_line("event=%s id=%s to=<%s> rcpts=%zu report_id=%s",
				 delayed ? "delay-warning" : dbl ? "double-bounce" : "bounce", m->e->id, to,
				 n, rid);
			if (delayed)
				str_catf(&lines, "warned %lld\n", (long long)t);
			else
				for (size_t i = 0; i < m->env.nrcpt; i++)
					if (m->st.r[i].state == QR_FAILED &&
					    !(dbl && strcasecmp(m->env.rcpt[i], s->c.bounce_to.s) == 0))
						qstate_rcpt_line(&lines, "bounced", i, t, rid);
		} else
			log_line("event=error id=%s reason=\"unable to queue the %s\"", m->e->id,
				 delayed ? "delay warning" : "bounce");
		str_free(&hdr);
		str_free(&msg);
	}
	if (lines.len)
		record(m, &lines);
	str_free(&lines);
	free(r);
	return ok;
}

/* ---- delivery rounds ---- */

static const char *rcpt_domain(const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');
	return at ? at + 1 : "";
}

static int is_local(struct sched *s, const char *rcpt)
{
	const char *d = rcpt_domain(rcpt);
	return !*d || conf_domain_match(&s->c.locals, d);
}

static int round_open(const struct msg *m)
{
	if (m->gone)
		return 0;
	for (size_t i = 0; i < m->env.nrcpt; i++)
		if (m->st.r[i].state == QR_PENDING && !m->tried[i])
			return 1;
	return 0;
}

static unsigned long long retry_delay(const struct cfg *c, unsigned long attempts)
{
	unsigned long long d = c->retry_min;
	for (unsigned long i = 1; i < attempts && d < c->retry_max; i++)
		d *= 2;
	return d < c->retry_max ? d : c->retry_max;
}

/* every recipient has had its try: bounce, finish or schedule the next round */
static void round_end(struct sched *s, struct msg *m)
{
	time_t t = now();
	const char *id = m->e->id;
	struct str lines = STR_INIT;
	struct str p = STR_INIT;
	qpath(s, &p, "msg", id);
	int present = access(p.s, F_OK) == 0 || errno != ENOENT;
	if (m->gone || !present) {
		str_free(&p);
		if (present) {
			/* held and released again during the round: start afresh */
			m->e->due = t;
			msg_forget(s, m, 1);
			return;
		}
		/* deleted or held: no bounce, no retry from here */
		log_line("event=vanished id=%s", id);
		msg_forget(s, m, 0);
		return;
	}
	if (qstate_pending(&m->st) && t >= m->arrival + (time_t)s->c.lifetime) {
		for (size_t i = 0; i < m->env.nrcpt; i++) {
			const struct qstate_rcpt *x = &m->st.r[i];
			if (x->state != QR_PENDING)
				continue;
			struct str why = STR_INIT;
			str_catf(&why, "5.4.7 delivery time expired after %lld seconds in the queue",
				 (long long)(t - m->arrival));
			if (x->text && *x->text)
				str_catf(&why, "; last error: %s", x->text);
			qstate_rcpt_line(&lines, "fail", i, t, why.s);
			log_line("event=delivery id=%s rcpt=<%s> result=bounced delay=%llds attempts=%lu "
				 "text=\"queue lifetime expired\"",
				 id, m->env.rcpt[i], (long long)(t - m->arrival), m->st.attempts);
			str_free(&why);
		}
		record(m, &lines);
		lines.len = 0;
	}
	int bounce_failed = qstate_owed(&m->st) && report(s, m, 0) < 0;
	if (!qstate_pending(&m->st) && !qstate_owed(&m->st)) {
		/* msg before state: a state file without its message is harmless debris */
		if (unlink(p.s) == 0) {
			qpath(s, &p, "state", id);
			if (unlink(p.s) < 0)
				warn_sys("unable to remove %s", p.s);
			log_line("event=done id=%s delay=%llds attempts=%lu", id,
				 (long long)(t - m->arrival), m->st.attempts + 1);
		} else if (errno != ENOENT)
			warn_sys("unable to remove %s", p.s);
		str_free(&p);
		msg_forget(s, m, 0);
		return;
	}
	str_free(&p);
	unsigned long attempts = m->st.attempts + 1;
	time_t next = t + (time_t)retry_delay(&s->c, attempts);
	time_t end = m->arrival + (time_t)s->c.lifetime;
	if (next > end && qstate_pending(&m->st))
		next = end > t ? end : t;
	if (bounce_failed && next > t + (time_t)s->c.retry_min)
		next = t + (time_t)s->c.retry_min;
	str_catf(&lines, "try %lld %lu %lld\n", (long long)t, attempts, (long long)next);
	record(m, &lines);
	str_free(&lines);
	compact(s, m);
	if (s->c.delay_warning && !m->st.warned && *m->env.sender && qstate_pending(&m->st) &&
	    t - m->arrival >= (time_t)s->c.delay_warning)
		report(s, m, 1);
	m->e->due = next;
	msg_forget(s, m, 1);
}

static void round_check(struct sched *s, struct msg *m)
{
	if (m->running == 0 && !round_open(m))
		round_end(s, m);
}

static size_t domain_running(struct sched *s, const char *domain)
{
	size_t n = 0;
	for (size_t i = 0; i < s->njobs; i++)
		n += s->jobs[i].remote && strcasecmp(s->jobs[i].domain, domain) == 0;
	return n;
}

/* apply one recipient's result: kind 'r' delivered, 'h' failed, 's' deferred */
static void result(struct msg *m, size_t i, int kind, const char *text, struct str *lines)
{
	time_t t = now();
	const char *kw = kind == 'r' ? "ok" : kind == 'h' ? "fail" : "defer";
	qstate_rcpt_line(lines, kw, i, t, text);
	struct str lt = STR_INIT;
	log_text(&lt, text);
	log_line("event=delivery id=%s rcpt=<%s> result=%s delay=%llds attempts=%lu text=\"%s\"",
		 m->e->id, m->env.rcpt[i],
		 kind == 'r' ? "delivered" : kind == 'h' ? "bounced" : "deferred",
		 (long long)(t - m->arrival), m->st.attempts + 1, str_c(&lt));
	str_free(&lt);
}

static void job_add(struct sched *s, const struct job *j)
{
	if (s->njobs == s->jobcap) {
		s->jobcap = s->jobcap ? s->jobcap * 2 : 16;
		s->jobs = xreallocarray(s->jobs, s->jobcap, sizeof *s->jobs);
	}
	s->jobs[s->njobs++] = *j;
	if (j->remote)
		s->nremote++;
	else
		s->nlocal++;
}

/* start one delivery program for recipients idx[0..n) of m */
static void job_start(struct sched *s, struct msg *m, int remote, size_t *idx, size_t n)
{
	for (size_t k = 0; k < n; k++)
		m->tried[idx[k]] = 1;
	char **cmd = remote ? s->c.remote_argv : s->c.local_argv;
	size_t nc = 0;
	while (cmd[nc])
		nc++;
	char **argv = xreallocarray(NULL, nc + n + 3, sizeof *argv);
	size_t a = 0;
	for (size_t k = 0; k < nc; k++)
		argv[a++] = cmd[k];
	char *domain = NULL;
	if (remote) {
		domain = xstrdup(rcpt_domain(m->env.rcpt[idx[0]]));
		for (char *p = domain; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		argv[a++] = domain;
	}
	argv[a++] = m->env.sender;
	for (size_t k = 0; k < n; k++)
		argv[a++] = m->env.rcpt[idx[k]];
	argv[a] = NULL;

	struct str err = STR_INIT;
	int fd = open_msg(s, m->e->id), p[2] = { -1, -1 };
	pid_t pid = -1;
	if (fd < 0) {
		if (errno == ENOENT) {
			m->gone = 1;
			goto out;
		}
		str_catf(&err, "unable to open the queue file: %s", strerror(errno));
	} else if (lseek(fd, m->body, SEEK_SET) < 0 || pipe2(p, O_CLOEXEC) < 0) {
		str_catf(&err, "unable to prepare the delivery: %s", strerror(errno));
	} else {
		char **envp = env_with_id(m->e->id);
		struct child_fd map[] = { { fd, 0 }, { p[1], 1 } };
		pid = child_spawn_group(argv, map, 2, envp);
		env_free(envp);
		if (pid < 0)
			str_catf(&err, "unable to run %s: %s", argv[0], strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	if (p[1] >= 0)
		close(p[1]);
	if (pid < 0) {
		/* nothing ran: a temporary failure for every recipient of the job */
		if (p[0] >= 0)
			close(p[0]);
		struct str lines = STR_INIT;
		for (size_t k = 0; k < n; k++)
			result(m, idx[k], 's', err.s, &lines);
		record(m, &lines);
		str_free(&lines);
		goto out;
	}
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0)
		die_sys(EXIT_SYS, "unable to set a pipe non-blocking");
	struct job j;
	memset(&j, 0, sizeof j);
	j.pid = pid;
	j.out = p[0];
	j.start = now();
	j.deadline = j.start + (time_t)s->c.timeout;
	j.m = m;
	j.remote = remote;
	j.domain = domain;
	domain = NULL;
	j.idx = xreallocarray(NULL, n, sizeof *j.idx);
	memcpy(j.idx, idx, n * sizeof *idx);
	j.n = n;
	job_add(s, &j);
	m->running++;
out:
	free(domain);
	free(argv);
	str_free(&err);
}

/* start what the concurrency limits allow, oldest message first */
static void start_jobs(struct sched *s)
{
	size_t *idx = NULL, cap = 0;
	for (struct msg *m = s->head, *next; m; m = next) {
		next = m->next;
		if (s->nlocal >= s->c.conc_local && s->nremote >= s->c.conc_remote)
			break;
		for (size_t i = 0; i < m->env.nrcpt && !m->gone; i++) {
			if (m->st.r[i].state != QR_PENDING || m->tried[i])
				continue;
			if (is_local(s, m->env.rcpt[i])) {
				if (s->nlocal < s->c.conc_local)
					job_start(s, m, 0, &i, 1);
				continue;
			}
			const char *dom = rcpt_domain(m->env.rcpt[i]);
			if (s->nremote >= s->c.conc_remote || domain_running(s, dom) >= s->c.conc_domain)
				continue;
			/* every untried recipient in this domain, up to the per-call limit */
			size_t n = 0;
			for (size_t k = i; k < m->env.nrcpt && n < s->c.remote_rcpts; k++) {
				if (m->st.r[k].state != QR_PENDING || m->tried[k] ||
				    strcasecmp(rcpt_domain(m->env.rcpt[k]), dom) != 0)
					continue;
				if (n == cap) {
					cap = cap ? cap * 2 : 16;
					idx = xreallocarray(idx, cap, sizeof *idx);
				}
				idx[n++] = k;
			}
			job_start(s, m, 1, idx, n);
		}
		round_check(s, m);
	}
	free(idx);
}

/* load due messages while there is room among the active ones */
static void promote(struct sched *s)
{
	time_t t = s->oneshot ? s->pass_start : now();
	while (s->hn && s->heap[0]->due <= t && s->nactive < s->c.max_active) {
		struct entry *e = s->heap[0];
		heap_remove(s, e);
		struct msg *m = msg_load(s, e);
		if (!m) {
			entry_forget(s, e);
			continue;
		}
		round_check(s, m);
	}
}

/* ---- finishing jobs ---- */

static void drain(struct job *j)
{
	char buf[8192];
	while (j->out >= 0) {
		ssize_t r = read(j->out, buf, sizeof buf);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				warn_sys("unable to read delivery output");
			if (errno == EAGAIN)
				return;
		}
		if (r <= 0) {
			close(j->out);
			j->out = -1;
			return;
		}
		if (j->buf.len < OUT_MAX)
			str_catb(&j->buf, buf, (size_t)r < OUT_MAX - j->buf.len ? (size_t)r : OUT_MAX - j->buf.len);
	}
}

static void finish_local(struct job *j, struct str *lines)
{
	int code = child_exit_code(j->status);
	struct str text = STR_INIT;
	const char *nl = memchr(j->buf.s ? j->buf.s : "", '\n', j->buf.len);
	qstate_clean_text(&text, j->buf.s ? j->buf.s : "", nl ? (size_t)(nl - j->buf.s) : j->buf.len,
			  QSTATE_TEXT_MAX);
	int kind;
	if (j->killed) {
		kind = 's';
		text.len = 0;
		str_catf(&text, "delivery timed out after %lld seconds", (long long)(now() - j->start));
	} else if (code == 0)
		kind = 'r';
	else if (code == 111 || code == 75 || code >= 128)
		kind = 's'; /* 128+: killed by a signal, an accident rather than a verdict */
	else
		kind = 'h';
	if (!text.len) {
		if (code >= 128)
			str_catf(&text, "delivery program killed by signal %d", code - 128);
		else if (code != 0)
			str_catf(&text, "delivery program exited %d", code);
	}
	result(j->m, j->idx[0], kind, str_c(&text), lines);
	str_free(&text);
}

/*
 * deliver-remote's reports: for each recipient r/h/s + text + NUL, then
 * K/D/Z + text + NUL for the message.  An accepted recipient counts only
 * when the message was (K); with Z it is deferred, with D it failed.
 * Recipients without a report share the message's fate, or are deferred.
 */
static void finish_remote(struct job *j, struct str *lines)
{
	const char *p = j->buf.s ? j->buf.s : "", *end = p + j->buf.len;
	const char **rep = xcalloc(j->n, sizeof *rep);
	size_t nrep = 0;
	const char *msgrep = NULL;
	while (p < end) {
		const char *z = memchr(p, '\0', (size_t)(end - p));
		if (!z)
			break;
		if (nrep < j->n && *p && strchr("rhs", *p))
			rep[nrep++] = p;
		else if (*p && strchr("KDZ", *p)) {
			msgrep = p;
			break;
		} else
			break;
		p = z + 1;
	}
	int code = child_exit_code(j->status);
	struct str why = STR_INIT;
	if (j->killed)
		str_catf(&why, "delivery timed out after %lld seconds", (long long)(now() - j->start));
	else if (!msgrep)
		str_catf(&why, "%s gave no message report (exit %d)", "remote delivery program", code);
	for (size_t k = 0; k < j->n; k++) {
		const char *r = k < nrep ? rep[k] : NULL;
		int kind;
		const char *text;
		if (!msgrep || j->killed) {
			kind = r && *r == 'h' && !j->killed ? 'h' : 's';
			text = kind == 'h' ? r + 1 : why.s;
		} else if (r && *r == 'h') {
			kind = 'h';
			text = r + 1;
		} else if (r && *r == 's') {
			kind = 's';
			text = r + 1;
		} else if (*msgrep == 'K') {
			kind = r ? 'r' : 's';
			text = r ? r + 1 : "no report for this recipient";
			if (r && !r[1])
				text = msgrep + 1;
		} else {
			kind = *msgrep == 'D' ? 'h' : 's';
			text = msgrep + 1;
		}
		result(j->m, j->idx[k], kind, text, lines);
	}
	str_free(&why);
	free(rep);
}

static void job_finish(struct sched *s, size_t k)
{
	struct job j = s->jobs[k];
	s->jobs[k] = s->jobs[--s->njobs];
	if (j.remote)
		s->nremote--;
	else
		s->nlocal--;
	drain(&j);
	if (j.out >= 0)
		close(j.out); /* a grandchild may hold it open: what came is enough */
	struct str lines = STR_INIT;
	if (j.remote)
		finish_remote(&j, &lines);
	else
		finish_local(&j, &lines);
	record(j.m, &lines);
	str_free(&lines);
	str_free(&j.buf);
	free(j.domain);
	free(j.idx);
	j.m->running--;
	round_check(s, j.m);
}

static void reap(struct sched *s)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0) {
			if (pid < 0 && errno == EINTR)
				continue;
			return;
		}
		for (size_t k = 0; k < s->njobs; k++)
			if (s->jobs[k].pid == pid) {
				s->jobs[k].exited = 1;
				s->jobs[k].status = status;
				job_finish(s, k);
				break;
			}
	}
}

/* ---- the loop ---- */

/*
 * Read what a non-blocking pipe or FIFO holds, noting which byte values
 * came (seen[c] = 1).  How many bytes came.
 */
static size_t read_flags(int fd, unsigned char seen[256])
{
	char buf[512];
	size_t total = 0;
	memset(seen, 0, 256);
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return total;
		total += (size_t)r;
		for (ssize_t i = 0; i < r; i++)
			seen[(unsigned char)buf[i]] = 1;
	}
}

static void kill_overdue(struct sched *s, time_t t)
{
	for (size_t k = 0; k < s->njobs; k++) {
		struct job *j = &s->jobs[k];
		if (!j->killed && t >= j->deadline) {
			log_line("event=timeout id=%s pid=%ld", j->m->e->id, (long)j->pid);
			kill(-j->pid, SIGKILL); /* its group: whatever it started too */
			j->killed = 1;
		}
	}
}

static int poll_timeout(struct sched *s, time_t t)
{
	long long wait = -1;
#define EARLIEST(x) do { long long w_ = (long long)(x) - (long long)t; if (w_ < 0) w_ = 0; \
			if (wait < 0 || w_ < wait) wait = w_; } while (0)
	for (size_t k = 0; k < s->njobs; k++)
		if (!s->jobs[k].killed)
			EARLIEST(s->jobs[k].deadline);
	if (s->stopping)
		EARLIEST(s->stop_at);
	else if (!s->oneshot) {
		if (s->hn && s->nactive < s->c.max_active)
			EARLIEST(s->heap[0]->due);
		EARLIEST(s->next_rescan);
		EARLIEST(s->next_cleanup);
	}
#undef EARLIEST
	if (wait < 0)
		return s->nactive ? 1000 : -1; /* never sleep for good with work in hand */
	/* a whole second later, so a due time is never woken for a second early */
	return wait > 86400 ? 86400 * 1000 : (int)(wait * 1000 + (wait ? 0 : 10));
}

static void setup_signals(struct sched *s)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		die_sys(EXIT_SYS, "unable to create a pipe");
	s->sigr = p[0];
	sig_wfd = p[1];
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			die_sys(EXIT_SYS, "unable to catch signals");
	signal(SIGPIPE, SIG_IGN);
}

static void open_trigger(struct sched *s)
{
	struct str p = STR_INIT;
	qpath(s, &p, "trigger", NULL);
	/* O_RDWR: we are a writer too, so the FIFO never reports EOF */
	s->trigger = open(p.s, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (s->trigger < 0)
		die_sys(EXIT_SYS, "unable to open %s", p.s);
	str_free(&p);
}

/* an argv[0] that posix_spawnp would find */
static int runnable(const char *prog)
{
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0;
	const char *path = getenv("PATH");
	struct str p = STR_INIT;
	int ok = 0;
	for (const char *d = path ? path : "/usr/bin:/bin"; !ok;) {
		const char *colon = strchr(d, ':');
		size_t n = colon ? (size_t)(colon - d) : strlen(d);
		str_copyb(&p, n ? d : ".", n ? n : 1);
		str_catc(&p, '/');
		str_cats(&p, prog);
		ok = access(p.s, X_OK) == 0;
		if (!colon)
			break;
		d = colon + 1;
	}
	str_free(&p);
	return ok;
}

/* -n: the configuration is readable and usable; 0, or 111 with the reasons */
static int check_config(struct sched *s, int bad)
{
	int fail = bad > 0;
	struct stat sb;
	if (stat(s->qdir.s, &sb) < 0 || !S_ISDIR(sb.st_mode))
		warn_msg("queuedir %s is not a directory (queue-run would create it)", s->qdir.s);
	char **cmds[] = { s->c.local_argv, s->c.remote_argv };
	const char *what[] = { "local-delivery", "remote-delivery" };
	for (int i = 0; i < 2; i++)
		if (!runnable(cmds[i][0])) {
			warn_msg("%s: %s: not found or not executable", what[i], cmds[i][0]);
			fail = 1;
		}
	if (!s->c.locals.n)
		warn_msg("locals is empty: every recipient is remote");
	if (fail)
		return EXIT_SYS;
	printf("queue-run: configuration ok: me %s, queue %s, local %s, remote %s, bounce-to %s\n",
	       s->c.me.s, s->qdir.s, s->c.local_argv[0], s->c.remote_argv[0], s->c.bounce_to.s);
	return 0;
}

static void usage(void)
{
	die(EXIT_USAGE, "usage: queue-run [-1] [-f] | -n");
}

int main(int argc, char **argv)
{
	struct sched s;
	memset(&s, 0, sizeof s);
	s.trigger = -1;
	int opt, check = 0;
	while ((opt = getopt(argc, argv, "1fn")) != -1) {
		if (opt == '1')
			s.oneshot = 1;
		else if (opt == 'n')
			check = 1;
		else if (opt == 'f')
			s.force = 1;
		else
			usage();
	}
	if (optind != argc)
		usage();
	umask(027);
	int bad = 0;
	if (cfg_load(&s.c, &bad) < 0)
		die_sys(EXIT_SYS, "unable to read the configuration in %s", conf_dir());
	if (queue_dir(&s.qdir) < 0)
		die_sys(EXIT_SYS, "unable to read queuedir");
	if (check)
		return check_config(&s, bad);
	make_dirs(&s);
	lock_queue(&s);
	setup_signals(&s);
	if (!s.oneshot)
		open_trigger(&s);
	cleanup(&s, 0); /* alone in the queue: nothing of ours is in flight */
	scan_msg(&s);
	takein(&s);
	time_t t = now();
	s.pass_start = t;
	s.next_rescan = t + RESCAN_EVERY;
	s.next_cleanup = t + CLEANUP_EVERY;
	log_line("event=start mode=%s queued=%zu", s.oneshot ? "once" : "daemon", s.hcount);

	for (;;) {
		if (!s.stopping) {
			promote(&s);
			start_jobs(&s);
		}
		if (s.njobs == 0) {
			if (s.stopping)
				break;
			if (s.oneshot && !s.nactive && (!s.hn || s.heap[0]->due > s.pass_start))
				break;
		}
		/* the self-pipe, the trigger, then one pipe per running job, in order */
		if (s.pollcap < 2 + s.njobs) {
			s.pollcap = 2 + s.njobs + 16;
			s.pfd = xreallocarray(s.pfd, s.pollcap, sizeof *s.pfd);
		}
		s.pfd[0] = (struct pollfd){ .fd = s.sigr, .events = POLLIN };
		s.pfd[1] = (struct pollfd){ .fd = s.stopping ? -1 : s.trigger, .events = POLLIN };
		for (size_t k = 0; k < s.njobs; k++)
			s.pfd[2 + k] = (struct pollfd){ .fd = s.jobs[k].out, .events = POLLIN };
		int r = poll(s.pfd, 2 + s.njobs, poll_timeout(&s, now()));
		if (r < 0 && errno != EINTR)
			die_sys(EXIT_SYS, "unable to poll");
		for (size_t k = 0; r > 0 && k < s.njobs; k++)
			if (s.pfd[2 + k].revents)
				drain(&s.jobs[k]);

		unsigned char sig[256], trig[256];
		read_flags(s.sigr, sig);
		int term = sig['T'], hup = sig['H'], take = 0, flush = 0;
		if (sig['C'])
			reap(&s);
		t = now();
		kill_overdue(&s, t);
		if (term && !s.stopping) {
			s.stopping = 1;
			s.stop_at = t + (time_t)s.c.shutdown_timeout;
			log_line("event=stopping running=%zu", s.njobs);
		}
		if (s.stopping && t >= s.stop_at && s.njobs) {
			/* results not recorded are retried: a duplicate, never a loss */
			for (size_t k = 0; k < s.njobs; k++)
				kill(-s.jobs[k].pid, SIGKILL);
			log_line("event=abandon running=%zu", s.njobs);
			break;
		}
		if (hup) {
			if (cfg_load(&s.c, &bad) < 0)
				warn_sys("unable to re-read the configuration; keeping the old one");
			else
				log_line("event=reload");
		}
		if (s.stopping || s.oneshot)
			continue;
		/* NUL: a new message (queue-inject); 'F': flush, everything due now */
		take = read_flags(s.trigger, trig) > 0;
		flush = trig['F'];
		if (t >= s.next_rescan) {
			take = 1;
			s.next_rescan = t + RESCAN_EVERY;
		}
		if (t >= s.next_cleanup) {
			cleanup(&s, ORPHAN_AGE);
			s.next_cleanup = t + CLEANUP_EVERY;
		}
		if (take)
			takein(&s);
		if (flush) {
			flush_all(&s);
			log_line("event=flush queued=%zu", s.hcount);
		}
	}
	log_line("event=stop");
	cfg_free(&s.c);
	str_free(&s.qdir);
	return 0;
}
