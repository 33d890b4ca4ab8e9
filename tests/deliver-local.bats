#!/usr/bin/env bats
# deliver-local: one message, one recipient, into maildirs, mbox files,
# commands and forwards, resolved through users, aliases, extensions and
# system accounts (lib/local.c).  Messages are fed on stdin as the queue
# does (a seekable file); mailboxes are read back with Python's mailbox.

load lib
export PATH="$TOP/sluice-tables:$PATH"

setup_file() {
	# the RCPT-time lookup (local_rcpt_exists) as smtp-recv calls it
	# (with the sanitizers too, when the library was built with SANITIZE=1)
	local flags
	for flags in "" "-fsanitize=address,undefined"; do
		cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $flags -I"$TOP/lib" \
			-o "$BATS_FILE_TMPDIR/rcpt-exists" "$TOP/tests/fixtures/rcpt-exists.c" \
			"$TOP/lib/libsluice.a" -lcdb 2>/dev/null && return 0
	done
	return 1
}

setup() {
	sluice_conf
	printf 'example.test\nother.test\n' >"$CONF/locals"
	cat >"$CONF/users" <<-EOF
		alice@example.test   $MAIL/alice/
		bob@example.test     $MAIL/bob.mbox
		carol@example.test   ../mail/carol/
	EOF
	cat >"$CONF/aliases" <<-EOF
		team@example.test: alice@example.test, bob@example.test
		all@example.test: team@example.test, carol, alice@example.test
		postmaster: alice@example.test
		ping@example.test: pong@example.test
		pong@example.test: ping@example.test, carol@example.test
		a1@example.test: a2@example.test
		a2@example.test: a1@example.test
		far@example.test: dave@far.test, alice@example.test
		cmd@example.test: |env >$BATS_TEST_TMPDIR/env; cat >$BATS_TEST_TMPDIR/stdin
		broken@example.test: alice@example.test, nosuch@example.test
	EOF
	printf 'Subject: hello\nTo: alice@example.test\n\nline one\nFrom here\n>From there\n' >"$BATS_TEST_TMPDIR/msg"
	M=$BATS_TEST_TMPDIR/msg
}

teardown() {
	bg_stop_all
	if [ -n "${TMPFS:-}" ]; then umount "$TMPFS" 2>/dev/null || true; fi
	if [ -n "${TESTUSER:-}" ]; then userdel "$TESTUSER" >/dev/null 2>&1 || true; fi
	if [ -n "${HOMES:-}" ]; then rm -rf "$HOMES"; fi
}

# maildir_msgs DIR: each message of the maildir, as Python's mailbox reads it, NUL-separated
maildir_msgs() {
	python3 -c '
import mailbox, sys
md = mailbox.Maildir(sys.argv[1], create=False)
for k in sorted(md.keys()):
    sys.stdout.buffer.write(md.get_bytes(k) + b"\0")' "$1"
}

# mbox_msgs FILE: each message with its From line and the mboxrd quoting undone
mbox_msgs() {
	python3 -c '
import mailbox, re, sys
for m in mailbox.mbox(sys.argv[1]):
    body = m.as_bytes(unixfrom=False)
    body = re.sub(rb"(?m)^>(>*From )", rb"\1", body)
    sys.stdout.buffer.write(b"From " + m.get_from().encode() + b"\n" + body + b"\0")' "$1"
}

# dl ARGS: deliver-local with its log (stderr) kept apart from the diagnostic
dl() {
	deliver-local "$@" 2>>"$BATS_TEST_TMPDIR/log"
}

expect_headers() { # expect_headers SENDER RCPT: the lines deliver-local puts on top
	printf 'Return-Path: <%s>\nDelivered-To: %s\n' "$1" "$2"
}

@test "maildir: delivered byte for byte with Return-Path and Delivered-To" {
	run dl s@example.org alice@example.test <"$M"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "delivered to maildir $MAIL/alice/" ]
	{ expect_headers s@example.org alice@example.test; cat "$M"; printf '\0'; } >"$BATS_TEST_TMPDIR/want"
	maildir_msgs "$MAIL/alice" | cmp - "$BATS_TEST_TMPDIR/want"
	# unique name per the maildir spec, with the size; tmp/ left empty
	f=$(ls "$MAIL/alice/new")
	[[ $f =~ ^[0-9]+\.M[0-9]+P[0-9]+\..+,S=([0-9]+)$ ]]
	[ "${BASH_REMATCH[1]}" -eq "$(wc -c <"$MAIL/alice/new/$f")" ]
	[ -z "$(ls "$MAIL/alice/tmp")" ]
	[ -d "$MAIL/alice/cur" ]
}

