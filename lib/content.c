/* content.c - the eom stage's work on a message (see content.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "bio.h"
#include "child.h"
#include "content.h"
#include "durable.h"
#include "header.h"
#include "queue.h"

#define RUN_OUTPUT_MAX 65536

int content_spool(struct content *c, int in, const char *tmpdir, int run_timeout_ms)
{
	memset(c, 0, sizeof *c);
	c->tmpdir = tmpdir;
	c->run_timeout_ms = run_timeout_ms;
	c->fd = tmpfile_in(tmpdir);
	if (c->fd < 0)
		return -1;
	char buf[65536];
	for (;;) {
		ssize_t r = read(in, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			errno = EIO;
			return -1;
		}
		if (r == 0)
			break;
		if (fd_write_all(c->fd, buf, (size_t)r) < 0)
			return -1;
		c->len += (size_t)r;
	}
	if (c->len) {
		void *m = mmap(NULL, c->len, PROT_READ, MAP_PRIVATE, c->fd, 0);
		if (m == MAP_FAILED)
			return -1;
		c->map = m;
	}
	c->hdr_len = header_len(c->map ? c->map : "", c->len);
	return 0;
}

void content_free(struct content *c)
{
	if (c->map)
		munmap((void *)c->map, c->len);
	if (c->fd >= 0)
		close(c->fd);
	for (size_t i = 0; i < c->nruns; i++)
		free(c->runs[i].cmd);
	free(c->runs);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

int content_run(void *arg, const char *cmd, struct str *out)
{
	struct content *c = arg;
	for (size_t i = 0; i < c->nruns; i++)
		if (strcmp(c->runs[i].cmd, cmd) == 0)
			return c->runs[i].code;
	char **argv = child_argv_split(cmd);
	int p[2] = { -1, -1 }, code = -1, ro = -1;
	pid_t pid = -1;
	/* a read-only descriptor of its own: the checker cannot change the message */
	struct str self = STR_INIT;
	str_catf(&self, "/proc/self/fd/%d", c->fd);
	ro = openat(AT_FDCWD, self.s, O_RDONLY | O_CLOEXEC);
	str_free(&self);
	if (!argv[0] || ro < 0 || pipe2(p, O_CLOEXEC) < 0)
		goto out;
	struct child_fd map[2] = { { ro, 0 }, { p[1], 1 } };
	pid = child_spawn(argv, map, 2, NULL);
	close(ro);
	ro = -1;
	close(p[1]);
	p[1] = -1;
	if (pid < 0)
		goto out;
	long long deadline = clock_ms() + c->run_timeout_ms;
	char buf[8192];
	int timed_out = 0;
	for (;;) {
		long long left = deadline - clock_ms();
		ssize_t r = left > 0 ? fd_read_timeout(p[0], buf, sizeof buf, (int)left) : -1;
		if (r < 0) {
			timed_out = 1; /* or a read error: either way the verdict is unknown */
			kill(pid, SIGKILL);
			break;
		}
		if (r == 0)
			break;
		if (out->len < RUN_OUTPUT_MAX)
			str_catb(out, buf, (size_t)r > RUN_OUTPUT_MAX - out->len ? RUN_OUTPUT_MAX - out->len : (size_t)r);
	}
	int st = child_wait(pid);
	if (!timed_out && st >= 0 && child_exit_code(st) < 128)
		code = child_exit_code(st);
out:
	if (ro >= 0)
		close(ro);
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	child_argv_free(argv);
	if (code >= 0) {
		c->runs = xreallocarray(c->runs, c->nruns + 1, sizeof *c->runs);
		c->runs[c->nruns].cmd = xstrdup(cmd);
		c->runs[c->nruns++].code = code;
	}
	return code;
}

static int removed(const struct rules_verdict *v, const struct header_field *f)
{
	for (size_t i = 0; i < v->neff; i++) {
		const struct rules_effect *e = &v->eff[i];
		if (e->kind == RK_REMOVE_HEADER && header_name_is(f, e->arg))
			return 1;
		if (e->kind == RK_REPLACE_HEADER) {
			size_t n = strcspn(e->arg, ":");
			if (n == f->namelen && strncasecmp(e->arg, f->name, n) == 0)
				return 1;
		}
	}
	return 0;
}

void content_headers(const struct content *c, const struct rules_verdict *v, struct str *hdr)
{
	str_copyb(hdr, "", 0);
	for (size_t i = 0; i < v->neff; i++)
		if (v->eff[i].kind == RK_ADD_HEADER || v->eff[i].kind == RK_REPLACE_HEADER) {
			str_cats(hdr, v->eff[i].arg);
			str_catc(hdr, '\n');
		}
	size_t hpos = 0;
	struct header_field f;
	const char *hbuf = c->map ? c->map : "";
	size_t hlen = c->hdr_len;
	while (header_next(hbuf, hlen, &hpos, &f))
		if (!removed(v, &f))
			str_catb(hdr, f.raw, f.rawlen);
}

