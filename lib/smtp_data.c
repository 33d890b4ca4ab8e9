/*
 * smtp_data.c - the DATA/BDAT decoder (see smtp_data.h).
 *
 * A byte-level state machine, with fast paths: in the header, runs of
 * ordinary octets are found sixteen at a time; in the body, whole lines
 * are scanned and copied in the same pass, so a block from the input
 * buffer costs one scan and no call per line.  The states say how much of
 * a possible line ending or end-of-data marker has been seen; nothing but
 * CR LF ever moves to the beginning of a line, so "." can only end the
 * data after a real CRLF (RFC 5321 §4.1.1.4, and the SMTP smuggling fixes
 * of 2023).
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "smtp_data.h"

enum {
	S_BOL,   /* at the beginning of a line (after CRLF, or the first line) */
	S_DOT,   /* "." at the beginning of a line (DATA only) */
	S_DOTCR, /* "." CR at the beginning of a line */
	S_MID,   /* inside a line */
	S_CR,    /* CR inside a line: only LF may follow */
};


/*
 * The octets that end a run of ordinary ones are CR, LF and NUL.  Blocks
 * of STEP octets are tested at once: sixteen with SSE2 (every x86-64 CPU
 * has it), else eight (a zero byte in x ^ c marks c).  A message is
 * mostly such runs, so this is most of DATA's cost.
 */
#ifdef __SSE2__
#define STEP 16
typedef __m128i block;

static block load(const char *p)
{
	return _mm_loadu_si128((const __m128i *)(const void *)p);
}

static void store(char *p, block v)
{
	_mm_storeu_si128((__m128i *)(void *)p, v);
}

/* where in v the first CR, LF or NUL is; STEP if none */
static size_t first_stop(block v)
{
	__m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\r')),
						_mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))),
				   _mm_cmpeq_epi8(v, _mm_setzero_si128()));
	int m = _mm_movemask_epi8(hit);
	return m ? (size_t)__builtin_ctz((unsigned)m) : STEP;
}
#else
#define STEP 8
typedef uint64_t block;

static block load(const char *p)
{
	block v;
	memcpy(&v, p, sizeof v);
	return v;
}

static void store(char *p, block v)
{
	memcpy(p, &v, sizeof v);
}

/*
 * where in v the first CR, LF or NUL is; STEP if none.  The lowest byte
 * the zero-byte trick flags is always a real one (false flags only ever
 * sit above a real zero), and bytes are in memory order little-endian.
 */
static size_t first_stop(block v)
{
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
	uint64_t c = v ^ (ones * '\r'), l = v ^ (ones * '\n');
	uint64_t m = (((v - ones) & ~v) | ((c - ones) & ~c) | ((l - ones) & ~l)) & highs;
	return m ? (size_t)__builtin_ctzll(m) / 8 : STEP;
}
#endif

static int ordinary(char c)
{
	return c != '\r' && c != '\n' && c != '\0';
}

/* how many octets from p on are ordinary: the header's fast path */
static size_t ordinary_run(const char *p, size_t n)
{
	size_t i = 0;
	for (; i + STEP <= n; i += STEP) {
		size_t k = first_stop(load(p + i));
		if (k < STEP)
			return i + k;
	}
	while (i < n && ordinary(p[i]))
		i++;
	return i;
}

/*
 * The body's fast path: copies the ordinary octets from p on to dst and
 * says how many, scanning and copying in the same pass: on lines of 70
 * octets a scan, then a copy call, per line cost twice the instructions
 * (and musl's memcpy, before lib/memcopy.c, its rep movsq start-up on
 * each).  dst has room for n octets; the copy may write past the run,
 * never past n.
 */
static size_t ordinary_copy(const char *p, size_t n, char *dst)
{
	size_t i = 0;
	for (; i + STEP <= n; i += STEP) {
		block v = load(p + i);
		store(dst + i, v);
		size_t k = first_stop(v);
		if (k < STEP)
			return i + k;
	}
	for (; i < n && ordinary(p[i]); i++)
		dst[i] = p[i];
	return i;
}

void smtp_data_init(struct smtp_data *d, int bdat, size_t max_line, unsigned long long max_size,
		    unsigned long max_received)
{
	d->bdat = bdat;
	d->state = S_BOL;
	d->in_header = 1;
	d->hmatch = 0;
	d->flags = 0;
	d->line = 0;
	d->max_line = max_line;
	d->size = 0;
	d->max_size = max_size;
	d->received = 0;
	d->max_received = max_received;
	d->seen = 0;
	d->header_end = NULL;
	d->header_end_arg = NULL;
}

/* a header name ended at its colon: count or note it */
static void header_name(struct smtp_data *d)
{
	size_t n = (size_t)d->hmatch;
	if (n == 8 && memcmp(d->hname, "received", 8) == 0) {
		if (++d->received > d->max_received && d->max_received)
			d->flags |= SD_ERR_RECEIVED;
	} else if (n == 4 && memcmp(d->hname, "date", 4) == 0)
		d->seen |= SD_SEEN_DATE;
	else if (n == 10 && memcmp(d->hname, "message-id", 10) == 0)
		d->seen |= SD_SEEN_MESSAGE_ID;
}