@test "maildir: a large message is copied whole from where fd 0 stands, from the same file system and from another" {
	# lib/maildir.c copies with copy_file_range where the two files allow
	# it and through a buffer where not (a tmpfs queue file, a maildir here)
	python3 -c 'import os, sys
open(sys.argv[1], "wb").write(b"queue header line\n\n" + b"".join(b"%d %s\n" % (i, os.urandom(30).hex().encode()) for i in range(5000)))' "$BATS_TEST_TMPDIR/q"
	[ -d /dev/shm ] && cp "$BATS_TEST_TMPDIR/q" "/dev/shm/sluice-dl-$$"
	for src in "$BATS_TEST_TMPDIR/q" "/dev/shm/sluice-dl-$$"; do
		[ -f "$src" ] || continue
		rm -rf "$MAIL/alice"
		# fd 0 at the message, past the two header lines, as queue-run leaves it
		python3 -c 'import os, subprocess, sys
fd = os.open(sys.argv[1], os.O_RDONLY); os.lseek(fd, 19, os.SEEK_SET)
sys.exit(subprocess.run(sys.argv[2:], stdin=fd).returncode)' "$src" deliver-local s@example.org alice@example.test \
			>/dev/null 2>>"$BATS_TEST_TMPDIR/log"
		{ expect_headers s@example.org alice@example.test; tail -c +20 "$src"; } | cmp - "$MAIL/alice/new/"* ||
			{ echo "from $src"; false; }
	done
	rm -f "/dev/shm/sluice-dl-$$"
}

@test "maildir: relative paths in users resolve from the conf dir; case and extensions fold" {
	mkdir -p "$BATS_TEST_TMPDIR/mail"
	run dl s@example.org Carol+Lists@Example.TEST <"$M"
	[ "$status" -eq 0 ]
	[ "$(maildir_msgs "$MAIL/carol" | tr '\0' '\n' | grep -c '^Delivered-To: carol+lists@example.test$')" = 1 ]
}

@test "mbox: From line, mboxrd quoting round-trips, null sender is MAILER-DAEMON" {
	printf 'Subject: q\n\nFrom a\n>From b\n>>From c\nFrom\n>From\nno From \n' >"$BATS_TEST_TMPDIR/q"
	run dl s@example.org bob@example.test <"$BATS_TEST_TMPDIR/q"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "delivered to mbox $MAIL/bob.mbox" ]
	run dl "" bob@example.test <"$M"
	[ "$status" -eq 0 ]
	# on disk: every >*From line got one more '>'
	grep -qx '>From a' "$MAIL/bob.mbox"
	grep -qx '>>From b' "$MAIL/bob.mbox"
	grep -qx '>>>From c' "$MAIL/bob.mbox"
	grep -qx 'From' "$MAIL/bob.mbox"
	grep -qx '>From' "$MAIL/bob.mbox"
	[ "$(grep -c '^From ' "$MAIL/bob.mbox")" = 2 ]
	# RFC 4155 separator: asctime date in UTC
	grep -Eq '^From s@example.org (Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}$' "$MAIL/bob.mbox"
	grep -q '^From MAILER-DAEMON ' "$MAIL/bob.mbox"
	# read back: exact messages (Python adds nothing; a blank line ends each)
	mbox_msgs "$MAIL/bob.mbox" | tr '\0' '\n' | sed 's/^\(From [^ ]*\) .*/\1/' >"$BATS_TEST_TMPDIR/got"
	{
		echo "From s@example.org"; expect_headers s@example.org bob@example.test; cat "$BATS_TEST_TMPDIR/q"; echo
		echo "From MAILER-DAEMON"; expect_headers "" bob@example.test; cat "$M"; echo
	} >"$BATS_TEST_TMPDIR/want"
	diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
	[ ! -e "$MAIL/bob.mbox.lock" ]
}

@test "mbox: a message without a final newline still ends cleanly" {
	printf 'Subject: n\n\nno newline' >"$BATS_TEST_TMPDIR/n"
	deliver-local s@example.org bob@example.test <"$BATS_TEST_TMPDIR/n"
	deliver-local s@example.org bob@example.test <"$M"
	[ "$(python3 -c 'import mailbox,sys; print(len(mailbox.mbox(sys.argv[1])))' "$MAIL/bob.mbox")" = 2 ]
	tail -c 13 "$MAIL/bob.mbox" | head -c 12 | grep -q '^>From there$'
}

@test "mbox: a full disk is a temporary failure and the mbox is left exactly as it was" {
	TMPFS=$BATS_TEST_TMPDIR/small
	mkdir "$TMPFS"
	mount -t tmpfs -o size=256k tmpfs "$TMPFS"
	echo "bob@example.test $TMPFS/bob.mbox" >"$CONF/users"
	deliver-local s@example.org bob@example.test <"$M"
	cp "$TMPFS/bob.mbox" "$BATS_TEST_TMPDIR/before"
	head -c 400000 /dev/zero | tr '\0' 'x' | fold -w 70 >"$BATS_TEST_TMPDIR/big"
	run dl s@example.org bob@example.test <"$BATS_TEST_TMPDIR/big"
	[ "$status" -eq 111 ]
	[[ ${lines[0]} == "4.2.2 mailbox full: unable to write $TMPFS/bob.mbox: No space left on device" ]]
	cmp "$BATS_TEST_TMPDIR/before" "$TMPFS/bob.mbox"
	[ ! -e "$TMPFS/bob.mbox.lock" ]
	# and the next delivery appends normally
	deliver-local s@example.org bob@example.test <"$M"
	[ "$(python3 -c 'import mailbox,sys; print(len(mailbox.mbox(sys.argv[1])))' "$TMPFS/bob.mbox")" = 2 ]
}

