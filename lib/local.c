/*
 * local.c - local recipient resolution (see local.h for the rules).
 *
 * The tables are read afresh on every call (table_lookup), so an edited or
 * rebuilt table takes effect at the next RCPT or delivery.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "conf.h"
#include "local.h"
#include "table.h"

struct ctx {
	struct local_result *r;
	const struct conf_list *locals;
	unsigned long long depth_max, dest_max, min_uid, max_uid, system;
	unsigned long long resolved, resolve_max; /* addresses looked at: the work done */
	char **path; /* addresses being expanded, outermost first */
	size_t npath;
	int alias_owner_known, alias_as_user;
	uid_t alias_uid;
	gid_t alias_gid;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct ctx *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	str_copys(&c->r->why, "");
	str_vcatf(&c->r->why, fmt, ap);
	va_end(ap);
	return code;
}

static int add_dest(struct ctx *c, int kind, const char *target, int as_user, uid_t uid,
		    gid_t gid, const char *user, const char *home)
{
	struct local_result *r = c->r;
	for (size_t i = 0; i < r->n; i++) {
		struct local_dest *d = &r->dest[i];
		if (d->kind == kind && strcmp(d->target, target) == 0 && d->as_user == as_user &&
		    (!as_user || d->uid == uid))
			return LOCAL_FOUND;
	}
	if (r->n >= c->dest_max)
		return fail(c, LOCAL_PERM, "5.3.0 %s expands to too many destinations",
			    c->path[0]);
	r->dest = xreallocarray(r->dest, r->n + 1, sizeof *r->dest);
	struct local_dest *d = &r->dest[r->n++];
	d->kind = kind;
	d->target = xstrdup(target);
	d->as_user = as_user;
	d->uid = uid;
	d->gid = gid;
	d->user = xstrdup(user ? user : "");
	d->home = xstrdup(home ? home : "");
	return LOCAL_FOUND;
}

/* a path target: maildir when it ends in '/', relative to the conf dir */
static int add_path(struct ctx *c, const char *p, int as_user, uid_t uid, gid_t gid,
		    const char *user, const char *home)
{
	struct str full = STR_INIT;
	conf_resolve(p, &full);
	int kind = full.s[full.len - 1] == '/' ? LOCAL_MAILDIR : LOCAL_MBOX;
	int r = add_dest(c, kind, full.s, as_user, uid, gid, user, home);
	str_free(&full);
	return r;
}

/*
 * Files and commands named in the aliases table run as the table's owner:
 * whoever can write the table could run them as that owner anyway.
 */
static void alias_owner(struct ctx *c)
{
	if (c->alias_owner_known)
		return;
	c->alias_owner_known = 1;
	struct str p = STR_INIT;
	struct stat st;
	conf_path("aliases.cdb", &p);
	int r = stat(p.s, &st);
	if (r < 0) {
		conf_path("aliases", &p);
		r = stat(p.s, &st);
	}
	str_free(&p);
	if (r == 0 && geteuid() == 0 && st.st_uid != 0) {
		c->alias_as_user = 1;
		c->alias_uid = st.st_uid;
		c->alias_gid = st.st_gid;
	}
}

static int table_error(struct ctx *c, const char *table)
{
	return fail(c, LOCAL_TEMP, "4.3.0 unable to read table %s: %s", table, strerror(errno));
}

/* getpwnam: 1 found, 0 no such account, -1 error */
static int account(const char *name, struct passwd **pw)
{
	errno = 0;
	*pw = getpwnam(name);
	if (*pw)
		return 1;
	if (errno == 0 || errno == ENOENT || errno == ESRCH || errno == EBADF || errno == EPERM)
		return 0;
	return -1;
}

static int resolve(struct ctx *c, const char *addr, int aliases_ok);
static int on_path(const struct ctx *c, const char *addr);

static int expand(struct ctx *c, const char *name, const char *domain, const char *value)
{
	const char *p = value;
	alias_owner(c);
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		const char *t = p;
		conf_trim(&t, &n);
		p = e ? e + 1 : p + strlen(p);
		if (n == 0)
			continue;
		char *target = xstrndup(t, n);
		int r;
		if (target[0] == '|') {
			const char *cmd = target + 1;
			while (*cmd == ' ' || *cmd == '\t')
				cmd++;
			r = add_dest(c, LOCAL_PROGRAM, cmd, c->alias_as_user, c->alias_uid,
				     c->alias_gid, "", "");
		} else if (strchr(target, '/')) {
			r = add_path(c, target, c->alias_as_user, c->alias_uid, c->alias_gid, "", "");
		} else {
			struct str a = STR_INIT;
			str_cats(&a, target);
			if (!strchr(target, '@'))
				str_catf(&a, "@%s", domain);
			str_lower(&a);
			int again = on_path(c, a.s);
			r = resolve(c, a.s, 1);
			if (r == LOCAL_UNKNOWN && again) {
				r = LOCAL_FOUND; /* back where we came from, no mailbox: nothing more */
			} else if (r == LOCAL_UNKNOWN) {
				const char *at = strrchr(a.s, '@');
				if (conf_domain_match(c->locals, at + 1))
					r = fail(c, LOCAL_PERM, "5.1.1 alias %s: no such user %s", name, a.s);
				else
					r = add_dest(c, LOCAL_FORWARD, a.s, 0, 0, 0, "", "");
			}
			str_free(&a);
		}
		free(target);
		if (r != LOCAL_FOUND)
			return r;
	}
	return LOCAL_FOUND;
}

