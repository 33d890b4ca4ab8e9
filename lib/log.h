/*
 * log.h - one line per event on stderr, as key=value pairs:
 *   prog=smtp-recv pid=4242 event=rcpt id=... rcpt=<a@b> result=accepted
 * log_line prefixes prog= and pid=; the caller writes the rest.  Control
 * characters are replaced so a hostile value cannot forge a second line.
 * Never log a password or a message body.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

__attribute__((format(printf, 1, 2)))
void log_line(const char *fmt, ...);

#endif