@test "maildir: a full disk is a temporary failure that leaves nothing behind" {
	TMPFS=$BATS_TEST_TMPDIR/small
	mkdir "$TMPFS"
	mount -t tmpfs -o size=256k tmpfs "$TMPFS"
	echo "alice@example.test $TMPFS/alice/" >"$CONF/users"
	head -c 400000 /dev/zero | tr '\0' 'x' | fold -w 70 >"$BATS_TEST_TMPDIR/big"
	run dl s@example.org alice@example.test <"$BATS_TEST_TMPDIR/big"
	[ "$status" -eq 111 ]
	[[ ${lines[0]} == "4.2.2 mailbox full: "* ]]
	[ -z "$(find "$TMPFS/alice" -type f)" ]
}

@test "mbox: a held dot-lock or fcntl lock is waited for, then a temporary failure" {
	echo 'local-lock-timeout 1' >"$CONF/limits"
	: >"$MAIL/bob.mbox.lock"
	run dl s@example.org bob@example.test <"$M"
	[ "$status" -eq 111 ]
	[[ ${lines[0]} == "4.3.0 unable to lock $MAIL/bob.mbox: "* ]]
	rm "$MAIL/bob.mbox.lock"
	: >"$MAIL/bob.mbox"
	bg_start python3 -c '
import fcntl, sys, time
f = open(sys.argv[1], "r+")
fcntl.lockf(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(30)' "$MAIL/bob.mbox" "$BATS_TEST_TMPDIR/locked"
	wait_for 10 test -e "$BATS_TEST_TMPDIR/locked"
	run dl s@example.org bob@example.test <"$M"
	[ "$status" -eq 111 ]
	[ ! -s "$MAIL/bob.mbox" ]
	[ ! -e "$MAIL/bob.mbox.lock" ]
	bg_stop_all
	run dl s@example.org bob@example.test <"$M"
	[ "$status" -eq 0 ]
}

@test "aliases: fan-out, nesting, bare local parts for every local domain, duplicates once" {
	run dl s@example.org all@example.test <"$M"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "delivered to maildir $MAIL/alice/; delivered to mbox $MAIL/bob.mbox; delivered to maildir $CONF/../mail/carol/" ]
	[ "$(maildir_msgs "$MAIL/alice" | tr -cd '\0' | wc -c)" = 1 ]
	[ "$(mbox_msgs "$MAIL/bob.mbox" | tr -cd '\0' | wc -c)" = 1 ]
	[ "$(maildir_msgs "$MAIL/carol" | tr -cd '\0' | wc -c)" = 1 ]
	# Delivered-To names the address that was delivered to
	maildir_msgs "$MAIL/carol" | tr '\0' '\n' | grep -qx 'Delivered-To: all@example.test'
	# "postmaster:" applies to each local domain
	run dl s@example.org postmaster@other.test <"$M"
	[ "$status" -eq 0 ]
	[ "$(maildir_msgs "$MAIL/alice" | tr -cd '\0' | wc -c)" = 2 ]
}

@test "aliases: loops end (ping/pong delivers carol once; a pure loop fails permanently)" {
	run dl s@example.org ping@example.test <"$M"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "delivered to maildir $CONF/../mail/carol/" ]
	run dl s@example.org a1@example.test <"$M"
	[ "$status" -eq 100 ]
	[[ ${lines[0]} == "5.4.6 "* ]]
	printf 'x%s@example.test: x%s@example.test\n' 1 2 2 3 3 4 4 5 5 6 6 7 7 8 8 9 9 10 10 11 11 12 12 13 >>"$CONF/aliases"
	run dl s@example.org x1@example.test <"$M"
	[ "$status" -eq 100 ]
	[[ ${lines[0]} == "5.4.6 alias nesting too deep"* ]]
}

@test "aliases: a target that is no user is a permanent failure before anything is delivered" {
	run dl s@example.org broken@example.test <"$M"
	[ "$status" -eq 100 ]
	[ "${lines[0]}" = "5.1.1 alias broken@example.test: no such user nosuch@example.test" ]
	[ ! -e "$MAIL/alice" ]
}

@test "unknown users are a permanent failure 5.1.1" {
	for r in nosuch@example.test nosuch+ext@example.test someone@elsewhere.test; do
		run dl s@example.org "$r" <"$M"
		[ "$status" -eq 100 ]
		[ "${lines[0]}" = "5.1.1 no such user $r" ]
	done
}

