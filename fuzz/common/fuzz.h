/*
 * fuzz.h - helpers shared by the libFuzzer harnesses in fuzz/.
 *
 * Harnesses feed hostile bytes to lib/ parsers the way the programs do:
 * through a struct bio over an fd (a memfd holding the input) or over a
 * transport that hands the bytes out in uneven pieces, as a network does,
 * so every buffer-boundary case in the readers gets exercised.  Files a
 * parser reads from the configuration directory are written to a private
 * temporary directory named by SLUICE_CONF.
 *
 * FUZZ_CHECK turns a broken property into a crash libFuzzer records.
 */
#ifndef SLUICE_FUZZ_H
#define SLUICE_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bio.h"

#define FUZZ_CHECK(cond) \
	((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #cond))
__attribute__((noreturn))
void fuzz_fail(const char *file, int line, const char *what);

/* the fuzz input, consumed from the front for parameters */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};
/* next byte of the input, 0 once it is used up */
uint8_t fuzz_byte(struct fuzz_in *in);

/* a memfd holding data[0..size), offset 0; dies on failure */
int fuzz_memfd(const void *data, size_t size);

/*
 * A bio transport reading from memory in pieces of 1..max_piece bytes,
 * the sizes varying from read to read (seeded), so lines and fields get
 * split at every possible place.
 */
struct fuzz_feed {
	const uint8_t *p;
	size_t n, pos;
	size_t max_piece;
	uint32_t state;
};
extern const struct bio_ops fuzz_feed_ops;
void fuzz_feed_init(struct fuzz_feed *f, const void *data, size_t n, size_t max_piece, uint32_t seed);
/* the next piece (at most max bytes, 0 at the end) without copying, for push parsers */
size_t fuzz_feed_next(struct fuzz_feed *f, size_t max, const uint8_t **piece);

/*
 * The configuration directory for this process (created on first use,
 * removed at exit, exported as SLUICE_CONF), and a file written in it.
 */
const char *fuzz_conf_dir(void);
void fuzz_conf_write(const char *name, const void *data, size_t size);

#endif
