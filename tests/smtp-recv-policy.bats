#!/usr/bin/env bats
# smtp-recv as a client of the Postfix policy delegation protocol: the
# default coprocess (smtp-filter -p, because a rules file exists), a shell
# policy server as coprocess (conf policy), and a unix socket server;
# every action, and every way a server can fail.  Real dialogues through
# tcpserver; tests/fixtures/smtp-recv-policy/talk prints the exact replies.

load lib

FX=$TOP/tests/fixtures/smtp-recv-policy

setup() {
	sluice_conf
	sluice_users bob@example.test carol@example.test
	PORT=2525
	OUT=$BATS_TEST_TMPDIR/out
	echo relay.example >"$CONF/rcpthosts"
	LOG=$BATS_TEST_TMPDIR/bg.log
	export TZ=UTC POLICY_LOG=$BATS_TEST_TMPDIR/requests POLICY_ACTIONS=$BATS_TEST_TMPDIR/actions
	unset RELAYCLIENT QMAILQUEUE
	: >"$POLICY_ACTIONS"
}

# talk [SOURCE-IP]: the dialogue on stdin; the replies, normalised, in $OUT
talk() {
	"$FX/talk" "$PORT" "$@" | tr -d '\r' | sed -E 's/[0-9]{10}\.[0-9]{6}\.[0-9]{7}/QID/g' >"$OUT"
}

expect() {
	if ! printf '%s\n' "$@" | cmp -s - "$OUT"; then
		diff <(printf '%s\n' "$@") "$OUT"
		return 1
	fi
}

EHLO=(250-mx.example.test 250-PIPELINING '250-SIZE 26214400' 250-8BITMIME 250-ENHANCEDSTATUSCODES
	250-SMTPUTF8 '250 CHUNKING')

# the queue file's envelope and header, up to the first empty line of the message
queued_head() {
	awk 'n < 2 { print } /^$/ { n++ }' "$1"
}

# smtp-recv behind tcpserver, once tcpserver's probe connection is over
# (so the policy files written after it are read only by the real clients)
start_recv() {
	recv_tcpserver
	wait_for 5 grep -q 'event=disconnect' "$LOG"
}

# none of the policy servers started is still running
policy_servers_gone() {
	local p
	for p in $(cat "$POLICY_LOG.pids" 2>/dev/null) $(sed -n 's/.*prog=smtp-filter pid=\([0-9]*\) event=policy.*/\1/p' "$LOG"); do
		! kill -0 "$p" 2>/dev/null || return 1
	done
}

shell_policy() { # the shell policy server as the coprocess; actions on stdin
	echo "$FX/policy-server" >"$CONF/policy"
	cat >"$POLICY_ACTIONS"
}

@test "rules refuse at connect, helo, mail, rcpt and eom (smtp-filter -p, then its chain mode)" {
	cat >"$CONF/rules" <<'R'
connect client in 127.0.0.2/32 reject 554 5.7.1 "connect refused by rule"
helo    helo = "bad.example" reject 550 5.7.1 "helo refused by rule"
mail    sender = "spam@bad.example" reject 550 5.7.1 "sender refused by rule"
rcpt    rcpt = "nobody@example.test" reject 550 5.1.1 "recipient refused by rule"
eom     header Subject =~ /forbidden/ reject 554 5.7.1 "content refused by rule"
R
	recv_tcpserver
	talk 127.0.0.2 <<<$'EHLO ok.example\nQUIT'
	expect '554 5.7.1 connect refused by rule' \
		'503 5.5.1 Bad sequence of commands: the connection was refused, send QUIT' \
		'221 2.0.0 mx.example.test Bye'
	talk <<'D'
EHLO bad.example
EHLO ok.example
MAIL FROM:<spam@bad.example>
MAIL FROM:<a@ok.example>
RCPT TO:<nobody@example.test>
RCPT TO:<bob@example.test>
DATA
Subject: forbidden

spam
.
MAIL FROM:<a@ok.example>
RCPT TO:<bob@example.test>
DATA
Subject: fine

ham
.
QUIT
D
	expect '220 mx.example.test ESMTP sluice' '550 5.7.1 helo refused by rule' "${EHLO[@]}" \
		'550 5.7.1 sender refused by rule' '250 2.1.0 Ok' '550 5.1.1 recipient refused by rule' \
		'250 2.1.5 Ok' '354 End data with <CR><LF>.<CR><LF>' '554 5.7.1 content refused by rule' \
		'250 2.1.0 Ok' '250 2.1.5 Ok' '354 End data with <CR><LF>.<CR><LF>' '250 2.0.0 Ok: queued as QID' \
		'221 2.0.0 mx.example.test Bye'
	[ "$(queued_files | wc -l)" = 1 ]
	grep -q '^Subject: fine$' "$(queued_files)"
	grep -q 'prog=smtp-recv .*event=policy stage=RCPT .*rcpt=<nobody@example.test> action="550 5.1.1 recipient refused by rule" result=refused' "$LOG"
	# one coprocess per connection, and none left once the client is gone
	wait_for 5 policy_servers_gone
}

