#!/usr/bin/env bats
# smtp-recv: scripted SMTP dialogues on stdin, exact replies on stdout.
# Only the queue id and dates are normalised.  The queue program is either
# the real queue-inject or tests/fixtures/smtp-recv/fake-queue (QMAILQUEUE),
# a shell stand-in that records what it was given.

load lib

FX=$TOP/tests/fixtures/smtp-recv

setup() {
	sluice_conf
	sluice_users bob@example.test carol@example.test c@example.test d@example.test x@example.test
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
	queue_check_ok "$f"
	without_check "$f" | norm >"$BATS_TEST_TMPDIR/q"
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

# ---- limits ----

@test "limit message-size: advertised, SIZE= over it is 552, and a bigger message is 552 with nothing queued" {
	echo 'message-size 100' >"$CONF/limits"
	body=$(printf 'x%.0s' $(seq 1 120))
	smtp "EHLO c.example\r\nMAIL FROM:<a@example.org> SIZE=101\r\nMAIL FROM:<a@example.org> SIZE=100\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n$body\r\n.\r\nQUIT\r\n"
	expect '220 mx.example.test ESMTP sluice' '250-mx.example.test' '250-PIPELINING' '250-SIZE 100' \
		'250-8BITMIME' '250-ENHANCEDSTATUSCODES' '250-SMTPUTF8' '250 CHUNKING' \
		'552 5.3.4 Message size exceeds the fixed limit' '250 2.1.0 Ok' '250 2.1.5 Ok' \
		'354 End data with <CR><LF>.<CR><LF>' '552 5.3.4 Message size exceeds the fixed limit' \
		'221 2.0.0 mx.example.test Bye'
	[ -z "$(queued_files)" ]
	[ -z "$(ls "$QUEUE/tmp")" ]
	grep -q 'event=reject id=[0-9.]* stage=data reason=size' "$LOG"
}

@test "limit message-size applies to BDAT too" {
	echo 'message-size 10' >"$CONF/limits"
	smtp "${HELLO}BDAT 9\r\n1234567\r\nBDAT 9 LAST\r\n1234567\r\nQUIT\r\n"
	[ "$(sed -n 11p "$OUT")" = $'250 2.0.0 9 octets received\r' ]
	[ "$(sed -n 12p "$OUT")" = $'552 5.3.4 Message size exceeds the fixed limit\r' ]
	[ -z "$(queued_files)" ]
}

@test "limit recipients: the one past the limit is 452 4.5.3 and the message goes to the others" {
	echo 'recipients 2' >"$CONF/limits"
	smtp "${HELLO}RCPT TO:<c@example.test>\r\nRCPT TO:<d@example.test>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n"
	[ "$(sed -n 11,13p "$OUT")" = $'250 2.1.5 Ok\r\n452 4.5.3 Too many recipients\r\n354 End data with <CR><LF>.<CR><LF>\r' ]
	printf 'Fa@example.org\nTbob@example.test\nTc@example.test\n' | cmp - <(head -n3 "$(queued_files)")
}

@test "limit command-line: 512 octets with CRLF pass, 513 are 500 5.5.2" {
	ok=$(printf 'NOOP %0506d' 0)  # 5 + 506 + CRLF = 513
	short=${ok%0}                  # 512
	smtp "$short\r\n$ok\r\nQUIT\r\n"
	expect '220 mx.example.test ESMTP sluice' '250 2.0.0 Ok' '500 5.5.2 Line too long' '221 2.0.0 mx.example.test Bye'
}

@test "limit text-line: 1000 octets with CRLF pass, 1001 are refused after the data" {
	line=$(printf '%0998d' 0)
	smtp "${HELLO}DATA\r\n$line\r\n.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n${line}x\r\n.\r\nQUIT\r\n"
	expect "${EHLO_REPLY[@]}" '250 2.1.0 Ok' '250 2.1.5 Ok' '354 End data with <CR><LF>.<CR><LF>' \
		'250 2.0.0 Ok: queued as QID' '250 2.1.0 Ok' '250 2.1.5 Ok' '354 End data with <CR><LF>.<CR><LF>' \
		'550 5.6.0 Line too long' '221 2.0.0 mx.example.test Bye'
	[ "$(queued_files | wc -l)" = 1 ]
}

@test "limit errors: after that many refused commands, 421 and the connection closes" {
	echo 'errors 3' >"$CONF/limits"
	smtp 'XX\r\nNOOP\r\nYY\r\nMAIL FROM:<a@b.example>\r\nNOOP\r\nNOOP\r\n'
	expect '220 mx.example.test ESMTP sluice' '500 5.5.2 Unknown command' '250 2.0.0 Ok' \
		'500 5.5.2 Unknown command' '503 5.5.1 Send EHLO or HELO first' \
		'421 4.7.0 mx.example.test Too many errors, closing connection'
	grep -q 'event=disconnect .*reason=errors .*errors=3' "$LOG"
}

@test "limit received-headers: one past the limit is a loop (554 5.4.6); Received: in the body does not count" {
	echo 'received-headers 2' >"$CONF/limits"
	r='Received: from a by b; Sun, 1 Jan 2026 00:00:00 +0000\r\n'
	smtp "${HELLO}DATA\r\n$r${r}Subject: ok\r\n\r\n$r$r$r.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n$r${r}rEcEiVeD: x\r\n\r\n.\r\nQUIT\r\n"
	expect "${EHLO_REPLY[@]}" '250 2.1.0 Ok' '250 2.1.5 Ok' '354 End data with <CR><LF>.<CR><LF>' \
		'250 2.0.0 Ok: queued as QID' '250 2.1.0 Ok' '250 2.1.5 Ok' '354 End data with <CR><LF>.<CR><LF>' \
		'554 5.4.6 Too many Received headers: mail loop' '221 2.0.0 mx.example.test Bye'
	[ "$(queued_files | wc -l)" = 1 ]
}

@test "limit timeout: a silent client gets 421 4.4.2 and is dropped; a message half sent is not queued" {
	echo 'timeout 1' >"$CONF/limits"
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 8<>"$BATS_TEST_TMPDIR/in"
	printf "${HELLO}DATA\r\nSubject: half\r\n" >&8
	start=$(date +%s)
	timeout 20 smtp-recv <"$BATS_TEST_TMPDIR/in" 2>>"$LOG" | norm >"$OUT"
	exec 8>&-
	[ $(($(date +%s) - start)) -lt 10 ]
	expect "${EHLO_REPLY[@]}" '250 2.1.0 Ok' '250 2.1.5 Ok' '354 End data with <CR><LF>.<CR><LF>' \
		'421 4.4.2 mx.example.test Timeout, closing connection'
	[ -z "$(queued_files)" ]
	[ -z "$(ls "$QUEUE/tmp")" ]
}

@test "a client gone in the middle of DATA: nothing queued, no temporary file left" {
	smtp "${HELLO}DATA\r\nSubject: cut\r\n\r\nhalf a mess"
	[ "$(tail -n1 "$OUT")" = $'354 End data with <CR><LF>.<CR><LF>\r' ]
	[ -z "$(queued_files)" ]
	[ -z "$(ls "$QUEUE/tmp")" ]
	grep -q 'event=disconnect .*reason=eof' "$LOG"
}

# ---- smuggling: bare CR / LF never end DATA nor start a transaction ----

@test "every smuggling sequence is refused whole, and the smuggled transaction never runs" {
	for seq in '\n.\n' '\n.\r\n' '\r.\r\n' '\r\n.\r' '\r.\r' '\n.\r' '\r.\n' '\r\n.\n' '\r\n.\r.\r\n' '\r\n.\n.\r\n'; do
		smtp "${HELLO}DATA\r\nSubject: s\r\n\r\nhello${seq}MAIL FROM:<evil@example.org>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nsmuggled\r\n.\r\nQUIT\r\n"
		expect "${EHLO_REPLY[@]}" '250 2.1.0 Ok' '250 2.1.5 Ok' '354 End data with <CR><LF>.<CR><LF>' \
			'550 5.6.11 Bare CR or LF in message; lines must end with CRLF' '221 2.0.0 mx.example.test Bye' ||
			{ echo "sequence $seq"; false; }
	done
	[ -z "$(queued_files)" ]
	[ -z "$(ls "$QUEUE/tmp")" ]
	! grep -q 'from=<evil@example.org>' "$LOG" || false
}

@test "after a bare LF only a real CRLF.CRLF ends DATA: 550, then the session goes on" {
	smtp "${HELLO}DATA\r\nbare\nlf\r\n.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nfine\r\n.\r\nQUIT\r\n"
	expect "${EHLO_REPLY[@]}" '250 2.1.0 Ok' '250 2.1.5 Ok' '354 End data with <CR><LF>.<CR><LF>' \
		'550 5.6.11 Bare CR or LF in message; lines must end with CRLF' '250 2.1.0 Ok' '250 2.1.5 Ok' \
		'354 End data with <CR><LF>.<CR><LF>' '250 2.0.0 Ok: queued as QID' '221 2.0.0 mx.example.test Bye'
	[ "$(queued_files | wc -l)" = 1 ]
	[ "$(tail -n1 "$(queued_files)")" = fine ]
	grep -q 'event=reject id=[0-9.]* stage=data reason=bare-cr-lf' "$LOG"
}

@test "a NUL next to the dot does not end DATA either: refused as 550 5.6.0" {
	for seq in '\r\n\0.\r\n' '\r\n.\0\r\n'; do
		smtp "${HELLO}DATA\r\nhello${seq}MAIL FROM:<evil@example.org>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nsmuggled\r\n.\r\nQUIT\r\n"
		expect "${EHLO_REPLY[@]}" '250 2.1.0 Ok' '250 2.1.5 Ok' '354 End data with <CR><LF>.<CR><LF>' \
			'550 5.6.0 NUL octet in message' '221 2.0.0 mx.example.test Bye' || { echo "sequence $seq"; false; }
	done
	[ -z "$(queued_files)" ]
}

@test "bare CR, bare LF or NUL in a command line: 500, and nothing after it runs" {
	smtp "${HELLO}RSET\nMAIL FROM:<e@example.org>\r\nNOOP\rRCPT TO:<x@example.test>\r\nRCPT TO:<carol@example.test>\r\nRCPT TO:<d@example.test>\0\r\nDATA\r\nok\r\n.\r\nQUIT\n"
	expect "${EHLO_REPLY[@]}" '250 2.1.0 Ok' '250 2.1.5 Ok' \
		'500 5.5.2 Bare CR or LF, or NUL, in command; lines must end with CRLF' \
		'500 5.5.2 Bare CR or LF, or NUL, in command; lines must end with CRLF' '250 2.1.5 Ok' \
		'500 5.5.2 Bare CR or LF, or NUL, in command; lines must end with CRLF' \
		'354 End data with <CR><LF>.<CR><LF>' '250 2.0.0 Ok: queued as QID'
	printf 'Fa@example.org\nTbob@example.test\nTcarol@example.test\n\n' | cmp - <(without_check "$(queued_files)" | head -n4)
}

# ---- relay control ----

# relay FROM RCPT: one transaction; $OUT's 10th and 11th lines are the MAIL and RCPT replies
relay_try() {
	smtp "EHLO c.example\r\nMAIL FROM:<${1//%/%%}>\r\nRCPT TO:<${2//%/%%}>\r\nQUIT\r\n"
	sed -n 10p "$OUT" | tr -d '\r'
}

@test "the nmap smtp-open-relay attempts are all refused" {
	ip=192.0.2.1 dom=example.test
	while IFS='|' read -r from rcpt want; do
		got=$(relay_try "$from" "$rcpt")
		[ "$got" = "$want" ] || { echo "MAIL FROM:<$from> RCPT TO:<$rcpt>: got '$got', want '$want'"; false; }
	done <<-EOF2
		|relaytest@nmap.scanme.org|554 5.7.1 Relay access denied
		antispam@nmap.scanme.org|relaytest@nmap.scanme.org|554 5.7.1 Relay access denied
		antispam@$dom|relaytest@nmap.scanme.org|554 5.7.1 Relay access denied
		antispam@[$ip]|relaytest@nmap.scanme.org|554 5.7.1 Relay access denied
		antispam@[$ip]|relaytest%nmap.scanme.org@[$ip]|554 5.7.1 Address literals are not accepted
		antispam@[$ip]|relaytest%nmap.scanme.org@$dom|554 5.7.1 Relaying by %, ! or @ in the local part is not accepted
		antispam@[$ip]|"relaytest@nmap.scanme.org"|550 5.1.3 Recipient address must include a domain
		antispam@[$ip]|"relaytest%nmap.scanme.org"|550 5.1.3 Recipient address must include a domain
		antispam@[$ip]|relaytest@nmap.scanme.org@[$ip]|501 5.1.3 Bad recipient address syntax
		antispam@[$ip]|"relaytest@nmap.scanme.org"@[$ip]|554 5.7.1 Address literals are not accepted
		antispam@[$ip]|"relaytest@nmap.scanme.org"@$dom|554 5.7.1 Relaying by %, ! or @ in the local part is not accepted
		antispam@[$ip]|relaytest@nmap.scanme.org@$dom|501 5.1.3 Bad recipient address syntax
		antispam@[$ip]|@[$ip]:relaytest@nmap.scanme.org|554 5.7.1 Source routes are not accepted
		antispam@[$ip]|@$dom:relaytest@nmap.scanme.org|554 5.7.1 Source routes are not accepted
		antispam@[$ip]|@$dom:relaytest@$dom|554 5.7.1 Source routes are not accepted
		antispam@[$ip]|nmap.scanme.org!relaytest|550 5.1.3 Recipient address must include a domain
		antispam@[$ip]|nmap.scanme.org!relaytest@[$ip]|554 5.7.1 Address literals are not accepted
		antispam@[$ip]|nmap.scanme.org!relaytest@$dom|554 5.7.1 Relaying by %, ! or @ in the local part is not accepted
		antispam@[$ip]|relaytest%nmap.scanme.org|550 5.1.3 Recipient address must include a domain
		antispam@[$ip]|relaytest|550 5.1.3 Recipient address must include a domain
		antispam@[$ip]|relaytest@nmap.scanme.org.|501 5.1.3 Bad recipient address syntax
		antispam@[$ip]|relaytest@sub.$dom|554 5.7.1 Relay access denied
	EOF2
	grep -q 'event=rcpt .*result=rejected reason=relay-denied' "$LOG"
	grep -q 'event=rcpt .*result=rejected reason=source-route' "$LOG"
}

@test "accepted without RELAYCLIENT: locals, rcpthosts (.suffix too), and <postmaster> by itself" {
	printf 'relayed.example\n.sub.example\n' >"$CONF/rcpthosts"
	for r in bob@example.test BOB@Example.TEST x@relayed.example x@a.sub.example postmaster Postmaster postmaster@example.test; do
		[ "$(relay_try a@example.org "$r")" = '250 2.1.5 Ok' ] || { echo "$r refused"; false; }
	done
	[ "$(relay_try a@example.org x@sub.example)" = '554 5.7.1 Relay access denied' ]
	smtp "${HELLO%RCPT*}RCPT TO:<postmaster>\r\nDATA\r\nx\r\n.\r\n"
	printf 'Fa@example.org\nTpostmaster@example.test\n' | cmp - <(head -n2 "$(queued_files)")
}

@test "RELAYCLIENT relays anywhere, literals and routes included; unqualified is still refused" {
	export RELAYCLIENT=
	for r in x@elsewhere.example 'x%y@elsewhere.example' 'x@[192.0.2.9]' '@a.example:x@elsewhere.example'; do
		[ "$(relay_try a@example.org "$r")" = '250 2.1.5 Ok' ] || { echo "$r refused"; false; }
	done
	[ "$(relay_try a@example.org x)" = '550 5.1.3 Recipient address must include a domain' ]
	grep -q 'event=connect .*relay=yes' "$LOG"
}

@test "SMTPUTF8: a UTF-8 address is taken with the parameter and refused without it" {
	sluice_users zoë@example.test
	smtp "EHLO c.example\r\nMAIL FROM:<jörg@example.org> SMTPUTF8\r\nRCPT TO:<bob@example.test>\r\nRCPT TO:<zoë@example.test>\r\nDATA\r\nSubject: ü\r\n\r\n.\r\nQUIT\r\n"
	expect "${EHLO_REPLY[@]}" '250 2.1.0 Ok' '250 2.1.5 Ok' '250 2.1.5 Ok' '354 End data with <CR><LF>.<CR><LF>' \
		'250 2.0.0 Ok: queued as QID' '221 2.0.0 mx.example.test Bye'
	grep -q 'with UTF8SMTP id' "$(queued_files)"
	grep -qx 'Tzoë@example.test' "$(queued_files)"
}

# ---- the queue program: QMAILQUEUE, environment, exit codes ----

@test "the queue program gets the message with LF endings, then the envelope, and the documented environment" {
	fake_queue 0
	export TCPREMOTEHOST=client.example.net
	smtp "EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.test>\r\nRCPT TO:<c@example.test>\r\nDATA\r\nSubject: t\r\n\r\n..x\r\ny\r\n.\r\nQUIT\r\n"
	id=$(grep -o 'queued as [0-9.]*' "$LOG" >/dev/null; sed -n 's/.*event=queued id=\([0-9.]*\).*/\1/p' "$LOG")
	[ -n "$id" ]
	printf 'Fa@example.org\0Tbob@example.test\0Tc@example.test\0\0' | cmp - "$FAKE_DIR/envelope"
	norm <"$FAKE_DIR/message" >"$BATS_TEST_TMPDIR/m"
	printf '%s\n' 'Received: from c.example (client.example.net [192.0.2.7])' \
		'	by mx.example.test (sluice) with ESMTP id QID;' '	DATE' 'Subject: t' '' '.x' 'y' |
		cmp - "$BATS_TEST_TMPDIR/m"
	for v in REMOTE_IP=192.0.2.7 REMOTE_PORT=40000 REMOTE_HOST=client.example.net LOCAL_IP=192.0.2.1 \
		LOCAL_PORT=25 HELO=c.example PROTOCOL=ESMTP QUEUE_ID=$id; do
		grep -qx "$v" "$FAKE_DIR/env" || { echo "missing $v"; cat "$FAKE_DIR/env"; false; }
	done
	! grep -q '^RELAYCLIENT=' "$FAKE_DIR/env" || false
}

@test "the queue program's exit code becomes the reply" {
	while IFS='|' read -r code text want; do
		fake_queue "$code" "$text"
		smtp "${HELLO}DATA\r\nx\r\n.\r\n"
		got=$(sed -n 12p "$OUT" | tr -d '\r')
		[ "$got" = "$want" ] || { echo "exit $code: got '$got', want '$want'"; false; }
	done <<-EOF2
		0||250 2.0.0 Ok: queued as QID
		31||554 5.7.1 Message refused by a filter
		11||554 5.3.0 Message refused by the queue (#11)
		40||554 5.3.0 Message refused by the queue (#40)
		41||451 4.3.0 Temporary queue failure, try again later (#41)
		53||452 4.3.1 Insufficient system storage, try again later (#53)
		71||451 4.3.0 Temporary queue failure, try again later (#71)
		82|D5.7.1 Virus found|554 5.7.1 Virus found
		82|Dno thanks|554 5.3.0 no thanks
		82|Z4.2.0 Greylisted, come back later|451 4.2.0 Greylisted, come back later
		82|Zbusy|451 4.3.0 busy
		82|D550 5.7.1 spam refused|550 5.7.1 spam refused
		82|Z450 4.7.1 greylisted|450 4.7.1 greylisted
		82|D450 4.7.1 wrong class|554 5.3.0 450 4.7.1 wrong class
		82|Z421 4.7.0 no closing|451 4.3.0 421 4.7.0 no closing
		82|D4.1.1 wrong class|554 5.3.0 4.1.1 wrong class
		82|Xodd|451 4.3.0 Temporary queue failure, try again later
		82||451 4.3.0 Temporary queue failure, try again later
	EOF2
}

@test "a queue program that cannot be started is 451 and the session goes on" {
	export QMAILQUEUE=$BATS_TEST_TMPDIR/does-not-exist
	smtp "${HELLO}DATA\r\nRSET\r\nQUIT\r\n"
	[ "$(sed -n 10,13p "$OUT")" = $'250 2.1.5 Ok\r\n451 4.3.0 Unable to start the queue program, try again later\r\n250 2.0.0 Ok\r\n221 2.0.0 mx.example.test Bye\r' ]
	grep -q 'reason="unable to run .*/does-not-exist: No such file or directory"' "$LOG"
	# there, but not executable: said so
	printf '#!/bin/sh\n' >"$BATS_TEST_TMPDIR/not-executable"
	chmod 644 "$BATS_TEST_TMPDIR/not-executable"
	export QMAILQUEUE=$BATS_TEST_TMPDIR/not-executable
	smtp "${HELLO}DATA\r\nQUIT\r\n"
	[ "$(sed -n 11p "$OUT")" = $'451 4.3.0 Unable to start the queue program, try again later\r' ]
	grep -q 'reason="unable to run .*/not-executable: Permission denied"' "$LOG"
}

@test "the queue program starts once the message is all there: a message given up midway starts none" {
	fake_queue 0
	printf '#!/bin/sh\necho started >>"$FAKE_DIR/starts"\nexec %s\n' "$FX/fake-queue" >"$BATS_TEST_TMPDIR/counting-queue"
	chmod +x "$BATS_TEST_TMPDIR/counting-queue"
	export QMAILQUEUE=$BATS_TEST_TMPDIR/counting-queue
	# the client goes away in the middle of DATA
	smtp "${HELLO}DATA\r\nSubject: cut short\r\n\r\nhalf a message\r\n"
	[ "$(sed -n 11p "$OUT")" = $'354 End data with <CR><LF>.<CR><LF>\r' ]
	[ ! -e "$FAKE_DIR/starts" ]
	# refused at the end (a bare LF): nothing started either
	smtp "${HELLO}DATA\r\nbare\nLF\r\n.\r\nQUIT\r\n"
	grep -q '^550 5.6.11 ' "$OUT"
	[ ! -e "$FAKE_DIR/starts" ]
	# a whole one: started once, and it got everything
	smtp "${HELLO}DATA\r\nSubject: whole\r\n\r\nall of it\r\n.\r\nQUIT\r\n"
	grep -q '^250 2.0.0 Ok: queued as QID' "$OUT"
	[ "$(cat "$FAKE_DIR/starts")" = started ]
	[ "$(tail -n1 "$FAKE_DIR/message")" = "all of it" ]
	printf 'Fa@example.org\0Tbob@example.test\0\0' | cmp - "$FAKE_DIR/envelope"
}

@test "a queue program found at DATA that fails to start after the message is 451, logged, and the session goes on" {
	# executable, but not a program the kernel can run
	printf 'not a program\n' >"$BATS_TEST_TMPDIR/not-a-program"
	chmod +x "$BATS_TEST_TMPDIR/not-a-program"
	export QMAILQUEUE=$BATS_TEST_TMPDIR/not-a-program
	smtp "${HELLO}DATA\r\nx\r\n.\r\nRSET\r\nQUIT\r\n"
	[ "$(sed -n 11,14p "$OUT")" = $'354 End data with <CR><LF>.<CR><LF>\r\n451 4.3.0 Temporary queue failure, try again later (#127)\r\n250 2.0.0 Ok\r\n221 2.0.0 mx.example.test Bye\r' ]
	grep -q 'event=reject id=[0-9.]* stage=queue reason="unable to run the queue program: Exec format error"' "$LOG"
}

@test "conf chain names the queue program (argv split on white space)" {
	fake_queue 0
	printf '#comment\nsh %s\n' "$FX/fake-queue" >"$CONF/chain"
	unset QMAILQUEUE
	smtp "${HELLO}DATA\r\nvia chain\r\n.\r\n"
	grep -q 'queued as QID' "$OUT"
	[ "$(tail -n1 "$FAKE_DIR/message")" = "via chain" ]
}

@test "a large message streams through unchanged (LF endings), dot-stuffing undone" {
	fake_queue 0
	head -c 3000000 /dev/urandom | base64 -w 76 | sed 's/^/./' >"$BATS_TEST_TMPDIR/big"
	{ printf "${HELLO}DATA\r\n"; sed 's/^\./../; s/$/\r/' "$BATS_TEST_TMPDIR/big"; printf '.\r\nQUIT\r\n'; } |
		smtp-recv 2>>"$LOG" | norm >"$OUT"
	grep -q 'queued as QID' "$OUT"
	tail -n +4 "$FAKE_DIR/message" | cmp - "$BATS_TEST_TMPDIR/big"
}

@test "addresses from systemd (REMOTE_ADDR) and \${PROTO}REMOTEIP; IPv6 in Received: as an IPv6 literal; HELO means SMTP" {
	fake_queue 0
	unset TCPREMOTEIP TCPREMOTEPORT TCPLOCALIP TCPLOCALPORT
	REMOTE_ADDR=2001:db8::7 REMOTE_PORT=5555 smtp 'HELO old.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nx\r\n.\r\n'
	head -n2 "$FAKE_DIR/message" | norm | cmp - <(printf 'Received: from old.example ([IPv6:2001:db8::7])\n\tby mx.example.test (sluice) with SMTP id QID\n')
	grep -qx 'REMOTE_IP=2001:db8::7' "$FAKE_DIR/env"
	grep -qx 'REMOTE_PORT=5555' "$FAKE_DIR/env"
	grep -qx 'PROTOCOL=SMTP' "$FAKE_DIR/env"
	PROTO=TCP6 TCP6REMOTEIP=::ffff:198.51.100.4 REMOTE_IP=forged TLS_VERSION=forged smtp "HELO h.example\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nx\r\n.\r\n"
	head -n1 "$FAKE_DIR/message" | cmp - <(printf 'Received: from h.example ([198.51.100.4])\n')
	grep -qx 'REMOTE_IP=198.51.100.4' "$FAKE_DIR/env"
	! grep -q '^TLS_VERSION=' "$FAKE_DIR/env" || false
}

@test "a variable inherited twice (an environment built by hand) reaches the queue program once, or not at all" {
	fake_queue 0
	# execve with duplicate entries, which env(1) and a shell would merge
	printf 'HELO h.example\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nx\r\n.\r\n' |
		python3 -c '
import ctypes, os, sys
prog = sys.argv[1].encode()
env = [k.encode() + b"=" + v.encode() for k, v in os.environ.items()]
env += [b"TLS_VERSION=forged1", b"TLS_VERSION=forged2", b"HELO=forged1", b"HELO=forged2", b"SPF_RESULT=pass",
        b"REMOTE_IP=forged1", b"REMOTE_IP=forged2", b"LOCAL_PORT=forged"]
libc = ctypes.CDLL(None, use_errno=True)
argv = (ctypes.c_char_p * 2)(prog, None)
envp = (ctypes.c_char_p * (len(env) + 1))(*env, None)
libc.execve(prog, argv, envp)
sys.exit("execve: " + os.strerror(ctypes.get_errno()))
' "$(command -v smtp-recv)" 2>>"$LOG" | norm >"$OUT"
	grep -q 'queued as QID' "$OUT"
	! grep -q '^TLS_VERSION=' "$FAKE_DIR/env" || false
	! grep -q '^SPF_RESULT=' "$FAKE_DIR/env" || false
	[ "$(grep -c '^HELO=' "$FAKE_DIR/env")" = 1 ]
	grep -qx 'HELO=h.example' "$FAKE_DIR/env"
	[ "$(grep -c '^REMOTE_IP=' "$FAKE_DIR/env")" = 1 ]
	grep -qx 'REMOTE_IP=192.0.2.7' "$FAKE_DIR/env"
	grep -qx 'LOCAL_PORT=25' "$FAKE_DIR/env"
}

@test "recipients in locals are looked up: unknown user 550 5.1.1, alias and extension accepted, postmaster always" {
	printf 'team@example.test: bob@example.test\n' >"$CONF/aliases"
	smtp 'EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<team@example.test>\r\nRCPT TO:<bob+news@example.test>\r\nRCPT TO:<postmaster@example.test>\r\nQUIT\r\n'
	got=$(tail -n 5 "$OUT" | head -n 4 | tr -d '\r')
	[ "$got" = "$(printf '550 5.1.1 No such user here\n250 2.1.5 Ok\n250 2.1.5 Ok\n250 2.1.5 Ok')" ]
	grep -q 'rcpt=<nobody@example.test> result=rejected reason=unknown-user' "$LOG"
}

@test "a relay client gets 550 for unknown local users too; an unreadable users table is 451" {
	RELAYCLIENT= smtp 'EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<nobody@example.test>\r\nQUIT\r\n'
	grep -q '^550 5.1.1 No such user here' "$OUT"
	rm "$CONF/users"
	mkdir "$CONF/users"
	smtp 'EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.test>\r\nQUIT\r\n'
	grep -q '^451 4.3.0 Temporary failure looking up the recipient' "$OUT"
}
