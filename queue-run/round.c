/*
 * round.c - active messages (see sched.h): a message is loaded when due,
 * its recipients are handed to delivery jobs within the concurrency
 * limits, each result is recorded in state/ID, and when every recipient
 * has had its try the round ends: bounce, finish, or schedule the next
 * round.
 *
 * Flushes (doc/queue.md, doc/durability.md): records are written at once
 * and flushed together (sync_records) when unflushed results stand in the
 * way of deliveries that could start (marks_block), or once the oldest has
 * waited SYNC_DELAY_MS.  A finished delivery whose result is not yet flushed
 * counts against the concurrency limit like a running one, so a crash
 * repeats at most as many deliveries as may run at once, and a busy
 * queue-run shares one flush among several results.  Records are also
 * flushed before a bounce is queued (sync_msg) and when a message leaves
 * memory.  A finished message's records are not flushed at all: its
 * unlinks are its last mark, made durable with the next flush (an fsync of
 * msg/, and of state/ if it had a state file; record says when it has
 * none).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "bio.h"
#include "child.h"
#include "die.h"
#include "durable.h"
#include "log.h"
#include "queue.h"
#include "sched.h"

static void msg_free(struct msg *m)
{
	envelope_free(&m->env);
	qstate_free(&m->st);
	if (m->statefd >= 0)
		close(m->statefd);
	str_free(&m->stash);
	free(m->tried);
	free(m->local);
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
	s->todo_local -= m->todo_local;
	s->todo_remote -= m->todo_remote;
	struct entry *e = m->e;
	e->m = NULL;
	unstash(s, m, m->st.valid);
	sync_msg(s, m); /* its state file is closed next */
	msg_free(m);
	if (keep_entry && !s->oneshot)
		heap_push(s, e);
	else
		entry_forget(s, e);
}

int open_msg(struct sched *s, const char *id)
{
	struct str p = STR_INIT;
	qpath(s, &p, "msg", id);
	int fd = openat(AT_FDCWD, p.s, O_RDONLY | O_CLOEXEC);
	str_free(&p);
	return fd;
}

/*
 * A queue file that is malformed or does not match its check line was cut
 * short (or left with a hole) by a crash before queue-inject's flush: it
 * was never acknowledged.  It goes to corrupt/, never delivered and never
 * deleted, for the administrator to look at.
 */
static void set_aside(struct sched *s, const char *id, const char *why)
{
	struct str from = STR_INIT, to = STR_INIT;
	qpath(s, &from, "msg", id);
	qpath(s, &to, "corrupt", id);
	if (rename_noreplace(from.s, to.s) == 0)
		log_line("event=corrupt id=%s reason=\"%s\" moved=corrupt/%s", id, why, id);
	else if (errno != ENOENT)
		log_line("event=error id=%s reason=\"%s; unable to move it to corrupt/: %s\"", id, why,
			 strerror(errno));
	str_free(&from);
	str_free(&to);
}

/* the message becomes active; NULL when it is gone, unreadable or set aside */
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
	struct queue_check chk;
	int r = queue_header_read_check(fd, &m->env, &m->body, &chk);
	if (r == 0) {
		int c = queue_body_check(fd, m->body, &chk, &s->crc_hw);
		r = c < 0 ? -1 : c ? 0 : 2;
	}
	int err = errno;
	close(fd);
	if (r != 0) {
		if (r < 0)
			log_line("event=error id=%s reason=\"unable to read queue file: %s\"", e->id,
				 strerror(err));
		else
			set_aside(s, e->id,
				  r == 1 ? "malformed queue file" : "message does not match its check line");
		msg_free(m);
		return NULL;
	}
	/*
	 * Read, then closed: an active message waiting for its turn holds no
	 * file open (record opens it again), so thousands of them neither
	 * run into the open-files limit nor make every delivery program's
	 * exec close them all.
	 */
	struct str p = STR_INIT;
	qpath(s, &p, "state", e->id);
	qstate_init(&m->st, m->env.nrcpt);
	int sfd = openat(AT_FDCWD, p.s, O_RDONLY | O_CLOEXEC);
	if (sfd < 0 ? errno != ENOENT : qstate_read(sfd, &m->st) < 0) {
		log_line("event=error id=%s reason=\"unable to read %s: %s\"", e->id, p.s,
			 strerror(errno));
		if (sfd >= 0)
			close(sfd);
		str_free(&p);
		msg_free(m);
		return NULL;
	}
	m->has_state = sfd >= 0; /* none yet: no result recorded so far */
	if (sfd >= 0)
		close(sfd);
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

/* m's records flushed or not; s->ndirty counts the unflushed, so a turn
 * need not look through every active message to find them */
