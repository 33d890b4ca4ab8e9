#!/usr/bin/env bats
# smtp-recv as a submission server (-s, RFC 6409) with SMTP AUTH
# (RFC 4954) through the checkpassword interface: a shell-script checker
# and sluice's own auth-check over the passwords table.  Real launchers
# (tcpserver, systemd-socket-activate), real clients (swaks, smtplib), TLS
# with a CA made here; exact dialogues on a pipe where bytes matter (-U).

load lib

setup_file() {
	PKI=$BATS_FILE_TMPDIR/pki
	test_ca "$PKI"
	test_cert "$PKI" server
}

setup() {
	tls_session_setup
	printf 'auth-delay 1\n' >"$CONF/limits"
	# the checkpassword interface, by hand: user\0password\0timestamp\0 on fd 3
	cat >"$BATS_TEST_TMPDIR/checker" <<-'SH'
		#!/bin/sh
		input=$(head -c 600 <&3 | tr '\0' '\n')
		user=$(printf '%s\n' "$input" | sed -n 1p)
		pass=$(printf '%s\n' "$input" | sed -n 2p)
		[ "$user" = alice@example.test ] && [ "$pass" = 'correct horse' ] || exit 1
		exec "$@"
	SH
	chmod +x "$BATS_TEST_TMPDIR/checker"
	echo "$BATS_TEST_TMPDIR/checker true" >"$CONF/checkpassword"
	cat >"$BATS_TEST_TMPDIR/chain" <<-SH
		#!/bin/sh
		env | grep -E '^(TLS_VERSION|PROTOCOL|AUTH_USER)=' | sort >"$BATS_TEST_TMPDIR/env"
		exec queue-inject
	SH
	chmod +x "$BATS_TEST_TMPDIR/chain"
	echo "$BATS_TEST_TMPDIR/chain" >"$CONF/chain"
	PORT=2587
	LOG=$BATS_TEST_TMPDIR/bg.log
	OUT=$BATS_TEST_TMPDIR/out
}

swaks_tls() { # swaks options
	swaks --server 127.0.0.1 --port "$PORT" --helo client.example --timeout 20 \
		--tls-verify --tls-ca-path "$PKI/ca.pem" "$@"
}

queued_count() { # N
	[ "$(queued_files | wc -l)" = "$1" ]
}

b64() {
	printf "$1" | base64 -w0
}

# session "OPTIONS" FORMAT ARGS...: printf's output (LF becoming CRLF) to
# smtp-recv OPTIONS on a pipe; the replies, CRs removed, in $OUT
session() {
	local opts=$1 fmt=$2
	shift 2
	# shellcheck disable=SC2086,SC2059
	printf "$fmt" "$@" | crlf | smtp-recv $opts 2>>"$BATS_TEST_TMPDIR/log" | tr -d '\r' >"$OUT"
}

@test "587: swaks STARTTLS + AUTH PLAIN with a checkpassword script; relay anywhere; ESMTPSA; AUTH_USER reaches the chain" {
	recv_tcpserver -s
	run swaks_tls --tls --auth PLAIN --auth-user alice@example.test --auth-password 'correct horse' \
		--from alice@example.test --to carol@elsewhere.example --body 'submitted'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"<~  235 2.7.0 Authentication successful"* ]]
	wait_for 10 queued_count 1
	f=$(queued_files)
	sed -n 2p "$f" | grep -qx 'Tcarol@elsewhere.example'
	grep -Eqx "	by mx\\.example\\.test \\(sluice\\) with ESMTPSA id $(basename "$f")" "$f"
	grep -qx 'AUTH_USER=alice@example.test' "$BATS_TEST_TMPDIR/env"
	grep -qx 'PROTOCOL=ESMTPSA' "$BATS_TEST_TMPDIR/env"
	grep -q 'event=auth mechanism=PLAIN user=alice@example.test result=ok' "$LOG"
	! grep -q 'correct horse' "$LOG" || false
	! grep -q "$(b64 '\0alice@example.test\0correct horse')" "$LOG" || false
}

