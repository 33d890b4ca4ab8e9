#!/usr/bin/env bats
# smtp-recv under TLS: STARTTLS (RFC 3207) on the port-25 instance and
# implicit TLS (-t, RFC 8314) for port 465, through tcpserver and
# systemd-socket-activate, with a CA and certificates made here by openssl,
# driven by swaks, Python's ssl/smtplib and openssl s_client.
# Also smtp-recv without TLS handing connections to smtp-recv-tls (below).

load lib

setup_file() {
	PKI=$BATS_FILE_TMPDIR/pki
	test_ca "$PKI"
	test_cert "$PKI" server
	test_cert "$PKI" renewed renewed.example.test
}

setup() {
	tls_session_setup
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
	! grep -q AUTH_USER "$BATS_TEST_TMPDIR/env" || false
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
	! grep -q 'evil' "$LOG" || false
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

# ---- smtp-recv without TLS and smtp-recv-tls ----
# smtp-recv built with musl-gcc has no TLS library and execs smtp-recv-tls,
# the same program with libtls, in the same process when a connection
# wants TLS: at STARTTLS (the session handed over) or at once with -t.
# The log tells the two images apart: prog=smtp-recv and prog=smtp-recv-tls,
# with the same pid.  Built without musl-gcc (or with SANITIZE=1) smtp-recv
# has TLS itself and never execs; the protocol assertions hold for both
# builds, those about the exec only for the split.

# the split build: smtp-recv is a static program (no ELF interpreter)
split() {
	! readelf -l "$TOP/smtp-recv/smtp-recv" | grep -q INTERP || false
}

# the session that reached TLS (event=tls result=$1) began as smtp-recv
# (connect) and ended in smtp-recv-tls, in one process
served_by_tls_image() {
	local pid
	pid=$(sed -n "s/^prog=smtp-recv-tls pid=\([0-9]*\) event=tls result=$1.*/\1/p" "$LOG")
	[ -n "$pid" ]
	grep -q "^prog=smtp-recv pid=$pid event=connect " "$LOG"
	grep -q "^prog=smtp-recv-tls pid=$pid event=disconnect " "$LOG"
	refute grep -q "^prog=smtp-recv pid=$pid event=disconnect" "$LOG"
}

# a dialogue on a raw socket (python), the client's lines and the replies
# it expects; "TLS" shakes hands, a line of several commands goes in one
# packet.  Usage: dialogue 'SEND|EXPECT-PREFIX' ...
dialogue() {
	python3 - "$PORT" "$PKI/ca.pem" "$@" <<-'PY'
		import socket, ssl, sys
		port, ca, steps = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
		raw = socket.create_connection(("127.0.0.1", port), timeout=20)
		conn, f = raw, raw.makefile("rb")
		def reply():
		    out = []
		    while True:
		        l = f.readline().decode()
		        assert l, ("eof", out)
		        out.append(l.rstrip("\r\n"))
		        if l[3:4] == " ":
		            return out
		assert reply()[0].startswith("220 ")
		for step in steps:
		    send, _, want = step.partition("|")
		    if send == "TLS":
		        ctx = ssl.create_default_context(cafile=ca)
		        conn = ctx.wrap_socket(raw, server_hostname="mx.example.test")
		        f = conn.makefile("rb")
		        continue
		    conn.sendall(send.encode().replace(b"\\n", b"\r\n") + b"\r\n")
		    for w in want.split("&"):
		        got = reply()
		        print(send, "->", got)
		        assert got[-1].startswith(w), (send, w, got)
	PY
}

# a message over STARTTLS with the policy server of conf policy, which
# writes "SERVER INSTANCE STATE" per request to $BATS_TEST_TMPDIR/asked
# (SERVER: its pid, or its connection's number): the session (not
# recv_tcpserver's probe) was asked CONNECT EHLO | EHLO MAIL RCPT DATA
# END-OF-MESSAGE, all of one server process or connection, one instance
policy_across_starttls() {
	recv_tcpserver
	run dialogue 'EHLO client.example|250 ' 'STARTTLS|220 2.0.0' 'TLS' 'EHLO client.example|250 ' \
		'MAIL FROM:<a@example.org>|250 2.1.0' 'RCPT TO:<bob@example.test>|250 2.1.5' 'DATA|354' \
		'Subject: t\n\nx\n.|250 2.0.0 Ok: queued' 'QUIT|221'
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for 10 one_queued
	cat "$BATS_TEST_TMPDIR/asked"
	local inst
	inst=$(awk '$3 == "MAIL" { print $2 }' "$BATS_TEST_TMPDIR/asked")
	grep -F " $inst " "$BATS_TEST_TMPDIR/asked" >"$BATS_TEST_TMPDIR/session"
	[ "$(cut -d' ' -f3 "$BATS_TEST_TMPDIR/session" | tr '\n' ' ')" = 'CONNECT EHLO EHLO MAIL RCPT DATA END-OF-MESSAGE ' ]
	[ "$(cut -d' ' -f1 "$BATS_TEST_TMPDIR/session" | sort -u | wc -l)" = 1 ]
}

@test "STARTTLS through tcpserver: the musl smtp-recv execs smtp-recv-tls, which shakes hands and queues the message" {
	recv_tcpserver
	run dialogue 'EHLO client.example|250 ' 'STARTTLS|220 2.0.0' 'TLS' 'EHLO client.example|250 ' \
		'MAIL FROM:<a@example.org>|250 2.1.0' 'RCPT TO:<bob@example.test>|250 2.1.5' 'DATA|354' \
		'Subject: t\n\nunder tls\n.|250 2.0.0 Ok: queued as ' 'QUIT|221'
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for 10 one_queued
	grep -q '^	(using TLSv1.3 with cipher ' "$(queued_files)"
	grep -q 'with ESMTPS id' "$(queued_files)"
	if split; then
		served_by_tls_image ok
		grep -q '^prog=smtp-recv-tls pid=.* event=queued ' "$LOG"
	fi
}

@test "a plain session never execs the TLS image" {
	recv_tcpserver
	run dialogue 'EHLO client.example|250 ' 'MAIL FROM:<a@example.org>|250 2.1.0' \
		'RCPT TO:<bob@example.test>|250 2.1.5' 'DATA|354' 'Subject: t\n\nplain\n.|250 2.0.0 Ok: queued' 'QUIT|221'
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for 10 one_queued
	wait_for 10 grep -q 'event=disconnect' "$LOG"
	grep -q '^prog=smtp-recv pid=.* event=disconnect .*reason=quit' "$LOG"
	refute grep -q 'smtp-recv-tls' "$LOG"
}

@test "a broken certificate: 454 from smtp-recv-tls, the session goes on in plain text with the HELO remembered" {
	echo 'not a certificate' >"$CONF/broken.pem"
	echo broken.pem >"$CONF/tls-cert"
	recv_tcpserver
	# NOOP pipelined behind STARTTLS is answered after the 454 (it crossed the exec)
	run dialogue 'EHLO client.example|250 ' 'STARTTLS\nNOOP|454 4.7.0 TLS not available due to temporary reason&250 2.0.0 Ok' \
		'MAIL FROM:<a@example.org>|250 2.1.0' 'RCPT TO:<bob@example.test>|250 2.1.5' 'DATA|354' \
		'Subject: t\n\nclear\n.|250 2.0.0 Ok: queued' 'EHLO client.example|250 ' 'QUIT|221'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"'250-STARTTLS'"* ]]
	wait_for 10 one_queued
	f=$(queued_files)
	grep -q '^Received: from client\.example (\[127\.0\.0\.1\])$' "$f"
	grep -q 'with ESMTP id' "$f"
	grep -q 'event=tls result=unavailable reason="TLS certificate or key' "$LOG"
	grep -q 'errors=1$' "$LOG" # the 454, counted once
	if split; then
		served_by_tls_image unavailable
	fi
}