@test "the requests carry Postfix's attributes; instance stays, queue_id is the message's" {
	start_recv
	shell_policy </dev/null
	talk <<'D'
EHLO client.example
MAIL FROM:<alice@example.org> SIZE=100
RCPT TO:<bob@example.test>
DATA
Subject: hi

hi
.
VRFY carol
QUIT
D
	id=$(basename "$(queued_files)")
	grep '^protocol_state=' "$POLICY_LOG" | cmp - <(printf 'protocol_state=%s\n' CONNECT EHLO MAIL RCPT DATA END-OF-MESSAGE VRFY)
	[ "$(grep -c '^request=smtpd_access_policy$' "$POLICY_LOG")" = 7 ]
	[ "$(grep '^instance=' "$POLICY_LOG" | sort -u | wc -l)" = 1 ]
	[ "$(grep '^client_address=127.0.0.1$' "$POLICY_LOG" | wc -l)" = 7 ]
	# the RCPT request, whole
	awk -v RS= 'index($0, "protocol_state=RCPT")' "$POLICY_LOG" | sed -E 's/^(instance|client_port)=.*/\1=X/' >"$BATS_TEST_TMPDIR/rcpt"
	printf '%s\n' request=smtpd_access_policy protocol_state=RCPT protocol_name=ESMTP \
		client_address=127.0.0.1 client_port=X client_name=unknown reverse_client_name=unknown \
		server_address=127.0.0.1 server_port=$PORT helo_name=client.example sender=alice@example.org \
		recipient=bob@example.test recipient_count=0 queue_id=$id instance=X size=100 sasl_method= \
		sasl_username= sasl_sender= encryption_protocol= encryption_cipher= etrn_domain= stress= |
		diff - "$BATS_TEST_TMPDIR/rcpt"
	awk -v RS= 'index($0, "protocol_state=END-OF-MESSAGE")' "$POLICY_LOG" | grep -qx 'recipient_count=1'
	awk -v RS= 'index($0, "protocol_state=END-OF-MESSAGE")' "$POLICY_LOG" | grep -qx 'size=16' # Subject: hi, empty line, hi: with LF
	awk -v RS= 'index($0, "protocol_state=VRFY")' "$POLICY_LOG" | grep -qx 'recipient=carol'
}

@test "REJECT, DEFER, NNN text, DEFER_IF_PERMIT and DEFER_IF_REJECT, Postfix's way" {
	shell_policy <<'A'
r1 REJECT go away
r2 DEFER
r3 521 5.7.0 custom words
r4 452 no enhanced code given
r5 DEFER_IF_PERMIT greylisted
stranger DEFER_IF_REJECT not now
r6 OK
A
	start_recv
	talk <<'D'
EHLO client.example
MAIL FROM:<a@example.org>
RCPT TO:<r1@relay.example>
RCPT TO:<r2@relay.example>
RCPT TO:<r3@relay.example>
RCPT TO:<r4@relay.example>
RCPT TO:<r5@relay.example>
RCPT TO:<stranger@example.test>
RCPT TO:<r6@elsewhere.example>
QUIT
D
	expect '220 mx.example.test ESMTP sluice' "${EHLO[@]}" '250 2.1.0 Ok' \
		'550 5.7.1 go away' '450 4.7.1 Try again later' '521 5.7.0 custom words' \
		'452 4.7.1 no enhanced code given' '450 4.7.1 greylisted' '450 4.7.1 not now' \
		'554 5.7.1 Relay access denied' '221 2.0.0 mx.example.test Bye'
	grep -q 'event=policy stage=RCPT id=[0-9.]* rcpt=<r1@relay.example> action="REJECT go away" result=refused' "$LOG"
	! grep -q 'rcpt=<r6@elsewhere.example> action=' "$LOG" || false # OK is not logged (nor obeyed over relay control)
}

