/*
 * fuzz/queue_header.c - the queue file header (lib/queue.c
 * queue_header_read), as queue-run and mailq read it from disk.
 *
 * The first byte chooses where in the file reading starts (the header is
 * read from the current offset); the rest is the file.  When a header is
 * accepted:
 *  - there is a sender and at least one recipient, none holding CR, LF;
 *  - the body offset lies inside the file and the fd is left there;
 *  - encoding the envelope (and the check line, when there was one) gives
 *    back exactly the header's bytes;
 *  - queue_body_check answers 0 or 1 and leaves the offset alone.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "fuzz.h"
#include "queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	size_t start = fuzz_byte(&in) & 0x0f;
	if (start > in.n)
		start = in.n;
	int fd = fuzz_memfd(in.p, in.n);
	FUZZ_CHECK(lseek(fd, (off_t)start, SEEK_SET) == (off_t)start);

	struct envelope env = ENVELOPE_INIT;
	off_t body = -1;
	struct queue_check chk;
	int r = queue_header_read_check(fd, &env, &body, &chk);
	FUZZ_CHECK(r == 0 || r == 1);
	if (r == 0) {
		FUZZ_CHECK(body > (off_t)start && body <= (off_t)in.n);
		FUZZ_CHECK(lseek(fd, 0, SEEK_CUR) == body);
		FUZZ_CHECK(env.sender && env.nrcpt >= 1);
		FUZZ_CHECK(!strpbrk(env.sender, "\r\n"));
		for (size_t i = 0; i < env.nrcpt; i++)
			FUZZ_CHECK(env.rcpt[i][0] && !strpbrk(env.rcpt[i], "\r\n"));
		struct str enc = STR_INIT;
		if (chk.present)
			queue_header_encode_check(&env, &chk, &enc);
		else
			queue_header_encode(&env, &enc);
		FUZZ_CHECK(enc.len == (size_t)body - start);
		FUZZ_CHECK(memcmp(enc.s, in.p + start, enc.len) == 0);
		str_free(&enc);
		int hw = -1;
		int c = queue_body_check(fd, body, &chk, &hw);
		FUZZ_CHECK(c == 0 || c == 1);
		FUZZ_CHECK(lseek(fd, 0, SEEK_CUR) == body);
	}
	envelope_free(&env);
	close(fd);
	return 0;
}