@test "a message already delivered to this address fails permanently: mail loop" {
	printf 'Received: x\nDELIVERED-TO:  Alice@Example.Test\nSubject: l\n\nbody\n' >"$BATS_TEST_TMPDIR/l"
	run dl s@example.org alice@example.test <"$BATS_TEST_TMPDIR/l"
	[ "$status" -eq 100 ]
	[[ ${lines[0]} == "5.4.6 mail loop"* ]]
	[ ! -e "$MAIL/alice/new" ] || [ -z "$(ls "$MAIL/alice/new")" ]
	# only the header counts, and other addresses are no loop
	printf 'Delivered-To: bob@example.test\nSubject: l\n\nDelivered-To: alice@example.test\n' >"$BATS_TEST_TMPDIR/l2"
	run dl s@example.org alice@example.test <"$BATS_TEST_TMPDIR/l2"
	[ "$status" -eq 0 ]
	# the header is read 8 KiB first, then in 64 KiB pieces: a field past
	# the first piece still counts, and a blank line split between two
	# pieces still ends the header
	python3 -c 'import sys
pad = b"".join(b"X-Pad-%04d: %s\n" % (i, b"p" * 40) for i in range(300))
open(sys.argv[1], "wb").write(pad + b"Delivered-To: alice@example.test\n\nbody\n")
head = b"X-Pad: " + b"q" * (8191 - 8) + b"\n"
assert len(head) == 8191
open(sys.argv[2], "wb").write(head + b"\nDelivered-To: alice@example.test\n")' "$BATS_TEST_TMPDIR/l3" "$BATS_TEST_TMPDIR/l4"
	run dl s@example.org alice@example.test <"$BATS_TEST_TMPDIR/l3"
	[ "$status" -eq 100 ]
	[[ ${lines[0]} == "5.4.6 mail loop"* ]]
	run dl s@example.org alice@example.test <"$BATS_TEST_TMPDIR/l4"
	[ "$status" -eq 0 ]
}

@test "|command: qmail environment, message with our header lines on stdin" {
	run dl s@example.org cmd+tag@example.test <"$M"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "delivered to command env >"* ]]
	grep -qx 'SENDER=s@example.org' "$BATS_TEST_TMPDIR/env"
	grep -qx 'RECIPIENT=cmd+tag@example.test' "$BATS_TEST_TMPDIR/env"
	grep -qx 'LOCAL=cmd+tag' "$BATS_TEST_TMPDIR/env"
	grep -qx 'HOST=example.test' "$BATS_TEST_TMPDIR/env"
	grep -qx 'EXT=tag' "$BATS_TEST_TMPDIR/env"
	{ expect_headers s@example.org cmd+tag@example.test; cat "$M"; } | cmp - "$BATS_TEST_TMPDIR/stdin"
}

@test "|command: a sender longer than the copy buffer reaches the command whole" {
	long=$(head -c 70000 /dev/zero | tr '\0' a)@example.org
	run dl "$long" cmd@example.test <"$M"
	[ "$status" -eq 0 ]
	{ expect_headers "$long" cmd@example.test; cat "$M"; } | cmp - "$BATS_TEST_TMPDIR/stdin"
}

@test "|command: exit codes map to delivered, permanent and temporary" {
	for pair in 0:0 99:0 100:100 67:100 64:100 78:100 75:111 111:111 1:111; do
		code=${pair%:*} want=${pair#*:}
		echo "c@example.test: |echo said $code; exit $code" >"$CONF/aliases"
		run dl s@example.org c@example.test <"$M"
		[ "$status" -eq "$want" ] || { echo "exit $code gave $status"; false; }
		[ "$want" -eq 0 ] || [[ ${lines[0]} == [45].3.0" command exited $code: said $code" ]]
	done
	# a command that hangs is killed at the timeout
	echo 'local-command-timeout 1' >"$CONF/limits"
	echo "c@example.test: |sleep 30" >"$CONF/aliases"
	run timeout 20 bash -c 'deliver-local "$@" 2>/dev/null' x s@example.org c@example.test <"$M"
	[ "$status" -eq 111 ]
	[[ ${lines[0]} == "4.3.0 command timed out"* ]]
}

@test "forward: a foreign target is re-injected with the sender, the forward address and Delivered-To" {
	run dl s@example.org far@example.test <"$M"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "delivered to maildir $MAIL/alice/; forwarded to dave@far.test" ]
	f=$(queued_files)
	[ "$(echo "$f" | wc -l)" = 1 ]
	{ printf 'Delivered-To: far@example.test\n'; cat "$M"; } >"$BATS_TEST_TMPDIR/fwd"
	{ printf 'Fs@example.org\nTdave@far.test\n%s\n\n' "$(queue_check_line "$BATS_TEST_TMPDIR/fwd")"; cat "$BATS_TEST_TMPDIR/fwd"; } | cmp - "$f"
	# the forwarded copy coming back is caught as a loop
	tail -n +5 "$f" >"$BATS_TEST_TMPDIR/back"
	run dl s@example.org far@example.test <"$BATS_TEST_TMPDIR/back"
	[ "$status" -eq 100 ]
	[[ ${lines[0]} == "5.4.6 mail loop"* ]]
}

@test "forward: QMAILQUEUE names the queue program; its refusals map to 100 and 111" {
	cat >"$BATS_TEST_TMPDIR/qq" <<-EOF
		#!/bin/sh
		cat >"$BATS_TEST_TMPDIR/qq.msg"
		cat <&1 >"$BATS_TEST_TMPDIR/qq.env"
		exit \${QQ_EXIT:-0}
	EOF
	chmod +x "$BATS_TEST_TMPDIR/qq"
	export QMAILQUEUE=$BATS_TEST_TMPDIR/qq
	echo 'fw@example.test: x@far.test, y@far.test' >"$CONF/aliases"
	run dl '' fw@example.test <"$M"
	[ "$status" -eq 0 ]
	printf 'F\0Tx@far.test\0Ty@far.test\0\0' | cmp - "$BATS_TEST_TMPDIR/qq.env"
	{ echo 'Delivered-To: fw@example.test'; cat "$M"; } | cmp - "$BATS_TEST_TMPDIR/qq.msg"
	QQ_EXIT=31 run dl s@example.org fw@example.test <"$M"
	[ "$status" -eq 100 ]
	[[ ${lines[0]} == "5.3.0 forward failed: queue program exited 31"* ]]
	QQ_EXIT=53 run dl s@example.org fw@example.test <"$M"
	[ "$status" -eq 111 ]
	[[ ${lines[0]} == "4.3.0 forward failed: queue program exited 53"* ]]
}

