#!/usr/bin/env bats
# smtp-recv under TLS: STARTTLS (RFC 3207) on the port-25 instance and
# implicit TLS (-t, RFC 8314) for port 465, through tcpserver and
# systemd-socket-activate, with a CA and certificates made here by openssl,
# driven by swaks, Python's ssl/smtplib and openssl s_client.

load lib

setup_file() {
	PKI=$BATS_FILE_TMPDIR/pki
	test_ca "$PKI"
	test_cert "$PKI" server
	test_cert "$PKI" renewed renewed.example.test
}

setup() {
	sluice_conf
	sluice_tls_conf
	sluice_users bob@example.test
	unset RELAYCLIENT QMAILQUEUE TCPREMOTEIP TCPLOCALIP REMOTE_ADDR REMOTE_PORT
	export TZ=UTC
	PORT=2525
	LOG=$BATS_TEST_TMPDIR/bg.log
}

one_queued() {
	[ "$(queued_files | wc -l)" = 1 ]
}

# a queue program that records the TLS facts it was given, then queues
env_recording_chain() {
	cat >"$BATS_TEST_TMPDIR/chain" <<-SH
		#!/bin/sh
		env | grep -E '^(TLS_VERSION|TLS_CIPHER|PROTOCOL|AUTH_USER)=' | sort >"$BATS_TEST_TMPDIR/env"
		exec queue-inject
	SH
	chmod +x "$BATS_TEST_TMPDIR/chain"
	echo "$BATS_TEST_TMPDIR/chain" >"$CONF/chain"
}

@test "STARTTLS with swaks --tls (certificate chain verified): ESMTPS and the cipher in Received:, TLS facts in the environment" {
	env_recording_chain
	recv_tcpserver
	run swaks --server 127.0.0.1 --port "$PORT" --helo client.example --timeout 20 --tls \
		--tls-verify --tls-ca-path "$PKI/ca.pem" --tls-protocol tlsv1_3 \
		--from alice@example.org --to bob@example.test --body 'secret words'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"<-  250-STARTTLS"* ]]
	[[ "$output" == *"=== TLS started with cipher TLSv1.3:"* ]]
	wait_for 10 one_queued
	f=$(queued_files)
	queue_check_ok "$f"
	without_check "$f" >"$BATS_TEST_TMPDIR/qf"
	sed -n 4,6p "$BATS_TEST_TMPDIR/qf" | grep -Eq '^Received: from client\.example \(\[127\.0\.0\.1\]\)$'
	sed -n 5p "$BATS_TEST_TMPDIR/qf" | grep -Eqx '	\(using TLSv1\.3 with cipher TLS_[A-Z0-9_]+\)'
	sed -n 6p "$BATS_TEST_TMPDIR/qf" | grep -Eqx "	by mx\\.example\\.test \\(sluice\\) with ESMTPS id $(basename "$f")"
	grep -qx 'secret words' "$f"
	grep -qx 'PROTOCOL=ESMTPS' "$BATS_TEST_TMPDIR/env"
	grep -qx 'TLS_VERSION=TLSv1.3' "$BATS_TEST_TMPDIR/env"
	grep -Eqx 'TLS_CIPHER=TLS_[A-Z0-9_]+' "$BATS_TEST_TMPDIR/env"
	! grep -q AUTH_USER "$BATS_TEST_TMPDIR/env"
	grep -q 'event=tls result=ok version=TLSv1.3' "$LOG"
}

