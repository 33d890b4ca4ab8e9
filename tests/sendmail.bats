#!/usr/bin/env bats
# sendmail: the sendmail(8) command line into the real queue (queue-inject),
# checked in the committed queue file.

load lib

setup() {
	sluice_conf
	ME=$(id -un)
}

# qfile: the one committed queue file
qfile() {
	[ "$(queued_files | wc -l)" = 1 ] || { echo "queue holds: $(queued_files)" >&2; return 1; }
	queued_files
}

# envelope_of FILE: the envelope lines (not the check line);  message_of FILE: the message
envelope_of() { without_check "$1" | sed '/^$/q' | sed '$d'; }
message_of() { sed '1,/^$/d' "$1"; }

@test "recipients on the command line; Date, Message-ID and From added once" {
	printf 'Subject: hi\n\nbody\n' | sendmail alice@example.test "Bob <bob@example.test>, carol"
	f=$(qfile)
	[ "$(envelope_of "$f")" = "$(printf 'F%s@example.test\nTalice@example.test\nTbob@example.test\nTcarol@example.test' "$ME")" ]
	message_of "$f" >"$BATS_TEST_TMPDIR/m"
	head -n1 "$BATS_TEST_TMPDIR/m" | grep -qx 'Subject: hi'
	[ "$(grep -c '^Date: ' "$BATS_TEST_TMPDIR/m")" = 1 ]
	grep -Eq '^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{1,2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} [-+][0-9]{4}$' "$BATS_TEST_TMPDIR/m"
	grep -Eq '^Message-ID: <[0-9.]+@mx\.example\.test>$' "$BATS_TEST_TMPDIR/m"
	grep -Eq "^From: (\".*\" <$ME@example.test>|$ME@example.test)\$" "$BATS_TEST_TMPDIR/m"
	tail -n2 "$BATS_TEST_TMPDIR/m" | cmp - <(printf '\nbody\n')
	# the message parses as one, with the header where Python expects it
	python3 -c '
import email, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
assert m["Subject"] == "hi" and m.get_payload() == "body\n", m' "$BATS_TEST_TMPDIR/m"
}

@test "existing Date, Message-ID and From are kept as they are" {
	printf 'From: x@y.test\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <a@b>\n\nb\n' | sendmail r@example.test
	message_of "$(qfile)" | cmp - <(printf 'From: x@y.test\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <a@b>\n\nb\n')
}

@test "-t takes To, Cc and Bcc (groups, comments, quoted names) and removes Bcc" {
	printf '%s\n' 'To: "Doe, Jane" <jane@example.test>, joe (Joe) <joe@far.test>' \
		'Cc: team: a@example.test, b@example.test;,' ' folded@example.test' \
		'Bcc: hidden@example.test' 'Subject: t' '' 'body' | sendmail -t extra@example.test
	f=$(qfile)
	envelope_of "$f" | tail -n +2 >"$BATS_TEST_TMPDIR/rcpts"
	printf 'T%s\n' extra@example.test jane@example.test joe@far.test a@example.test b@example.test \
		folded@example.test hidden@example.test | cmp - "$BATS_TEST_TMPDIR/rcpts"
	! message_of "$f" | grep -qi '^bcc:' || false
	message_of "$f" | grep -qx 'Subject: t'
}

@test "-t with Resent- fields uses only those" {
	printf 'To: old@example.test\nResent-To: new@example.test\nResent-Bcc: rb@example.test\n\nx\n' | sendmail -t
	f=$(qfile)
	[ "$(envelope_of "$f" | tail -n +2)" = "$(printf 'Tnew@example.test\nTrb@example.test')" ]
	! message_of "$f" | grep -qi '^resent-bcc:' || false
}

@test "-f sets the envelope sender (null sender too); -F names From" {
	printf 'Subject: f\n\nx\n' | sendmail -f bounces@lists.test -F 'Cron Daemon' r@example.test
	f=$(qfile)
	head -n1 "$f" | grep -qx 'Fbounces@lists.test'
	message_of "$f" | grep -qx "From: \"Cron Daemon\" <$ME@example.test>"
	rm "$f"
	printf 'x\n' | sendmail -f '<>' r@example.test
	head -n1 "$(qfile)" | grep -qx 'F'
	rm "$(qfile)"
	printf 'x\n' | sendmail -fowner -F 'Zoë "Z"' r@example.test
	f=$(qfile)
	head -n1 "$f" | grep -qx 'Fowner@example.test'
	message_of "$f" | grep -qx "From: =?UTF-8?B?$(printf 'Zoë "Z"' | base64)?= <$ME@example.test>"
}