@test "587: AUTH LOGIN with a wrong password is 535, then the right one is 235; the password is never logged" {
	recv_tcpserver -s
	run swaks_tls --tls --auth LOGIN --auth-user alice@example.test --auth-password 'wrong horse' \
		--from alice@example.test --to carol@elsewhere.example
	[ "$status" -ne 0 ]
	[[ "$output" == *"<~* 535 5.7.8 Authentication credentials invalid"* ]]
	run swaks_tls --tls --auth LOGIN --auth-user alice@example.test --auth-password 'correct horse' \
		--from alice@example.test --to carol@elsewhere.example
	[ "$status" -eq 0 ]
	[[ "$output" == *"<~  334 VXNlcm5hbWU6"* ]]
	[[ "$output" == *"<~  334 UGFzc3dvcmQ6"* ]]
	wait_for 10 queued_count 1
	grep -q 'event=auth mechanism=LOGIN user=alice@example.test result=failed reason=wrong-credentials' "$LOG"
	! grep -q 'horse' "$LOG" || false
}

@test "465: implicit TLS through systemd-socket-activate, Python SMTP_SSL login with auth-check over a passwords table" {
	echo "auth-check true" >"$CONF/checkpassword"
	printf 'alice@example.test %s\n' "$(openssl passwd -6 'open sesame')" >"$CONF/passwords"
	recv_socket_activate -s -t
	run python3 - "$PORT" "$PKI/ca.pem" <<-'PY'
		import smtplib, ssl, sys
		ctx = ssl.create_default_context(cafile=sys.argv[2])
		with smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), context=ctx, timeout=20) as s:
		    s.ehlo("client.example")
		    assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"], s.esmtp_features
		    assert "starttls" not in s.esmtp_features
		    code, text = s.docmd("MAIL FROM:<alice@example.test>")
		    assert (code, text) == (530, b"5.7.0 Authentication required"), (code, text)
		    try:
		        s.login("alice@example.test", "wrong")
		        sys.exit("wrong password accepted")
		    except smtplib.SMTPAuthenticationError as e:
		        assert e.smtp_code == 535
		    s.login("Alice@example.test", "open sesame")
		    s.sendmail("alice@example.test", ["dave@elsewhere.example"],
		               b"Subject: no date, no id\r\n\r\nhello\r\n")
	PY
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for 10 queued_count 1
	f=$(queued_files)
	grep -Eq "with ESMTPSA id $(basename "$f")\$" "$f"
	# RFC 6409 8: Date and Message-ID added at the end of the header
	sed -n '/^Subject:/,/^$/p' "$f" | grep -Eqx 'Date: [A-Z][a-z]{2}, [0-9]{1,2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} \+0000'
	sed -n '/^Subject:/,/^$/p' "$f" | grep -qx "Message-ID: <$(basename "$f")@mx.example.test>"
	[ "$(sed -n '/^Message-ID:/{n;p}' "$f")" = "" ]
	grep -qx hello "$f"
	grep -q 'event=auth mechanism=PLAIN user=Alice@example.test result=ok' "$LOG"
}

@test "587 before TLS: no AUTH offered, AUTH is 538, MAIL is 530 asking for STARTTLS" {
	session "-s" 'EHLO c.example\nAUTH PLAIN %s\nMAIL FROM:<alice@example.test>\nQUIT\n' "$(b64 '\0alice@example.test\0correct horse')"
	cat "$OUT"
	! grep -q AUTH "$OUT" || false
	grep -qx '250-STARTTLS' "$OUT"
	grep -qx '538 5.7.11 Encryption required for requested authentication mechanism' "$OUT"
	grep -qx '530 5.7.0 Must issue a STARTTLS command first' "$OUT"
	! grep -q 'result=ok' "$BATS_TEST_TMPDIR/log" || false
}