@test "Python smtplib starttls: STARTTLS offered once; after the handshake the session starts afresh (RFC 3207 4.2)" {
	recv_tcpserver
	run python3 - "$PORT" "$PKI/ca.pem" <<-'PY'
		import smtplib, ssl, sys
		ctx = ssl.create_default_context(cafile=sys.argv[2])
		s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
		s.ehlo("client.example")
		assert s.has_extn("starttls"), s.esmtp_features
		assert not s.has_extn("auth"), s.esmtp_features   # no checker configured
		s.mail("a@example.org")                          # a transaction under way ...
		code, _ = s.starttls(context=ctx)
		assert code == 220, code
		code, text = s.docmd("MAIL FROM:<a@example.org>")  # ... is gone, and so is EHLO
		assert code == 503 and text == b"5.5.1 Send EHLO or HELO first", (code, text)
		s.ehlo("client.example")
		assert not s.has_extn("starttls"), s.esmtp_features
		code, text = s.docmd("STARTTLS")
		assert code == 503, (code, text)
		s.sendmail("a@example.org", ["bob@example.test"], b"Subject: t\r\n\r\nover tls\r\n")
		print(s.sock.version(), s.sock.getpeercert()["subject"])
		s.quit()
	PY
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"commonName', 'mx.example.test'"* ]]
	wait_for 10 one_queued
}

@test "STARTTLS injection (CVE-2011-0411): commands pipelined after STARTTLS are thrown away, not run under TLS" {
	recv_tcpserver
	run python3 - "$PORT" "$PKI/ca.pem" <<-'PY'
		import socket, ssl, sys
		def lines(f):
		    out = []
		    while True:
		        l = f.readline()
		        if not l:
		            break
		        out.append(l.decode().rstrip("\r\n"))
		        if l[3:4] == b" ":
		            break
		    return out
		raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
		f = raw.makefile("rb")
		assert lines(f)[0].startswith("220 ")
		raw.sendall(b"EHLO client.example\r\n")
		lines(f)
		# one packet: STARTTLS and a command the attacker wants run under TLS
		raw.sendall(b"STARTTLS\r\nHELP\r\nMAIL FROM:<evil@example.org>\r\n")
		assert lines(f) == ["220 2.0.0 Ready to start TLS"]
		ctx = ssl.create_default_context(cafile=sys.argv[2])
		t = ctx.wrap_socket(raw, server_hostname="mx.example.test")
		tf = t.makefile("rb")
		t.sendall(b"EHLO client.example\r\n")
		got = lines(tf)
		print(got)
		assert got[0] == "250-mx.example.test", got    # not 214 (HELP) nor 250 2.1.0 (MAIL)
		t.sendall(b"RCPT TO:<bob@example.test>\r\nQUIT\r\n")
		got = lines(tf) + lines(tf)
		print(got)
		assert got == ["503 5.5.1 Need MAIL command", "221 2.0.0 mx.example.test Bye"], got
	PY
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q 'event=tls result=ok .* dropped=36$' "$LOG"
	! grep -q 'evil' "$LOG"
}

@test "implicit TLS (-t) through systemd-socket-activate: swaks --tlsc and Python SMTP_SSL; a plaintext client hears nothing" {
	env_recording_chain
	recv_socket_activate -t
	run swaks --server 127.0.0.1 --port "$PORT" --helo client.example --timeout 20 --tlsc \
		--tls-verify --tls-ca-path "$PKI/ca.pem" --from a@example.org --to bob@example.test --body one
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"STARTTLS"* ]]   # never offered again under TLS
	run python3 - "$PORT" "$PKI/ca.pem" <<-'PY'
		import smtplib, ssl, sys, socket
		ctx = ssl.create_default_context(cafile=sys.argv[2])
		with smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), context=ctx, timeout=20) as s:
		    s.ehlo("client.example")
		    assert not s.has_extn("starttls")
		    s.sendmail("a@example.org", ["bob@example.test"], b"Subject: t\r\n\r\ntwo\r\n")
		# plain SMTP to the TLS port: no greeting in the clear
		raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
		raw.sendall(b"EHLO x\r\n")
		try:
		    data = raw.recv(100)
		except ConnectionResetError:
		    data = b""
		assert not data.startswith(b"220"), data
	PY
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for 10 eval '[ "$(queued_files | wc -l)" = 2 ]'
	grep -qx 'PROTOCOL=ESMTPS' "$BATS_TEST_TMPDIR/env"
	grep -q 'event=tls result=failed' "$LOG"
}