@test "commands pipelined after STARTTLS are dropped across the exec (CVE-2011-0411)" {
	recv_tcpserver
	run dialogue 'EHLO client.example|250 ' 'STARTTLS\nMAIL FROM:<evil@example.org>|220 2.0.0' 'TLS' \
		'RCPT TO:<bob@example.test>|503 5.5.1 Need MAIL' 'QUIT|221'
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q 'event=tls result=ok .* dropped=30$' "$LOG"
	refute grep -q evil "$LOG"
	if split; then
		served_by_tls_image ok
	fi
}

@test "-t (implicit TLS) through tcpserver: smtp-recv execs smtp-recv-tls before a byte is read" {
	recv_tcpserver -t
	run python3 - "$PORT" "$PKI/ca.pem" <<-'PY'
		import smtplib, ssl, sys
		ctx = ssl.create_default_context(cafile=sys.argv[2])
		with smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), context=ctx, timeout=20) as s:
		    s.ehlo("client.example")
		    s.sendmail("a@example.org", ["bob@example.test"], b"Subject: t\r\n\r\nimplicit\r\n")
	PY
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for 10 one_queued
	grep -q 'with ESMTPS id' "$(queued_files)"
	grep -q 'event=connect .* mode=smtp+tls' "$LOG"
	if split; then
		refute grep -q '^prog=smtp-recv ' "$LOG"
		grep -q '^prog=smtp-recv-tls pid=.* event=tls result=ok' "$LOG"
	fi
}

