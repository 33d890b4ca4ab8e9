#!/usr/bin/env bats
# smtp-recv: scripted SMTP dialogues on stdin, exact replies on stdout.
# Only the queue id and dates are normalised.  The queue program is either
# the real queue-inject or tests/fixtures/smtp-recv/fake-queue (QMAILQUEUE),
# a shell stand-in that records what it was given.

load lib

FX=$TOP/tests/fixtures/smtp-recv

setup() {
	sluice_conf
	export TCPREMOTEIP=192.0.2.7 TCPREMOTEPORT=40000 TCPLOCALIP=192.0.2.1 TCPLOCALPORT=25 TZ=UTC
	unset RELAYCLIENT QMAILQUEUE TCPREMOTEHOST
	OUT=$BATS_TEST_TMPDIR/out
	LOG=$BATS_TEST_TMPDIR/log
}

# norm: queue ids and dates become QID and DATE
norm() {
	sed -E 's/[0-9]{10}\.[0-9]{6}\.[0-9]{7}/QID/g; s/(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{1,2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} [+-][0-9]{4}/DATE/g'
}

# smtp: raw bytes on stdin (printf escapes in $1), normalised replies in $OUT
smtp() {
	printf "$1" | smtp-recv 2>>"$LOG" | norm >"$OUT"
}

# expect: the replies in $OUT are exactly these lines, each ending in CRLF
expect() {
	if ! printf '%s\r\n' "$@" | cmp -s - "$OUT"; then
		diff <(printf '%s\r\n' "$@" | cat -A) <(cat -A "$OUT")
		return 1
	fi
}

# dialogue NAME: fixture NAME.in (LF turned into CRLF) gives exactly NAME.out
dialogue() {
	crlf <"$FX/$1.in" | smtp-recv 2>>"$LOG" | norm >"$OUT"
	if ! crlf <"$FX/$1.out" | cmp -s - "$OUT"; then
		diff <(crlf <"$FX/$1.out" | cat -A) <(cat -A "$OUT")
		return 1
	fi
}

fake_queue() { # fake_queue EXIT [FD6-TEXT]
	export QMAILQUEUE=$FX/fake-queue FAKE_DIR=$BATS_TEST_TMPDIR/fake FAKE_EXIT=$1 FAKE_TEXT=${2:-}
	mkdir -p "$FAKE_DIR"
}

HELLO='EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.test>\r\n'
EHLO_REPLY=('220 mx.example.test ESMTP sluice' '250-mx.example.test' '250-PIPELINING'
	'250-SIZE 26214400' '250-8BITMIME' '250-ENHANCEDSTATUSCODES' '250-SMTPUTF8' '250 CHUNKING')

@test "a whole session: exact replies, and the queue file holds envelope, Received and message" {
	dialogue session
	[ "$(queued_files | wc -l)" = 1 ]
	f=$(queued_files)
	id=$(basename "$f")
	grep -q "250 2.0.0 Ok: queued as QID" "$OUT"
	norm <"$f" >"$BATS_TEST_TMPDIR/q"
	printf '%s\n' 'Falice@example.org' 'Tbob@example.test' '' \
		'Received: from client.example ([192.0.2.7])' \
		'	by mx.example.test (sluice) with ESMTP id QID' \
		'	for <bob@example.test>; DATE' \
		'Subject: hello' 'From: alice@example.org' '' 'line one' '.leading dot' |
		cmp - "$BATS_TEST_TMPDIR/q"
	# the id in the reply, the queue file name and every log line agree
	grep -q "event=queued id=$id size=" "$LOG"
	grep -q "event=mail id=$id from=<alice@example.org>" "$LOG"
	grep -q "event=rcpt id=$id rcpt=<bob@example.test> result=accepted" "$LOG"
	grep -q "event=connect remote=192.0.2.7 port=40000 local=192.0.2.1:25" "$LOG"
	grep -q "event=disconnect remote=192.0.2.7 reason=quit messages=1 rcpts=1 errors=0" "$LOG"
}

@test "every command, in and out of sequence, with syntax errors" {
	echo 'errors 100' >"$CONF/limits"
	dialogue commands
	[ -z "$(queued_files)" ]
}