int content_write(int fd, const struct str *hdr, const struct content *c)
{
	if (hdr->len && fd_write_all(fd, hdr->s, hdr->len) < 0)
		return -1;
	if (c->len > c->hdr_len && fd_write_all(fd, c->map + c->hdr_len, c->len - c->hdr_len) < 0)
		return -1;
	return 0;
}

/* write data to dir/name through dir/.name.tmp, synced; the caller syncs dir */
static int write_file(const char *dir, const char *name, const struct str *pre, const struct str *hdr,
		      const struct content *c)
{
	struct str tmp = STR_INIT, dst = STR_INIT;
	str_catf(&tmp, "%s/.%s.tmp", dir, name);
	str_catf(&dst, "%s/%s", dir, name);
	int r = -1;
	int fd = openat(AT_FDCWD, tmp.s, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd >= 0) {
		int ok = (!pre || fd_write_all(fd, pre->s, pre->len) == 0) && (!c || content_write(fd, hdr, c) == 0) &&
			 fdatasync(fd) == 0;
		int e = errno;
		if (close(fd) < 0 && ok)
			ok = 0, e = errno;
		if (ok && rename(tmp.s, dst.s) == 0)
			r = 0;
		else {
			e = errno;
			unlink(tmp.s);
		}
		errno = e;
	}
	int e = errno;
	str_free(&tmp);
	str_free(&dst);
	errno = e;
	return r;
}

/* a JSON string; bytes that are not UTF-8 become U+FFFD */
static void json_string(struct str *o, const char *s, size_t n)
{
	str_catc(o, '"');
	for (size_t i = 0; i < n;) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			str_catc(o, '\\');
			str_catc(o, (char)ch);
			i++;
		} else if (ch < 0x20 || ch == 0x7f) {
			str_catf(o, "\\u%04x", ch);
			i++;
		} else if (ch < 0x80) {
			str_catc(o, (char)ch);
			i++;
		} else {
			size_t k = ch >= 0xf0 && ch < 0xf5 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc2 && ch < 0xe0 ? 2 : 0;
			size_t j = 1;
			while (k && j < k && i + j < n && ((unsigned char)s[i + j] & 0xc0) == 0x80)
				j++;
			if (k && j == k) {
				str_catb(o, s + i, k);
				i += k;
			} else {
				str_cats(o, "\\ufffd");
				i += j;
			}
		}
	}
	str_catc(o, '"');
}

int content_export(const char *dir, const char *id, const struct envelope *env, const char *const *facts,
		   const struct str *hdr, const struct content *c)
{
	struct str name = STR_INIT, j = STR_INIT, v = STR_INIT;
	str_cats(&j, "{\"id\":");
	json_string(&j, id, strlen(id));
	str_cats(&j, ",\"sender\":");
	json_string(&j, env->sender, strlen(env->sender));
	str_cats(&j, ",\"recipients\":[");
	for (size_t i = 0; i < env->nrcpt; i++) {
		if (i)
			str_catc(&j, ',');
		json_string(&j, env->rcpt[i], strlen(env->rcpt[i]));
	}
	str_cats(&j, "],\"connection\":{");
	for (size_t i = 0; facts[i]; i += 2) {
		if (i)
			str_catc(&j, ',');
		json_string(&j, facts[i], strlen(facts[i]));
		str_catc(&j, ':');
		json_string(&j, facts[i + 1], strlen(facts[i + 1]));
	}
	str_cats(&j, "},\"headers\":[");
	size_t hpos = 0;
	struct header_field f;
	const char *hbuf = hdr->s ? hdr->s : "";
	size_t hlen = hdr->len;
	for (int first = 1; header_next(hbuf, hlen, &hpos, &f); first = 0) {
		header_unfold(f.value, f.valuelen, &v);
		str_cats(&j, first ? "{\"name\":" : ",{\"name\":");
		json_string(&j, f.name, f.namelen);
		str_cats(&j, ",\"value\":");
		json_string(&j, v.s, v.len);
		str_catc(&j, '}');
	}
	str_cats(&j, "]}\n");
	int r = -1;
	str_catf(&name, "%s.eml", id);
	if (write_file(dir, name.s, NULL, hdr, c) == 0) {
		str_copyb(&name, "", 0);
		str_catf(&name, "%s.json", id);
		if (write_file(dir, name.s, &j, NULL, NULL) == 0)
			r = fsync_dir(dir);
	}
	int e = errno;
	str_free(&name);
	str_free(&j);
	str_free(&v);
	errno = e;
	return r;
}