# system_account: a new account $TESTUSER (uid $uid) with its home in $HOMES/home
system_account() {
	TESTUSER=sltest$$
	HOMES=$(mktemp -d /tmp/sluice-home.XXXXXX)
	chmod 755 "$HOMES"
	uid=$(awk -F: 'BEGIN { u = 42000 } { used[$3] = 1 } END { while (used[u]) u++; print u }' /etc/passwd)
	useradd -m -d "$HOMES/home" -u "$uid" -s /bin/sh "$TESTUSER"
}

@test "system accounts: ~/Maildir/ written as the account; root and low uids refused" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	system_account
	run dl s@example.org "$TESTUSER+x@example.test" <"$M"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "delivered to maildir $HOMES/home/Maildir/" ]
	f=$(ls "$HOMES/home/Maildir/new/"*)
	[ "$(stat -c %u:%g "$f")" = "$uid:$(id -g "$TESTUSER")" ]
	[ "$(stat -c %u "$HOMES/home/Maildir/new")" = "$uid" ]
	# a command in a users-table owner's name runs as that account too
	echo "u@example.test $HOMES/home/u.mbox $TESTUSER" >"$CONF/users"
	deliver-local s@example.org u@example.test <"$M"
	[ "$(stat -c %u "$HOMES/home/u.mbox")" = "$uid" ]
	# the account cannot write outside its rights: a temporary failure
	echo "v@example.test /root/v.mbox $TESTUSER" >"$CONF/users"
	run dl s@example.org v@example.test <"$M"
	[ "$status" -eq 111 ]
	[[ ${lines[0]} == "4.3.0 unable to "*"Permission denied" ]]
	# root, daemon (uid 1) and uids past local-max-uid are no mail users
	for u in root daemon; do
		run dl s@example.org "$u@example.test" <"$M"
		[ "$status" -eq 100 ]
	done
	echo "local-max-uid $((uid - 1))" >"$CONF/limits"
	run dl s@example.org "$TESTUSER@example.test" <"$M"
	[ "$status" -eq 100 ]
	echo "local-system-accounts 0" >"$CONF/limits"
	run dl s@example.org "$TESTUSER@example.test" <"$M"
	[ "$status" -eq 100 ]
}

# test_account: a new account $TESTUSER without a home, and $HOMES, a scratch directory anyone may write
test_account() {
	TESTUSER=sltest$$
	HOMES=$(mktemp -d /tmp/sluice-home.XXXXXX)
	chmod 777 "$HOMES"
	useradd -M -d /nonexistent "$TESTUSER"
}

@test "aliases owned by a user run their commands as that user" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	test_account
	echo "w@example.test: |id -u >$HOMES/who" >"$CONF/aliases"
	chown "$TESTUSER" "$CONF/aliases"
	deliver-local s@example.org w@example.test <"$M"
	[ "$(cat "$HOMES/who")" = "$(id -u "$TESTUSER")" ]
}

@test "RCPT-time lookup (local_rcpt_exists) agrees with delivery, from text and from cdb" {
	addrs="alice@example.test ALICE+x@example.test team@example.test all@example.test postmaster@other.test
		ping@example.test a1@example.test broken@example.test nosuch@example.test far@example.test
		cmd+z@example.test someone@elsewhere.test root@example.test"
	"$BATS_FILE_TMPDIR/rcpt-exists" $addrs >"$BATS_TEST_TMPDIR/text"
	grep -qx 'alice@example.test exists ' "$BATS_TEST_TMPDIR/text"
	grep -qx 'nosuch@example.test unknown 5.1.1 no such user nosuch@example.test' "$BATS_TEST_TMPDIR/text"
	grep -qx 'a1@example.test unknown 5.4.6 a1@example.test expands to nothing (alias loop?)' "$BATS_TEST_TMPDIR/text"
	# every "exists" is deliverable and every "unknown" fails permanently
	for a in $addrs; do
		r=$(grep "^$a " "$BATS_TEST_TMPDIR/text" | cut -d' ' -f2)
		run dl -n "$a"
		if [ "$r" = exists ]; then [ "$status" -eq 0 ]; else [ "$status" -eq 100 ]; fi
	done
	# the compiled tables answer the same
	sluice-tables
	[ -f "$CONF/users.cdb" ]
	[ -f "$CONF/aliases.cdb" ]
	"$BATS_FILE_TMPDIR/rcpt-exists" $addrs | diff "$BATS_TEST_TMPDIR/text" -
	for a in $addrs; do deliver-local -n "$a" || true; done >"$BATS_TEST_TMPDIR/cdb.n"
	rm "$CONF/users.cdb" "$CONF/aliases.cdb"
	for a in $addrs; do deliver-local -n "$a" || true; done | diff "$BATS_TEST_TMPDIR/cdb.n" -
	# an unreadable table is a temporary failure, never "unknown"
	mkdir "$CONF/users.cdb"
	run "$BATS_FILE_TMPDIR/rcpt-exists" alice@example.test
	[[ $output == "alice@example.test temporary 4.3.0 unable to read table users"* ]]
	run dl s@example.org alice@example.test <"$M"
	[ "$status" -eq 111 ]
}

