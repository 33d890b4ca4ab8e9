#!/usr/bin/env bats
# smtp-recv without TLS linked in (static musl) and smtp-recv-tls, the same
# program with libtls, which smtp-recv execs in the same process when a
# connection wants TLS: at STARTTLS (the session handed over) or at once
# with -t.  The log tells the two images apart: prog=smtp-recv and
# prog=smtp-recv-tls, with the same pid.  Built without musl-gcc (or with
# SANITIZE=1) smtp-recv has TLS itself and never execs; the protocol
# assertions hold for both builds, those about the exec only for the split.

load lib

setup_file() {
	PKI=$BATS_FILE_TMPDIR/pki
	test_ca "$PKI"
	test_cert "$PKI" server
}

setup() {
	sluice_conf
	sluice_tls_conf
	sluice_users bob@example.test
	unset RELAYCLIENT QMAILQUEUE TCPREMOTEIP TCPLOCALIP REMOTE_ADDR REMOTE_PORT
	export TZ=UTC
	PORT=2526
	LOG=$BATS_TEST_TMPDIR/bg.log
}

# the split build: smtp-recv is a static program (no ELF interpreter)
split() {
	! readelf -l "$TOP/smtp-recv/smtp-recv" | grep -q INTERP
}

one_queued() {
	[ "$(queued_files | wc -l)" = 1 ]
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
	recv_tcpserver
	run dialogue 'EHLO client.example|250 ' 'STARTTLS|220 2.0.0' 'TLS' 'EHLO client.example|250 ' \
		'MAIL FROM:<a@example.org>|250 2.1.0' 'RCPT TO:<bob@example.test>|250 2.1.5' 'DATA|354' \
		'Subject: t\n\nx\n.|250 2.0.0 Ok: queued' 'QUIT|221'
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for 10 one_queued
	cat "$BATS_TEST_TMPDIR/asked"
	# the session (not recv_tcpserver's probe): CONNECT EHLO | EHLO MAIL RCPT DATA
	# END-OF-MESSAGE, all asked of one server process, with one instance
	inst=$(awk '$3 == "MAIL" { print $2 }' "$BATS_TEST_TMPDIR/asked")
	grep -F " $inst " "$BATS_TEST_TMPDIR/asked" >"$BATS_TEST_TMPDIR/session"
	[ "$(cut -d' ' -f3 "$BATS_TEST_TMPDIR/session" | tr '\n' ' ')" = 'CONNECT EHLO EHLO MAIL RCPT DATA END-OF-MESSAGE ' ]
	[ "$(cut -d' ' -f1 "$BATS_TEST_TMPDIR/session" | sort -u | wc -l)" = 1 ]
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
	recv_tcpserver
	run dialogue 'EHLO client.example|250 ' 'STARTTLS|220 2.0.0' 'TLS' 'EHLO client.example|250 ' \
		'MAIL FROM:<a@example.org>|250 2.1.0' 'RCPT TO:<bob@example.test>|250 2.1.5' 'DATA|354' \
		'Subject: t\n\nx\n.|250 2.0.0 Ok: queued' 'QUIT|221'
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for 10 one_queued
	cat "$BATS_TEST_TMPDIR/asked"
	inst=$(awk '$3 == "MAIL" { print $2 }' "$BATS_TEST_TMPDIR/asked")
	grep -F " $inst " "$BATS_TEST_TMPDIR/asked" >"$BATS_TEST_TMPDIR/session"
	[ "$(cut -d' ' -f3 "$BATS_TEST_TMPDIR/session" | tr '\n' ' ')" = 'CONNECT EHLO EHLO MAIL RCPT DATA END-OF-MESSAGE ' ]
	[ "$(cut -d' ' -f1 "$BATS_TEST_TMPDIR/session" | sort -u | wc -l)" = 1 ] # one connection
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