@test "HOLD quarantines, DISCARD drops with 250, PREPEND adds a header after Received:, REDIRECT and BCC" {
	shell_policy <<'A'
held HOLD policyhold
dropped DISCARD not wanted
tagged PREPEND X-Policy: prepended by the policy
redir REDIRECT carol@example.test
copied BCC carol@example.test
noisy WARN just saying
A
	start_recv
	talk <<'D'
EHLO client.example
MAIL FROM:<a@example.org>
RCPT TO:<held@relay.example>
DATA
Subject: held

x
.
MAIL FROM:<a@example.org>
RCPT TO:<dropped@relay.example>
DATA
Subject: dropped

x
.
MAIL FROM:<a@example.org>
RCPT TO:<tagged@relay.example>
RCPT TO:<redir@relay.example>
RCPT TO:<copied@relay.example>
RCPT TO:<noisy@relay.example>
DATA
Subject: tagged

x
.
QUIT
D
	[ "$(grep -c '^250 2.0.0 Ok: queued as QID$' "$OUT")" = 3 ]
	# HOLD: in QUEUE/quarantine/policyhold, not in the queue
	held=$(find "$QUEUE/quarantine/policyhold" -type f)
	[ -n "$held" ]
	grep -q '^Subject: held$' "$held"
	grep -q "event=held id=.* quarantine=policyhold" "$LOG"
	grep -q "prog=queue-inject .*event=quarantined id=$(basename "$held") .*quarantine=policyhold" "$LOG"
	# DISCARD: gone, logged
	grep -q 'event=discarded id=.* from=<a@example.org> rcpts=1' "$LOG"
	! grep -rqs '^Subject: dropped$' "$QUEUE" || false
	# PREPEND, REDIRECT, BCC: one queued message
	[ "$(queued_files | wc -l)" = 1 ]
	queue_check_ok "$(queued_files)"
	without_check "$(queued_files)" >"$BATS_TEST_TMPDIR/qf"
	queued_head "$BATS_TEST_TMPDIR/qf" | sed -E 's/[0-9]{10}\.[0-9]{6}\.[0-9]{7}/QID/; s/^\t[A-Z][a-z]{2}, .*/\tDATE/' >"$BATS_TEST_TMPDIR/head"
	printf '%s\n' Fa@example.org Tcarol@example.test '' 'Received: from client.example ([127.0.0.1])' \
		'	by mx.example.test (sluice) with ESMTP id QID;' '	DATE' \
		'X-Policy: prepended by the policy' 'Subject: tagged' '' | diff - "$BATS_TEST_TMPDIR/head"
	grep -q 'event=redirected id=.* to=<carol@example.test>' "$LOG"
	grep -q 'event=policy stage=RCPT .*rcpt=<noisy@relay.example> action="WARN just saying" result=passed' "$LOG"
}

@test "BCC adds a recipient, once; HOLD with a Postfix-style reason goes to quarantine hold" {
	shell_policy <<'A'
bob BCC carol@example.test
carol BCC carol@example.test
reasoned HOLD suspicious, see the logs
A
	start_recv
	talk <<'D'
EHLO c.example
MAIL FROM:<a@example.org>
RCPT TO:<bob@example.test>
RCPT TO:<carol@example.test>
DATA
Subject: b

x
.
MAIL FROM:<a@example.org>
RCPT TO:<reasoned@relay.example>
DATA
Subject: r

x
.
QUIT
D
	[ "$(grep -c '^250 2.0.0 Ok: queued as QID$' "$OUT")" = 2 ]
	[ "$(queued_files | wc -l)" = 1 ]
	without_check "$(queued_files)" >"$BATS_TEST_TMPDIR/qf"
	queued_head "$BATS_TEST_TMPDIR/qf" | head -4 | cmp - <(printf '%s\n' Fa@example.org Tbob@example.test Tcarol@example.test '')
	held=$(find "$QUEUE/quarantine/hold" -type f)
	[ -n "$held" ]
	grep -q '^Subject: r$' "$held"
	grep -q 'action="HOLD suspicious, see the logs" result=passed' "$LOG"
}

