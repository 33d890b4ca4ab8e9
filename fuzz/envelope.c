/*
 * fuzz/envelope.c - the queue protocol envelope (lib/envelope.c) and the
 * queue file header written from it (lib/queue.c).
 *
 * The first bytes choose the reader's buffer size, the address and
 * recipient limits and the transport (a memfd, or a feed handing out
 * uneven pieces); the rest is the envelope stream.  When an envelope is
 * accepted:
 *  - it respects the limits and holds no CR or LF;
 *  - encoding it gives back exactly the bytes it was read from;
 *  - written as a queue file header in front of a body and read back with
 *    queue_header_read, it is the same envelope and the body starts where
 *    the header ends.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "fuzz.h"
#include "queue.h"

static int same_env(const struct envelope *a, const struct envelope *b)
{
	if (strcmp(a->sender, b->sender) != 0 || a->nrcpt != b->nrcpt)
		return 0;
	for (size_t i = 0; i < a->nrcpt; i++)
		if (strcmp(a->rcpt[i], b->rcpt[i]) != 0)
			return 0;
	return 1;
}

static void check_header_round_trip(const struct envelope *env, const uint8_t *body, size_t bodylen)
{
	struct str file = STR_INIT;
	queue_header_encode(env, &file);
	size_t headlen = file.len;
	str_catb(&file, body, bodylen);
	int fd = fuzz_memfd(file.s, file.len);
	struct envelope back = ENVELOPE_INIT;
	off_t at = -1;
	FUZZ_CHECK(queue_header_read(fd, &back, &at) == 0);
	FUZZ_CHECK(at == (off_t)headlen);
	FUZZ_CHECK(lseek(fd, 0, SEEK_CUR) == at);
	FUZZ_CHECK(same_env(env, &back));
	envelope_free(&back);
	close(fd);
	str_free(&file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t b0 = fuzz_byte(&in), b1 = fuzz_byte(&in), b2 = fuzz_byte(&in);
	size_t bufsize = (b0 & 0x80) ? 65536 : 1 + (b0 & 0x1f);
	size_t max_addr = (b1 & 0x80) ? 4096 : (b1 & 0x7f);
	size_t max_rcpt = (b2 & 0x80) ? 100000 : (b2 & 0x0f);
	int use_fd = (b0 & 0x40) != 0;

	struct bio bio;
	struct fuzz_feed feed;
	int fd = -1;
	if (use_fd) {
		fd = fuzz_memfd(in.p, in.n);
		bio_init(&bio, fd, bufsize, -1);
	} else {
		fuzz_feed_init(&feed, in.p, in.n, 1 + (b2 >> 4), b1 ^ (b0 << 8) ^ (uint32_t)in.n);
		bio_init(&bio, -1, bufsize, -1);
		bio_set_ops(&bio, &fuzz_feed_ops, &feed);
	}

	struct envelope env = ENVELOPE_INIT;
	int r = envelope_read(&bio, &env, max_addr, max_rcpt);
	FUZZ_CHECK(r == ENV_OK || r == ENV_FORMAT || r == ENV_READ || r == ENV_LIMIT);
	if (r == ENV_OK) {
		size_t read_so_far = use_fd ? (size_t)lseek(fd, 0, SEEK_CUR) : feed.pos;
		size_t used = read_so_far - bio_buffered(&bio);
		FUZZ_CHECK(env.sender && env.nrcpt >= 1 && env.nrcpt <= max_rcpt);
		FUZZ_CHECK(strlen(env.sender) <= max_addr && !strpbrk(env.sender, "\r\n"));
		for (size_t i = 0; i < env.nrcpt; i++) {
			FUZZ_CHECK(env.rcpt[i][0] != '\0' && strlen(env.rcpt[i]) <= max_addr);
			FUZZ_CHECK(!strpbrk(env.rcpt[i], "\r\n"));
		}
		struct str enc = STR_INIT;
		envelope_encode(&env, &enc);
		FUZZ_CHECK(enc.len == used && memcmp(enc.s, in.p, used) == 0);
		str_free(&enc);
		check_header_round_trip(&env, in.p + used, in.n - used);
	}
	envelope_free(&env);
	bio_free(&bio);
	if (fd >= 0)
		close(fd);
	return 0;
}