@test "sluice-tables: refuses upper-case keys, warns on repeats, replaces atomically" {
	printf 'Bob@example.test: x\n' >>"$CONF/aliases"
	run sluice-tables aliases
	[ "$status" -eq 100 ]
	[[ $output == *"key Bob@example.test has upper-case letters"* ]]
	[ ! -e "$CONF/aliases.cdb" ]
	printf 'team@example.test: carol\n' >"$CONF/aliases"
	printf 'team@example.test: alice@example.test\n' >>"$CONF/aliases"
	run sluice-tables aliases
	[ "$status" -eq 0 ]
	[[ $output == *"warning: team@example.test repeated"* ]]
	[ "$(cdb -q "$CONF/aliases.cdb" team@example.test)" = carol ]
	[ -z "$(ls -A "$CONF" | grep '^\.')" ]
	run sluice-tables -n
	[ "$status" -eq 0 ]
}

@test "usage and input errors" {
	run dl onlyone
	[ "$status" -eq 100 ]
	run sh -c "cat '$M' | deliver-local s@example.org alice@example.test"
	[ "$status" -eq 111 ]
	[ "${lines[0]}" = "4.3.0 the message on fd 0 is not seekable" ]
}

@test "|command: a background process left holding the output does not stall delivery" {
	echo "bg@example.test: |sleep 30 & echo \$! >$BATS_TEST_TMPDIR/bg.pids; echo done" >"$CONF/aliases"
	start=$(date +%s)
	run timeout 20 bash -c 'deliver-local "$@" 2>/dev/null' x s@example.org bg@example.test <"$M"
	[ "$status" -eq 0 ]
	[ $(($(date +%s) - start)) -lt 10 ]
	[ -s "$BATS_TEST_TMPDIR/bg.pids" ] # the sleep is ended by teardown
}

# forks FILE: the processes created in an "strace -f -o FILE" run
forks() { grep -cE '^[0-9]+ +(fork|vfork|clone|clone3)\(' "$1" || true; }

@test "privileges: one mailbox as root, and any number without root, are written without a child process" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	command -v strace >/dev/null || skip "no strace"
	# a sanitized build's leak checker cannot run under ptrace
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	st=$BATS_TEST_TMPDIR/st
	strace -f -qq -e trace=fork,vfork,clone,clone3 -o "$st" deliver-local s@example.org alice@example.test \
		<"$M" 2>>"$BATS_TEST_TMPDIR/log"
	[ "$(forks "$st")" = 0 ]
	[ "$(ls "$MAIL/alice/new" | wc -l)" = 1 ]
	# two destinations: the first in a child (root is still needed after it), the last in the process
	strace -f -qq -e trace=fork,vfork,clone,clone3 -o "$st" deliver-local s@example.org team@example.test \
		<"$M" 2>>"$BATS_TEST_TMPDIR/log"
	[ "$(forks "$st")" = 1 ]
	[ "$(ls "$MAIL/alice/new" | wc -l)" = 2 ]
	[ "$(mbox_msgs "$MAIL/bob.mbox" | tr '\0' '\n' | grep -c '^Delivered-To: team@example.test$')" = 1 ]
	# without root nothing is forked, whatever the count
	HOMES=$(mktemp -d /tmp/sluice-dl.XXXXXX)
	chmod 755 "$HOMES"
	mkdir "$HOMES/conf" "$HOMES/mail"
	chown nobody "$HOMES/mail"
	cp "$CONF/locals" "$HOMES/conf/"
	: >"$HOMES/conf/limits"
	printf 'x@example.test %s/mail/a/\ny@example.test %s/mail/b.mbox\n' "$HOMES" "$HOMES" >"$HOMES/conf/users"
	echo 'xy@example.test: x@example.test, y@example.test' >"$HOMES/conf/aliases"
	cp "$M" "$HOMES/msg"
	chmod -R a+rX "$HOMES/conf" "$HOMES/msg"
	SLUICE_CONF=$HOMES/conf strace -f -qq -e trace=fork,vfork,clone,clone3 -o "$st" \
		setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
		deliver-local s@example.org xy@example.test <"$HOMES/msg" 2>>"$BATS_TEST_TMPDIR/log"
	[ "$(forks "$st")" = 0 ]
	f=$(find "$HOMES/mail/a/new" -type f)
	[ "$(stat -c %U "$f")" = nobody ]
	{ expect_headers s@example.org xy@example.test; cat "$M"; } | cmp - "$f"
	[ -z "$(ls "$HOMES/mail/a/tmp")" ]
	[ "$(stat -c %U "$HOMES/mail/b.mbox")" = nobody ]
}

