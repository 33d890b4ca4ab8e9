/* policy.c - the policy delegation protocol codec (see policy.h). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "policy.h"

void policy_req_clear(struct policy_req *req)
{
	for (size_t i = 0; i < req->n; i++) {
		free(req->a[i].name);
		free(req->a[i].value);
	}
	req->n = 0;
}

void policy_req_free(struct policy_req *req)
{
	policy_req_clear(req);
	free(req->a);
	req->a = NULL;
	req->cap = 0;
}

static void add(struct policy_req *req, const char *name, size_t nlen, const char *value, size_t vlen)
{
	req->a = xgrow(req->a, &req->cap, req->n, sizeof *req->a, 32);
	req->a[req->n].name = xstrndup(name, nlen);
	req->a[req->n].value = xstrndup(value, vlen);
	req->n++;
}

int policy_add(struct policy_req *req, const char *name, const char *value)
{
	if (!*name || strpbrk(name, "=\n") || strchr(value, '\n'))
		return -1;
	add(req, name, strlen(name), value, strlen(value));
	return 0;
}

const char *policy_get(const struct policy_req *req, const char *name)
{
	for (size_t i = req->n; i-- > 0;)
		if (strcmp(req->a[i].name, name) == 0)
			return req->a[i].value;
	return NULL;
}

int policy_read(struct bio *in, struct policy_req *req, struct str *why)
{
	struct str line = STR_INIT;
	int r;
	policy_req_clear(req);
	for (;;) {
		int g = bio_getline(in, &line, POLICY_LINE_MAX);
		if (g == BIO_ERR) {
			r = POLICY_ERR;
			break;
		}
		if (g == BIO_EOF) {
			if (line.len == 0 && req->n == 0) {
				r = POLICY_EOF;
				break;
			}
			str_copys(why, "end of input inside a request");
			r = POLICY_BAD;
			break;
		}
		if (g == BIO_LONG) {
			str_copyb(why, "", 0);
			str_catf(why, "line longer than %u bytes", POLICY_LINE_MAX);
			r = POLICY_BAD;
			break;
		}
		line.s[--line.len] = '\0'; /* the LF */
		if (line.len == 0) {
			r = POLICY_OK;
			break;
		}
		const char *eq = memchr(line.s, '=', line.len);
		if (!eq || eq == line.s || memchr(line.s, '\0', line.len)) {
			str_copys(why, "line is not name=value");
			r = POLICY_BAD;
			break;
		}
		if (req->n >= POLICY_ATTR_MAX) {
			str_copyb(why, "", 0);
			str_catf(why, "more than %u attributes", POLICY_ATTR_MAX);
			r = POLICY_BAD;
			break;
		}
		add(req, line.s, (size_t)(eq - line.s), eq + 1, line.len - (size_t)(eq - line.s) - 1);
	}
	int e = errno;
	str_free(&line);
	errno = e;
	return r;
}

void policy_encode(const struct policy_req *req, struct str *out)
{
	for (size_t i = 0; i < req->n; i++)
		str_catf(out, "%s=%s\n", req->a[i].name, req->a[i].value);
	str_catc(out, '\n');
}

void policy_reply_encode(const char *action, struct str *out)
{
	str_cats(out, "action=");
	str_catb(out, action, strcspn(action, "\r\n"));
	str_cats(out, "\n\n");
}

int policy_reply_read(struct bio *in, struct str *action, struct str *why)
{
	struct policy_req rep = POLICY_REQ_INIT;
	int r = policy_read(in, &rep, why);
	if (r == POLICY_OK) {
		const char *a = policy_get(&rep, "action");
		if (a && *a)
			str_copys(action, a);
		else {
			str_copys(why, "reply without an action");
			r = POLICY_BAD;
		}
	} else if (r == POLICY_EOF) {
		str_copys(why, "policy server closed the connection");
		r = POLICY_BAD;
	}
	policy_req_free(&rep);
	return r;
}

static const struct {
	const char *word;
	enum policy_kind kind;
} words[] = {
	{ "OK", PA_OK }, { "DUNNO", PA_DUNNO }, { "REJECT", PA_REJECT }, { "DEFER", PA_DEFER },
	{ "DEFER_IF_PERMIT", PA_DEFER_IF_PERMIT }, { "DEFER_IF_REJECT", PA_DEFER_IF_REJECT },
	{ "HOLD", PA_HOLD }, { "DISCARD", PA_DISCARD }, { "PREPEND", PA_PREPEND },
	{ "REDIRECT", PA_REDIRECT }, { "BCC", PA_BCC }, { "WARN", PA_WARN }, { "INFO", PA_INFO },
	{ "FILTER", PA_FILTER },
};

void policy_action_parse(const char *action, struct policy_action *pa)
{
	size_t w = 0;
	while (action[w] && !isspace((unsigned char)action[w]))
		w++;
	const char *rest = action + w;
	while (*rest && isspace((unsigned char)*rest))
		rest++;
	pa->kind = PA_UNKNOWN;
	pa->code = 0;
	pa->text = rest;
	if (w == 3 && (action[0] == '4' || action[0] == '5') && isdigit((unsigned char)action[1]) &&
	    isdigit((unsigned char)action[2])) {
		pa->kind = PA_CODE;
		pa->code = (unsigned)((action[0] - '0') * 100 + (action[1] - '0') * 10 + (action[2] - '0'));
		return;
	}
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strlen(words[i].word) == w && strncasecmp(action, words[i].word, w) == 0) {
			pa->kind = words[i].kind;
			return;
		}
	pa->text = action;
}