/* look key up in aliases; LOCAL_UNKNOWN when absent */
static int try_alias(struct ctx *c, const char *key, const char *domain)
{
	struct str v = STR_INIT;
	int r = table_lookup("aliases", key, &v);
	if (r < 0)
		r = table_error(c, "aliases");
	else if (r == 0)
		r = LOCAL_UNKNOWN;
	else
		r = expand(c, key, domain, v.s);
	str_free(&v);
	return r;
}

/* "mailbox [owner]" from the users table */
static int try_users(struct ctx *c, const char *key)
{
	struct str v = STR_INIT;
	int r = table_lookup("users", key, &v);
	if (r < 0) {
		r = table_error(c, "users");
	} else if (r == 0 || v.len == 0) {
		r = LOCAL_UNKNOWN;
	} else {
		char *sp = strpbrk(v.s, " \t");
		const char *owner = NULL;
		if (sp) {
			*sp = '\0';
			owner = sp + 1;
			while (*owner == ' ' || *owner == '\t')
				owner++;
		}
		if (owner && *owner) {
			struct passwd *pw;
			int a = account(owner, &pw);
			if (a < 0)
				r = fail(c, LOCAL_TEMP, "4.3.0 unable to look up account %s: %s", owner,
					 strerror(errno));
			else if (a == 0)
				r = fail(c, LOCAL_TEMP, "4.3.0 users: %s: no such owner account %s", key,
					 owner);
			else
				r = add_path(c, v.s, 1, pw->pw_uid, pw->pw_gid, pw->pw_name, pw->pw_dir);
		} else {
			r = add_path(c, v.s, 0, 0, 0, "", "");
		}
	}
	str_free(&v);
	return r;
}

static int try_account(struct ctx *c, const char *name)
{
	struct passwd *pw;
	int a = account(name, &pw);
	if (a < 0)
		return fail(c, LOCAL_TEMP, "4.3.0 unable to look up account %s: %s", name,
			    strerror(errno));
	if (a == 0 || pw->pw_uid == 0 || pw->pw_uid < c->min_uid || pw->pw_uid > c->max_uid ||
	    pw->pw_dir[0] != '/')
		return LOCAL_UNKNOWN;
	struct str md = STR_INIT;
	str_cats(&md, pw->pw_dir);
	if (md.s[md.len - 1] != '/')
		str_catc(&md, '/');
	str_cats(&md, "Maildir/");
	int r = add_dest(c, LOCAL_MAILDIR, md.s, 1, pw->pw_uid, pw->pw_gid, pw->pw_name, pw->pw_dir);
	str_free(&md);
	return r;
}

static int on_path(const struct ctx *c, const char *addr)
{
	for (size_t i = 0; i < c->npath; i++)
		if (strcmp(c->path[i], addr) == 0)
			return 1;
	return 0;
}

static int resolve_names(struct ctx *c, const char *local, const char *domain, int is_local,
			 int aliases_ok)
{
	struct str key = STR_INIT;
	str_catf(&key, "%s@%s", local, domain);
	int r = try_users(c, key.s);
	if (r == LOCAL_UNKNOWN && aliases_ok)
		r = try_alias(c, key.s, domain);
	if (r == LOCAL_UNKNOWN && aliases_ok && is_local)
		r = try_alias(c, local, domain);
	str_free(&key);
	return r;
}