@test "the policy coprocess crosses the exec: one server, one instance, CONNECT's PREPEND still applied" {
	cat >"$BATS_TEST_TMPDIR/policy" <<-SH
		#!/bin/sh
		# a policy server that writes down who asked what, and answers DUNNO
		# (PREPEND at CONNECT)
		while :; do
			state= inst=
			while IFS= read -r l; do
				[ -z "\$l" ] && break
				case \$l in
				protocol_state=*) state=\${l#*=} ;;
				instance=*) inst=\${l#*=} ;;
				esac
			done
			[ -z "\$state" ] && exit 0
			echo "\$\$ \$inst \$state" >>"$BATS_TEST_TMPDIR/asked"
			if [ "\$state" = CONNECT ]; then
				printf 'action=PREPEND X-Connect-Policy: seen\n\n'
			else
				printf 'action=DUNNO\n\n'
			fi
		done
	SH
	chmod +x "$BATS_TEST_TMPDIR/policy"
	echo "$BATS_TEST_TMPDIR/policy" >"$CONF/policy"
	policy_across_starttls
	grep -qx 'X-Connect-Policy: seen' "$(queued_files)"
	# and it ended with the session
	wait_for 10 eval '! pgrep -f "$BATS_TEST_TMPDIR/policy" >/dev/null'
}

@test "a policy server on a unix socket: the same connection serves the session before and after STARTTLS" {
	cat >"$BATS_TEST_TMPDIR/policy.py" <<-'PY'
		import itertools, socket, sys, threading
		path, out = sys.argv[1], sys.argv[2]
		counter, lock = itertools.count(1), threading.Lock()
		def serve(conn, n):
		    f = conn.makefile("rb")
		    attrs = {}
		    for line in f:
		        line = line.rstrip(b"\n").decode()
		        if line:
		            k, _, v = line.partition("=")
		            attrs[k] = v
		            continue
		        with lock, open(out, "a") as o:
		            o.write("%d %s %s\n" % (n, attrs.get("instance"), attrs.get("protocol_state")))
		        conn.sendall(b"action=DUNNO\n\n")
		        attrs = {}
		s = socket.socket(socket.AF_UNIX)
		s.bind(path)
		s.listen(8)
		while True:
		    c, _ = s.accept()
		    threading.Thread(target=serve, args=(c, next(counter)), daemon=True).start()
	PY
	bg_start python3 "$BATS_TEST_TMPDIR/policy.py" "$BATS_TEST_TMPDIR/policy.sock" "$BATS_TEST_TMPDIR/asked"
	wait_for 10 test -S "$BATS_TEST_TMPDIR/policy.sock"
	echo "unix:$BATS_TEST_TMPDIR/policy.sock" >"$CONF/policy"
	policy_across_starttls
	refute grep -q 'event=policy .*result=failed' "$LOG"
}

