#!/usr/bin/env bats
# valgrind over the programs' main paths: no invalid read or write, no use
# of uninitialised memory, no leak.  (The sanitized suite, make SANITIZE=1
# check, covers the same ground for every test; this catches what ASan does
# not: uninitialised reads.)  Add each program's main path here.

load lib

setup() {
	need_valgrind
	sluice_conf
}

vg_inject() { # vg_inject ENVELOPE-PRINTF-FORMAT < message
	# the glibc build when queue-inject itself is static musl (lib/build.mk)
	local qi=$TOP/queue-inject/queue-inject-glibc
	[ -x "$qi" ] || qi=$TOP/queue-inject/queue-inject
	under_valgrind "$qi" 1< <(printf "$1")
}

show_log() {
	cat "$BATS_TEST_TMPDIR/valgrind.log" >&2
}

@test "queue-inject: a small message, valgrind clean" {
	printf 'Subject: t\n\nhello\n' | vg_inject 'Fa@example.org\0Tb@example.test\0Tc@example.test\0\0' ||
		{ show_log; false; }
	[ "$(queued_files | wc -l)" = 1 ]
}

@test "queue-inject: a spilled large message, valgrind clean" {
	head -c 1500000 /dev/zero | tr '\0' x | vg_inject 'F\0Tb@example.test\0\0' || { show_log; false; }
	[ "$(queued_files | wc -l)" = 1 ]
}

@test "queue-inject: envelope errors, valgrind clean" {
	run vg_inject 'Xa@b\0Tc@d\0\0' </dev/null
	[ "$status" -eq 91 ] || { show_log; false; }
	run vg_inject 'Fa@b\0Tc@d\0' </dev/null
	[ "$status" -eq 54 ] || { show_log; false; }
	[ -z "$(queued_files)" ]
}

@test "smtp-recv-tls: a STARTTLS hand-over answered 454, then a message in the clear, valgrind clean" {
	# smtp-recv itself is static musl (lib/build.mk), which valgrind cannot
	# follow; smtp-recv-tls is the same program on glibc
	sluice_users bob@example.test
	echo 'not a certificate' >"$CONF/bad.pem"
	echo bad.pem >"$CONF/tls-cert"
	echo bad.pem >"$CONF/tls-key"
	# what smtp-recv read after STARTTLS, handed over with the session
	pending=$(printf 'NOOP\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.test>\r\n' | base64 -w0)
	export SMTP_RECV_STARTTLS='1795312345.004211.0031337 2 0 0 0 0 -' HELO=client.example \
		SMTP_RECV_PENDING="$pending"
	vg_tls() { under_valgrind "$TOP/smtp-recv/smtp-recv-tls" -S 2>"$BATS_TEST_TMPDIR/err"; }
	run vg_tls < <(printf 'DATA\r\nSubject: t\r\n\r\nhi\r\n.\r\nQUIT\r\n')
	echo "$output"
	[ "$status" -eq 0 ] || { show_log; false; }
	[[ "$output" == *$'454 4.7.0 TLS not available due to temporary reason\r\n250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 '* ]]
	[ "$(queued_files | wc -l)" = 1 ]
	grep -q '^Received: from client\.example$' "$(queued_files)"
	grep -q 'event=tls result=unavailable' "$BATS_TEST_TMPDIR/err"
}