static void set_dirty(struct sched *s, struct msg *m, int dirty)
{
	if (m->dirty != dirty)
		s->ndirty = dirty ? s->ndirty + 1 : s->ndirty - 1;
	m->dirty = dirty;
}

/*
 * Write lines (applied to m->st already; at: where they go) to state/ID.
 * Not to a state file made anew for a message deleted meanwhile: that
 * would be left behind it.
 */
static void store(struct sched *s, struct msg *m, off_t at, const struct str *lines)
{
	if (m->statefd < 0) {
		/* still in msg/ or held (queue-ctl may delete it); unsure counts as yes */
		if (!m->has_state && queue_has(s->qdir.s, m->e->id) == 0)
			return;
		struct str p = STR_INIT;
		qpath(s, &p, "state", m->e->id);
		m->statefd = openat(AT_FDCWD, p.s, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
		if (m->statefd < 0)
			die_sys(EXIT_SYS, "unable to open %s", p.s);
		str_free(&p);
		m->has_state = 1;
	}
	if (qstate_store(m->statefd, at, lines) < 0)
		die_sys(EXIT_SYS, "unable to write state/%s", m->e->id);
	set_dirty(s, m, 1);
}

/*
 * Results go to state/ID, created at the first one and open until the
 * flush.  A message that has no state file yet and whose results now
 * leave nothing pending and nothing owed is about to be removed
 * (round_end), and the removal is its mark: its lines wait in memory
 * (stash) and are written only if it is not removed after all (held or
 * released meanwhile, or its unlink failed).  So the usual message, one
 * recipient delivered at the first try, never has a state file: no
 * create, write or unlink of one.
 */
void record(struct sched *s, struct msg *m, const struct str *lines)
{
	off_t at = m->st.valid; /* the state's length with the stash written */
	qstate_parse(&m->st, lines->s, lines->len);
	if (!m->has_state && !qstate_pending(&m->st) && !qstate_owed(&m->st)) {
		str_catb(&m->stash, lines->s, lines->len);
		return;
	}
	unstash(s, m, at);
	store(s, m, at, lines);
}

/* the stashed lines of a message that was not removed, written after all */
void unstash(struct sched *s, struct msg *m, off_t end)
{
	if (!m->stash.len)
		return;
	store(s, m, end - (off_t)m->stash.len, &m->stash);
	m->stash.len = 0;
}

/* make m's records durable (fdatasync: the appended lines and the size) */
void sync_msg(struct sched *s, struct msg *m)
{
	if (m->dirty && fdatasync(m->statefd) < 0)
		die_sys(EXIT_SYS, "unable to sync state/%s", m->e->id);
	set_dirty(s, m, 0);
	if (m->statefd >= 0) {
		close(m->statefd);
		m->statefd = -1;
	}
}

/*
 * Every record written since the last call, and every finished message's
 * removal, made durable.  The unlinks of state/ come after those of msg/,
 * so on ext4 (jbd2 commits transactions in order) and XFS (ordered log)
 * the fsync of state/ covers both; elsewhere msg/ is flushed first.
 */
void sync_records(struct sched *s)
{
	for (struct msg *m = s->head; m && s->ndirty; m = m->next)
		sync_msg(s, m);
	if (s->removed) {
		/*
		 * msg/ first: on ext4 its fsync commits every change so far, on XFS
		 * the log up to its last change; state/ changed after it only for
		 * messages that had a state file.
		 */
		sync_dir(s, "msg");
		if (s->removed_state)
			sync_dir(s, "state");
		s->removed = s->removed_state = 0;
	}
	s->unsynced_local = s->unsynced_remote = 0;
	s->sync_by = 0;
}

int records_pending(const struct sched *s)
{
	return s->removed || s->unsynced_local || s->unsynced_remote || s->ndirty;
}

/* room for one more delivery of a kind: running and unflushed ones count */
static int room(size_t running, size_t unsynced, unsigned long long limit)
{
	return running + unsynced < limit;
}

/*
 * Flush for a kind once its unflushed results fill the limit with the
 * running ones and at least half of it by themselves (or nothing of that
 * kind runs any more): flushing at the first result that stands in the
 * way would take one flush per delivery whenever the queue is busy enough
 * to keep the limit full.  Meanwhile fewer deliveries run at once, which
 * costs nothing while the deliveries are bound by the CPU.
 */
static int kind_blocked(size_t running, size_t unsynced, size_t todo, unsigned long long limit)
{
	return unsynced && todo && !room(running, unsynced, limit) &&
	       (unsynced * 2 >= limit || running == 0);
}

int marks_block(const struct sched *s)
{
	return kind_blocked(s->nlocal, s->unsynced_local, s->todo_local, s->c.conc_local) ||
	       kind_blocked(s->nremote, s->unsynced_remote, s->todo_remote, s->c.conc_remote);
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
		/* the next record opens the new file */
		if (m->statefd >= 0)
			close(m->statefd);
		m->statefd = -1;
		m->st.valid = (off_t)sum.len;
		set_dirty(s, m, 0); /* atomic_write made the summary durable */
		log_line("event=compact id=%s size=%zu", m->e->id, sum.len);
	}
	str_free(&sum);
	str_free(&dir);
	str_free(&p);
}