@test "privileges: a last destination of another account still gets a child when a forward follows it" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	test_account
	printf '#!/bin/sh\nid -u >%s/qq.who\ncat >/dev/null\ncat <&1 >/dev/null\n' "$HOMES" >"$HOMES/qq"
	chmod 755 "$HOMES/qq"
	echo "fw@example.test: |id -u >$HOMES/who, dave@far.test" >"$CONF/aliases"
	chown "$TESTUSER" "$CONF/aliases"
	QMAILQUEUE=$HOMES/qq run dl s@example.org fw@example.test <"$M"
	[ "$status" -eq 0 ]
	[ "$(cat "$HOMES/who")" = "$(id -u "$TESTUSER")" ]
	# the forward is queued as the mail owner (the queue directory's, root here), not as the account
	[ "$(cat "$HOMES/qq.who")" = "$(stat -c %u "$QUEUE")" ]
}

@test "maildir: one flush when the queue file shares the maildir's journal, two otherwise; the file is whole in new/" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	command -v strace >/dev/null && command -v mkfs.ext4 >/dev/null || skip "no strace or mkfs.ext4"
	# a sanitized build's leak checker cannot run under ptrace
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	img=$BATS_TEST_TMPDIR/img
	truncate -s 32M "$img"
	mkfs.ext4 -q -F "$img"
	mkdir "$BATS_TEST_TMPDIR/mnt"
	cp "$M" "$BATS_TEST_TMPDIR/other"
	# a private mount namespace: the mount (and its loop device) go when it ends
	run unshare -m sh -c '
		T=$1 M=$T/mnt
		mount -o loop "$T/img" "$M" || exit 77
		mkdir "$M/conf" "$M/queue" "$M/mail"
		echo "$M/queue" >"$M/conf/queuedir"
		echo example.test >"$M/conf/locals"
		: >"$M/conf/limits"
		echo "alice@example.test $M/mail/alice/" >"$M/conf/users"
		cp "$T/msg" "$M/queue/msg"
		for f in "$M/queue/msg" "$T/other"; do
			SLUICE_CONF=$M/conf strace -f -qq -e trace=fsync,fdatasync -o "$T/st" \
				deliver-local s@example.org alice@example.test <"$f" >/dev/null 2>>"$T/log" || exit 1
			grep -c sync "$T/st"
		done
		cd "$M/mail/alice" && for f in new/*; do cat "$f"; done >"$T/got" && ls tmp | wc -l' sh "$BATS_TEST_TMPDIR"
	[ "$status" -ne 77 ] || skip "no loop mount here"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '1\n2\n0')" ]
	{ expect_headers s@example.org alice@example.test; cat "$M"; expect_headers s@example.org alice@example.test; cat "$M"; } |
		cmp - "$BATS_TEST_TMPDIR/got"
}

# msgs_sorted DIR: the maildir's messages as Python reads them, sorted, NUL-separated
msgs_sorted() {
	maildir_msgs "$1" | python3 -c 'import sys
sys.stdout.buffer.write(b"".join(sorted(m + b"\0" for m in sys.stdin.buffer.read().split(b"\0")[:-1])))'
}

@test "-b: one report per job in argv order; one account's maildir jobs written together, any other job alone" {
	command -v strace >/dev/null || skip "no strace"
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	M2=$BATS_TEST_TMPDIR/msg2
	printf 'Subject: second\n\nanother body\n' >"$M2"
	out=$BATS_TEST_TMPDIR/out st=$BATS_TEST_TMPDIR/st
	strace -f -qq -e trace=sync_file_range,fsync -o "$st" \
		deliver-local -b 3 a@example.org alice@example.test 4 b@example.org bob@example.test \
		0 '' nosuch@example.test 5 c@example.org team@example.test 6 d@example.org alice@example.test \
		3<"$M" 4<"$M2" 5<"$M" 6<"$M2" <"$M" >"$out" 2>>"$BATS_TEST_TMPDIR/log"
	printf '%s\0' "rdelivered to maildir $MAIL/alice/" "rdelivered to mbox $MAIL/bob.mbox" \
		"h5.1.1 no such user nosuch@example.test" \
		"rdelivered to maildir $MAIL/alice/; delivered to mbox $MAIL/bob.mbox" \
		"rdelivered to maildir $MAIL/alice/" | cmp - "$out"
	# every message byte for byte where it belongs
	python3 -c 'import sys
hdr = lambda s, r: b"Return-Path: <%s>\nDelivered-To: %s\n" % (s.encode(), r.encode())
m, m2 = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
want = [hdr("a@example.org", "alice@example.test") + m, hdr("c@example.org", "team@example.test") + m,
        hdr("d@example.org", "alice@example.test") + m2]
sys.stdout.buffer.write(b"".join(sorted(w + b"\0" for w in want)))' "$M" "$M2" >"$BATS_TEST_TMPDIR/want"
	msgs_sorted "$MAIL/alice" | cmp - "$BATS_TEST_TMPDIR/want"
	[ "$(mbox_msgs "$MAIL/bob.mbox" | tr '\0' '\n' | grep -c '^Delivered-To: ')" = 2 ]
	[ -z "$(ls "$MAIL/alice/tmp")" ]
	# the group's two files carry their place in it in their names
	[ "$(ls "$MAIL/alice/new" | grep -cE '^[0-9]+\.M[0-9]+P[0-9]+Q[12]\..+,S=[0-9]+$')" = 2 ]
	# both files' write-back started before the first of their flushes
	pid=$(awk '/sync_file_range/ { print $1; exit }' "$st")
	[ "$(awk -v p="$pid" '$1 == p && $2 ~ /^(sync_file_range|fsync)\(/ { sub(/\(.*/, "", $2); print $2 }' "$st" |
		head -4 | tr '\n' ' ')" = "sync_file_range sync_file_range fsync fsync " ]
}