/* the header section is over: let the caller add its fields, once */
static void header_done(struct smtp_data *d, struct str *out)
{
	if (d->in_header && d->header_end && !d->flags)
		d->header_end(d->header_end_arg, d->seen, out);
	d->in_header = 0;
}

/* account for n octets of message, then append them unless refused */
static void emit(struct smtp_data *d, struct str *out, const char *p, size_t n)
{
	if (d->in_header && d->hmatch >= 0) {
		for (size_t k = 0; k < n && d->hmatch >= 0; k++) {
			if (p[k] == ':') {
				header_name(d);
				d->hmatch = -1;
			} else if ((size_t)d->hmatch == sizeof d->hname)
				d->hmatch = -1; /* longer than any name looked for */
			else
				d->hname[d->hmatch++] = (char)tolower((unsigned char)p[k]);
		}
	}
	d->size += n;
	if (d->max_size && d->size > d->max_size)
		d->flags |= SD_ERR_SIZE;
	if (!d->flags && n == 1)
		str_catc(out, *p); /* a line's LF: no memcpy call for one octet */
	else if (!d->flags)
		str_catb(out, p, n);
}

/*
 * The body's fast path: whole lines at a time, each copied straight into
 * out (ordinary_copy) with its CRLF turned into LF, accounted for as
 * emit would, for as long as a line ends in CRLF and the next does not
 * start with "." (those, and anything else, are left to the state
 * machine).  Stops before anything a limit refuses.  Returns the octets
 * consumed; the state stays S_MID.
 */
static size_t body_lines(struct smtp_data *d, struct str *out, const char *in, size_t n)
{
	str_ready(out, n); /* the output never outgrows the input */
	char *o = out->s + out->len;
	size_t i = 0, w = 0;
	for (;;) {
		size_t k = ordinary_copy(in + i, n - i, o + w);
		if (k > 0) {
			i += k;
			d->line += k;
			d->size += k;
			if (d->max_line && d->line + 2 > d->max_line)
				d->flags |= SD_ERR_LINE;
			if (d->max_size && d->size > d->max_size)
				d->flags |= SD_ERR_SIZE;
			if (d->flags)
				break; /* refused: the run is not output */
			w += k;
		}
		if (n - i < 3 || in[i] != '\r' || in[i + 1] != '\n' || in[i + 2] == '.' ||
		    (d->max_size && d->size + 1 > d->max_size))
			break;
		o[w++] = '\n';
		d->size++;
		d->line = 0;
		i += 2;
	}
	out->len += w;
	out->s[out->len] = '\0';
	return i;
}

static void end_of_line(struct smtp_data *d, struct str *out)
{
	d->hmatch = -1; /* the LF itself is no part of a header name */
	if (d->line == 0)
		header_done(d, out); /* before the empty line, which stays last */
	emit(d, out, "\n", 1);
	d->line = 0;
	d->hmatch = 0;
	d->state = S_BOL;
}

size_t smtp_data_feed(struct smtp_data *d, const char *in, size_t n, struct str *out, int *done)
{
	size_t i = 0;
	*done = 0;
	while (i < n) {
		unsigned char c = (unsigned char)in[i];
		switch (d->state) {
		case S_BOL:
			d->state = S_MID;
			if (!d->bdat && c == '.') {
				d->state = S_DOT;
				d->line = 1; /* the stuffed dot counts on the wire */
				i++;
			}
			break;
		case S_DOT:
			if (c == '\r') {
				d->state = S_DOTCR;
				i++;
			} else
				d->state = S_MID; /* the dot was stuffing: dropped */
			break;
		case S_DOTCR:
			if (c == '\n') {
				d->state = S_BOL;
				header_done(d, out); /* a message with no body */
				*done = 1;
				return i + 1;
			}
			d->flags |= SD_ERR_BARE; /* "." CR without LF: not an end */
			d->state = S_MID;
			break;
		case S_MID: {
			if (!d->in_header && !d->flags) {
				size_t k = body_lines(d, out, in + i, n - i);
				if (k > 0) {
					i += k;
					break;
				}
			}
			size_t j = i + ordinary_run(in + i, n - i);
			if (j > i) {
				d->line += j - i;
				if (d->max_line && d->line + 2 > d->max_line)
					d->flags |= SD_ERR_LINE;
				emit(d, out, in + i, j - i);
				i = j;
				break;
			}
			i++;
			if (c == '\r')
				d->state = S_CR;
			else if (c == '\n')
				d->flags |= SD_ERR_BARE; /* stays inside the line */
			else
				d->flags |= SD_ERR_NUL;
			break;
		}
		case S_CR:
			if (c == '\n') {
				i++;
				end_of_line(d, out);
				break;
			}
			d->flags |= SD_ERR_BARE;
			if (c == '\r')
				i++; /* the new CR may still start a CRLF */
			else
				d->state = S_MID;
			break;
		}
	}
	return i;
}

void smtp_data_finish(struct smtp_data *d, struct str *out)
{
	if (d->state == S_CR)
		d->flags |= SD_ERR_BARE;
	else if (d->state == S_MID)
		end_of_line(d, out);
	header_done(d, out);
	d->state = S_BOL;
}