@test "AUTH exchanges, exactly: PLAIN with and without initial response, LOGIN, bad base64, missing parts, * cancel, unknown mechanism" {
	printf 'auth-delay 1\nauth-failures 10\nerrors 20\n' >"$CONF/limits"
	good=$(b64 '\0alice@example.test\0correct horse')
	session "-U" 'EHLO c.example\nAUTH CRAM-MD5\nAUTH PLAIN !!!!\nAUTH PLAIN %s\nAUTH PLAIN\n*\nAUTH PLAIN =\nAUTH LOGIN\n%s\n%s\nAUTH PLAIN\n%s\nAUTH PLAIN %s\nAUTH LOGIN %s\nQUIT\n' \
		"$(b64 'alice@example.test\0correct horse')" \
		"$(b64 alice@example.test)" "$(b64 'wrong')" \
		"$(b64 'bob\0alice@example.test\0correct horse')" \
		"$good" "$(b64 alice@example.test)"
	cat >"$BATS_TEST_TMPDIR/expected" <<-EOF
		220 mx.example.test ESMTP sluice
		250-mx.example.test
		250-STARTTLS
		250-AUTH PLAIN LOGIN
		250-PIPELINING
		250-SIZE 26214400
		250-8BITMIME
		250-ENHANCEDSTATUSCODES
		250-SMTPUTF8
		250 CHUNKING
		504 5.5.4 Unrecognized authentication type
		501 5.5.2 Cannot decode response
		501 5.5.2 Malformed PLAIN response
		334 
		501 5.7.0 Authentication cancelled
		501 5.5.2 Malformed PLAIN response
		334 VXNlcm5hbWU6
		334 UGFzc3dvcmQ6
		535 5.7.8 Authentication credentials invalid
		334 
		501 5.5.2 Malformed PLAIN response
		235 2.7.0 Authentication successful
		503 5.5.1 Already authenticated
		221 2.0.0 mx.example.test Bye
	EOF
	diff "$BATS_TEST_TMPDIR/expected" "$OUT"
	! grep -q 'horse' "$BATS_TEST_TMPDIR/log" || false
	grep -c 'result=failed' "$BATS_TEST_TMPDIR/log" | grep -qx 4
}

@test "failed authentications slow down, then 421 closes the connection (auth-failures)" {
	printf 'auth-delay 300\nauth-failures 3\n' >"$CONF/limits"
	bad=$(b64 '\0alice@example.test\0guess')
	start=$(date +%s%N)
	session "-U" 'EHLO c.example\nAUTH PLAIN %s\nAUTH PLAIN %s\nAUTH PLAIN %s\nAUTH PLAIN %s\n' "$bad" "$bad" "$bad" \
		"$(b64 '\0alice@example.test\0correct horse')"
	elapsed=$((($(date +%s%N) - start) / 1000000))
	cat "$OUT"
	[ "$(grep -c '^535 5.7.8' "$OUT")" = 3 ]
	tail -n1 "$OUT" | grep -qx '421 4.7.0 mx.example.test Too many authentication failures, closing connection'
	! grep -q '^235' "$OUT" || false
	# 300 + 600 + 900 ms of delay
	[ "$elapsed" -ge 1800 ]
	grep -q 'reason=auth-failures' "$BATS_TEST_TMPDIR/log"
}

@test "port 25 with a checker: relaying only after AUTH, which is offered only under TLS" {
	recv_tcpserver
	run swaks_tls --tls --from alice@example.test --to carol@elsewhere.example
	[ "$status" -ne 0 ]
	[[ "$output" == *"554 5.7.1 Relay access denied"* ]]
	[[ "$output" == *"250-AUTH PLAIN LOGIN"* ]]
	run swaks_tls --tls --auth PLAIN --auth-user alice@example.test --auth-password 'correct horse' \
		--from alice@example.test --to carol@elsewhere.example
	[ "$status" -eq 0 ]
	wait_for 10 queued_count 1
	# mail to local domains still needs no AUTH; no Date/Message-ID fixes outside submission
	printf 'Subject: x\n\nbody\n' >"$BATS_TEST_TMPDIR/msg"
	run swaks --server 127.0.0.1 --port "$PORT" --from a@example.org --to bob@example.test \
		--data @"$BATS_TEST_TMPDIR/msg"
	[ "$status" -eq 0 ]
	[[ "$output" != *"AUTH"* ]]
	wait_for 10 queued_count 2
	! grep -l '^Message-ID: <' $(queued_files) | grep -q . || false
}

