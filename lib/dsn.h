/*
 * dsn.h - delivery status notifications (RFC 3464) for bounces and delay
 * warnings: a multipart/report; report-type=delivery-status message with
 *   1. a human-readable text/plain part,
 *   2. message/delivery-status: Reporting-MTA, Arrival-Date, then per
 *      recipient Final-Recipient, Action, Status, Diagnostic-Code,
 *   3. text/rfc822-headers: the original message's header section.
 * Pure functions of their input (no clock, no files), so the output can be
 * checked against fixtures and fuzzed.
 */
#ifndef SLUICE_DSN_H
#define SLUICE_DSN_H
#include <stddef.h>
#include <time.h>

#include "str.h"

#define DSN_STATUS_SIZE 16
#define DSN_HEADERS_MAX (1u << 20)

struct dsn_rcpt {
	const char *addr;
	const char *diag;   /* the delivery program's text ("" if none) */
	const char *status; /* enhanced status code, NULL: taken from diag */
	time_t last;        /* last attempt (0: not shown) */
};

struct dsn_report {
	int delayed;            /* 0: Action: failed, 1: Action: delayed */
	const char *me;         /* Reporting-MTA and the From: domain */
	const char *id;         /* the original's queue id */
	const char *to;         /* the report's recipient */
	time_t arrival;
	time_t now;             /* Date: */
	const struct dsn_rcpt *rcpt;
	size_t nrcpt;
	const char *headers;    /* the original header section */
	size_t hlen;
};

/*
 * The enhanced status code (RFC 3463) for a report of class cls (4 or 5):
 * the first "cls.X.Y" word found in diag, else "cls.0.0".
 */
void dsn_status(const char *diag, int cls, char out[DSN_STATUS_SIZE]);
/* length of the header section at the start of msg (through the blank line) */
size_t dsn_header_len(const char *msg, size_t len);
/* append the whole report message (LF line endings) to out */
void dsn_build(const struct dsn_report *r, struct str *out);

#endif