@test "smtp-recv-tls -S trusts nothing it is handed: malformed state is 421, never a session" {
	hand() { # hand STATE [VAR=value...]: smtp-recv-tls -S with that hand-over
		local st=$1
		shift
		printf 'NOOP\r\nQUIT\r\n' | env SMTP_RECV_STARTTLS="$st" "$@" smtp-recv-tls -S 2>>"$BATS_TEST_TMPDIR/err"
	}
	id=1795312345.004211.0031337
	run hand "$id 2 0 0 0 0 -" HELO=client.example
	[[ "$output" == *"220 2.0.0 Ready to start TLS"* ]] # the well-formed one (then no TLS on a pipe)
	for bad in "$id 3 0 0 0 0 -" "$id 2 10 0 0 0 -" "$id 2 0 3 0 0 -" "../../etc 2 0 0 0 0 -" "$id 2 0 0 0 0" \
		"$id 2 0 0 0 0 - extra" "$id 1 0 0 0 0 1:0:1" "$id 1 0 0 0 0 $$:3:4" "$id 2 0 0 0 0 0:1:1"; do
		run hand "$bad" HELO=client.example
		[ "$output" = $'421 4.3.0 Temporary failure, try again later\r' ] || { echo "$bad: $output"; false; }
	done
	run hand "$id 2 0 0 0 0 -" 'HELO=bad name'
	[[ "$output" == 421* ]]
	run hand "$id 2 0 0 0 0 -" HELO=client.example SMTP_RECV_PENDING='not base64!'
	[[ "$output" == 421* ]]
	run hand "$id 2 0 0 0 0 -" HELO=client.example SMTP_RECV_CONNECT_ACTION='FROBNICATE'
	[[ "$output" == 421* ]]
	run hand "$id 2 0 0 0 0 -" HELO=client.example SMTP_RECV_HELO_ACTION='REJECT no'
	[[ "$output" == 421* ]]
	grep -c 'STARTTLS hand-over refused' "$BATS_TEST_TMPDIR/err"
	[ "$(grep -c 'STARTTLS hand-over refused' "$BATS_TEST_TMPDIR/err")" = 13 ]
	if split; then
		# the static smtp-recv never takes -S: it would exec itself for ever
		run smtp-recv -S </dev/null
		[ "$status" -eq 100 ]
	fi
}

@test "smtp-recv-tls missing: STARTTLS is 454 and the session goes on" {
	split || skip "smtp-recv has TLS linked in (no musl-gcc, or SANITIZE=1)"
	mkdir "$BATS_TEST_TMPDIR/sbin"
	cp "$TOP/smtp-recv/smtp-recv" "$BATS_TEST_TMPDIR/sbin/"
	run bash -c "printf 'EHLO c.example\r\nSTARTTLS\r\nNOOP\r\nQUIT\r\n' | '$BATS_TEST_TMPDIR/sbin/smtp-recv' 2>'$BATS_TEST_TMPDIR/err'"
	[[ "$output" == *$'454 4.7.0 TLS not available due to temporary reason\r\n250 2.0.0 Ok\r\n221 '* ]]
	grep -q "event=tls result=unavailable reason=\"unable to run $BATS_TEST_TMPDIR/sbin/smtp-recv-tls: No such file or directory\"" "$BATS_TEST_TMPDIR/err"
}
