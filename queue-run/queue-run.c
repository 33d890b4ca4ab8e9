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
 * Crash safety: a recipient's result is appended to state/ID, and results
 * are flushed together when unflushed ones keep a delivery from starting
 * (they count against the limits as running ones do) or after
 * SYNC_DELAY_MS; a bounce is injected (and queue-inject has made it durable)
 * after the failures it reports are flushed and before its recipients are
 * marked "bounced"; a finished message's msg/ID is removed before its
 * state/ID.  So a crash at any point repeats at most the deliveries that
 * were running or had just finished (or one bounce), and loses nothing.
 * Where each flush is and why no other is needed: doc/durability.md.
 *
 * This file: the loop, signals, configuration and taking messages in;
 * sched.h lists the other parts.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "child.h"
#include "die.h"
#include "durable.h"
#include "fsjournal.h"
#include "log.h"
#include "queue.h"
#include "sched.h"

#define TMP_MAX_AGE (36 * 3600)      /* tmp/ files older than this are debris */
#define ORPHAN_AGE (24 * 3600)       /* state/ files without a message */
#define RESCAN_EVERY 300             /* look at new/ even without a trigger */
#define CLEANUP_EVERY 3600
#define LOCK_TRIES 20                /* 100 ms apart */

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

time_t now(void)
{
	return time(NULL);
}

static void cfg_free(struct cfg *c)
{
	child_argv_free(c->local_argv);
	child_argv_free(c->remote_argv);
	conf_list_free(&c->locals);
	str_free(&c->me);
	str_free(&c->bounce_to);
	memset(c, 0, sizeof *c);
}

/*
 * A delivery command, its program looked up in PATH here, once, rather
 * than by posix_spawnp on every delivery (an execve that fails per
 * directory before it); a program not found is left for posix_spawnp to
 * report when it is run.  SIGHUP looks again.  *is_def (when given) is set
 * to 1 when the file names no command, so def is used.
 */
static char **command(const char *file, const char *def, int *is_def)
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
		if (is_def)
			*is_def = 1;
	}
	/* not there yet: left for posix_spawnp to look for at each delivery (-n warns) */
	(void)child_argv_resolve(argv);
	return argv;
}

/*
 * local-batch or remote-batch (v, ULLONG_MAX when not set), within
 * [1, max].  Several jobs per delivery program by default only for
 * sluice's own (own: no local-delivery or remote-delivery file): another
 * program may speak the one-job contract alone, so it is asked for -b
 * only when the limit says so.
 */