@test "a broken policy server is a temporary failure, never an accept" {
	echo 'policy-timeout 1' >"$CONF/limits"
	shell_policy <<'A'
crash CRASH
slow SLOW
garbage GARBAGE
bad REDIRECT not an address
A
	start_recv
	for who in crash slow garbage bad; do
		printf 'EHLO c.example\nMAIL FROM:<a@example.org>\nRCPT TO:<%s@relay.example>\nRCPT TO:<bob@example.test>\nQUIT\n' $who | talk
		expect '220 mx.example.test ESMTP sluice' "${EHLO[@]}" '250 2.1.0 Ok' \
			'451 4.3.0 Temporary policy failure, try again later' \
			"$([ $who = bad ] && echo '250 2.1.5 Ok' || echo '451 4.3.0 Temporary policy failure, try again later')" \
			'221 2.0.0 mx.example.test Bye'
	done
	grep -q 'event=policy stage=RCPT .*result=failed reason="unable to read the policy reply: timed out"' "$LOG"
	grep -q 'event=policy stage=RCPT .*result=failed reason=".*malformed policy reply' "$LOG"
	[ -z "$(queued_files)" ]
	wait_for 5 policy_servers_gone
	# a server that cannot even start: at connect, 421 and goodbye
	echo /nonexistent/policy-server >"$CONF/policy"
	talk <<<'EHLO c.example'
	expect '421 4.3.0 Temporary policy failure, try again later'
	grep -q 'event=policy stage=CONNECT id=- result=failed reason="unable to run /nonexistent/policy-server' "$LOG"
}

@test "a socket that nothing listens on: 451 at the stages in policy-stages, the rest untouched" {
	echo "unix:$BATS_TEST_TMPDIR/nothing.sock" >"$CONF/policy"
	echo RCPT >"$CONF/policy-stages"
	recv_tcpserver
	printf 'EHLO c.example\nMAIL FROM:<a@example.org>\nRCPT TO:<bob@example.test>\nQUIT\n' | talk
	expect '220 mx.example.test ESMTP sluice' "${EHLO[@]}" '250 2.1.0 Ok' \
		'451 4.3.0 Temporary policy failure, try again later' '221 2.0.0 mx.example.test Bye'
	grep -q "reason=\"unable to connect to $BATS_TEST_TMPDIR/nothing.sock: No such file or directory\"" "$LOG"
}

@test "no rules and no policy file: no policy server, the dialogue as before" {
	recv_tcpserver
	printf 'EHLO c.example\nMAIL FROM:<a@example.org>\nRCPT TO:<bob@example.test>\nQUIT\n' | talk
	expect '220 mx.example.test ESMTP sluice' "${EHLO[@]}" '250 2.1.0 Ok' '250 2.1.5 Ok' \
		'221 2.0.0 mx.example.test Bye'
	! grep -q 'event=policy' "$LOG" || false
}

@test "a held message (QUEUE_QUARANTINE) stays held through smtp-filter whatever the rules; a bad name is refused" {
	F=$FIXTURES/smtp-filter
	export QUEUE_ID=1795319418.240320.0028928
	printf 'eom sender-domain = "example.org" accept\n' >"$CONF/rules"
	QUEUE_QUARANTINE=suspect smtp-filter -- queue-inject <"$F/plain.eml" 1< <(printf 'Fa@example.org\0Tbob@example.test\0\0')
	[ -z "$(ls "$QUEUE/new")" ]
	held=$QUEUE/quarantine/suspect/$QUEUE_ID
	[ -f "$held" ]
	tail -c "$(wc -c <"$F/plain.eml")" "$held" | cmp - "$F/plain.eml"
	# not under run: it would take fd 1, where the envelope goes
	rc=0
	QUEUE_QUARANTINE=../new smtp-filter -- queue-inject <"$F/plain.eml" \
		1< <(printf 'Fa@example.org\0Tbob@example.test\0\0') 2>/dev/null || rc=$?
	[ "$rc" -eq 81 ]
	[ -z "$(ls "$QUEUE/new")" ]
}