@test "-b: a |command sees its own message on stdin and none of the other jobs' descriptors" {
	echo "fds@example.test: |ls -l /proc/self/fd/ >$BATS_TEST_TMPDIR/fds; cat >$BATS_TEST_TMPDIR/stdin" >"$CONF/aliases"
	M2=$BATS_TEST_TMPDIR/msg2
	printf 'Subject: second\n\nanother body\n' >"$M2"
	out=$BATS_TEST_TMPDIR/out
	deliver-local -b 3 s@example.org alice@example.test 4 s@example.org fds@example.test \
		5 s@example.org alice@example.test 3<"$M" 4<"$M2" 5<"$M" >"$out" 2>>"$BATS_TEST_TMPDIR/log"
	[ "$(tr '\0' '\n' <"$out" | cut -c1 | tr -d '\n')" = rrr ]
	# no descriptor of the command leads to a message file (its stdin is a pipe)
	grep -q ' 0 -> pipe:' "$BATS_TEST_TMPDIR/fds"
	[ "$(grep -c -e '/msg$' -e '/msg2$' "$BATS_TEST_TMPDIR/fds")" = 0 ]
	{ expect_headers s@example.org fds@example.test; cat "$M2"; } | cmp - "$BATS_TEST_TMPDIR/stdin"
}

@test "-b: usage errors exit 100; a job whose fd is no message fails alone" {
	run dl -b 3 a@example.org
	[ "$status" -eq 100 ]
	for fd in 1 2 x -3 '' ' 3' +3 3x 99999999999; do
		run dl -b "$fd" a@example.org alice@example.test <"$M"
		[ "$status" -eq 100 ]
	done
	args=()
	for i in $(seq 65); do args+=(0 a@example.org alice@example.test); done
	run dl -b "${args[@]}" <"$M"
	[ "$status" -eq 100 ]
	[ -z "$(ls "$MAIL" 2>/dev/null)" ]
	# fd 7 is not open, fd 0 is a pipe: temporary failures; fd 3 is delivered
	out=$BATS_TEST_TMPDIR/out
	echo x | deliver-local -b 7 a@example.org alice@example.test 3 a@example.org alice@example.test \
		0 a@example.org alice@example.test 3<"$M" >"$out" 2>>"$BATS_TEST_TMPDIR/log"
	printf '%s\0' "s4.3.0 the message on fd 7 is not seekable" "rdelivered to maildir $MAIL/alice/" \
		"s4.3.0 the message on fd 0 is not seekable" | cmp - "$out"
	[ "$(ls "$MAIL/alice/new" | wc -l)" = 1 ]
}

@test "-b: a full maildir fails its own job, the other in the same batch is delivered" {
	TMPFS=$BATS_TEST_TMPDIR/small
	mkdir "$TMPFS"
	mount -t tmpfs -o size=256k tmpfs "$TMPFS"
	printf 'alice@example.test %s/alice/\ndave@example.test %s/dave/\n' "$TMPFS" "$MAIL" >"$CONF/users"
	head -c 400000 /dev/zero | tr '\0' 'x' | fold -w 70 >"$BATS_TEST_TMPDIR/big"
	out=$BATS_TEST_TMPDIR/out
	deliver-local -b 3 s@example.org alice@example.test 4 s@example.org dave@example.test \
		3<"$BATS_TEST_TMPDIR/big" 4<"$M" >"$out" 2>>"$BATS_TEST_TMPDIR/log"
	tr '\0' '\n' <"$out" >"$out.txt"
	[[ $(sed -n 1p "$out.txt") == "s4.2.2 mailbox full: "* ]]
	[ "$(sed -n 2p "$out.txt")" = "rdelivered to maildir $MAIL/dave/" ]
	[ -z "$(find "$TMPFS/alice" -type f)" ]
	{ expect_headers s@example.org dave@example.test; cat "$M"; } | cmp - "$MAIL/dave/new/"*
}

@test "-b: as root, each account's maildirs are written as that account" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	system_account
	out=$BATS_TEST_TMPDIR/out
	deliver-local -b 0 s@example.org "$TESTUSER@example.test" 0 s@example.org alice@example.test \
		0 s@example.org "$TESTUSER@example.test" <"$M" >"$out" 2>>"$BATS_TEST_TMPDIR/log"
	printf '%s\0' "rdelivered to maildir $HOMES/home/Maildir/" "rdelivered to maildir $MAIL/alice/" \
		"rdelivered to maildir $HOMES/home/Maildir/" | cmp - "$out"
	[ "$(find "$HOMES/home/Maildir/new" -type f -user "$uid" | wc -l)" = 2 ]
	[ "$(find "$MAIL/alice/new" -type f -user 0 | wc -l)" = 1 ]
}