static size_t batch_size(unsigned long long v, int own, size_t max)
{
	if (v == ULLONG_MAX)
		v = own ? 16 : 1;
	return v < 1 ? 1 : v > max ? max : (size_t)v;
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
	unsigned long long batch, rbatch;
	*bad += conf_limit(&lim, "local-batch", ULLONG_MAX, &batch) < 0; /* MAX: not set */
	*bad += conf_limit(&lim, "remote-batch", ULLONG_MAX, &rbatch) < 0;
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
	if (!n.retry_min)
		n.retry_min = 1; /* 0 would retry in a busy loop */
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
	int own_mda = 0, own_remote = 0;
	n.local_argv = command("local-delivery", "deliver-local", &own_mda);
	n.remote_argv = command("remote-delivery", "deliver-remote", &own_remote);
	if (!n.local_argv || !n.remote_argv)
		goto fail;
	n.local_batch = batch_size(batch, own_mda, LOCAL_BATCH_MAX);
	n.remote_batch = batch_size(rbatch, own_remote, REMOTE_BATCH_MAX);
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

void qpath(struct sched *s, struct str *out, const char *sub, const char *id)
{
	queue_path(out, s->qdir.s, sub, id);
}

/*
 * Create what is missing.  The writers of tmp/, new/, quarantine/ and the
 * trigger (queue-inject, smtp-filter) may run as another user of the
 * queue's group, so those get group write; the rest is queue-run's alone.
 * An existing directory's mode is left as the administrator set it.
 */
static void make_dirs(struct sched *s)
{
	static const struct {
		const char *name;
		mode_t mode;
	} sub[] = { { "tmp", 0770 }, { "new", 0770 }, { "msg", 0750 }, { "state", 0750 },
		    { "hold", 0750 }, { "quarantine", 0770 }, { "corrupt", 0750 } };
	struct str p = STR_INIT;
	if (mkdir(s->qdir.s, 0750) < 0 && errno != EEXIST)
		die_sys(EXIT_SYS, "unable to create %s", s->qdir.s);
	for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
		qpath(s, &p, sub[i].name, NULL);
		if (mkdir(p.s, sub[i].mode) == 0) {
			if (chmod(p.s, sub[i].mode) < 0) /* past the umask */
				die_sys(EXIT_SYS, "unable to set the mode of %s", p.s);
		} else if (errno != EEXIST)
			die_sys(EXIT_SYS, "unable to create %s", p.s);
	}
	qpath(s, &p, "trigger", NULL);
	if (mkfifo(p.s, 0620) == 0) {
		if (chmod(p.s, 0620) < 0)
			die_sys(EXIT_SYS, "unable to set the mode of %s", p.s);
	} else if (errno != EEXIST)
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
	int fd = openat(AT_FDCWD, p.s, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		die_sys(EXIT_SYS, "unable to open %s", p.s);
	/*
	 * A killed queue-run's child can hold the lock for an instant, between
	 * its spawn and its exec (which closes it): wait a little before
	 * deciding another queue-run is running.
	 */
	for (int tries = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; tries++) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			die_sys(EXIT_SYS, "unable to lock %s", p.s);
		if (tries >= LOCK_TRIES)
			die(EXIT_SYS, "unable to lock %s: another queue-run is running", p.s);
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
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

/* read a message's state file far enough to know when it is due */
static time_t due_from_state(struct sched *s, const char *id)
{
	struct str p = STR_INIT;
	qpath(s, &p, "state", id);
	time_t due = 0;
	int fd = openat(AT_FDCWD, p.s, O_RDONLY | O_CLOEXEC);
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

/* does the queue's file system order its journal (doc/durability.md) */
static int journal_ordered(struct sched *s)
{
	struct str p = STR_INIT;
	qpath(s, &p, "msg", NULL);
	int fd = openat(AT_FDCWD, p.s, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die_sys(EXIT_SYS, "unable to open %s", p.s);
	int r = fs_journal_orders(fd, fd);
	close(fd);
	str_free(&p);
	return r;
}

void sync_dir(struct sched *s, const char *sub)
{
	struct str p = STR_INIT;
	qpath(s, &p, sub, NULL);
	if (fsync_dir(p.s) < 0)
		die_sys(EXIT_SYS, "unable to sync %s", p.s);
	str_free(&p);
}

/*
 * new/ -> msg/: a rename (state/ID comes with the first result that must
 * be kept, round.c).  No flush on ext4 and XFS: a rename lost in a crash
 * leaves the message in new/, where the next start finds it, and the
 * first flush of results (sync_records) commits the renames before it
 * (doc/queue.md).  On any other file system the plain way: one fsync per
 * directory for the batch, before any delivery of it starts.
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
		qpath(s, &from, "new", de->d_name);
		qpath(s, &to, "msg", de->d_name);
		if (rename_noreplace(from.s, to.s) < 0) {
			if (errno != ENOENT) /* ENOENT: held or deleted meanwhile */
				warn_sys("unable to move %s to msg/", from.s);
			continue;
		}
		ids = xreallocarray(ids, n + 1, sizeof *ids);
		memcpy(ids[n++], de->d_name, QID_SIZE);
	}
	closedir(d);
	if (n && !s->ordered) {
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
	s->trigger = openat(AT_FDCWD, p.s, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (s->trigger < 0)
		die_sys(EXIT_SYS, "unable to open %s", p.s);
	str_free(&p);
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
	struct str found = STR_INIT;
	for (int i = 0; i < 2; i++)
		if (!child_find(cmds[i][0], &found)) {
			warn_msg("%s: %s: not found or not executable", what[i], cmds[i][0]);
			fail = 1;
		}
	str_free(&found);
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
	s.crc_hw = -1;
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
	if (check) {
		int rc = check_config(&s, bad);
		cfg_free(&s.c);
		str_free(&s.qdir);
		return rc;
	}
	make_dirs(&s);
	lock_queue(&s);
	s.ordered = journal_ordered(&s);
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
	log_line("event=start mode=%s queued=%zu flushes=%s", s.oneshot ? "once" : "daemon", s.hcount,
		 s.ordered ? "journal" : "plain");

	for (;;) {
		/*
		 * A crash repeats at most concurrency-local (or -remote)
		 * deliveries: the running ones and the finished ones whose
		 * results are not yet durable together never exceed the limit
		 * (start_jobs counts both).  So results are flushed only when
		 * they keep waiting deliveries from starting (marks_block), and
		 * one flush covers all that finished meanwhile.
		 */
		if (!s.stopping) {
			promote(&s);
			if (marks_block(&s))
				sync_records(&s);
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
		/*
		 * What is recorded but not flushed waits at most SYNC_DELAY_MS
		 * for other results to share its flush.
		 */
		int wait_ms = poll_timeout(&s, now());
		if (records_pending(&s)) {
			long long t_ms = clock_ms();
			if (!s.sync_by)
				s.sync_by = t_ms + SYNC_DELAY_MS;
			if (t_ms >= s.sync_by)
				sync_records(&s);
			else if (wait_ms < 0 || wait_ms > s.sync_by - t_ms)
				wait_ms = (int)(s.sync_by - t_ms);
		}
		if (s.local_hold_until && !s.stopping) {
			long long left = s.local_hold_until - clock_ms();
			if (left < 1)
				left = 1;
			if (wait_ms < 0 || wait_ms > left)
				wait_ms = (int)left;
		}
		int r = poll(s.pfd, 2 + s.njobs, wait_ms);
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
	sync_records(&s);
	log_line("event=stop");
	round_free(&s);
	index_free(&s);
	free(s.pfd);
	cfg_free(&s.c);
	str_free(&s.qdir);
	return 0;
}