static int resolve(struct ctx *c, const char *addr, int aliases_ok)
{
	if (c->npath > c->depth_max)
		return fail(c, LOCAL_PERM, "5.4.6 alias nesting too deep at %s", addr);
	/* depth alone does not bound the work: 4 targets a level, 10 levels deep is 4^10 */
	if (++c->resolved > c->resolve_max)
		return fail(c, LOCAL_PERM, "5.4.6 %s expands through more than %llu addresses",
			    c->npath ? c->path[0] : addr, c->resolve_max);
	if (aliases_ok && on_path(c, addr))
		aliases_ok = 0; /* expanding itself: its own mailbox, no further */
	const char *at = strrchr(addr, '@');
	if (!at || at == addr || !at[1])
		return fail(c, LOCAL_UNKNOWN, "5.1.3 bad recipient address %s", addr);
	char *local = xstrndup(addr, (size_t)(at - addr));
	const char *domain = at + 1;
	int is_local = conf_domain_match(c->locals, domain);
	char *plus = strchr(local, '+');
	char *base = plus && plus != local ? xstrndup(local, (size_t)(plus - local)) : NULL;

	c->path = xreallocarray(c->path, c->npath + 1, sizeof *c->path);
	c->path[c->npath++] = xstrdup(addr);
	int r = resolve_names(c, local, domain, is_local, aliases_ok);
	if (r == LOCAL_UNKNOWN && base) {
		if (c->npath == 1) {
			free(c->r->ext);
			c->r->ext = xstrdup(plus + 1);
		}
		r = resolve_names(c, base, domain, is_local, aliases_ok);
	}
	if (r == LOCAL_UNKNOWN && is_local && c->system) {
		r = try_account(c, local);
		if (r == LOCAL_UNKNOWN && base)
			r = try_account(c, base);
	}
	if (r == LOCAL_UNKNOWN && aliases_ok) {
		struct str key = STR_INIT;
		str_catf(&key, "@%s", domain);
		r = try_alias(c, key.s, domain);
		str_free(&key);
	}
	free(c->path[--c->npath]);
	free(base);
	free(local);
	if (r == LOCAL_UNKNOWN)
		fail(c, LOCAL_UNKNOWN, "5.1.1 no such user %s", addr);
	return r;
}

/* r empty, before a resolution */
static void result_start(struct local_result *r)
{
	r->dest = NULL;
	r->n = 0;
	r->ext = xstrdup("");
	str_copys(&r->why, "");
}

int local_resolve_conf(const char *addr, const struct conf_list *locals, const struct conf_list *limits,
		       struct local_result *r)
{
	struct ctx c;
	memset(&c, 0, sizeof c);
	c.r = r;
	c.locals = locals;
	result_start(r);
	conf_limit(limits, "local-alias-depth", 10, &c.depth_max);
	conf_limit(limits, "local-destinations", 1000, &c.dest_max);
	conf_limit(limits, "local-alias-lookups", 10000, &c.resolve_max);
	conf_limit(limits, "local-min-uid", 1000, &c.min_uid);
	conf_limit(limits, "local-max-uid", 59999, &c.max_uid);
	conf_limit(limits, "local-system-accounts", 1, &c.system);

	struct str a = STR_INIT;
	str_cats(&a, addr);
	str_lower(&a);
	int ret = resolve(&c, a.s, 1);
	if (ret == LOCAL_FOUND && r->n == 0)
		ret = fail(&c, LOCAL_UNKNOWN, "5.4.6 %s expands to nothing (alias loop?)", a.s);
	str_free(&a);
	free(c.path);
	return ret;
}

int local_resolve(const char *addr, struct local_result *r)
{
	struct conf_list locals = CONF_LIST_INIT, limits = CONF_LIST_INIT;
	const char *unread = conf_list_read("locals", &locals) < 0   ? "locals"
			     : conf_list_read("limits", &limits) < 0 ? "limits"
								     : NULL;
	int ret;
	if (unread) {
		int e = errno;
		result_start(r);
		str_catf(&r->why, "4.3.0 unable to read %s: %s", unread, strerror(e));
		ret = LOCAL_TEMP;
	} else {
		ret = local_resolve_conf(addr, &locals, &limits, r);
	}
	conf_list_free(&locals);
	conf_list_free(&limits);
	return ret;
}

void local_result_free(struct local_result *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->dest[i].target);
		free(r->dest[i].user);
		free(r->dest[i].home);
	}
	free(r->dest);
	free(r->ext);
	str_free(&r->why);
	r->dest = NULL;
	r->ext = NULL;
	r->n = 0;
}

/* a resolution's code, its why copied out, r freed: what RCPT needs */
static int rcpt_code(int code, struct local_result *r, struct str *why)
{
	if (why)
		str_copyb(why, r->why.s ? r->why.s : "", r->why.len);
	local_result_free(r);
	return code;
}

int local_rcpt_check(const char *addr, struct str *why)
{
	struct local_result r = LOCAL_RESULT_INIT;
	int code = local_resolve(addr, &r);
	return rcpt_code(code, &r, why);
}

int local_rcpt_check_conf(const char *addr, const struct conf_list *locals, const struct conf_list *limits,
			  struct str *why)
{
	struct local_result r = LOCAL_RESULT_INIT;
	int code = local_resolve_conf(addr, locals, limits, &r);
	return rcpt_code(code, &r, why);
}

int local_rcpt_exists(const char *addr)
{
	switch (local_rcpt_check(addr, NULL)) {
	case LOCAL_FOUND:
		return 1;
	case LOCAL_TEMP:
		return -1;
	default:
		return 0;
	}
}