@test "a missing or broken checker never authenticates: 454 4.7.0" {
	good=$(b64 '\0alice@example.test\0correct horse')
	echo "$BATS_TEST_TMPDIR/no-such-checker true" >"$CONF/checkpassword"
	session "-s -U" 'EHLO c.example\nAUTH PLAIN %s\nMAIL FROM:<alice@example.test>\nQUIT\n' "$good"
	grep -qx '454 4.7.0 Temporary authentication failure' "$OUT"
	grep -qx '530 5.7.0 Authentication required' "$OUT"
	# a checker without the program it should run
	echo "$BATS_TEST_TMPDIR/checker" >"$CONF/checkpassword"
	session "-s -U" 'EHLO c.example\nAUTH PLAIN %s\nQUIT\n' "$good"
	grep -qx '454 4.7.0 Temporary authentication failure' "$OUT"
	# no checkpassword at all, in submission mode
	rm "$CONF/checkpassword"
	session "-s -U" 'EHLO c.example\nAUTH PLAIN %s\nQUIT\n' "$good"
	grep -qx '454 4.7.0 Temporary authentication failure' "$OUT"
	# a checker that crashes
	printf '#!/bin/sh\nkill -SEGV $$\n' >"$BATS_TEST_TMPDIR/crash"
	chmod +x "$BATS_TEST_TMPDIR/crash"
	echo "$BATS_TEST_TMPDIR/crash true" >"$CONF/checkpassword"
	session "-s -U" 'EHLO c.example\nAUTH PLAIN %s\nQUIT\n' "$good"
	grep -qx '454 4.7.0 Temporary authentication failure' "$OUT"
	! grep -q 'result=ok' "$BATS_TEST_TMPDIR/log" || false
}

@test "auth-sender own: the sender must be the user, or listed for it in senders" {
	echo own >"$CONF/auth-sender"
	printf 'alice@example.test  alias@example.test, @alice.example\n' >"$CONF/senders"
	good=$(b64 '\0alice@example.test\0correct horse')
	session "-s -U" 'EHLO c.example\nAUTH PLAIN %s\nMAIL FROM:<bob@example.test>\nMAIL FROM:<>\nMAIL FROM:<ALICE@Example.Test>\nRSET\nMAIL FROM:<alias@example.test>\nRSET\nMAIL FROM:<x@alice.example>\nRSET\nMAIL FROM:<x@sub.alice.example>\nQUIT\n' "$good"
	cat "$OUT"
	[ "$(grep -c '^553 5.7.1 Sender address not owned by the authenticated user$' "$OUT")" = 3 ]
	[ "$(grep -c '^250 2.1.0 Ok$' "$OUT")" = 3 ]
	echo any >"$CONF/auth-sender"
	session "-s -U" 'EHLO c.example\nAUTH PLAIN %s\nMAIL FROM:<bob@example.test>\nQUIT\n' "$good"
	grep -qx '250 2.1.0 Ok' "$OUT"
}

@test "an AUTH line may be 12288 octets (RFC 4954 4); other commands keep the command-line limit" {
	long=$(head -c 9000 /dev/zero | tr '\0' a)
	session "-U" 'EHLO c.example\nAUTH PLAIN %s\nNOOP %s\nQUIT\n' "$(b64 "\\0alice@example.test\\0$long")" "$long"
	grep -qx '535 5.7.8 Authentication credentials invalid' "$OUT"
	grep -qx '500 5.5.2 Line too long' "$OUT"
}

