/*
 * fuzz/policy.c - the policy delegation protocol codec (lib/policy.c):
 * requests as smtp-filter -p reads them, replies as smtp-recv reads them,
 * and access(5) actions.
 *
 * The first byte chooses the read buffer and how the input is cut into
 * pieces; the rest is the stream.  Checked, for every request read:
 *  - at most POLICY_ATTR_MAX attributes, names non-empty without '=',
 *    nothing holding LF or NUL;
 *  - encoding it and reading that back gives the same attributes, and
 *    policy_get finds the last attribute of a name;
 *  - policy_add accepts exactly the attributes the framing can carry;
 *  - every value parses as an action: a code only for 4NN/5NN, its text
 *    inside the value;
 * and for the stream read as a reply: an action is non-empty, and the
 * encoded reply reads back as the same action.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "policy.h"

static void bio_over(struct bio *b, struct fuzz_feed *f, const void *p, size_t n, size_t bufsize,
		     size_t piece, uint32_t seed)
{
	fuzz_feed_init(f, p, n, piece, seed);
	bio_init(b, -1, bufsize, -1);
	bio_set_ops(b, &fuzz_feed_ops, f);
}

static void check_action(const char *v)
{
	struct policy_action pa;
	policy_action_parse(v, &pa);
	FUZZ_CHECK(pa.kind >= PA_UNKNOWN && pa.kind <= PA_FILTER);
	FUZZ_CHECK(pa.text >= v && pa.text <= v + strlen(v));
	if (pa.kind == PA_CODE)
		FUZZ_CHECK(pa.code >= 400 && pa.code <= 599 && (v[3] == '\0' || isspace((unsigned char)v[3])));
	else
		FUZZ_CHECK(pa.code == 0);
}

static void check_request(const struct policy_req *req)
{
	FUZZ_CHECK(req->n <= POLICY_ATTR_MAX);
	struct policy_req copy = POLICY_REQ_INIT;
	for (size_t i = 0; i < req->n; i++) {
		const char *k = req->a[i].name, *v = req->a[i].value;
		FUZZ_CHECK(*k && !strpbrk(k, "=\n") && !strchr(v, '\n'));
		FUZZ_CHECK(strlen(k) + 1 + strlen(v) < POLICY_LINE_MAX);
		FUZZ_CHECK(policy_add(&copy, k, v) == 0);
		size_t last = i;
		for (size_t j = i + 1; j < req->n; j++)
			if (strcmp(req->a[j].name, k) == 0)
				last = j;
		FUZZ_CHECK(policy_get(req, k) == req->a[last].value);
		check_action(v);
	}
	/* round trip through the wire form */
	struct str wire = STR_INIT, why = STR_INIT;
	policy_encode(req, &wire);
	struct bio b;
	struct fuzz_feed f;
	bio_over(&b, &f, wire.s, wire.len, 7, 5, (uint32_t)wire.len);
	struct policy_req back = POLICY_REQ_INIT;
	if (req->n) {
		FUZZ_CHECK(policy_read(&b, &back, &why) == POLICY_OK);
		FUZZ_CHECK(back.n == req->n);
		for (size_t i = 0; i < req->n; i++)
			FUZZ_CHECK(strcmp(back.a[i].name, req->a[i].name) == 0 &&
				   strcmp(back.a[i].value, req->a[i].value) == 0);
		FUZZ_CHECK(policy_read(&b, &back, &why) == POLICY_EOF);
	}
	bio_free(&b);
	policy_req_free(&back);
	policy_req_free(&copy);
	str_free(&wire);
	str_free(&why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t b0 = fuzz_byte(&in);
	size_t bufsize = (b0 & 0x80) ? 65536 : 1 + (b0 & 0x1f);
	size_t piece = 1 + ((b0 >> 5) & 3) * 7;
	uint32_t seed = b0 ^ (uint32_t)in.n << 8;

	struct bio b;
	struct fuzz_feed f;
	struct str why = STR_INIT, action = STR_INIT, wire = STR_INIT;
	struct policy_req req = POLICY_REQ_INIT;
	bio_over(&b, &f, in.p, in.n, bufsize, piece, seed);
	int r;
	while ((r = policy_read(&b, &req, &why)) == POLICY_OK)
		check_request(&req);
	FUZZ_CHECK(r == POLICY_EOF || r == POLICY_BAD);
	FUZZ_CHECK(r == POLICY_EOF || why.len > 0);
	bio_free(&b);

	/* the same stream as a reply */
	bio_over(&b, &f, in.p, in.n, bufsize, piece, seed);
	r = policy_reply_read(&b, &action, &why);
	FUZZ_CHECK(r == POLICY_OK || r == POLICY_BAD);
	if (r == POLICY_OK) {
		FUZZ_CHECK(action.len > 0 && !memchr(action.s, '\n', action.len));
		check_action(action.s);
		policy_reply_encode(action.s, &wire);
		struct bio b2;
		struct fuzz_feed f2;
		struct str back = STR_INIT;
		bio_over(&b2, &f2, wire.s, wire.len, 3, 2, 1);
		if (!memchr(action.s, '\r', action.len)) {
			FUZZ_CHECK(policy_reply_read(&b2, &back, &why) == POLICY_OK);
			FUZZ_CHECK(back.len == action.len && memcmp(back.s, action.s, action.len) == 0);
		}
		bio_free(&b2);
		str_free(&back);
	}
	bio_free(&b);
	policy_req_free(&req);
	str_free(&why);
	str_free(&action);
	str_free(&wire);
	return 0;
}