static void log_text(struct str *out, const char *t)
{
	size_t start = out->len;
	str_cats(out, t ? t : "");
	for (char *c = out->s + start; *c; c++)
		if (*c == '"')
			*c = '\'';
}

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

/* which recipients are local, and how many of each kind wait for their try */
static void msg_classify(struct sched *s, struct msg *m)
{
	m->local = xcalloc(m->env.nrcpt ? m->env.nrcpt : 1, 1);
	for (size_t i = 0; i < m->env.nrcpt; i++) {
		m->local[i] = (unsigned char)is_local(s, m->env.rcpt[i]);
		if (m->st.r[i].state == QR_PENDING)
			++*(m->local[i] ? &m->todo_local : &m->todo_remote);
	}
	s->todo_local += m->todo_local;
	s->todo_remote += m->todo_remote;
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
	/*
	 * The usual end, every recipient done with and no bounce owed, asks
	 * the unlink below whether the file is still there; only the others
	 * ask first.
	 */
	int finished = !m->gone && !qstate_pending(&m->st) && !qstate_owed(&m->st);
	int present = finished || access(p.s, F_OK) == 0 || errno != ENOENT;
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
				 id, m->env.rcpt[i], (long long)(t - m->arrival), m->st.attempts + 1);
			str_free(&why);
		}
		record(s, m, &lines);
		lines.len = 0;
	}
	int bounce_failed = qstate_owed(&m->st) && report(s, m, 0) < 0;
	if (!qstate_pending(&m->st) && !qstate_owed(&m->st)) {
		/*
		 * msg before state: a state file without its message is harmless
		 * debris.  The records need no flush of their own: the unlinks are
		 * the last mark, flushed with the turn's others (sync_records).
		 */
		if (unlink(p.s) == 0) {
			set_dirty(s, m, 0);
			m->stash.len = 0; /* the removal is the mark */
			s->removed = 1;
			if (m->has_state) {
				s->removed_state = 1;
				qpath(s, &p, "state", id);
				if (unlink(p.s) < 0)
					warn_sys("unable to remove %s", p.s);
			}
			log_line("event=done id=%s delay=%llds attempts=%lu", id,
				 (long long)(t - m->arrival), m->st.attempts + 1);
		} else if (errno != ENOENT)
			warn_sys("unable to remove %s", p.s);
		else
			log_line("event=vanished id=%s", id); /* deleted or held meanwhile, as above */
		str_free(&p);
		str_free(&lines);
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
	record(s, m, &lines);
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

static size_t domain_running(const struct sched *s, const char *domain)
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
	s->jobs = xgrow(s->jobs, &s->jobcap, s->njobs, sizeof *s->jobs, 16);
	s->jobs[s->njobs++] = *j;
	if (j->remote)
		s->nremote++;
	else
		s->nlocal++;
}

/*
 * A delivery program's stdout: a memory file, which it writes without
 * waking queue-run, read once the program has exited.  (A pipe would wake
 * queue-run for every write only to hold what came until the exit.)  It is
 * sealed at OUT_CAP octets, past which writes fail, so a runaway program
 * cannot use up memory.  -1 where memfd_create is refused: a pipe then.
 */
