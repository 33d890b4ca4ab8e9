/*
 * queue-ctl - the administrator's view of the queue (mailq, postqueue and
 * postsuper are the models): list, flush, delete, hold, release.
 * Invoked as "mailq" it lists.  See queue-ctl(8).
 *
 * queue-run may be moving the same files at the same moment, so every
 * change is one rename or unlink of a whole file, and a message that moved
 * between two directories while we looked is looked for again.  queue-run
 * copes with a message vanishing under it (queue-run(8)).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "conf.h"
#include "durable.h"
#include "die.h"
#include "log.h"
#include "qid.h"
#include "qstate.h"
#include "queue.h"

/* where a message can be, in the order it travels */
static const char *const homes[] = { "new", "msg", "hold" };
#define NHOMES (sizeof homes / sizeof homes[0])
#define MOVE_TRIES 5

static void span(struct str *out, long long s)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		str_catf(out, "%lldd%lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		str_catf(out, "%lldh%lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		str_catf(out, "%lldm%llds", s / 60, s % 60);
	else
		str_catf(out, "%llds", s);
}

/* an address from the queue file, with no control character reaching the terminal */
static void cat_addr(struct str *out, const char *a)
{
	str_catc(out, '<');
	qstate_clean_text(out, a, strlen(a), 1000);
	str_catc(out, '>');
}

struct totals {
	size_t msgs, pending;
};

/* one message's entry: the header line, then its undelivered recipients */
static void show(const char *qdir, const char *dir, const char *id, const char *where,
		 struct totals *tot)
{
	struct str p = STR_INIT, line = STR_INIT;
	str_catf(&p, "%s/%s", dir, id);
	int fd = openat(AT_FDCWD, p.s, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		str_free(&p);
		return; /* moved or finished while we listed */
	}
	struct envelope env = ENVELOPE_INIT;
	off_t body = 0;
	struct stat sb;
	/* corrupt/: set aside by queue-run, never delivered (doc/durability.md) */
	int corrupt = !strcmp(where, "corrupt");
	if (fstat(fd, &sb) < 0 || queue_header_read(fd, &env, &body) != 0) {
		printf("%s  %s(unreadable queue file)\n", id, corrupt ? "corrupt " : "");
		close(fd);
		envelope_free(&env);
		str_free(&p);
		return;
	}
	close(fd);
	struct qstate st;
	qstate_init(&st, env.nrcpt);
	queue_path(&p, qdir, "state", id);
	int sfd = openat(AT_FDCWD, p.s, O_RDONLY | O_CLOEXEC);
	if (sfd >= 0) {
		if (qstate_read(sfd, &st) < 0)
			warn_sys("unable to read %s", p.s);
		close(sfd);
	}
	time_t t = time(NULL);
	str_catf(&line, "%s  ", id);
	span(&line, (long long)(t - qid_time(id)));
	str_catf(&line, "  %lld  ", (long long)(sb.st_size - body));
	cat_addr(&line, env.sender);
	str_catf(&line, "  %s", where);
	if (st.attempts)
		str_catf(&line, "  attempts %lu", st.attempts);
	if (!strcmp(where, "queued")) {
		str_cats(&line, "  next ");
		if (st.next > t) {
			str_cats(&line, "in ");
			span(&line, (long long)(st.next - t));
		} else
			str_cats(&line, "now");
	}
	if (corrupt)
		str_cats(&line, "  (never delivered)");
	puts(line.s);
	tot->msgs++;
	for (size_t i = 0; i < env.nrcpt && !corrupt; i++) {
		const struct qstate_rcpt *r = &st.r[i];
		if (r->state == QR_DONE || r->state == QR_BOUNCED)
			continue;
		tot->pending++;
		str_copys(&line, "    ");
		cat_addr(&line, env.rcpt[i]);
		str_catf(&line, "  %s%s", r->state == QR_FAILED ? "failed, bounce pending: " : "",
			 r->text && *r->text ? r->text : r->state == QR_FAILED ? "" : "(not tried yet)");
		puts(line.s);
	}
	qstate_free(&st);
	envelope_free(&env);
	str_free(&p);
	str_free(&line);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_dir(const char *qdir, const char *dir, const char *where, struct totals *tot)
{
	DIR *d = opendir(dir);
	if (!d) {
		if (errno != ENOENT)
			warn_sys("unable to open %s", dir);
		return;
	}
	char **ids = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!qid_valid(de->d_name))
			continue;
		ids = xreallocarray(ids, n + 1, sizeof *ids);
		ids[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(ids, n, sizeof *ids, by_name);
	for (size_t i = 0; i < n; i++) {
		show(qdir, dir, ids[i], where, tot);
		free(ids[i]);
	}
	free(ids);
}

/* the quarantine directories' paths, for finding a message there */
static size_t quarantines(const char *qdir, struct str **out)
{
	struct str p = STR_INIT;
	queue_path(&p, qdir, "quarantine", NULL);
	size_t n = 0;
	*out = NULL;
	DIR *d = opendir(p.s);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			*out = xreallocarray(*out, n + 1, sizeof **out);
			(*out)[n] = (struct str)STR_INIT;
			str_catf(&(*out)[n], "%s/%s", p.s, de->d_name);
			n++;
		}
		closedir(d);
	}
	str_free(&p);
	return n;
}

