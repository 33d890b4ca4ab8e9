/*
 * tls-server - a minimal SMTP receiver for tests of lib/tlsio's server
 * side: run under tcpserver, it offers STARTTLS, switches its bios to TLS
 * with tlsio_accept, and accepts one message, appending the DATA lines to
 * the file argv[3].  Usage: tls-server CERT KEY DUMPFILE
 * The tests compile it themselves; it is not installed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bio.h"
#include "die.h"
#include "log.h"
#include "str.h"
#include "tlsio.h"

static void reply(struct bio *out, const char *s)
{
	if (bio_puts(out, s) < 0 || bio_puts(out, "\r\n") < 0 || bio_flush(out) < 0)
		die_sys(EXIT_SYS, "unable to write");
}

int main(int argc, char **argv)
{
	if (argc != 4)
		die(EXIT_USAGE, "usage: tls-server CERT KEY DUMPFILE");
	struct str err = STR_INIT, line = STR_INIT;
	struct tlsio_server *srv = tlsio_server_new(argv[1], argv[2], NULL, NULL, &err);
	if (!srv)
		die(EXIT_SYS, "unable to set up TLS: %s", err.s);
	int dump = open(argv[3], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (dump < 0)
		die_sys(EXIT_SYS, "unable to open %s", argv[3]);
	struct bio in, out;
	bio_init(&in, 0, 4096, 10000);
	bio_init(&out, 1, 4096, 10000);
	struct tlsio *tls = NULL;
	reply(&out, "220 tls-server ESMTP");
	for (;;) {
		int r = bio_getline(&in, &line, 1000);
		if (r != BIO_OK)
			break;
		if (!strncasecmp(line.s, "EHLO", 4))
			reply(&out, tls ? "250-tls-server\r\n250 8BITMIME" : "250-tls-server\r\n250 STARTTLS");
		else if (!strncasecmp(line.s, "STARTTLS", 8) && !tls) {
			reply(&out, "220 go ahead");
			tls = tlsio_accept(srv, 0, 1, 10000, &err);
			if (!tls)
				die(EXIT_SYS, "%s", err.s);
			tlsio_attach(tls, &in, &out);
			log_line("event=tls version=%s cipher=%s", tlsio_version(tls), tlsio_cipher(tls));
		} else if (!strncasecmp(line.s, "MAIL", 4) || !strncasecmp(line.s, "RCPT", 4))
			reply(&out, tls ? "250 ok" : "530 5.7.0 STARTTLS first");
		else if (!strncasecmp(line.s, "DATA", 4)) {
			reply(&out, "354 go");
			while (bio_getline(&in, &line, 1000) == BIO_OK && strcmp(line.s, ".\r\n"))
				if (fd_write_all(dump, line.s, line.len) < 0)
					die_sys(EXIT_SYS, "unable to write %s", argv[3]);
			reply(&out, "250 2.0.0 received over TLS");
		} else if (!strncasecmp(line.s, "QUIT", 4)) {
			reply(&out, "221 bye");
			break;
		} else
			reply(&out, "502 unknown");
	}
	tlsio_close(tls, 1000);
	tlsio_server_free(srv);
	bio_free(&in);
	bio_free(&out);
	str_free(&line);
	str_free(&err);
	close(dump);
	return 0;
}