static int output_file(void)
{
	int fd = memfd_create("delivery-output", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, OUT_CAP) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* the items of the jobs start_jobs puts together */
struct items {
	struct jitem *v;
	size_t n, cap;
};

/* recipient i of m goes into a job being put together (to): tried, and running */
static void take(struct sched *s, struct msg *m, size_t i, int remote, struct items *to)
{
	if (!m->tried[i]) {
		--*(remote ? &m->todo_remote : &m->todo_local);
		--*(remote ? &s->todo_remote : &s->todo_local);
	}
	m->tried[i] = 1;
	m->running++;
	to->v = xgrow(to->v, &to->cap, to->n, sizeof *to->v, 16);
	to->v[to->n++] = (struct jitem){ m, i };
}

/*
 * Items done with: each one's result (kind[k], text[k]; none when kind is
 * NULL) recorded together with its message's others, and the message
 * released.  With check, a message's round is then checked, which may
 * end it: nothing after touches it (a message's items are next to each
 * other).
 */
static void settle(struct sched *s, const struct jitem *it, size_t n, const int *kind,
		   const char *const *text, int check)
{
	struct str lines = STR_INIT;
	for (size_t k = 0; k < n; k++) {
		struct msg *m = it[k].m;
		if (kind)
			result(m, it[k].i, kind[k], text[k] ? text[k] : "", &lines);
		m->running--;
		if (k + 1 == n || it[k + 1].m != m) {
			if (lines.len)
				record(s, m, &lines);
			lines.len = 0;
			if (check)
				round_check(s, m);
		}
	}
	str_free(&lines);
}

/*
 * Items that no program will deliver: deferred with err, or without a
 * result when their message is gone (err NULL).  The caller checks their
 * rounds.
 */
static void release(struct sched *s, const struct jitem *it, size_t n, const char *err)
{
	int *kind = err ? xcalloc(n, sizeof *kind) : NULL;
	const char **text = err ? xcalloc(n, sizeof *text) : NULL;
	for (size_t k = 0; kind && k < n; k++) {
		kind[k] = 's';
		text[k] = err;
	}
	settle(s, it, n, kind, text, 0);
	free(kind);
	free(text);
}

/*
 * How many items from it[k] one message report covers, the "unit": one
 * recipient in deliver-local -b, one message's in deliver-remote -b,
 * every item otherwise.  Each unit of a batched job has its own fd.
 */
static size_t unit_len(const struct jitem *it, size_t n, size_t k, int remote, int batched)
{
	if (!batched)
		return n - k;
	if (!remote)
		return 1;
	size_t u = 1;
	while (k + u < n && it[k + u].m == it[k].m)
		u++;
	return u;
}

/*
 * Start one delivery program for the taken items it[0..n): remote, the
 * recipients of one domain in one message (deliver-remote DOMAIN SENDER
 * RCPT..., the message on fd 0) or in several (deliver-remote -b DOMAIN
 * FD ID SENDER COUNT RCPT ..., message k on fd 3 + k); local, one
 * recipient (deliver-local SENDER RCPT, the message on fd 0) or several
 * of any messages (deliver-local -b FD SENDER RCPT ..., recipient k's
 * message on fd 3 + k).  Items whose message has vanished are dropped;
 * when nothing can run, the rest are deferred (release).
 */
static void job_start(struct sched *s, int remote, const struct jitem *in, size_t n)
{
	int batched = remote ? unit_len(in, n, 0, 1, 1) < n : n > 1;
	struct jitem *it = xcalloc(n, sizeof *it);
	size_t *ulen = xcalloc(n, sizeof *ulen); /* the units that stay */
	struct child_fd map[CHILD_MAP_MAX];
	size_t live = 0, nmap = 0, nu = 0;
	struct str err = STR_INIT;
	/* the queue files, one per unit: a unit whose message is gone leaves the job */
	for (size_t k = 0, u; k < n; k += u) {
		u = unit_len(in, n, k, remote, batched);
		struct msg *m = in[k].m;
		int fd = !err.len && !m->gone ? open_msg(s, m->e->id) : -1;
		if (!err.len && fd < 0 && (m->gone || errno == ENOENT)) {
			m->gone = 1;
			release(s, &in[k], u, NULL);
			continue;
		}
		if (!err.len && fd < 0)
			str_catf(&err, "unable to open the queue file: %s", strerror(errno));
		else if (fd >= 0 && lseek(fd, m->body, SEEK_SET) < 0)
			str_catf(&err, "unable to prepare the delivery: %s", strerror(errno));
		if (fd >= 0)
			map[nmap++] = (struct child_fd){ fd, batched ? 3 + (int)nu : 0 };
		ulen[nu++] = u;
		for (size_t x = 0; x < u; x++)
			it[live++] = in[k + x];
	}
	char **argv = NULL, *domain = NULL;
	char (*num)[12] = NULL;
	int p[2] = { -1, -1 }, mem = -1;
	pid_t pid = -1;
	if (!live)
		goto out;
	char **cmd = remote ? s->c.remote_argv : s->c.local_argv;
	size_t nc = 0, a = 0;
	while (cmd[nc])
		nc++;
	argv = xreallocarray(NULL, nc + live + 4 * nu + 4, sizeof *argv);
	for (size_t k = 0; k < nc; k++)
		argv[a++] = cmd[k];
	struct msg *m0 = it[0].m;
	if (remote) {
		domain = xstrdup(rcpt_domain(m0->env.rcpt[it[0].i]));
		for (char *c = domain; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
	}
	if (batched) {
		num = xcalloc(2 * nu, sizeof *num);
		argv[a++] = "-b";
		if (remote)
			argv[a++] = domain;
		for (size_t k = 0, x = 0; k < nu; x += ulen[k++]) {
			struct msg *m = it[x].m;
			snprintf(num[2 * k], sizeof num[0], "%d", 3 + (int)k); /* k < the batch limits */
			argv[a++] = num[2 * k];
			if (remote)
				argv[a++] = m->e->id;
			argv[a++] = m->env.sender;
			if (remote) {
				snprintf(num[2 * k + 1], sizeof num[0], "%zu", ulen[k]);
				argv[a++] = num[2 * k + 1];
			}
			for (size_t y = x; y < x + ulen[k]; y++)
				argv[a++] = m->env.rcpt[it[y].i];
		}
	} else {
		if (remote)
			argv[a++] = domain;
		argv[a++] = m0->env.sender;
		for (size_t k = 0; k < live; k++)
			argv[a++] = m0->env.rcpt[it[k].i];
	}
	argv[a] = NULL;
	if (!err.len && (mem = output_file()) < 0 && pipe2(p, O_CLOEXEC) < 0)
		str_catf(&err, "unable to prepare the delivery: %s", strerror(errno));
	if (!err.len) {
		char **envp = env_with_id(m0->e->id);
		map[nmap++] = (struct child_fd){ mem >= 0 ? mem : p[1], 1 };
		pid = child_spawn_group(argv, map, nmap, envp);
		env_free(envp);
		if (pid < 0)
			str_catf(&err, "unable to run %s: %s", argv[0], strerror(errno));
	}
	if (p[1] >= 0)
		close(p[1]);
	if (pid < 0) {
		/* nothing ran: a temporary failure for every recipient of the job */
		if (p[0] >= 0)
			close(p[0]);
		if (mem >= 0)
			close(mem);
		release(s, it, live, err.s);
		goto out;
	}
	if (p[0] >= 0 && fcntl(p[0], F_SETFL, O_NONBLOCK) < 0)
		die_sys(EXIT_SYS, "unable to set a pipe non-blocking");
	struct job j;
	memset(&j, 0, sizeof j);
	j.pid = pid;
	j.out = p[0];
	j.mem = mem;
	j.start = now();
	j.deadline = j.start + (time_t)s->c.timeout;
	j.remote = remote;
	j.batched = batched;
	j.domain = domain;
	domain = NULL;
	j.it = it;
	it = NULL;
	j.n = live;
	job_add(s, &j);
out:
	for (size_t k = 0; k < nmap; k++)
		if (map[k].to != 1)
			close(map[k].from);
	free(it);
	free(ulen);
	free(num);
	free(domain);
	free(argv);
	str_free(&err);
}

/*
 * Under load, a few waiting local recipients wait a moment rather than
 * take a program of their own: while LOCAL_HOLD_RUNNING local calls run
 * and fewer than half a local-batch wait, they are held, for at most
 * LOCAL_HOLD_MS, so the next call takes them together with those that
 * come meanwhile.  One call per few recipients cost about 6% more CPU
 * per message end to end than calls of many (bench/README.md,
 * "Round 10"); the bound keeps a slow or stuck delivery from holding
 * anything longer.  Nothing is held without local batches, or when the
 * calls running are fewer.
 */
static int local_hold(struct sched *s)
{
	if (s->c.local_batch < 2 || s->nlocal < LOCAL_HOLD_RUNNING || s->todo_local >= s->c.local_batch / 2) {
		s->local_hold_until = 0;
		return 0;
	}
	long long t = clock_ms();
	if (!s->local_hold_until)
		s->local_hold_until = t + LOCAL_HOLD_MS;
	if (t < s->local_hold_until)
		return 1;
	s->local_hold_until = 0;
	return 0;
}

/* room for a local recipient after nloc taken in this call: in the last batch, or for a new one */
static int local_room(const struct sched *s, size_t nloc)
{
	size_t batch = s->c.local_batch;
	return nloc % batch != 0 || room(s->nlocal + nloc / batch, s->unsynced_local, s->c.conc_local);
}

/*
 * A domain's remote items that start_jobs puts together, of whole
 * messages: they go to ncalls delivery programs (slots taken), each of
 * up to remote-batch messages.
 */
struct rgroup {
	const char *domain; /* in the first message's envelope, which stays while its items run */
	struct items it;
	size_t nmsg, ncalls;
};

struct rgroups {
	struct rgroup *v;
	size_t n, cap, slots; /* slots: the groups' calls, all together */
};

/*
 * Waiting messages per call before a domain gets another (while
 * concurrency-domain allows): a burst to one domain goes out over
 * parallel connections, some messages on each, rather than all one after
 * another over one; yet a call is not started for every message that
 * finds a slot free, each paying a program's start (bench/README.md,
 * "Round 10").
 */
#define REMOTE_SHARE 4
/*
 * Recipients a domain's calls of one pass may carry between them: each
 * is an argument, and a call's arguments must stay well within what
 * execve takes (a quarter of the stack limit, 2 MiB by default; an
 * address is up to 256 octets).
 */
#define REMOTE_GROUP_RCPTS 1000

static int call_room(const struct sched *s, const struct rgroups *g, const char *dom, size_t calls)
{
	return room(s->nremote + g->slots, s->unsynced_remote, s->c.conc_remote) &&
	       domain_running(s, dom) + calls < s->c.conc_domain;
}

/*
 * The group m's recipients in domain dom join; NULL when they must wait.
 * A message is one unit of a call (a call's units are told apart by
 * message), so what remote-recipients left of one waits for the next pass,
 * as do the messages past REMOTE_GROUP_RCPTS.
 */
static struct rgroup *rgroup_for(struct sched *s, struct rgroups *g, const char *dom, const struct msg *m)
{
	size_t batch = s->c.remote_batch, share = batch < REMOTE_SHARE ? batch : REMOTE_SHARE;
	struct rgroup *r = NULL;
	for (size_t k = 0; k < g->n && !r; k++)
		if (strcasecmp(g->v[k].domain, dom) == 0)
			r = &g->v[k];
	if (r && (r->it.v[r->it.n - 1].m == m || r->it.n + s->c.remote_rcpts > REMOTE_GROUP_RCPTS))
		return NULL;
	if (!r) {
		if (!call_room(s, g, dom, 0))
			return NULL;
		g->v = xgrow(g->v, &g->cap, g->n, sizeof *g->v, 8);
		r = &g->v[g->n++];
		*r = (struct rgroup){ dom, { NULL, 0, 0 }, 0, 1 };
		g->slots++;
		return r;
	}
	if (r->nmsg < r->ncalls * share)
		return r;
	if (call_room(s, g, dom, r->ncalls)) {
		r->ncalls++;
		g->slots++;
		return r;
	}
	return r->nmsg < r->ncalls * batch ? r : NULL;
}

/* room for more remote recipients in this call: a new call, or one with room */
static int remote_room(const struct sched *s, const struct rgroups *g)
{
	for (size_t k = 0; k < g->n; k++)
		if (g->v[k].nmsg < g->v[k].ncalls * s->c.remote_batch)
			return 1;
	return room(s->nremote + g->slots, s->unsynced_remote, s->c.conc_remote);
}

/* a group's delivery programs: its messages shared out evenly, in order */
static void rgroup_start(struct sched *s, const struct rgroup *r)
{
	size_t k = 0;
	for (size_t c = 0, done = 0; c < r->ncalls && k < r->it.n; c++) {
		size_t want = (r->nmsg - done + (r->ncalls - c) - 1) / (r->ncalls - c), start = k;
		for (size_t m = 0; m < want && k < r->it.n; m++)
			k += unit_len(r->it.v, r->it.n, k, 1, 1);
		done += want;
		job_start(s, 1, r->it.v + start, k - start);
	}
}

/*
 * Start what the concurrency limits allow, oldest message first: the
 * untried remote recipients of one message and domain together, up to
 * remote-batch such messages of one domain to a program, local
 * recipients up to local-batch to a program (a batch holds one slot of
 * concurrency-local or -remote).  Called after every event, so it stops
 * as soon as no free slot has work for it and passes over the messages
 * that have none: with thousands of active messages, walking them all
 * each time cost more than the rest of a delivery's work in this process
 * (bench/README.md, "Results").  Jobs start after the walk, which may
 * have put a message's recipients into several of them: a message's
 * round is checked only once no job of this call can still fail to start
 * and release it.
 */
void start_jobs(struct sched *s)
{
	struct items loc = { NULL, 0, 0 };
	struct rgroups rg = { NULL, 0, 0, 0 };
	struct msg **touched = NULL; /* the messages with items taken, each once */
	size_t ntouched = 0, tcap = 0;
	size_t batch = s->c.local_batch;
	int hold = local_hold(s);
	for (struct msg *m = s->head, *next; m; m = next) {
		next = m->next;
		size_t running = m->running;
		int room_local = !hold && local_room(s, loc.n);
		int room_remote = remote_room(s, &rg);
		if (!(room_local && s->todo_local) && !(room_remote && s->todo_remote))
			break;
		if (m->gone || !((room_local && m->todo_local) || (room_remote && m->todo_remote)))
			continue;
		for (size_t i = 0; i < m->env.nrcpt && !m->gone; i++) {
			if (m->st.r[i].state != QR_PENDING || m->tried[i])
				continue;
			if (m->local[i]) {
				if (!hold && local_room(s, loc.n))
					take(s, m, i, 0, &loc);
				continue;
			}
			const char *dom = rcpt_domain(m->env.rcpt[i]);
			struct rgroup *r = rgroup_for(s, &rg, dom, m);
			if (!r)
				continue;
			/* every untried recipient in this domain, up to the per-call limit */
			size_t taken = 0;
			for (size_t k = i; k < m->env.nrcpt && taken < s->c.remote_rcpts; k++)
				if (m->st.r[k].state == QR_PENDING && !m->tried[k] &&
				    strcasecmp(rcpt_domain(m->env.rcpt[k]), dom) == 0) {
					take(s, m, k, 1, &r->it);
					taken++;
				}
			r->nmsg++;
		}
		if (m->running == running) {
			round_check(s, m);
			continue;
		}
		touched = xgrow(touched, &tcap, ntouched, sizeof *touched, 16);
		touched[ntouched++] = m;
	}
	for (size_t k = 0; k < rg.n; k++)
		rgroup_start(s, &rg.v[k]);
	for (size_t k = 0; k < loc.n; k += batch)
		job_start(s, 0, loc.v + k, loc.n - k < batch ? loc.n - k : batch);
	for (size_t k = 0; k < ntouched; k++)
		round_check(s, touched[k]);
	for (size_t k = 0; k < rg.n; k++)
		free(rg.v[k].it.v);
	free(touched);
	free(loc.v);
	free(rg.v);
}

/* load due messages while there is room among the active ones */
void promote(struct sched *s)
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
		msg_classify(s, m);
		round_check(s, m);
	}
}