@test "make install: socket units and run scripts for 25, 587 and 465 that systemd accepts" {
	T=$BATS_TEST_TMPDIR/inst
	# -o all: install what is built, never rebuild it (a sanitized suite stays sanitized)
	make -C "$TOP" -s -o all install PREFIX="$T" SYSCONF="$T/etc" QUEUEDIR="$T/q" >/dev/null
	U=$T/lib/systemd/system
	# smtp-recv execs smtp-recv-tls from its own directory
	[ -x "$T/sbin/smtp-recv" ]
	[ -x "$T/sbin/smtp-recv-tls" ]
	[ -f "$T/share/man/man8/smtp-recv-tls.8" ]
	# 465: smtp-recv-tls itself (every session there needs TLS)
	for s in smtp:25::smtp-recv submission:587:' -s':smtp-recv submissions:465:' -s -t':smtp-recv-tls; do
		IFS=: read -r name port opts prog <<-X
			$s
		X
		grep -qx "ListenStream=$port" "$U/sluice-$name.socket"
		grep -qx 'Accept=yes' "$U/sluice-$name.socket"
		grep -Eqx 'MaxConnections(PerSource)?=[0-9]+' "$U/sluice-$name.socket"
		grep -qx "ExecStart=$T/sbin/$prog$opts" "$U/sluice-$name@.service"
		grep -qx 'StandardError=journal' "$U/sluice-$name@.service"
		systemd-analyze verify --man=no "$U/sluice-$name.socket" "$U/sluice-$name@.service"
		r=$T/share/sluice/service/sluice-$name/run
		[ -x "$r" ]
		sh -n "$r"
		grep -Eq "tcpserver -v -l .* -c [0-9]+ .* 0 $port \\\\$" "$r"
		grep -qF -- '-l "$(head -n 1 '"$T/etc/me)" "$r"
		grep -qx "	$T/sbin/$prog$opts" "$r"
	done
}

@test "RFC 6409 8 fixes, by BDAT and DATA: added only when missing, at the end of the header, even without a body" {
	good=$(b64 '\0alice@example.test\0correct horse')
	# BDAT, a header without a body and without a last line ending
	session "-s -U" 'EHLO c.example\nAUTH PLAIN %s\nMAIL FROM:<alice@example.test>\nRCPT TO:<bob@example.test>\nBDAT 10 LAST\nSubject: aQUIT\n' "$good"
	grep -q '^250 2.0.0 Ok: queued as ' "$OUT"
	f=$(queued_files)
	without_check "$f" | tail -n +7 | sed 's/^Date: .*/Date: D/' | cmp - <(printf 'Subject: a\nDate: D\nMessage-ID: <%s@mx.example.test>\n' "$(basename "$f")")
	rm "$f"
	# DATA, with both present (any case): nothing added
	session "-s -U" 'EHLO c.example\nAUTH PLAIN %s\nMAIL FROM:<alice@example.test>\nRCPT TO:<bob@example.test>\nDATA\nmessage-id: <x@y>\nDATE: Sun, 22 Nov 2026 00:00:00 +0000\n\nbody\n.\nQUIT\n' "$good"
	f=$(queued_files)
	without_check "$f" | tail -n +7 | cmp - <(printf 'message-id: <x@y>\nDATE: Sun, 22 Nov 2026 00:00:00 +0000\n\nbody\n')
	rm "$f"
	# only Message-ID missing: it goes before the empty line
	session "-s -U" 'EHLO c.example\nAUTH PLAIN %s\nMAIL FROM:<alice@example.test>\nRCPT TO:<bob@example.test>\nDATA\nDate: Sun, 22 Nov 2026 00:00:00 +0000\n\nbody\n.\nQUIT\n' "$good"
	f=$(queued_files)
	without_check "$f" | tail -n +7 | cmp - <(printf 'Date: Sun, 22 Nov 2026 00:00:00 +0000\nMessage-ID: <%s@mx.example.test>\n\nbody\n' "$(basename "$f")")
}
