/*
 * smtp_cmd.h - the argument parsing of smtp-recv's SMTP commands, apart
 * from the connection so that it can be tested and fuzzed on its own:
 * HELO/EHLO host names, the "FROM:"/"TO:" before a path, MAIL parameters
 * (RFC 5321 §4.1.1.11, RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8)
 * and BDAT's arguments (RFC 3030).  Arguments are NUL-terminated command
 * lines that smtp-recv already bounded and checked for CR, LF and NUL.
 */
#ifndef SLUICE_SMTP_CMD_H
#define SLUICE_SMTP_CMD_H

/* a HELO/EHLO argument goes into Received:, so only host-name characters */
int smtp_helo_ok(const char *s);
/*
 * arg starts with keyword ("FROM:" / "TO:", any case): the path after it
 * and an optional space (common, if not RFC); NULL if it does not.
 */
const char *smtp_path_start(const char *arg, const char *keyword);
/*
 * The MAIL parameters at q (what follows the reverse-path).  ehlo: the
 * client said EHLO (parameters need it); max_size: the SIZE limit.
 * Returns NULL, with *utf8 set when SMTPUTF8 was given and *size (unless
 * size is NULL) the SIZE declared (0 without one), or the reply that
 * refuses the command.
 */
const char *smtp_mail_params(const char *q, int ehlo, unsigned long long max_size, int *utf8,
			     unsigned long long *size);
/* "SIZE [LAST]": 0 with *size and *last set, or -1 (no usable size) */
int smtp_bdat_args(const char *arg, unsigned long long *size, int *last);

#endif