void drain(struct job *j)
{
	char buf[8192];
	if (j->mem >= 0 && j->exited) {
		/* what it wrote ends at the offset it shares with us */
		off_t end = lseek(j->mem, 0, SEEK_CUR);
		size_t n = end > 0 ? (end < (off_t)OUT_MAX ? (size_t)end : OUT_MAX) : 0;
		j->buf.len = 0;
		str_ready(&j->buf, n);
		ssize_t r = n ? pread(j->mem, j->buf.s, n, 0) : 0;
		if (r < 0)
			warn_sys("unable to read delivery output");
		j->buf.len = r > 0 ? (size_t)r : 0;
		j->buf.s[j->buf.len] = '\0';
		close(j->mem);
		j->mem = -1;
	}
	while (j->out >= 0) {
		ssize_t r = read(j->out, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return; /* all there is for now */
		if (r < 0)
			warn_sys("unable to read delivery output");
		if (r <= 0) {
			close(j->out);
			j->out = -1;
			return;
		}
		if (j->buf.len < OUT_MAX)
			str_catb(&j->buf, buf, (size_t)r < OUT_MAX - j->buf.len ? (size_t)r : OUT_MAX - j->buf.len);
	}
}

/*
 * A job's outcome per recipient: kind[k] ('r', 'h' or 's') and text[k],
 * pointing into the job's output or into why.
 */
struct outcome {
	int *kind;
	const char **text;
	struct str why;
};

/* one recipient's exit code and first output line (deliver-local SENDER RCPT) */
static void finish_local(struct job *j, struct outcome *o)
{
	int code = child_exit_code(j->status);
	const char *nl = memchr(j->buf.s ? j->buf.s : "", '\n', j->buf.len);
	qstate_clean_text(&o->why, j->buf.s ? j->buf.s : "", nl ? (size_t)(nl - j->buf.s) : j->buf.len,
			  QSTATE_TEXT_MAX);
	int kind;
	if (j->killed) {
		kind = 's';
		o->why.len = 0;
		str_catf(&o->why, "delivery timed out after %lld seconds", (long long)(now() - j->start));
	} else if (code == 0)
		kind = 'r';
	else if (code == 111 || code == 75 || code >= 128)
		kind = 's'; /* 128+: killed by a signal, an accident rather than a verdict */
	else
		kind = 'h';
	if (!o->why.len) {
		if (code >= 128)
			str_catf(&o->why, "delivery program killed by signal %d", code - 128);
		else if (code != 0)
			str_catf(&o->why, "delivery program exited %d", code);
	}
	o->kind[0] = kind;
	o->text[0] = str_c(&o->why);
}

/*
 * Reports r/h/s + text + NUL, one per recipient (deliver-remote's, and
 * deliver-local -b's), then for deliver-remote K/D/Z + text + NUL for the
 * message; with deliver-remote -b, so for each message in turn.  An
 * accepted recipient counts only when the message was (K); with Z it is
 * deferred, with D it failed.  Recipients without a report share the
 * message's fate, or are deferred.  deliver-local -b has no message
 * report: each recipient's own report is its result.  A killed program's
 * complete reports (a message's with its K/D/Z) count as if it had
 * finished: deferring those would repeat deliveries that were done.
 */
static void finish_reports(struct job *j, struct outcome *o)
{
	const char *p = j->buf.s ? j->buf.s : "", *end = p + j->buf.len;
	const char **rep = xcalloc(j->n, sizeof *rep);
	int code = child_exit_code(j->status);
	if (j->killed)
		str_catf(&o->why, "delivery timed out after %lld seconds", (long long)(now() - j->start));
	else if (!j->remote)
		str_catf(&o->why, "local delivery program gave no report (exit %d)", code);
	else
		str_catf(&o->why, "remote delivery program gave no message report (exit %d)", code);
	for (size_t k = 0, u; k < j->n; k += u) {
		u = unit_len(j->it, j->n, k, j->remote, j->batched);
		size_t nrep = 0;
		const char *msgrep = j->remote ? NULL : "K";
		while (p < end && (j->remote || nrep < u)) {
			const char *z = memchr(p, '\0', (size_t)(end - p));
			if (!z || !*p)
				p = end;
			else if (nrep < u && strchr("rhs", *p))
				rep[nrep++] = p;
			else if (j->remote && strchr("KDZ", *p))
				msgrep = p;
			else
				p = end; /* not the contract: nothing after it is believed */
			if (p == end)
				break;
			p = z + 1;
			if (msgrep && j->remote)
				break;
		}
		for (size_t x = 0; x < u; x++) {
			const char *r = x < nrep ? rep[x] : NULL;
			/*
			 * Killed (delivery-timeout): what it reported in full
			 * before stands, as each report is written once that
			 * delivery is over; the rest are deferred.
			 */
			int killed = j->killed && !(j->remote ? msgrep : r);
			int kind;
			const char *text;
			if (!msgrep || killed) {
				kind = r && *r == 'h' && !killed ? 'h' : 's';
				text = kind == 'h' ? r + 1 : o->why.s;
			} else if (r && *r == 'h') {
				kind = 'h';
				text = r + 1;
			} else if (r && *r == 's') {
				kind = 's';
				text = r + 1;
			} else if (*msgrep == 'K') {
				kind = r ? 'r' : 's';
				text = r ? r + 1 : !j->remote ? o->why.s : "no report for this recipient";
				if (r && !r[1] && j->remote)
					text = msgrep + 1;
			} else {
				kind = *msgrep == 'D' ? 'h' : 's';
				text = msgrep + 1;
			}
			o->kind[k + x] = kind;
			o->text[k + x] = text;
		}
	}
	free(rep);
}

static void job_finish(struct sched *s, size_t k)
{
	struct job j = s->jobs[k];
	s->jobs[k] = s->jobs[--s->njobs];
	if (j.remote) {
		s->nremote--;
		s->unsynced_remote++;
	} else {
		s->nlocal--;
		s->unsynced_local++;
	}
	drain(&j);
	if (j.out >= 0)
		close(j.out); /* a grandchild may hold it open: what came is enough */
	struct outcome o = { xcalloc(j.n, sizeof *o.kind), xcalloc(j.n, sizeof *o.text), STR_INIT };
	if (j.remote || j.batched)
		finish_reports(&j, &o);
	else
		finish_local(&j, &o);
	settle(s, j.it, j.n, o.kind, o.text, 1);
	str_free(&o.why);
	free(o.kind);
	free(o.text);
	str_free(&j.buf);
	free(j.domain);
	free(j.it);
}

void reap(struct sched *s)
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

void kill_overdue(struct sched *s, time_t t)
{
	for (size_t k = 0; k < s->njobs; k++) {
		struct job *j = &s->jobs[k];
		if (!j->killed && t >= j->deadline) {
			log_line("event=timeout id=%s pid=%ld", j->it[0].m->e->id, (long)j->pid);
			kill(-j->pid, SIGKILL); /* its group: whatever it started too */
			j->killed = 1;
		}
	}
}

/*
 * At exit: the jobs still running (abandoned; their results are not
 * recorded, so they are retried) and the active messages.  Their entries
 * stay for index_free.
 */
void round_free(struct sched *s)
{
	for (size_t k = 0; k < s->njobs; k++) {
		struct job *j = &s->jobs[k];
		if (j->out >= 0)
			close(j->out);
		if (j->mem >= 0)
			close(j->mem);
		str_free(&j->buf);
		free(j->domain);
		free(j->it);
	}
	free(s->jobs);
	s->jobs = NULL;
	s->njobs = s->jobcap = s->nlocal = s->nremote = 0;
	while (s->head) {
		struct msg *m = s->head;
		s->head = m->next;
		m->e->m = NULL;
		msg_free(m);
	}
	s->tail = NULL;
	s->nactive = 0;
}