@test "pipelining: a whole transaction in one write gets every reply in order" {
	smtp "${HELLO}RCPT TO:<nobody@elsewhere.example>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\nSubject: p\r\n\r\nbody\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nsecond\r\n.\r\nQUIT\r\n"
	expect "${EHLO_REPLY[@]}" '250 2.1.0 Ok' '250 2.1.5 Ok' '554 5.7.1 Relay access denied' '250 2.1.5 Ok' \
		'354 End data with <CR><LF>.<CR><LF>' '250 2.0.0 Ok: queued as QID' \
		'250 2.1.0 Ok' '250 2.1.5 Ok' '354 End data with <CR><LF>.<CR><LF>' '250 2.0.0 Ok: queued as QID' \
		'221 2.0.0 mx.example.test Bye'
	[ "$(queued_files | wc -l)" = 2 ]
	# two recipients: no "for" clause
	grep -q 'id [0-9.]*;$' "$(queued_files | head -n1)"
	printf 'F\nTbob@example.test\n' | cmp - <(head -n2 "$(queued_files | tail -n1)")
}

@test "a client that pipelines DATA with a rejected RCPT gets 554 and its text is not run as commands" {
	smtp 'EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<x@elsewhere.example>\r\nDATA\r\nQUIT\r\n'
	expect "${EHLO_REPLY[@]}" '250 2.1.0 Ok' '554 5.7.1 Relay access denied' '554 5.5.1 No valid recipients' \
		'221 2.0.0 mx.example.test Bye'
}

@test "BDAT: chunks in one pipelined write make one message, CRLF becoming LF across chunk edges" {
	smtp "${HELLO}BDAT 13\r\nSubject: b\r\n\rBDAT 10\r\n\nline one\rBDAT 1 LAST\r\n\nQUIT\r\n"
	expect "${EHLO_REPLY[@]}" '250 2.1.0 Ok' '250 2.1.5 Ok' '250 2.0.0 13 octets received' \
		'250 2.0.0 10 octets received' '250 2.0.0 Ok: queued as QID' '221 2.0.0 mx.example.test Bye'
	f=$(queued_files)
	tail -n 3 "$f" | cmp - <(printf 'Subject: b\n\nline one\n')
}

@test "BDAT 0 LAST ends a message; a last line without CRLF gets its LF" {
	smtp "${HELLO}BDAT 6\r\nx: y\r\nBDAT 0 LAST\r\n${HELLO#EHLO client.example\\r\\n}BDAT 9 LAST\r\nSubject:zQUIT\r\n"
	expect "${EHLO_REPLY[@]}" '250 2.1.0 Ok' '250 2.1.5 Ok' '250 2.0.0 6 octets received' \
		'250 2.0.0 Ok: queued as QID' '250 2.1.0 Ok' '250 2.1.5 Ok' '250 2.0.0 Ok: queued as QID' \
		'221 2.0.0 mx.example.test Bye'
	tail -n1 "$(queued_files | head -n1)" | cmp - <(printf 'x: y\n')
	tail -c 10 "$(queued_files | tail -n1)" | cmp - <(printf 'Subject:z\n')
}

@test "BDAT out of sequence: its octets are read and dropped, never run as commands" {
	smtp 'EHLO c.example\r\nBDAT 33\r\nMAIL FROM:<a@example.org>\r\nRSET\r\nNOOP\r\nQUIT\r\n'
	expect "${EHLO_REPLY[@]}" '503 5.5.1 Need MAIL command' '250 2.0.0 Ok' '221 2.0.0 mx.example.test Bye'
}

@test "BDAT then DATA is out of sequence; a malformed BDAT closes the connection" {
	smtp "${HELLO}BDAT 3\r\nabcDATA\r\nRSET\r\nBDAT x\r\nNOOP\r\n"
	expect "${EHLO_REPLY[@]}" '250 2.1.0 Ok' '250 2.1.5 Ok' '250 2.0.0 3 octets received' \
		'503 5.5.1 DATA after BDAT' '250 2.0.0 Ok' \
		'421 4.5.4 mx.example.test Syntax: BDAT size [LAST], closing connection'
	[ -z "$(queued_files)" ]
	[ -z "$(ls "$QUEUE/tmp")" ]
}

@test "BDAT with a bare LF is refused after its chunk; the rest of the pipeline is dropped by 503" {
	smtp "${HELLO}BDAT 5\r\na\nb\r\nBDAT 3 LAST\r\nc\r\nQUIT\r\n"
	expect "${EHLO_REPLY[@]}" '250 2.1.0 Ok' '250 2.1.5 Ok' \
		'550 5.6.11 Bare CR or LF in message; lines must end with CRLF' '503 5.5.1 Need MAIL command' \
		'221 2.0.0 mx.example.test Bye'
	[ -z "$(queued_files)" ]
}