@test "a lone dot ends the message unless -i or -oi; CRLF becomes LF" {
	printf 'Subject: d\r\n\r\none\r\n..\r\n.\r\nnot sent\n' | sendmail r@example.test
	f=$(qfile)
	message_of "$f" | tail -n 3 | cmp - <(printf '\none\n..\n')
	! grep -q 'not sent' "$f" || false
	rm "$f"
	for flag in -i -oi; do
		printf 'Subject: d\n\none\n.\nstill here\n' | sendmail $flag r@example.test
		f=$(qfile)
		message_of "$f" | tail -n 3 | cmp - <(printf 'one\n.\nstill here\n')
		rm "$f"
	done
}

@test "a message without a header gets one; a leading mbox From line is dropped" {
	printf 'From someone Mon Jan  1 00:00:00 2024\njust text\n' | sendmail r@example.test
	message_of "$(qfile)" >"$BATS_TEST_TMPDIR/m"
	! grep -q '^From someone' "$BATS_TEST_TMPDIR/m" || false
	tail -n 2 "$BATS_TEST_TMPDIR/m" | cmp - <(printf '\njust text\n')
	head -n1 "$BATS_TEST_TMPDIR/m" | grep -q '^From: '
}

@test "usage errors: unknown options, no recipients, bad addresses (sysexits)" {
	run sendmail -q r@example.test </dev/null
	[ "$status" -eq 64 ]
	[[ $output == *"unsupported option -q"* ]]
	run sendmail </dev/null
	[ "$status" -eq 64 ]
	[[ $output == *"no recipients"* ]]
	for bad in 'a@@example.test' '<x@example.test' 'x@-bad-.test'; do
		run sendmail "$bad" </dev/null
		[ "$status" -eq 65 ] || { echo "$bad gave $status"; false; }
	done
	run sendmail -bs </dev/null
	[ "$status" -eq 64 ]
	# accepted and ignored: what cron, mail(1) and mutt pass
	printf 'x\n' | sendmail -odi -oem -v -B 8BITMIME -N never -bm -- r@example.test
	[ -n "$(qfile)" ]
	[ -z "$(ls "$QUEUE/tmp")" ]
}

@test "queue program failures map to sysexits, and nothing is half-queued" {
	cat >"$BATS_TEST_TMPDIR/qq" <<-EOF
		#!/bin/sh
		cat >/dev/null; cat <&1 >/dev/null
		exit \$QQ_EXIT
	EOF
	chmod +x "$BATS_TEST_TMPDIR/qq"
	export QMAILQUEUE=$BATS_TEST_TMPDIR/qq
	QQ_EXIT=31 run sendmail r@example.test <<<"x"
	[ "$status" -eq 69 ]
	[[ $output == *"queue program exited 31: refused by a filter"* ]]
	QQ_EXIT=53 run sendmail r@example.test <<<"x"
	[ "$status" -eq 75 ]
	export QMAILQUEUE=$BATS_TEST_TMPDIR/missing
	run sendmail r@example.test <<<"x"
	[ "$status" -eq 75 ]
	unset QMAILQUEUE
	echo "$BATS_TEST_TMPDIR/nonexistent" >"$CONF/queuedir"
	run sendmail r@example.test <<<"x"
	[ "$status" -eq 75 ]
	[[ $output == *"queue program exited 53"* ]]
}

@test "end to end: sendmail, queue-inject, then deliver-local into a maildir" {
	echo "alice@example.test $MAIL/alice/" >"$CONF/users"
	printf 'Subject: e2e\n\nhello\n' | sendmail -f s@example.org alice
	f=$(qfile)
	# deliver-local reads the message from the queue file, positioned after the envelope
	python3 -c '
import os, subprocess, sys
f = open(sys.argv[1], "rb")
while f.readline() != b"\n":
    pass
os.lseek(f.fileno(), f.tell(), os.SEEK_SET)
sys.exit(subprocess.run(["deliver-local", "s@example.org", "alice@example.test"], stdin=f).returncode)' "$f"
	python3 -c '
import mailbox, sys
(m,) = mailbox.Maildir(sys.argv[1], create=False)
assert m["Return-Path"] == "<s@example.org>" and m["Delivered-To"] == "alice@example.test", m
assert m["Subject"] == "e2e" and m.get_payload() == "hello\n"' "$MAIL/alice"
}