@test "openssl s_client: TLS 1.2 and 1.3 accepted, 1.1 refused; tls-protocols and tls-ciphers are obeyed" {
	recv_tcpserver -t
	sc() { timeout 20 openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$PKI/ca.pem" -brief "$@" </dev/null 2>&1; }
	run sc -tls1_3
	[[ "$output" == *"Protocol version: TLSv1.3"* ]]
	[[ "$output" == *"Verification: OK"* ]]
	run sc -tls1_2
	[[ "$output" == *"Protocol version: TLSv1.2"* ]]
	run sc -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'
	[[ "$output" != *"Protocol version"* ]]
	grep -q 'event=tls result=failed' "$LOG"
	echo tlsv1.3 >"$CONF/tls-protocols"
	run sc -tls1_2
	[[ "$output" != *"Protocol version"* ]]
	run sc -tls1_3
	[[ "$output" == *"Protocol version: TLSv1.3"* ]]
	echo tlsv1.2 >"$CONF/tls-protocols"
	echo ECDHE-ECDSA-AES128-GCM-SHA256 >"$CONF/tls-ciphers"
	run sc -tls1_2
	[[ "$output" == *"Ciphersuite: ECDHE-ECDSA-AES128-GCM-SHA256"* ]]
}

@test "a certificate replaced between two connections takes effect without a restart" {
	recv_tcpserver
	subject() {
		python3 - "$PORT" "$PKI/ca.pem" <<-'PY'
			import smtplib, ssl, sys
			ctx = ssl.create_default_context(cafile=sys.argv[2])
			ctx.check_hostname = False
			s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
			s.starttls(context=ctx)
			print(dict(x[0] for x in s.sock.getpeercert()["subject"])["commonName"])
			s.quit()
		PY
	}
	run subject
	[ "$output" = mx.example.test ]
	# key and chain in one file, named by both settings (relative paths)
	cat "$PKI/server.key" "$PKI/server.pem" >"$CONF/both.pem"
	echo both.pem >"$CONF/tls-cert"
	echo both.pem >"$CONF/tls-key"
	run subject
	[ "$output" = mx.example.test ]
	# a renewal: the new key and certificate arrive together with one mv
	cat "$PKI/renewed.key" "$PKI/renewed.pem" >"$CONF/both.new"
	mv "$CONF/both.new" "$CONF/both.pem"
	run subject
	[ "$output" = renewed.example.test ]
}

@test "without a certificate STARTTLS is not offered (502); an unusable key is 454 and the session goes on" {
	rm "$CONF/tls-cert" "$CONF/tls-key"
	run bash -c "printf 'EHLO c.example\r\nSTARTTLS\r\nQUIT\r\n' | smtp-recv 2>/dev/null"
	[[ "$output" != *250-STARTTLS* ]]
	[[ "$output" == *"502 5.5.1 STARTTLS not available"* ]]
	echo "$PKI/server.pem" >"$CONF/tls-cert"
	echo "$BATS_TEST_TMPDIR/missing.key" >"$CONF/tls-key"
	run bash -c "printf 'EHLO c.example\r\nSTARTTLS\r\nNOOP\r\nQUIT\r\n' | smtp-recv 2>'$BATS_TEST_TMPDIR/err'"
	[[ "$output" == *"250-STARTTLS"* ]]
	[[ "$output" == *$'454 4.7.0 TLS not available due to temporary reason\r\n250 2.0.0 Ok\r\n221 '* ]]
	grep -q 'event=tls result=unavailable' "$BATS_TEST_TMPDIR/err"
	# implicit TLS without a usable key: the connection just closes, nothing in the clear
	run bash -c "printf 'EHLO c.example\r\n' | smtp-recv -t 2>/dev/null"
	[ -z "$output" ]
}