static int cmd_list(const char *qdir)
{
	struct totals tot = { 0, 0 };
	struct str p = STR_INIT, w = STR_INIT;
	const char *where[] = { "new", "queued", "held" };
	for (size_t i = 0; i < NHOMES; i++) {
		queue_path(&p, qdir, homes[i], NULL);
		list_dir(qdir, p.s, where[i], &tot);
	}
	struct str *q;
	size_t nq = quarantines(qdir, &q);
	for (size_t i = 0; i < nq; i++) {
		str_copys(&w, "quarantined:");
		str_cats(&w, strrchr(q[i].s, '/') + 1);
		list_dir(qdir, q[i].s, w.s, &tot);
		str_free(&q[i]);
	}
	free(q);
	queue_path(&p, qdir, "corrupt", NULL);
	list_dir(qdir, p.s, "corrupt", &tot);
	if (tot.msgs)
		printf("-- %zu message%s, %zu recipient%s not yet delivered\n", tot.msgs,
		       tot.msgs == 1 ? "" : "s", tot.pending, tot.pending == 1 ? "" : "s");
	else
		puts("queue is empty");
	str_free(&p);
	str_free(&w);
	return 0;
}

static int cmd_flush(const char *qdir)
{
	if (queue_trigger(qdir, 'F') < 0) {
		if (errno == ENXIO || errno == ENOENT) /* no reader, or no FIFO yet */
			die(EXIT_SYS, "unable to flush: queue-run is not running");
		die_sys(EXIT_SYS, "unable to write %s/trigger", qdir);
	}
	log_line("event=flush");
	return 0;
}

enum { OP_DELETE, OP_HOLD, OP_RELEASE };

/*
 * One operation on one message.  0 done, 1 no such message (in the places
 * this operation takes it from).
 */
static int apply(const char *qdir, int op, const char *id)
{
	struct str from = STR_INIT, to = STR_INIT, *q = NULL;
	size_t nq = quarantines(qdir, &q);
	int r = 1;
	for (int tries = 0; tries < MOVE_TRIES && r == 1; tries++) {
		/*
		 * delete: anywhere, corrupt/ too; hold: new or msg; release: hold
		 * or quarantine (a corrupt file would only be set aside again)
		 */
		for (size_t i = 0; i <= NHOMES + nq && r == 1; i++) {
			int in_corrupt = i == NHOMES + nq;
			if (i < NHOMES)
				queue_path(&from, qdir, homes[i], id);
			else if (in_corrupt)
				queue_path(&from, qdir, "corrupt", id);
			else
				str_copys(&from, ""), str_catf(&from, "%s/%s", q[i - NHOMES].s, id);
			int in_hold = i == 2, in_q = i >= NHOMES && !in_corrupt;
			if (in_corrupt && op != OP_DELETE)
				continue;
			if (op == OP_HOLD && (in_hold || in_q))
				continue;
			if (op == OP_RELEASE && !in_hold && !in_q)
				continue;
			int rc;
			if (op == OP_DELETE)
				rc = unlink(from.s);
			else {
				queue_path(&to, qdir, op == OP_HOLD ? "hold" : "new", id);
				rc = renameat2(AT_FDCWD, from.s, AT_FDCWD, to.s, RENAME_NOREPLACE);
			}
			if (rc == 0)
				r = 0;
			else if (errno != ENOENT)
				die_sys(EXIT_SYS, "unable to %s %s",
					op == OP_DELETE ? "remove" : "move", from.s);
		}
	}
	if (r == 0 && op == OP_DELETE) {
		queue_path(&from, qdir, "state", id);
		if (unlink(from.s) < 0 && errno != ENOENT)
			die_sys(EXIT_SYS, "unable to remove %s", from.s);
	}
	if (r == 0 && op == OP_RELEASE) {
		/* durable before we say so; then wake queue-run if it is there */
		queue_path(&to, qdir, "new", NULL);
		if (fsync_dir(to.s) < 0)
			die_sys(EXIT_SYS, "unable to sync %s", to.s);
		(void)queue_trigger(qdir, '\0');
	}
	if (r == 0)
		log_line("event=%s id=%s", op == OP_DELETE ? "delete" : op == OP_HOLD ? "hold" : "release", id);
	for (size_t i = 0; i < nq; i++)
		str_free(&q[i]);
	free(q);
	str_free(&from);
	str_free(&to);
	return r;
}

static void usage(void)
{
	die(EXIT_USAGE, "usage: queue-ctl list | flush | delete ID... | hold ID... | release ID...");
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	if (!strcmp(program_invocation_short_name, "mailq")) {
		if (argc > 1)
			die(EXIT_USAGE, "usage: mailq");
		cmd = "list";
	}
	if (!cmd)
		usage();
	struct str qdir = STR_INIT;
	if (queue_dir(&qdir) < 0)
		die_sys(EXIT_SYS, "unable to read queuedir in %s", conf_dir());
	if (!strcmp(cmd, "list") || !strcmp(cmd, "flush")) {
		if (argc > 2)
			usage();
		int r = cmd[0] == 'l' ? cmd_list(qdir.s) : cmd_flush(qdir.s);
		str_free(&qdir);
		return r;
	}
	int op = !strcmp(cmd, "delete") ? OP_DELETE : !strcmp(cmd, "hold") ? OP_HOLD
		: !strcmp(cmd, "release") ? OP_RELEASE : -1;
	if (op < 0 || argc < 3)
		usage();
	int missing = 0;
	for (int i = 2; i < argc; i++) {
		if (!qid_valid(argv[i])) {
			warn_msg("not a queue id: %s", argv[i]);
			missing = 1;
		} else if (apply(qdir.s, op, argv[i]) != 0) {
			warn_msg("%s: no such message%s", argv[i],
				 op == OP_HOLD ? " waiting for delivery" : op == OP_RELEASE ? " held" : "");
			missing = 1;
		}
	}
	str_free(&qdir);
	return missing ? EXIT_USAGE : 0;
}
